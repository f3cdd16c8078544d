/**
 * One training run from start to end: create the MLflow run, run the command inside it, log what
 * it wrote, register and gate the model, end the run. The run always ends: FINISHED, FAILED on any
 * error (with the reason in the action's failure), KILLED when the job is cancelled.
 */
import * as core from '@actions/core';
import { errorMessage } from '../shared/errors.js';
import { InputError } from '../shared/errors.js';
import type { MlflowClient, ModelVersion } from '../shared/mlflow/index.js';
import type { MlflowSettings } from '../shared/mlflow/inputs.js';
import { resolveArtifacts } from './artifacts.js';
import { describeExit, onCancel, startCommand, type RunningCommand } from './command.js';
import { decideGate, type GateDecision } from './gate.js';
import type { Config } from './inputs.js';
import { readMetrics, readParams } from './metrics.js';
import { readChampion, registerVersion, resolveModel, type Champion, type ResolvedModel } from './model.js';
import { runTags, versionTags } from './tags.js';

export interface Outcome {
  experimentId: string;
  runId: string;
  runUrl: string;
  runName: string;
  metrics: Record<string, number>;
  model?: ResolvedModel;
  version?: ModelVersion;
  versionUrl?: string;
  champion?: Champion;
  gate?: GateDecision;
  /** The alias was set on the new version. */
  promoted: boolean;
}

/** Called as soon as the run exists, so its id reaches the outputs even if a later step fails. */
export type OnRun = (run: StartedRun) => void;

export interface StartedRun {
  runId: string;
  runUrl: string;
  experimentId: string;
}

/** What the pipeline needs from outside: the tracking server, the command, the process. */
export interface PipelineDeps {
  connect: (settings: MlflowSettings) => Promise<MlflowClient>;
  startCommand: typeof startCommand;
  onCancel: typeof onCancel;
  /** Ends the process once a cancellation is handled (the runner would kill it anyway). */
  exit: (code: number) => void;
}

/** Whether the run's final status was set (or is being set), and whether the job was cancelled. */
interface RunState {
  ended: boolean;
  cancelled: boolean;
  command?: RunningCommand;
}

const ARTIFACT_CONCURRENCY = 4;

/** Resolves never: after a cancellation the handler ends the process, nothing else may run. */
const forever = (): Promise<never> => new Promise<never>(() => undefined);

/** The outcome, and the one client it was made with (the report reads through it too). */
export async function trainAndLog(
  config: Config,
  deps: PipelineDeps,
  onRun: OnRun,
): Promise<{ client: MlflowClient; outcome: Outcome }> {
  const client = await deps.connect(config.mlflow);
  const run = await startRun(client, config);
  onRun(run);
  const state: RunState = { ended: false, cancelled: false };
  const stopListening = deps.onCancel((signal) => cancelRun(client, deps, run.runId, state, signal));
  try {
    await train(client, config, deps, run, state);
    const outcome = await logAndRegister(client, config, run);
    state.ended = true;
    // FINISHED and FAILED get the client's long end-of-run budget (minutes, as MLflow's own client):
    // the run's status is what people trust afterwards, so a short outage must not leave it RUNNING.
    await client.tracking.endRun(run.runId, 'FINISHED');
    return { client, outcome };
  } catch (err) {
    if (state.cancelled) await forever();
    if (!state.ended) await failRun(client, run.runId, state, err);
    throw err;
  } finally {
    stopListening();
  }
}

async function startRun(client: MlflowClient, config: Config): Promise<StartedRun> {
  const experiment = await client.tracking.getOrCreateExperiment(config.experiment);
  const experimentId = experiment.experiment_id;
  const info = await client.tracking.createRun({
    experimentId,
    runName: config.runName,
    tags: runTags(config.runName, config.github),
    startTime: Date.now(),
  });
  const runId = info.run_id;
  const runUrl = client.tracking.runUrl(experimentId, runId);
  core.info(`MLflow run ${runId} in experiment '${config.experiment}' (${experimentId}): ${runUrl}`);
  return { runId, runUrl, experimentId };
}

/** Runs the training command inside the run; a non-zero exit is an error. */
async function train(
  client: MlflowClient,
  config: Config,
  deps: PipelineDeps,
  { runId, experimentId }: StartedRun,
  state: RunState,
): Promise<void> {
  const env = commandEnv(config, runId, experimentId);
  // Known before training: a server that cannot take the artifacts should not cost a training run.
  if (config.artifacts.length) await checkArtifacts(client, runId);
  core.info(`Running the training command in ${config.workingDirectory}`);
  state.command = deps.startCommand(config.command, config.workingDirectory, env);
  const result = await state.command.done;
  state.command = undefined;
  if (state.cancelled) await forever();
  if (result.exitCode !== 0) {
    throw new Error(
      `The training command failed with ${describeExit(result)}; MLflow run ${runId} is marked FAILED.`,
    );
  }
}

