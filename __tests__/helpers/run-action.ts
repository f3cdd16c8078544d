/**
 * Runs a bundled action the way the runner does: `node dist/<name>/index.js` in a child process,
 * inputs as INPUT_* variables (defaults taken from <name>/action.yml, as the runner fills them),
 * and real GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_EVENT_PATH, GITHUB_STATE and GITHUB_ENV files.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface RunOptions {
  inputs?: Record<string, string | number | boolean | undefined>;
  env?: Record<string, string | undefined>;
  /** The webhook payload written to GITHUB_EVENT_PATH. */
  event?: unknown;
  eventName?: string;
  cwd?: string;
  timeoutMs?: number;
  /** Signal to send after this many ms (for cancellation tests). */
  killAfterMs?: number;
  killSignal?: NodeJS.Signals;
  /** Called for every chunk of stdout, e.g. to react to a log line. */
  onStdout?: (chunk: string, child: import('node:child_process').ChildProcess) => void;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  /** `::error::` lines, unescaped. */
  errors: string[];
  warnings: string[];
  dir: string;
}

interface ActionYaml {
  runs: { using: string; main: string; post?: string };
  inputs?: Record<string, { default?: string; required?: boolean }>;
  outputs?: Record<string, unknown>;
}

export function readActionYaml(name: string): ActionYaml {
  return parse(readFileSync(join(ROOT, name, 'action.yml'), 'utf8')) as ActionYaml;
}

/** GITHUB_OUTPUT uses `name<<DELIM` heredocs (and `name=value` for older writers). */
export function parseFileCommand(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, key, delim] = heredoc;
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== delim) value.push(lines[i]!);
      out[key!] = value.join('\n');
    } else if (line.includes('=')) {
      const at = line.indexOf('=');
      out[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  return out;
}

const unescapeCommand = (s: string): string =>
  s.replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%');

/** Expression defaults the runner would evaluate; the rest are left unset like an empty context would. */
function resolveDefault(value: string, env: Record<string, string | undefined>): string | undefined {
  const expr = /^\$\{\{\s*(.+?)\s*\}\}$/.exec(value.trim());
  if (!expr) return value;
  switch (expr[1]) {
    case 'github.token':
      return env.GITHUB_TOKEN ?? '';
    case 'github.repository':
      return env.GITHUB_REPOSITORY ?? '';
    case 'github.actor':
      return env.GITHUB_ACTOR ?? '';
    case 'github.sha':
      return env.GITHUB_SHA ?? '';
    default:
      return undefined;
  }
}

export async function runAction(name: string, options: RunOptions = {}): Promise<RunResult> {
  const action = readActionYaml(name);
  if (action.runs.using !== 'node24')
    throw new Error(`${name}/action.yml runs.using is ${action.runs.using}`);
  const main = resolve(ROOT, name, action.runs.main);
  if (!existsSync(main)) throw new Error(`bundle ${main} does not exist: run npm run build`);

  const dir = mkdtempSync(join(tmpdir(), `action-${name}-`));
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
    GITHUB_EVENT_PATH: join(dir, 'event.json'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_PATH: join(dir, 'path'),
  };
  for (const f of Object.values(files)) writeFileSync(f, '');
  writeFileSync(files.GITHUB_EVENT_PATH, JSON.stringify(options.event ?? {}));

  const baseEnv: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: options.eventName ?? 'push',
    GITHUB_REPOSITORY: 'octo-org/iris',
    GITHUB_REPOSITORY_OWNER: 'octo-org',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REF_NAME: 'main',
    GITHUB_ACTOR: 'octocat',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_JOB: 'test',
    GITHUB_WORKFLOW: 'ci',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_WORKSPACE: options.cwd ?? dir,
    RUNNER_TEMP: join(dir, 'runner-temp'),
    RUNNER_TOOL_CACHE: join(dir, 'tool-cache'),
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    ...files,
    ...options.env,
  };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(baseEnv)) if (v !== undefined) env[k] = v;

  for (const [input, spec] of Object.entries(action.inputs ?? {})) {
    if (spec.default === undefined) continue;
    const value = resolveDefault(String(spec.default), baseEnv);
    if (value !== undefined) env[`INPUT_${input.replace(/ /g, '_').toUpperCase()}`] = value;
  }
  for (const [input, value] of Object.entries(options.inputs ?? {})) {
    if (!(input in (action.inputs ?? {}))) throw new Error(`${name} has no input '${input}' in action.yml`);
    const key = `INPUT_${input.replace(/ /g, '_').toUpperCase()}`;
    if (value === undefined) delete env[key];
    else env[key] = String(value);
  }

  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [main], {
      cwd: options.cwd ?? dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      options.onStdout?.(c, child);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110_000);
    const killer =
      options.killAfterMs === undefined
        ? undefined
        : setTimeout(() => child.kill(options.killSignal ?? 'SIGTERM'), options.killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      const commands = (kind: string): string[] =>
        stdout
          .split('\n')
          .filter((l) => l.startsWith(`::${kind}`))
          .map((l) => unescapeCommand(l.slice(l.indexOf('::', 2) + 2)));
      resolvePromise({
        code,
        signal,
        stdout,
        stderr,
        outputs: parseFileCommand(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
        summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
        errors: commands('error'),
        warnings: commands('warning'),
        dir,
      });
    });
  });
}
