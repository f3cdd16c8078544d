/**
 * Every input of alert-to-issue, parsed and checked up front, and the notification itself, read
 * once from whichever source carries it (`payload`, `payload-file` or the repository_dispatch event).
 */
import { readFileSync } from 'node:fs';
import * as core from '@actions/core';
import { errorMessage, InputError } from '../shared/errors.js';
import { DEFAULT_MODEL } from '../shared/gemini/defaults.js';
import type { GeminiOptions } from '../shared/gemini/index.js';
import { parseRepo, runUrl, type Repo } from '../shared/github.js';
import * as input from '../shared/inputs.js';
import { mlflowSettings, type MlflowSettings } from '../shared/mlflow/inputs.js';
import { oneLine } from '../shared/log-safe.js';
import { parseAllowlist, parseStaticLabels, type AllowedLabel } from './labels.js';
import type { TokenInput } from './rollback-pull.js';
import { extractNotification, PayloadError, type Extracted } from './webhook.js';

/**
 * MLflow's settings, resolved once, or why they could not be: the lookup is best effort, so a bad
 * URI or TLS file is reported in the issue instead of failing the run.
 */
export type MlflowSetup =
  { settings: MlflowSettings; error?: undefined } | { error: string; settings?: undefined };

export interface Inputs {
  token: string;
  repo: Repo;
  /** The notification; undefined when the event is not one to act on (`skipped` says why). */
  notification?: Extracted;
  skipped?: string;
  staticLabels: string[];
  allowlist: AllowedLabel[];
  severityLabel: string;
  closeOnResolve: boolean;
  reopenWindowMs: number;
  gitopsPath?: string;
  /**
   * Where the deploy commits and the rollback PR are read: `gitops-repository` (default the issues'
   * repository) with `gitops-token` (default `github-token`; GITHUB_TOKEN reaches one repository only),
   * and which of the two the token is, for the hint when it is refused.
   */
  gitops: { repo: Repo; token: string; tokenInput: TokenInput };
  /** `tracking-uri` (else MLFLOW_TRACKING_URI) and its settings; undefined: no MLflow context. */
  mlflow?: MlflowSetup;
  modelLabel: string;
  alias: string;
  gemini: GeminiOptions;
  /** The workflow run, linked from the issue and its comments. */
  runLink?: string;
}

function parse(text: string, input: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(
      input,
      'an Alertmanager webhook body as JSON',
      `${text.slice(0, 60)}: ${(err as Error).message}`,
    );
  }
}

function extract(raw: unknown, source: string, input?: string): Extracted {
  try {
    return extractNotification(raw, source);
  } catch (err) {
    if (err instanceof PayloadError && input)
      throw new InputError(input, `a valid Alertmanager notification (${err.message})`);
    if (err instanceof PayloadError)
      throw new Error(
        `The repository_dispatch payload is not a valid Alertmanager notification: ${err.message}`,
      );
    throw err;
  }
}

function readFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(
      'payload-file',
      'a readable file',
      `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** The repository_dispatch event's client_payload, when the event type is the one asked for. */
function fromEvent(eventType: string): Pick<Inputs, 'notification' | 'skipped'> {
  const eventName = process.env.GITHUB_EVENT_NAME;
  if (eventName !== 'repository_dispatch') {
    throw new InputError(
      'payload',
      `a notification: set payload or payload-file, or run on repository_dispatch (this run is ${eventName ?? 'unknown'})`,
    );
  }
  const path = process.env.GITHUB_EVENT_PATH;
  if (!path) throw new Error('GITHUB_EVENT_PATH is not set; cannot read the repository_dispatch event');
  const event = JSON.parse(readFileSync(path, 'utf8')) as { action?: string; client_payload?: unknown };
  if (event.action !== eventType) {
    return {
      skipped: `repository_dispatch event type '${oneLine(event.action)}' is not '${eventType}' (input event-type): nothing to do`,
    };
  }
  if (event.client_payload === undefined)
    throw new Error('The repository_dispatch event has no client_payload');
  return { notification: extract({ client_payload: event.client_payload }, 'event') };
}

function readNotification(eventType: string): Pick<Inputs, 'notification' | 'skipped'> {
  const direct = input.optional('payload');
  if (direct) return { notification: extract(parse(direct, 'payload'), 'payload', 'payload') };
  const file = input.optional('payload-file');
  if (file)
    return { notification: extract(parse(readFile(file), 'payload-file'), 'payload-file', 'payload-file') };
  return fromEvent(eventType);
}

function mlflowSetup(trackingUri: string | undefined): MlflowSetup | undefined {
  if (!trackingUri && !process.env.MLFLOW_TRACKING_URI?.trim()) return undefined;
  try {
    return { settings: mlflowSettings(process.env, trackingUri) };
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

/** The GitOps repository and its token: parsed once, so a typo fails here naming the input. */
function gitopsSource(repo: Repo, token: string, gitopsPath: string | undefined): Inputs['gitops'] {
  const named = input.optional('gitops-repository');
  const gitopsToken = input.secret('gitops-token');
  if (!gitopsPath && (named || gitopsToken))
    core.warning('gitops-repository and gitops-token are used only with gitops-path, which is empty');
  return {
    repo: named ? parseRepo(named, 'gitops-repository') : repo,
    token: gitopsToken ?? token,
    tokenInput: gitopsToken ? 'gitops-token' : 'github-token',
  };
}

/** The action.yml defaults, used when an input is empty (see shared/inputs.ts). */
export const DEFAULTS = {
  'event-type': 'alertmanager',
  'severity-label': 'severity',
  'close-on-resolve': 'true',
  'reopen-window': '24h',
  model: DEFAULT_MODEL,
  'model-label': 'model',
  'champion-alias': 'champion',
} as const satisfies input.Defaults;

export function getInputs(): Inputs {
  const token = input.secret('github-token');
  if (!token) throw new InputError('github-token', 'a token with issues: write (default: github.token)', '');
  const repo = parseRepo(input.optional('repository'));
  const eventType = input.string('event-type', DEFAULTS['event-type']);
  const staticLabels = parseStaticLabels(input.list('labels'));
  const allowlist = parseAllowlist(input.list('label-allowlist'));
  const severityLabel = input.string('severity-label', DEFAULTS['severity-label']);
  const closeOnResolve = input.boolean('close-on-resolve', DEFAULTS['close-on-resolve']);
  const reopenWindowMs = input.duration('reopen-window', DEFAULTS['reopen-window']);
  const gitopsPath = input.optional('gitops-path');
  const gitops = gitopsSource(repo, token, gitopsPath);
  const mlflow = mlflowSetup(input.optional('tracking-uri'));
  const modelLabel = input.string('model-label', DEFAULTS['model-label']);
  const alias = input.string('champion-alias', DEFAULTS['champion-alias']);
  const gemini: GeminiOptions = {
    apiKey: input.secret('gemini-api-key'),
    baseUrl: input.geminiBaseUrl(),
    model: input.string('model', DEFAULTS.model),
    fallbackModels: input.list('fallback-models'),
    timeoutMs: 45_000,
  };
  const read = readNotification(eventType);
  return {
    token,
    repo,
    ...read,
    staticLabels,
    allowlist,
    severityLabel,
    closeOnResolve,
    reopenWindowMs,
    gitopsPath,
    gitops,
    mlflow,
    modelLabel,
    alias,
    gemini,
    runLink: runUrl(),
  };
}
