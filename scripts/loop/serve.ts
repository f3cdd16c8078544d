/**
 * The inference server as the cluster runs it: model/serve.py on the model baked into the image
 * the GitOps commit pins (MODEL_URI is the image's model directory, MODEL_* its labels; no MLflow
 * at start-up), behind the Service, and the clients' steady traffic against the Service.
 */
import { join } from 'node:path';
import { ROOT } from './actions.js';
import type { LoopContext } from './context.js';
import type { LocalImage } from './images.js';
import { cleanEnv, freePort, waitFor, type Proc } from './procs.js';
import type { Service } from './service.js';
import { irisRows, Traffic } from './traffic.js';

export interface Server {
  /** The Service's URL (what clients and Prometheus use). */
  url: string;
  /** Labels of iris_model_info as the server reported them. */
  info: Record<string, string>;
  /** What /readyz reported about the model. */
  ready: Record<string, unknown>;
  proc: Proc;
  image: LocalImage;
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

/** The image's environment (model/Dockerfile's ENV), with MLflow out of the picture. */
function imageEnv(image: LocalImage, port: number): NodeJS.ProcessEnv {
  const l = image.labels;
  return cleanEnv({
    MODEL_URI: image.modelDir,
    MODEL_NAME: l['io.mlflow.model-name'],
    MODEL_VERSION: l['io.mlflow.model-version'],
    MODEL_RUN_ID: l['io.mlflow.run-id'],
    MODEL_DIGEST: l['io.mlflow.model-digest'],
    MLFLOW_TRACKING_URI: undefined,
    HOST: '127.0.0.1',
    PORT: String(port),
    PYTHONWARNINGS: 'ignore',
  });
}

/** Ready, and serving what the image says: its version and the digest of its files. */
async function checkServes(url: string, image: LocalImage): Promise<Pick<Server, 'info' | 'ready'>> {
  const ready = ((await (await fetch(`${url}/readyz`)).json()) as { model: Record<string, unknown> }).model;
  const info = metricLabels(await (await fetch(`${url}/metrics`)).text(), 'iris_model_info');
  const want = {
    version: image.labels['io.mlflow.model-version'],
    digest: image.labels['io.mlflow.model-digest'],
  };
  if (info?.version !== want.version || info.digest !== want.digest || ready.version !== want.version)
    throw new Error(
      `the server reports iris_model_info ${JSON.stringify(info)} and /readyz ${JSON.stringify(ready)}, expected ${JSON.stringify(want)}`,
    );
  return { info, ready };
}

/**
 * A rolling update to `image`: a new server next to the old one, the Service switched to it once
 * it is ready, then the old one stopped. On the first rollout the Service points at the new
 * server as soon as it answers, and `whileLoading` gets the Service's host:port (it serves
 * /metrics while the model loads), so a scraper can start meanwhile.
 */
export async function rollout(
  ctx: LoopContext,
  service: Service,
  image: LocalImage,
  previous?: Server,
  whileLoading?: (hostPort: string) => void,
): Promise<Server> {
  const port = await freePort();
  const direct = `http://127.0.0.1:${port}`;
  const version = image.labels['io.mlflow.model-version'];
  const proc = ctx.procs.spawn(
    'iris-server',
    join(ctx.venv, 'bin', 'python'),
    [join(ROOT, 'model', 'serve.py')],
    {
      logFile: join(ctx.logs, `iris-server-v${version}.log`),
      env: imageEnv(image, port),
    },
  );
  ctx.teardown.defer(`inference server v${version}`, () => proc.stop());
  await waitFor('inference server', `${direct}/healthz`, { proc, timeoutMs: 120_000 });
  if (!previous) {
    service.routeTo(port);
    whileLoading?.(service.hostPort);
  }
  await waitFor('inference server', `${direct}/readyz`, { proc, timeoutMs: 120_000 });
  const seen = await checkServes(direct, image);
  service.routeTo(port);
  await previous?.proc.stop();
  ctx.stages.link('server', `${service.url}  (POST /predict, GET /readyz, GET /metrics)`);
  ctx.stages.link('serving', `${seen.info.name} version ${seen.info.version} from ${image.ref}`);
  ctx.stages.link('model', `${image.modelDir} (${seen.info.digest}; no MLflow call at start-up)`);
  ctx.live.serverUrl = service.url;
  return { url: service.url, ...seen, proc, image };
}

/** Real iris rows, all three classes in turn, until teardown (see traffic.ts). */
export function startTraffic(ctx: LoopContext, serverUrl: string): Traffic {
  const traffic = new Traffic(serverUrl, irisRows(ctx.venv));
  traffic.start();
  ctx.teardown.defer('traffic', () => traffic.stop());
  return traffic;
}
