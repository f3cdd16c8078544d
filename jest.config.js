/** ESM + TypeScript, as actions/typescript-action sets it up. Tests run the bundles in dist/ as child processes. */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      { useESM: true, tsconfig: 'tsconfig.check.json', diagnostics: { ignoreCodes: ['TS151001'] } },
    ],
  },
  testTimeout: 120000,
  maxWorkers: 2,
  // The slowest files first, also on a fresh machine, where jest has not timed them yet.
  testSequencer: '<rootDir>/scripts/jest-sequencer.mjs',
  // test.concurrent is for tests that mostly wait (github-faults: GitHub's retry waits), so all
  // of a file's concurrent tests may wait at once.
  maxConcurrency: 16,
};
