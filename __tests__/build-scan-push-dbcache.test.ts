/**
 * build-scan-push keeps Trivy's vulnerability DB in the runner's tool cache, one entry per UTC day.
 * The bundle runs against the fake `trivy`, which "downloads" <cache-dir>/db unless given
 * --skip-db-update, refuses that flag when no DB is there (as real trivy does on a first run), and
 * records whether a DB was in its cache dir when it started (dbBefore).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAction, type RunOptions } from './helpers/run-action.js';
import { FakeActionsCache } from './helpers/fake-actions-cache.js';
import { argOf, fakeEnv, type Call, type FakeEnv } from './helpers/fake-tools/index.js';

type TrivyCall = Call & { dbBefore?: boolean };

let envs: FakeEnv[] = [];
afterEach(() => {
  for (const e of envs) e.cleanup();
  envs = [];
});

function setup(): FakeEnv {
  const f = fakeEnv();
  envs.push(f);
  return f;
}

/** One run against `f`; by default without TRIVY_CACHE_DIR, as on a hosted runner. */
async function run(
  f: FakeEnv,
  inputs: RunOptions['inputs'] = {},
  env: Record<string, string | undefined> = {},
) {
  const before = f.calls().length;
  const res = await runAction('build-scan-push', {
    inputs: { push: 'false', ...inputs },
    env: { ...f.env, TRIVY_CACHE_DIR: undefined, ...env },
    cwd: f.workspace,
  });
  const scans = (f.calls().slice(before) as TrivyCall[]).filter(
    (c) => c.tool === 'trivy' && c.argv[0] === 'image',
  );
  return { res, scans };
}

/** Entries of trivy-db in the tool cache, as version -> the cached directory. */
function cachedDbs(f: FakeEnv): Record<string, string> {
  const root = join(f.toolCache, 'trivy-db');
  if (!existsSync(root)) return {};
  const out: Record<string, string> = {};
  for (const v of readdirSync(root).filter((n) => !n.endsWith('.complete'))) {
    for (const arch of readdirSync(join(root, v)).filter((n) => !n.endsWith('.complete'))) {
      if (existsSync(join(root, v, `${arch}.complete`))) out[v] = join(root, v, arch);
    }
  }
  return out;
}

