/**
 * MLflow on embedded defaults (sqlite and artifacts in the state folder) and the two registry
 * calls the loop makes itself: set the champion alias, read it back.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, freePort, portIsFree, waitFor, type Procs, type Proc } from './procs.js';
import type { LoopContext } from './context.js';
import type { Teardown } from './teardown.js';

export const DEFAULT_MLFLOW_PORT = 5055;

export interface Mlflow {
  url: string;
  proc: Proc;
}

export function mlflowServerArgs(stateDir: string, port: number): string[] {
  return [
    'server',
    '--backend-store-uri',
    `sqlite:///${join(stateDir, 'mlflow', 'mlflow.db')}`,
    '--serve-artifacts',
    '--artifacts-destination',
    join(stateDir, 'mlflow', 'artifacts'),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--workers',
    '1',
  ];
}

/** `wanted` when given (an error if taken), else 5055 when free, else any free port. */
export async function chooseMlflowPort(wanted?: number): Promise<number> {
  if (wanted !== undefined) {
    if (!(await portIsFree(wanted))) throw new Error(`port ${wanted} for MLflow is in use`);
    return wanted;
  }
  return (await portIsFree(DEFAULT_MLFLOW_PORT)) ? DEFAULT_MLFLOW_PORT : freePort();
}

/**
 * Starts `mlflow server` and waits until it, not another server that took the port while it
 * started (MLflow binds only after seconds of imports), serves: its own log must say uvicorn runs
 * on that address. When the default port is lost that way, it retries once on a free port.
 */
export async function startMlflow(
  procs: Procs,
  opts: { stateDir: string; venv: string; port?: number; teardown: Teardown },
): Promise<Mlflow> {
  mkdirSync(join(opts.stateDir, 'mlflow'), { recursive: true });
  const logFile = join(opts.stateDir, 'mlflow', 'server.log');
  let port = await chooseMlflowPort(opts.port);
  for (let attempt = 0; ; attempt++) {
    const url = `http://127.0.0.1:${port}`;
    const from = existsSync(logFile) ? statSync(logFile).size : 0;
    const proc = procs.spawn('mlflow', join(opts.venv, 'mlflow'), mlflowServerArgs(opts.stateDir, port), {
      logFile,
      // No job runner: it starts half a dozen more Python processes for GenAI jobs this loop never uses.
      env: cleanEnv({ PYTHONWARNINGS: 'ignore', MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false' }),
    });
    opts.teardown.defer('mlflow', () => proc.stop());
    const ours = (): boolean =>
      readFileSync(logFile, 'utf8').slice(from).includes(`Uvicorn running on ${url}`);
    try {
      await waitFor('mlflow server', `${url}/health`, {
        proc,
        timeoutMs: 120_000,
        ok: (res) => res.ok && ours(),
      });
      return { url, proc };
    } catch (err) {
      const lostPort = readFileSync(logFile, 'utf8').slice(from).includes('address already in use');
      if (!lostPort) throw err;
      if (opts.port !== undefined || attempt > 0) throw new Error(`port ${port} for MLflow is in use`);
      port = await freePort();
    }
  }
}

/** The loop's MLflow: the loop's teardown stops it; its URL is live and printed. */
export async function startLoopMlflow(ctx: LoopContext, port?: number): Promise<Mlflow> {
  const m = await startMlflow(ctx.procs, {
    stateDir: ctx.state,
    venv: join(ctx.venv, 'bin'),
    port,
    teardown: ctx.teardown,
  });
  ctx.live.mlflowUrl = m.url;
  ctx.stages.link('MLflow', m.url);
  return m;
}

async function mlflowApi<T>(base: string, path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`${base}/api/2.0/mlflow/${path}`, {
    ...init,
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`MLflow ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

export async function versionByAlias(
  base: string,
  name: string,
  alias: string,
): Promise<{ version: string; run_id?: string }> {
  const q = new URLSearchParams({ name, alias });
  const { model_version } = await mlflowApi<{ model_version: { version: string; run_id?: string } }>(
    base,
    `registered-models/alias?${q}`,
  );
  return model_version;
}
