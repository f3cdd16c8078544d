/**
 * MLflow 3 LoggedModels (/api/2.0/mlflow/logged-models*) and uploading a local MLflow model
 * directory the way `mlflow.<flavor>.log_model` does: create the LoggedModel, upload into its
 * artifact_uri, link it to the run as an output, finalize READY. On MLflow 2.x servers, which have
 * no such endpoints, the directory goes to the run's artifacts and is recorded with runs/log-model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { proxyUrl, uploadDir } from './artifacts.js';
import { MlflowError, type Transport } from './transport.js';
import type { LoggedModel, LoggedModelStatus } from './types.js';

/**
 * True when the server has the LoggedModel API (MLflow 3). Asked with a search in the caller's own
 * experiment: MLflow's basic-auth layer filters search results by permission rather than refusing
 * the request, whereas asking for a made-up model id is answered 403 to anyone but an admin (a
 * missing resource denies, so ids cannot be probed). MLflow 2.x has no such route: 404.
 */
export async function probeLoggedModels(t: Transport, experimentId: string): Promise<boolean> {
  try {
    await t.call('POST', '/logged-models/search', { experiment_ids: [experimentId], max_results: 1 });
    return true;
  } catch (err) {
    if (!(err instanceof MlflowError)) throw err;
    if (err.status === 404 || err.status === 405 || err.errorCode === 'ENDPOINT_NOT_FOUND') return false;
    throw err;
  }
}

const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export async function findLoggedModel(
  t: Transport,
  a: { experimentId: string; runId: string; name?: string },
): Promise<LoggedModel | undefined> {
  const filter = [`source_run_id = ${quote(a.runId)}`];
  if (a.name) filter.push(`name = ${quote(a.name)}`);
  const found: LoggedModel[] = [];
  let pageToken: string | undefined;
  do {
    const res = await t.call<{ models?: LoggedModel[]; next_page_token?: string }>(
      'POST',
      '/logged-models/search',
      {
        experiment_ids: [a.experimentId],
        filter: filter.join(' AND '),
        order_by: [{ field_name: 'creation_timestamp', ascending: false }],
        max_results: 100,
        page_token: pageToken,
      },
    );
    found.push(...(res.models ?? []));
    pageToken = res.next_page_token || undefined;
  } while (pageToken);
  const mine = found.filter(
    (m) => m.info.source_run_id === a.runId && (a.name === undefined || m.info.name === a.name),
  );
  // A model whose upload failed is not one to register; the newest ready one is what the script meant.
  return mine.find((m) => m.info.status === 'LOGGED_MODEL_READY') ?? mine[0];
}

export async function createLoggedModel(
  t: Transport,
  a: { experimentId: string; name: string; sourceRunId?: string; tags?: Record<string, string> },
): Promise<LoggedModel> {
  const res = await t.call<{ model: LoggedModel }>('POST', '/logged-models', {
    experiment_id: a.experimentId,
    name: a.name,
    source_run_id: a.sourceRunId,
    tags: Object.entries(a.tags ?? {}).map(([key, value]) => ({ key, value })),
  });
  return res.model;
}

export async function finalizeLoggedModel(
  t: Transport,
  modelId: string,
  status: LoggedModelStatus,
): Promise<LoggedModel> {
  const res = await t.call<{ model: LoggedModel }>('PATCH', `/logged-models/${encodeURIComponent(modelId)}`, {
    model_id: modelId,
    status,
  });
  return res.model;
}

/**
 * The directory's MLmodel with the fields log_model would have written (run_id, model_id,
 * artifact_path), so the uploaded model points back at its run like one logged from Python.
 */
function patchedMlmodel(
  localDir: string,
  fields: Record<string, string>,
  defaults: Record<string, string> = {},
): Buffer | undefined {
  const path = join(localDir, 'MLmodel');
  if (!existsSync(path)) return undefined;
  const doc = parse(readFileSync(path, 'utf8')) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object') return undefined;
  return Buffer.from(stringify({ ...defaults, ...doc, ...fields }));
}

export async function logModelDir(
  t: Transport,
  supportsLoggedModels: boolean,
  runArtifactUri: () => Promise<string>,
  a: { runId: string; experimentId: string; localDir: string; name: string },
): Promise<{ modelUri: string; source: string; modelId?: string }> {
  if (!existsSync(join(a.localDir, 'MLmodel'))) {
    throw new MlflowError(`'${a.localDir}' is not an MLflow model directory (no MLmodel file)`);
  }
  if (!supportsLoggedModels) {
    const root = proxyUrl(t, await runArtifactUri());
    // MLflow 2.x's runs/log-model requires utc_time_created; save_model writes it, but an MLmodel
    // written by other tools may lack it. Kept when present, else now, in Python's str(datetime) form.
    const mlmodel = patchedMlmodel(
      a.localDir,
      { run_id: a.runId, artifact_path: a.name },
      { utc_time_created: new Date().toISOString().replace('T', ' ').replace('Z', '') },
    );
    await uploadDir(t, root, a.localDir, a.name, {
      replace: (rel) => (rel === 'MLmodel' ? mlmodel : undefined),
    });
    if (mlmodel) {
      // Records the model in the run's mlflow.log-model.history tag, as log_model does on 2.x.
      const modelJson = JSON.stringify(parse(mlmodel.toString('utf8')));
      await t.call('POST', '/runs/log-model', { run_id: a.runId, model_json: modelJson });
    }
    const uri = `runs:/${a.runId}/${a.name}`;
    return { modelUri: uri, source: uri };
  }
  const model = await createLoggedModel(t, {
    experimentId: a.experimentId,
    name: a.name,
    sourceRunId: a.runId,
  });
  const modelId = model.info.model_id;
  try {
    const mlmodel = patchedMlmodel(a.localDir, {
      run_id: a.runId,
      model_id: modelId,
      model_uuid: modelId,
      artifact_path: model.info.artifact_uri,
    });
    await uploadDir(t, proxyUrl(t, model.info.artifact_uri), a.localDir, undefined, {
      replace: (rel) => (rel === 'MLmodel' ? mlmodel : undefined),
    });
    await t.call('POST', '/runs/outputs', { run_id: a.runId, models: [{ model_id: modelId, step: 0 }] });
    await finalizeLoggedModel(t, modelId, 'LOGGED_MODEL_READY');
  } catch (err) {
    await finalizeLoggedModel(t, modelId, 'LOGGED_MODEL_UPLOAD_FAILED').catch(() => undefined);
    throw err;
  }
  const uri = `models:/${modelId}`;
  return { modelUri: uri, source: uri, modelId };
}
