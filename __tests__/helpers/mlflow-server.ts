/**
 * Starts a real `mlflow server` (the pinned MLflow from .venv, sqlite backend, --serve-artifacts)
 * on a free loopback port. Start takes ~10 s, so share one per test file where tests can use
 * distinct experiment and model names. Options: MLflow 2.x from .venv-mlflow2, basic auth
 * (`--app-name basic-auth`, its own ini and user database in the server's folder), a given port
 * (to restart a server where it was).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './run-action.js';
import { freePort, waitForHttp } from './net.js';
import { mlflowServerArgs } from '../../scripts/loop/mlflow.js';

export const VENV_BIN = join(ROOT, '.venv', 'bin');
export const PYTHON = join(VENV_BIN, 'python');
/** MLflow 2.x (requirements-mlflow2.txt), built by scripts/setup. */
export const VENV2_BIN = join(ROOT, '.venv-mlflow2', 'bin');
/** The admin basic-auth servers are started with. */
export const AUTH_ADMIN = { username: 'admin', password: 'admin-password-1234' };

export interface StartOptions {
  dir?: string;
  port?: number;
  /** The venv's bin folder (default .venv). */
  bin?: string;
  /** `--app-name basic-auth`, users with no permission unless granted. */
  basicAuth?: boolean;
  /** Replaces the sqlite store (e.g. PostgreSQL, helpers/postgres.ts); artifacts stay in `dir`. */
  backendStoreUri?: string;
  /** Added to the server's environment (e.g. PGPASSWORD, as platform/mlflow sets it). */
  env?: Record<string, string>;
  /** `--workers` (default 1; platform/mlflow runs 2). */
  workers?: number;
}

export interface MlflowServer {
  url: string;
  dir: string;
  process: ChildProcess;
  log: () => string;
  stop: () => Promise<void>;
}

export async function startMlflow(opts: StartOptions = {}): Promise<MlflowServer> {
  const home = opts.dir ?? mkdtempSync(join(tmpdir(), 'mlflow-'));
  const port = opts.port ?? (await freePort());
  mkdirSync(join(home, 'mlflow'), { recursive: true });
  const args = mlflowServerArgs(home, port);
  if (opts.backendStoreUri) args[args.indexOf('--backend-store-uri') + 1] = opts.backendStoreUri;
  if (opts.workers) args[args.indexOf('--workers') + 1] = String(opts.workers);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONWARNINGS: 'ignore',
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
    ...opts.env,
  };
  if (opts.basicAuth) {
    const ini = join(home, 'mlflow', 'basic_auth.ini');
    writeFileSync(
      ini,
      [
        '[mlflow]',
        'default_permission = NO_PERMISSIONS',
        `database_uri = sqlite:///${join(home, 'mlflow', 'basic_auth.db')}`,
        `admin_username = ${AUTH_ADMIN.username}`,
        `admin_password = ${AUTH_ADMIN.password}`,
        'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
        // PBKDF2 on every request is most of a run's time otherwise.
        'auth_cache_ttl_seconds = 300',
        '',
      ].join('\n'),
    );
    args.push('--app-name', 'basic-auth');
    env.MLFLOW_AUTH_CONFIG_PATH = ini;
    env.MLFLOW_FLASK_SERVER_SECRET_KEY = 'test-secret-key';
  }
  const child = spawn(join(opts.bin ?? VENV_BIN, 'mlflow'), args, {
    cwd: home,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (log += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/health`, 90_000);
  } catch (err) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* exited already: the log says why */
    }
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