/**
 * The command's environment: the job's, plus the run to log to (MLflow's client resumes
 * MLFLOW_RUN_ID: mlflow.start_run(), and so mlflow.autolog(), log into it). Credentials that came in the tracking URI's user info go in MLflow's variables,
 * so the URI the command sees carries none.
 */
function commandEnv(config: Config, runId: string, experimentId: string): NodeJS.ProcessEnv {
  const { mlflow } = config;
  const env: NodeJS.ProcessEnv = {
    // Passed through, not read: the command gets the job's PATH, HOME, proxies and its own variables.
    ...process.env,
    MLFLOW_TRACKING_URI: mlflow.trackingUri,
    MLFLOW_RUN_ID: runId,
    MLFLOW_EXPERIMENT_ID: experimentId,
    // MLflow refuses an MLFLOW_EXPERIMENT_NAME that names another experiment than the ID.
    MLFLOW_EXPERIMENT_NAME: config.experiment,
  };
  if (mlflow.credentialsSource && mlflow.username && mlflow.password) {
    env.MLFLOW_TRACKING_USERNAME = mlflow.username;
    env.MLFLOW_TRACKING_PASSWORD = mlflow.password;
  }
  return env;
}

async function failRun(client: MlflowClient, runId: string, state: RunState, err: unknown): Promise<void> {
  state.ended = true;
  try {
    await client.tracking.endRun(runId, 'FAILED');
  } catch (endErr) {
    throw new Error(
      `${errorMessage(err)}; marking MLflow run ${runId} FAILED failed too: ${errorMessage(endErr)}`,
    );
  }
}

/** The job was cancelled: stop the command, mark the run KILLED, fail the step, exit. */
async function cancelRun(
  client: MlflowClient,
  deps: PipelineDeps,
  runId: string,
  state: RunState,
  signal: NodeJS.Signals,
): Promise<void> {
  state.cancelled = true;
  const alreadyEnded = state.ended;
  state.ended = true;
  core.info(`Received ${signal}: stopping the command and marking run ${runId} KILLED`);
  const notes: string[] = [];
  const stopped = state.command ? 'the training command was stopped and ' : '';
  if (state.command) await state.command.stop('SIGTERM', 3000);
  if (!alreadyEnded) {
    // The runner kills us a few seconds after cancelling: short timeouts, few attempts.
    await client.tracking
      .endRun(runId, 'KILLED', { timeoutMs: 4000, attempts: 2, backoff: () => 250 })
      .catch((err: unknown) => notes.push(`could not mark it KILLED: ${errorMessage(err)}`));
  }
  core.setFailed(
    `Cancelled (${signal}): ${stopped}MLflow run ${runId} ${
      alreadyEnded ? 'had already ended' : notes.length ? 'was left as is' : 'was marked KILLED'
    }${notes.length ? ` (${notes.join('; ')})` : ''}.`,
  );
  deps.exit(1);
}

async function checkArtifacts(client: MlflowClient, runId: string): Promise<void> {
  try {
    await client.artifacts.checkArtifactUploads(runId);
  } catch (err) {
    throw new InputError('artifacts', 'a tracking server that can store them', errorMessage(err));
  }
}

/**
 * The same param as the command logged it? JSON loses how Python printed a value (`0.0` parses
 * to 0, `True` is `true`), so equal numbers and booleans count as the same.
 */
export function sameParam(logged: string, fromFile: string): boolean {
  if (logged === fromFile) return true;
  const bool = /^(true|false)$/i;
  if (bool.test(logged) && bool.test(fromFile)) return logged.toLowerCase() === fromFile.toLowerCase();
  const a = Number(logged);
  const b = Number(fromFile);
  return logged.trim() !== '' && fromFile.trim() !== '' && Number.isFinite(a) && a === b;
}

async function logAndRegister(client: MlflowClient, config: Config, run: StartedRun): Promise<Outcome> {
  const metrics = await logResults(client, config, run.runId);
  await uploadArtifacts(client, config, run.runId);
  const outcome: Outcome = { ...run, runName: config.runName, metrics, promoted: false };
  outcome.model = await resolveModel(client, {
    runId: run.runId,
    experimentId: run.experimentId,
    modelPath: config.modelPath,
    workdir: config.workingDirectory,
  });
  if (!config.registeredModel) {
    if (outcome.model)
      core.info(`Model ${outcome.model.modelUri} (${outcome.model.origin}); no registered-model set`);
    return outcome;
  }
  if (!outcome.model) {
    throw new InputError(
      'model-path',
      'a local MLflow model directory, or the name of a model the command logged in the run (e.g. mlflow.sklearn.log_model(name="model"))',
      `'${config.modelPath}': no such directory in ${config.workingDirectory} and no such model in run ${run.runId}`,
    );
  }
  await registerAndGate(client, config, config.registeredModel, outcome.model, outcome);
  return outcome;
}

