/**
 * Starts a real `mlflow server` (the pinned MLflow from .venv, sqlite backend, --serve-artifacts)
 * on a free loopback port. Start takes ~10 s, so share one per test file where tests can use
 * distinct experiment and model names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './run-action.js';
import { freePort, waitForHttp } from './net.js';
import { mlflowServerArgs } from '../../scripts/loop/mlflow.js';

export const VENV_BIN = join(ROOT, '.venv', 'bin');
export const PYTHON = join(VENV_BIN, 'python');

export interface MlflowServer {
  url: string;
  dir: string;
  process: ChildProcess;
  log: () => string;
  stop: () => Promise<void>;
}

export async function startMlflow({ dir }: { dir?: string } = {}): Promise<MlflowServer> {
  const home = dir ?? mkdtempSync(join(tmpdir(), 'mlflow-'));
  const port = await freePort();
  mkdirSync(join(home, 'mlflow'), { recursive: true });
  const child = spawn(join(VENV_BIN, 'mlflow'), mlflowServerArgs(home, port), {
    cwd: home,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONWARNINGS: 'ignore', MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false' },
  });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (log += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/health`, 90_000);
  } catch (err) {
    process.kill(-child.pid!, 'SIGKILL');
    throw new Error(`${(err as Error).message}\n${log.slice(-2000)}`);
  }
  // mlflow server runs uvicorn workers and background job consumers in its process group:
  // signal the whole group, and kill what is left of it once the main process is gone.
  const killGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        killGroup('SIGKILL');
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 5000).unref();
    });
  return { url, dir: home, process: child, log: () => log, stop };
}
