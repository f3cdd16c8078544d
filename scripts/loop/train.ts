/**
 * The pipeline's training job and its gate: the bundled train-and-log on model/train.py, a
 * deliberately worse candidate the gate must refuse while the champion stays, a faulty one the
 * gate cannot tell from the champion, and the champion alias moved (by the bundled promote) to
 * what the deploy made live.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { localGithubEnv, runBundledAction, verdictOf } from './actions.js';
import { CHAMPION, MODEL_NAME, writeReport, type LoopContext } from './context.js';
import { versionByAlias } from './mlflow.js';

/** model/train.py's knob for a worse model on purpose: half the training labels replaced at random. */
export const WORSE_ARGS = ['--label-noise', '0.5'];

/**
 * A faulty model the gate cannot see: the same data under scikit-learn's own column names, so the
 * same metrics, but a signature no client sends (every request is refused once it is live).
 */
export const FAULTY_ARGS = [
  '--feature-names',
  'sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)',
];

export interface Candidate {
  version: string;
  runUrl: string;
  versionUrl: string;
  modelUri: string;
  /** train-and-log's verdict line, without its Markdown. */
  gate: string;
  passed: boolean;
  /** The job summary, as a file in the reports folder. */
  summaryFile: string;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** train-and-log as the pipeline's first job runs it; `name` names its output folder and report. */
export async function trainCandidate(
  ctx: LoopContext,
  mlflowUrl: string,
  name: string,
  args: string[],
): Promise<Candidate> {
  const outDir = join(ctx.state, 'train', name);
  mkdirSync(outDir, { recursive: true });
  const python = join(ctx.venv, 'bin', 'python');
  const command = [python, 'model/train.py', '--output-dir', outDir, ...args].map(quote).join(' ');
  const run = await runBundledAction(
    'train-and-log',
    {
      'tracking-uri': mlflowUrl,
      experiment: 'iris-demo',
      command,
      'metrics-file': join(outDir, 'metrics.json'),
      'params-file': join(outDir, 'params.json'),
      artifacts: join(outDir, 'metrics.json'),
      'model-path': 'model',
      'registered-model': MODEL_NAME,
      'gate-metric': 'f1_macro',
      'github-token': '',
    },
    { env: localGithubEnv(), print: ctx.detail },
  );
  const o = run.outputs;
  const gate = verdictOf(run.summary);
  if (run.code !== 0 || !o['model-version'])
    throw new Error(`train-and-log failed (exit ${run.code}): ${run.errors.join('; ') || gate}`);
  const version = o['model-version'];
  const versionUrl =
    /\((http[^)]*\/versions\/\d+)\)/.exec(run.summary)?.[1] ??
    `${mlflowUrl}/#/models/${MODEL_NAME}/versions/${version}`;
  const { stages } = ctx;
  stages.link('MLflow run', o['run-url'] ?? '');
  stages.link('model version', `${MODEL_NAME} v${version}  ${versionUrl}`);
  stages.link('model URI', o['model-uri'] ?? '');
  stages.link('gate', gate);
  const summaryFile = writeReport(ctx, 'job summary', `train-and-log-${name}.md`, run.summary);
  return {
    version,
    runUrl: o['run-url'] ?? '',
    versionUrl,
    modelUri: o['model-uri'] ?? '',
    gate,
    passed: o['gate-passed'] === 'true',
    summaryFile,
  };
}

/** The version to deploy: the candidate when its gate passed, else the champion it did not beat. */
export async function toDeploy(mlflowUrl: string, c: Candidate): Promise<string> {
  if (c.passed) return c.version;
  const mv = await versionByAlias(mlflowUrl, MODEL_NAME, CHAMPION).catch(() => undefined);
  if (!mv) throw new Error(`the gate failed v${c.version} and there is no ${CHAMPION} to deploy instead`);
  return mv.version;
}

/**
 * What the pipeline does once the deployment is healthy (ArgoCD reports it; here: the server is
 * ready on the pinned image): the bundled promote moves the champion alias to the deployed
 * version, which is what alias readers (alert-to-issue) take as live. Pods never read it.
 */
export async function promoteChampion(ctx: LoopContext, mlflowUrl: string, version: string): Promise<string> {
  const run = await runBundledAction(
    'promote',
    { 'tracking-uri': mlflowUrl, 'registered-model': MODEL_NAME, alias: CHAMPION, version },
    { print: ctx.detail },
  );
  if (run.code !== 0 || run.outputs.version !== version)
    throw new Error(`promote failed (exit ${run.code}): ${run.errors.join('; ')}`);
  const before = run.outputs['previous-version'] || 'unset';
  ctx.stages.link('alias', `models:/${MODEL_NAME}@${CHAMPION} -> version ${version} (was ${before})`);
  return version;
}

/** A worse candidate (WORSE_ARGS after the user's): the gate must refuse it, the champion stay. */
export async function refuseWorse(ctx: LoopContext, mlflowUrl: string, champion: string): Promise<Candidate> {
  const c = await trainCandidate(ctx, mlflowUrl, 'worse', [...ctx.trainArgs, ...WORSE_ARGS]);
  if (c.passed) throw new Error(`the gate let the worse candidate v${c.version} through: ${c.gate}`);
  const mv = await versionByAlias(mlflowUrl, MODEL_NAME, CHAMPION);
  if (mv.version !== champion)
    throw new Error(`alias ${CHAMPION} moved to ${mv.version} although the gate refused v${c.version}`);
  ctx.stages.link(
    'refused',
    `v${c.version} is not deployed; models:/${MODEL_NAME}@${CHAMPION} stays version ${mv.version}`,
  );
  return c;
}
