/** Every input of train-and-log, parsed and checked in one place before anything talks to MLflow. */
import { isAbsolute, resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import * as github from '@actions/github';
import { InputError } from '../shared/errors.js';
import { DEFAULT_MODEL } from '../shared/gemini/index.js';
import { runUrl } from '../shared/github.js';
import * as input from '../shared/inputs.js';
import { aliasInput, mlflowInputs, type MlflowSettings } from '../shared/mlflow/inputs.js';
import { commentLabel } from './comment-key.js';
import { NAME_RULE, nameProblem } from './metrics.js';

export type GateDirection = 'maximize' | 'minimize';

/** The action.yml defaults, used when an input is empty (see shared/inputs.ts). */
export const DEFAULTS = {
  'working-directory': '.',
  'model-path': 'model',
  'gate-direction': 'maximize',
  'gate-min-delta': '0',
  'champion-alias': 'champion',
  'promote-alias': 'candidate',
  'comment-on-push': 'false',
  model: DEFAULT_MODEL,
} as const satisfies input.Defaults;

/** The name the report and analysis modules know the inputs by. */
export type Config = Inputs;

export interface Inputs {
  /** The tracking server, credentials and HTTP settings, resolved once. */
  mlflow: MlflowSettings;
  experiment: string;
  runName: string;
  command: string;
  /** Absolute. */
  workingDirectory: string;
  /** Absolute, or undefined when the command logs its metrics to the run itself. */
  metricsFile?: string;
  /** Absolute, or undefined for none. */
  paramsFile?: string;
  /** Paths and globs, relative to workingDirectory unless absolute. */
  artifacts: string[];
  modelPath: string;
  registeredModel?: string;
  gate?: { metric: string; direction: GateDirection; minDelta: number };
  championAlias: string;
  promoteAlias: string;
  githubToken?: string;
  /** Tells this job's report comment from other matrix jobs' (comment-key.ts); none outside a matrix. */
  commentLabel?: string;
  /** Also post the report as a comment on the pushed commit, on push events. */
  commentOnPush: boolean;
  /** The optional model-written analysis; no key, no analysis. */
  analysis: { apiKey?: string; baseUrl?: string; model: string; fallbackModels: string[] };
  /** Where in GitHub this run comes from. */
  github: GithubRun;
}

/**
 * The runner's variables and event, read once here: the MLflow run's tags, the registered
 * version's tags and the report comment's target all come from this.
 */
export interface GithubRun {
  /** The commit trained (GITHUB_SHA). */
  sha?: string;
  /** A pull request's head branch, else the branch or tag that triggered the run. */
  branch?: string;
  ref?: string;
  /** owner/name. */
  repository?: string;
  serverUrl: string;
  /** The workflow run's page. */
  runUrl?: string;
  workflow?: string;
  workflowRef?: string;
  /** Who triggered the run (a re-run's actor, else the workflow's). */
  actor?: string;
  eventName?: string;
  /** The pull request of a pull_request or pull_request_target event. */
  pullRequest?: number;
}

const PR_EVENTS = new Set(['pull_request', 'pull_request_target']);

/** `payload` is the event (github.context reads GITHUB_EVENT_PATH once, at start). */
export function githubRun(
  env: NodeJS.ProcessEnv = process.env,
  payload: { pull_request?: { number?: unknown } } = github.context.payload,
): GithubRun {
  const pr = payload.pull_request?.number;
  return {
    sha: env.GITHUB_SHA || undefined,
    branch: env.GITHUB_HEAD_REF || env.GITHUB_REF_NAME || undefined,
    ref: env.GITHUB_REF || undefined,
    repository: env.GITHUB_REPOSITORY || undefined,
    serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
    runUrl: runUrl(env),
    workflow: env.GITHUB_WORKFLOW || undefined,
    workflowRef: env.GITHUB_WORKFLOW_REF || undefined,
    actor: env.GITHUB_TRIGGERING_ACTOR || env.GITHUB_ACTOR || undefined,
    eventName: env.GITHUB_EVENT_NAME || undefined,
    pullRequest: PR_EVENTS.has(env.GITHUB_EVENT_NAME ?? '') && typeof pr === 'number' ? pr : undefined,
  };
}

/** Short branch-and-commit name, like `main@0123456`, readable in the runs table. */
export function defaultRunName(run: GithubRun): string {
  const branch = run.branch ?? 'local';
  const sha = (run.sha ?? '').slice(0, 7);
  return sha ? `${branch}@${sha}` : branch;
}

export function getInputs(
  env: NodeJS.ProcessEnv = process.env,
  payload: Parameters<typeof githubRun>[1] = github.context.payload,
): Inputs {
  const mlflow = mlflowInputs(env);
  const githubSource = githubRun(env, payload);

  const workspace = env.GITHUB_WORKSPACE || process.cwd();
  const workingDirectory = resolve(
    workspace,
    input.string('working-directory', DEFAULTS['working-directory']),
  );
  if (!existsSync(workingDirectory) || !statSync(workingDirectory).isDirectory()) {
    throw new InputError('working-directory', 'an existing directory', workingDirectory);
  }
  const inWorkdir = (p: string): string => (isAbsolute(p) ? p : resolve(workingDirectory, p));
  const paramsFile = input.optional('params-file');
  // Empty for a command that logs its metrics itself (mlflow.autolog()): they are read from the run.
  const metricsFile = input.optional('metrics-file');

  const registeredModel = input.optional('registered-model');
  const gateMetric = input.optional('gate-metric');
  // Parsed even without a gate metric: a typo should fail now, not when someone adds the metric.
  const direction = input.oneOf<GateDirection>(
    'gate-direction',
    ['maximize', 'minimize'],
    DEFAULTS['gate-direction'],
  );
  const minDelta = input.number('gate-min-delta', DEFAULTS['gate-min-delta']);
  const championAlias = aliasInput('champion-alias', DEFAULTS['champion-alias']);
  const promoteAlias = aliasInput('promote-alias', DEFAULTS['promote-alias']);
  if (promoteAlias.toLowerCase() === championAlias.toLowerCase()) {
    throw new InputError(
      'promote-alias',
      `an alias other than champion-alias '${championAlias}' (the champion moves after deployment, not here)`,
      promoteAlias,
    );
  }
  // A name MLflow would refuse can never be a metric of the run: say so before training, not after.
  const gateProblem = gateMetric === undefined ? undefined : nameProblem(gateMetric);
  if (gateProblem) throw new InputError('gate-metric', `${NAME_RULE}, but ${gateProblem}`, gateMetric);
  if (gateMetric && !registeredModel) {
    throw new InputError('registered-model', 'a registered model name when gate-metric is set', '');
  }

  return {
    mlflow,
    // As MLflow's clients: the input, else MLFLOW_EXPERIMENT_NAME; then the repository.
    experiment:
      input.optional('experiment') ??
      (env.MLFLOW_EXPERIMENT_NAME?.trim() || env.GITHUB_REPOSITORY || 'Default'),
    runName: input.optional('run-name') ?? defaultRunName(githubSource),
    command: input.required('command'),
    workingDirectory,
    metricsFile: metricsFile === undefined ? undefined : inWorkdir(metricsFile),
    paramsFile: paramsFile === undefined ? undefined : inWorkdir(paramsFile),
    artifacts: input.list('artifacts', { commas: false }),
    modelPath: input.string('model-path', DEFAULTS['model-path']),
    registeredModel,
    gate: gateMetric ? { metric: gateMetric, direction, minDelta } : undefined,
    championAlias,
    promoteAlias,
    githubToken: input.secret('github-token'),
    commentLabel: commentLabel(input.string('comment-key', '')),
    commentOnPush: input.boolean('comment-on-push', DEFAULTS['comment-on-push']),
    analysis: {
      apiKey: input.secret('gemini-api-key'),
      baseUrl: input.geminiBaseUrl(env),
      model: input.string('model', DEFAULTS.model),
      fallbackModels: input.list('fallback-models'),
    },
    github: githubSource,
  };
}
