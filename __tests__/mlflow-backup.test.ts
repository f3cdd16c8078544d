/**
 * platform/mlflow/backup/mlflow_dr.py for real: a server with runs, metric histories, artifacts,
 * registered versions and aliases is backed up while a client keeps writing to it, its data is
 * wiped, the archive is restored into a fresh directory and a new server there answers with every
 * run, history, artifact (byte for byte), version and alias, over the REST API. Corrupted and
 * tampered archives are refused before the target is touched. Plus the CronJob as kustomize builds it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './helpers/run-action.js';
import { PYTHON, startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest, metricsOf, paramsOf, tagsOf } from './helpers/mlflow-rest.js';

const SCRIPT = join(ROOT, 'platform', 'mlflow', 'backup', 'mlflow_dr.py');

function dr(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

interface Snapshot {
  runs: Record<string, { name: string; status: string; metrics: object; params: object; tags: object }>;
  histories: Record<string, { step: number; value: number; timestamp: number }[]>;
  artifacts: Record<string, string>;
  versions: { version: string; source: string; run_id: string; status: string }[];
  aliases: Record<string, string | undefined>;
}

const MODEL = 'backup-iris';
const ARTIFACTS = ['model/weights.bin', 'model/MLmodel', 'reports/metrics.json'];

/** Everything a restore must bring back, read over the REST API. */
async function snapshot(rest: MlflowRest): Promise<Snapshot> {
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

describe('MLflow backup and restore', () => {
  let a: MlflowServer;
  let b: MlflowServer | undefined;
  let before: Snapshot;
  let archive: string;
  const work = mkdtempSync(join(tmpdir(), 'mlflow-dr-'));
  const backups = join(work, 'backups');

  beforeAll(async () => {
    a = await startMlflow();
    const rest = new MlflowRest(a.url);
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
      await upload(a, run.info.artifact_uri, 'model/weights.bin', randomBytes(256 * 1024 + r));
      await upload(a, run.info.artifact_uri, 'model/MLmodel', Buffer.from(`flavors: {}\nrun_id: ${id}\n`));
      await upload(a, run.info.artifact_uri, 'reports/metrics.json', Buffer.from(JSON.stringify({ r })));
      await rest.call('POST', '/runs/update', {
        run_id: id,
        status: 'FINISHED',
        end_time: 1_700_000_100_000,
      });
      await rest.call('POST', '/model-versions/create', {
        name: MODEL,
        source: `${run.info.artifact_uri}/model`,
        run_id: id,
      });
    }
    await rest.setAlias(MODEL, 'champion', '2');
    await rest.setAlias(MODEL, 'prod', '3');
    before = await snapshot(rest);

    // Back up while a client keeps writing to the server (a run of its own, not compared).
    const { run: live } = await rest.call<{ run: { info: { run_id: string } } }>('POST', '/runs/create', {
      experiment_id: '0',
    });
    let writing = true;
    const writer = (async () => {
      for (let s = 0; writing; s++) {
        await rest.call('POST', '/runs/log-metric', {
          run_id: live.info.run_id,
          key: 'live',
          value: s,
          timestamp: Date.now(),
          step: s,
        });
      }
    })();
    const res = await dr([
      'backup',
      `--db=${join(a.dir, 'mlflow', 'mlflow.db')}`,
      `--artifacts=${join(a.dir, 'mlflow', 'artifacts')}`,
      `--dest=${backups}`,
    ]);
    writing = false;
    await writer;
    expect(res).toMatchObject({ code: 0, err: '' });
    archive = res.out.trim();

    // The data is lost: server gone, its directory wiped.
    await a.stop();
    rmSync(a.dir, { recursive: true, force: true });
  }, 240_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('writes one timestamped archive with its SHA-256 beside it', () => {
    expect(archive).toMatch(/\/mlflow-backup-\d{8}T\d{12}Z\.tar\.gz$/);
    expect(readdirSync(backups).sort()).toEqual([
      archive.split('/').pop(),
      `${archive.split('/').pop()}.sha256`,
    ]);
    const digest = createHash('sha256').update(readFileSync(archive)).digest('hex');
    expect(readFileSync(`${archive}.sha256`, 'utf8').split(/\s+/)[0]).toBe(digest);
  });

  it('refuses a corrupted archive with a clear error and leaves the target alone', async () => {
    const bad = join(work, 'corrupt', archive.split('/').pop()!);
    mkdirSync(join(work, 'corrupt'));
    const bytes = readFileSync(archive);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = bytes[mid]! ^ 0xff;
    writeFileSync(bad, bytes);
    cpSync(`${archive}.sha256`, `${bad}.sha256`);
    const target = join(work, 'corrupt-target');
    const res = await dr(['restore', `--archive=${bad}`, `--target=${target}`]);
    expect(res.code).toBe(1);
    expect(res.err).toMatch(
      /^error: archive mlflow-backup-\S+ is corrupted: SHA-256 [0-9a-f]{64} does not match/,
    );
    expect(existsSync(join(target, 'mlflow.db'))).toBe(false);
  });

  it('refuses an archive whose content was changed and re-checksummed (the manifest check)', async () => {
    const dir = join(work, 'tampered');
    mkdirSync(join(dir, 'x'), { recursive: true });
    expect(spawnSync('tar', ['-xzf', archive, '-C', join(dir, 'x')]).status).toBe(0);
    const [id] = Object.keys(before.runs);
    const exp = before.versions[0]!.source.split('/')[1]!;
    writeFileSync(join(dir, 'x', 'artifacts', exp, id!, 'artifacts', 'reports', 'metrics.json'), '{"r": 9}');
    const name = archive.split('/').pop()!;
    expect(spawnSync('tar', ['-czf', join(dir, name), '-C', join(dir, 'x'), '.']).status).toBe(0);
    const digest = createHash('sha256')
      .update(readFileSync(join(dir, name)))
      .digest('hex');
    writeFileSync(join(dir, `${name}.sha256`), `${digest}  ${name}\n`);
    const res = await dr(['restore', `--archive=${join(dir, name)}`, `--target=${join(dir, 'target')}`]);
    expect(res.code).toBe(1);
    expect(res.err).toContain('reports/metrics.json does not match its SHA-256 in the manifest');
    expect(existsSync(join(dir, 'target', 'mlflow.db'))).toBe(false);
  });

  it('restores into a fresh server: every run, history, artifact, version and alias is back', async () => {
    const home = join(work, 'restored');
    const res = await dr(['restore', `--archive=${archive}`, `--target=${join(home, 'mlflow')}`]);
    expect(res).toMatchObject({ code: 0, err: '' });
    b = await startMlflow({ dir: home });
    const after = await snapshot(new MlflowRest(b.url));
    expect(Object.keys(after.runs)).toHaveLength(3);
    expect(Object.values(after.histories).every((h) => h.length === 40)).toBe(true);
    expect(after.versions).toHaveLength(3);
    expect(after.aliases).toEqual({ champion: '2', prod: '3', challenger: undefined });
    expect(after).toEqual(before);
  }, 120_000);

  it('will not overwrite an existing store without --force', async () => {
    const res = await dr(['restore', `--archive=${archive}`, `--target=${join(work, 'restored', 'mlflow')}`]);
    expect(res.code).toBe(1);
    expect(res.err).toMatch(
      /--target \S+ already has artifacts, mlflow\.db: stop the server and pass --force/,
    );
  });
});

/* eslint-disable @typescript-eslint/no-explicit-any -- walking kustomize output as plain YAML */
describe('the backup CronJob', () => {
  const docs = () => {
    const r = spawnSync(
      join(ROOT, '.tools', 'bin', 'kustomize'),
      ['build', join(ROOT, 'platform', 'control-plane')],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(0);
    return parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, any>);
  };

  it('runs the script from its ConfigMap against mlflow-data read-only, into mlflow-backups', () => {
    const all = docs();
    const job = all.find((d) => d.kind === 'CronJob' && d.metadata.name === 'mlflow-backup')!;
    const pod = job.spec.jobTemplate.spec.template.spec;
    const c = pod.containers[0];
    expect(c.command.slice(0, 3)).toEqual(['python', '/opt/backup/mlflow_dr.py', 'backup']);
    const vols = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    expect(vols.data.persistentVolumeClaim).toEqual({ claimName: 'mlflow-data', readOnly: true });
    expect(vols.backups.persistentVolumeClaim.claimName).toBe('mlflow-backups');
    const cm = all.find((d) => d.kind === 'ConfigMap' && d.metadata.name === vols.script.configMap.name)!;
    expect(cm.data['mlflow_dr.py']).toBe(readFileSync(SCRIPT, 'utf8'));
    expect(all.some((d) => d.kind === 'PersistentVolumeClaim' && d.metadata.name === 'mlflow-backups')).toBe(
      true,
    );
    // Same image as the server, so sqlite3 and the server's Python are there.
    const server = all.find((d) => d.kind === 'Deployment' && d.metadata.name === 'mlflow')!;
    expect(c.image).toBe(server.spec.template.spec.containers[0].image);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources.limits).toBeDefined();
    expect(pod.automountServiceAccountToken).toBe(false);
  });
});
