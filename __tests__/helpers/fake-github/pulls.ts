/**
 * Pull-request operations (list, create, update) with GitHub's rules: PRs share the issue number
 * sequence and appear as issues; `head` and `base` must be existing branches (checked against a
 * real bare repository when one is given), must differ and must have commits between them; only
 * one open PR per head and base ("A pull request already exists for owner:branch."); a merged PR
 * cannot be reopened.
 */
import { execFileSync } from 'node:child_process';
import type { FakeGitHub, HandlerContext, HandlerResult } from './server.js';
import { HttpStatus, invalid, paginate } from './server.js';
import * as resources from './resources.js';
import { checkIssueText } from './handlers.js';
import { registerMergeHandlers } from './merge.js';
import { checkStateChange } from './pull-state.js';
import type { Issue, Pull, RepoState } from './state.js';

export interface PullHandlerOptions {
  /** A bare repository standing in for the GitHub repository's git data. */
  gitDir?: string;
}

type StoredPull = Pull & {
  id: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  merged_at: string | null;
  issue: Issue;
};

const now = (): string => new Date().toISOString();

function repoOf(ctx: HandlerContext): RepoState {
  const repo = ctx.state.repo(ctx.params.owner!, ctx.params.repo!);
  if (!repo) throw new HttpStatus(404, 'Not Found');
  return repo;
}

function git(gitDir: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch {
    return undefined;
  }
}

const validation = (message: string, field?: string): HttpStatus =>
  invalid({ resource: 'PullRequest', code: 'custom', ...(field ? { field } : {}), message });

const view = (
  ctx: HandlerContext,
  repo: RepoState,
  pr: StoredPull,
  simple = false,
): Record<string, unknown> => resources.pull(ctx.state, repo, pr, simple);

type BranchSha = (ref: string) => string | undefined;

export function registerPullHandlers(gh: FakeGitHub, options: PullHandlerOptions = {}): void {
  const branchSha: BranchSha = (ref) =>
    options.gitDir
      ? git(options.gitDir, ['rev-parse', '--verify', '--quiet', `refs/heads/${ref}^{commit}`])
      : '0'.repeat(40);
  gh.on('pulls/list', listPulls);
  gh.on('pulls/create', (ctx) => createPull(ctx, branchSha, options));
  gh.on('pulls/update', (ctx) => updatePull(ctx, branchSha));
  registerMergeHandlers(gh, { gitDir: options.gitDir, branchSha, repoOf });
}

/** GET /repos/{owner}/{repo}/pulls, filtered by state, `owner:ref` head and base, newest first. */
function listPulls(ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const state = ctx.query.get('state') ?? 'open';
  const head = ctx.query.get('head');
  const base = ctx.query.get('base');
  const [headOwner, headRef] = head?.includes(':') ? head.split(':', 2) : [repo.owner, head];
  const items = [...repo.pulls.values()]
    .map((p) => p as StoredPull)
    .filter(
      (p) =>
        (state === 'all' || p.state === state) &&
        (!head || (headOwner!.toLowerCase() === repo.owner.toLowerCase() && p.head.ref === headRef)) &&
        (!base || p.base.ref === base),
    )
    .sort((a, b) => b.number - a.number);
  const page = paginate(items, ctx);
  return { ...page, body: (page.body as StoredPull[]).map((p) => view(ctx, repo, p, true)) };
}

interface PullCreate {
  title?: string;
  head: string;
  base: string;
  body?: string;
  draft?: boolean;
  maintainer_can_modify?: boolean;
  issue?: number;
}

