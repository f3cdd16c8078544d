/**
 * Logs one fixed workload (50 params, 100 metrics x 100 steps, 200 small files, one 20 MB file,
 * one registered model version) to one real `mlflow server`, four ways in each round: our
 * TypeScript client; MLflow's Python client as most examples use it (mlflow.log_metrics per step);
 * the best a Python user writes (MlflowClient().log_batch in chunks of 1,000 and log_artifact from
 * a ThreadPoolExecutor); and the server's ingest floor (the same requests from a raw client). It
 * prints the times, request counts, the CPU time the server spent on each, and the ratios; the
 * target is ours <= 0.5x the best Python.
 *
 *   npx tsx bench/mlflow-logging.ts [--metric-style log_metrics|log_metric] [--rounds N] [--verbose] [--keep]
 *     [--backend sqlite|postgres] [--workers N]   the server (platform/mlflow: postgres, 2 workers)
 *     [--streams N] [--uploads N]                 our client's log-batch streams and uploads in flight
 *     [--isolate] [--no-per-step] [--only ours,best,floor,floorMetrics,floorMetricsByStep,floorFiles]
 *
 * Times cover the logging only: not starting Node or Python, not `import mlflow` (printed apart).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { MlflowClient } from '../actions/shared/mlflow/index.js';
import { listLocalFiles, mapLimit } from '../actions/shared/mlflow/artifacts.js';
import { planBatches, splitBatch } from '../actions/shared/mlflow/batch.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { PYTHON, startMlflow } from '../__tests__/helpers/mlflow-server.js';
import { startPostgres } from '../__tests__/helpers/postgres.js';
import { ROOT } from '../__tests__/helpers/run-action.js';

const exec = promisify(execFile);
const args = process.argv.slice(2);
const metricStyle = args.includes('--metric-style')
  ? args[args.indexOf('--metric-style') + 1]!
  : 'log_metrics';
const keep = args.includes('--keep');
const verbose = args.includes('--verbose');
const opt = (name: string): string | undefined =>
  args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
const rounds = Math.max(1, Number(opt('--rounds') ?? 1));
/** The server as deployed: sqlite or PostgreSQL (platform/mlflow's store), and uvicorn workers. */
const backend = opt('--backend') ?? 'sqlite';
const workers = Math.max(1, Number(opt('--workers') ?? 1));
/** Our client's knobs (transport.ts defaults: 4 log-batch streams, 8 uploads in flight). */
const streams = Math.max(1, Number(opt('--streams') ?? 4));
const uploads = Math.max(1, Number(opt('--uploads') ?? 8));
/** Also time the floor's metrics alone and files alone, to see which one the server spends on. */
const isolate = args.includes('--isolate');
/** Skip the per-step Python variant (slowest, and not what the target is measured against). */
const noStep = args.includes('--no-per-step');
if (!['sqlite', 'postgres'].includes(backend)) throw new Error(`--backend sqlite|postgres, not ${backend}`);

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
  const client = new MlflowClient({
    ...mlflowSettings({}, trackingUri),
    logBatchStreams: streams,
    uploadConcurrency: uploads,
  });
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

const putAgent = new Agent({ keepAlive: true, maxSockets: uploads });

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

/** The plainest JSON client of the tracking API: fetch, no retries, counting its requests. */
interface RawApi {
  /** `<tracking URI>/api/2.0/mlflow` */
  base: string;
  requests: number;
  post: <T>(path: string, body: unknown) => Promise<T>;
}

