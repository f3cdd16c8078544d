/**
 * Pull-request mode: one branch and one open PR per target (repository, base branch, image and
 * file set). A later bump of the same target adds a commit to that branch and retitles the same
 * PR instead of opening another. Rollback mode's PRs have branches of their own: a bump landing on
 * a rollback PR would make merging it deploy the bump, under the rollback's title and trailers.
 */
import { createHash } from 'node:crypto';
import type { Octokit, Repo } from '../shared/github.js';
import { normalizeName } from '../shared/image-ref.js';

export type PullKind = 'bump' | 'rollback';

export function branchFor(base: string, image: string, files: string[], kind: PullKind = 'bump'): string {
  const id = createHash('sha256')
    .update([base, normalizeName(image), ...[...files].sort()].join('\0'))
    .digest('hex')
    .slice(0, 10);
  const slug = image
    .split('/')
    .at(-1)!
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-');
  // A bump's branch is `gitops-bump/<slug>-<id>`, never under `gitops-bump/rollback/`.
  return `gitops-bump/${kind === 'rollback' ? 'rollback/' : ''}${slug}-${id}`;
}

/** A rollback's PR body says which deploy it undoes (rollback.ts); a bump's never does. */
export const isRollbackBody = (body: string): boolean => /`Rollback-Of: [0-9a-f]{7,40}`/.test(body);

export interface PullRequest {
  number: number;
  url: string;
  created: boolean;
}

export async function findOpenPullRequest(
  octokit: Octokit,
  repo: Repo,
  branch: string,
  base: string,
): Promise<{ number: number; url: string; body: string } | undefined> {
  const { data } = await octokit.rest.pulls.list({
    ...repo,
    state: 'open',
    head: `${repo.owner}:${branch}`,
    base,
    per_page: 10,
  });
  const pr = data[0];
  return pr ? { number: pr.number, url: pr.html_url, body: pr.body ?? '' } : undefined;
}

export async function upsertPullRequest(
  octokit: Octokit,
  repo: Repo,
  { branch, base, title, body }: { branch: string; base: string; title: string; body: string },
): Promise<PullRequest> {
  const existing = await findOpenPullRequest(octokit, repo, branch, base);
  if (existing) {
    await octokit.rest.pulls.update({ ...repo, pull_number: existing.number, title, body });
    return { ...existing, created: false };
  }
  try {
    const { data } = await octokit.rest.pulls.create({ ...repo, head: branch, base, title, body });
    return { number: data.number, url: data.html_url, created: true };
  } catch (err) {
    // Another run opened it between our list and create: update that one instead.
    if ((err as { status?: number }).status === 422) {
      const raced = await findOpenPullRequest(octokit, repo, branch, base);
      if (raced) {
        await octokit.rest.pulls.update({ ...repo, pull_number: raced.number, title, body });
        return { ...raced, created: false };
      }
    }
    throw err;
  }
}