/**
 * Logs the metrics and params files, checked against what the command logged itself; returns
 * every metric of the run. Refuses a gate metric the run does not have before anything is logged.
 */
async function logResults(
  client: MlflowClient,
  config: Config,
  runId: string,
): Promise<Record<string, number>> {
  const fileMetrics = config.metricsFile ? readMetrics(config.metricsFile) : {};
  const fileParams = config.paramsFile ? readParams(config.paramsFile) : {};

  // The command may have logged some of these itself (train.py does): log only what is new, so
  // metric histories do not get a duplicate point and params (immutable in MLflow) are not re-sent.
  const logged = await client.tracking.getRun(runId);
  const loggedMetrics = Object.fromEntries(logged.data.metrics.map((m) => [m.key, m.value]));
  const loggedParams = Object.fromEntries(logged.data.params.map((p) => [p.key, p.value]));
  const metrics = { ...loggedMetrics, ...fileMetrics };
  if (config.gate && config.registeredModel && metrics[config.gate.metric] === undefined) {
    const have = Object.keys(metrics);
    throw new InputError(
      'gate-metric',
      `a metric of this run (it has ${have.length ? have.slice(0, 15).join(', ') + (have.length > 15 ? ', …' : '') : 'none'})`,
      config.gate.metric,
    );
  }
  for (const [key, value] of Object.entries(fileParams)) {
    if (loggedParams[key] !== undefined && !sameParam(loggedParams[key], value)) {
      throw new InputError(
        'params-file',
        `the value the command already logged for param '${key}' (MLflow params cannot change)`,
        `'${value}' instead of '${loggedParams[key]}'`,
      );
    }
  }
  const now = Date.now();
  const newMetrics = Object.entries(fileMetrics)
    .filter(([k, v]) => loggedMetrics[k] !== v)
    .map(([key, value]) => ({ key, value, timestamp: now, step: 0 }));
  const newParams = Object.entries(fileParams)
    .filter(([k]) => loggedParams[k] === undefined)
    .map(([key, value]) => ({ key, value }));
  await client.tracking.logBatch(runId, { metrics: newMetrics, params: newParams });
  const already = Object.keys(fileMetrics).length - newMetrics.length;
  core.info(
    `Logged ${newMetrics.length} metrics and ${newParams.length} params` +
      (already > 0 ? ` (${already} metrics were already logged by the command)` : ''),
  );
  return metrics;
}

async function uploadArtifacts(client: MlflowClient, config: Config, runId: string): Promise<void> {
  const uploads = await resolveArtifacts(config.artifacts, config.workingDirectory);
  let files = 0;
  for (let i = 0; i < uploads.length; i += ARTIFACT_CONCURRENCY) {
    const counts = await Promise.all(
      uploads.slice(i, i + ARTIFACT_CONCURRENCY).map(async (u) => {
        if (u.kind === 'dir')
          return client.artifacts.logArtifacts(runId, u.local, u.artifactDir || undefined);
        await client.artifacts.logArtifact(runId, u.local, u.artifactDir || undefined);
        return 1;
      }),
    );
    files += counts.reduce((a, b) => a + b, 0);
  }
  if (uploads.length) core.info(`Uploaded ${files} artifact file${files === 1 ? '' : 's'}`);
}

/** Registers a version of `name`, then gates it against the champion: the alias moves only on a pass. */
async function registerAndGate(
  client: MlflowClient,
  config: Config,
  name: string,
  model: ResolvedModel,
  outcome: Outcome,
): Promise<void> {
  const tags = versionTags(config.github);
  outcome.version = await registerVersion(client, { name, model, runId: outcome.runId, tags });
  const version = outcome.version.version;
  outcome.versionUrl = client.registry.modelVersionUrl(name, version);
  core.info(`Registered ${name} v${version} from ${model.modelUri}: ${outcome.versionUrl}`);

  outcome.champion = await readChampion(client, name, config.championAlias);
  if (!config.gate) {
    core.info('No gate-metric: the version is registered but not promoted');
    return;
  }
  const champion = outcome.champion;
  outcome.gate = decideGate({
    ...config.gate,
    candidate: outcome.metrics[config.gate.metric]!,
    champion: champion && {
      version: champion.version,
      value: champion.metrics[config.gate.metric],
      problem: champion.problem,
    },
  });
  await client.registry.setModelVersionTag(
    name,
    version,
    'mlops-actions.gate',
    outcome.gate.passed ? 'passed' : 'failed',
  );
  if (outcome.gate.passed) {
    await client.registry.setAlias(name, config.promoteAlias, version);
    outcome.promoted = true;
    core.info(`Gate passed (${outcome.gate.reason}): ${name}@${config.promoteAlias} -> v${version}`);
  } else {
    core.info(`Gate failed (${outcome.gate.reason}): ${config.promoteAlias} not moved`);
  }
}
