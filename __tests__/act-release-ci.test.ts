/**
 * The project's own workflows, release.yml and ci.yml, run by the real `act` on this host (the
 * `ubuntu-24.04` label mapped to `-self-hosted`, Node 24 first on PATH, actions/setup-node,
 * setup-python and upload-artifact played by the stand-ins of __tests__/fixtures/act-stand-ins).
 *
 * release.yml, as `workflow_dispatch` with `--input version=…`, releases a small repository shaped
 * like the suite: the real release.yml and scripts/release.mjs, a package.json with a lock file
 * (its dependencies, semver and yaml, packed from node_modules so that `npm ci` needs no registry),
 * CHANGELOG.md, and one action whose dist/ a build script makes (a copy, where the suite runs ncc
 * for a minute: dist.test.ts checks the suite's own dist/), and the real reusable workflows, whose
 * actions-ref default the release checks. Its origin is a local bare repository (a file://
 * remote), where the test reads the tags the run pushed.
 *
 * ci.yml, on push, runs in a repository holding the real ci.yml and, in place of the real
 * scripts/setup and scripts/test, scripts that "build" the Go tools and record how they were
 * started, writing .test-results/: the test checks the job's wiring (runner label, Node 24 and
 * Python set up, setup then the test command run from the checkout, its results kept as the
 * artifact), not the suite's tests. Run again against one $ACT_CACHE_DIR (the entries of the
 * actions/cache/restore and /save stand-ins), it checks that the Go tools are saved right after
 * setup by a cold run even when its tests fail, restored by the next (which saves nothing), and
 * reused through restore-keys when scripts/setup or render-direct's sources change the key.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { callerRepo, commandArgs, OWN_RUNS, runAct, type ActRun } from './helpers/act.js';
import { PYTHON } from './helpers/mlflow-server.js';
import { ROOT } from './helpers/run-action.js';

const gitIn =
  (cwd: string) =>
  (...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=Octo Cat', '-c', 'user.email=octocat@example.com', ...args], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();

function write(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** What every job run here must show: act ran it (no skipped platform) and it ended as expected. */
function expectJobs(run: ActRun, jobs: Record<string, string>): void {
  const ok = Object.values(jobs).every((r) => r === 'success');
  if ((run.code === 0) !== ok) console.error(run.output.slice(-4000), run.other.slice(-2000));
  expect(run.unsupported).toEqual([]);
  expect(run.jobs).toEqual(jobs);
  expect(run.code).toBe(ok ? 0 : 1);
}

// Stands in for scripts/build.mjs (ncc): dist/<name>/index.js from actions/<name>/main.js.
const BUILD = `import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
for (const name of readdirSync('actions')) {
  mkdirSync(\`dist/\${name}\`, { recursive: true });
  const source = readFileSync(\`actions/\${name}/main.js\`, 'utf8');
  writeFileSync(\`dist/\${name}/index.js\`, \`// bundled from actions/\${name}/main.js\\n\${source}\`);
  console.log(\`built \${name}\`);
}
`;

/** The release workflow, and the reusable workflows whose actions-ref default the release checks. */
const WORKFLOWS = ['release.yml', 'ml-pipeline.yml', 'ai-review.yml', 'alert-triage.yml'];

interface Suite {
  repo: string;
  origin: string;
  git: (...args: string[]) => string;
}