/** What GitHub refuses on create (422s), or the head and base a new pull request gets. */
function checkPullCreate(
  repo: RepoState,
  b: PullCreate,
  branchSha: BranchSha,
  options: PullHandlerOptions,
): { title: string; headRef: string; headSha: string; baseSha: string } {
  if (b.issue !== undefined) throw validation('converting issues is not supported by fake-github');
  const title = String(b.title ?? '');
  checkIssueText('PullRequest', { title, body: b.body });
  const headRef = b.head.includes(':') ? b.head.split(':', 2)[1]! : b.head;
  const headOwner = b.head.includes(':') ? b.head.split(':', 2)[0]! : repo.owner;
  if (headOwner.toLowerCase() !== repo.owner.toLowerCase())
    throw validation('cross-repository pull requests are not modelled by fake-github', 'head');
  const baseSha = branchSha(b.base);
  if (!baseSha) throw invalid({ resource: 'PullRequest', field: 'base', code: 'invalid' });
  const headSha = branchSha(headRef);
  if (!headSha) throw invalid({ resource: 'PullRequest', field: 'head', code: 'invalid' });
  if (headRef === b.base) throw validation(`No commits between ${b.base} and ${headRef}`);
  if (options.gitDir && git(options.gitDir, ['rev-list', '--count', `${baseSha}..${headSha}`]) === '0') {
    throw validation(`No commits between ${b.base} and ${headRef}`);
  }
  const clash = [...repo.pulls.values()].find(
    (p) => p.state === 'open' && p.head.ref === headRef && p.base.ref === b.base,
  );
  if (clash) throw validation(`A pull request already exists for ${repo.owner}:${headRef}.`);
  return { title, headRef, headSha, baseSha };
}

/** POST /repos/{owner}/{repo}/pulls: a pull request and its issue half, from one number sequence. */
function createPull(ctx: HandlerContext, branchSha: BranchSha, options: PullHandlerOptions): HandlerResult {
  const repo = repoOf(ctx);
  const b = ctx.body as PullCreate;
  const { title, headRef, headSha, baseSha } = checkPullCreate(repo, b, branchSha, options);
  const user = ctx.state.user(ctx.login);
  const issue = repo.addIssue(ctx.state, ctx.baseUrl, {
    title,
    body: b.body,
    user,
    pull: true,
    nodePrefix: 'PR',
  });
  const { number, id } = issue;
  const pr: StoredPull = {
    id,
    number,
    title,
    body: b.body ?? null,
    state: 'open',
    draft: b.draft ?? false,
    head: { ref: headRef, sha: headSha, repo: { full_name: repo.fullName, fork: false } },
    base: { ref: b.base, sha: baseSha, repo: { full_name: repo.fullName } },
    user,
    merged: false,
    files: [],
    commits: [],
    maintainer_can_modify: b.maintainer_can_modify ?? false,
    created_at: now(),
    updated_at: now(),
    closed_at: null,
    merged_at: null,
    issue,
  };
  repo.pulls.set(number, pr);
  return {
    status: 201,
    body: view(ctx, repo, pr),
    headers: { location: `${ctx.baseUrl}/repos/${repo.fullName}/pulls/${number}` },
  };
}

/** PATCH /repos/{owner}/{repo}/pulls/{pull_number}: title, body, base and state, kept in step with its issue. */
function updatePull(ctx: HandlerContext, branchSha: BranchSha): HandlerResult {
  const repo = repoOf(ctx);
  const pr = repo.pulls.get(Number(ctx.params.pull_number)) as StoredPull | undefined;
  if (!pr) throw new HttpStatus(404, 'Not Found');
  const b = (ctx.body ?? {}) as { title?: string; body?: string; state?: 'open' | 'closed'; base?: string };
  checkIssueText('PullRequest', b);
  const baseSha = b.base !== undefined ? branchSha(b.base) : undefined;
  if (b.base !== undefined && !baseSha)
    throw invalid({ resource: 'PullRequest', field: 'base', code: 'invalid' });
  if (b.state !== undefined) checkStateChange(repo, pr, b.state);
  if (b.title !== undefined) pr.title = pr.issue.title = b.title;
  if (b.body !== undefined) pr.body = pr.issue.body = b.body;
  if (b.base !== undefined) pr.base = { ...pr.base, ref: b.base, sha: baseSha! };
  if (b.state !== undefined && b.state !== pr.state) {
    pr.state = pr.issue.state = b.state;
    pr.closed_at = pr.issue.closed_at = b.state === 'closed' ? now() : null;
  }
  const sha = branchSha(pr.head.ref);
  if (sha) pr.head.sha = sha;
  pr.updated_at = pr.issue.updated_at = now();
  return { status: 200, body: view(ctx, repo, pr) };
}
