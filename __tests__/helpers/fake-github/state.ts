/**
 * In-memory repositories. Issues, comments and labels are stored as the API serves them (built in
 * resources.ts); pulls, reviews and commits are stored as facts and rendered by resources.ts.
 */
import * as resources from './resources.js';

export interface User {
  login: string;
  id: number;
  node_id: string;
  type: 'User' | 'Bot';
  avatar_url: string;
  gravatar_id: string | null;
  html_url: string;
  url: string;
  followers_url: string;
  following_url: string;
  gists_url: string;
  starred_url: string;
  subscriptions_url: string;
  organizations_url: string;
  repos_url: string;
  events_url: string;
  received_events_url: string;
  user_view_type: string;
  site_admin: boolean;
}

export interface Label {
  id: number;
  node_id: string;
  url: string;
  name: string;
  color: string;
  description: string | null;
  default: boolean;
}

export interface Issue {
  id: number;
  node_id: string;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  state_reason: 'completed' | 'not_planned' | 'reopened' | 'duplicate' | null;
  labels: Label[];
  user: User;
  assignee: User | null;
  assignees: User[];
  milestone: null;
  locked: boolean;
  active_lock_reason: string | null;
  comments: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  html_url: string;
  url: string;
  repository_url: string;
  labels_url: string;
  comments_url: string;
  events_url: string;
  timeline_url: string;
  author_association: string;
  pull_request?: {
    url: string;
    html_url: string;
    diff_url: string;
    patch_url: string;
    merged_at: string | null;
  };
}

export interface Comment {
  id: number;
  node_id: string;
  issue_number: number;
  body: string;
  user: User;
  created_at: string;
  updated_at: string;
  html_url: string;
  url: string;
  issue_url: string;
  author_association: string;
}

export interface PullFile {
  filename: string;
  status: 'added' | 'removed' | 'modified' | 'renamed' | 'copied' | 'changed' | 'unchanged';
  additions: number;
  deletions: number;
  changes: number;
  patch?: string;
  previous_filename?: string;
}

export interface Pull {
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  draft: boolean;
  head: { ref: string; sha: string; repo: { full_name: string; fork: boolean } };
  base: { ref: string; sha: string; repo: { full_name: string } };
  user: User;
  merged: boolean;
  merged_at?: string | null;
  /** The commit a merge made (pulls/merge), null before. */
  merge_commit_sha?: string | null;
  merged_by?: User | null;
  files: PullFile[];
  commits: { sha: string; message: string }[];
  maintainer_can_modify: boolean;
}

export interface Review {
  id: number;
  pull_number: number;
  body: string;
  event: string;
  state: string;
  commit_id: string;
  submitted_at: string;
  comments: {
    path: string;
    line?: number;
    side?: string;
    start_line?: number;
    start_side?: string;
    position?: number;
    body: string;
  }[];
  user: User;
}

export interface Dispatch {
  event_type: string;
  client_payload: Record<string, unknown>;
  at: number;
}

export class RepoState {
  readonly issues: Issue[] = [];
  readonly comments: Comment[] = [];
  readonly labels = new Map<string, Label>();
  readonly pulls = new Map<number, Pull>();
  readonly reviews: Review[] = [];
  readonly dispatches: Dispatch[] = [];
  default_branch = 'main';
  private: boolean = false;
  /** The merge buttons the repository's settings enable (allow_merge_commit, _squash_, _rebase_). */
  mergeMethods: ('merge' | 'squash' | 'rebase')[] = ['merge', 'squash', 'rebase'];

  constructor(
    readonly owner: string,
    readonly name: string,
  ) {}

  get fullName(): string {
    return `${this.owner}/${this.name}`;
  }

  nextNumber(): number {
    return this.issues.length + 1;
  }

  issue(number: number): Issue | undefined {
    return this.issues.find((i) => i.number === number);
  }

  /**
   * Records a new issue, or the issue half of a pull request (GitHub numbers both from one
   * sequence and serves every PR through the issues API too).
   */
  addIssue(
    state: State,
    _apiUrl: string,
    spec: {
      title: string;
      body?: string | null;
      user: User;
      labels?: Label[];
      pull?: boolean;
      nodePrefix?: string;
      authorAssociation?: string;
    },
  ): Issue {
    const issue = resources.issue(
      state,
      this,
      { id: state.nextId(), number: this.nextNumber(), ...spec },
      { pull: spec.pull, nodePrefix: spec.nodePrefix, authorAssociation: spec.authorAssociation },
    );
    this.issues.push(issue);
    return issue;
  }
}

export class State {
  readonly repos = new Map<string, RepoState>();
  private id = 1000;

  nextId(): number {
    return ++this.id;
  }

  /**
   * Unknown repositories answer 404, as on GitHub (create them with FakeGitHub's `repos` option
   * or `createRepo`); `false` lets them spring into existence on first use.
   */
  strictRepos = true;

  addRepo(owner: string, name: string): RepoState {
    const key = `${owner}/${name}`.toLowerCase();
    let repo = this.repos.get(key);
    if (!repo) this.repos.set(key, (repo = new RepoState(owner, name)));
    return repo;
  }

  repo(owner: string, name: string): RepoState | undefined {
    const key = `${owner}/${name}`.toLowerCase();
    let repo = this.repos.get(key);
    if (!repo && !this.strictRepos) {
      repo = new RepoState(owner, name);
      this.repos.set(key, repo);
    }
    return repo;
  }

  /** Where the API and the web UI live: set by the server (`/api/v3` and the host under GHES). */
  apiUrl = 'https://api.github.com';
  webUrl = 'https://github.com';

  user(login: string): User {
    return resources.user(this, login);
  }
}
