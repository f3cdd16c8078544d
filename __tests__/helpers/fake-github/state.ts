/** In-memory repositories, shaped like GitHub's REST objects (only what the fake's handlers serve). */
export interface User {
  login: string;
  id: number;
  node_id: string;
  type: 'User' | 'Bot';
  avatar_url: string;
  html_url: string;
  url: string;
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
  assignees: User[];
  locked: boolean;
  comments: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  html_url: string;
  url: string;
  repository_url: string;
  author_association: string;
  pull_request?: { url: string; html_url: string };
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
  comments: {
    path: string;
    line?: number;
    side?: string;
    start_line?: number;
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
    apiUrl: string,
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
    const number = this.nextNumber();
    const id = state.nextId();
    const at = new Date().toISOString();
    const web = `https://github.com/${this.fullName}/${spec.pull ? 'pull' : 'issues'}/${number}`;
    const issue: Issue = {
      id,
      node_id: `${spec.nodePrefix ?? 'I'}_${id}`,
      number,
      title: spec.title,
      body: spec.body ?? null,
      state: 'open',
      state_reason: null,
      labels: spec.labels ?? [],
      user: spec.user,
      assignees: [],
      locked: false,
      comments: 0,
      created_at: at,
      updated_at: at,
      closed_at: null,
      html_url: web,
      url: `${apiUrl}/repos/${this.fullName}/issues/${number}`,
      repository_url: `${apiUrl}/repos/${this.fullName}`,
      author_association: spec.authorAssociation ?? 'NONE',
      ...(spec.pull
        ? { pull_request: { url: `${apiUrl}/repos/${this.fullName}/pulls/${number}`, html_url: web } }
        : {}),
    };
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

  /** Repositories spring into existence on first use, unless `strictRepos` is set. */
  strictRepos = false;

  repo(owner: string, name: string): RepoState | undefined {
    const key = `${owner}/${name}`.toLowerCase();
    let repo = this.repos.get(key);
    if (!repo && !this.strictRepos) {
      repo = new RepoState(owner, name);
      this.repos.set(key, repo);
    }
    return repo;
  }

  user(login: string): User {
    const id = [...login].reduce((a, c) => (a * 31 + c.charCodeAt(0)) % 1_000_000, 7);
    return {
      login,
      id,
      node_id: `U_${id}`,
      type: login.endsWith('[bot]') ? 'Bot' : 'User',
      avatar_url: `https://avatars.githubusercontent.com/u/${id}`,
      html_url: `https://github.com/${login}`,
      url: `https://api.github.com/users/${login}`,
    };
  }
}
