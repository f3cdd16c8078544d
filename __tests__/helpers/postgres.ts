/**
 * A throwaway PostgreSQL (Debian's `postgresql-15` binaries) on a free loopback port: initdb into a
 * temporary directory, password (SCRAM) authentication over TCP, no Unix socket outside that
 * directory. initdb and postgres refuse to run as root, which is who runs the tests here and in
 * CI, so as root both run as the `postgres` system user that Debian's package creates (setpriv
 * execs in place, so the pid we hold is the server's own). `scripts/setup` installs the package.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface Postgres {
  host: string;
  port: number;
  user: string;
  password: string;
  /** libpq's variables for the client tools (pg_dump, psql): the password never goes in argv. */
  env: Record<string, string>;
  /** A SQLAlchemy URL for MLflow's --backend-store-uri, with the password (for tests only). */
  url: (database: string) => string;
  /**
   * The same without the password, as platform/mlflow configures MLflow: libpq (psycopg) then
   * takes it from PGPASSWORD in the server's environment.
   */
  urlWithoutPassword: (database: string) => string;
  createDatabase: (name: string) => void;
  dropDatabase: (name: string) => void;
  /** Runs SQL with psql and returns its unaligned, tuples-only output. */
  sql: (database: string, query: string) => string;
  log: () => string;
  stop: () => Promise<void>;
}

/** [uid, gid] of the postgres user when we are root (initdb: "cannot be run as root"). */
function runAs(): [number, number] | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (r.status !== 0)
      throw new Error('running as root needs the `postgres` user (Debian package postgresql; scripts/setup)');
    return Number(r.stdout.trim());
  };
  return [id('-u'), id('-g')];
}

function asUser(ids: [number, number] | undefined, bin: string, args: string[]): [string, string[]] {
  if (!ids) return [join(PG_BIN, bin), args];
  return [
    'setpriv',
    [`--reuid=${ids[0]}`, `--regid=${ids[1]}`, '--clear-groups', join(PG_BIN, bin), ...args],
  ];
}

function check(r: ReturnType<typeof spawnSync>, what: string): string {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}: ${String(r.stderr)}`);
  return String(r.stdout);
}

async function waitReady(pg: Pick<Postgres, 'env'>, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}:\n${log()}`);
    const r = spawnSync(join(PG_BIN, 'pg_isready'), ['-q'], { env: { ...process.env, ...pg.env } });
    if (r.status === 0) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`postgres did not accept connections within 30 s:\n${log()}`);
}

export async function startPostgres(): Promise<Postgres> {
  if (!existsSync(join(PG_BIN, 'initdb')))
    throw new Error(`${PG_BIN}/initdb not found: install Debian's postgresql (scripts/setup) or set PG_BIN`);
  const ids = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'pg-'));
  const data = join(dir, 'data');
  const user = 'postgres';
  const password = randomBytes(12).toString('hex');
  writeFileSync(join(dir, 'pw'), password);
  if (ids) {
    chownSync(dir, ids[0], ids[1]);
    chownSync(join(dir, 'pw'), ids[0], ids[1]);
  }
  chmodSync(dir, 0o700);
  const [initCmd, initArgs] = asUser(ids, 'initdb', [
    `--pgdata=${data}`,
    `--username=${user}`,
    `--pwfile=${join(dir, 'pw')}`,
    '--auth-host=scram-sha-256',
    '--auth-local=peer',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  check(spawnSync(initCmd, initArgs, { encoding: 'utf8' }), 'initdb');
  const port = await freePort();
  const [cmd, args] = asUser(ids, 'postgres', [
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    'fsync=off',
  ]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const host = '127.0.0.1';
  const env = { PGHOST: host, PGPORT: String(port), PGUSER: user, PGPASSWORD: password };
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, stop.
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    });
  try {
    await waitReady({ env }, child, () => out);
  } catch (err) {
    await stop();
    throw err;
  }
  const client = (bin: string, args: string[]): string =>
    check(
      spawnSync(join(PG_BIN, bin), args, { encoding: 'utf8', env: { ...process.env, ...env } }),
      `${bin} ${args.join(' ')}`,
    );
  return {
    host,
    port,
    user,
    password,
    env,
    url: (database) => `postgresql://${user}:${password}@${host}:${port}/${database}`,
    urlWithoutPassword: (database) => `postgresql://${user}@${host}:${port}/${database}`,
    createDatabase: (name) => void client('createdb', [name]),
    dropDatabase: (name) => void client('dropdb', ['--force', name]),
    sql: (database, query) =>
      client('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', query]),
    log: () => out,
    stop,
  };
}
