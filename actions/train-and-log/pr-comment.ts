/**
 * One comment per pull request and model, edited in place on later pushes. A fork's read-only
 * token cannot comment; that must not fail a training run, so problems here are warnings.
 */
import * as core from '@actions/core';
import * as github from '@actions/github';
import { errorMessage } from '../shared/errors.js';
import { createOctokit, parseRepo } from '../shared/github.js';
import { upsertComment } from '../shared/sticky-comment.js';

const PR_EVENTS = new Set(['pull_request', 'pull_request_target']);
/** GitHub rejects comment bodies over 65,536 characters. */
const MAX_BODY = 60_000;

export function pullRequestNumber(): number | undefined {
  if (!PR_EVENTS.has(github.context.eventName)) return undefined;
  const n = (github.context.payload.pull_request as { number?: unknown } | undefined)?.number;
  return typeof n === 'number' ? n : undefined;
}

export async function commentOnPullRequest(
  token: string | undefined,
  key: string,
  body: string,
): Promise<{ url: string; created: boolean } | undefined> {
  const number = pullRequestNumber();
  if (number === undefined) return undefined;
  if (!token) {
    core.warning('github-token is empty: no pull request comment');
    return undefined;
  }
  const text = body.length > MAX_BODY ? `${body.slice(0, MAX_BODY)}\n\n…(truncated)\n` : body;
  try {
    const octokit = createOctokit(token);
    const result = await upsertComment(octokit, { ...parseRepo(undefined), issue_number: number }, key, text);
    core.info(
      `${result.created ? 'Commented on' : 'Updated the comment on'} pull request #${number}: ${result.url}`,
    );
    return result;
  } catch (err) {
    core.warning(`Could not comment on pull request #${number}: ${errorMessage(err)}`);
    return undefined;
  }
}
