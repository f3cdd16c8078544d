/**
 * Rollback and deployed modes read the deploy record from the clone's history: the commits touching
 * the files, handed to shared/deploys.ts (the reading alert-to-issue shares through the GitHub API),
 * and pick the deploy to restore.
 */
import {
  DEPLOY_TRAILERS,
  deploysOf,
  previousChampion,
  type CommitRecord,
  type Deploy,
} from '../shared/deploys.js';
import { sameImage } from '../shared/image-ref.js';
import type { Git } from './git.js';

export type { Deploy } from '../shared/deploys.js';

/** The commits touching the files on HEAD, newest first, as message + sha + date. */
async function commitsOf(git: Git, files: string[]): Promise<CommitRecord[]> {
  const specs = files.map((f) => `:(literal)${f}`);
  // NUL between commits (-z): a message cannot hold one, so no message can forge a record.
  const { stdout } = await git.exec(['log', '-z', '--format=%H%n%cI%n%B', 'HEAD', '--', ...specs]);
  return stdout
    .split('\0')
    .filter((r) => r.trim())
    .map((r) => {
      const [sha = '', date = '', ...message] = r.split('\n');
      return { sha: sha.trim(), date: date.trim(), message: message.join('\n') };
    });
}

/** The deploy commits of the files on HEAD, newest first (a trailer that is absent does not exclude). */
export async function readDeploys(
  git: Git,
  files: string[],
  filter: { model?: string; environment?: string },
): Promise<Deploy[]> {
  return deploysOf(await commitsOf(git, files), filter);
}

export const NO_DEPLOY = `no deploy commit (${DEPLOY_TRAILERS}) touches the files`;

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
 * `toVersion`'s, or by default the previous champion (shared/deploys.ts says which).
 */
export function choose(list: Deploy[], options: ChooseOptions): Choice {
  const [current] = list;
  if (!current) throw new Error(NO_DEPLOY);
  const target = options.toDigest || options.toVersion ? named(list, options) : previousChampion(list);
  if (!target) {
    const name = options.model || current.model || 'the model';
    throw new Error(
      `${name} v${current.version} (deployed by ${short(current.sha)}) has no earlier deploy of another version to roll back to`,
    );
  }
  if (target.digest === current.digest)
    throw new Error(`${target.image} is already what ${short(current.sha)} deploys`);
  return { current, target };
}

/** Whether a deploy commit deployed `image` (registry spellings of one image match). */
export const deploysImage = (d: Deploy, image: string): boolean => sameImage(d.name, image);
