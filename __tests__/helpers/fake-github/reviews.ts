/**
 * Pull request reading and reviews, as ai-review uses them: pulls/get, pulls/list-files
 * (paginated, patch omitted for binaries), pulls/create-review (rejecting, as GitHub does, a
 * comment whose line is not part of the diff, a commit that is not in the PR, and a COMMENT
 * without a body), pulls/list-reviews, and repos/compare-commits over a small commit graph.
 * `seedPull` and `pushCommit` set up the pull requests tests run against.
 */
import type { FakeGitHub, HandlerContext, HandlerResult } from './server.js';
import { HttpStatus, paginate } from './server.js';
import * as resources from './resources.js';
import type { Pull, PullFile, RepoState, Review } from './state.js';

interface Commit {
  sha: string;
  parent?: string;
  message: string;
  /** What this commit changed, as compare shows it. */
  files: PullFile[];
}

const graphs = new WeakMap<object, Map<string, Commit>>();
function graph(gh: FakeGitHub): Map<string, Commit> {
  let g = graphs.get(gh.state);
  if (!g) graphs.set(gh.state, (g = new Map()));
  return g;
}

export interface PullSpec {
  owner?: string;
  repo?: string;
  title?: string;
  body?: string;
  draft?: boolean;
  /** Head in another repository (a fork). */
  fork?: boolean;
  author?: string;
  headRef?: string;
  baseSha?: string;
  headSha: string;
  message?: string;
  files: PullFile[];
}

/** A file entry as pulls/list-files returns it; `patch` is the unified diff hunks. */
export function pullFile(
  filename: string,
  patch: string | undefined,
  status: PullFile['status'] = 'modified',
): PullFile {
  const lines = (patch ?? '').split('\n');
  const additions = lines.filter((l) => l.startsWith('+')).length;
  const deletions = lines.filter((l) => l.startsWith('-')).length;
  return {
    filename,
    status,
    additions,
    deletions,
    changes: additions + deletions,
    ...(patch === undefined ? {} : { patch }),
  };
}

/** An added file's patch from its content. */
export function addedPatch(content: string): string {
  const lines = content.replace(/\n$/, '').split('\n');
  return `@@ -0,0 +1,${lines.length} @@\n${lines.map((l) => `+${l}`).join('\n')}`;
}

export function seedPull(gh: FakeGitHub, spec: PullSpec): Pull {
  const owner = spec.owner ?? 'octo-org';
  const name = spec.repo ?? 'iris';
  const repo = gh.createRepo(`${owner}/${name}`); // seeding a pull request creates its repository
  const author = spec.author ?? 'contributor';
  const baseSha = spec.baseSha ?? 'b'.repeat(40);
  const issue = repo.addIssue(gh.state, gh.url, {
    title: spec.title ?? `PR ${repo.nextNumber()}`,
    body: spec.body,
    user: gh.state.user(author),
    pull: true,
    nodePrefix: 'PR',
    authorAssociation: 'CONTRIBUTOR',
  });
  const { number } = issue;
  const pull: Pull = {
    number,
    title: issue.title,
    body: issue.body,
    state: 'open',
    draft: spec.draft ?? false,
    head: {
      ref: spec.headRef ?? `feature-${number}`,
      sha: spec.headSha,
      repo: { full_name: spec.fork ? `${author}/${name}` : repo.fullName, fork: spec.fork ?? false },
    },
    base: { ref: repo.default_branch, sha: baseSha, repo: { full_name: repo.fullName } },
    user: gh.state.user(author),
    merged: false,
    files: spec.files,
    commits: [{ sha: spec.headSha, message: spec.message ?? 'initial change' }],
    maintainer_can_modify: true,
  };
  repo.pulls.set(number, pull);
  graph(gh).set(spec.headSha, {
    sha: spec.headSha,
    parent: baseSha,
    message: spec.message ?? 'initial change',
    files: spec.files,
  });
  return pull;
}

