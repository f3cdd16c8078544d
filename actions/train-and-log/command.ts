/**
 * Runs the training command as a workflow `run:` step would (bash -eo pipefail), its output going
 * straight to the job log, and stops it together with everything it started when the job is
 * cancelled: the runner signals only our process, so the command gets its own process group that
 * we signal as a whole.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningCommand {
  pid: number;
  done: Promise<CommandResult>;
  /** Signals the command's process group, escalating to SIGKILL after `graceMs`; resolves when it has exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<CommandResult>;
}

export function startCommand(command: string, cwd: string, env: NodeJS.ProcessEnv): RunningCommand {
  const child: ChildProcess = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', command], {
    cwd,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  const done = new Promise<CommandResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
  });
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      /* the group is gone already */
    }
  };
  return {
    pid: child.pid!,
    done,
    async stop(signal = 'SIGTERM', graceMs = 3000) {
      signalGroup(signal);
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      try {
        return await done;
      } finally {
        clearTimeout(timer);
        // Children that outlived bash would keep the log pipe open.
        signalGroup('SIGKILL');
      }
    },
  };
}

/** What went wrong, for the error message: `exit code 3` or `signal SIGKILL`. */
export function describeExit(result: CommandResult): string {
  return result.exitCode !== null ? `exit code ${result.exitCode}` : `signal ${result.signal ?? 'unknown'}`;
}

/**
 * Cancellation: the runner sends SIGINT, then SIGTERM, then kills. The first signal runs
 * `handler` once; later ones are ignored so the handler can finish cleaning up.
 */
export function onCancel(handler: (signal: NodeJS.Signals) => Promise<void>): () => void {
  let started = false;
  const listener = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    void handler(signal);
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}
