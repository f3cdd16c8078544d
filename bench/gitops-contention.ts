/**
 * Wall time of 20 gitops-bump runs started at once against one origin, against one run alone, as
 * a ratio (target <= 3x). Each run is the bundled action in its own process, as on a runner; the
 * origin is a local bare repository, so the figure is the action's own cost plus the contention,
 * without network latency.
 *
 *   npx tsx bench/gitops-contention.ts [--runs 20] [--repeat 3]
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const BUNDLE = join(ROOT, 'dist', 'gitops-bump', 'index.js');
const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '20' }, repeat: { type: 'string', default: '3' } },
});
const RUNS = Number(args.runs);
const REPEAT = Number(args.repeat);
const IMAGES = Array.from({ length: 10 }, (_, i) => `ghcr.io/octo-org/model-${i}`);

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Seed',
  GIT_AUTHOR_EMAIL: 'seed@example.com',
  GIT_COMMITTER_NAME: 'Seed',
  GIT_COMMITTER_EMAIL: 'seed@example.com',
};
const git = (cwd: string, a: string[]): string =>
  execFileSync('git', a, { cwd, env: gitEnv, encoding: 'utf8' }).trim();

function makeOrigin(root: string): string {
  const seed = join(root, 'seed');
  mkdirSync(join(seed, 'env'), { recursive: true });
  git(seed, ['init', '-q', '-b', 'main']);
  writeFileSync(
    join(seed, 'env', 'kustomization.yaml'),
    [
      'kind: Kustomization',
      'images:',
      ...IMAGES.flatMap((n) => [`  - name: ${n}`, '    newTag: seed']),
      '',
    ].join('\n'),
  );
  git(seed, ['add', '-A']);
  git(seed, ['commit', '-q', '-m', 'seed']);
  const bare = join(root, 'origin.git');
  git(root, ['init', '-q', '--bare', '-b', 'main', bare]);
  git(seed, ['push', '-q', bare, 'main']);
  return bare;
}

/** Push attempts per run, read from the action's log ("on attempt N" when it took more than one). */
const attempts: number[] = [];

function bump(bare: string, temp: string, i: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      RUNNER_TEMP: temp,
      GITHUB_REPOSITORY: 'octo-org/gitops',
      INPUT_REPOSITORY: bare,
      INPUT_FILES: 'env/kustomization.yaml',
      INPUT_IMAGE: IMAGES[i % IMAGES.length]!,
      INPUT_TAG: `v${i}`,
      INPUT_MODE: 'push',
      'INPUT_HELM-KEY-PATH': 'image',
      'INPUT_COMMIT-MESSAGE': 'bump {image} to {new}',
      INPUT_TIMEOUT: '5m',
      'INPUT_ARGOCD-NAMESPACE': 'argocd',
    };
    const child = spawn(process.execPath, [BUNDLE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => {
      attempts.push(Number(/on attempt (\d+)\./.exec(out)?.[1] ?? 1));
      if (code === 0) resolvePromise();
      else reject(new Error(`bump ${i} exited ${code}:\n${out}`));
    });
  });
}

/** Wall time of `n` bumps started at once, against one shared origin or one origin each. */
async function timed(n: number, shared = true): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'gitops-bench-'));
  try {
    const origins = Array.from({ length: shared ? 1 : n }, (_, i) => {
      mkdirSync(join(root, `o${i}`));
      return makeOrigin(join(root, `o${i}`));
    });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: n }, (_, i) => bump(origins[shared ? 0 : i]!, join(root, 'temp'), i)),
    );
    const ms = performance.now() - started;
    const commits = origins.reduce(
      (sum, bare) => sum + Number(git(root, ['--git-dir', bare, 'rev-list', '--count', 'main'])) - 1,
      0,
    );
    if (commits !== n) throw new Error(`expected ${n} new commits, found ${commits}`);
    return ms;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await timed(1); // warm the file cache
const single: number[] = [];
const separate: number[] = [];
const contended: number[] = [];
const perRound: number[] = [];
// Interleaved rounds, so that a change in the machine's background load falls on all three alike.
for (let r = 0; r < REPEAT; r++) {
  single.push(await timed(1));
  separate.push(await timed(RUNS, false));
  attempts.length = 0;
  contended.push(await timed(RUNS));
  perRound.push(attempts.reduce((a, b) => a + b, 0));
}
const show = (xs: number[]): string =>
  `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})`;
console.log(
  `cores: ${availableParallelism()}, load average: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(`one bump:                                       ${show(single)}`);
console.log(`${RUNS} concurrent bumps, one origin each (floor): ${show(separate)}`);
console.log(`${RUNS} concurrent bumps, one shared origin:      ${show(contended)}`);
console.log(`push attempts for ${RUNS} commits on the shared origin: ${perRound.join(', ')}`);
console.log(
  `ratio shared / one: ${(median(contended) / median(single)).toFixed(2)}x (target <= 3x); ` +
    `shared / separate: ${(median(contended) / median(separate)).toFixed(2)}x (the cost of contention itself); ` +
    `all ${RUNS} commits landed every time`,
);
