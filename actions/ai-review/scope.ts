/**
 * Which changes this run reviews: everything in the PR on the first run, and on later pushes
 * only what changed since the last reviewed commit (kept in a hidden marker of the trusted
 * summary comment), through the compare API. If history was rewritten the whole PR is reviewed.
 */
import * as core from '@actions/core';
import type { Octokit, Repo } from '../shared/github.js';
import { findMarkedComment, trustedAuthor } from '../shared/sticky-comment.js';
import type { ChangedFile } from './diff.js';

export const SUMMARY_KEY = 'ai-review';
const COMPARE_FILE_LIMIT = 300;
const SHA_MARKER = /<!-- mlops-actions:ai-review:sha=([0-9a-f]{40}) -->/;
export const shaMarker = (sha: string): string => `<!-- mlops-actions:ai-review:sha=${sha} -->`;

export interface Previous {
  commentId: number;
  url: string;
  sha?: string;
  body: string;
}

export async function previousReview(
  octokit: Octokit,
  where: Repo & { issue_number: number },
): Promise<Previous | undefined> {
  const found = await findMarkedComment(octokit, where, SUMMARY_KEY, trustedAuthor);
  if (!found) return undefined;
  return { commentId: found.id, url: found.url, sha: SHA_MARKER.exec(found.body)?.[1], body: found.body };
}

export async function listPullFiles(
  octokit: Octokit,
  repo: Repo,
  pull_number: number,
): Promise<ChangedFile[]> {
  return (await octokit.paginate(octokit.rest.pulls.listFiles, {
    ...repo,
    pull_number,
    per_page: 100,
  })) as ChangedFile[];
}

export interface Scope {
  files: ChangedFile[];
  /** Set when only the commits after this one are reviewed. */
  since?: string;
  newCommits?: number;
  note?: string;
}

export async function reviewScope(
  octokit: Octokit,
  repo: Repo,
  prFiles: ChangedFile[],
  head: string,
  lastSha: string | undefined,
): Promise<Scope> {
  if (!lastSha) return { files: prFiles };
  try {
    const { data } = await octokit.rest.repos.compareCommits({ ...repo, base: lastSha, head, per_page: 100 });
    if (data.status !== 'ahead') {
      return {
        files: prFiles,
        note: `the branch was rewritten since the last review (${lastSha.slice(0, 7)}), so every change was reviewed again`,
      };
    }
    if ((data.files ?? []).length >= COMPARE_FILE_LIMIT) {
      // The compare API lists at most 300 files: past that it cannot say what changed.
      return {
        files: prFiles,
        note: `${COMPARE_FILE_LIMIT} or more files changed since the last review, so every change was reviewed again`,
      };
    }
    // Only files still changed by the PR: a change reverted since the last review has nothing to comment on.
    const inPr = new Set(prFiles.map((f) => f.filename));
    const files = (data.files ?? []).filter((f) => inPr.has(f.filename)) as ChangedFile[];
    return { files, since: lastSha, newCommits: data.ahead_by };
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status !== 404) throw err;
    core.info(`The last reviewed commit ${lastSha} is gone; reviewing the whole pull request.`);
    return {
      files: prFiles,
      note: `the last reviewed commit ${lastSha.slice(0, 7)} no longer exists, so every change was reviewed again`,
    };
  }
}
