/**
 * train-and-log's report: the mermaid charts parse with the real mermaid parser (hostile metric
 * names and aliases included), and the report shows what it claims: candidate and champion per
 * metric, training curves, both confusion matrices, the params that changed, MLflow's compare-runs
 * and LoggedModel links; the comment key tells matrix legs apart.
 */
import { describe, expect, it } from '@jest/globals';
import { markerFor } from '../actions/shared/sticky-comment.js';
import { chartNumber, curveChart, mermaidText, metricCharts } from '../actions/train-and-log/charts.js';
import { commentLabel } from '../actions/train-and-log/comment-key.js';
import type { Config } from '../actions/train-and-log/inputs.js';
import type { Outcome } from '../actions/train-and-log/pipeline.js';
import { commentKey } from '../actions/train-and-log/pr-comment.js';
import type { ReportExtras } from '../actions/train-and-log/report-data.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { compareRunsUrl, renderReport } from '../actions/train-and-log/summary.js';
import { mermaidBlocks, parseMermaid } from './helpers/mermaid.js';

const UI = 'https://mlflow.example.com/ui';

const config = (over: Partial<Config> = {}): Config => ({
  mlflow: mlflowSettings({}, UI),
  experiment: 'iris',
  runName: 'tune@abc1234',
  command: 'python train.py',
  workingDirectory: '/w',
  metricsFile: '/w/metrics.json',
  artifacts: [],
  modelPath: 'model',
  registeredModel: 'iris-classifier',
  gate: { metric: 'accuracy', direction: 'maximize', minDelta: 0 },
  championAlias: 'champion',
  promoteAlias: 'candidate',
  commentOnPush: false,
  analysis: { model: 'm', fallbackModels: [] },
  github: { serverUrl: 'https://github.com' },
  ...over,
});

const confusion = (d: number): Record<string, number> => ({
  'confusion_matrix.setosa.setosa': 15,
  'confusion_matrix.setosa.virginica': 0,
  'confusion_matrix.virginica.setosa': d,
  'confusion_matrix.virginica.virginica': 14 - d,
});

const outcome = (over: Partial<Outcome> = {}): Outcome => ({
  experimentId: '7',
  runId: 'run-new',
  runUrl: `${UI}/#/experiments/7/runs/run-new`,
  runName: 'tune@abc1234',
  metrics: { accuracy: 0.93, f1_macro: 0.91, log_loss: 0.2, train_samples: 105, ...confusion(2) },
  model: {
    modelUri: 'models:/m-abc',
    source: 'models:/m-abc',
    modelId: 'm-abc',
    origin: 'logged by the command',
  },
  version: { name: 'iris-classifier', version: '4', status: 'READY' } as Outcome['version'],
  versionUrl: `${UI}/#/models/iris-classifier/versions/4`,
  champion: {
    version: '3',
    runId: 'run-old',
    metrics: { accuracy: 0.9, f1_macro: 0.92, log_loss: 0.25, train_samples: 100, ...confusion(1) },
  },
  gate: { passed: true, improvement: 0.03, reason: 'accuracy 0.93 vs champion v3 0.9' },
  promoted: true,
  ...over,
});

const steps = (values: number[]): { step: number; value: number }[] =>
  values.map((value, i) => ({ step: i + 1, value }));

const extras = (over: Partial<ReportExtras> = {}): ReportExtras => ({
  params: { lr: '0.1', max_depth: '12', epochs: '20', dropout: '0.2' },
  champion: {
    runId: 'run-old',
    experimentId: '5',
    params: { lr: '0.01', max_depth: '12', epochs: '20', seed: '1' },
  },
  curves: { val_loss: steps([1, 0.7, 0.5, 0.45]) },
  championCurves: { val_loss: steps([1, 0.8, 0.6, 0.5]) },
  ...over,
});

async function expectAllParse(markdown: string, count: number): Promise<string[]> {
  const blocks = mermaidBlocks(markdown);
  expect(blocks).toHaveLength(count);
  for (const b of blocks) await expect(parseMermaid(b)).resolves.toBe('xychart');
  return blocks;
}

describe('the parser check itself', () => {
  it('rejects what GitHub would show as a broken chart', async () => {
    await expect(parseMermaid('xychart-beta\n  x-axis ["a"b"]\n  bar [1]')).rejects.toThrow();
    await expect(parseMermaid('xychart-beta\n  x-axis ["a"]\n  bar [1e-5]')).rejects.toThrow();
    await expect(parseMermaid('xychart-beta\n  x-axis ["a", "b"]\n  bar [1,, 2]')).rejects.toThrow();
  });
});

