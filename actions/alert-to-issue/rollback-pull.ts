/**
 * The open rollback pull request of a deploy, in the GitOps repository: rollback.yml's PR (gitops-bump
 * in rollback mode) says which deploy commit it undoes in its Rollback-Of trailer and its title.
 */
import { errorMessage } from '../shared/errors.js';
import { sameCommit, type Deploy } from '../shared/deploys.js';
import type { Octokit, Repo } from '../shared/github.js';

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
    const status = (err as { status?: number }).status ?? 0;
    const hint = [401, 403, 404].includes(status)
      ? `; gitops-token needs pull-requests: read on ${repo.owner}/${repo.repo}`
      : '';
    return { error: `${errorMessage(err)}${hint}` };
  }
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The open rollback PR of `deployed`: one whose text has `Rollback-Of: <its sha>` (rollback.yml's
 * trailer), else one titled as a rollback that names its commit, its image digest, or (in its title)
 * its model and its version as the one rolled back from ("iris v3 -> v2"). Tolerant on purpose, the
 * PR's wording may change; but not on the model: one GitOps repository deploys several, and their
 * versions are all small numbers.
 */
export function rollbackPullFor(pulls: PullSummary[], deployed: Deploy): PullSummary | undefined {
  const rollbackOf = (p: PullSummary): boolean =>
    [...`${p.title}\n${p.body}`.matchAll(/Rollback-Of:?\W{0,3}([0-9a-f]{7,40})/gi)].some((m) =>
      sameCommit(m[1]!, deployed.sha),
    );
  const from = new RegExp(`\\bv${escapeRe(deployed.version)}\\s*(->|→|to\\b)`, 'i');
  // The title names the model beside the version, as a whole word (`iris` is not `iris-large`).
  const model = new RegExp(`(?<![\\w.-])${escapeRe(deployed.model)}(?![\\w.-])`, 'i');
  const names = (p: PullSummary): boolean => deployed.model !== '' && model.test(p.title);
  const named = (p: PullSummary): boolean =>
    /rollback|roll back/i.test(p.title) &&
    (p.body.includes(deployed.sha) ||
      p.body.includes(deployed.sha.slice(0, 12)) ||
      p.body.includes(deployed.digest) ||
      (from.test(p.title) && names(p)));
  return pulls.find(rollbackOf) ?? pulls.find(named);
}
