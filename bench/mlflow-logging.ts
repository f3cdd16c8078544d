/**
 * Logs one fixed workload (50 params, 100 metrics x 100 steps, 200 small files, one 20 MB file,
 * one registered model version) to one real `mlflow server`, once through our TypeScript client
 * and once through MLflow's Python client, and prints both times, the ratio and request counts.
 *
 *   npx tsx bench/mlflow-logging.ts [--metric-style log_metrics|log_metric] [--rounds N] [--verbose] [--keep]
 *
 * Times cover the logging only: not starting Node or Python, not `import mlflow` (printed apart).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { MlflowClient } from '../actions/shared/mlflow/index.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { PYTHON, startMlflow } from '../__tests__/helpers/mlflow-server.js';
import { ROOT } from '../__tests__/helpers/run-action.js';

const exec = promisify(execFile);
const args = process.argv.slice(2);
const metricStyle = args.includes('--metric-style')
  ? args[args.indexOf('--metric-style') + 1]!
  : 'log_metrics';
const keep = args.includes('--keep');
const verbose = args.includes('--verbose');
const rounds = args.includes('--rounds') ? Math.max(1, Number(args[args.indexOf('--rounds') + 1])) : 1;

const PARAMS = 50;
const METRICS = 100;
const STEPS = 100;
const SMALL_FILES = 200;
const BIG_BYTES = 20 * 1024 * 1024;

async function makeWorkload(dir: string): Promise<void> {
  for (let i = 0; i < SMALL_FILES; i++) {
    const sub = join(dir, 'small', `group-${i % 10}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(
      join(sub, `file-${i}.json`),
      JSON.stringify({ i, data: randomBytes(1024).toString('base64') }),
    );
  }
  writeFileSync(join(dir, 'big.bin'), randomBytes(BIG_BYTES));
  await exec(PYTHON, [
    '-c',
    [
      'import sys, mlflow.sklearn',
      'from sklearn.datasets import load_iris',
      'from sklearn.linear_model import LogisticRegression',
      'X, y = load_iris(return_X_y=True)',
      'mlflow.sklearn.save_model(LogisticRegression(max_iter=500).fit(X, y), sys.argv[1], input_example=X[:2])',
    ].join('\n'),
    join(dir, 'model'),
  ]);
}

/** Our client, used the way train-and-log uses it; independent uploads overlap. */
async function ours(
  trackingUri: string,
  dir: string,
  round: number,
): Promise<{ seconds: number; requests: number; runId: string; version: string }> {
  const start = performance.now();
  const client = new MlflowClient(mlflowSettings({}, trackingUri));
  const exp = await client.tracking.getOrCreateExperiment(`bench-ours-${round}`);
  const run = await client.tracking.createRun({
    experimentId: exp.experiment_id,
    runName: 'typescript-client',
  });
  const params = Array.from({ length: PARAMS }, (_, i) => ({ key: `param_${i}`, value: `value_${i}` }));
  const metrics = [];
  const timestamp = Date.now();
  for (let step = 0; step < STEPS; step++) {
    for (let k = 0; k < METRICS; k++)
      metrics.push({ key: `metric_${k}`, value: k + step / 100, step, timestamp });
  }
  const phases: Record<string, number> = {};
  const timed = async <T>(name: string, p: Promise<T>): Promise<T> => {
    const s = performance.now();
    const v = await p;
    phases[name] = (performance.now() - s) / 1000;
    return v;
  };
  // Metrics, files and the model are independent: send them side by side.
  const [, , logged] = await Promise.all([
    timed('metrics+params', client.tracking.logBatch(run.run_id, { params, metrics })),
    timed(
      'files',
      (async () => {
        await client.artifacts.logArtifacts(run.run_id, join(dir, 'small'), 'small');
        await client.artifacts.logArtifact(run.run_id, join(dir, 'big.bin'), 'big');
      })(),
    ),
    timed(
      'model',
      client.models.logModelDir({
        runId: run.run_id,
        experimentId: exp.experiment_id,
        localDir: join(dir, 'model'),
        name: 'model',
      }),
    ),
    client.registry.getOrCreateRegisteredModel(`bench-ours-${round}`),
  ]);
  const mv = await client.registry.createModelVersion({
    name: `bench-ours-${round}`,
    source: logged.source,
    runId: run.run_id,
    ...(logged.modelId ? { modelId: logged.modelId } : {}),
  });
  await timed(
    'version READY + run end',
    Promise.all([
      client.registry.waitForModelVersionReady(`bench-ours-${round}`, mv.version),
      client.tracking.updateRun(run.run_id, { status: 'FINISHED' }),
    ]),
  );
  if (verbose) console.log(`[round ${round}] our phases:`, phases);
  return {
    seconds: (performance.now() - start) / 1000,
    requests: client.requestCount,
    runId: run.run_id,
    version: mv.version,
  };
}

