/**
 * One Octokit for every action: @actions/github with retries and rate-limit handling, and creates
 * that are not made twice when GitHub's answer is lost.
 */
import * as core from '@actions/core';
import * as github from '@actions/github';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { InputError } from './errors.js';
import { guardCreates } from './lost-writes.js';

export type Octokit = ReturnType<typeof github.getOctokit>;

export interface Repo {
  owner: string;
  repo: string;
}

export function createOctokit(token: string, { maxRetries = 3 }: { maxRetries?: number } = {}): Octokit {
  core.setSecret(token);
  // The throttling plugin waits `retryAfter` seconds and retries while this returns true.
  const onLimit =
    (kind: string) =>
    (
      retryAfter: number,
      options: { method: string; url: string },
      _o: unknown,
      retryCount: number,
    ): boolean => {
      core.warning(`GitHub ${kind} on ${options.method} ${options.url}; retrying after ${retryAfter}s`);
      return retryCount < maxRetries;
    };
  const octokit = github.getOctokit(
    token,
    {
      // GITHUB_API_URL is read by @actions/github; GHES and the test fake set it.
      retry: { retries: maxRetries },
      throttle: { onRateLimit: onLimit('rate limit'), onSecondaryRateLimit: onLimit('secondary rate limit') },
    },
    retry,
    throttling,
  );
  // The retry plugin resends a create whose 5xx came after GitHub wrote it: those are resent
  // only once GitHub is known not to have made them (see lost-writes.ts).
  guardCreates(octokit, maxRetries);
  return octokit;
}

/**
 * `owner/name` from an input, or the workflow's own repository. With no value it reads the
 * runner's GITHUB_REPOSITORY, so it is called from getInputs() only (inputs.ts), like runUrl.
 */
export function parseRepo(value: string | undefined, input = 'repository'): Repo {
  const full = value ?? process.env.GITHUB_REPOSITORY ?? '';
  const match = /^([A-Za-z0-9-_.]+)\/([A-Za-z0-9-_.]+)$/.exec(full);
  if (!match) throw new InputError(input, 'owner/name (or GITHUB_REPOSITORY set by the runner)', full);
  return { owner: match[1]!, repo: match[2]! };
}

/** Link to the workflow run, for tags, summaries and comments: read by getInputs() (inputs.ts) only. */
export function runUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const { GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID } = env;
  if (!GITHUB_REPOSITORY || !GITHUB_RUN_ID) return undefined;
  return `${GITHUB_SERVER_URL ?? 'https://github.com'}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}`;
}