describe('charts', () => {
  it('puts 0–1 metrics on one chart and each other metric on its own scale, candidate beside champion', async () => {
    const report = renderReport(outcome(), config(), extras());
    const [unit, samples, curve] = await expectAllParse(report, 3);
    expect(unit).toContain(
      'x-axis ["accuracy", "accuracy (champion v3)", "f1_macro", "f1_macro (champion v3)"',
    );
    expect(unit).toContain('y-axis "value" 0 --> 1');
    expect(unit).toContain('bar [0.93, 0, 0.91, 0, 0.2, 0]');
    expect(unit).toContain('bar [0, 0.9, 0, 0.92, 0, 0.25]');
    expect(samples).toContain('title "train_samples: this run (green) vs champion v3 (grey)"');
    expect(samples).toContain('bar [105, 0]');
    expect(samples).toContain('bar [0, 100]');
    expect(curve).toContain('x-axis "step" ["1", "2", "3", "4"]');
    expect(curve).toContain('line [1, 0.7, 0.5, 0.45]');
    expect(curve).toContain('line [1, 0.8, 0.6, 0.5]');
  });

  it('without a champion, charts this run alone', async () => {
    const report = renderReport(outcome({ champion: undefined }), config());
    const [unit] = await expectAllParse(report, 2);
    expect(unit).not.toContain('champion');
    expect(unit!.match(/^ {2}bar /gm)).toHaveLength(1);
  });

  it('keeps hostile names inert: every chart still parses and no fence closes early', async () => {
    const names = [
      'acc"] \n  bar [999',
      '%%{init: {"theme": "dark"}}%%',
      'x```\n# heading',
      'f1 #quot; <script>',
      'a, b',
    ];
    const metrics = Object.fromEntries(names.map((n, i) => [n, 0.1 * (i + 1)]));
    const hostile = outcome({ metrics, champion: { version: '1"]', runId: 'r', metrics } });
    const report = renderReport(
      hostile,
      config({ championAlias: 'ch"amp%%{x}' }),
      extras({ curves: { 'l"oss': steps([3, 2]) } }),
    );
    const blocks = await expectAllParse(report, 2);
    for (const b of blocks) {
      // One directive (the palette), written by the action; labels carry no quote, brace or backtick.
      expect(b.match(/%%/g)).toHaveLength(2);
      const body = b.split('\n').slice(2).join('\n');
      for (const label of body.matchAll(/"([^"]*)"/g)) expect(label[1]).not.toMatch(/[`{}#<>%\n]/);
    }
    expect(report).not.toContain('bar [999');
  });

  it('writes numbers the xychart lexer reads, and leaves out what it cannot draw', () => {
    expect(chartNumber(1.23456789e-7)).toBe('0');
    expect(chartNumber(123456789012)).toBe('123457000000');
    expect(chartNumber(Number.NaN)).toBeUndefined();
    expect(chartNumber(Infinity)).toBeUndefined();
    expect(metricCharts([{ key: 'delta', candidate: -0.5, champion: 0.2 }], 'champion v1')).toEqual([]);
    expect(mermaidText('a'.repeat(50))).toHaveLength(40);
  });

  it('draws a curve without its non-finite points, and the champion only on the same steps', async () => {
    const chart = curveChart('loss', steps([1, NaN, 0.5]), steps([2, 1]), 'champion v1')!;
    await expect(parseMermaid(chart.split('\n').slice(1, -1).join('\n'))).resolves.toBe('xychart');
    expect(chart).toContain('x-axis "step" ["1", "3"]');
    expect(chart.match(/^ {2}line /gm)).toHaveLength(1);
    expect(curveChart('loss', steps([1]))).toBeUndefined();
  });
});