function rawApi(trackingUri: string): RawApi {
  const api: RawApi = {
    base: `${trackingUri}/api/2.0/mlflow`,
    requests: 0,
    post: async <T>(path: string, body: unknown): Promise<T> => {
      api.requests++;
      const res = await fetch(`${api.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
  };
  return api;
}

/** The workload's files read into memory (before the floor's clock starts), with their artifact paths. */
async function readWorkloadFiles(dir: string): Promise<{ dest: string; data: Buffer }[]> {
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
  return files;
}

type Metric = { key: string; value: number; step: number; timestamp: number };
type Param = { key: string; value: string };

/**
 * The log-batch bodies, serialised, per stream: the same streams of batches our client sends
 * (batch.ts planBatches); 'metricsByStep' gives what it sent before the key grouping: each
 * stream's values in step order, ~25 keys a request.
 */
function floorBodies(runId: string, metrics: Metric[], params: Param[], byStep: boolean): string[][] {
  return (
    byStep
      ? Array.from({ length: streams }, (_, s) =>
          splitBatch(runId, {
            metrics: metrics.filter((m) => Number(m.key.slice(7)) % streams === s),
            ...(s === 0 ? { params } : {}),
          }),
        )
      : planBatches(runId, { metrics, params }, streams)
  ).map((reqs) => reqs.map((b) => JSON.stringify(b)));
}

/** Polls the model version every 50 ms until READY, each poll counted as a request. */
async function waitReadyRaw(api: RawApi, name: string, version: string): Promise<void> {
  for (;;) {
    api.requests++;
    const res = await fetch(`${api.base}/model-versions/get?name=${name}&version=${version}`);
    const mv = (await res.json()) as { model_version: { status: string } };
    if (mv.model_version.status === 'READY') break;
    await new Promise((r) => setTimeout(r, 50));
  }
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
  parts: 'all' | 'metrics' | 'metricsByStep' | 'files' = 'all',
): Promise<{ seconds: number; requests: number; runId: string; version: string }> {
  const api = rawApi(trackingUri);
  const post = api.post;
  const files = await readWorkloadFiles(dir);
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
  const bodies = floorBodies(runId, metrics, params, parts === 'metricsByStep');
  const root = `${trackingUri}/api/2.0/mlflow-artifacts/artifacts/${run.info.artifact_uri.replace(/^mlflow-artifacts:\/+/, '')}`;
  const phases: Record<string, number> = {};
  const timed = async (phase: string, p: Promise<unknown>): Promise<void> => {
    const s = performance.now();
    await p;
    phases[phase] = (performance.now() - s) / 1000;
  };
  await Promise.all([
    parts !== 'files' &&
      timed(
        'metrics+params',
        Promise.all(
          bodies.map(async (stream) => {
            for (const body of stream) await post('/runs/log-batch', body);
          }),
        ),
      ),
    (parts === 'all' || parts === 'files') &&
      timed(
        'files+model',
        mapLimit(files, uploads, async ({ dest, data }) => {
          api.requests++;
          const status = await rawPut(`${root}/${dest}`, data);
          if (status !== 200) throw new Error(`PUT ${dest}: HTTP ${status}`);
        }),
      ),
    parts === 'all' && post('/registered-models/create', { name }),
  ]);
  // Isolated parts (--isolate) are timed without the run's end and the model version.
  if (parts !== 'all')
    return { seconds: (performance.now() - start) / 1000, requests: api.requests, runId, version: '' };
  const { model_version } = await post<{ model_version: { version: string } }>('/model-versions/create', {
    name,
    source: `${run.info.artifact_uri}/model`,
    run_id: runId,
  });
  await post('/runs/update', { run_id: runId, status: 'FINISHED', end_time: Date.now() });
  await waitReadyRaw(api, name, model_version.version);
  if (verbose) console.log('floor phases:', phases);
  return {
    seconds: (performance.now() - start) / 1000,
    requests: api.requests,
    runId,
    version: model_version.version,
  };
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

/**
 * CPU seconds used so far by the processes under `roots` (their own and their reaped children's,
 * from /proc): what the server spent, whatever share of the machine's cores it was given.
 */
function treeCpuSeconds(roots: number[]): number {
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // After "pid (comm) ": state ppid ... utime(11) stime(12) cutime(13) cstime(14).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    procs.set(Number(name), {
      ppid: Number(f[1]),
      ticks: [11, 12, 13, 14].reduce((t, i) => t + Number(f[i]), 0),
    });
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid; p > 1; p = procs.get(p)?.ppid ?? 0) if (roots.includes(p)) return true;
    return false;
  };
  let ticks = 0;
  for (const [pid, p] of procs) if (inTree(pid)) ticks += p.ticks;
  return ticks / 100; // USER_HZ
}

/** The postmaster listening on `port` (helpers/postgres.ts does not hand out its pid). */
function postgresPid(port: number): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('/postgres') && argv.includes(String(port))) return Number(name);
    } catch {
      /* exited meanwhile */
    }
  }
  throw new Error(`no postgres process on port ${port}`);
}

interface Server {
  url: string;
  /** The server's process trees: mlflow (with its uvicorn workers) and PostgreSQL's postmaster. */
  pids: number[];
  stop: () => Promise<void>;
}

/** The server as the flags ask: sqlite, or PostgreSQL started here (the password via PGPASSWORD). */
async function startServer(dir: string): Promise<Server> {
  if (backend === 'sqlite') {
    const server = await startMlflow({ dir, workers });
    return { url: server.url, pids: [server.process.pid!], stop: server.stop };
  }
  const pg = await startPostgres();
  pg.createDatabase('mlflow');
  const server = await startMlflow({
    dir,
    workers,
    backendStoreUri: pg.urlWithoutPassword('mlflow'),
    env: { PGPASSWORD: pg.password },
  }).catch(async (err: unknown) => {
    await pg.stop();
    throw err;
  });
  return {
    url: server.url,
    pids: [server.process.pid!, postgresPid(pg.port)],
    stop: async () => {
      await server.stop();
      await pg.stop();
    },
  };
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

type Job = 'ours' | 'step' | 'best' | 'floor' | 'floorMetrics' | 'floorMetricsByStep' | 'floorFiles';

/** The contestants of one round, by job name. */
function jobsFor(url: string, w: string, round: number) {
  return {
    ours: () => ours(url, w, round),
    step: () => python(url, w, `bench-python-${round}`, metricStyle),
    best: () => python(url, w, `bench-python-batch-${round}`, 'batch'),
    floor: () => floor(url, w, `bench-floor-${round}`),
    floorMetrics: () => floor(url, w, `bench-floor-metrics-${round}`, 'metrics'),
    floorMetricsByStep: () => floor(url, w, `bench-floor-metrics-by-step-${round}`, 'metricsByStep'),
    floorFiles: () => floor(url, w, `bench-floor-files-${round}`, 'files'),
  };
}
type JobResults = Partial<{ [K in Job]: Awaited<ReturnType<ReturnType<typeof jobsFor>[K]>> }>;
type Ratios = { best: number; step?: number; floor: number; oursFloor: number };
/** Per job, one figure per round, in the order the jobs first ran. */
type Series = Record<string, number[]>;

/** The jobs the flags ask for; `only` is set by --only (a quicker sweep of one knob: no ratios, no checks of the missing ones). */
function jobNames(): { names: Job[]; only: Job[] | undefined } {
  const names: Job[] = ['ours', 'best', 'floor'];
  if (!noStep) names.splice(1, 0, 'step');
  if (isolate) names.push('floorMetrics', 'floorFiles');
  const only = opt('--only')?.split(',') as Job[] | undefined;
  if (only) names.splice(0, names.length, ...only);
  return { names, only };
}

/** A small untimed run first, so neither side pays for the fresh server's first requests. */
async function warmUp(probe: MlflowClient, work: string): Promise<void> {
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
}

/** One round: each job in turn, with the server CPU it caused; appends to `times` and `serverCpu`. */
async function runRound(
  server: Server,
  work: string,
  round: number,
  names: Job[],
  label: string,
  times: Series,
  serverCpu: Series,
): Promise<{ res: JobResults; cpu: Partial<Record<string, number>> }> {
  const jobs = jobsFor(server.url, join(work, 'workload'), round);
  // Rotate who goes first, so nobody always meets the server in the same state.
  const order = names.map((_, i, all) => all[(i + round - 1) % all.length]!);
  const res: JobResults = {};
  const cpu: Partial<Record<string, number>> = {};
  for (const k of order) {
    const before = treeCpuSeconds(server.pids);
    (res as Record<string, unknown>)[k] = await jobs[k]().catch((err: unknown) => {
      throw new Error(`${label}${k}: ${String(err)}`, { cause: err });
    });
    cpu[k] = treeCpuSeconds(server.pids) - before;
    (times[k] ??= []).push(res[k]!.seconds);
    (serverCpu[k] ??= []).push(cpu[k]);
  }
  return { res, cpu };
}

/** "1.23 s, 45 HTTP requests[, server CPU 0.67 s]" */
function fmt(
  r: { seconds: number; requests: number },
  cpu: Partial<Record<string, number>>,
  k?: string,
): string {
  return (
    `${r.seconds.toFixed(2)} s, ${r.requests} HTTP requests` +
    (k && cpu[k] !== undefined ? `, server CPU ${cpu[k].toFixed(2)} s` : '')
  );
}

/** Prints a full round's lines (every contestant, then the ratios) and returns the ratios. */
function reportRound(label: string, res: JobResults, cpu: Partial<Record<string, number>>): Ratios {
  const { ours: ts, step, best, floor: fl } = res as Required<typeof res>;
  const r = {
    best: ts.seconds / best.seconds,
    ...(step ? { step: ts.seconds / step.seconds } : {}),
    floor: fl.seconds / best.seconds,
    oursFloor: ts.seconds / fl.seconds,
  };
  console.log(`${label}ours:            ${fmt(ts, cpu, 'ours')}`);
  if (step)
    console.log(`${label}python per-step: ${fmt(step, cpu, 'step')} (mlflow.${metricStyle} per step)`);
  console.log(
    `${label}python best:     ${fmt(best, cpu, 'best')} (MlflowClient.log_batch x1000, threaded log_artifact; ` +
      `'import mlflow' took another ${best.import_seconds.toFixed(2)} s)`,
  );
  console.log(
    `${label}server floor:    ${fmt(fl, cpu, 'floor')} (same batches and files from a raw client, no client logic)`,
  );
  if (res.floorMetrics && res.floorFiles)
    console.log(
      `${label}floor, isolated: metrics+params alone ${fmt(res.floorMetrics, cpu, 'floorMetrics')}; ` +
        `files+model alone ${fmt(res.floorFiles, cpu, 'floorFiles')}`,
    );
  if (verbose) console.log(`${label}python phases:`, step?.phases, best.phases);
  console.log(
    `${label}ratios: ours/best-python = ${r.best.toFixed(3)}, ` +
      (r.step !== undefined ? `ours/per-step-python = ${r.step.toFixed(3)}, ` : '') +
      `floor/best-python = ${r.floor.toFixed(3)}, ours/floor = ${r.oursFloor.toFixed(3)}`,
  );
  return r;
}

/** Checks that every full-workload run of the round holds the whole workload. */
async function verifyRound(probe: MlflowClient, res: JobResults, round: number): Promise<void> {
  const { ours: ts, step, best, floor: fl } = res as Required<typeof res>;
  await verify(probe, ts.runId, `bench-ours-${round}`, ts.version);
  if (step) await verify(probe, step.run_id, `bench-python-${round}`, step.version);
  await verify(probe, best.run_id, `bench-python-batch-${round}`, best.version);
  await verify(probe, fl.runId, `bench-floor-${round}`, fl.version);
}

/** The medians over the rounds: times and server CPU of every job, then (without --only) the ratios. */
function reportSummary(times: Series, serverCpu: Series, ratios: Ratios[], only: Job[] | undefined): void {
  const med = (k: keyof Ratios): number =>
    median(ratios.map((r) => r[k]).filter((x): x is number => x !== undefined));
  const pre = rounds > 1 ? `median of ${rounds} rounds` : 'one round';
  console.log(
    `${pre} (${backend}, ${workers} worker(s), ${streams} log-batch streams, ${uploads} uploads): ` +
      Object.entries(times)
        .map(([k, v]) => `${k} ${median(v).toFixed(2)} s (server CPU ${median(serverCpu[k]!).toFixed(2)} s)`)
        .join(', '),
  );
  if (only) return;
  const best = med('best');
  console.log(
    `${pre}: ours / best python = ${best.toFixed(3)} (target <= 0.5: ${best <= 0.5 ? 'met' : 'NOT met'}); ` +
      `server floor / best python = ${med('floor').toFixed(3)}; ours / floor = ${med('oursFloor').toFixed(3)}` +
      (noStep ? '' : `; ours / per-step python = ${med('step').toFixed(3)}`) +
      `; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${cpus().length} CPUs`,
  );
  console.log(
    'Every run verified: 50 params, every metric step, 200 small files, the 20 MB file, a READY model version.',
  );
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mlflow-bench-'));
  process.stdout.write(
    `Preparing workload and starting mlflow server (${backend}, ${workers} worker(s))... `,
  );
  mkdirSync(join(work, 'server'));
  // The server's GenAI job runner (unused here) starts seven Python worker processes in its first
  // minute; on a small machine that start-up would land on whichever client runs first.
  process.env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION ??= 'false';
  const [server] = await Promise.all([
    startServer(join(work, 'server')),
    makeWorkload(join(work, 'workload')),
  ]);
  console.log(`up at ${server.url}`);
  try {
    const probe = new MlflowClient(mlflowSettings({}, server.url));
    await warmUp(probe, work);
    const times: Series = {};
    const serverCpu: Series = {};
    const ratios: Ratios[] = [];
    const { names, only } = jobNames();
    for (let round = 1; round <= rounds; round++) {
      const label = rounds > 1 ? `[round ${round}] ` : '';
      const { res, cpu } = await runRound(server, work, round, names, label, times, serverCpu);
      if (only) {
        console.log(`${label}${only.map((k) => `${k} ${fmt(res[k]!, cpu, k)}`).join('; ')}`);
        continue;
      }
      ratios.push(reportRound(label, res, cpu));
      await verifyRound(probe, res, round);
    }
    reportSummary(times, serverCpu, ratios, only);
  } finally {
    await server.stop();
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
