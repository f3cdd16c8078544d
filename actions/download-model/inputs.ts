/** Every input of download-model, parsed and checked once, before anything talks to MLflow. */
import { InputError } from '../shared/errors.js';
import * as input from '../shared/inputs.js';
import { checkAlias, mlflowInputs, type MlflowSettings } from '../shared/mlflow/inputs.js';

/** Which version: a number, or the one an alias points at when the step runs. */
export type Ref = { version: string } | { alias: string };

/** The action.yml defaults, used when an input is empty (see shared/inputs.ts). */
export const DEFAULTS = { path: 'registered-model' } as const satisfies input.Defaults;

export interface Inputs {
  /** MLflow's URI, credentials and HTTP settings, resolved once. */
  mlflow: MlflowSettings;
  model: string;
  ref: Ref;
  /** The destination directory, as given (relative to the working directory). */
  path: string;
}

function ref(): Ref {
  const version = input.optional('version');
  const alias = input.optional('alias');
  if (version !== undefined && alias !== undefined) {
    throw new InputError('alias', 'no value when version is set (give one of them)', alias);
  }
  if (alias !== undefined) return { alias: checkAlias('alias', alias) };
  if (version === undefined) throw new InputError('version', 'a model version number (or alias)', '');
  // MLflow numbers versions 1, 2, ...; `03` is version 3.
  if (!/^\d+$/.test(version) || Number(version) < 1) {
    throw new InputError('version', 'a model version number such as 3', version);
  }
  return { version: String(Number(version)) };
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): Inputs {
  const mlflow = mlflowInputs(env);
  const model = input.required('registered-model');
  const path = input.string('path', DEFAULTS.path);
  if (path === '.' || path === '/' || path.split(/[\\/]/).includes('..')) {
    throw new InputError(
      'path',
      'a directory of its own inside the workspace, such as model/registered-model',
      path,
    );
  }
  return { mlflow, model, ref: ref(), path };
}
