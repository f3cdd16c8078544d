/**
 * Runs a workflow through the real `act` binary (.tools/bin/act, built by scripts/setup), on this
 * host (`-P <label>=-self-hosted`: no Docker), the way workflows-example/README.md tells a user to:
 *
 * - the project's Node 24 (node_modules/.bin) first on PATH: act starts `node24` actions with
 *   whatever `node` comes first on PATH;
 * - the suite (this working copy) stands in for `example-org/mlops-actions@v1`, both for the
 *   reusable workflow (`--local-repository`) and for the actions the reusable workflow checks out
 *   (ACT_CHECKOUT_REPOSITORIES, read by the checkout stand-in);
 * - third-party actions, which act would clone from GitHub, come from the stand-ins in
 *   __tests__/fixtures/act-stand-ins/ (see its README), pinned at the SHAs the workflows use.
 *
 * act's `--json` log is parsed for each job's result: act skips a job whose `runs-on` label has no
 * `-P` mapping and still exits 0, so callers compare `jobs` with the jobs they expect, and
 * `unsupported` lists the labels act skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './run-action.js';

export const ACT = join(ROOT, '.tools', 'bin', 'act');
export const NODE_BIN = join(ROOT, 'node_modules', '.bin');
export const STAND_INS = join(ROOT, '__tests__', 'fixtures', 'act-stand-ins');
/** The owner the examples use for the suite's repository. */
export const SUITE_REPOSITORY = 'example-org/mlops-actions';
export const SUITE_REF = 'v1';

/** Third-party action repositories (owner/name) and the stand-in folder that replaces each. */
const STAND_IN_DIRS: Record<string, string> = {
  'actions/cache': 'cache',
  'actions/checkout': 'checkout',
  'actions/setup-node': 'setup-node',
  'actions/setup-python': 'setup-python',
  'actions/upload-artifact': 'upload-artifact',
  'docker/setup-buildx-action': 'setup-buildx-action',
  'github/codeql-action': 'codeql-action',
};

/** `owner/name@sha` of every stand-in, at the SHAs pinned in the reusable workflows and examples. */
export function standInRefs(): Record<string, string> {
  const refs: Record<string, string> = {};
  for (const dir of [join(ROOT, '.github', 'workflows'), join(ROOT, 'workflows-example')]) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yml'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const m of text.matchAll(/uses:\s*([\w.-]+\/[\w.-]+)(?:\/[\w./-]+)?@([0-9a-f]{40})/g)) {
        const standIn = STAND_IN_DIRS[m[1]!];
        if (standIn) refs[`${m[1]}@${m[2]}`] = join(STAND_INS, standIn);
      }
    }
  }
  return refs;
}

/**
 * The `runs-on` labels workflows-example/README.md's act lines map to this host, and so the act
 * tests: a workflow that starts using another label gets its job skipped, as a user's would.
 */
export const PLATFORM_LABELS = ['ubuntu-24.04', 'ubuntu-latest'];

/** Every `runs-on` label the reusable workflows, the project's own and the examples use, sorted. */
export function runsOnLabels(): string[] {
  const labels = new Set<string>();
  for (const dir of [join(ROOT, '.github', 'workflows'), join(ROOT, 'workflows-example')]) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yml'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/^\s+runs-on:\s*([\w.-]+)\s*$/gm))
        labels.add(m[1]!);
    }
  }
  return [...labels].sort();
}

