/**
 * The main job, locally: a real MLflow server on embedded defaults (sqlite and artifacts under
 * .mlops/ in the repo), the bundled train-and-log action run the way the runner runs it (INPUT_*
 * variables, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files) on model/train.py, then the links and
 * the gate verdict. Run through `bash scripts/demo`, which installs what is needed first.
 *
 *   bash scripts/demo                          train, log, register, gate; stop the server
 *   bash scripts/demo --keep-server            leave MLflow running to browse the links
 *   bash scripts/demo -- --label-noise 0.6     arguments after -- go to model/train.py
 *
 * MLOPS_DEMO_PORT picks the port (default 5055, or any free one when taken), MLOPS_STATE_DIR the
 * folder for MLflow's database and artifacts (default .mlops/).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '..');
/** MLOPS_STATE_DIR moves it (tests use a temp dir); the default is gitignored. */
const STATE = resolve(process.env.MLOPS_STATE_DIR ?? join(ROOT, '.mlops'));
const VENV = join(ROOT, '.venv', 'bin');
const DEFAULT_PORT = 5055;

export interface Mlflow {
  url: string;
  stop: () => Promise<void>;
}

function log(message: string): void {
  console.log(process.stdout.isTTY ? `\x1b[1mdemo:\x1b[0m ${message}` : `demo: ${message}`);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => done(true)));
  });
}

/** MLOPS_DEMO_PORT, else 5055 when free, else any free loopback port. */
async function choosePort(): Promise<number> {
  const wanted = Number(process.env.MLOPS_DEMO_PORT ?? DEFAULT_PORT);
  if (await portIsFree(wanted)) return wanted;
  if (process.env.MLOPS_DEMO_PORT) throw new Error(`MLOPS_DEMO_PORT ${wanted} is in use`);
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

export function mlflowServerArgs(port: number): string[] {
  return [
    'server',
    '--backend-store-uri',
    `sqlite:///${join(STATE, 'mlflow', 'mlflow.db')}`,
    '--serve-artifacts',
    '--artifacts-destination',
    join(STATE, 'mlflow', 'artifacts'),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--workers',
    '1',
  ];
}

export async function startMlflow(): Promise<Mlflow> {
  mkdirSync(join(STATE, 'mlflow'), { recursive: true });
  const port = await choosePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(STATE, 'mlflow', 'server.log');
  const out = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn(join(VENV, 'mlflow'), mlflowServerArgs(port), {
    cwd: ROOT,
    // Its own process group: uvicorn workers are stopped with it.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONWARNINGS: 'ignore' },
  });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* gone */
    }
  };
  const stop = (): Promise<void> =>
    new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      signal('SIGTERM');
      setTimeout(() => signal('SIGKILL'), 5000).unref();
    });
  const where = relative(ROOT, join(STATE, 'mlflow')) || '.';
  log(`starting MLflow at ${url} (sqlite and artifacts in ${where}, log in ${where}/server.log)`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`mlflow server exited with ${child.exitCode}; see ${logFile}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`mlflow server did not answer within 120 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { url, stop };
}

function git(...args: string[]): string | undefined {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/** GITHUB_OUTPUT's `name<<DELIMITER` blocks. */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i]!);
    if (!m) continue;
    const value: string[] = [];
    while (++i < lines.length && lines[i] !== m[2]) value.push(lines[i]!);
    out[m[1]!] = value.join('\n');
  }
  return out;
}

export interface ActionRun {
  code: number;
  outputs: Record<string, string>;
  summary: string;
}

/**
 * Runs a bundled action as the runner does: `node dist/<name>/index.js`, inputs as INPUT_*
 * variables (action.yml defaults first), fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files.
 * Workflow commands in its log are shown readably.
 */
export async function runBundledAction(
  name: string,
  inputs: Record<string, string>,
  env: Record<string, string> = {},
): Promise<ActionRun> {
  const action = parse(readFileSync(join(ROOT, name, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: string }>;
  };
  const dir = mkdtempSync(join(tmpdir(), `demo-${name}-`));
  const files = { GITHUB_OUTPUT: join(dir, 'output'), GITHUB_STEP_SUMMARY: join(dir, 'summary.md') };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const inputEnv: Record<string, string> = {};
  for (const [key, spec] of Object.entries(action.inputs)) {
    // Expression defaults (${{ github.token }}) have no value outside a workflow.
    const value = inputs[key] ?? (spec.default?.includes('${{') ? '' : (spec.default ?? ''));
    inputEnv[`INPUT_${key.toUpperCase()}`] = value;
  }
  for (const key of Object.keys(inputs)) {
    if (!(key in action.inputs)) throw new Error(`${name} has no input '${key}'`);
  }
  const child = spawn(process.execPath, [join(ROOT, 'dist', name, 'index.js')], {
    cwd: ROOT,
    env: { ...process.env, ...env, ...inputEnv, ...files },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('::debug::')) continue;
      const cmd = /^::(error|warning|notice)[^:]*::(.*)$/.exec(line);
      console.log(cmd ? `${cmd[1]}: ${cmd[2]!.replace(/%0A/g, '\n').replace(/%25/g, '%')}` : line);
    }
  });
  const code = await new Promise<number>((done) => child.on('close', (c) => done(c ?? 1)));
  if (pending) console.log(pending);
  return {
    code,
    outputs: parseOutputs(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
  };
}

