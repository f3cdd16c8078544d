/**
 * The deploy record is the GitOps history: every deploy commit of ml-pipeline.yml ends in trailers
 * (Model, Model-Version, Image, Environment, Run-Id; a rollback adds Rollback-Of), so what runs now
 * and what ran before are read from the commits touching the files, not from MLflow's aliases.
 */
import { isDigest, isName, parseImageRef, sameImage } from '../shared/image-ref.js';
import type { Git } from './git.js';

export interface Deploy {
  sha: string;
  /** The Model-Version trailer. */
  version: string;
  /** The Image trailer, `name@digest`. */
  image: string;
  name: string;
  digest: string;
  model: string;
  environment: string;
  runId: string;
  rollbackOf: string;
}

/** Trailers of one commit as git parses them, keys lower-cased, the first value of each key. */
export function parseTrailers(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m && !(m[1]!.toLowerCase() in out)) out[m[1]!.toLowerCase()] = m[2]!.trim();
  }
  return out;
}

// The trailers go into titles, tables and links: only values of the expected shape count.
const VERSION = /^[\w.-]{1,64}$/;
const WORD = /^[\w.-]{0,128}$/;
// MLflow model names may hold spaces.
const MODEL = /^[\w .-]{0,256}$/;
const SHA = /^[0-9a-f]{40,64}$/;

/** A deploy commit's trailers, or undefined when the commit is no deploy (or its trailers are malformed). */
function deployOf(sha: string, t: Record<string, string>): Deploy | undefined {
  const ref = parseImageRef(t.image ?? '');
  const [version, model, environment] = [t['model-version'] ?? '', t.model ?? '', t.environment ?? ''];
  if (!VERSION.test(version) || !isName(ref.name) || !ref.digest || !isDigest(ref.digest)) return undefined;
  if (!MODEL.test(model) || !WORD.test(environment)) return undefined;
  const runId = WORD.test(t['run-id'] ?? '') ? (t['run-id'] ?? '') : '';
  const rollbackOf = SHA.test(t['rollback-of'] ?? '') ? t['rollback-of']! : '';
  return {
    sha,
    version,
    image: t.image!,
    name: ref.name,
    digest: ref.digest,
    model,
    environment,
    runId,
    rollbackOf,
  };
}

/** The deploy commits of the files on HEAD, newest first (a trailer that is absent does not exclude). */
export async function readDeploys(
  git: Git,
  files: string[],
  { model, environment }: { model?: string; environment?: string },
): Promise<Deploy[]> {
  const specs = files.map((f) => `:(literal)${f}`);
  const { stdout } = await git.exec([
    'log',
    '--format=%H%x1f%(trailers:only,unfold)%x1e',
    'HEAD',
    '--',
    ...specs,
  ]);
  return stdout
    .split('\x1e')
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r) => {
      const [sha = '', trailers = ''] = r.split('\x1f');
      return deployOf(sha.trim(), parseTrailers(trailers));
    })
    .filter((d): d is Deploy => d !== undefined)
    .filter((d) => !model || !d.model || d.model === model)
    .filter((d) => !environment || !d.environment || d.environment === environment);
}

export const NO_DEPLOY = 'no deploy commit (one with Model-Version and Image trailers) touches the files';

export interface Choice {
  current: Deploy;
  target: Deploy;
}

const short = (sha: string): string => sha.slice(0, 12);

/** The deploy `toDigest` or `toVersion` names: its newest deploy (an earlier one for a version). */
function named(list: Deploy[], { toVersion, toDigest, model }: ChooseOptions): Deploy {
  const [current, ...earlier] = list as [Deploy, ...Deploy[]];
  const name = model || current.model || 'the model';
  if (toDigest) {
    const hit = list.find((d) => d.digest === toDigest);
    if (!hit) throw new Error(`no deploy commit deployed ${toDigest}`);
    return hit;
  }
  if (toVersion === current.version)
    throw new Error(`${name} v${toVersion} is what ${short(current.sha)} deploys now`);
  const hit = earlier.find((d) => d.version === toVersion);
  if (!hit) throw new Error(`${name} v${toVersion} has no earlier deploy to roll back to`);
  return hit;
}

export interface ChooseOptions {
  toVersion?: string;
  toDigest?: string;
  model?: string;
}

/**
 * The deploy HEAD runs (the newest deploy commit) and the one to restore: `toDigest`'s or
 * `toVersion`'s, or by default the newest earlier deploy of another version that no rollback has
 * already undone.
 */
export function choose(list: Deploy[], options: ChooseOptions): Choice {
  const [current, ...earlier] = list;
  if (!current) throw new Error(NO_DEPLOY);
  let target: Deploy | undefined;
  if (options.toDigest || options.toVersion) target = named(list, options);
  else {
    const undone = list.map((d) => d.rollbackOf).filter(Boolean);
    const isUndone = (d: Deploy): boolean => undone.some((u) => d.sha.startsWith(u) || u.startsWith(d.sha));
    target = earlier.find((d) => d.version !== current.version && !isUndone(d));
    if (!target) {
      const name = options.model || current.model || 'the model';
      throw new Error(
        `${name} v${current.version} (deployed by ${short(current.sha)}) has no earlier deploy of another version to roll back to`,
      );
    }
  }
  if (target.digest === current.digest)
    throw new Error(`${target.image} is already what ${short(current.sha)} deploys`);
  return { current, target };
}

/** Whether a deploy commit deployed `image` (registry spellings of one image match). */
export const deploysImage = (d: Deploy, image: string): boolean => sameImage(d.name, image);
