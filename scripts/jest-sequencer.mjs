// Jest's test order, with the durations of a full run to fall back on when jest has none.
// Jest starts the slowest files first when its cache holds their last durations; on a fresh
// machine (CI) it has none and orders by file size, which starts some of the slowest files last
// and leaves one worker running them alone at the end. __tests__/test-durations.txt holds measured
// times in the format of .test-results/slowest-tests.txt (refresh it after a full run with
// `cp .test-results/slowest-tests.txt __tests__/test-durations.txt`). Files neither jest nor the
// list has a time for come after the timed ones, the largest first (jest's own guess).
import TestSequencer from '@jest/test-sequencer';
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

/** `  123.4 s  __tests__/x.test.ts` lines (the format scripts/test writes) as path -> ms. */
export function parseDurations(text) {
  const durations = new Map();
  for (const line of text.split('\n')) {
    const match = /^\s*(\d+(?:\.\d+)?) s\s+(\S+)\s*$/.exec(line);
    if (match) durations.set(match[2], Number(match[1]) * 1000);
  }
  return durations;
}

// A CommonJS module with exports.default: which of the two an import gives differs by Node version.
const Base = TestSequencer.default ?? TestSequencer;
const listed = parseDurations(readFileSync(resolve(root, '__tests__', 'test-durations.txt'), 'utf8'));

export default class SlowestFirst extends Base {
  /** Failed last time first (as jest does), then the known times, longest first, then by size. */
  sort(tests) {
    const size = (test) => test.context.hasteFS.getSize(test.path) ?? 0;
    for (const test of tests) test.duration = this.time(test);
    return tests.sort(
      (a, b) =>
        Number(this.hasFailed(b)) - Number(this.hasFailed(a)) ||
        (b.duration ?? -1) - (a.duration ?? -1) ||
        size(b) - size(a),
    );
  }

  time(test) {
    return super.time(test) ?? listed.get(relative(root, test.path));
  }
}
