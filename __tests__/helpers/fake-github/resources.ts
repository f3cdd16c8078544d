/**
 * The one place each REST object the fake serves is built, with every field GitHub's OpenAPI
 * description marks required (the server checks each response against it). URLs follow the
 * fake's API root and web root, so that under GHES (`/api/v3`) they point where GitHub
 * Enterprise's would.
 */
import { createHash } from 'node:crypto';
import type { Comment, Issue, Label, Pull, PullFile, RepoState, Review, State, User } from './state.js';

type Obj = Record<string, unknown>;
type RepoLike = Pick<RepoState, 'owner' | 'name' | 'fullName' | 'private' | 'default_branch' | 'issues'>;
const DOCS = 'https://docs.github.com/rest';
const EPOCH = '2024-01-01T00:00:00Z';

const numericId = (text: string): number =>
  [...text].reduce((a, c) => (a * 31 + c.charCodeAt(0)) % 1_000_000, 7);

/** A simple-user: the shape of every `user`, `owner`, `assignee` GitHub embeds. */
export function user(state: State, login: string): User {
  const id = numericId(login);
  const api = `${state.apiUrl}/users/${encodeURIComponent(login)}`;
  const bot = /^(.+)\[bot\]$/.exec(login)?.[1];
  return {
    login,
    id,
    node_id: `U_${id}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url: bot ? `${state.webUrl}/apps/${bot}` : `${state.webUrl}/${login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: bot ? 'Bot' : 'User',
    user_view_type: 'public',
    site_admin: false,
  };
}

/** The `*_url` templates of a repository object, under its API URL. */
const REPO_URLS: [string, string][] = [
  ['archive', '/{archive_format}{/ref}'],
  ['assignees', '/assignees{/user}'],
  ['blobs', '/git/blobs{/sha}'],
  ['branches', '/branches{/branch}'],
  ['collaborators', '/collaborators{/collaborator}'],
  ['comments', '/comments{/number}'],
  ['commits', '/commits{/sha}'],
  ['compare', '/compare/{base}...{head}'],
  ['contents', '/contents/{+path}'],
  ['contributors', '/contributors'],
  ['deployments', '/deployments'],
  ['downloads', '/downloads'],
  ['events', '/events'],
  ['forks', '/forks'],
  ['git_commits', '/git/commits{/sha}'],
  ['git_refs', '/git/refs{/sha}'],
  ['git_tags', '/git/tags{/sha}'],
  ['hooks', '/hooks'],
  ['issue_comment', '/issues/comments{/number}'],
  ['issue_events', '/issues/events{/number}'],
  ['issues', '/issues{/number}'],
  ['keys', '/keys{/key_id}'],
  ['labels', '/labels{/name}'],
  ['languages', '/languages'],
  ['merges', '/merges'],
  ['milestones', '/milestones{/number}'],
  ['notifications', '/notifications{?since,all,participating}'],
  ['pulls', '/pulls{/number}'],
  ['releases', '/releases{/id}'],
  ['stargazers', '/stargazers'],
  ['statuses', '/statuses/{sha}'],
  ['subscribers', '/subscribers'],
  ['subscription', '/subscription'],
  ['tags', '/tags'],
  ['teams', '/teams'],
  ['trees', '/git/trees{/sha}'],
];

/** The `repository` object (also `full-repository`, which adds the counters at the end). */
export function repository(state: State, repo: RepoLike, fork = false): Obj {
  const api = `${state.apiUrl}/repos/${repo.fullName}`;
  const web = `${state.webUrl}/${repo.fullName}`;
  const host = new URL(state.webUrl).host;
  const id = numericId(repo.fullName);
  const open = repo.issues.filter((i) => i.state === 'open').length;
  const urls = Object.fromEntries(REPO_URLS.map(([k, path]) => [`${k}_url`, `${api}${path}`]));
  return {
    id,
    node_id: `R_${id}`,
    name: repo.name,
    full_name: repo.fullName,
    owner: user(state, repo.owner),
    private: repo.private,
    visibility: repo.private ? 'private' : 'public',
    html_url: web,
    description: null,
    fork,
    url: api,
    ...urls,
    clone_url: `${web}.git`,
    git_url: `git://${host}/${repo.fullName}.git`,
    ssh_url: `git@${host}:${repo.fullName}.git`,
    svn_url: web,
    mirror_url: null,
    homepage: null,
    language: 'Python',
    default_branch: repo.default_branch,
    forks: 0,
    forks_count: 0,
    stargazers_count: 0,
    watchers: 0,
    watchers_count: 0,
    open_issues: open,
    open_issues_count: open,
    size: 0,
    has_issues: true,
    has_projects: true,
    has_wiki: true,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    license: null,
    topics: [],
    pushed_at: EPOCH,
    created_at: EPOCH,
    updated_at: EPOCH,
  };
}

export function fullRepository(state: State, repo: RepoState): Obj {
  return { ...repository(state, repo), network_count: 0, subscribers_count: 0 };
}

export function label(state: State, repo: RepoLike, id: number, name: string, color: string): Label {
  return {
    id,
    node_id: `LA_${id}`,
    url: `${state.apiUrl}/repos/${repo.fullName}/labels/${encodeURIComponent(name)}`,
    name,
    color,
    description: null,
    default: false,
  };
}

/** A new issue (or the issue half of a pull request); the stored object is what the API serves. */
export function issue(
  state: State,
  repo: RepoState,
  spec: { id: number; number: number; title: string; body?: string | null; user: User; labels?: Label[] },
  extra: { pull?: boolean; nodePrefix?: string; authorAssociation?: string } = {},
): Issue {
  const at = new Date().toISOString();
  const api = `${state.apiUrl}/repos/${repo.fullName}/issues/${spec.number}`;
  const web = `${state.webUrl}/${repo.fullName}/${extra.pull ? 'pull' : 'issues'}/${spec.number}`;
  const pulls = `${state.apiUrl}/repos/${repo.fullName}/pulls/${spec.number}`;
  return {
    id: spec.id,
    node_id: `${extra.nodePrefix ?? 'I'}_${spec.id}`,
    number: spec.number,
    title: spec.title,
    body: spec.body ?? null,
    state: 'open',
    state_reason: null,
    labels: spec.labels ?? [],
    user: spec.user,
    assignee: null,
    assignees: [],
    milestone: null,
    locked: false,
    active_lock_reason: null,
    comments: 0,
    created_at: at,
    updated_at: at,
    closed_at: null,
    html_url: web,
    url: api,
    repository_url: `${state.apiUrl}/repos/${repo.fullName}`,
    labels_url: `${api}/labels{/name}`,
    comments_url: `${api}/comments`,
    events_url: `${api}/events`,
    timeline_url: `${api}/timeline`,
    author_association: extra.authorAssociation ?? 'NONE',
    ...(extra.pull
      ? {
          pull_request: {
            url: pulls,
            html_url: web,
            diff_url: `${web}.diff`,
            patch_url: `${web}.patch`,
            merged_at: null,
          },
        }
      : {}),
  };
}

export function comment(
  state: State,
  repo: RepoState,
  parent: Issue,
  id: number,
  body: string,
  login: string,
): Comment {
  const at = new Date().toISOString();
  return {
    id,
    node_id: `IC_${id}`,
    issue_number: parent.number,
    body,
    user: user(state, login),
    created_at: at,
    updated_at: at,
    html_url: `${parent.html_url}#issuecomment-${id}`,
    url: `${state.apiUrl}/repos/${repo.fullName}/issues/comments/${id}`,
    issue_url: parent.url,
    author_association: 'NONE',
  };
}

/** A commit comment (repos/*-commit-comment): a general one, not on a line of the diff. */
export function commitComment(
  state: State,
  repo: { fullName: string },
  c: { id: number; commit_id: string; body: string; login: string; created_at: string; updated_at: string },
): Obj {
  return {
    id: c.id,
    node_id: `CC_${c.id}`,
    url: `${state.apiUrl}/repos/${repo.fullName}/comments/${c.id}`,
    html_url: `${state.webUrl}/${repo.fullName}/commit/${c.commit_id}#commitcomment-${c.id}`,
    body: c.body,
    path: null,
    position: null,
    line: null,
    commit_id: c.commit_id,
    user: user(state, c.login),
    author_association: 'NONE',
    created_at: c.created_at,
    updated_at: c.updated_at,
  };
}

/** What the API serves for a stored comment (`issue_number` is the fake's own bookkeeping). */
export function commentView(c: Comment): Obj {
  const { issue_number: _n, ...view } = c;
  return view;
}

/** A pull request: `simple` for pulls/list (no counters), the full object otherwise. */
export function pull(state: State, repo: RepoState, p: Pull, simple = false): Obj {
  const api = `${state.apiUrl}/repos/${repo.fullName}`;
  const html = `${state.webUrl}/${repo.fullName}/pull/${p.number}`;
  const issueOf = repo.issue(p.number);
  const [headOwner, headName] = p.head.repo.full_name.split('/') as [string, string];
  const headRepo = p.head.repo.fork
    ? repository(state, new ForkView(headOwner, headName, repo.default_branch), true)
    : repository(state, repo);
  const view: Obj = {
    url: `${api}/pulls/${p.number}`,
    id: issueOf?.id ?? p.number,
    node_id: issueOf?.node_id ?? `PR_${p.number}`,
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    issue_url: `${api}/issues/${p.number}`,
    commits_url: `${api}/pulls/${p.number}/commits`,
    review_comments_url: `${api}/pulls/${p.number}/comments`,
    review_comment_url: `${api}/pulls/comments{/number}`,
    comments_url: `${api}/issues/${p.number}/comments`,
    statuses_url: `${api}/statuses/${p.head.sha}`,
    number: p.number,
    state: p.state,
    locked: false,
    title: p.title,
    user: p.user,
    body: p.body,
    labels: issueOf?.labels ?? [],
    milestone: null,
    active_lock_reason: null,
    created_at: issueOf?.created_at ?? EPOCH,
    updated_at: issueOf?.updated_at ?? EPOCH,
    closed_at: issueOf?.closed_at ?? null,
    merged_at: p.merged_at ?? null,
    merge_commit_sha: p.merge_commit_sha ?? null,
    assignee: null,
    assignees: [],
    requested_reviewers: [],
    requested_teams: [],
    draft: p.draft,
    head: {
      label: `${headOwner}:${p.head.ref}`,
      ref: p.head.ref,
      sha: p.head.sha,
      user: user(state, headOwner),
      repo: headRepo,
    },
    base: {
      label: `${repo.owner}:${p.base.ref}`,
      ref: p.base.ref,
      sha: p.base.sha,
      user: user(state, repo.owner),
      repo: repository(state, repo),
    },
    _links: pullLinks(api, html, p),
    author_association: issueOf?.author_association ?? 'NONE',
    auto_merge: null,
  };
  return simple ? view : { ...view, ...pullCounters(repo, p, issueOf) };
}

/** A pull request's `_links`: itself, its page, its issue, comments, commits and statuses. */
function pullLinks(api: string, html: string, p: Pull): Obj {
  const link = (href: string) => ({ href });
  return {
    self: link(`${api}/pulls/${p.number}`),
    html: link(html),
    issue: link(`${api}/issues/${p.number}`),
    comments: link(`${api}/issues/${p.number}/comments`),
    review_comments: link(`${api}/pulls/${p.number}/comments`),
    review_comment: link(`${api}/pulls/comments{/number}`),
    commits: link(`${api}/pulls/${p.number}/commits`),
    statuses: link(`${api}/statuses/${p.head.sha}`),
  };
}

/** What the full pull request adds to the one pulls/list serves: merge state and counters. */
function pullCounters(repo: RepoState, p: Pull, issueOf: Issue | undefined): Obj {
  return {
    merged: p.merged,
    mergeable: p.state === 'open' ? true : null,
    rebaseable: p.state === 'open' ? true : null,
    mergeable_state: p.state === 'open' ? 'clean' : 'unknown',
    merged_by: p.merged_by ?? null,
    comments: issueOf?.comments ?? 0,
    review_comments: repo.reviews
      .filter((r) => r.pull_number === p.number)
      .reduce((n, r) => n + r.comments.length, 0),
    maintainer_can_modify: p.maintainer_can_modify,
    commits: p.commits.length,
    additions: p.files.reduce((n, f) => n + f.additions, 0),
    deletions: p.files.reduce((n, f) => n + f.deletions, 0),
    changed_files: p.files.length,
  };
}

/** Just enough of a RepoState to describe a fork the fake does not hold. */
class ForkView implements RepoLike {
  readonly issues: Issue[] = [];
  readonly private = false;
  constructor(
    readonly owner: string,
    readonly name: string,
    readonly default_branch: string,
  ) {}
  get fullName(): string {
    return `${this.owner}/${this.name}`;
  }
}

/** A diff-entry, as pulls/list-files and compare list files. */
export function diffEntry(state: State, repo: RepoState, sha: string, f: PullFile): Obj {
  const path = f.filename.split('/').map(encodeURIComponent).join('/');
  return {
    sha: createHash('sha1').update(`${sha}:${f.filename}`).digest('hex'),
    filename: f.filename,
    status: f.status,
    additions: f.additions,
    deletions: f.deletions,
    changes: f.changes,
    blob_url: `${state.webUrl}/${repo.fullName}/blob/${sha}/${path}`,
    raw_url: `${state.webUrl}/${repo.fullName}/raw/${sha}/${path}`,
    contents_url: `${state.apiUrl}/repos/${repo.fullName}/contents/${path}?ref=${sha}`,
    ...(f.patch === undefined ? {} : { patch: f.patch }),
    ...(f.previous_filename === undefined ? {} : { previous_filename: f.previous_filename }),
  };
}

export function review(state: State, repo: RepoState, r: Review): Obj {
  const html = `${state.webUrl}/${repo.fullName}/pull/${r.pull_number}#pullrequestreview-${r.id}`;
  const pr = `${state.apiUrl}/repos/${repo.fullName}/pulls/${r.pull_number}`;
  return {
    id: r.id,
    node_id: `PRR_${r.id}`,
    user: r.user,
    body: r.body,
    state: r.state,
    html_url: html,
    pull_request_url: pr,
    commit_id: r.commit_id,
    ...(r.state === 'PENDING' ? {} : { submitted_at: r.submitted_at }),
    author_association: 'CONTRIBUTOR',
    _links: { html: { href: html }, pull_request: { href: pr } },
  };
}

/** A review comment (pulls/list-review-comments), one per comment of a stored review. */
export function reviewComment(
  state: State,
  repo: RepoState,
  r: Review,
  index: number,
  diffHunk: string,
): Obj {
  const c = r.comments[index]!;
  const id = r.id * 100 + index;
  const api = `${state.apiUrl}/repos/${repo.fullName}`;
  const html = `${state.webUrl}/${repo.fullName}/pull/${r.pull_number}#discussion_r${id}`;
  const line = c.line ?? null;
  return {
    url: `${api}/pulls/comments/${id}`,
    pull_request_review_id: r.id,
    id,
    node_id: `PRRC_${id}`,
    diff_hunk: diffHunk,
    path: c.path,
    commit_id: r.commit_id,
    original_commit_id: r.commit_id,
    user: r.user,
    body: c.body,
    created_at: r.submitted_at,
    updated_at: r.submitted_at,
    html_url: html,
    pull_request_url: `${api}/pulls/${r.pull_number}`,
    author_association: 'CONTRIBUTOR',
    _links: {
      self: { href: `${api}/pulls/comments/${id}` },
      html: { href: html },
      pull_request: { href: `${api}/pulls/${r.pull_number}` },
    },
    start_line: c.start_line ?? null,
    original_start_line: c.start_line ?? null,
    start_side: c.start_line === undefined ? null : (c.start_side ?? c.side ?? 'RIGHT'),
    line,
    original_line: line,
    side: c.side ?? 'RIGHT',
    subject_type: 'line',
  };
}

export interface CommitSpec {
  sha: string;
  message: string;
  parents: string[];
  login?: string;
  date?: string;
}

/** A commit as repos/list-commits and compare list it. */
export function commit(state: State, repo: { fullName: string }, c: CommitSpec): Obj {
  const api = `${state.apiUrl}/repos/${repo.fullName}`;
  const login = c.login ?? 'octocat';
  const person = { name: login, email: `${login}@users.noreply.github.com`, date: c.date ?? EPOCH };
  const u = user(state, login);
  return {
    sha: c.sha,
    node_id: `C_${c.sha.slice(0, 16)}`,
    commit: {
      author: person,
      committer: person,
      message: c.message,
      tree: {
        sha: createHash('sha1').update(`tree${c.sha}`).digest('hex'),
        url: `${api}/git/trees/${c.sha}`,
      },
      url: `${api}/git/commits/${c.sha}`,
      comment_count: 0,
      verification: {
        verified: false,
        reason: 'unsigned',
        signature: null,
        payload: null,
        verified_at: null,
      },
    },
    url: `${api}/commits/${c.sha}`,
    html_url: `${state.webUrl}/${repo.fullName}/commit/${c.sha}`,
    comments_url: `${api}/commits/${c.sha}/comments`,
    author: u,
    committer: u,
    parents: c.parents.map((sha) => ({
      sha,
      url: `${api}/commits/${sha}`,
      html_url: `${state.webUrl}/${repo.fullName}/commit/${sha}`,
    })),
  };
}

/** A commit-comparison: `base...head`, with the merge base GitHub diffs from. */
export function comparison(
  state: State,
  repo: RepoState,
  spec: {
    base: CommitSpec;
    mergeBase: CommitSpec;
    head: string;
    status: 'ahead' | 'behind' | 'diverged' | 'identical';
    aheadBy: number;
    behindBy: number;
    commits: CommitSpec[];
    files: Obj[];
  },
): Obj {
  const range = `${spec.base.sha}...${spec.head}`;
  const web = `${state.webUrl}/${repo.fullName}/compare/${range}`;
  return {
    url: `${state.apiUrl}/repos/${repo.fullName}/compare/${range}`,
    html_url: web,
    permalink_url: `${state.webUrl}/${repo.fullName}/compare/${repo.owner}:${spec.base.sha.slice(0, 7)}...${repo.owner}:${spec.head.slice(0, 7)}`,
    diff_url: `${web}.diff`,
    patch_url: `${web}.patch`,
    base_commit: commit(state, repo, spec.base),
    merge_base_commit: commit(state, repo, spec.mergeBase),
    status: spec.status,
    ahead_by: spec.aheadBy,
    behind_by: spec.behindBy,
    total_commits: spec.commits.length,
    commits: spec.commits.map((c) => commit(state, repo, c)),
    files: spec.files,
  };
}

export interface FieldError {
  resource: string;
  field?: string;
  code: 'missing' | 'missing_field' | 'invalid' | 'already_exists' | 'unprocessable' | 'custom';
  message?: string;
}

/** GitHub's 422: `{message, errors: [{resource, field, code}], documentation_url, status}`. */
export function validationFailed(errors: FieldError[], documentationUrl = DOCS): Obj {
  return { message: 'Validation Failed', errors, documentation_url: documentationUrl, status: '422' };
}

/** Any other error body GitHub sends: `{message, documentation_url, status}`. */
export function basicError(status: number, message: string, documentationUrl = DOCS): Obj {
  return { message, documentation_url: documentationUrl, status: String(status) };
}