describe('report sections', () => {
  it('shows both confusion matrices side by side', () => {
    const report = renderReport(outcome(), config(), extras());
    const side =
      /<table><tr><th>this run<\/th><th>champion v3<\/th><\/tr><tr><td>\n\n([\s\S]*?)\n\n<\/td><td>\n\n([\s\S]*?)\n\n<\/td><\/tr><\/table>/.exec(
        report,
      );
    expect(side).not.toBeNull();
    expect(side![1]).toContain('| **virginica** | 2 | **12** |');
    expect(side![2]).toContain('| **virginica** | 1 | **13** |');
  });

  it('lists the params that changed, were added or were dropped since the champion, and only those', () => {
    const report = renderReport(outcome(), config(), extras());
    expect(report).toContain('**Params changed since champion v3**');
    expect(report).toContain('| lr | <code>0.01</code> | <code>0.1</code> |');
    expect(report).toContain('| dropout | – | <code>0.2</code> |');
    expect(report).toContain('| seed | <code>1</code> | – |');
    expect(report).not.toMatch(/\| (epochs|max_depth) \|/);
    const same = extras({
      params: { lr: '1' },
      champion: { runId: 'run-old', experimentId: '7', params: { lr: '1' } },
    });
    expect(renderReport(outcome(), config(), same)).toContain('_No param changed since champion v3._');
  });

  it('keeps a param value the script wrote inert: no marker, HTML, mention or extra cell', () => {
    const hostile = '<!-- mlops-actions:train-and-log:x --> <img src=x> @octocat | **bold** `code`';
    const report = renderReport(outcome(), config(), extras({ params: { note: hostile } }));
    const row = report.split('\n').find((l) => l.startsWith('| note |'))!;
    expect(row).toMatch(/^\| note \| – \| <code>.*<\/code> \|$/);
    expect(row.replace(/\\\|/g, '').split('|')).toHaveLength(5);
    expect(report).not.toMatch(/<!--|<img/);
    expect(row).toContain('&lt;\\!-- mlops-actions:train-and-log:x --&gt;');
  });

  it("links MLflow's compare-runs view of both runs and the LoggedModel", () => {
    const report = renderReport(outcome(), config(), extras());
    const compare = /\[compare with champion v3\]\(([^)]+)\)/.exec(report)![1]!;
    expect(compare.startsWith(`${UI}/#/compare-runs?runs=`)).toBe(true);
    // As MLflow's UI reads it: decode the hash's query, then JSON-parse `?runs` and `experiments`.
    const query = new URLSearchParams(decodeURIComponent(compare.split('#/compare-runs')[1]!).slice(1));
    expect(JSON.parse(query.get('runs')!)).toEqual(['run-new', 'run-old']);
    expect(JSON.parse(query.get('experiments')!)).toEqual(['7', '5']);
    expect(report).toContain(`[LoggedModel \`m-abc\`](${UI}/#/experiments/7/models/m-abc)`);
    expect(compareRunsUrl(UI, ['a', 'b'], ['1', '1'])).toBe(
      `${UI}/#/compare-runs?runs=%5B%22a%22%2C%22b%22%5D&experiments=%5B%221%22%5D`,
    );
  });

  it('without the extras (MLflow did not answer) still has the table, the bar charts and the run link', async () => {
    const report = renderReport(outcome(), config());
    await expectAllParse(report, 2);
    expect(report).toContain('| **accuracy** | 0.93 | 0.9 | +0.03 |');
    expect(report).not.toContain('compare with');
    expect(report).not.toContain('Params changed');
  });
});

describe('comment key', () => {
  it("makes the runner's toJSON(matrix) a stable label, and nothing outside a matrix", () => {
    const json = '{\n  "python": "3.12",\n  "os": "ubuntu-latest",\n  "depth": 4\n}';
    expect(commentLabel(json)).toBe('depth=4, os=ubuntu-latest, python=3.12');
    expect(commentLabel('{"os":"ubuntu-latest","depth":4,"python":"3.12"}')).toBe(commentLabel(json));
    expect(commentLabel('null')).toBeUndefined();
    expect(commentLabel('')).toBeUndefined();
    expect(commentLabel('  gpu  run ')).toBe('gpu run');
  });

  it('gives each matrix leg its own marker, and the label reaches the heading', () => {
    const a = config({ commentLabel: 'depth=4' });
    const b = config({ commentLabel: 'depth=8' });
    expect(commentKey(a)).toBe('train-and-log:iris-classifier:depth=4');
    expect(markerFor(commentKey(a))).not.toBe(markerFor(commentKey(b)));
    expect(commentKey(config())).toBe('train-and-log:iris-classifier');
    expect(renderReport(outcome(), a)).toMatch(/^### train-and-log: iris \\\(depth=4\\\)$/m);
  });

  it('keeps a key from closing the HTML comment it sits in', () => {
    const marker = markerFor('x --> <b>y</b>\nz');
    const inside = marker.slice('<!--'.length, -'-->'.length);
    expect(marker.startsWith('<!-- mlops-actions:x ')).toBe(true);
    expect(inside).not.toMatch(/--|[<>\n]/);
    expect(markerFor('train-and-log:iris')).toBe('<!-- mlops-actions:train-and-log:iris -->');
  });
});
