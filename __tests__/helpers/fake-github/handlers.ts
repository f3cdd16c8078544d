/**
 * Handlers for the operations the actions use, with GitHub's semantics where they matter:
 * issue and PR numbers share one sequence, labels are created on first use, pagination has Link
 * headers, and a missing repository or issue is 404.
 */
import type { FakeGitHub, HandlerContext, HandlerResult } from './server.js';
import { HttpStatus, invalid, paginate } from './server.js';
import * as resources from './resources.js';
import { checkStateChange } from './pull-state.js';
import type { Issue, Label, RepoState } from './state.js';

const now = (): string => new Date().toISOString();

/** When each issue's labels last changed, for the list lag (not part of what the API serves). */
const labelledAt = new WeakMap<Issue, number>();

function repoOf(ctx: HandlerContext): RepoState {
  const repo = ctx.state.repo(ctx.params.owner!, ctx.params.repo!);
  if (!repo) throw new HttpStatus(404, 'Not Found');
  return repo;
}

function issueOf(ctx: HandlerContext, repo: RepoState): Issue {
  const issue = repo.issue(Number(ctx.params.issue_number ?? ctx.params.pull_number));
  if (!issue) throw new HttpStatus(404, 'Not Found');
  return issue;
}

export function labelFor(ctx: HandlerContext, repo: RepoState, name: string, color = 'ededed'): Label {
  const key = name.toLowerCase();
  let label = repo.labels.get(key);
  if (!label) {
    if (name.length > 50)
      throw invalid({
        resource: 'Label',
        field: 'name',
        code: 'custom',
        message: 'name is too long (maximum is 50 characters)',
      });
    label = resources.label(ctx.state, repo, ctx.state.nextId(), name, color);
    repo.labels.set(key, label);
  }
  return label;
}

const labelNames = (labels: unknown[] | undefined): string[] =>
  (labels ?? [])
    .map((l) => (typeof l === 'string' ? l : String((l as { name?: string }).name ?? '')))
    .filter(Boolean);

export const commentView = resources.commentView;

/** GitHub's limits on an issue's (or pull request's) title and body, on create and update alike. */
export function checkIssueText(resource: string, b: { title?: unknown; body?: unknown }): void {
  if (b.title !== undefined) {
    const title = String(b.title);
    if (title.trim() === '') throw invalid({ resource, field: 'title', code: 'missing_field' });
    if ([...title].length > 256)
      throw invalid({
        resource,
        field: 'title',
        code: 'custom',
        message: 'title is too long (maximum is 256 characters)',
      });
  }
  if (typeof b.body === 'string') checkBody(resource, b.body);
}

function checkBody(resource: string, body: string): void {
  if ([...body].length > 65536)
    throw invalid({
      resource,
      field: 'body',
      code: 'custom',
      message: 'body is too long (maximum is 65536 characters)',
    });
}

/** POST /repos/{owner}/{repo}/issues/{issue_number}/comments (exported so a test can simulate a racer). */
export function createComment(ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const issue = issueOf(ctx, repo);
  const body = String(ctx.body.body);
  checkBody('IssueComment', body);
  const comment = resources.comment(ctx.state, repo, issue, ctx.state.nextId(), body, ctx.login);
  repo.comments.push(comment);
  issue.comments++;
  issue.updated_at = now();
  return { status: 201, body: commentView(comment) };
}

/** POST /repos/{owner}/{repo}/issues, with the labels dropped when the fake plays that fault. */
function createIssue(gh: FakeGitHub, ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const title = String(ctx.body.title);
  checkIssueText('Issue', { title, body: ctx.body.body });
  const issue = repo.addIssue(ctx.state, ctx.baseUrl, {
    title,
    body: ctx.body.body,
    user: ctx.state.user(ctx.login),
    labels: gh.dropLabelsOnCreate ? [] : labelNames(ctx.body.labels).map((n) => labelFor(ctx, repo, n)),
  });
  labelledAt.set(issue, Date.now());
  return {
    status: 201,
    body: issue,
    headers: { location: issue.url },
  };
}

/**
 * PATCH /repos/{owner}/{repo}/issues/{issue_number}: title, body, labels, state and its reason. A
 * pull request's issue changes state under the pull request's rules (a merged one is not
 * reopened), and the pull request changes with it.
 */
function updateIssue(ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const issue = issueOf(ctx, repo);
  const b = ctx.body ?? {};
  checkIssueText('Issue', b);
  const pull = repo.pulls.get(issue.number);
  if (pull && b.state !== undefined) checkStateChange(repo, pull, b.state);
  if (b.title !== undefined) issue.title = String(b.title);
  if (b.body !== undefined) issue.body = b.body;
  if (b.labels !== undefined) {
    issue.labels = labelNames(b.labels).map((n) => labelFor(ctx, repo, n));
    labelledAt.set(issue, Date.now());
  }
  if (b.state !== undefined && b.state !== issue.state) {
    issue.state = b.state;
    issue.closed_at = b.state === 'closed' ? now() : null;
    issue.state_reason = b.state === 'closed' ? (b.state_reason ?? 'completed') : 'reopened';
    if (pull) pull.state = b.state;
  } else if (b.state_reason !== undefined) {
    issue.state_reason = b.state_reason;
  }
  issue.updated_at = now();
  return { status: 200, body: issue };
}

