/**
 * `GET /repos/{owner}/{repo}/commits` (repos/list-commits) for the fake: a per-repository commit
 * history, newest first, filtered by `path` (a file or a directory prefix), `since`, `until` and
 * `author`, paginated, shaped like GitHub's commit objects. An empty repository answers 409 as
 * GitHub does.
 */
import { createHash } from 'node:crypto';
import type { FakeGitHub, HandlerContext } from './server.js';
import { HttpStatus, invalid, paginate } from './server.js';
import * as resources from './resources.js';

export interface FakeCommit {
  sha: string;
  message: string;
  /** Paths changed by the commit. */
  files: string[];
  login: string;
  name: string;
  email: string;
  date: string;
}

const histories = new WeakMap<FakeGitHub, Map<string, FakeCommit[]>>();

function historyOf(gh: FakeGitHub, owner: string, repo: string): FakeCommit[] {
  let map = histories.get(gh);
  if (!map) histories.set(gh, (map = new Map()));
  const key = `${owner}/${repo}`.toLowerCase();
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}

/** Appends a commit (the newest) and returns it. */
export function addCommit(
  gh: FakeGitHub,
  owner: string,
  repo: string,
  /** `sha`: a real commit's, when the history mirrors a git repository (default: made up). */
  c: { message: string; files: string[]; login?: string; date?: string; sha?: string },
): FakeCommit {
  gh.createRepo(`${owner}/${repo}`); // seeding history creates the repository
  const list = historyOf(gh, owner, repo);
  const login = c.login ?? 'octocat';
  const commit: FakeCommit = {
    sha:
      c.sha ??
      createHash('sha1')
        .update(`${list.length}\n${c.message}\n${c.files.join(',')}`)
        .digest('hex'),
    message: c.message,
    files: c.files,
    login,
    name: login,
    email: `${login}@users.noreply.github.com`,
    date: c.date ?? new Date(Date.now() + list.length).toISOString(),
  };
  list.push(commit);
  return commit;
}

const touches = (c: FakeCommit, path: string): boolean => {
  const p = path.replace(/^\/+|\/+$/g, '');
  return c.files.some((f) => f === p || f.startsWith(`${p}/`));
};

function view(ctx: HandlerContext, owner: string, repo: string, c: FakeCommit, parent?: FakeCommit): unknown {
  const body = resources.commit(
    ctx.state,
    { fullName: `${owner}/${repo}` },
    { sha: c.sha, message: c.message, parents: parent ? [parent.sha] : [], login: c.login, date: c.date },
  ) as { commit: { author: object; committer: object } };
  const person = { name: c.name, email: c.email, date: c.date };
  return { ...body, commit: { ...body.commit, author: person, committer: person } };
}

export interface FakeCommitComment {
  id: number;
  commit_id: string;
  body: string;
  login: string;
  created_at: string;
  updated_at: string;
}

const commentStores = new WeakMap<FakeGitHub, Map<string, FakeCommitComment[]>>();

/** The commit comments of one repository, oldest first (what tests assert on). */
export function commitCommentsOf(gh: FakeGitHub, owner: string, repo: string): FakeCommitComment[] {
  let map = commentStores.get(gh);
  if (!map) commentStores.set(gh, (map = new Map()));
  const key = `${owner}/${repo}`.toLowerCase();
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}

/** The commit the path names, as GitHub finds it: a full or abbreviated sha of the history; else 404. */
function commitOf(gh: FakeGitHub, ctx: HandlerContext): FakeCommit {
  const { owner, repo, commit_sha: sha } = ctx.params as { owner: string; repo: string; commit_sha: string };
  if (!ctx.state.repo(owner, repo)) throw new HttpStatus(404, 'Not Found');
  const c = historyOf(gh, owner, repo).find((x) => sha.length >= 7 && x.sha.startsWith(sha));
  if (!c) throw new HttpStatus(404, `No commit found for SHA: ${sha}`);
  return c;
}

/** A commit comment's body: required and non-empty, at most 65,536 characters (as on issues). */
function commentBody(ctx: HandlerContext): string {
  const body = (ctx.body as { body?: unknown } | undefined)?.body;
  if (typeof body !== 'string' || body.trim() === '')
    throw invalid({ resource: 'CommitComment', field: 'body', code: 'missing_field' });
  if ([...body].length > 65536)
    throw invalid({
      resource: 'CommitComment',
      field: 'body',
      code: 'custom',
      message: 'body is too long (maximum is 65536 characters)',
    });
  return body;
}

/** Commit comments: listed per commit, created on a known commit, edited only by their author. */
function registerCommitComments(gh: FakeGitHub): void {
  const view = (ctx: HandlerContext, c: FakeCommitComment): unknown =>
    resources.commitComment(ctx.state, { fullName: `${ctx.params.owner}/${ctx.params.repo}` }, c);
  const store = (ctx: HandlerContext): FakeCommitComment[] =>
    commitCommentsOf(gh, ctx.params.owner!, ctx.params.repo!);
  gh.on('repos/list-comments-for-commit', (ctx) => {
    const sha = commitOf(gh, ctx).sha;
    return paginate(
      store(ctx)
        .filter((c) => c.commit_id === sha)
        .map((c) => view(ctx, c)),
      ctx,
    );
  });
  gh.on('repos/create-commit-comment', (ctx) => {
    const all = store(ctx);
    const at = new Date().toISOString();
    const c = { id: 9000 + all.length, commit_id: commitOf(gh, ctx).sha, body: commentBody(ctx) };
    all.push({ ...c, login: ctx.login, created_at: at, updated_at: at });
    return { status: 201, body: view(ctx, all.at(-1)!) };
  });
  gh.on('repos/update-commit-comment', (ctx) => {
    if (!ctx.state.repo(ctx.params.owner!, ctx.params.repo!)) throw new HttpStatus(404, 'Not Found');
    const c = store(ctx).find((x) => x.id === Number(ctx.params.comment_id));
    if (!c) throw new HttpStatus(404, 'Not Found');
    if (c.login !== ctx.login) throw new HttpStatus(403, 'Must have admin rights to Repository.');
    Object.assign(c, { body: commentBody(ctx), updated_at: new Date().toISOString() });
    return { status: 200, body: view(ctx, c) };
  });
}

export function registerCommitHandlers(gh: FakeGitHub): FakeGitHub {
  registerCommitComments(gh);
  return gh.on('repos/list-commits', (ctx) => {
    const { owner, repo } = ctx.params as { owner: string; repo: string };
    if (!ctx.state.repo(owner, repo)) throw new HttpStatus(404, 'Not Found');
    const all = historyOf(gh, owner, repo);
    if (all.length === 0) throw new HttpStatus(409, 'Git Repository is empty.');
    const path = ctx.query.get('path');
    const since = ctx.query.get('since');
    const until = ctx.query.get('until');
    const author = ctx.query.get('author');
    const sha = ctx.query.get('sha');
    let upto = all.length;
    if (sha && sha !== 'main' && sha !== 'HEAD') {
      const at = all.findIndex((c) => c.sha.startsWith(sha));
      if (at < 0) throw new HttpStatus(404, 'No commit found for SHA: ' + sha);
      upto = at + 1;
    }
    const items = all
      .slice(0, upto)
      .map((c, i) => ({ c, parent: all[i - 1] }))
      .filter(
        ({ c }) => (!path || touches(c, path)) && (!since || c.date >= since) && (!until || c.date <= until),
      )
      .filter(({ c }) => !author || c.login === author || c.email === author)
      .reverse()
      .map(({ c, parent }) => view(ctx, owner, repo, c, parent));
    return paginate(items, ctx);
  });
}
