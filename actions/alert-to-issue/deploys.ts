/**
 * What is deployed, as Git says it: the pipeline's deploy commits carry trailers (Model,
 * Model-Version, Image, Environment, Run-Id; a rollback adds Rollback-Of, see ml-pipeline.yml and
 * rollback.yml), so the newest one for a model and environment is what runs, and the newest earlier
 * one of another version is the previous champion. MLflow's aliases can say otherwise (a version
 * the gate refused was never deployed): the history wins.
 */
import { errorMessage } from '../shared/errors.js';
import { trailerMap } from '../shared/git-trailers.js';
import type { Octokit, Repo } from '../shared/github.js';

export interface DeployCommit {
  sha: string;
  url?: string;
  date?: string;
  version: string;
  model?: string;
  image?: string;
  environment?: string;
  runId?: string;
  rollbackOf?: string;
}

/** The deploy commits among `commits` (newest first), for `model` and, when known, `environment`. */
export function deployCommits(
  commits: Array<{ sha: string; message: string; url?: string; date?: string }>,
  { model, environment }: { model: string; environment?: string },
): DeployCommit[] {
  const out: DeployCommit[] = [];
  for (const c of commits) {
    const t = trailerMap(c.message);
    const version = t['model-version'];
    if (!version || !/^\d{1,10}$/.test(version)) continue;
    // A trailer that is absent does not exclude (as rollback.yml reads them).
    if (t.model && t.model !== model) continue;
    if (environment && t.environment && t.environment !== environment) continue;
    out.push({
      sha: c.sha,
      url: c.url,
      date: c.date,
      version,
      model: t.model,
      image: t.image,
      environment: t.environment,
      runId: t['run-id'],
      rollbackOf: t['rollback-of'],
    });
  }
  return out;
}

/** The deployed commit (the newest) and the previous champion: the newest earlier one of another version. */
export function deployedAndPrevious(list: DeployCommit[]): {
  deployed?: DeployCommit;
  previous?: DeployCommit;
} {
  const [deployed, ...earlier] = list;
  if (!deployed) return {};
  const previous = earlier.find((d) => d.version !== deployed.version);
  return previous ? { deployed, previous } : { deployed };
}

export interface PullSummary {
  number: number;
  url: string;
  title: string;
  body: string;
}

/** The open pull requests of the GitOps repository (one page: rollbacks are few and recent). */
export async function openPulls(octokit: Octokit, repo: Repo): Promise<PullSummary[] | { error: string }> {
  try {
    const { data } = await octokit.rest.pulls.list({
      ...repo,
      state: 'open',
      sort: 'created',
      direction: 'desc',
      per_page: 50,
    });
    return data.map((p) => ({ number: p.number, url: p.html_url, title: p.title, body: p.body ?? '' }));
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

const sameCommit = (a: string, b: string): boolean =>
  a.length >= 7 && b.length >= 7 && (a.startsWith(b) || b.startsWith(a));

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The open rollback PR of `deployed`: one whose text has `Rollback-Of: <its sha>` (rollback.yml's
 * trailer), else one titled as a rollback that names its commit, its image digest, or its version
 * as the one rolled back from ("v3 -> v2"). Tolerant on purpose: the PR's wording may change.
 */
export function rollbackPullFor(pulls: PullSummary[], deployed: DeployCommit): PullSummary | undefined {
  const rollbackOf = (p: PullSummary): boolean =>
    [...`${p.title}\n${p.body}`.matchAll(/Rollback-Of:?\W{0,3}([0-9a-f]{7,40})/gi)].some((m) =>
      sameCommit(m[1]!.toLowerCase(), deployed.sha.toLowerCase()),
    );
  const digest = /@([a-z0-9]+:[0-9a-f]{32,})$/.exec(deployed.image ?? '')?.[1];
  const from = new RegExp(`\\bv${escapeRe(deployed.version)}\\s*(->|→|to\\b)`, 'i');
  const named = (p: PullSummary): boolean =>
    /rollback|roll back/i.test(p.title) &&
    (p.body.includes(deployed.sha) ||
      p.body.includes(deployed.sha.slice(0, 12)) ||
      (digest !== undefined && p.body.includes(digest)) ||
      from.test(p.title));
  return pulls.find(rollbackOf) ?? pulls.find(named);
}
