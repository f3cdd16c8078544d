/**
 * The deploy record is the GitOps history: every deploy commit of ml-pipeline.yml ends in trailers
 * (Model, Model-Version, Image, Environment, Run-Id, and Promoted-By when the pipeline moves champion
 * itself; a rollback adds Rollback-Of), so what runs now
 * and what ran before are read from the commits touching the GitOps files, not from MLflow's
 * aliases. gitops-bump reads the commits with `git log`, alert-to-issue through the GitHub API;
 * both hand them here as message + sha + date, so both actions agree on which commits are deploys
 * and on which one is the previous champion (the issue names the version the rollback PR restores).
 */
import { trailerMap } from './git-trailers.js';
import { isDigest, isName, parseImageRef } from './image-ref.js';

/** A commit as either source gives it, newest first in a list. */
export interface CommitRecord {
  sha: string;
  message: string;
  /** The committer date (ISO 8601), when the source gives it. */
  date?: string;
  /** The commit's page, when the source is GitHub. */
  url?: string;
}

export interface Deploy {
  sha: string;
  date?: string;
  url?: string;
  /** The Model-Version trailer: an MLflow model version, a number. */
  version: string;
  /** The Image trailer, `name@digest`. */
  image: string;
  name: string;
  digest: string;
  /** The Model, Environment and Run-Id trailers; '' when absent. */
  model: string;
  environment: string;
  runId: string;
  /** The commit a rollback undid (full sha); '' when this is no rollback. */
  rollbackOf: string;
  /**
   * The Promoted-By trailer: who moves the champion alias for this deploy (`ml-pipeline` when the
   * pipeline waits for ArgoCD and promotes itself, so deployed.yml leaves it); '' when absent.
   */
  promotedBy: string;
}

/** What makes a commit a deploy, for messages saying none was found. */
export const DEPLOY_TRAILERS = 'one with Model-Version and Image trailers';

// The trailers go into titles, tables and links: only values of the expected shape count, and a
// commit whose Model-Version or Image is malformed is no deploy (it could be forged by hand).
const VERSION = /^\d{1,10}$/;
const WORD = /^[\w.-]{0,128}$/;
// MLflow model names may hold spaces.
const MODEL = /^[\w .-]{0,256}$/;
const SHA = /^[0-9a-f]{40,64}$/;

/** A commit's deploy, or undefined when it is no deploy (or its trailers are malformed). */
export function deployOf(commit: CommitRecord): Deploy | undefined {
  const t = trailerMap(commit.message);
  const ref = parseImageRef(t.image ?? '');
  const [version, model, environment] = [t['model-version'] ?? '', t.model ?? '', t.environment ?? ''];
  if (!VERSION.test(version) || !isName(ref.name) || !ref.digest || !isDigest(ref.digest)) return undefined;
  if (!MODEL.test(model) || !WORD.test(environment)) return undefined;
  return {
    sha: commit.sha,
    ...(commit.date && { date: commit.date }),
    ...(commit.url && { url: commit.url }),
    version,
    image: t.image!,
    name: ref.name,
    digest: ref.digest,
    model,
    environment,
    runId: WORD.test(t['run-id'] ?? '') ? (t['run-id'] ?? '') : '',
    rollbackOf: SHA.test(t['rollback-of'] ?? '') ? t['rollback-of']! : '',
    promotedBy: WORD.test(t['promoted-by'] ?? '') ? (t['promoted-by'] ?? '') : '',
  };
}

export interface DeployFilter {
  model?: string;
  environment?: string;
}

/** The deploys among `commits` (newest first) for `model` and `environment`; an absent trailer does not exclude. */
export function deploysOf(commits: CommitRecord[], { model, environment }: DeployFilter): Deploy[] {
  return commits
    .map(deployOf)
    .filter((d): d is Deploy => d !== undefined)
    .filter((d) => !model || !d.model || d.model === model)
    .filter((d) => !environment || !d.environment || d.environment === environment);
}

/** Whether two commit ids name one commit (an abbreviation of at least 7 digits matches). */
export const sameCommit = (a: string, b: string): boolean => {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  return x.length >= 7 && y.length >= 7 && (x.startsWith(y) || y.startsWith(x));
};

/**
 * The previous champion of `list` (newest first, its head the deploy running now): the newest
 * earlier deploy of another version that no rollback has undone (after v3 was rolled back to v2,
 * v3 is not what an alert on v2 compares with, nor where a rollback of v2 goes).
 */
export function previousChampion(list: Deploy[]): Deploy | undefined {
  const [current, ...earlier] = list;
  if (!current) return undefined;
  const undone = list.map((d) => d.rollbackOf).filter(Boolean);
  const isUndone = (d: Deploy): boolean => undone.some((u) => sameCommit(u, d.sha));
  return earlier.find((d) => d.version !== current.version && !isUndone(d));
}

/** The deploy running now (the newest) and the previous champion, when there are. */
export function deployedAndPrevious(list: Deploy[]): { deployed?: Deploy; previous?: Deploy } {
  const [deployed] = list;
  if (!deployed) return {};
  const previous = previousChampion(list);
  return previous ? { deployed, previous } : { deployed };
}