describe('build-scan-push: Trivy DB in the tool cache', () => {
  it('downloads and caches the DB on the first run, and scans from the cached copy on the next', async () => {
    const f = setup();
    const first = await run(f);
    expect(first.res.errors).toEqual([]);
    expect(first.res.code).toBe(0);
    expect(first.scans).toHaveLength(1);
    const scan1 = first.scans[0]!;
    expect(scan1.argv).not.toContain('--skip-db-update');
    expect(scan1.dbBefore).toBe(false);
    const dir1 = argOf(scan1.argv, '--cache-dir')!;
    expect(dir1.startsWith(f.env.RUNNER_TEMP!)).toBe(true);
    expect(first.res.stdout).toMatch(
      /Trivy DB: downloaded by Trivy \(no trivy-db 0\.0\.\d{8} in the tool cache yet\)/,
    );
    expect(first.res.summary).toContain('Trivy DB: downloaded by Trivy');

    const entries = Object.entries(cachedDbs(f));
    expect(entries).toHaveLength(1);
    const [version, cached] = entries[0]!;
    expect(version).toMatch(/^0\.0\.\d{8}$/);
    const downloaded = readFileSync(join(cached, 'db', 'trivy.db'), 'utf8');
    expect(downloaded).toMatch(/^fake trivy-db downloaded by pid \d+/);
    expect(JSON.parse(readFileSync(join(cached, 'db', 'metadata.json'), 'utf8')).Version).toBe(2);
    // Only the databases are cached, not the per-image fanal cache written beside them.
    expect(readdirSync(cached)).toEqual(['db']);
    // The run's own cache dir went away with its temp directory.
    expect(existsSync(dir1)).toBe(false);

    const second = await run(f);
    expect(second.res.errors).toEqual([]);
    expect(second.res.code).toBe(0);
    expect(second.res.outputs['scan-passed']).toBe('true');
    const scan2 = second.scans[0]!;
    expect(scan2.argv).toContain('--skip-db-update');
    // The java DB was never downloaded, so trivy keeps the right to fetch it if an image needs it.
    expect(scan2.argv).not.toContain('--skip-java-db-update');
    expect(scan2.dbBefore).toBe(true);
    const dir2 = argOf(scan2.argv, '--cache-dir')!;
    // A writable copy in RUNNER_TEMP, never the shared tool-cache directory itself.
    expect(dir2.startsWith(f.env.RUNNER_TEMP!)).toBe(true);
    expect(dir2.startsWith(f.toolCache)).toBe(false);
    expect(second.res.stdout).toContain(`Trivy DB: from the tool cache (trivy-db ${version}, ${cached})`);
    expect(second.res.summary).toContain('Trivy DB: from the tool cache');
    // Untouched by the second run: same DB, no fanal cache written into the tool cache.
    expect(readFileSync(join(cached, 'db', 'trivy.db'), 'utf8')).toBe(downloaded);
    expect(readdirSync(cached)).toEqual(['db']);
    expect(Object.keys(cachedDbs(f))).toEqual([version]);
  });

  it('skips the Java DB download too when the cached entry holds a Java DB', async () => {
    const f = setup();
    await run(f);
    const [, cached] = Object.entries(cachedDbs(f))[0]!;
    // As a run that scanned an image with jars would have left it (the fake never fetches java-db).
    mkdirSync(join(cached, 'java-db'));
    writeFileSync(join(cached, 'java-db', 'trivy-java.db'), 'fake java db\n');
    writeFileSync(join(cached, 'java-db', 'metadata.json'), '{"Version":1}');
    const second = await run(f);
    expect(second.res.code).toBe(0);
    expect(second.scans[0]!.argv).toEqual(
      expect.arrayContaining(['--skip-db-update', '--skip-java-db-update']),
    );
    expect(second.scans[0]!.dbBefore).toBe(true);
  });

  it("replaces an earlier day's DB: downloads today's and removes the old entry", async () => {
    const f = setup();
    const old = join(f.toolCache, 'trivy-db', '0.0.20000101', 'x64');
    mkdirSync(join(old, 'db'), { recursive: true });
    writeFileSync(join(old, 'db', 'trivy.db'), 'a DB from 2000\n');
    writeFileSync(join(old, 'db', 'metadata.json'), '{"Version":2}');
    writeFileSync(`${old}.complete`, '');
    const { res, scans } = await run(f);
    expect(res.errors).toEqual([]);
    expect(scans[0]!.argv).not.toContain('--skip-db-update');
    const versions = Object.keys(cachedDbs(f));
    expect(versions).toHaveLength(1);
    expect(versions[0]).not.toBe('0.0.20000101');
    expect(existsSync(join(f.toolCache, 'trivy-db', '0.0.20000101'))).toBe(false);
  });

  it('downloads again when the cached entry holds no DB', async () => {
    const f = setup();
    await run(f);
    const [, cached] = Object.entries(cachedDbs(f))[0]!;
    rmSync(join(cached, 'db', 'trivy.db'));
    const second = await run(f);
    expect(second.res.errors).toEqual([]);
    expect(second.res.code).toBe(0);
    expect(second.scans[0]!.argv).not.toContain('--skip-db-update');
    expect(second.res.stdout).toContain('Trivy DB: downloaded by Trivy');
  });

  it('trivy-db-cache: false never caches and never skips the download', async () => {
    const f = setup();
    for (let i = 0; i < 2; i++) {
      const { res, scans } = await run(f, { 'trivy-db-cache': 'false' });
      expect(res.errors).toEqual([]);
      expect(res.code).toBe(0);
      expect(scans[0]!.argv).not.toContain('--skip-db-update');
      expect(scans[0]!.dbBefore).toBe(false);
      expect(res.stdout).toContain('Trivy DB: downloaded by Trivy (trivy-db-cache is false)');
    }
    expect(cachedDbs(f)).toEqual({});
  });

  it('rejects a trivy-db-cache that is not a boolean, naming the input', async () => {
    const f = setup();
    const { res, scans } = await run(f, { 'trivy-db-cache': 'sometimes' });
    expect(res.code).not.toBe(0);
    expect(res.errors.join('\n')).toContain('trivy-db-cache');
    expect(scans).toEqual([]);
  });

  it("uses the user's TRIVY_CACHE_DIR as is: no tool cache, no skip flag", async () => {
    const f = setup();
    const userDir = join(f.dir, 'my-trivy-cache');
    for (let i = 0; i < 2; i++) {
      const { res, scans } = await run(f, {}, { TRIVY_CACHE_DIR: userDir });
      expect(res.errors).toEqual([]);
      expect(res.code).toBe(0);
      expect(argOf(scans[0]!.argv, '--cache-dir')).toBe(userDir);
      expect(scans[0]!.argv).not.toContain('--skip-db-update');
      // Trivy itself keeps the user's directory current between runs.
      expect(scans[0]!.dbBefore).toBe(i === 1);
      expect(res.stdout).toContain(`Trivy DB: TRIVY_CACHE_DIR is set (${userDir}); using it as is`);
    }
    expect(existsSync(join(userDir, 'db', 'trivy.db'))).toBe(true);
    expect(cachedDbs(f)).toEqual({});
  });

  it('a tool cache that cannot take the DB is a warning, not a failed scan', async () => {
    const f = setup();
    // A file where the trivy-db tool directory should go: caching fails, lookups find nothing.
    writeFileSync(join(f.toolCache, 'trivy-db'), 'not a directory');
    const { res, scans } = await run(f);
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.outputs['scan-passed']).toBe('true');
    expect(scans[0]!.argv).not.toContain('--skip-db-update');
    expect(res.warnings.join('\n')).toMatch(/Caching the Trivy DB failed \(the scan is unaffected\)/);
  });
});

