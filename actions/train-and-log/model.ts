/**
 * Finding the model the command produced and registering it. `model-path` is either a local MLflow
 * model directory (uploaded as a LoggedModel, as log_model would), or the name of a model the
 * command logged itself: an MLflow 3 LoggedModel of the run, or on MLflow 2.x an artifact path.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { InputError } from '../shared/errors.js';
import { MlflowError, type MlflowClient, type ModelVersion } from '../shared/mlflow/index.js';

export interface ResolvedModel {
  modelUri: string;
  /** What model-versions/create takes as `source`. */
  source: string;
  modelId?: string;
  origin: 'logged by the command' | 'uploaded from a local directory' | 'run artifacts';
}

export async function resolveModel(
  client: MlflowClient,
  a: { runId: string; experimentId: string; modelPath: string; workdir: string },
): Promise<ResolvedModel | undefined> {
  // What the command logged comes first: a same-named folder in the checkout (say the `model/`
  // holding train.py) must not shadow it, and a model already logged needs no second upload.
  const found = await client.models.findLoggedModel({
    experimentId: a.experimentId,
    runId: a.runId,
    name: a.modelPath,
  });
  if (found) {
    if (found.info.status !== 'LOGGED_MODEL_READY') {
      throw new InputError(
        'model-path',
        'a model the command finished logging',
        `LoggedModel ${found.info.model_id} '${a.modelPath}' is ${found.info.status}`,
      );
    }
    const uri = `models:/${found.info.model_id}`;
    return { modelUri: uri, source: uri, modelId: found.info.model_id, origin: 'logged by the command' };
  }

  const local = isAbsolute(a.modelPath) ? a.modelPath : resolve(a.workdir, a.modelPath);
  const localDir = existsSync(local) && statSync(local).isDirectory();
  if (localDir && existsSync(join(local, 'MLmodel'))) {
    const logged = await client.models.logModelDir({
      runId: a.runId,
      experimentId: a.experimentId,
      localDir: local,
      name: basename(local),
    });
    return { ...logged, origin: 'uploaded from a local directory' };
  }

  // MLflow 2.x, or a script that used log_artifacts: an MLmodel under the run's artifacts.
  const path = a.modelPath.replace(/^\/+|\/+$/g, '');
  const listed = isAbsolute(a.modelPath)
    ? []
    : await client.artifacts.listArtifacts(a.runId, path).catch((err: unknown) => {
        if (err instanceof MlflowError && err.status !== undefined && err.status < 500) return [];
        throw err;
      });
  if (listed.some((f) => f.path === `${path}/MLmodel` || f.path === 'MLmodel')) {
    const uri = `runs:/${a.runId}/${path}`;
    return { modelUri: uri, source: uri, origin: 'run artifacts' };
  }
  if (localDir) {
    throw new InputError(
      'model-path',
      'a local MLflow model directory (with an MLmodel file) or the name of a model the command logged',
      `${local} is a directory without an MLmodel file, and run ${a.runId} has no model '${a.modelPath}'`,
    );
  }
  return undefined;
}

export async function registerVersion(
  client: MlflowClient,
  a: {
    name: string;
    model: ResolvedModel;
    runId: string;
    tags: Record<string, string>;
    description?: string;
  },
): Promise<ModelVersion> {
  await client.registry.getOrCreateRegisteredModel(a.name);
  const created = await client.registry.createModelVersion({
    name: a.name,
    source: a.model.source,
    runId: a.runId,
    modelId: a.model.modelId,
    tags: a.tags,
    description: a.description,
  });
  return client.registry.waitForModelVersionReady(a.name, created.version, 120_000);
}

export interface Champion {
  version: string;
  runId?: string;
  metrics: Record<string, number>;
  /** Why the champion's metrics could not be read, when they could not. */
  problem?: string;
}

/** The version behind `alias` and its run's metrics; undefined when the alias is not set. */
export async function readChampion(
  client: MlflowClient,
  name: string,
  alias: string,
): Promise<Champion | undefined> {
  const mv = await client.registry.getModelVersionByAlias(name, alias);
  if (!mv) return undefined;
  if (!mv.run_id) return { version: mv.version, metrics: {}, problem: 'the version has no source run' };
  try {
    const run = await client.tracking.getRun(mv.run_id);
    return {
      version: mv.version,
      runId: mv.run_id,
      metrics: Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value])),
    };
  } catch (err) {
    // A deleted run is the champion's problem; a server that is down is ours and must fail the action.
    if (err instanceof MlflowError && (err.status === 404 || err.errorCode === 'RESOURCE_DOES_NOT_EXIST')) {
      return { version: mv.version, metrics: {}, problem: `its run ${mv.run_id} is gone` };
    }
    throw err;
  }
}
