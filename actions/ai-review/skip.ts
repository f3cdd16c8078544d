/** Pull requests this action leaves alone unless told otherwise. */
export interface PullLike {
  state: string;
  draft?: boolean;
  head: { repo: { full_name: string } | null };
  base: { repo: { full_name: string } };
}

export function skipReason(
  pr: PullLike,
  o: { reviewDrafts: boolean; reviewForks: boolean },
): string | undefined {
  if (pr.state !== 'open') return 'the pull request is closed';
  if (pr.draft && !o.reviewDrafts) return 'draft pull request (set review-drafts: true to review drafts)';
  // A deleted fork leaves head.repo null; it is still not this repository.
  const fork = pr.head.repo?.full_name !== pr.base.repo.full_name;
  if (fork && !o.reviewForks) {
    return 'pull request from a fork (set review-forks: true; on pull_request the token is read-only and secrets are absent)';
  }
  return undefined;
}
