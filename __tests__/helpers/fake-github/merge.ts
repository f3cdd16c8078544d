/**
 * `PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge` (pulls/merge) as GitHub answers it. With a
 * bare repository behind the fake the merge is real: a merge commit (GitHub never fast-forwards), a squash commit or the head's commits
 * replayed onto the base, committed by GitHub, and the base branch moved to it, so the `sha` the
 * client gets is a commit that exists. Refusals are GitHub's: 405 for a closed, merged, draft or
 * conflicting pull request or a merge method the repository disallows, 409 when `sha` is not the
 * head, 422 for a merge method outside merge|squash|rebase (the request schema's check). A merge
 * into the default branch closes the issues the description names with a closing keyword.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeGitHub, HandlerContext, HandlerResult } from './server.js';
import { HttpStatus } from './server.js';
import type { Pull, RepoState, User } from './state.js';

export type MergeMethod = 'merge' | 'squash' | 'rebase';

interface MergeRequest {
  commit_title?: string;
  commit_message?: string;
  sha?: string;
  merge_method?: MergeMethod;
}

const DOCS = 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request';
const notAllowed: Record<MergeMethod, string> = {
  merge: 'Merge commits are not allowed on this repository.',
  squash: 'Squash merges are not allowed on this repository.',
  rebase: 'Rebase merges are not allowed on this repository.',
};

const refuse = (status: 405 | 409, message: string): HttpStatus =>
  new HttpStatus(status, message, { message, documentation_url: DOCS, status: String(status) });

/** Git without the user's configuration (no signing, no hooks from ~/.gitconfig), as a service runs it. */
function run(gitDir: string | null, args: string[], env: Record<string, string> = {}, cwd?: string) {
  // null: the worktree in `cwd` (its .git file names its own HEAD, not the bare repository's).
  const r = spawnSync('git', [...(gitDir === null ? [] : ['--git-dir', gitDir]), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', ...env },
  });
  return { ok: r.status === 0, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}

function must(gitDir: string | null, args: string[], env?: Record<string, string>, cwd?: string): string {
  const r = run(gitDir, args, env, cwd);
  if (!r.ok) throw new Error(`fake-github: git ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

/** Who the merge commit names: the merging user as author, GitHub as committer (web-flow). */
function identity(u: User, keepAuthor: boolean): Record<string, string> {
  const committer = { GIT_COMMITTER_NAME: 'GitHub', GIT_COMMITTER_EMAIL: 'noreply@github.com' };
  if (keepAuthor) return committer;
  return {
    ...committer,
    GIT_AUTHOR_NAME: u.login,
    GIT_AUTHOR_EMAIL: `${u.id}+${u.login}@users.noreply.github.com`,
  };
}

/** The message GitHub writes by default; `commit_title`/`commit_message` replace its two parts. */
function messageOf(
  gitDir: string | undefined,
  repo: RepoState,
  pr: Pull,
  method: 'merge' | 'squash',
  b: MergeRequest,
  commits: string[],
): string {
  let title = `Merge pull request #${pr.number} from ${repo.owner}/${pr.head.ref}`;
  let body = pr.title;
  if (method === 'squash') {
    const subject = (sha: string) => must(gitDir!, ['log', '-1', '--format=%s', sha]);
    const only = gitDir && commits.length === 1 ? commits[0]! : undefined;
    // One commit: its own message; more: the PR's title and a list of the commits.
    title = `${only ? subject(only) : pr.title} (#${pr.number})`;
    body = only
      ? must(gitDir!, ['log', '-1', '--format=%b', only])
      : gitDir
        ? commits.map((c) => `* ${must(gitDir, ['log', '-1', '--format=%B', c])}`).join('\n\n')
        : '';
  }
  return [b.commit_title ?? title, b.commit_message ?? body].filter((p) => p !== '').join('\n\n');
}

/**
 * The new tip of the base branch, made in the bare repository, or undefined when the changes
 * conflict. merge and squash take the tree `git merge-tree` writes; rebase replays the head's
 * commits in a throwaway worktree (a bare repository has no other place to run the merges in).
 */
function mergeInGit(
  gitDir: string,
  repo: RepoState,
  pr: Pull,
  u: User,
  method: MergeMethod,
  b: MergeRequest,
  base: string,
  head: string,
): string | undefined {
  const commits = must(gitDir, ['rev-list', '--reverse', `${base}..${head}`])
    .split('\n')
    .filter(Boolean);
  if (method !== 'rebase') {
    const tree = run(gitDir, ['merge-tree', '--write-tree', base, head]);
    if (!tree.ok) return undefined;
    const parents = method === 'merge' ? ['-p', base, '-p', head] : ['-p', base];
    const message = messageOf(gitDir, repo, pr, method, b, commits);
    return must(
      gitDir,
      ['commit-tree', tree.out.split('\n')[0]!, ...parents, '-m', message],
      identity(u, false),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'fake-github-rebase-'));
  try {
    must(gitDir, ['worktree', 'add', '-q', '--detach', dir, head]);
    // GitHub's rebase always writes new commits (new committer), even when a fast-forward would do.
    const rebased = run(null, ['rebase', '-q', '--force-rebase', base], identity(u, true), dir);
    if (!rebased.ok) {
      run(null, ['rebase', '--abort'], {}, dir);
      return undefined;
    }
    return must(null, ['rev-parse', 'HEAD'], {}, dir);
  } finally {
    run(gitDir, ['worktree', 'remove', '--force', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface MergeOptions {
  gitDir?: string;
  /** The branch's commit now (the bare repository's, when there is one). */
  branchSha: (ref: string) => string | undefined;
  repoOf: (ctx: HandlerContext) => RepoState;
}

/** What GitHub refuses before merging: the state, the draft, the method, a stale `sha`. */
function checkMergeable(repo: RepoState, pr: Pull, b: MergeRequest, head: string): MergeMethod {
  if (pr.state !== 'open' || pr.merged) throw refuse(405, 'Pull Request is not mergeable');
  if (pr.draft) throw refuse(405, 'Pull Request is still a draft');
  const method = b.merge_method ?? 'merge';
  if (!repo.mergeMethods.includes(method)) throw refuse(405, notAllowed[method]);
  if (b.sha !== undefined && b.sha !== head)
    throw refuse(409, 'Head branch was modified. Review and try the merge again.');
  return method;
}

function mergePull(ctx: HandlerContext, o: MergeOptions): HandlerResult {
  const repo = o.repoOf(ctx);
  const pr = repo.pulls.get(Number(ctx.params.pull_number));
  if (!pr) throw new HttpStatus(404, 'Not Found');
  const b = (ctx.body ?? {}) as MergeRequest;
  const head = (o.gitDir && o.branchSha(pr.head.ref)) || pr.head.sha;
  const method = checkMergeable(repo, pr, b, head);
  const u = ctx.state.user(ctx.login);
  let sha: string;
  if (o.gitDir) {
    const base = o.branchSha(pr.base.ref);
    if (!base) throw refuse(405, 'Pull Request is not mergeable');
    const made = mergeInGit(o.gitDir, repo, pr, u, method, b, base, head);
    if (!made) throw refuse(405, 'Pull Request is not mergeable');
    // Compare-and-swap: a push to the base meanwhile makes GitHub refuse rather than lose it.
    if (!run(o.gitDir, ['update-ref', `refs/heads/${pr.base.ref}`, made, base]).ok)
      throw refuse(405, 'Base branch was modified. Review and try the merge again.');
    sha = made;
  } else {
    sha = createHash('sha1').update(`${method}:${repo.fullName}#${pr.number}:${head}`).digest('hex');
  }
  closeMerged(repo, pr, { sha, head, user: u });
  return { status: 200, body: { sha, merged: true, message: 'Pull Request successfully merged' } };
}

/** The pull request (and its issue half) after a merge: closed, merged, by whom, into which commit. */
function closeMerged(repo: RepoState, pr: Pull, m: { sha: string; head: string; user: User }): void {
  const at = new Date().toISOString();
  Object.assign(pr, {
    state: 'closed',
    merged: true,
    merged_at: at,
    merge_commit_sha: m.sha,
    merged_by: m.user,
    head: { ...pr.head, sha: m.head },
  });
  const issue = repo.issue(pr.number);
  if (issue) {
    Object.assign(issue, { state: 'closed', closed_at: at, updated_at: at });
    if (issue.pull_request) issue.pull_request.merged_at = at;
  }
  Object.assign(pr as { closed_at?: string; updated_at?: string }, { closed_at: at, updated_at: at });
  if (pr.base.ref === repo.default_branch) closeLinked(repo, pr, at);
}

/** GitHub's closing keywords ("Fixes #12"), in the description, for a merge into the default branch. */
const CLOSING = /\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+#(\d+)\b/gi;

/** The issues the description closes (same repository only: cross-repository links are not modelled). */
function closeLinked(repo: RepoState, pr: Pull, at: string): void {
  for (const [, n] of (pr.body ?? '').matchAll(CLOSING)) {
    const issue = repo.issue(Number(n));
    if (!issue || issue.pull_request || issue.state === 'closed') continue;
    Object.assign(issue, { state: 'closed', state_reason: 'completed', closed_at: at, updated_at: at });
  }
}

export function registerMergeHandlers(gh: FakeGitHub, o: MergeOptions): void {
  gh.on('pulls/merge', (ctx) => mergePull(ctx, o));
}