/** The environment the runner would give the action, from the local checkout. */
export function localGithubEnv(): Record<string, string> {
  const branch = git('rev-parse', '--abbrev-ref', 'HEAD') ?? 'main';
  return {
    GITHUB_WORKSPACE: ROOT,
    GITHUB_SHA: git('rev-parse', 'HEAD') ?? '',
    GITHUB_REF_NAME: branch,
    GITHUB_REF: `refs/heads/${branch}`,
    GITHUB_ACTOR: process.env.USER ?? userInfo().username,
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    GITHUB_WORKFLOW: 'scripts/demo',
    PYTHONWARNINGS: 'ignore',
  };
}

export async function trainAndLog(mlflow: Mlflow, trainArgs: string[]): Promise<ActionRun> {
  const out = join(STATE, 'demo', 'out');
  mkdirSync(out, { recursive: true });
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [join(VENV, 'python'), 'model/train.py', '--output-dir', out, ...trainArgs]
    .map(quote)
    .join(' ');
  log(`running dist/train-and-log on model/train.py ${trainArgs.join(' ')}`.trimEnd());
  return runBundledAction(
    'train-and-log',
    {
      'tracking-uri': mlflow.url,
      experiment: 'iris-demo',
      command,
      'metrics-file': join(out, 'metrics.json'),
      'params-file': join(out, 'params.json'),
      artifacts: join(out, 'metrics.json'),
      'model-path': 'model',
      'registered-model': 'iris-classifier',
      'gate-metric': 'f1_macro',
      'github-token': '',
    },
    localGithubEnv(),
  );
}

/** The verdict line of the summary, without its Markdown. */
export function verdictOf(summary: string): string {
  const line = summary
    .split('\n')
    .find((l) => /Gate (passed|failed)|not promoted|No model registered/.test(l));
  return (line ?? 'no verdict in the summary')
    .replace(/[*`✅❌]/g, '')
    .replace(/\\(.)/g, '$1')
    .trim();
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const dashes = args.indexOf('--');
  const own = dashes < 0 ? args : args.slice(0, dashes);
  const trainArgs = dashes < 0 ? [] : args.slice(dashes + 1);
  const keep = own.includes('--keep-server');
  const unknown = own.filter((a) => a !== '--keep-server');
  if (unknown.length) {
    console.error(
      `usage: bash scripts/demo [--keep-server] [-- <model/train.py arguments>]; unknown: ${unknown.join(' ')}`,
    );
    return 2;
  }
  if (!existsSync(join(ROOT, 'dist', 'train-and-log', 'index.js'))) {
    console.error('dist/train-and-log/index.js is missing: run npm run build');
    return 1;
  }

  const mlflow = await startMlflow();
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    void mlflow.stop().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const run = await trainAndLog(mlflow, trainArgs);
    const o = run.outputs;
    console.log('');
    log(run.code === 0 ? 'train-and-log succeeded' : `train-and-log FAILED (exit ${run.code})`);
    if (o['run-url']) console.log(`  MLflow run:     ${o['run-url']}`);
    if (o['model-version']) {
      const versionUrl = /\((http[^)]*\/versions\/\d+)\)/.exec(run.summary)?.[1];
      console.log(`  model version:  iris-classifier v${o['model-version']}  ${versionUrl ?? ''}`.trimEnd());
      console.log(`  model URI:      ${o['model-uri']}`);
    }
    if (run.code === 0) console.log(`  gate:           ${verdictOf(run.summary)}`);
    console.log('');
    if (keep) {
      log(`MLflow keeps running at ${mlflow.url}; press Ctrl-C to stop it`);
      await new Promise(() => undefined);
    }
    const browse = ['.venv/bin/mlflow', ...mlflowServerArgs(DEFAULT_PORT)]
      .map((a) => a.replace(`${ROOT}/`, ''))
      .join(' ');
    log(`stopping MLflow; to browse these runs later: ${browse}`);
    return run.code;
  } finally {
    if (!keep) await mlflow.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`demo failed: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