/** A repository shaped like the suite, with the real release workflow and script, its origin bare. */
function suiteRepo(): Suite {
  const dir = mkdtempSync(join(tmpdir(), 'act-release-'));
  const origin = join(dir, 'origin.git');
  const repo = join(dir, 'mlops-actions');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  execFileSync('git', ['init', '-q', '-b', 'main', repo]);
  const git = gitIn(repo);
  git('remote', 'add', 'origin', `file://${origin}`);
  mkdirSync(join(repo, '.github', 'workflows'), { recursive: true });
  for (const f of WORKFLOWS)
    copyFileSync(join(ROOT, '.github', 'workflows', f), join(repo, '.github', 'workflows', f));
  mkdirSync(join(repo, 'scripts'));
  copyFileSync(join(ROOT, 'scripts', 'release.mjs'), join(repo, 'scripts', 'release.mjs'));
  mkdirSync(join(repo, 'vendor'));
  for (const dep of ['semver', 'yaml'])
    execFileSync('tar', ['-czf', join(repo, 'vendor', `${dep}.tgz`), '-C', join(ROOT, 'node_modules'), dep]);
  write(repo, {
    '.gitignore': 'node_modules\n',
    'scripts/build.mjs': BUILD,
    'actions/hello/main.js': "console.log('hello');\n",
    'package.json': packageJson('0.0.0'),
  });
  execFileSync(
    'npm',
    ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', '--offline'],
    {
      cwd: repo,
      stdio: 'ignore',
    },
  );
  execFileSync('node', ['scripts/build.mjs'], { cwd: repo, stdio: 'ignore' });
  git('add', '-A');
  git('commit', '-qm', 'the suite, unreleased');
  return { repo, origin, git };
}

