/**
 * Trivy's vulnerability DB in the runner's tool cache, one entry per UTC day. Trivy publishes a new
 * DB about every 6 hours; a DB from earlier the same day is what `--skip-db-update` users accept,
 * and it spares every run the download (and ghcr.io's TOOMANYREQUESTS on the DB repository).
 * Tool-cache directories are shared between jobs and must not be written: trivy gets a copy in
 * RUNNER_TEMP (it also writes its fanal cache next to the DB).
 *
 * A hosted runner's tool cache lasts one job, so when the runner has the cache service the day's
 * entry is also kept with @actions/cache (key `trivy-db-<os>-<arch>-<yyyymmdd>`, the path
 * `<tool cache>/trivy-db`): restored into the tool cache before looking there, saved after a download.
 */
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { constants, cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const DB_TOOL = 'trivy-db';
/** Subfolders of trivy's --cache-dir that hold downloaded databases (not per-scan fanal data). */
const DBS = [
  { dir: 'db', skipFlag: '--skip-db-update' },
  { dir: 'java-db', skipFlag: '--skip-java-db-update' },
] as const;

/** Semver that @actions/tool-cache accepts, one per UTC day: 0.0.20261126. */
export function dbCacheVersion(now: Date = new Date()): string {
  return `0.0.${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
}

export interface DbCachePlan {
  cacheDir: string;
  /** Flags for `trivy image`: skip the downloads the cached copy makes unnecessary. */
  skipFlags: string[];
  source: 'user' | 'tool-cache' | 'actions-cache' | 'download' | 'disabled';
  /** One sentence for the log and the job summary. */
  note: string;
  /** After the scans: store what trivy downloaded (no-op unless source is `download`). */
  save(): Promise<void>;
}

const hasDb = (dir: string): boolean =>
  existsSync(join(dir, 'trivy.db')) || existsSync(join(dir, 'trivy-java.db'));

/** One DB is enough: older days would only grow a persistent (or actions/cache-restored) tool cache. */
function pruneOlder(keep: string, root?: string): void {
  if (!root) return;
  for (const v of tc.findAllVersions(DB_TOOL)) {
    if (v === keep) continue;
    try {
      rmSync(join(root, DB_TOOL, v), { recursive: true, force: true });
      core.info(`Removed the older Trivy DB ${DB_TOOL} ${v} from the tool cache`);
    } catch (err) {
      core.warning(`Removing ${DB_TOOL} ${v} from the tool cache failed: ${(err as Error).message}`);
    }
  }
}

export interface DbCacheOptions {
  enabled: boolean;
  /** TRIVY_CACHE_DIR as the caller set it: theirs to manage. */
  trivyCacheDir?: string;
  /** RUNNER_TOOL_CACHE, where older days' DBs are pruned. */
  toolCacheDir?: string;
  /** Parent of this run's copy of the DB. */
  tempRoot: string;
  /** The runner has the cache service (ACTIONS_RUNTIME_TOKEN and a cache URL): use @actions/cache too. */
  actionsCache?: boolean;
  now?: Date;
}

/** The @actions/cache key of a day's DB: one entry per day, as trivy-action keys its cache. */
export function actionsCacheKey(version: string): string {
  return `${DB_TOOL}-${process.platform}-${process.arch}-${version.slice('0.0.'.length)}`;
}

/** @actions/cache is most of this bundle's size: loaded only when the runner has the service. */
const actionsCache = () => import('@actions/cache');

async function restoreFromActionsCache(toolCacheDir: string, key: string): Promise<boolean> {
  try {
    const hit = await (await actionsCache()).restoreCache([join(toolCacheDir, DB_TOOL)], key);
    return hit === key;
  } catch (err) {
    core.warning(`Restoring the Trivy DB from the Actions cache failed: ${(err as Error).message}`);
    return false;
  }
}

async function saveToActionsCache(toolCacheDir: string, key: string): Promise<void> {
  try {
    const id = await (await actionsCache()).saveCache([join(toolCacheDir, DB_TOOL)], key);
    if (id !== -1) core.info(`Saved the Trivy DB to the Actions cache as ${key}`);
  } catch (err) {
    core.warning(
      `Saving the Trivy DB to the Actions cache failed (the scan is unaffected): ${(err as Error).message}`,
    );
  }
}

export async function planDbCache(opts: DbCacheOptions): Promise<DbCachePlan> {
  const noop = async (): Promise<void> => {};
  if (opts.trivyCacheDir) {
    return {
      cacheDir: opts.trivyCacheDir,
      skipFlags: [],
      source: 'user',
      note: `Trivy DB: TRIVY_CACHE_DIR is set (${opts.trivyCacheDir}); using it as is, not the tool cache`,
      save: noop,
    };
  }
  const cacheDir = mkdtempSync(join(opts.tempRoot, 'trivy-cache-'));
  if (!opts.enabled) {
    return {
      cacheDir,
      skipFlags: [],
      source: 'disabled',
      note: 'Trivy DB: downloaded by Trivy (trivy-db-cache is false)',
      save: noop,
    };
  }
  const version = dbCacheVersion(opts.now);
  const restored = restoreFromToolCache(cacheDir, version);
  if (restored) return restored;
  const key = actionsCacheKey(version);
  const shared = opts.actionsCache && opts.toolCacheDir ? opts.toolCacheDir : undefined;
  if (shared && (await restoreFromActionsCache(shared, key))) {
    const fromActions = restoreFromToolCache(cacheDir, version);
    if (fromActions) {
      return {
        ...fromActions,
        source: 'actions-cache',
        note: `Trivy DB: from the Actions cache (${key}); not downloaded`,
      };
    }
  }
  const where = shared ? 'in the tool cache or the Actions cache' : 'in the tool cache';
  return {
    cacheDir,
    skipFlags: [],
    source: 'download',
    note: `Trivy DB: downloaded by Trivy (no ${DB_TOOL} ${version} ${where} yet)`,
    save: async () => {
      const cached = await saveToToolCache(cacheDir, version, opts.toolCacheDir);
      if (cached && shared) await saveToActionsCache(shared, key);
    },
  };
}

/** The day's DB copied from the tool cache into this run's cache dir, if it is there and whole. */
function restoreFromToolCache(cacheDir: string, version: string): DbCachePlan | undefined {
  let cached = '';
  try {
    cached = tc.find(DB_TOOL, version);
  } catch (err) {
    core.warning(`Looking up the Trivy DB in the tool cache failed: ${(err as Error).message}`);
  }
  if (!cached) return undefined;
  const skipFlags: string[] = [];
  try {
    for (const { dir, skipFlag } of DBS) {
      if (!hasDb(join(cached, dir))) continue;
      // Reflink where the filesystem can; a plain copy elsewhere.
      cpSync(join(cached, dir), join(cacheDir, dir), { recursive: true, mode: constants.COPYFILE_FICLONE });
      skipFlags.push(skipFlag);
    }
  } catch (err) {
    core.warning(`Copying the cached Trivy DB failed, Trivy will download it: ${(err as Error).message}`);
    return undefined;
  }
  if (!skipFlags.includes('--skip-db-update')) return undefined;
  return {
    cacheDir,
    skipFlags,
    source: 'tool-cache',
    note: `Trivy DB: from the tool cache (${DB_TOOL} ${version}, ${cached}); not downloaded`,
    save: async () => {},
  };
}

/** True when the day's DB is now in the tool cache. */
async function saveToToolCache(cacheDir: string, version: string, toolCacheDir?: string): Promise<boolean> {
  try {
    // The scans are over: move (not copy) the databases out of the fanal cache beside them.
    const staging = join(cacheDir, '.tool-cache');
    const saved: string[] = [];
    for (const { dir } of DBS) {
      if (!hasDb(join(cacheDir, dir))) continue;
      mkdirSync(staging, { recursive: true });
      renameSync(join(cacheDir, dir), join(staging, dir));
      saved.push(dir);
    }
    if (!saved.includes('db')) {
      core.warning(`Trivy left no DB in ${join(cacheDir, 'db')}; nothing cached for the next run`);
      return false;
    }
    const into = await tc.cacheDir(staging, DB_TOOL, version);
    core.info(`Cached the Trivy DB (${saved.join(', ')}) as ${DB_TOOL} ${version}: ${into}`);
    pruneOlder(version, toolCacheDir);
    return true;
  } catch (err) {
    core.warning(`Caching the Trivy DB failed (the scan is unaffected): ${(err as Error).message}`);
    return false;
  }
}
