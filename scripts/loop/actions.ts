/**
 * Runs a bundled action the way the runner does: `node dist/<name>/index.js` with its inputs as
 * INPUT_* variables (action.yml defaults applied), fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
 * files, and, for event-triggered actions, the event as GITHUB_EVENT_PATH.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { cleanEnv } from './procs.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface ActionRun {
  code: number;
  outputs: Record<string, string>;
  summary: string;
  /** Messages of ::error:: commands. */
  errors: string[];
}

export interface ActionOptions {
  env?: Record<string, string>;
  /** The webhook event and its name (GITHUB_EVENT_PATH, GITHUB_EVENT_NAME). */
  event?: { name: string; payload: unknown };
  /** Where the action's log lines go (workflow commands made readable, ::debug:: dropped). */
  print?: (line: string) => void;
}

/** GITHUB_OUTPUT's `name<<DELIMITER` blocks (and plain `name=value` lines). */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i]!);
    if (!m) {
      const kv = /^([^=]+)=(.*)$/.exec(lines[i]!);
      if (kv) out[kv[1]!] = kv[2]!;
      continue;
    }
    const value: string[] = [];
    while (++i < lines.length && lines[i] !== m[2]) value.push(lines[i]!);
    out[m[1]!] = value.join('\n');
  }
  return out;
}

/** Actions running now, so a Ctrl-C of the loop can cancel them as the runner cancels a job. */
const running = new Set<ChildProcess>();

/** Sends `signal` to every action still running (they stop their own child processes). */
export function cancelRunningActions(signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  const all = [...running];
  for (const child of all) child.kill(signal);
  return Promise.all(
    all.map(
      (c) =>
        new Promise<void>((done) =>
          c.exitCode !== null || c.signalCode !== null ? done() : c.once('close', () => done()),
        ),
    ),
  ).then(() => undefined);
}

/**
 * The environment without credentials and without what a surrounding runner set (GITHUB_ENV,
 * GITHUB_EVENT_PATH, INPUT_*, ...): run inside a CI job, an action here must not read that job's
 * event or write to its files. Secrets reach an action only as inputs or `env`, like a step's.
 */
function runnerFreeEnv(): NodeJS.ProcessEnv {
  const env = cleanEnv();
  for (const key of Object.keys(env)) {
    if (/^(GITHUB_|RUNNER_|INPUT_|ACTIONS_|STATE_)/.test(key)) delete env[key];
  }
  return env;
}

const unescape = (s: string): string => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');

export async function runBundledAction(
  name: string,
  inputs: Record<string, string>,
  opts: ActionOptions = {},
): Promise<ActionRun> {
  const action = parse(readFileSync(join(ROOT, name, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: string }>;
  };
  for (const key of Object.keys(inputs)) {
    if (!(key in action.inputs)) throw new Error(`${name} has no input '${key}'`);
  }
  const inputEnv: Record<string, string> = {};
  for (const [key, spec] of Object.entries(action.inputs)) {
    // Expression defaults (${{ github.token }}) have no value outside a workflow.
    const value = inputs[key] ?? (spec.default?.includes('${{') ? '' : (spec.default ?? ''));
    inputEnv[`INPUT_${key.toUpperCase()}`] = value;
  }
  const dir = mkdtempSync(join(tmpdir(), `loop-${name}-`));
  const files: Record<string, string> = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
  };
  for (const f of Object.values(files)) writeFileSync(f, '');
  if (opts.event) {
    files.GITHUB_EVENT_PATH = join(dir, 'event.json');
    files.GITHUB_EVENT_NAME = opts.event.name;
    writeFileSync(files.GITHUB_EVENT_PATH, JSON.stringify(opts.event.payload));
  }
  const print = opts.print ?? ((line: string) => console.log(line));
  const errors: string[] = [];
  try {
    const child = spawn(process.execPath, [join(ROOT, 'dist', name, 'index.js')], {
      cwd: ROOT,
      env: { ...runnerFreeEnv(), ...opts.env, ...inputEnv, ...files },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    child.once('close', () => running.delete(child));
    let pending = '';
    const onLine = (line: string): void => {
      if (line.startsWith('::debug::') || /^::(add-mask|group|endgroup)::/.test(line)) return;
      const cmd = /^::(error|warning|notice)[^:]*::(.*)$/.exec(line);
      if (cmd?.[1] === 'error') errors.push(unescape(cmd[2]!));
      print(cmd ? `${cmd[1]}: ${unescape(cmd[2]!)}` : line);
    };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      lines.forEach(onLine);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line) print(line);
    });
    const code = await new Promise<number>((done) => child.on('close', (c) => done(c ?? 1)));
    if (pending) onLine(pending);
    return {
      code,
      errors,
      outputs: parseOutputs(readFileSync(files.GITHUB_OUTPUT!, 'utf8')),
      summary: readFileSync(files.GITHUB_STEP_SUMMARY!, 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

/** The environment the runner would give an action, from the local checkout. */
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

/** The verdict line of train-and-log's summary, without its Markdown. */
export function verdictOf(summary: string): string {
  const line = summary
    .split('\n')
    .find((l) => /Gate (passed|failed)|not promoted|No model registered/.test(l));
  return (line ?? 'no verdict in the summary')
    .replace(/[*`✅❌]/g, '')
    .replace(/\\(.)/g, '$1')
    .trim();
}