export interface ActOptions {
  /** Event name, e.g. repository_dispatch. */
  event: string;
  /** Workflow file, relative to `workdir` (as a user types it). */
  workflow: string;
  /** Event payload file (absolute); act makes up an empty one without it. */
  eventFile?: string;
  /** `--input`: a workflow_dispatch's inputs, as `gh workflow run -f` gives them. */
  inputs?: Record<string, string>;
  /** The calling repository's work tree (act's working directory and the job workspace's source). */
  workdir: string;
  /** Directory standing in for example-org/mlops-actions@v1; default this working copy. */
  suite?: string;
  secrets?: Record<string, string>;
  vars?: Record<string, string>;
  /** `--env`: the job's environment (act passes GITHUB_API_URL etc. on to the steps). */
  env?: Record<string, string>;
  /** `-P` mappings; default every label of PLATFORM_LABELS on this host. */
  platforms?: Record<string, string>;
  /** Directories put on PATH right after Node 24 (e.g. a `docker` played by buildah). */
  path?: string[];
  /**
   * The environment act is started in, as a user's shell has it (the host's steps inherit it, not
   * on the command line): e.g. buildah's CONTAINERS_STORAGE_CONF.
   */
  hostEnv?: Record<string, string>;
  /** act's --action-cache-path (its tool cache is `<it>/tool_cache`); default a new temp dir. */
  actionCachePath?: string;
  /** `-v`: act then also logs jobs it skipped for a false `if:` (jobResult skipped). */
  verbose?: boolean;
  timeoutMs?: number;
}

/**
 * The project's own workflows as __tests__/act-release-ci.test.ts runs them, in a clone of the
 * suite; workflows-example/README.md shows the same command lines (workflows.test.ts checks).
 */
export const OWN_RUNS = {
  release: { event: 'workflow_dispatch', workflow: '.github/workflows/release.yml', input: 'version' },
  ci: {
    event: 'push',
    workflow: '.github/workflows/ci.yml',
    eventFile: join(ROOT, 'workflows-example', 'events', 'push.json'),
    /**
     * What the stand-ins read: the Python setup-python uses, where upload-artifact copies to, the
     * folder the cache stand-in keeps its entries in.
     */
    env: ['ACT_PYTHON', 'ACT_ARTIFACT_DIR', 'ACT_CACHE_DIR'],
  },
} as const;

/**
 * ml-pipeline.yml as __tests__/act-ml-pipeline.test.ts runs it, and the names of what it gives act
 * (`--var`, `-s`, and the `--env` a user sets; the test's other --env point at its fakes):
 * workflows-example/README.md shows the same command line (workflows.test.ts checks).
 */
export const PIPELINE_RUN = {
  event: 'push',
  workflow: '.github/workflows/ml-pipeline.yml',
  eventFile: join(ROOT, 'workflows-example', 'events', 'push.json'),
  vars: ['MLFLOW_TRACKING_URI', 'IMAGE', 'WAIT_FOR_SYNC', 'SMOKE_TEST_URL', 'BUILDER'],
  secrets: ['GITHUB_TOKEN', 'KUBECONFIG'],
  env: ['ACT_PYTHON'],
} as const;

/** act's argv (without the binary) for these options. */
export function actArgs(o: ActOptions): string[] {
  const suite = o.suite ?? ROOT;
  const args = [o.event, '--json', '-W', o.workflow, ...(o.eventFile ? ['-e', o.eventFile] : [])];
  const platforms = o.platforms ?? Object.fromEntries(PLATFORM_LABELS.map((l) => [l, '-self-hosted']));
  for (const [label, image] of Object.entries(platforms)) args.push('-P', `${label}=${image}`);
  args.push('--local-repository', `${SUITE_REPOSITORY}@${SUITE_REF}=${suite}`);
  for (const [ref, dir] of Object.entries(standInRefs())) args.push('--local-repository', `${ref}=${dir}`);
  const env = { ACT_CHECKOUT_REPOSITORIES: `${SUITE_REPOSITORY}=${suite}`, ...o.env };
  for (const [k, v] of Object.entries(env)) args.push('--env', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.secrets ?? {})) args.push('-s', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.vars ?? {})) args.push('--var', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.inputs ?? {})) args.push('--input', `${k}=${v}`);
  return args;
}

export interface ActLine {
  msg: string;
  level: string;
  job?: string;
  jobID?: string;
  step?: string;
  stage?: string;
  stepResult?: string;
  jobResult?: string;
  raw_output?: boolean;
  command?: string;
  arg?: string;
  name?: string;
}