/**
 * A push to the PR branch: one commit on top of the head (or on `parent`, for a force-push),
 * changing `delta`; `files` is the PR's whole diff afterwards.
 */
export function pushCommit(
  gh: FakeGitHub,
  pull: Pull,
  commit: { sha: string; message?: string; parent?: string; delta: PullFile[]; files: PullFile[] },
): void {
  const parent = commit.parent ?? pull.head.sha;
  graph(gh).set(commit.sha, {
    sha: commit.sha,
    parent,
    message: commit.message ?? 'update',
    files: commit.delta,
  });
  pull.head.sha = commit.sha;
  pull.files = commit.files;
  if (commit.parent) pull.commits = pull.commits.filter((c) => c.sha !== commit.parent);
  pull.commits.push({ sha: commit.sha, message: commit.message ?? 'update' });
}

function repoOf(ctx: HandlerContext): RepoState {
  const repo = ctx.state.repo(ctx.params.owner!, ctx.params.repo!);
  if (!repo) throw new HttpStatus(404, 'Not Found');
  return repo;
}

function pullOf(ctx: HandlerContext, repo: RepoState): Pull {
  const pull = repo.pulls.get(Number(ctx.params.pull_number));
  if (!pull) throw new HttpStatus(404, 'Not Found');
  return pull;
}

/** Line numbers a review comment may target on each side: lines present in the patch hunks. */
export function diffLines(patch: string | undefined): { RIGHT: Set<number>; LEFT: Set<number> } {
  const RIGHT = new Set<number>();
  const LEFT = new Set<number>();
  let oldLine = 0;
  let newLine = 0;
  for (const line of (patch ?? '').split('\n')) {
    const hunk = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (hunk) {
      oldLine = Number(hunk[1]);
      newLine = Number(hunk[2]);
      continue;
    }
    if (line.startsWith('+')) RIGHT.add(newLine++);
    else if (line.startsWith('-')) LEFT.add(oldLine++);
    else if (line.startsWith(' ')) {
      RIGHT.add(newLine++);
      LEFT.add(oldLine++);
    }
  }
  return { RIGHT, LEFT };
}

/** Each hunk's lines, per side: a multi-line comment must stay inside one hunk. */
export function diffHunks(
  patch: string | undefined,
): { RIGHT: Set<number>; LEFT: Set<number>; text: string }[] {
  const hunks: { RIGHT: Set<number>; LEFT: Set<number>; text: string }[] = [];
  for (const part of (patch ?? '').split(/\n(?=@@ )/)) {
    if (!part.startsWith('@@')) continue;
    hunks.push({ ...diffLines(part), text: part });
  }
  return hunks;
}

const SIDES = ['LEFT', 'RIGHT'];

/** Why GitHub would refuse one comment of a review (none if it would not). */
function commentProblems(pull: Pull, c: Review['comments'][number]): string[] {
  const file = pull.files.find((f) => f.filename === c.path);
  if (!file) return ['Path could not be resolved'];
  if (c.position !== undefined) return [];
  if (c.line === undefined) return ['Pull request review thread line must be part of the diff'];
  for (const [field, side] of [
    ['side', c.side],
    ['start_side', c.start_side],
  ] as const)
    if (side !== undefined && !SIDES.includes(side))
      return [`Pull request review thread ${field} must be LEFT or RIGHT`];
  const side = (c.side ?? 'RIGHT') as 'LEFT' | 'RIGHT';
  const hunk = diffHunks(file.patch).find((h) => h[side].has(c.line!));
  if (!hunk) return ['Pull request review thread line must be part of the diff'];
  if (c.start_line === undefined) return [];
  const startSide = (c.start_side ?? side) as 'LEFT' | 'RIGHT';
  if (!hunk[startSide].has(c.start_line))
    return ['Pull request review thread start line must be part of the same hunk as the line.'];
  if (startSide === side && c.start_line >= c.line)
    return ['Pull request review thread start line must precede the end line.'];
  return [];
}

