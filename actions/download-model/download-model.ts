/**
 * Puts one registered model version into a directory (the serving image's build context), so the
 * image carries the model and the GitOps commit that pins the image's digest pins the model. The
 * outputs are what the build records: version, run id and the model's own digest, also as
 * build-args lines for build-scan-push.
 */
import * as core from '@actions/core';
import { InputError } from '../shared/errors.js';
import { connectTracking } from '../shared/mlflow/connect.js';
import type { DownloadedModel } from '../shared/mlflow/download.js';
import { MlflowError, type MlflowClient } from '../shared/mlflow/index.js';
import type { MlflowSettings } from '../shared/mlflow/inputs.js';
import type { Inputs } from './inputs.js';
import { renderSummary } from './summary.js';

type Client = Pick<MlflowClient, 'registry' | 'artifacts'>;

export interface Deps {
  /** The one client: the alias lookup, the version and its files all go through it. */
  connect: (settings: MlflowSettings) => Promise<Client>;
}

export const defaultDeps: Deps = {
  connect: (settings) => connectTracking(settings),
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

async function resolveVersion(client: Client, inputs: Inputs) {
  if ('version' in inputs.ref) return inputs.ref.version;
  const mv = await client.registry.getModelVersionByAlias(inputs.model, inputs.ref.alias);
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
  const client = await deps.connect(inputs.mlflow);
  const version = await resolveVersion(client, inputs);
  let model: DownloadedModel;
  try {
    model = await client.artifacts.downloadModelVersion({ name: inputs.model, version, dest: inputs.path });
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
    stepSummary: renderSummary(inputs, model, client.registry.modelVersionUrl(inputs.model, version)),
  };
}

export async function writeResult({ outputs, stepSummary }: Result): Promise<void> {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value);
  await core.summary.addRaw(stepSummary).write();
}
