/**
 * MLflow on PostgreSQL, the production backend in platform/mlflow, backed up and restored for
 * real: the pinned MLflow serves from a throwaway PostgreSQL 15 (helpers/postgres.ts) with runs,
 * metric histories, artifacts, registered versions and aliases; mlflow_dr.py backs it up with
 * pg_dump while a client keeps writing; the database is dropped and the artifacts wiped; the
 * archive is restored with pg_restore into a new database and a new server answers with
 * everything as before. Corrupted archives and unsafe or wrong arguments are refused clearly.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { PG_BIN, startPostgres, type Postgres } from './helpers/postgres.js';
import { corruptCopy, dr, seed, snapshot, whileWriting, type Snapshot } from './helpers/mlflow-dr.js';

describe('MLflow on PostgreSQL: backup and restore', () => {
  let pg: Postgres;
  let a: MlflowServer | undefined;
  let b: MlflowServer | undefined;
  let before: Snapshot;
  let archive: string;
  let pgEnv: Record<string, string>;
  const work = mkdtempSync(join(tmpdir(), 'mlflow-dr-pg-'));
  const conn = (db: string): string => `host=${pg.host} port=${pg.port} user=${pg.user} dbname=${db}`;

  beforeAll(async () => {
    pg = await startPostgres();
    // The client tools from the same PostgreSQL, and the password only in libpq's variable.
    pgEnv = { PATH: `${PG_BIN}:${process.env.PATH}`, PGPASSWORD: pg.password };
    pg.createDatabase('mlflow');
    // As platform/mlflow runs it: no password in the store URI, PGPASSWORD in the environment.
    a = await startMlflow({
      backendStoreUri: pg.urlWithoutPassword('mlflow'),
      env: { PGPASSWORD: pg.password },
    });
    await seed(a);
    before = await snapshot(new MlflowRest(a.url));
    const res = await whileWriting(a, () =>
      dr(
        [
          'backup',
          `--postgres=${conn('mlflow')}`,
          `--artifacts=${join(a!.dir, 'mlflow', 'artifacts')}`,
          `--dest=${join(work, 'backups')}`,
        ],
        pgEnv,
      ),
    );
    expect(res).toMatchObject({ code: 0, err: '' });
    archive = res.out.trim();
    // The data is lost: server gone, database dropped, artifacts wiped.
    await a.stop();
    pg.dropDatabase('mlflow');
    rmSync(a.dir, { recursive: true, force: true });
  }, 300_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await pg?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('was serving from PostgreSQL, and the archive holds a pg_dump custom-format dump', () => {
    expect(Object.keys(before.runs)).toHaveLength(3);
    expect(archive).toMatch(/\/mlflow-backup-\d{8}T\d{12}Z\.tar\.gz$/);
    const list = pg.sql('postgres', "SELECT datname FROM pg_database WHERE datname = 'mlflow'");
    expect(list.trim()).toBe(''); // dropped: nothing below comes from the old database
  });

  it('refuses a corrupted archive with a clear error and creates nothing', async () => {
    pg.createDatabase('untouched');
    const bad = corruptCopy(archive, join(work, 'corrupt'));
    const target = join(work, 'corrupt-target');
    const res = await dr(
      ['restore', `--archive=${bad}`, `--target=${target}`, `--postgres=${conn('untouched')}`],
      pgEnv,
    );
    expect(res.code).toBe(1);
    expect(res.err).toMatch(
      /^error: archive mlflow-backup-\S+ is corrupted: SHA-256 [0-9a-f]{64} does not match/,
    );
    expect(pg.sql('untouched', "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").trim()).toBe(
      '0',
    );
    expect(existsSync(join(target, 'artifacts'))).toBe(false);
  });

  it('refuses a password in --postgres (argv is public) and never prints it', async () => {
    const res = await dr([
      'backup',
      `--postgres=${pg.url('mlflow')}`,
      `--artifacts=${work}`,
      `--dest=${join(work, 'never')}`,
    ]);
    expect(res.code).toBe(1);
    expect(res.err).toBe(
      'error: --postgres: contains a password; put it in PGPASSWORD or ~/.pgpass instead\n',
    );
    expect(res.err).not.toContain(pg.password);
    expect(existsSync(join(work, 'never'))).toBe(false);
  });

  it('needs --postgres to restore a PostgreSQL archive', async () => {
    const res = await dr(['restore', `--archive=${archive}`, `--target=${join(work, 'no-db')}`], pgEnv);
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/holds a PostgreSQL dump: pass --postgres with the new database/);
  });

  it('restores into a new database and a new server: every run, history, artifact, version and alias', async () => {
    pg.createDatabase('mlflow_restored');
    const home = join(work, 'restored');
    const res = await dr(
      [
        'restore',
        `--archive=${archive}`,
        `--target=${join(home, 'mlflow')}`,
        `--postgres=${conn('mlflow_restored')}`,
      ],
      pgEnv,
    );
    expect(res).toMatchObject({ code: 0, err: '' });
    b = await startMlflow({
      dir: home,
      backendStoreUri: pg.urlWithoutPassword('mlflow_restored'),
      env: { PGPASSWORD: pg.password },
    });
    const after = await snapshot(new MlflowRest(b.url));
    expect(Object.keys(after.runs)).toHaveLength(3);
    expect(Object.values(after.histories).every((h) => h.length === 40)).toBe(true);
    expect(after.versions).toHaveLength(3);
    expect(after.aliases).toEqual({ champion: '2', prod: '3', challenger: undefined });
    expect(after).toEqual(before);
    // The restored server takes new writes (its sequences and migrations came back too).
    const rest = new MlflowRest(b.url);
    await rest.setAlias('backup-iris', 'challenger', '1');
    expect(await rest.alias('backup-iris', 'challenger')).toBe('1');
  }, 180_000);

  it('will not restore over a database that has tables without --force', async () => {
    const res = await dr(
      [
        'restore',
        `--archive=${archive}`,
        `--target=${join(work, 'again')}`,
        `--postgres=${conn('mlflow_restored')}`,
      ],
      pgEnv,
    );
    expect(res.code).toBe(1);
    expect(res.err).toMatch(
      /--postgres: the database already has \d+ tables: restore into a new, empty database, or pass --force/,
    );
    expect(existsSync(join(work, 'again', 'artifacts'))).toBe(false);
  });

  it('keeps the dump as pg_dump wrote it (custom format, "PGDMP" magic)', () => {
    const r = spawnSync('tar', ['-xzf', archive, '-C', work, 'mlflow.pgdump', 'MANIFEST.json']);
    expect(r.status).toBe(0);
    expect(readFileSync(join(work, 'mlflow.pgdump')).subarray(0, 5).toString()).toBe('PGDMP');
    expect(JSON.parse(readFileSync(join(work, 'MANIFEST.json'), 'utf8'))).toMatchObject({
      format: 1,
      store: 'postgresql',
    });
  });
});
