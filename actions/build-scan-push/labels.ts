/**
 * Image labels: the OCI annotation keys (org.opencontainers.image.*) plus the MLflow run and model
 * version, so `docker inspect` on a running image says which model it serves. User labels win.
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../shared/errors.js';

export const MLFLOW_RUN_ID_LABEL = 'io.mlflow.run-id';
export const MODEL_VERSION_LABEL = 'io.mlflow.model-version';

export interface LabelContext {
  serverUrl: string;
  repository: string;
  sha: string;
  created: Date;
  version: string;
  mlflowRunId?: string;
  modelVersion?: string;
}

export function defaultLabels(ctx: LabelContext): Record<string, string> {
  const labels: Record<string, string> = {
    'org.opencontainers.image.source': `${ctx.serverUrl}/${ctx.repository}`,
    'org.opencontainers.image.url': `${ctx.serverUrl}/${ctx.repository}`,
    'org.opencontainers.image.revision': ctx.sha,
    'org.opencontainers.image.created': ctx.created.toISOString(),
    'org.opencontainers.image.version': ctx.version,
    'org.opencontainers.image.title': ctx.repository.split('/').pop() ?? ctx.repository,
  };
  if (ctx.mlflowRunId) labels[MLFLOW_RUN_ID_LABEL] = ctx.mlflowRunId;
  if (ctx.modelVersion) labels[MODEL_VERSION_LABEL] = ctx.modelVersion;
  return labels;
}

/** `key=value` lines (the value may contain `=`); a line without `=` is an error naming the input. */
export function parseKeyValues(lines: string[], input: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf('=');
    if (at <= 0) throw new InputError(input, 'lines of key=value', line);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

export function mergeLabels(
  defaults: Record<string, string>,
  user: Record<string, string>,
): Record<string, string> {
  return { ...defaults, ...user };
}

/**
 * The image timestamp for both builds (BuildKit applies SOURCE_DATE_EPOCH to the image config):
 * the caller's SOURCE_DATE_EPOCH, else the pushed commit's time, else now.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv, event: WebhookEvent): number {
  if (env.SOURCE_DATE_EPOCH && /^\d+$/.test(env.SOURCE_DATE_EPOCH)) return Number(env.SOURCE_DATE_EPOCH);
  const t = Date.parse(event.head_commit?.timestamp ?? '');
  if (!Number.isNaN(t)) return Math.floor(t / 1000);
  return Math.floor(Date.now() / 1000);
}

/** The parts of GITHUB_EVENT_PATH's payload this action reads. */
export interface WebhookEvent {
  head_commit?: { timestamp?: string };
  pull_request?: { head?: { sha?: string } };
  repository?: { default_branch?: string };
}

/** The webhook payload, or {} when there is none (a local run) or it is not JSON. */
export function readEvent(path: string | undefined): WebhookEvent {
  try {
    const event = JSON.parse(readFileSync(path ?? '', 'utf8')) as unknown;
    return event && typeof event === 'object' ? (event as WebhookEvent) : {};
  } catch {
    return {};
  }
}
