/**
 * Sets, moves or deletes MLflow aliases of one registered model, and proves it: the version each
 * alias pointed at is read first (the rollback point), the guard is checked before any write, and
 * every alias is read back afterwards. MLflow has no compare-and-set, so the read-back is what
 * catches another process moving an alias between our write and the end of the step.
 */
import * as core from '@actions/core';
import { errorMessage, InputError } from '../shared/errors.js';
import { connectTracking } from '../shared/mlflow/connect.js';
import { MlflowError, type MlflowClient } from '../shared/mlflow/index.js';
import type { MlflowSettings } from '../shared/mlflow/inputs.js';
import type { Inputs } from './inputs.js';
import { renderSummary, type Row } from './summary.js';

/** What promote needs of the MLflow client (a fake can stand in). */
export interface AliasClient {
  trackingUri: MlflowClient['trackingUri'];
  registry: Pick<
    MlflowClient['registry'],
    | 'getRegisteredModel'
    | 'getModelVersion'
    | 'getModelVersionByAlias'
    | 'setAlias'
    | 'deleteAlias'
    | 'modelVersionUrl'
  >;
}

export interface Deps {
  connect: (settings: MlflowSettings) => Promise<AliasClient>;
}

export const defaultDeps: Deps = { connect: connectTracking };

export interface Outputs {
  /** The version the aliases point at now; empty after a delete or a failure. */
  version: string;
  /** The first alias's version before the step; empty when it was unset. */
  'previous-version': string;
  /** JSON: every alias's version before the step ("" when unset). */
  'previous-versions': string;
}

export interface Result {
  outputs: Outputs;
  stepSummary: string;
  /** Set when the step must fail, after the outputs and summary are written. */
  failure?: string;
}

const isNotFound = (err: unknown): boolean =>
  err instanceof MlflowError && (err.status === 404 || err.errorCode === 'RESOURCE_DOES_NOT_EXIST');

/** The version `set` points the aliases at, checked to exist. */
async function resolveTarget(client: AliasClient, inputs: Inputs): Promise<string | undefined> {
  const { model, target } = inputs;
  if (!target) return undefined;
  if ('fromAlias' in target) {
    const mv = await client.registry.getModelVersionByAlias(model, target.fromAlias);
    if (!mv)
      throw new InputError(
        'from-alias',
        `an alias that is set on registered model '${model}'`,
        target.fromAlias,
      );
    core.info(`${model}@${target.fromAlias} is version ${mv.version}`);
    return mv.version;
  }
  try {
    return (await client.registry.getModelVersion(model, target.version)).version;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    throw new InputError(
      'version',
      `a version of registered model '${model}' (it has no version ${target.version})`,
      target.version,
    );
  }
}

/** An alias that does not point at the expected version stops the step before any write. */
function guardProblem(inputs: Inputs, rows: Row[]): string | undefined {
  const expected = inputs.expectPrevious;
  if (expected === undefined) return undefined;
  const off = rows.filter((r) => (r.before ?? 'none') !== expected);
  if (off.length === 0) return undefined;
  const said = (v?: string): string => (v === undefined ? 'unset' : `version ${v}`);
  const what = off.map((r) => `${inputs.model}@${r.alias} is ${said(r.before)}`).join(', ');
  return `Input 'expect-previous': ${what}, not ${expected === 'none' ? 'unset' : `version ${expected}`} as expected; no alias was changed.`;
}

/** Writes each alias in turn; stops at the first refusal and returns it (the rest stay as they were). */
async function apply(client: AliasClient, inputs: Inputs, rows: Row[]): Promise<string | undefined> {
  for (const row of rows) {
    if (row.before === row.wanted) continue; // already there (or already unset): nothing to write
    try {
      if (row.wanted === undefined) await client.registry.deleteAlias(inputs.model, row.alias);
      else await client.registry.setAlias(inputs.model, row.alias, row.wanted);
      row.written = true;
    } catch (err) {
      return `${inputs.operation === 'set' ? 'setting' : 'deleting'} ${inputs.model}@${row.alias} failed: ${errorMessage(err)}`;
    }
  }
  return undefined;
}

/** Reads every alias back; the mismatches, in words. */
async function verify(client: AliasClient, inputs: Inputs, rows: Row[]): Promise<string[]> {
  const problems: string[] = [];
  for (const row of rows) {
    try {
      row.after = (await client.registry.getModelVersionByAlias(inputs.model, row.alias))?.version;
      row.read = true;
    } catch (err) {
      problems.push(`${inputs.model}@${row.alias} could not be read back: ${errorMessage(err)}`);
      continue;
    }
    if (row.after !== row.wanted) {
      const now = row.after === undefined ? 'unset' : `at version ${row.after}`;
      const meant = row.wanted === undefined ? 'deleting it' : `setting it to version ${row.wanted}`;
      problems.push(
        `MLflow reports ${inputs.model}@${row.alias} ${now} after ${meant}: something else changed it meanwhile (another run or a person); check the model's aliases before re-running`,
      );
    }
  }
  return problems;
}

export async function main(inputs: Inputs, deps: Deps = defaultDeps): Promise<Result> {
  const client = await deps.connect(inputs.mlflow);
  const { model } = inputs;
  if (!(await client.registry.getRegisteredModel(model))) {
    throw new InputError('registered-model', `a registered model in MLflow at ${client.trackingUri}`, model);
  }
  const wanted = await resolveTarget(client, inputs);
  const rows: Row[] = [];
  for (const alias of inputs.aliases) {
    const before = (await client.registry.getModelVersionByAlias(model, alias))?.version;
    rows.push({ alias, before, wanted, written: false, read: false });
  }
  const previous: Record<string, string> = Object.fromEntries(rows.map((r) => [r.alias, r.before ?? '']));
  core.info(`Before: ${rows.map((r) => `${model}@${r.alias}=${r.before ?? 'unset'}`).join(', ')}`);

  let failure = guardProblem(inputs, rows);
  if (failure) {
    for (const r of rows) Object.assign(r, { after: r.before, read: true });
  } else {
    const refused = await apply(client, inputs, rows);
    const problems = await verify(client, inputs, rows);
    failure = [refused, ...problems].filter(Boolean).join('; ') || undefined;
  }
  for (const r of rows) core.info(`${model}@${r.alias}: ${r.before ?? 'unset'} -> ${r.after ?? 'unset'}`);
  return {
    outputs: {
      version: failure ? '' : (wanted ?? ''),
      'previous-version': rows[0]!.before ?? '',
      'previous-versions': JSON.stringify(previous),
    },
    stepSummary: renderSummary(client, inputs, rows, failure),
    failure,
  };
}

export async function writeResult({ outputs, stepSummary, failure }: Result): Promise<void> {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value);
  await core.summary.addRaw(stepSummary).write();
  if (failure) throw new Error(failure);
}
