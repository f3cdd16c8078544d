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

/** Which input the token reading the GitOps repository came from: the note names that one. */
export type TokenInput = 'gitops-token' | 'github-token';

/** Why the pull requests could not be listed: GitHub's status (0 without an answer) and message. */
export interface PullsFailure {
  status: number;
  message: string;
}

/** The open pull requests of the GitOps repository (one page: rollbacks are few and recent). */
export async function openPulls(octokit: Octokit, repo: Repo): Promise<PullSummary[] | PullsFailure> {
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
    const e = err as { status?: number; response?: { data?: { message?: unknown } } };
    const said = e.response?.data?.message;
    return { status: e.status ?? 0, message: typeof said === 'string' ? said : errorMessage(err) };
  }
}

/** GitHub's answers when a token may not read a repository (or cannot see it). */
export const isRefusal = (status: number): boolean => [401, 403, 404].includes(status);

/**
 * What a refused token lacks, naming the input it came from: without a gitops-token that is
 * github-token (by default the job's GITHUB_TOKEN; alert-triage.yml's has neither contents of
 * another repository nor pull-requests), and a fix to a gitops-token never given would mislead.
 * Short: the issue clips an error line at 200 characters, GitHub's message included.
 */
export function tokenNeeds(tokenInput: TokenInput, permission: string, full: string): string {
  return tokenInput === 'gitops-token'
    ? `gitops-token needs ${permission} on ${full}`
    : `github-token was used (no gitops-token given): it, or a gitops-token, needs ${permission} on ${full}`;
}

/** The line when the pull requests could not be listed; a refusal names the token. */
export function pullsNote(repo: Repo, failure: PullsFailure, tokenInput: TokenInput): string {
  const full = `${repo.owner}/${repo.repo}`;
  const hint = isRefusal(failure.status) ? `; ${tokenNeeds(tokenInput, 'pull-requests: read', full)}` : '';
  return `not looked up: the open pull requests of ${full} could not be listed (HTTP ${failure.status}: ${failure.message})${hint}`;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The environment a rollback PR's title names, as gitops-bump titles it (`rollback(prod): …`);
 * undefined when the title names none.
 */
function titleEnvironment(title: string): string | undefined {
  return /\broll\s*back\s*\(\s*([\w.-]+)\s*\)/i.exec(title)?.[1];
}

/**
 * The open rollback PR of `deployed`: one whose text has `Rollback-Of: <its sha>` (rollback.yml's
 * trailer), else one titled as a rollback that names its commit, its image digest, or (in its title)
 * its model and its version as the one rolled back from ("iris v3 -> v2"). Tolerant on purpose, the
 * PR's wording may change; but not on the model: one GitOps repository deploys several, and their
 * versions are all small numbers. Nor on the environment when both the deploy and the title name
 * one: staging and prod run the same versions and often the same digest, and a staging rollback
 * merged for a prod alert would leave prod as it is.
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
  const otherEnvironment = (p: PullSummary): boolean => {
    const env = titleEnvironment(p.title);
    return (
      deployed.environment !== '' &&
      env !== undefined &&
      env.toLowerCase() !== deployed.environment.toLowerCase()
    );
  };
  const named = (p: PullSummary): boolean =>
    /rollback|roll back/i.test(p.title) &&
    !otherEnvironment(p) &&
    (p.body.includes(deployed.sha) ||
      p.body.includes(deployed.sha.slice(0, 12)) ||
      p.body.includes(deployed.digest) ||
      (from.test(p.title) && names(p)));
  return pulls.find(rollbackOf) ?? pulls.find(named);
}
