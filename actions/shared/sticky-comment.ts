/**
 * One comment per (issue or PR, marker), created once and edited in place afterwards, so that
 * later pushes update the report instead of piling up comments.
 */
import type { Octokit, Repo } from './github.js';

/** The key goes inside an HTML comment: `--` (which `-->` needs), `<`, `>` and newlines must not. */
export const markerFor = (key: string): string =>
  `<!-- mlops-actions:${key.replace(/-{2,}/g, '-').replace(/[<>\r\n]/g, ' ')} -->`;

/** What a caller may check before trusting a marked comment (anyone can type a marker). */
export interface CommentAuthor {
  user: { login: string; type?: string } | null;
  author_association?: string;
}

/**
 * Marked comments written by a bot (the github-actions app or any GitHub App) or by someone with
 * write access; a marker typed by an outside contributor is ignored.
 */
export const trustedAuthor = (c: CommentAuthor): boolean =>
  c.user?.type === 'Bot' || ['OWNER', 'MEMBER', 'COLLABORATOR'].includes(c.author_association ?? '');

export async function findMarkedComment(
  octokit: Octokit,
  where: Repo & { issue_number: number },
  key: string,
  accept: (c: CommentAuthor) => boolean = () => true,
): Promise<{ id: number; body: string; url: string } | undefined> {
  const marker = markerFor(key);
  for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, {
    ...where,
    per_page: 100,
  })) {
    const hit = page.data.find((c) => c.body?.includes(marker) && accept(c));
    if (hit) return { id: hit.id, body: hit.body ?? '', url: hit.html_url };
  }
  return undefined;
}

export async function upsertComment(
  octokit: Octokit,
  where: Repo & { issue_number: number },
  key: string,
  body: string,
  accept?: (c: CommentAuthor) => boolean,
): Promise<{ id: number; url: string; created: boolean }> {
  const existing = await findMarkedComment(octokit, where, key, accept);
  return writeMarkedComment(octokit, where, key, body, existing?.id);
}

/**
 * The write half of upsertComment, for a caller that has already found (and vetted) the
 * comment: edits comment `existingId` in place, or creates the marked comment when there is none.
 */
export async function writeMarkedComment(
  octokit: Octokit,
  where: Repo & { issue_number: number },
  key: string,
  body: string,
  existingId: number | undefined,
): Promise<{ id: number; url: string; created: boolean }> {
  const text = `${markerFor(key)}\n${body}`;
  if (existingId !== undefined) {
    const { data } = await octokit.rest.issues.updateComment({
      owner: where.owner,
      repo: where.repo,
      comment_id: existingId,
      body: text,
    });
    return { id: data.id, url: data.html_url, created: false };
  }
  const { data } = await octokit.rest.issues.createComment({ ...where, body: text });
  return { id: data.id, url: data.html_url, created: true };
}

/**
 * The same for a commit (the report of a push): one marked comment per (commit, key), written by a
 * trusted author. A push builds a commit once, but a re-run of the job must edit, not add.
 */
export async function upsertCommitComment(
  octokit: Octokit,
  where: Repo & { commit_sha: string },
  key: string,
  body: string,
): Promise<{ id: number; url: string; created: boolean }> {
  const marker = markerFor(key);
  const text = `${marker}\n${body}`;
  for await (const page of octokit.paginate.iterator(octokit.rest.repos.listCommentsForCommit, {
    ...where,
    per_page: 100,
  })) {
    const hit = page.data.find((c) => c.body.includes(marker) && trustedAuthor(c));
    if (hit) {
      const { data } = await octokit.rest.repos.updateCommitComment({
        owner: where.owner,
        repo: where.repo,
        comment_id: hit.id,
        body: text,
      });
      return { id: data.id, url: data.html_url, created: false };
    }
  }
  const { data } = await octokit.rest.repos.createCommitComment({ ...where, body: text });
  return { id: data.id, url: data.html_url, created: true };
}
