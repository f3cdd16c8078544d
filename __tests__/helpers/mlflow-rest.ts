/**
 * Checks against MLflow through its own REST API (not through our client, which is under test
 * elsewhere), and through MLflow's Python client for what users do with a registered model.
 */
import { spawnSync } from 'node:child_process';
import { PYTHON } from './mlflow-server.js';

export interface RestRun {
  info: { run_id: string; status: string; end_time?: number; experiment_id: string; artifact_uri: string };
  data: {
    metrics?: { key: string; value: number }[];
    params?: { key: string; value: string }[];
    tags?: { key: string; value: string }[];
  };
}

export class MlflowRest {
  constructor(
    readonly url: string,
    /** Basic-auth credentials, for servers started with `--app-name basic-auth`. */
    private readonly creds?: { username: string; password: string },
  ) {}

  private auth(extra: Record<string, string> = {}): Record<string, string> {
    if (!this.creds) return extra;
    const basic = Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64');
    return { ...extra, authorization: `Basic ${basic}` };
  }

  async call<T>(method: 'GET' | 'POST', path: string, body: Record<string, unknown> = {}): Promise<T> {
    const api = `${this.url}/api/2.0/mlflow${path}`;
    const res =
      method === 'GET'
        ? await fetch(`${api}?${new URLSearchParams(body as Record<string, string>)}`, {
            headers: this.auth(),
          })
        : await fetch(api, {
            method,
            headers: this.auth({ 'content-type': 'application/json' }),
            body: JSON.stringify(body),
          });
    const json = (await res.json()) as T & { error_code?: string };
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async run(runId: string): Promise<RestRun> {
    return (await this.call<{ run: RestRun }>('GET', '/runs/get', { run_id: runId })).run;
  }

  async runsOf(experimentName: string): Promise<RestRun[]> {
    const exp = await this.call<{ experiment?: { experiment_id: string } }>(
      'GET',
      '/experiments/get-by-name',
      { experiment_name: experimentName },
    ).catch(() => undefined);
    if (!exp?.experiment) return [];
    const res = await this.call<{ runs?: RestRun[] }>('POST', '/runs/search', {
      experiment_ids: [exp.experiment.experiment_id],
      max_results: 1000,
    });
    return res.runs ?? [];
  }

  async versions(
    name: string,
  ): Promise<{ version: string; source: string; run_id: string; status: string }[]> {
    const res = await this.call<{
      model_versions?: { version: string; source: string; run_id: string; status: string }[];
    }>('GET', '/model-versions/search', { filter: `name='${name}'` });
    return res.model_versions ?? [];
  }

  async version(name: string, version: string) {
    return (
      await this.call<{
        model_version: {
          version: string;
          source: string;
          run_id: string;
          status: string;
          model_id?: string;
          tags?: { key: string; value: string }[];
        };
      }>('GET', '/model-versions/get', { name, version })
    ).model_version;
  }

  /** The version an alias points at, or undefined (MLflow answers a missing alias with 400). */
  async alias(name: string, alias: string): Promise<string | undefined> {
    const res = await fetch(
      `${this.url}/api/2.0/mlflow/registered-models/alias?${new URLSearchParams({ name, alias })}`,
      { headers: this.auth() },
    );
    if (res.status === 400 || res.status === 404) return undefined;
    if (!res.ok) throw new Error(`alias ${name}@${alias}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { model_version: { version: string } }).model_version.version;
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call('POST', '/registered-models/alias', { name, alias, version });
  }

  async artifacts(
    runId: string,
    path?: string,
  ): Promise<{ path: string; is_dir: boolean; file_size?: number }[]> {
    const res = await this.call<{ files?: { path: string; is_dir: boolean; file_size?: number }[] }>(
      'GET',
      '/artifacts/list',
      path ? { run_id: runId, path } : { run_id: runId },
    );
    return res.files ?? [];
  }

  /** A run artifact's bytes, through the server's own download route. */
  async artifact(runId: string, path: string): Promise<Buffer> {
    const res = await fetch(`${this.url}/get-artifact?${new URLSearchParams({ run_id: runId, path })}`, {
      headers: this.auth(),
    });
    if (!res.ok) throw new Error(`get-artifact ${path}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
}

export const tagsOf = (run: RestRun): Record<string, string> =>
  Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
export const metricsOf = (run: RestRun): Record<string, number> =>
  Object.fromEntries((run.data.metrics ?? []).map((m) => [m.key, m.value]));
export const paramsOf = (run: RestRun): Record<string, string> =>
  Object.fromEntries((run.data.params ?? []).map((p) => [p.key, p.value]));

/**
 * Loads each model URI with mlflow.pyfunc.load_model, as a user would, and predicts the same
 * three iris flowers (one of each species); returns the predictions per URI.
 */
export function pyfuncPredict(trackingUri: string, uris: string[]): Record<string, string[]> {
  const script = `
import json, sys, mlflow, pandas as pd
rows = pd.DataFrame([[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 4.2, 1.3], [6.7, 3.0, 5.2, 2.3]],
                    columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
out = {}
for uri in json.loads(sys.argv[1]):
    model = mlflow.pyfunc.load_model(uri)
    out[uri] = [str(p) for p in model.predict(rows)]
print("RESULT" + json.dumps(out))
`;
  const res = spawnSync(PYTHON, ['-c', script, JSON.stringify(uris)], {
    env: { ...process.env, MLFLOW_TRACKING_URI: trackingUri, PYTHONWARNINGS: 'ignore' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = res.stdout.split('\n').find((l) => l.startsWith('RESULT'));
  if (res.status !== 0 || !line)
    throw new Error(`pyfunc load failed (${res.status}): ${res.stderr.slice(-3000)}`);
  return JSON.parse(line.slice('RESULT'.length)) as Record<string, string[]>;
}