const unprocessable = (...errors: string[]): HandlerResult => ({
  status: 422,
  body: {
    message: 'Unprocessable Entity',
    errors,
    documentation_url: 'https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request',
    status: '422',
  },
});

const fileView = (ctx: HandlerContext, repo: RepoState, sha: string, f: PullFile): Record<string, unknown> =>
  resources.diffEntry(ctx.state, repo, sha, f);

export function registerReviewHandlers(gh: FakeGitHub): void {
  gh.on('pulls/get', (ctx) => {
    const repo = repoOf(ctx);
    return { status: 200, body: resources.pull(ctx.state, repo, pullOf(ctx, repo)) };
  });

  gh.on('pulls/list-files', (ctx) => {
    const repo = repoOf(ctx);
    const pull = pullOf(ctx, repo);
    // GitHub lists at most 3000 files for a pull request.
    return paginate(
      pull.files.slice(0, 3000).map((f) => fileView(ctx, repo, pull.head.sha, f)),
      ctx,
    );
  });

  gh.on('pulls/list-reviews', (ctx) => {
    const repo = repoOf(ctx);
    const pull = pullOf(ctx, repo);
    return paginate(
      repo.reviews
        .filter((r) => r.pull_number === pull.number)
        .map((r) => resources.review(ctx.state, repo, r)),
      ctx,
    );
  });

  gh.on('pulls/list-review-comments', listReviewComments);
  gh.on('pulls/create-review', createReview);
  gh.on('repos/compare-commits', (ctx) => compare(gh, ctx));
  gh.on('repos/compare-commits-with-basehead', (ctx) => compare(gh, ctx));
}

/** GET /repos/{owner}/{repo}/pulls/{pull_number}/comments: every submitted review's inline comments. */
function listReviewComments(ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const pull = pullOf(ctx, repo);
  const hunkOf = (r: Review, i: number): string => {
    const c = r.comments[i]!;
    const hunks = diffHunks(pull.files.find((f) => f.filename === c.path)?.patch);
    const side = (c.side ?? 'RIGHT') as 'LEFT' | 'RIGHT';
    return (c.line === undefined ? hunks[0] : hunks.find((h) => h[side].has(c.line!)))?.text ?? '';
  };
  return paginate(
    repo.reviews
      .filter((r) => r.pull_number === pull.number && r.state !== 'PENDING')
      .flatMap((r) =>
        r.comments.map((_c, i) => resources.reviewComment(ctx.state, repo, r, i, hunkOf(r, i))),
      ),
    ctx,
  );
}

/** POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews, refusing what GitHub refuses (422). */
function createReview(ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const pull = pullOf(ctx, repo);
  const b = (ctx.body ?? {}) as {
    commit_id?: string;
    body?: string;
    event?: string;
    comments?: Review['comments'];
  };
  const commitId = b.commit_id ?? pull.head.sha;
  if (!pull.commits.some((c) => c.sha === commitId) && commitId !== pull.head.sha) {
    return unprocessable(`No commit found for SHA: ${commitId}`);
  }
  if ((b.event === 'COMMENT' || b.event === 'REQUEST_CHANGES') && !b.body?.trim() && !b.comments?.length) {
    return unprocessable(`Body is required when the event is ${b.event}`);
  }
  if ([...(b.body ?? '')].length > 65536)
    return unprocessable('Body is too long (maximum is 65536 characters)');
  if (b.event === 'APPROVE' || b.event === 'REQUEST_CHANGES') {
    if (pull.user.login === ctx.login)
      return unprocessable(
        `Can not ${b.event === 'APPROVE' ? 'approve' : 'request changes on'} your own pull request`,
      );
  }
  const errors = (b.comments ?? []).flatMap((c) => commentProblems(pull, c));
  if (errors.length) return unprocessable(...errors);
  const id = ctx.state.nextId();
  const review: Review = {
    id,
    pull_number: pull.number,
    body: b.body ?? '',
    event: b.event ?? 'PENDING',
    state:
      b.event === 'APPROVE'
        ? 'APPROVED'
        : b.event === 'REQUEST_CHANGES'
          ? 'CHANGES_REQUESTED'
          : b.event === 'COMMENT'
            ? 'COMMENTED'
            : 'PENDING',
    commit_id: commitId,
    submitted_at: new Date().toISOString(),
    comments: b.comments ?? [],
    user: ctx.state.user(ctx.login),
  };
  repo.reviews.push(review);
  return { status: 200, body: resources.review(ctx.state, repo, review) };
}