interface PythonResult {
  seconds: number;
  import_seconds: number;
  requests: number;
  run_id: string;
  version: string;
  phases: Record<string, number>;
}

async function python(trackingUri: string, dir: string, round: number): Promise<PythonResult> {
  const { stdout } = await exec(
    PYTHON,
    [
      join(ROOT, 'bench', 'mlflow_logging_python.py'),
      '--tracking-uri',
      trackingUri,
      '--workload',
      dir,
      '--experiment',
      `bench-python-${round}`,
      '--model-name',
      `bench-python-${round}`,
      '--metric-style',
      metricStyle,
    ],
    { env: { ...process.env, PYTHONWARNINGS: 'ignore' }, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as PythonResult;
}

/** Both runs hold the whole workload (checked outside the timings). */
async function verify(client: MlflowClient, runId: string, model: string, version: string): Promise<void> {
  const run = await client.tracking.getRun(runId);
  const fail = (what: string): never => {
    throw new Error(`run ${runId}: ${what}`);
  };
  if (run.data.params.filter((p) => p.key.startsWith('param_')).length !== PARAMS) fail('params missing');
  if (run.data.metrics.length !== METRICS) fail(`${run.data.metrics.length} metrics, expected ${METRICS}`);
  for (const key of ['metric_0', `metric_${METRICS - 1}`]) {
    const h = await client.tracking.getMetricHistory(runId, key);
    if (h.length !== STEPS || h.some((m, i) => m.step !== i)) fail(`${key} has ${h.length} steps`);
  }
  const count = async (path: string): Promise<number> => {
    let n = 0;
    for (const f of await client.artifacts.listArtifacts(runId, path))
      n += f.is_dir ? await count(f.path) : 1;
    return n;
  };
  if ((await count('small')) !== SMALL_FILES) fail('small files missing');
  const big = await client.artifacts.listArtifacts(runId, 'big');
  if (big[0]?.file_size !== BIG_BYTES) fail('big file missing');
  const mv = await client.registry.getModelVersion(model, version);
  if (mv.status !== 'READY') fail(`model version ${model}/${version} is ${mv.status}`);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mlflow-bench-'));
  process.stdout.write('Preparing workload and starting mlflow server... ');
  mkdirSync(join(work, 'server'));
  // The server's GenAI job runner (unused here) starts seven Python worker processes in its first
  // minute; on a small machine that start-up would land on whichever client runs first.
  process.env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION ??= 'false';
  const [server] = await Promise.all([
    startMlflow({ dir: join(work, 'server') }),
    makeWorkload(join(work, 'workload')),
  ]);
  console.log(`up at ${server.url}`);
  try {
    // A small untimed run first, so neither side pays for the fresh server's first requests.
    const probe = new MlflowClient(mlflowSettings({}, server.url));
    await probe.ping();
    const warm = await probe.tracking.createRun({
      experimentId: (await probe.tracking.getOrCreateExperiment('bench-warmup')).experiment_id,
    });
    await probe.tracking.logBatch(warm.run_id, {
      metrics: [{ key: 'warm', value: 1 }],
      params: [{ key: 'p', value: 'v' }],
    });
    await probe.artifacts.logArtifacts(warm.run_id, join(work, 'workload', 'small', 'group-0'));
    await probe.tracking.updateRun(warm.run_id, { status: 'FINISHED' });

    const ratios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const label = rounds > 1 ? `[round ${round}] ` : '';
      // Alternate who goes first, so neither always meets the server in the same state.
      const pyFirst = round % 2 === 0;
      let py: PythonResult | undefined;
      if (pyFirst) py = await python(server.url, join(work, 'workload'), round);
      const ts = await ours(server.url, join(work, 'workload'), round);
      py ??= await python(server.url, join(work, 'workload'), round);
      const ratio = ts.seconds / py.seconds;
      ratios.push(ratio);
      console.log(`${label}ours:   ${ts.seconds.toFixed(2)} s, ${ts.requests} HTTP requests`);
      console.log(
        `${label}python: ${py.seconds.toFixed(2)} s, ${py.requests} HTTP requests ` +
          `(mlflow.${metricStyle} per step; 'import mlflow' took another ${py.import_seconds.toFixed(2)} s)`,
      );
      if (verbose) console.log(`${label}python phases:`, py.phases);
      console.log(`${label}ratio:  ours / python = ${ratio.toFixed(3)}`);
      await verify(probe, ts.runId, `bench-ours-${round}`, ts.version);
      await verify(probe, py.run_id, `bench-python-${round}`, py.version);
    }
    const sorted = [...ratios].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(
      `${rounds > 1 ? `median of ${rounds} rounds: ` : ''}ours / python = ${median.toFixed(3)} (target <= 0.2: ${median <= 0.2 ? 'met' : 'NOT met'}); ` +
        `load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} on ${cpus().length} CPUs`,
    );
    console.log(
      'Every run verified: 50 params, every metric step, 200 small files, the 20 MB file, a READY model version.',
    );
  } finally {
    await server.stop();
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
