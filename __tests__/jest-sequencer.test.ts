/**
 * scripts/jest-sequencer.mjs: jest's order (the slowest files first) on a machine where jest has
 * timed nothing yet, from __tests__/test-durations.txt, a copy of a full run's slowest-tests.txt.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/run-action.js';
// @ts-expect-error: a plain ES module without types
import SlowestFirst, { parseDurations } from '../scripts/jest-sequencer.mjs';

interface FakeTest {
  path: string;
  context: unknown;
  duration?: number;
}

describe('jest-sequencer', () => {
  it('reads the lines scripts/test writes to .test-results/slowest-tests.txt', () => {
    // scripts/test: s.toFixed(1).padStart(7) + " s  " + path
    const line = (s: number, path: string) => s.toFixed(1).padStart(7) + ' s  ' + path;
    const text = [line(1234.5, '__tests__/a.test.ts'), line(0.4, '__tests__/b.test.ts'), 'junk', ''].join(
      '\n',
    );
    expect([...parseDurations(text)]).toEqual([
      ['__tests__/a.test.ts', 1234500],
      ['__tests__/b.test.ts', 400],
    ]);
  });

  it('lists only test files that exist', () => {
    const listed = [
      ...parseDurations(readFileSync(join(ROOT, '__tests__', 'test-durations.txt'), 'utf8')).keys(),
    ];
    expect(listed.length).toBeGreaterThan(0);
    expect(
      listed.filter((path) => !/^__tests__\/.+\.test\.ts$/.test(path) || !existsSync(join(ROOT, path))),
    ).toEqual([]);
  });

  it("orders by jest's time, else the list's, longest first, then the untimed by size", () => {
    const sizes: Record<string, number> = { '__tests__/small.test.ts': 10, '__tests__/large.test.ts': 99 };
    const context = {
      config: { cache: false },
      hasteFS: { getSize: (path: string) => sizes[path.slice(ROOT.length + 1)] ?? 50 },
    };
    const listed = [...parseDurations(readFileSync(join(ROOT, '__tests__', 'test-durations.txt'), 'utf8'))];
    const [[slowest, slowestMs], [second]] = listed as [[string, number], [string, number]];
    const sequencer = new SlowestFirst({});
    // What jest's cache holds after a run, [status, ms] by absolute path: its time wins over the list's.
    sequencer._cache.set(context, {
      [join(ROOT, '__tests__/timed.test.ts')]: [1, slowestMs - 1],
      [join(ROOT, second)]: [1, 1],
    });
    const tests = [
      '__tests__/small.test.ts',
      second,
      '__tests__/timed.test.ts',
      '__tests__/large.test.ts',
      slowest,
    ];
    const sorted = sequencer.sort(
      tests.map((path): FakeTest => ({ path: join(ROOT, path), context })),
    ) as FakeTest[];
    expect(sorted.map((t) => t.path.slice(ROOT.length + 1))).toEqual([
      slowest,
      '__tests__/timed.test.ts',
      second,
      '__tests__/large.test.ts',
      '__tests__/small.test.ts',
    ]);
  });
});