function packageJson(version: string): string {
  const pkg = {
    name: 'mlops-actions',
    version,
    private: true,
    type: 'module',
    scripts: { build: 'node scripts/build.mjs' },
    dependencies: { semver: 'file:vendor/semver.tgz', yaml: 'file:vendor/yaml.tgz' },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/**
 * The commit that sets package.json's version and adds its CHANGELOG.md section, with `files`, and
 * dist/ rebuilt unless `stale`; pushed to main.
 */
function commitVersion(s: Suite, version: string, files: Record<string, string> = {}, stale = false): string {
  const changelog = existsSync(join(s.repo, 'CHANGELOG.md'))
    ? readFileSync(join(s.repo, 'CHANGELOG.md'), 'utf8').replace('# Changelog\n', '')
    : '';
  write(s.repo, {
    'package.json': packageJson(version),
    'CHANGELOG.md': `# Changelog\n\n## [${version}]\n\n- release ${version}\n${changelog}`,
    ...files,
  });
  // The version in package-lock.json follows package.json, as `npm version` writes it.
  const lock = JSON.parse(readFileSync(join(s.repo, 'package-lock.json'), 'utf8')) as {
    version: string;
    packages: Record<string, { version?: string }>;
  };
  lock.version = version;
  lock.packages['']!.version = version;
  writeFileSync(join(s.repo, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  if (!stale) execFileSync('node', ['scripts/build.mjs'], { cwd: s.repo, stdio: 'ignore' });
  s.git('add', '-A');
  s.git('commit', '-qm', `release ${version}`);
  s.git('push', '-q', 'origin', 'HEAD:main');
  return s.git('rev-parse', 'HEAD');
}

/** The tags on the origin, name -> the commit each points at. */
function originTags(s: Suite): Record<string, string> {
  const out = execFileSync('git', ['ls-remote', '--tags', s.origin], { encoding: 'utf8' }).trim();
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.endsWith('^{}'))
      .map((l) => {
        const [sha, ref] = l.split('\t') as [string, string];
        return [ref.replace('refs/tags/', '').replace('^{}', ''), sha];
      }),
  );
}

const release = (s: Suite, version: string): Promise<ActRun> =>
  runAct({
    event: OWN_RUNS.release.event,
    workflow: OWN_RUNS.release.workflow,
    workdir: s.repo,
    inputs: { [OWN_RUNS.release.input]: version },
  });

describe('release.yml under act', () => {
  it('checks dist/, tags v1.0.0 and moves v1 on the origin; the next release moves v1 again', async () => {
    const s = suiteRepo();
    const first = commitVersion(s, '1.0.0');
    const r1 = await release(s, '1.0.0');
    expectJobs(r1, { 'release/tag v1.0.0': 'success' });
    // Each step ran for real: the setup-node stand-in found Node 24, npm ci installed the lock
    // file, the build ran before the dist/ check, and the tag step pushed.
    expect(r1.output).toMatch(/setup-node stand-in: v24\.\d+\.\d+ from /);
    expect(r1.output).toMatch(/added 2 packages/);
    expect(r1.output).toContain('built hello');
    expect(r1.output).toContain('release: pushed v1.0.0 and moved v1');
    expect(originTags(s)).toEqual({ 'v1.0.0': first, v1: first });

    const second = commitVersion(s, '1.1.0', { 'actions/hello/main.js': "console.log('hello again');\n" });
    const r2 = await release(s, '1.1.0');
    expectJobs(r2, { 'release/tag v1.1.0': 'success' });
    expect(originTags(s)).toEqual({ 'v1.0.0': first, 'v1.1.0': second, v1: second });
    // What v1 now points at checks the suite out at v1 by default: callers of @v1 get this release.
    for (const f of WORKFLOWS.filter((w) => w !== 'release.yml')) {
      const atV1 = execFileSync('git', ['--git-dir', s.origin, 'show', `v1:.github/workflows/${f}`], {
        encoding: 'utf8',
      });
      const wf = parse(atV1) as { on: { workflow_call: { inputs: Record<string, { default?: string }> } } };
      expect([f, wf.on.workflow_call.inputs['actions-ref']!.default]).toEqual([f, 'v1']);
    }
  });

  it.each([
    ['an action changed without rebuilding', { 'actions/hello/main.js': "console.log('changed');\n" }],
    ['a new action whose bundle was never committed', { 'actions/bye/main.js': "console.log('bye');\n" }],
  ])(
    'refuses a release whose dist/ is not the build of its sources (%s), and pushes no tag',
    async (_, files) => {
      const s = suiteRepo();
      commitVersion(s, '1.0.0', files, true);
      const run = await release(s, '1.0.0');
      expectJobs(run, { 'release/tag v1.0.0': 'failure' });
      expect(commandArgs(run, 'error')).toEqual(['dist/ is stale: run npm run build and commit dist/']);
      expect(run.steps['release/tag v1.0.0 :: Main Check dist/ is fresh']).toBe('failure');
      expect(run.output).not.toContain('release: ');
      expect(originTags(s)).toEqual({});
    },
  );
});

// Stands in for scripts/setup: what it does with the Go tools, in small. It appends to
// .test-results/tools.txt what it finds in .tools (what the restore step brought back), then, for
// every tool pinned in the comment lines at its end (the real scripts/setup's go_tool lines, so that
// the cache key, which hashes scripts/setup, follows them) and for render-direct (stamped with the
// hash of its sources), "builds" it (a script) unless its binary is there and its stamp is the one
// wanted, writing the stamp, a build log and a setup log as setup does.
const SETUP_STAND_IN = `#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .test-results .tools/bin .tools/setup-logs
before=$(find .tools -type f | LC_ALL=C sort | tr '\\n' ' ')
src=platform/alertmanager/render-direct
{
  echo "before: $before"
  {
    grep -oE '^# go_tool [a-z-]+ v[^ ]+' scripts/setup | cut -d' ' -f3,4
    echo "render-direct $(cat $src/go.mod $src/go.sum $src/*.go | sha256sum | cut -d' ' -f1)"
  } | while read -r name stamp; do
    if [ -x ".tools/bin/$name" ] && [ "$(cat ".tools/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
      echo "reused $name"
      continue
    fi
    printf '#!/bin/sh\\necho %s %s\\n' "$name" "$stamp" >".tools/bin/$name"
    chmod +x ".tools/bin/$name"
    echo "$stamp" >".tools/$name.stamp"
    echo "go install $name" >".tools/$name.build.log"
    echo "built $name"
  done
} | tee -a .test-results/tools.txt >.tools/setup-logs/go-tools.log
`;
/** The scripts/setup stand-in, with the go_tool lines of `setup` (the real one's text) as its pins. */
const setupStandIn = (setup: string): string =>
  SETUP_STAND_IN + [...setup.matchAll(/\bgo_tool [a-z-]+ v\S+/g)].map((m) => `# ${m[0]}\n`).join('');

// Stands in for scripts/test: records how ci.yml started it and writes .test-results/, as the real
// one does; runs scripts/setup first, as the real one does; exits with $SCRIPTS_TEST_EXIT (default 0).
const SCRIPTS_TEST = `#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .test-results
{
  echo "args=$*"
  echo "node=$(node --version)"
  echo "python=$(command -v python3)"
  git status --porcelain
} >.test-results/started.txt
bash scripts/setup
echo "scripts/test stand-in: 1 passed, 0 failed"
exit "\${SCRIPTS_TEST_EXIT:-0}"
`;

const RENDER_DIRECT = join('platform', 'alertmanager', 'render-direct');
const SETUP = readFileSync(join(ROOT, 'scripts', 'setup'), 'utf8');
/** The Go tools scripts/setup builds (go_tool's, then render-direct), as the stand-in reads them. */
const TOOLS = [...SETUP.matchAll(/\bgo_tool ([a-z-]+) v/g)].map((m) => m[1]!).concat('render-direct');

/**
 * A repository with the real ci.yml, a lock file, the scripts/test and scripts/setup stand-ins, and
 * render-direct's sources (which the cache key hashes with scripts/setup), each replaced by `files`.
 */
function ciRepo(files: Record<string, string> = {}): string {
  const repo = mkdtempSync(join(tmpdir(), 'act-ci-'));
  execFileSync('git', ['init', '-q', '-b', 'main', repo]);
  const git = gitIn(repo);
  git('remote', 'add', 'origin', 'https://github.com/example-org/mlops-actions.git');
  const sources = readdirSync(join(ROOT, RENDER_DIRECT)).map((f) => join(RENDER_DIRECT, f));
  write(repo, {
    '.gitignore': 'node_modules\n.tools\n.test-results/\n',
    '.github/workflows/ci.yml': readFileSync(join(ROOT, '.github', 'workflows', 'ci.yml'), 'utf8'),
    'package.json': `${JSON.stringify({ name: 'mlops-actions', version: '1.0.0', private: true })}\n`,
    // ci.yml's setup-python reads the one pinned Python version from here.
    '.python-version': readFileSync(join(ROOT, '.python-version'), 'utf8'),
    'scripts/test': SCRIPTS_TEST,
    'scripts/setup': setupStandIn(SETUP),
    ...Object.fromEntries(sources.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')])),
    ...files,
  });
  execFileSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund', '--offline'], {
    cwd: repo,
    stdio: 'ignore',
  });
  git('add', '-A');
  git('commit', '-qm', 'init');
  return repo;
}

describe('the setup-node stand-in', () => {
  it('fails unless the node first on PATH is the version asked for, and without the lock file cache: npm keys on', async () => {
    const setupNode = /uses: (actions\/setup-node@[0-9a-f]{40})/.exec(
      readFileSync(join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8'),
    )![1]!;
    const job = (version: string, cache = ''): string[] => [
      '    runs-on: ubuntu-latest',
      '    steps:',
      `      - uses: ${setupNode}`,
      `        with: { node-version: '${version}'${cache ? `, cache: ${cache}` : ''} }`,
    ];
    const workdir = callerRepo({
      '.github/workflows/x.yml': ['name: x', 'on: push', 'jobs:', '  old:', ...job('22')]
        .concat(['  any:', ...job('lts/*'), '  cached:', ...job('24.x', 'npm'), '  ok:', ...job('24')])
        .join('\n'),
    });
    const run = await runAct({ event: 'push', workflow: '.github/workflows/x.yml', workdir });
    expect(run.jobs).toEqual({
      'x/old': 'failure',
      'x/any': 'failure',
      'x/cached': 'failure',
      'x/ok': 'success',
    });
    expect(commandArgs(run, 'error').sort()).toEqual([
      expect.stringMatching(
        /^setup-node stand-in: cannot resolve node-version 'lts\/\*' without downloading/,
      ),
      expect.stringMatching(/^setup-node stand-in: dependencies lock file is not found in /),
      expect.stringMatching(
        /^setup-node stand-in: node-version 22 asked for, but the node first on PATH is v24\./,
      ),
    ]);
  });
});

describe('ci.yml under act', () => {
  const JOB = 'ci/scripts/test';
  // The interpreter setup-python is to use, in a folder of its own that is on no PATH: the test
  // command finds it only if the setup-python step ran and put it first.
  const python = join(mkdtempSync(join(tmpdir(), 'act-python-')), 'python3');
  symlinkSync(PYTHON, python);
  interface CiRun {
    run: ActRun;
    artifacts: string;
    /** What ci.yml's setup step found in .tools, and what it built or reused. */
    tools: string;
    /** The same, from the setup scripts/test runs again after it. */
    retest: string;
    /** The cache step's cache-hit output; undefined when it set none. */
    hit: string | undefined;
  }
  /** ci.yml on push in a new ciRepo(files); the cache stand-in keeps its entries in `cache`, if given. */
  const ci = async (
    o: { exit?: number; cache?: string; files?: Record<string, string> } = {},
  ): Promise<CiRun> => {
    const artifacts = mkdtempSync(join(tmpdir(), 'act-artifacts-'));
    const run = await runAct({
      event: OWN_RUNS.ci.event,
      workflow: OWN_RUNS.ci.workflow,
      eventFile: OWN_RUNS.ci.eventFile,
      workdir: ciRepo(o.files),
      // SCRIPTS_TEST_EXIT is read by this test's scripts/test stand-in only.
      env: {
        ACT_PYTHON: python,
        ACT_ARTIFACT_DIR: artifacts,
        SCRIPTS_TEST_EXIT: String(o.exit ?? 0),
        ...(o.cache ? { ACT_CACHE_DIR: o.cache } : {}),
      },
    });
    const file = join(artifacts, 'test-results', 'tools.txt');
    const [tools = '', retest = ''] = existsSync(file)
      ? readFileSync(file, 'utf8').split(/(?=^before: )/m)
      : [];
    const hit = run.commands.find(
      (c) => c.command === 'set-output' && c.name === 'cache-hit' && c.step === 'Restore the Go tools',
    );
    return { run, artifacts, tools, retest, hit: hit?.arg };
  };
  /** The entries the cache stand-in saved in `dir`: key -> what its archive holds. */
  const entries = (dir: string): Record<string, string[]> =>
    Object.fromEntries(
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { id: string; key: string })
        .map((e) => {
          const list = execFileSync('tar', ['-tf', join(dir, `${e.id}.tar`)], { encoding: 'utf8' });
          return [e.key, list.trim().split('\n').sort()];
        }),
    );
  /** What the stand-in prints: `before:` and what is in .tools, then each tool built or reused. */
  const report = (before: string[], built: string[]): string =>
    [`before: ${before.map((f) => `${f} `).join('')}`]
      .concat(TOOLS.map((t) => `${built.includes(t) ? 'built' : 'reused'} ${t}`))
      .join('\n') + '\n';
  // The binaries and stamps, as the cache archives them and the next run finds them.
  const bins = TOOLS.map((t) => `.tools/bin/${t}`);
  const stamps = TOOLS.map((t) => `.tools/${t}.stamp`);
  const cached = [...stamps, ...bins].sort();
  /** The setup scripts/test runs after ci.yml's own: it finds every tool in place and builds none. */
  const expectAllReused = (retest: string): void =>
    expect(retest.split('\n').slice(1)).toEqual([...TOOLS.map((t) => `reused ${t}`), '']);

  it('runs the test command from a clean checkout with Node 24 and the Python it set up, and keeps .test-results/', async () => {
    const { run, artifacts, tools, retest, hit } = await ci();
    expectJobs(run, { [JOB]: 'success' });
    expect(run.steps[`${JOB} :: Main Set up`]).toBe('success');
    expect(run.steps[`${JOB} :: Main Test`]).toBe('success');
    expect(run.output).toContain('scripts/test stand-in: 1 passed, 0 failed');
    const started = readFileSync(join(artifacts, 'test-results', 'started.txt'), 'utf8');
    // `bash scripts/test` with no arguments, in a checkout with nothing changed before it ran.
    expect(started).toBe(`args=\nnode=${process.version}\npython=${python}\n`);
    // Without ACT_CACHE_DIR the cache stand-in restores nothing and saves nothing, and says so.
    expect(hit).toBe('false');
    expect(tools).toBe(report([], TOOLS));
    expectAllReused(retest);
    expect(run.output).toContain(
      'cache stand-in: ACT_CACHE_DIR is not set: no entry is restored, and none will be saved',
    );
    expect(run.output).toContain('cache stand-in: ACT_CACHE_DIR is not set: nothing is saved');
  });

  it('fails when the tests fail, and still keeps their results', async () => {
    const { run, artifacts } = await ci({ exit: 1 });
    expectJobs(run, { [JOB]: 'failure' });
    expect(run.steps[`${JOB} :: Main Test`]).toBe('failure');
    expect(run.steps[`${JOB} :: Main Keep the test results`]).toBe('success');
    expect(existsSync(join(artifacts, 'test-results', 'started.txt'))).toBe(true);
  });

  it(
    'keeps the Go tools across runs: a cold run whose tests fail saves them after setup, the next restores them, a changed key restores the newest entry of restore-keys',
    async () => {
      expect(TOOLS).toEqual(expect.arrayContaining(['trivy', 'act', 'kustomize', 'render-direct']));
      const cache = mkdtempSync(join(tmpdir(), 'act-cache-entries-'));
      // Cold, and the tests fail: nothing to restore (cache-hit unset, as the real action leaves
      // it), everything built, and saved under the key by the step after setup, before the tests
      // ran: binaries and stamps, no logs.
      const cold = await ci({ cache, exit: 1 });
      expectJobs(cold.run, { [JOB]: 'failure' });
      expect(cold.run.steps[`${JOB} :: Main Save the Go tools`]).toBe('success');
      expect(cold.run.steps[`${JOB} :: Main Test`]).toBe('failure');
      expect(cold.hit).toBeUndefined();
      expect(cold.tools).toBe(report([], TOOLS));
      const [key] = Object.keys(entries(cache));
      expect(key).toMatch(/^go-tools-Linux-(X64|ARM64)-[0-9a-f]{64}$/);
      expect(entries(cache)).toEqual({ [key!]: ['.tools/bin/', ...cached].sort() });
      const saved = cold.run.output.indexOf(`Cache saved with key: ${key}`);
      expect(saved).toBeGreaterThan(-1);
      expect(saved).toBeLessThan(cold.run.output.indexOf('scripts/test stand-in: 1 passed'));

      // Warm: the exact key, so scripts/setup finds every tool and stamp and builds none; the save
      // step does not run.
      const warm = await ci({ cache });
      expectJobs(warm.run, { [JOB]: 'success' });
      expect(warm.hit).toBe('true');
      expect(warm.tools).toBe(report(cached, []));
      expect(warm.run.steps[`${JOB} :: Main Save the Go tools`]).toBeUndefined();
      expect(warm.run.output).not.toContain('Cache saved with key');
      expect(Object.keys(entries(cache))).toEqual([key]);

      // scripts/setup pins another kustomize: a new key; restore-keys bring the entry back (not a
      // hit), only kustomize is rebuilt, and the result is saved under the new key.
      const setup = setupStandIn(SETUP.replace(/(go_tool kustomize v\S+)/, '$1-next'));
      const bumped = await ci({ cache, files: { 'scripts/setup': setup } });
      expectJobs(bumped.run, { [JOB]: 'success' });
      expect(bumped.hit).toBe('false');
      expect(bumped.run.output).toContain(`Cache restored from key: ${key}`);
      expect(bumped.tools).toBe(report(cached, ['kustomize']));
      const second = Object.keys(entries(cache)).find((k) => k !== key)!;
      expect(Object.keys(entries(cache))).toHaveLength(2);
      expect(second.slice(0, -64)).toBe(key!.slice(0, -64));

      // render-direct's sources change too: the key again; of the two entries restore-keys match,
      // the newest comes back (kustomize's new stamp in it), and only render-direct is rebuilt.
      const main = join(RENDER_DIRECT, 'main.go');
      const changed = `${readFileSync(join(ROOT, main), 'utf8')}\n// changed\n`;
      const edited = await ci({ cache, files: { 'scripts/setup': setup, [main]: changed } });
      expectJobs(edited.run, { [JOB]: 'success' });
      expect(edited.hit).toBe('false');
      expect(edited.run.output).toContain(`Cache restored from key: ${second}`);
      expect(edited.tools).toBe(report(cached, ['render-direct']));
      expect(Object.keys(entries(cache))).toHaveLength(3);
    },
    // Four act runs.
    4 * 100_000,
  );
});
