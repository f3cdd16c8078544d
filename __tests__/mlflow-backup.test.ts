/**
 * platform/mlflow/backup/mlflow_dr.py for real: a server with runs, metric histories, artifacts,
 * registered versions and aliases is backed up while a client keeps writing to it, its data is
 * wiped, the archive is restored into a fresh directory and a new server there answers with every
 * run, history, artifact (byte for byte), version and alias, over the REST API. Corrupted and
 * tampered archives are refused before the target is touched. Plus the CronJob as kustomize builds it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
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
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { SCRIPT, corruptCopy, dr, seed, snapshot, whileWriting, type Snapshot } from './helpers/mlflow-dr.js';

describe('MLflow backup and restore', () => {
  let a: MlflowServer;
  let b: MlflowServer | undefined;
  let before: Snapshot;
  let archive: string;
  const work = mkdtempSync(join(tmpdir(), 'mlflow-dr-'));
  const backups = join(work, 'backups');

  beforeAll(async () => {
    a = await startMlflow();
    await seed(a);
    before = await snapshot(new MlflowRest(a.url));
    const res = await whileWriting(a, () =>
      dr([
        'backup',
        `--db=${join(a.dir, 'mlflow', 'mlflow.db')}`,
        `--artifacts=${join(a.dir, 'mlflow', 'artifacts')}`,
        `--dest=${backups}`,
      ]),
    );
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
    const bad = corruptCopy(archive, join(work, 'corrupt'));
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

  it('refuses a flipped byte or a truncated archive even with --force, and the existing store is untouched', async () => {
    const target = join(work, 'kept', 'mlflow');
    mkdirSync(join(target, 'artifacts', '1'), { recursive: true });
    writeFileSync(join(target, 'mlflow.db'), 'the store in place');
    writeFileSync(join(target, 'artifacts', '1', 'model.pkl'), 'an artifact in place');
    const flipped = corruptCopy(archive, join(work, 'flipped'));
    // Truncated with a matching checksum (a copy cut short, then re-summed): only reading it can tell.
    const cut = join(work, 'cut', archive.split('/').pop()!);
    mkdirSync(join(work, 'cut'));
    const bytes = readFileSync(archive);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const digest = createHash('sha256').update(readFileSync(cut)).digest('hex');
    writeFileSync(`${cut}.sha256`, `${digest}  ${cut.split('/').pop()}\n`);
    const flippedRes = await dr(['restore', `--archive=${flipped}`, `--target=${target}`, '--force']);
    const cutRes = await dr(['restore', `--archive=${cut}`, `--target=${target}`, '--force']);
    expect(flippedRes.code).toBe(1);
    expect(flippedRes.err).toMatch(/^error: archive mlflow-backup-\S+ is corrupted: SHA-256/);
    expect(cutRes.code).toBe(1);
    expect(cutRes.err).toMatch(/^error: archive mlflow-backup-\S+ cannot be read: /);
    expect(readFileSync(join(target, 'mlflow.db'), 'utf8')).toBe('the store in place');
    expect(readdirSync(join(target, 'artifacts'), { recursive: true })).toEqual([
      '1',
      join('1', 'model.pkl'),
    ]);
    expect(readFileSync(join(target, 'artifacts', '1', 'model.pkl'), 'utf8')).toBe('an artifact in place');
  });

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

  it('runs the script from its ConfigMap: pg_dump of the PostgreSQL store, mlflow-data read-only, into mlflow-backups', () => {
    const all = docs();
    const job = all.find((d) => d.kind === 'CronJob' && d.metadata.name === 'mlflow-backup')!;
    const pod = job.spec.jobTemplate.spec.template.spec;
    const c = pod.containers[0];
    expect(c.command.slice(0, 3)).toEqual(['python', '/opt/backup/mlflow_dr.py', 'backup']);
    // The server's store: its Service and user, the password only from the Secret (libpq's PGPASSWORD).
    const server = all.find((d) => d.kind === 'Deployment' && d.metadata.name === 'mlflow')!;
    const serverEnv = Object.fromEntries(
      server.spec.template.spec.containers[0].env.map((e: any) => [e.name, e]),
    );
    const uri = new URL(serverEnv.MLFLOW_BACKEND_STORE_URI.value);
    expect(c.command).toContain(
      `--postgres=host=${uri.hostname} port=${uri.port} user=${uri.username} dbname=${uri.pathname.slice(1)}`,
    );
    expect(c.command.join(' ')).not.toMatch(/password/i);
    expect(c.env).toEqual([{ name: 'PGPASSWORD', valueFrom: serverEnv.PGPASSWORD.valueFrom }]);
    // Its pods may reach the database on 5432, and the database lets them in.
    const labels = job.spec.jobTemplate.spec.template.metadata.labels;
    const selects = (sel: any) =>
      Object.entries(sel.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v);
    const policies = all.filter((d) => d.kind === 'NetworkPolicy');
    const own = policies.filter((p) => selects(p.spec.podSelector));
    expect(
      own.map((p) => p.spec.egress.some((r: any) => r.ports?.some((x: any) => x.port === 5432))),
    ).toEqual([true]);
    const db = policies.find((p) => p.metadata.name === uri.hostname)!;
    expect(db.spec.ingress.some((r: any) => r.from.some((f: any) => selects(f.podSelector)))).toBe(true);
    const vols = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    expect(vols.data.persistentVolumeClaim).toEqual({ claimName: 'mlflow-data', readOnly: true });
    expect(vols.backups.persistentVolumeClaim.claimName).toBe('mlflow-backups');
    const cm = all.find((d) => d.kind === 'ConfigMap' && d.metadata.name === vols.script.configMap.name)!;
    expect(cm.data['mlflow_dr.py']).toBe(readFileSync(SCRIPT, 'utf8'));
    expect(all.some((d) => d.kind === 'PersistentVolumeClaim' && d.metadata.name === 'mlflow-backups')).toBe(
      true,
    );
    // Same image as the server (image/Dockerfile), so Python and pg_dump are there.
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

  it("builds that image from image/Dockerfile: the pinned MLflow, requirements.txt's psycopg, and pg_dump", () => {
    const dockerfile = readFileSync(join(ROOT, 'platform', 'mlflow', 'image', 'Dockerfile'), 'utf8');
    const pins = Object.fromEntries(
      readFileSync(join(ROOT, 'requirements.txt'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('=='))
        .map((l) => l.split('==') as [string, string]),
    );
    expect(dockerfile).toMatch(
      new RegExp(`^FROM ghcr\\.io/mlflow/mlflow:v${pins.mlflow!.replace(/\./g, '\\.')}$`, 'm'),
    );
    expect(dockerfile).toContain(`psycopg==${pins.psycopg} psycopg-binary==${pins['psycopg-binary']}`);
    expect(dockerfile).toMatch(/apt-get install .*postgresql-client/);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    const server = docs().find((d) => d.kind === 'Deployment' && d.metadata.name === 'mlflow')!;
    expect(server.spec.template.spec.securityContext.runAsUser).toBe(10001);
  });
});
