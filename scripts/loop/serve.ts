/**
 * The inference server on the champion alias, as the cluster runs it, and the clients' steady
 * traffic against it.
 */
import { join } from 'node:path';
import { ROOT } from './actions.js';
import { CHAMPION, MODEL_NAME, type LoopContext } from './context.js';
import { cleanEnv, freePort, waitFor, type Proc } from './procs.js';
import { irisRows, Traffic } from './traffic.js';

export interface Server {
  url: string;
  /** Labels of iris_model_info as the server reported them. */
  info: Record<string, string>;
  proc: Proc;
}

/** `name{a="b",...} value` lines of a Prometheus text exposition. */
export function metricLabels(text: string, name: string): Record<string, string> | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  if (!line) return undefined;
  const labels: Record<string, string> = {};
  for (const m of line.slice(name.length + 1, line.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  }
  return labels;
}

/**
 * model/serve.py on models:/iris@champion, ready once it reports `champion` as its version.
 * `whileLoading` gets its host:port as soon as it answers (it serves /metrics while the model
 * loads), so a scraper can start meanwhile.
 */
export async function startServer(
  ctx: LoopContext,
  mlflowUrl: string,
  champion: string,
  whileLoading?: (hostPort: string) => void,
): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = ctx.procs.spawn(
    'iris-server',
    join(ctx.venv, 'bin', 'python'),
    [join(ROOT, 'model', 'serve.py')],
    {
      logFile: join(ctx.logs, 'iris-server.log'),
      env: cleanEnv({
        MODEL_URI: `models:/${MODEL_NAME}@${CHAMPION}`,
        MLFLOW_TRACKING_URI: mlflowUrl,
        HOST: '127.0.0.1',
        PORT: String(port),
        PYTHONWARNINGS: 'ignore',
      }),
    },
  );
  ctx.teardown.defer('inference server', () => proc.stop());
  await waitFor('inference server', `${url}/healthz`, { proc, timeoutMs: 120_000 });
  whileLoading?.(`127.0.0.1:${port}`);
  await waitFor('inference server', `${url}/readyz`, { proc, timeoutMs: 120_000 });
  const info = metricLabels(await (await fetch(`${url}/metrics`)).text(), 'iris_model_info');
  if (info?.version !== champion)
    throw new Error(
      `the server reports iris_model_info ${JSON.stringify(info)}, expected version ${champion}`,
    );
  ctx.stages.link('server', `${url}  (POST /predict, GET /readyz, GET /metrics)`);
  ctx.stages.link('serving', `${info.name} version ${info.version} (run ${info.run_id})`);
  ctx.live.serverUrl = url;
  return { url, info, proc };
}

/** Real iris rows, all three classes in turn, until teardown (see traffic.ts). */
export function startTraffic(ctx: LoopContext, serverUrl: string): Traffic {
  const traffic = new Traffic(serverUrl, irisRows(ctx.venv));
  traffic.start();
  ctx.teardown.defer('traffic', () => traffic.stop());
  return traffic;
}
