/**
 * Runs the relay bundle (dist/relay/index.js) as its own process, as the container does, on a
 * free loopback port. Tests and the benchmark talk to it over HTTP like Alertmanager would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './run-action.js';

export const RELAY_TOKEN = 'relay-test-bearer-token-0123456789';

export interface RelayProcess {
  url: string;
  child: ChildProcess;
  /** JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** Raw stdout + stderr so far. */
  output(): string;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  post(body: unknown, opts?: { token?: string | null; raw?: string; path?: string }): Promise<Response>;
}

/** The relay did not start; `pid` is the process that was killed (with its process group) or exited. */
export class RelayStartError extends Error {
  constructor(
    message: string,
    readonly pid: number | undefined,
  ) {
    super(message);
    this.name = 'RelayStartError';
  }
}

export async function startRelay(
  env: Record<string, string | undefined>,
  { startTimeoutMs = 20_000 }: { startTimeoutMs?: number } = {},
): Promise<RelayProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'relay', 'index.js')], {
    // Its own process group, so that a relay that never starts is killed with anything it spawned.
    detached: true,
    env: {
      PATH: process.env.PATH,
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: '0',
      RELAY_BEARER_TOKEN: RELAY_TOKEN,
      GITHUB_REPOSITORY: 'octo-org/iris',
      ...env,
    } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const logs = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  const port = await new Promise<number>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // A relay left running would hold its port and outlive the test run: kill the whole group
      // and report only once it is gone.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      void exited.then(() =>
        reject(
          new RelayStartError(
            `relay did not start within ${startTimeoutMs} ms (pid ${child.pid}, killed):\n${out}`,
            child.pid,
          ),
        ),
      );
    }, startTimeoutMs);
    const check = (): void => {
      const listening = logs().find((l) => l.msg === 'listening');
      if (listening) {
        clearTimeout(timer);
        resolve(listening.port as number);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      if (timedOut) return;
      clearTimeout(timer);
      reject(new RelayStartError(`relay exited with ${code}:\n${out}`, child.pid));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    child,
    logs,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    post(body, opts = {}) {
      const token = opts.token === undefined ? RELAY_TOKEN : opts.token;
      return fetch(`${url}${opts.path ?? '/alertmanager'}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
        body: opts.raw ?? JSON.stringify(body),
      });
    },
  };
}
