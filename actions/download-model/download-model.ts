/**
 * Puts one registered model version into a directory (the serving image's build context), so the
 * image carries the model and the GitOps commit that pins the image's digest pins the model. The
 * outputs are what the build records: version, run id and the model's own digest, also as
 * build-args lines for build-scan-push.
 */
import * as core from '@actions/core';
import { InputError } from '../shared/errors.js';
import { connectTracking } from '../shared/mlflow/connect.js';
import { downloadModelVersion, type DownloadedModel } from '../shared/mlflow/download.js';
import { MlflowError, type MlflowClient } from '../shared/mlflow/index.js';
import { Transport, type MlflowClientOptions } from '../shared/mlflow/transport.js';
import type { Inputs } from './inputs.js';
import { renderSummary } from './summary.js';

export interface Deps {
  connect: (trackingUri: string) => Promise<Pick<MlflowClient, 'getModelVersionByAlias' | 'modelVersionUrl'>>;
  transport: (trackingUri: string) => Transport;
}

/**
 * The download's transport, with the credentials and HTTP settings MLflow's clients read (as
 * MlflowClient.fromEnv does): artifacts are fetched below the client's own API.
 */
export function transportFromEnv(trackingUri: string, env: NodeJS.ProcessEnv = process.env): Transport {
  const opts: MlflowClientOptions = {
    trackingUri,
    token: env.MLFLOW_TRACKING_TOKEN || undefined,
    username: env.MLFLOW_TRACKING_USERNAME || undefined,
    password: env.MLFLOW_TRACKING_PASSWORD || undefined,
  };
  const seconds = Number(env.MLFLOW_HTTP_REQUEST_TIMEOUT);
  const retries = Number(env.MLFLOW_HTTP_REQUEST_MAX_RETRIES);
  if (env.MLFLOW_HTTP_REQUEST_TIMEOUT && seconds > 0) opts.timeoutMs = seconds * 1000;
  if (env.MLFLOW_HTTP_REQUEST_MAX_RETRIES && retries >= 0) opts.attempts = retries + 1;
  return new Transport(opts);
}

export const defaultDeps: Deps = {
  connect: (uri) => connectTracking(uri),
  transport: (uri) => transportFromEnv(uri),
};

export interface Outputs {
  path: string;
  version: string;
  'run-id': string;
  digest: string;
  'model-uri': string;
  'build-args': string;
}

export interface Result {
  outputs: Outputs;
  stepSummary: string;
}

const isNotFound = (err: unknown): boolean =>
  err instanceof MlflowError && (err.status === 404 || err.errorCode === 'RESOURCE_DOES_NOT_EXIST');

async function resolveVersion(client: Pick<MlflowClient, 'getModelVersionByAlias'>, inputs: Inputs) {
  if ('version' in inputs.ref) return inputs.ref.version;
  const mv = await client.getModelVersionByAlias(inputs.model, inputs.ref.alias);
  if (!mv) {
    throw new InputError(
      'alias',
      `an alias that is set on registered model '${inputs.model}'`,
      inputs.ref.alias,
    );
  }
  core.info(`${inputs.model}@${inputs.ref.alias} is version ${mv.version}`);
  return mv.version;
}

export async function main(inputs: Inputs, deps: Deps = defaultDeps): Promise<Result> {
  const client = await deps.connect(inputs.trackingUri);
  const version = await resolveVersion(client, inputs);
  let model: DownloadedModel;
  try {
    model = await downloadModelVersion(deps.transport(inputs.trackingUri), {
      name: inputs.model,
      version,
      dest: inputs.path,
    });
  } catch (err) {
    if (!isNotFound(err) || 'alias' in inputs.ref) throw err;
    throw new InputError(
      'version',
      `a version of registered model '${inputs.model}' (${(err as Error).message})`,
      version,
    );
  }
  const runId = model.version.run_id ?? '';
  core.info(
    `${inputs.model} version ${version} (run ${runId || '-'}): ${model.files.length} files, ${model.bytes} bytes in ${inputs.path}, ${model.digest}`,
  );
  const buildArgs = [
    `MODEL_NAME=${inputs.model}`,
    `MODEL_VERSION=${version}`,
    `MLFLOW_RUN_ID=${runId}`,
    `MODEL_DIGEST=${model.digest}`,
  ];
  return {
    outputs: {
      path: inputs.path,
      version,
      'run-id': runId,
      digest: model.digest,
      'model-uri': `models:/${inputs.model}/${version}`,
      'build-args': buildArgs.join('\n'),
    },
    stepSummary: renderSummary(inputs, model, client.modelVersionUrl(inputs.model, version)),
  };
}

export async function writeResult({ outputs, stepSummary }: Result): Promise<void> {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value);
  await core.summary.addRaw(stepSummary).write();
}
