/** train-and-log's pure parts: the gate's arithmetic, metrics file flattening, params equality, report rendering. */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decideGate } from '../actions/train-and-log/gate.js';
import { flatten, readMetrics, readParams } from '../actions/train-and-log/metrics.js';
import { sameParam } from '../actions/train-and-log/pipeline.js';
import { cell } from '../actions/shared/markdown.js';
import { confusionMatrix, formatNumber } from '../actions/train-and-log/summary.js';

const file = (content: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'tal-unit-')), 'm.json');
  writeFileSync(path, content);
  return path;
};

describe('gate', () => {
  const base = { metric: 'accuracy', direction: 'maximize' as const, minDelta: 0 };

  it('passes with no champion', () => {
    expect(decideGate({ ...base, candidate: 0.1 }).passed).toBe(true);
  });

  it.each([
    ['maximize', 0, 0.91, 0.9, true],
    ['maximize', 0, 0.89, 0.9, false],
    ['maximize', 0.02, 0.91, 0.9, false],
    ['maximize', -0.02, 0.89, 0.9, true],
    ['minimize', 0, 0.2, 0.25, true],
    ['minimize', 0, 0.3, 0.25, false],
    ['minimize', 0.1, 0.2, 0.25, false],
  ] as const)(
    '%s with min-delta %s: %s vs champion %s => %s',
    (direction, minDelta, candidate, champ, passed) => {
      const d = decideGate({
        metric: 'm',
        direction,
        minDelta,
        candidate,
        champion: { version: '4', value: champ },
      });
      expect(d.passed).toBe(passed);
      expect(d.reason).toContain('champion v4');
    },
  );

  it('counts a tie as passing at min-delta 0, despite float noise', () => {
    expect(decideGate({ ...base, candidate: 0.1 + 0.2, champion: { version: '1', value: 0.3 } }).passed).toBe(
      true,
    );
  });

  it('never promotes a NaN, nor compares against one', () => {
    expect(decideGate({ ...base, candidate: NaN }).passed).toBe(false);
    const d = decideGate({ ...base, candidate: 0.9, champion: { version: '3', value: NaN } });
    expect(d.passed).toBe(false);
    expect(d.reason).toContain('(it is NaN)');
  });

  it('fails closed when the champion has no value to compare', () => {
    const d = decideGate({
      ...base,
      candidate: 1,
      champion: { version: '2', problem: 'its run 123 is gone' },
    });
    expect(d.passed).toBe(false);
    expect(d.reason).toBe('champion v2 has no accuracy to compare against (its run 123 is gone)');
  });
});

describe('metrics and params files', () => {
  it('flattens nested objects with dots and arrays by index', () => {
    expect(flatten({ a: { b: 1, c: [2, { d: 3 }] }, e: 4 })).toEqual([
      ['a.b', 1],
      ['a.c.0', 2],
      ['a.c.1.d', 3],
      ['e', 4],
    ]);
  });

  it('reads numeric metrics and rejects everything else, naming the input and key', () => {
    expect(readMetrics(file('{"acc": 0.5, "cm": {"a": {"b": 3}}}'))).toEqual({ acc: 0.5, 'cm.a.b': 3 });
    expect(() => readMetrics(file('{"acc": true}'))).toThrow(/^Input 'metrics-file': .*metric 'acc' is true/);
    expect(() => readMetrics(file('{"acc": null}'))).toThrow(/metric 'acc' is null/);
    expect(() => readMetrics(file('[1, 2]'))).toThrow(
      /^Input 'metrics-file': expected a JSON object .* holds an array/,
    );
    expect(() => readMetrics(file('{"bad|name": 1}'))).toThrow(
      /^Input 'metrics-file': expected names .*'bad\|name'/,
    );
    expect(() => readMetrics(file('{"acc": 0.5,}'))).toThrow(/not valid JSON/);
    expect(() => readMetrics(file('{"acc": nan}'))).toThrow(/not valid JSON/);
  });

  it("takes Python's NaN and Infinity as numbers, but not inside strings", () => {
    const m = readMetrics(file('{"loss": NaN, "grad": {"max": Infinity, "min": -Infinity}, "ok": 1}'));
    expect(m).toEqual({ loss: NaN, 'grad.max': Infinity, 'grad.min': -Infinity, ok: 1 });
    expect(readParams(file('{"note": "NaN or Infinity \\" NaN", "x": NaN}'))).toEqual({
      note: 'NaN or Infinity " NaN',
      x: 'NaN',
    });
  });

  it('reads params as MLflow strings and limits their length', () => {
    expect(readParams(file('{"lr": 0.1, "opt": {"name": "adam", "nesterov": false}, "none": null}'))).toEqual(
      {
        lr: '0.1',
        'opt.name': 'adam',
        'opt.nesterov': 'false',
        none: 'null',
      },
    );
    expect(() => readParams(file(JSON.stringify({ long: 'x'.repeat(6001) })))).toThrow(
      /^Input 'params-file': expected param values of at most 6000 characters/,
    );
  });

  it('treats a param the command logged from Python as the same value as in the file', () => {
    expect(sameParam('0.0', '0')).toBe(true);
    expect(sameParam('True', 'true')).toBe(true);
    expect(sameParam('1e-3', '0.001')).toBe(true);
    expect(sameParam('0.1', '0.2')).toBe(false);
    expect(sameParam('', '0')).toBe(false);
    expect(sameParam('adam', 'sgd')).toBe(false);
  });
});

describe('report', () => {
  it('renders the confusion matrix with the diagonal in bold, rows as actual classes', () => {
    const table = confusionMatrix({
      accuracy: 0.9,
      'confusion_matrix.cat.cat': 5,
      'confusion_matrix.cat.dog': 1,
      'confusion_matrix.dog.cat': 0,
      'confusion_matrix.dog.dog': 4,
    });
    expect(table).toBe(
      [
        '| actual \\ predicted | cat | dog |',
        '| --- | ---: | ---: |',
        '| **cat** | **5** | 1 |',
        '| **dog** | 0 | **4** |',
      ].join('\n'),
    );
    expect(confusionMatrix({ accuracy: 1 })).toBeUndefined();
  });

  it('formats numbers for people and keeps user text inert in Markdown', () => {
    expect(formatNumber(0.888889)).toBe('0.8889');
    expect(formatNumber(15)).toBe('15');
    expect(formatNumber(0.00001234)).toBe('1.234e-5');
    expect(cell('a|b <img src=x> `c`\nd')).toBe('a\\|b &lt;img src=x&gt; \\`c\\` d');
  });
});
