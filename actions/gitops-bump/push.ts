/**
 * Lands one change on a branch when other runs push to it at the same time. Each attempt starts
 * from the branch's current tip and re-applies the edit there (never a rebase of a stale edit, so
 * nothing can conflict), commits, and pushes without force. A rejected push means someone else
 * landed first: fetch, re-apply, retry after a jittered backoff, up to a bound. Their commit is
 * kept, ours goes on top of it.
 */
import * as core from '@actions/core';
import type { Git } from './git.js';
import { retry } from '../shared/retry.js';

export interface EditResult {
  changed: boolean;
  files: string[];
  message: string;
}

export interface LandOptions<T extends EditResult> {
  git: Git;
  /** Branch pushed to. */
  target: string;
  /** Moves the work tree to the freshest tip to build on; returns that commit. */
  refresh: () => Promise<string>;
  /** The tip the work tree already holds (a fresh clone), saving the first refresh. */
  initialTip?: string;
  /** Applies the edit to the work tree as it is now. */
  edit: (tip: string) => Promise<T>;
  /** Optional rewrite of the new commit before pushing (returns the commit to push). */
  afterCommit?: (sha: string) => Promise<string>;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface Landed<T> {
  /** The pushed commit, undefined when the edit changed nothing. */
  sha?: string;
  /** The tip the edit was applied to. */
  tip: string;
  edit: T;
  attempts: number;
}

/** One attempt's outcome: pushed (or nothing to push), or refused because the branch moved. */
interface Attempt<T> extends Landed<T> {
  began: number;
  rejected?: string;
}

export async function land<T extends EditResult>(options: LandOptions<T>): Promise<Landed<T>> {
  const { git, target, maxAttempts = 30, baseDelayMs = 50, maxDelayMs = 8000 } = options;
  const once = async (attempt: number): Promise<Attempt<T>> => {
    const began = Date.now();
    const tip = attempt === 1 && options.initialTip ? options.initialTip : await options.refresh();
    const edit = await options.edit(tip);
    if (!edit.changed) return { tip, edit, attempts: attempt, began };
    let sha = await git.commit(edit.files, edit.message);
    if (options.afterCommit) sha = await options.afterCommit(sha);
    const pushed = await git.push(target);
    if (pushed.ok) {
      if (attempt > 1) core.info(`Pushed ${sha.slice(0, 7)} to ${target} on attempt ${attempt}.`);
      return { sha, tip, edit, attempts: attempt, began };
    }
    if (!pushed.retryable) throw new Error(`git push to '${target}' was refused: ${pushed.reason}`);
    return { tip, edit, attempts: attempt, began, rejected: pushed.reason };
  };
  const {
    began: _began,
    rejected,
    ...landed
  } = await retry(once, {
    attempts: maxAttempts,
    retryOn: (a) => a.rejected !== undefined,
    // Not retried: a refusal that is no race (permissions, a protected branch) or a failing edit.
    retryable: () => false,
    // Exponential backoff with full jitter, in units of how long one attempt takes here: the branch
    // takes one landing per attempt-time, so that is the slot losers must spread over (a fixed
    // unit is too short on a slow remote or a loaded runner, and they collide again in lockstep).
    delayMs: ({ value }, attempt) => {
      const slot = Math.max(baseDelayMs, Date.now() - value!.began);
      return Math.round(Math.random() * Math.min(maxDelayMs, slot * 2 ** (attempt - 1)));
    },
    onRetry: ({ attempt, delayMs }) =>
      core.info(
        `'${target}' moved while pushing (attempt ${attempt}); re-applying on the new tip in ${delayMs} ms.`,
      ),
  });
  if (rejected === undefined) return landed;
  throw new Error(
    `could not push to '${target}' after ${maxAttempts} attempts (other runs kept landing first); last error: ${rejected}`,
  );
}
