/**
 * Logs one fixed workload (50 params, 100 metrics x 100 steps, 200 small files, one 20 MB file,
 * one registered model version) to one real `mlflow server`, four ways in each round: our
 * TypeScript client; MLflow's Python client as most examples use it (mlflow.log_metrics per step);
 * the best a Python user writes (MlflowClient().log_batch in chunks of 1,000 and log_artifact from
 * a ThreadPoolExecutor); and the server's ingest floor (the same requests from a raw client). It
 * prints the times, request counts and the ratios; the target is ours <= 0.5x the best Python.
 *
 *   npx tsx bench/mlflow-logging.ts [--metric-style log_metrics|log_metric] [--rounds N] [--verbose] [--keep]
 *
 * Times cover the logging only: not starting Node or Python, not `import mlflow` (printed apart).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { MlflowClient } from '../actions/shared/mlflow/index.js';
import { listLocalFiles, mapLimit } from '../actions/shared/mlflow/artifacts.js';
import { splitBatch } from '../actions/shared/mlflow/batch.js';
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

async function python(trackingUri: string, dir: string, name: string, style: string): Promise<PythonResult> {
  const { stdout } = await exec(
    PYTHON,
    [
      join(ROOT, 'bench', 'mlflow_logging_python.py'),
      '--tracking-uri',
      trackingUri,
      '--workload',
      dir,
      '--experiment',
      name,
      '--model-name',
      name,
      '--metric-style',
      style,
    ],
    { env: { ...process.env, PYTHONWARNINGS: 'ignore' }, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as PythonResult;
}

const putAgent = new Agent({ keepAlive: true, maxSockets: 8 });

/** One PUT of an in-memory body over node:http: no stream, no retry, no checks. */
function rawPut(url: string, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'PUT', agent: putAgent, headers: { 'content-length': String(data.length) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * The server's own ingest floor: the same log-batch bodies in the same four parallel streams
 * (serialised before the clock starts) and the same files (read into memory before the clock
 * starts), posted by the plainest client there is (fetch for JSON, node:http keep-alive for the
 * files, 8 uploads in flight), no retries, no checks. Whatever a client does, the server needs
 * about this long for the workload.
 */
async function floor(
  trackingUri: string,
  dir: string,
  name: string,
): Promise<{ seconds: number; requests: number; runId: string; version: string }> {
  const api = `${trackingUri}/api/2.0/mlflow`;
  let requests = 0;
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    requests++;
    const res = await fetch(`${api}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const files: { dest: string; data: Buffer }[] = [];
  for (const [sub, dest] of [
    ['small', 'small'],
    ['model', 'model'],
  ] as const) {
    for (const f of await listLocalFiles(join(dir, sub)))
      files.push({
        dest: `${dest}/${relative(join(dir, sub), f).split(sep).join('/')}`,
        data: readFileSync(f),
      });
  }
  files.push({ dest: 'big/big.bin', data: readFileSync(join(dir, 'big.bin')) });
  const timestamp = Date.now();
  const metrics = Array.from({ length: STEPS * METRICS }, (_, i) => ({
    key: `metric_${i % METRICS}`,
    value: (i % METRICS) + Math.floor(i / METRICS) / 100,
    step: Math.floor(i / METRICS),
    timestamp,
  }));
  const params = Array.from({ length: PARAMS }, (_, i) => ({ key: `param_${i}`, value: `value_${i}` }));

  const start = performance.now();
  const { experiment_id } = await post<{ experiment_id: string }>('/experiments/create', { name });
  const { run } = await post<{ run: { info: { run_id: string; artifact_uri: string } } }>('/runs/create', {
    experiment_id,
    start_time: Date.now(),
  });
  const runId = run.info.run_id;
  // The same four key-partitioned streams of batches our client sends (tracking.ts logBatch).
  const streams = [0, 1, 2, 3].map((s) =>
    splitBatch(runId, {
      metrics: metrics.filter((m) => Number(m.key.slice(7)) % 4 === s),
      ...(s === 0 ? { params } : {}),
    }).map((b) => JSON.stringify(b)),
  );
  const root = `${trackingUri}/api/2.0/mlflow-artifacts/artifacts/${run.info.artifact_uri.replace(/^mlflow-artifacts:\/+/, '')}`;
  const phases: Record<string, number> = {};
  const timed = async (phase: string, p: Promise<unknown>): Promise<void> => {
    const s = performance.now();
    await p;
    phases[phase] = (performance.now() - s) / 1000;
  };
  await Promise.all([
    timed(
      'metrics+params',
      Promise.all(
        streams.map(async (bodies) => {
          for (const body of bodies) await post('/runs/log-batch', body);
        }),
      ),
    ),
    timed(
      'files+model',
      mapLimit(files, 8, async ({ dest, data }) => {
        requests++;
        const status = await rawPut(`${root}/${dest}`, data);
        if (status !== 200) throw new Error(`PUT ${dest}: HTTP ${status}`);
      }),
    ),
    post('/registered-models/create', { name }),
  ]);
  const { model_version } = await post<{ model_version: { version: string } }>('/model-versions/create', {
    name,
    source: `${run.info.artifact_uri}/model`,
    run_id: runId,
  });
  await post('/runs/update', { run_id: runId, status: 'FINISHED', end_time: Date.now() });
  for (;;) {
    requests++;
    const res = await fetch(`${api}/model-versions/get?name=${name}&version=${model_version.version}`);
    const mv = (await res.json()) as { model_version: { status: string } };
    if (mv.model_version.status === 'READY') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (verbose) console.log('floor phases:', phases);
  return { seconds: (performance.now() - start) / 1000, requests, runId, version: model_version.version };
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

    const ratios: { best: number; step: number; floor: number }[] = [];
    const fmt = (r: { seconds: number; requests: number }): string =>
      `${r.seconds.toFixed(2)} s, ${r.requests} HTTP requests`;
    for (let round = 1; round <= rounds; round++) {
      const label = rounds > 1 ? `[round ${round}] ` : '';
      const w = join(work, 'workload');
      // Rotate who goes first, so nobody always meets the server in the same state.
      const jobs = {
        ours: () => ours(server.url, w, round),
        step: () => python(server.url, w, `bench-python-${round}`, metricStyle),
        best: () => python(server.url, w, `bench-python-batch-${round}`, 'batch'),
        floor: () => floor(server.url, w, `bench-floor-${round}`),
      };
      const order = (['ours', 'step', 'best', 'floor'] as const).map(
        (_, i, all) => all[(i + round - 1) % 4]!,
      );
      const res: Partial<{ [K in keyof typeof jobs]: Awaited<ReturnType<(typeof jobs)[K]>> }> = {};
      for (const k of order) (res as Record<string, unknown>)[k] = await jobs[k]();
      const { ours: ts, step, best, floor: fl } = res as Required<typeof res>;
      const r = {
        best: ts.seconds / best.seconds,
        step: ts.seconds / step.seconds,
        floor: fl.seconds / best.seconds,
      };
      ratios.push(r);
      console.log(`${label}ours:           ${fmt(ts)}`);
      console.log(`${label}python per-step: ${fmt(step)} (mlflow.${metricStyle} per step)`);
      console.log(
        `${label}python best:     ${fmt(best)} (MlflowClient.log_batch x1000, threaded log_artifact; ` +
          `'import mlflow' took another ${best.import_seconds.toFixed(2)} s)`,
      );
      console.log(
        `${label}server floor:    ${fmt(fl)} (same batches and files from a raw client, no client logic)`,
      );
      if (verbose) console.log(`${label}python phases:`, step.phases, best.phases);
      console.log(
        `${label}ratios: ours/best-python = ${r.best.toFixed(3)}, ours/per-step-python = ${r.step.toFixed(3)}, ` +
          `floor/best-python = ${r.floor.toFixed(3)}, ours/floor = ${(ts.seconds / fl.seconds).toFixed(3)}`,
      );
      await verify(probe, ts.runId, `bench-ours-${round}`, ts.version);
      await verify(probe, step.run_id, `bench-python-${round}`, step.version);
      await verify(probe, best.run_id, `bench-python-batch-${round}`, best.version);
      await verify(probe, fl.runId, `bench-floor-${round}`, fl.version);
    }
    const median = (k: 'best' | 'step' | 'floor'): number =>
      ratios.map((r) => r[k]).sort((x, y) => x - y)[Math.floor(ratios.length / 2)]!;
    const best = median('best');
    console.log(
      `${rounds > 1 ? `median of ${rounds} rounds: ` : ''}ours / best python = ${best.toFixed(3)} ` +
        `(target <= 0.5: ${best <= 0.5 ? 'met' : 'NOT met'}); ours / per-step python = ${median('step').toFixed(3)}; ` +
        `server floor / best python = ${median('floor').toFixed(3)}; load average ${loadavg()
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
