/**
 * What the backup-and-restore tests share (sqlite and PostgreSQL stores alike): platform/mlflow/
 * backup/mlflow_dr.py as a child process, a server seeded with runs, metric histories, artifacts,
 * registered versions and aliases, and a snapshot of all of it read over the REST API.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './run-action.js';
import { PYTHON, type MlflowServer } from './mlflow-server.js';
import { MlflowRest, metricsOf, paramsOf, tagsOf } from './mlflow-rest.js';

export const SCRIPT = join(ROOT, 'platform', 'mlflow', 'backup', 'mlflow_dr.py');
export const MODEL = 'backup-iris';
const ARTIFACTS = ['model/weights.bin', 'model/MLmodel', 'reports/metrics.json'];

export interface Ran {
  code: number | null;
  out: string;
  err: string;
}

export function dr(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, [SCRIPT, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

export interface Snapshot {
  runs: Record<string, { name: string; status: string; metrics: object; params: object; tags: object }>;
  histories: Record<string, { step: number; value: number; timestamp: number }[]>;
  artifacts: Record<string, string>;
  versions: { version: string; source: string; run_id: string; status: string }[];
  aliases: Record<string, string | undefined>;
}

/** Everything a restore must bring back, read over the REST API. */
export async function snapshot(rest: MlflowRest): Promise<Snapshot> {
  const runs = (await rest.runsOf('backup')).sort((a, b) => a.info.run_id.localeCompare(b.info.run_id));
  const snap: Snapshot = { runs: {}, histories: {}, artifacts: {}, versions: [], aliases: {} };
  for (const run of runs) {
    const id = run.info.run_id;
    const tags = tagsOf(run);
    snap.runs[id] = {
      name: tags['mlflow.runName']!,
      status: run.info.status,
      metrics: metricsOf(run),
      params: paramsOf(run),
      tags,
    };
    for (const key of Object.keys(metricsOf(run))) {
      const h = await rest.call<{ metrics: { step: number; value: number; timestamp: number }[] }>(
        'GET',
        '/metrics/get-history',
        { run_id: id, metric_key: key },
      );
      snap.histories[`${id}/${key}`] = h.metrics.map(({ step, value, timestamp }) => ({
        step,
        value,
        timestamp,
      }));
    }
    for (const path of ARTIFACTS) {
      const bytes = await rest.artifact(id, path);
      snap.artifacts[`${id}/${path}`] = createHash('sha256').update(bytes).digest('hex');
    }
  }
  snap.versions = (await rest.versions(MODEL)).sort((a, b) => Number(a.version) - Number(b.version));
  for (const alias of ['champion', 'prod', 'challenger'])
    snap.aliases[alias] = await rest.alias(MODEL, alias);
  return snap;
}

async function upload(server: MlflowServer, artifactUri: string, path: string, body: Buffer): Promise<void> {
  const base = artifactUri.replace(/^mlflow-artifacts:\//, '');
  const res = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${base}/${path}`, {
    method: 'PUT',
    body,
  });
  if (!res.ok) throw new Error(`upload ${path}: ${res.status} ${await res.text()}`);
}

/** Experiment `backup`: three finished runs (40-step histories, artifacts), three versions, two aliases. */
export async function seed(server: MlflowServer): Promise<void> {
  const rest = new MlflowRest(server.url);
  const { experiment_id } = await rest.call<{ experiment_id: string }>('POST', '/experiments/create', {
    name: 'backup',
  });
  await rest.call('POST', '/registered-models/create', { name: MODEL });
  for (let r = 0; r < 3; r++) {
    const { run } = await rest.call<{ run: { info: { run_id: string; artifact_uri: string } } }>(
      'POST',
      '/runs/create',
      { experiment_id, run_name: `train-${r}`, start_time: 1_700_000_000_000 + r },
    );
    const id = run.info.run_id;
    const steps = Array.from({ length: 40 }, (_, s) => s);
    await rest.call('POST', '/runs/log-batch', {
      run_id: id,
      metrics: steps.flatMap((s) => [
        { key: 'loss', value: 1 / (s + 1 + r), timestamp: 1_700_000_000_000 + s, step: s },
        { key: 'val_accuracy', value: 0.5 + s / 100 - r / 50, timestamp: 1_700_000_000_000 + s, step: s },
      ]),
      params: [
        { key: 'lr', value: String(0.1 / (r + 1)) },
        { key: 'max_depth', value: String(3 + r) },
      ],
      tags: [{ key: 'team', value: 'ml' }],
    });
    await upload(server, run.info.artifact_uri, 'model/weights.bin', randomBytes(256 * 1024 + r));
    await upload(server, run.info.artifact_uri, 'model/MLmodel', Buffer.from(`flavors: {}\nrun_id: ${id}\n`));
    await upload(server, run.info.artifact_uri, 'reports/metrics.json', Buffer.from(JSON.stringify({ r })));
    await rest.call('POST', '/runs/update', { run_id: id, status: 'FINISHED', end_time: 1_700_000_100_000 });
    await rest.call('POST', '/model-versions/create', {
      name: MODEL,
      source: `${run.info.artifact_uri}/model`,
      run_id: id,
    });
  }
  await rest.setAlias(MODEL, 'champion', '2');
  await rest.setAlias(MODEL, 'prod', '3');
}

/** Runs `work` while a client keeps logging to the server (a run of its own, not compared). */
export async function whileWriting<T>(server: MlflowServer, work: () => Promise<T>): Promise<T> {
  const rest = new MlflowRest(server.url);
  const { run } = await rest.call<{ run: { info: { run_id: string } } }>('POST', '/runs/create', {
    experiment_id: '0',
  });
  let writing = true;
  let written = 0;
  const writer = (async () => {
    for (let s = 0; writing; s++, written++) {
      await rest.call('POST', '/runs/log-metric', {
        run_id: run.info.run_id,
        key: 'live',
        value: s,
        timestamp: Date.now(),
        step: s,
      });
    }
  })();
  let result: T;
  try {
    result = await work();
  } finally {
    writing = false;
    await writer;
  }
  if (written === 0) throw new Error('the writer logged nothing while the work ran: not a live backup');
  return result;
}

/** A copy of `archive` (with its .sha256) in `dir` with one byte flipped in the middle. */
export function corruptCopy(archive: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const bad = join(dir, archive.split('/').pop()!);
  const bytes = readFileSync(archive);
  const mid = Math.floor(bytes.length / 2);
  bytes[mid] = bytes[mid]! ^ 0xff;
  writeFileSync(bad, bytes);
  cpSync(`${archive}.sha256`, `${bad}.sha256`);
  return bad;
}
