/** Every input of promote, parsed and checked once, before anything talks to MLflow. */
import { InputError } from '../shared/errors.js';
import * as input from '../shared/inputs.js';
import { checkAlias, mlflowInputs, type MlflowSettings } from '../shared/mlflow/inputs.js';

export type Operation = 'set' | 'delete';

/** Where a `set` takes its version from. */
export type Target = { version: string } | { fromAlias: string };

/** The action.yml defaults, used when an input is empty (see shared/inputs.ts). */
export const DEFAULTS = { action: 'set' } as const satisfies input.Defaults;

export interface Inputs {
  mlflow: MlflowSettings;
  model: string;
  /** One or more, in the order given, without duplicates. */
  aliases: string[];
  operation: Operation;
  /** Only for `set`. */
  target?: Target;
  /** The version every alias must point at before anything changes; `none`: each must be unset. */
  expectPrevious?: string;
}

/** MLflow numbers versions 1, 2, ...; `03` is version 3. */
function versionOf(name: string, value: string): string {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new InputError(name, 'a model version number such as 3', value);
  }
  return String(Number(value));
}

function target(operation: Operation, aliases: string[]): Target | undefined {
  const version = input.optional('version');
  const fromAlias = input.optional('from-alias');
  if (operation === 'delete') {
    // A delete that names a version would read as "delete it only if it points there": say so.
    if (version !== undefined) {
      throw new InputError('version', 'no value with action delete (use expect-previous to guard)', version);
    }
    if (fromAlias !== undefined) throw new InputError('from-alias', 'no value with action delete', fromAlias);
    return undefined;
  }
  if (version !== undefined && fromAlias !== undefined) {
    throw new InputError('from-alias', 'no value when version is set (give one of them)', fromAlias);
  }
  if (version !== undefined) return { version: versionOf('version', version) };
  if (fromAlias === undefined) {
    throw new InputError('version', 'a model version number (or from-alias) for action set', '');
  }
  checkAlias('from-alias', fromAlias);
  if (aliases.includes(fromAlias)) {
    throw new InputError(
      'from-alias',
      `an alias other than the ones being set (${aliases.join(', ')})`,
      fromAlias,
    );
  }
  return { fromAlias };
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): Inputs {
  const mlflow = mlflowInputs(env);
  const model = input.required('registered-model');
  const aliases = [...new Set(input.list('alias').map((a) => checkAlias('alias', a)))];
  if (aliases.length === 0) throw new InputError('alias', 'one or more aliases, such as champion', '');
  const operation = input.oneOf<Operation>('action', ['set', 'delete'], DEFAULTS.action);
  const guard = input.optional('expect-previous');
  return {
    mlflow,
    model,
    aliases,
    operation,
    target: target(operation, aliases),
    expectPrevious:
      guard === undefined || guard.toLowerCase() === 'none'
        ? guard?.toLowerCase()
        : versionOf('expect-previous', guard),
  };
}
