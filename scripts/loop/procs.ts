/**
 * The loop's child processes: each in its own process group (so a server's workers go with it),
 * its output in a log file under the state folder, and one place that stops them all, in reverse
 * start order, on success, failure, Ctrl-C or exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';

export interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Resolves with the exit code (or null after a signal) once the process ended. */
  exited: Promise<number | null>;
  running(): boolean;
  /** The last `chars` characters of its log. */
  tail(chars?: number): string;
  stop(): Promise<void>;
}

/** Credentials the demo reads; only the parts that need one get it, each explicitly. */
const SECRETS = ['GITHUB_TOKEN', 'GEMINI_API_KEY', 'GOOGLE_API_KEY', 'GH_TOKEN'];

/** process.env without the credentials, for servers and commands that have no use for them. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SECRETS) delete env[name];
  return { ...env, ...extra };
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** Grace period between SIGTERM and SIGKILL. */
  graceMs?: number;
}

/**
 * Every process of one run carries this variable (inherited from the environment when set, else
 * a fresh id), so the processes of a run can be found through /proc/<pid>/environ.
 */
export const RUN_VAR = 'MLOPS_LOOP_RUN';

export class Procs {
  readonly runId = process.env[RUN_VAR] ?? randomUUID();
  private readonly started: Proc[] = [];
  /** Started and not yet stopped by stop(): what an exit handler must still kill. */
  private readonly live = new Set<Proc>();

  spawn(name: string, command: string, args: string[], opts: SpawnOptions): Proc {
    const fd = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        cwd: opts.cwd,
        env: { ...(opts.env ?? cleanEnv()), [RUN_VAR]: this.runId },
        // Its own process group: stopping it reaches every process it started.
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    });
    const running = (): boolean =>
      child.exitCode === null && child.signalCode === null && child.pid !== undefined;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    let stopping: Promise<void> | undefined;
    const live = this.live;
    const proc: Proc = {
      name,
      child,
      logFile: opts.logFile,
      exited,
      running,
      tail(chars = 3000) {
        try {
          return readFileSync(opts.logFile, 'utf8').slice(-chars);
        } catch {
          return '';
        }
      },
      stop() {
        // Idempotent: a Ctrl-C and the loop's own clean-up may both ask.
        stopping ??= (async () => {
          if (!running()) {
            // The leader may be gone while its group lives on (a server's workers).
            if (child.pid !== undefined) signal('SIGKILL');
            return;
          }
          signal('SIGTERM');
          const timer = setTimeout(() => signal('SIGKILL'), opts.graceMs ?? 5000);
          await exited;
          clearTimeout(timer);
          signal('SIGKILL');
        })();
        void stopping.then(() => live.delete(proc));
        return stopping;
      },
    };
    this.started.push(proc);
    this.live.add(proc);
    return proc;
  }

  /** Stops every process started here, most recent first (the server before its registry). */
  async stopAll(): Promise<void> {
    for (const p of [...this.started].reverse()) await p.stop();
  }

  /** Last resort from a process 'exit' handler, where nothing asynchronous runs any more. */
  killAllNow(): void {
    for (const p of this.live) {
      if (p.child.pid === undefined) continue;
      try {
        process.kill(-p.child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

/** A free TCP port on 127.0.0.1, for servers that must be told their port up front. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => done(true)));
  });
}

/** Polls `url` until `ok(response)` (default: 2xx), the process dies, or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  url: string,
  opts: { proc?: Proc; timeoutMs?: number; ok?: (res: Response) => Promise<boolean> | boolean } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last: string;
  for (;;) {
    if (opts.proc && !opts.proc.running()) {
      throw new Error(
        `${what} exited (code ${opts.proc.child.exitCode}); log ${opts.proc.logFile}:\n${opts.proc.tail()}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (opts.ok ? await opts.ok(res) : res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not ready at ${url} within ${opts.timeoutMs ?? 60_000} ms (${last})` +
          (opts.proc ? `; log ${opts.proc.logFile}:\n${opts.proc.tail()}` : ''),
      );
    }
    await sleep(200);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