describe('build-scan-push: Trivy DB in the Actions cache (a hosted runner, whose tool cache lasts one job)', () => {
  let service: FakeActionsCache;
  beforeAll(async () => {
    service = new FakeActionsCache();
    await service.start();
  });
  afterAll(() => service.stop());

  it("saves the day's DB with @actions/cache, and the next job's fresh runner scans from it", async () => {
    const f = setup();
    const first = await run(f, {}, service.env());
    expect(first.res.errors).toEqual([]);
    expect(first.scans[0]!.argv).not.toContain('--skip-db-update');
    expect(first.res.stdout).toMatch(/no trivy-db 0\.0\.\d{8} in the tool cache or the Actions cache yet/);
    const [version, cached] = Object.entries(cachedDbs(f))[0]!;
    const day = version.slice('0.0.'.length);
    expect(service.keys()).toEqual([`trivy-db-${process.platform}-${process.arch}-${day}`]);
    const downloaded = readFileSync(join(cached, 'db', 'trivy.db'), 'utf8');

    // The next job: a new runner, nothing in its tool cache but what the cache service restores.
    rmSync(join(f.toolCache, 'trivy-db'), { recursive: true });
    const second = await run(f, {}, service.env());
    expect(second.res.errors).toEqual([]);
    expect(second.scans[0]!.argv).toContain('--skip-db-update');
    expect(second.scans[0]!.dbBefore).toBe(true);
    expect(second.res.stdout).toContain(
      `Trivy DB: from the Actions cache (${service.keys()[0]}); not downloaded`,
    );
    expect(second.res.summary).toContain('Trivy DB: from the Actions cache');
    expect(readFileSync(join(cachedDbs(f)[version]!, 'db', 'trivy.db'), 'utf8')).toBe(downloaded);
    // Restored, not saved again: one entry per day.
    expect(service.keys()).toHaveLength(1);
  });

  it('a cache service that refuses the token is a warning, and the scan downloads the DB', async () => {
    const f = setup();
    const { res, scans } = await run(f, {}, { ...service.env(), ACTIONS_RUNTIME_TOKEN: 'wrong-token' });
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(scans[0]!.argv).not.toContain('--skip-db-update');
    expect(res.warnings.join('\n')).toMatch(/Actions cache|Failed to (restore|save)/);
    // The tool cache still got the day's DB.
    expect(Object.keys(cachedDbs(f))).toHaveLength(1);
  });
});