// One endpoint, two descriptions in the OpenAPI: `{base}...{head}` and `{basehead}`; the route matcher
// may pick either for the same URL, as GitHub serves both.
function compare(gh: FakeGitHub, ctx: HandlerContext): HandlerResult {
  const repo = repoOf(ctx);
  const g = graph(gh);
  const [base, head] = ctx.params.basehead
    ? (ctx.params.basehead.split('...') as [string, string])
    : [ctx.params.base!, ctx.params.head!];
  if (!base || !head) throw new HttpStatus(404, 'Not Found');
  const headCommit = g.get(head);
  if (!headCommit || (!g.has(base) && !isBaseSha(repo, base))) {
    throw new HttpStatus(404, `No commit found for SHA: ${headCommit ? base : head}`);
  }
  // Ancestors, newest first; a PR's base sha is a root the graph does not hold.
  const ancestry = (sha: string): string[] => {
    const out: string[] = [];
    for (let at: string | undefined = sha; at && !out.includes(at); at = g.get(at)?.parent) out.push(at);
    return out;
  };
  const headLine = ancestry(head);
  const baseLine = new Set(ancestry(base));
  const mergeBase = headLine.find((sha) => baseLine.has(sha)) ?? base;
  const chain = headLine
    .slice(0, headLine.indexOf(mergeBase) < 0 ? undefined : headLine.indexOf(mergeBase))
    .map((sha) => g.get(sha)!)
    .filter(Boolean)
    .reverse();
  const behindBy = [...baseLine].indexOf(mergeBase) < 0 ? 1 : [...baseLine].indexOf(mergeBase);
  const status =
    base === head ? 'identical' : behindBy === 0 ? 'ahead' : chain.length ? 'diverged' : 'behind';
  const files = compareFiles(repo, status, chain, headCommit);
  const spec = (sha: string): resources.CommitSpec => {
    const c = g.get(sha);
    return { sha, message: c?.message ?? 'base', parents: c?.parent ? [c.parent] : [] };
  };
  return {
    status: 200,
    body: resources.comparison(ctx.state, repo, {
      base: spec(base),
      mergeBase: spec(mergeBase),
      head,
      status,
      aheadBy: chain.length,
      behindBy: status === 'identical' ? 0 : behindBy,
      commits: chain.map((c) => spec(c.sha)),
      // GitHub lists at most 300 files in a comparison.
      files: files.slice(0, 300).map((f) => fileView(ctx, repo, head, f)),
    }),
  };
}

/** The files a comparison lists: none, what the commits since the base changed, or the PR's diff. */
function compareFiles(repo: RepoState, status: string, chain: Commit[], headCommit: Commit): PullFile[] {
  if (status === 'identical') return [];
  if (status === 'ahead') {
    const byName = new Map<string, PullFile>();
    for (const c of chain) for (const f of c.files) byName.set(f.filename, f);
    return [...byName.values()];
  }
  // The base is not an ancestor (a force-push rewrote history): GitHub diffs from the merge base.
  const pull = [...repo.pulls.values()].find((p) => p.head.sha === headCommit.sha);
  return pull?.files ?? headCommit.files;
}

function isBaseSha(repo: RepoState, sha: string): boolean {
  return [...repo.pulls.values()].some((p) => p.base.sha === sha);
}