export interface ActRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Job (act's name, e.g. `pipeline/ml-pipeline/Train and log`) -> success or failure. */
  jobs: Record<string, string>;
  /** runs-on labels act skipped a job for (no -P mapping). */
  unsupported: string[];
  /** `step` -> result, keyed `<job> :: <stage> <step>`. */
  steps: Record<string, string>;
  /** What the steps printed (act's raw output lines), in order. */
  output: string;
  /** Workflow commands act parsed, e.g. { command: 'warning', arg: '...' }. */
  commands: ActLine[];
  lines: ActLine[];
  /** Unparsed stdout/stderr lines (act's own errors). */
  other: string;
}

/** PATH with the project's Node 24 first, then `extra`, then the project's tools. */
export function actPath(extra: string[] = []): string {
  return [NODE_BIN, ...extra, join(ROOT, '.tools', 'bin'), process.env.PATH].join(':');
}

export async function runAct(o: ActOptions): Promise<ActRun> {
  const PATH = actPath(o.path);
  const node = spawnSync('node', ['--version'], { env: { PATH }, encoding: 'utf8' });
  if (!/^v24\./.test(node.stdout)) throw new Error(`node first on PATH is ${node.stdout}, not 24`);
  const cache = o.actionCachePath ?? mkdtempSync(join(tmpdir(), 'act-cache-'));
  const extra = ['--action-cache-path', cache, ...(o.verbose ? ['-v'] : [])];
  const child = spawn(ACT, [...actArgs(o), ...extra], {
    cwd: o.workdir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...o.hostEnv,
      PATH,
      ACT_DISABLE_VERSION_CHECK: '1',
      // No user or machine act configuration (an .actrc could add -P mappings).
      XDG_CONFIG_HOME: cache,
    },
  });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (text += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 100_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  return parseActLog(text, code, signal);
}

export function parseActLog(text: string, code: number | null, signal: NodeJS.Signals | null): ActRun {
  const run: ActRun = {
    code,
    signal,
    jobs: {},
    unsupported: [],
    steps: {},
    output: '',
    commands: [],
    lines: [],
    other: '',
  };
  for (const raw of text.split('\n')) {
    let line: ActLine;
    try {
      line = JSON.parse(raw) as ActLine;
    } catch {
      if (raw.trim()) run.other += `${raw}\n`;
      continue;
    }
    run.lines.push(line);
    if (line.raw_output) run.output += line.msg;
    if (line.command) run.commands.push(line);
    if (line.jobResult && line.job) run.jobs[line.job.trim()] = line.jobResult;
    if (line.stepResult && line.job && line.step)
      run.steps[`${line.job} :: ${line.stage ?? ''} ${line.step}`.replace(/ +/g, ' ')] = line.stepResult;
    const skipped = /Skipping unsupported platform -- Try running with `-P (.+)=\.\.\.`/.exec(line.msg);
    if (skipped) run.unsupported.push(skipped[1]!);
  }
  return run;
}

/** The argument of each workflow command of this kind (warning, error, set-output...). */
export const commandArgs = (run: ActRun, command: string): string[] =>
  run.commands.filter((c) => c.command === command).map((c) => c.arg ?? '');

/** A git work tree for the calling repository, its origin on github.com as act detects it. */
export function callerRepo(files: Record<string, string>, repository = 'example-org/iris-app'): string {
  const dir = mkdtempSync(join(tmpdir(), 'act-caller-'));
  const git = (...args: string[]): void => {
    const r = spawnSync('git', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  git('init', '-q', '-b', 'main');
  git('remote', 'add', 'origin', `https://github.com/${repository}.git`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  git('add', '-A');
  git(
    '-c',
    'user.name=Octo Cat',
    '-c',
    'user.email=octocat@users.noreply.github.com',
    'commit',
    '-qm',
    'init',
  );
  return dir;
}

/** The step outputs (`set-output` as act logs GITHUB_OUTPUT lines) a job's steps set, by name. */
export function outputsOf(run: ActRun, job: string): Record<string, string> {
  return Object.fromEntries(
    run.commands
      .filter((c) => c.command === 'set-output' && c.job?.trim() === job)
      .map((c) => [c.name ?? '', c.arg ?? '']),
  );
}