/** GET /repos/{owner}/{repo}/issues: filtered, sorted and paginated as GitHub does. */
function listIssues(gh: FakeGitHub, ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const state = ctx.query.get('state') ?? 'open';
  const wanted = (ctx.query.get('labels') ?? '')
    .split(',')
    .map((l) => l.trim().toLowerCase())
    .filter(Boolean);
  // A label filter is served from an index that catches up `listLagMs` after a write.
  const settled = (i: Issue): boolean =>
    wanted.length === 0 || Date.now() - (labelledAt.get(i) ?? 0) >= gh.listLagMs;
  const creator = ctx.query.get('creator');
  const since = ctx.query.get('since');
  let items = repo.issues.filter(
    (i) =>
      (state === 'all' || i.state === state) &&
      wanted.every((w) => i.labels.some((l) => l.name.toLowerCase() === w)) &&
      settled(i) &&
      (!creator || i.user.login === creator) &&
      (!since || i.updated_at >= since),
  );
  const sort = ctx.query.get('sort') ?? 'created';
  const dir = ctx.query.get('direction') ?? 'desc';
  const key = sort === 'updated' ? 'updated_at' : sort === 'comments' ? 'comments' : 'number';
  items = [...items].sort((a, b) => {
    const d = a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.number - b.number;
    return dir === 'asc' ? d : -d;
  });
  return paginate(items, ctx);
}

/** POST /repos/{owner}/{repo}/dispatches, refusing a client_payload of 64 KB or more. */
function createDispatch(ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const payload = ctx.body.client_payload ?? {};
  if (Buffer.byteLength(JSON.stringify(payload)) >= 64 * 1024) {
    throw invalid({
      resource: 'RepositoryDispatch',
      field: 'client_payload',
      code: 'custom',
      message: 'client_payload is too large: the total size must be less than 64KB',
    });
  }
  repo.dispatches.push({ event_type: ctx.body.event_type, client_payload: payload, at: Date.now() });
  return { status: 204 };
}

export function registerDefaultHandlers(gh: FakeGitHub): void {
  gh.on('repos/get', (ctx) => {
    return { status: 200, body: resources.fullRepository(ctx.state, repoOf(ctx)) };
  });

  gh.on('issues/create', (ctx) => createIssue(gh, ctx));
  gh.on('issues/get', (ctx) => ({ status: 200, body: issueOf(ctx, repoOf(ctx)) }));
  gh.on('issues/update', updateIssue);
  gh.on('issues/list-for-repo', (ctx) => listIssues(gh, ctx));
  gh.on('issues/create-comment', createComment);

  gh.on('issues/list-comments', (ctx) => {
    const repo = repoOf(ctx);
    const issue = issueOf(ctx, repo);
    return paginate(repo.comments.filter((c) => c.issue_number === issue.number).map(commentView), ctx);
  });

  gh.on('issues/update-comment', (ctx) => {
    const repo = repoOf(ctx);
    const comment = repo.comments.find((c) => c.id === Number(ctx.params.comment_id));
    if (!comment) throw new HttpStatus(404, 'Not Found');
    checkBody('IssueComment', String(ctx.body.body));
    comment.body = String(ctx.body.body);
    comment.updated_at = now();
    return { status: 200, body: commentView(comment) };
  });

  gh.on('issues/delete-comment', (ctx) => {
    const repo = repoOf(ctx);
    const at = repo.comments.findIndex((c) => c.id === Number(ctx.params.comment_id));
    if (at < 0) throw new HttpStatus(404, 'Not Found');
    const [comment] = repo.comments.splice(at, 1);
    const issue = repo.issue(comment!.issue_number);
    if (issue) issue.comments--;
    return { status: 204 };
  });

  gh.on('issues/add-labels', (ctx) => {
    const repo = repoOf(ctx);
    const issue = issueOf(ctx, repo);
    const names = Array.isArray(ctx.body) ? labelNames(ctx.body) : labelNames(ctx.body?.labels);
    for (const n of names) {
      if (!issue.labels.some((l) => l.name.toLowerCase() === n.toLowerCase()))
        issue.labels.push(labelFor(ctx, repo, n));
    }
    labelledAt.set(issue, Date.now());
    return { status: 200, body: issue.labels };
  });

  gh.on('issues/get-label', (ctx) => {
    const label = repoOf(ctx).labels.get(ctx.params.name!.toLowerCase());
    if (!label) throw new HttpStatus(404, 'Not Found');
    return { status: 200, body: label };
  });

  gh.on('issues/create-label', (ctx) => {
    const repo = repoOf(ctx);
    if (repo.labels.has(String(ctx.body.name).toLowerCase())) {
      throw invalid({ resource: 'Label', field: 'name', code: 'already_exists' });
    }
    const label = labelFor(ctx, repo, String(ctx.body.name), ctx.body.color ?? 'ededed');
    label.description = ctx.body.description ?? null;
    return { status: 201, body: label };
  });

  gh.on('issues/list-labels-for-repo', (ctx) => paginate([...repoOf(ctx).labels.values()], ctx));

  gh.on('repos/create-dispatch-event', createDispatch);
}
