/**
 * One comment per pull request, model and matrix leg, edited in place on later pushes; on a push,
 * when asked, the same report as a comment on the pushed commit. A fork's read-only token cannot
 * comment; that must not fail a training run, so problems here are warnings.
 */
import * as core from '@actions/core';
import { errorMessage } from '../shared/errors.js';
import { createOctokit, parseRepo } from '../shared/github.js';
import { upsertComment, upsertCommitComment } from '../shared/sticky-comment.js';
import type { Config } from './inputs.js';

/** GitHub rejects comment bodies over 65,536 characters. */
const MAX_BODY = 60_000;

/** The comment's marker key: the model (or experiment), and the matrix leg when there is one. */
export function commentKey(config: Config): string {
  const base = `train-and-log:${config.registeredModel ?? config.experiment}`;
  return config.commentLabel ? `${base}:${config.commentLabel}` : base;
}

type Target = { kind: 'pull request'; number: number } | { kind: 'commit'; sha: string };

function target(config: Config): Target | undefined {
  const { pullRequest, eventName, sha } = config.github;
  if (pullRequest !== undefined) return { kind: 'pull request', number: pullRequest };
  if (config.commentOnPush && eventName === 'push' && sha) return { kind: 'commit', sha };
  return undefined;
}

export async function postReport(
  config: Config,
  body: string,
): Promise<{ url: string; created: boolean } | undefined> {
  const to = target(config);
  if (!to) return undefined;
  const where = to.kind === 'commit' ? `commit ${to.sha.slice(0, 7)}` : `pull request #${to.number}`;
  if (!config.githubToken) {
    core.warning(`github-token is empty: no comment on the ${where}`);
    return undefined;
  }
  const text = body.length > MAX_BODY ? `${body.slice(0, MAX_BODY)}\n\n…(truncated)\n` : body;
  try {
    const octokit = createOctokit(config.githubToken);
    const repo = parseRepo(config.github.repository ?? '');
    const key = commentKey(config);
    const result =
      to.kind === 'commit'
        ? await upsertCommitComment(octokit, { ...repo, commit_sha: to.sha }, key, text)
        : await upsertComment(octokit, { ...repo, issue_number: to.number }, key, text);
    core.info(`${result.created ? 'Commented on' : 'Updated the comment on'} the ${where}: ${result.url}`);
    return result;
  } catch (err) {
    core.warning(`Could not comment on the ${where}: ${errorMessage(err)}`);
    return undefined;
  }
}
