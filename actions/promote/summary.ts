/** The job summary: one row per alias, what it pointed at before and after, linked to MLflow's UI. */
import { cell } from '../shared/markdown.js';
import type { Inputs } from './inputs.js';
import type { AliasClient } from './promote.js';

export interface Row {
  alias: string;
  /** Version before the step; undefined when unset. */
  before?: string;
  /** Version the step meant it to have; undefined for a delete. */
  wanted?: string;
  /** Version read back at the end; undefined when unset (or never read). */
  after?: string;
  /** The step wrote this alias. */
  written: boolean;
  /** `after` was read back from MLflow. */
  read: boolean;
}

function link(client: Pick<AliasClient, 'registry'>, model: string, version?: string): string {
  return version === undefined
    ? 'unset'
    : `[version ${version}](${client.registry.modelVersionUrl(model, version)})`;
}

function status(row: Row): string {
  if (row.read && row.after !== row.wanted) {
    return !row.written && row.after === row.before ? 'not changed' : '**mismatch**';
  }
  if (!row.read) return row.written ? 'written, not read back' : 'not changed';
  if (!row.written) return row.wanted === undefined ? 'already unset' : 'unchanged';
  if (row.wanted === undefined) return 'deleted';
  return row.before === undefined ? 'set' : 'moved';
}

export function renderSummary(
  client: Pick<AliasClient, 'registry' | 'trackingUri'>,
  inputs: Inputs,
  rows: Row[],
  failure?: string,
): string {
  const { model } = inputs;
  const modelUrl = `${client.trackingUri}/#/models/${encodeURIComponent(model)}`;
  const lines = [
    `### MLflow aliases of [\`${cell(model)}\`](${modelUrl})`,
    '',
    '| Alias | Before | After | |',
    '| --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| \`${r.alias}\` | ${link(client, model, r.before)} | ${r.read ? link(client, model, r.after) : '?'} | ${status(r)} |`,
    ),
    '',
  ];
  if (failure) lines.push(`**Failed:** ${cell(failure)}`, '');
  return `${lines.join('\n')}\n`;
}
