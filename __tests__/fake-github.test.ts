/** The fake must reject what GitHub rejects, or tests against it prove nothing. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { OpenApi } from './helpers/fake-github/openapi.js';
import { registerPullHandlers } from './helpers/fake-github/pulls.js';
import { pullFile, registerReviewHandlers, seedPull } from './helpers/fake-github/reviews.js';
import { addCommit, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { cloneFresh, git, head, makeOrigin, type Origin } from './helpers/gitops-repo.js';

let gh: FakeGitHub;
const auth = {
  authorization: 'token ghs_test_token',
  'user-agent': 'test',
  'content-type': 'application/json',
};

beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['o/r'] });
  await gh.start();
});
afterAll(() => gh.stop());

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = auth) =>
  fetch(gh.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });

describe('fake GitHub validates against @octokit/openapi', () => {
  it('rejects requests without a known token', async () => {
    expect((await call('GET', '/repos/o/r/issues', undefined, { 'user-agent': 'x' })).status).toBe(401);
    const bad = await call('GET', '/repos/o/r/issues', undefined, { ...auth, authorization: 'token nope' });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { message: string }).message).toBe('Bad credentials');
  });

  it('rejects routes and methods that do not exist', async () => {
    expect((await call('GET', '/repos/o/r/nonsense')).status).toBe(404);
    expect((await call('PUT', '/repos/o/r/issues')).status).toBe(405);
  });

  it('rejects bodies that break the schema', async () => {
    const res = await call('POST', '/repos/o/r/issues', { body: 'no title' });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { message: string }).message).toMatch(/title/);
    const dispatch = await call('POST', '/repos/o/r/dispatches', {
      event_type: 'x',
      client_payload: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i])),
    });
    expect(dispatch.status).toBe(422);
    const review = await call('POST', '/repos/o/r/pulls/1/reviews', { event: 'LGTM' });
    expect(review.status).toBe(422);
  });

  it('rejects bad query and path parameters', async () => {
    expect((await call('GET', '/repos/o/r/issues?state=opened')).status).toBe(422);
    expect((await call('GET', '/repos/o/r/issues/abc')).status).toBe(422);
    expect((await call('GET', '/repos/o/r/issues?colour=red')).status).toBe(422);
  });

  it('serves issue state with pagination', async () => {
    for (let i = 0; i < 3; i++)
      expect((await call('POST', '/repos/o/r/issues', { title: `t${i}`, labels: ['alert'] })).status).toBe(
        201,
      );
    const page = await call('GET', '/repos/o/r/issues?labels=alert&per_page=2');
    expect(((await page.json()) as unknown[]).length).toBe(2);
    expect(page.headers.get('link')).toMatch(/rel="next"/);
    expect((await call('GET', '/repos/o/r/issues/99')).status).toBe(404);
  });

  it('deletes a comment once, as GitHub does', async () => {
    const posted = await call('POST', '/repos/o/r/issues/1/comments', { body: 'once' });
    const { id } = (await posted.json()) as { id: number };
    expect((await call('DELETE', `/repos/o/r/issues/comments/${id}`)).status).toBe(204);
    expect((await call('DELETE', `/repos/o/r/issues/comments/${id}`)).status).toBe(404);
    expect((await call('DELETE', '/repos/o/r/issues/comments/abc')).status).toBe(422);
    const left = (await (await call('GET', '/repos/o/r/issues/1/comments')).json()) as { id: number }[];
    expect(left.map((c) => c.id)).not.toContain(id);
  });

  it('answers 501 for a valid operation it does not model', async () => {
    expect((await call('GET', '/repos/o/r/actions/runs')).status).toBe(501);
  });

  it("plays rate limits, 5xx bursts, dropped labels and list lag with GitHub's headers and bodies", async () => {
    gh.rateLimit({ operationId: 'issues/get', resetIn: 60 });
    const primary = await call('GET', '/repos/o/r/issues/1');
    expect(primary.status).toBe(403);
    expect(primary.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(primary.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect(((await primary.json()) as { message: string }).message).toMatch(/^API rate limit exceeded/);
    gh.secondaryRateLimit({ status: 429, retryAfter: 7, operationId: 'issues/get' });
    const secondary = await call('GET', '/repos/o/r/issues/1');
    expect([secondary.status, secondary.headers.get('retry-after')]).toEqual([429, '7']);
    expect(((await secondary.json()) as { message: string }).message).toMatch(/secondary rate limit/);
    gh.serverErrors({ operationId: 'issues/get', times: 2 });
    const burst = [];
    for (let i = 0; i < 3; i++) burst.push((await call('GET', '/repos/o/r/issues/1')).status);
    expect(burst).toEqual([502, 502, 200]);

    gh.dropLabelsOnCreate = true;
    const dropped = (await (
      await call('POST', '/repos/o/r/issues', { title: 'l', labels: ['lag'] })
    ).json()) as {
      number: number;
      labels: unknown[];
    };
    expect(dropped.labels).toEqual([]);
    gh.dropLabelsOnCreate = false;
    gh.listLagMs = 60_000;
    const lagging = (await (
      await call('POST', '/repos/o/r/issues', { title: 'l', labels: ['lag'] })
    ).json()) as {
      number: number;
    };
    const listed = async (q: string) =>
      ((await (await call('GET', `/repos/o/r/issues?${q}`)).json()) as { number: number }[]).map(
        (i) => i.number,
      );
    expect(await listed('labels=lag')).toEqual([]);
    expect(await listed('state=all')).toContain(lagging.number);
    gh.listLagMs = 0;
    expect(await listed('labels=lag')).toEqual([lagging.number]);
  });

  it('injects faults once', async () => {
    gh.fail({ status: 502, operationId: 'issues/get' });
    expect((await call('GET', '/repos/o/r/issues/1')).status).toBe(502);
    expect((await call('GET', '/repos/o/r/issues/1')).status).toBe(200);
  });
});

describe('fake GitHub checks its own responses against @octokit/openapi', () => {
  const api = OpenApi.load();
  const every = (() => {
    const all = new FakeGitHub();
    registerPullHandlers(all);
    registerReviewHandlers(all);
    registerCommitHandlers(all);
    // Operations answered with no body (204) have no example to check.
    return all.operations().filter((id) => api.operation(id)!.examples.some((e) => e.status < 300));
  })();

  it('records an invented, incomplete response and fails stop()', async () => {
    const own = new FakeGitHub();
    own.createRepo('o/r');
    own.on('issues/get', () => ({ status: 200, body: { id: 1, number: 1, title: 'no urls, no user' } }));
    own.on('issues/list-labels-for-repo', () => ({ status: 201, body: [] }));
    own.on('issues/create-label', () => ({ status: 422, body: { message: 'Validation Failed' } }));
    await own.start();
    const at = (path: string, method = 'GET', body?: unknown) =>
      fetch(own.url + path, {
        method,
        headers: auth,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await at('/repos/o/r/issues/1')).status).toBe(200);
    expect((await at('/repos/o/r/labels')).status).toBe(201);
    expect((await at('/repos/o/r/labels', 'POST', { name: 'x' })).status).toBe(422);
    const seen = own.violations.join('\n');
    expect(seen).toMatch(/issues\/get 200: .*required property 'assignee'/);
    expect(seen).toMatch(/issues\/list-labels-for-repo 201: status not documented/);
    expect(seen).toMatch(/issues\/create-label 422: .*documentation_url/);
    await expect(own.stop()).rejects.toThrow(/sent 4 response\(s\) GitHub would not/);
  });

  // The description's own examples are bodies recorded from GitHub; two of them predate a required
  // field the description added since. Each drift is pinned so that a newer @octokit/openapi shows it.
  const drift: Record<string, RegExp> = {
    'repos/get': /required property 'language'/,
    'pulls/get': /requested_teams\/0 must have required property 'type'/,
    'pulls/list': /requested_teams\/0 must have required property 'type'/,
    'pulls/create': /requested_teams\/0 must have required property 'type'/,
    'pulls/update': /requested_teams\/0 must have required property 'type'/,
  };

  it.each(every)("GitHub's own examples of %s pass, and fail without a required field", (id) => {
    const op = api.operation(id)!;
    const examples = op.examples.filter((e) => e.status < 300 && e.value !== undefined);
    for (const ex of examples) {
      const problems = api.checkResponse(op, ex.status, ex.value);
      if (drift[id]) expect(problems.join()).toMatch(drift[id]);
      else expect(problems).toEqual([]);
      const one = (Array.isArray(ex.value) ? ex.value[0] : ex.value) as Record<string, unknown>;
      // Every object the fake serves requires its id, sha or url.
      const required = ['id', 'sha', 'url'].find((k) => k in one)!;
      const broken = structuredClone(one);
      delete broken[required];
      const invented = Array.isArray(ex.value) ? [broken] : broken;
      expect(api.checkResponse(op, ex.status, invented).join()).toMatch(
        new RegExp(`required property '${required}'`),
      );
    }
  });
});

describe("fake GitHub applies GitHub's limits on update and on review comments", () => {
  const TWO_HUNKS = '@@ -1,3 +1,4 @@\n a\n+b\n c\n d\n@@ -20,3 +21,3 @@\n x\n-y\n+z\n w';
  let own: FakeGitHub;
  beforeAll(async () => {
    own = new FakeGitHub();
    registerReviewHandlers(own);
    await own.start();
  });
  afterAll(() => own.stop());
  const at = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(own.url + path, { method, headers: auth, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  it('refuses a title over 256 or a body over 65,536 characters on update, with a 422 shaped as GitHub sends it', async () => {
    own.createRepo('octo-org/iris');
    const { body: issue } = await at('POST', '/repos/octo-org/iris/issues', { title: 'ok' });
    const long = await at('PATCH', `/repos/octo-org/iris/issues/${issue.number}`, { title: 'x'.repeat(257) });
    expect(long.status).toBe(422);
    expect(long.body).toEqual({
      message: 'Validation Failed',
      errors: [{ resource: 'Issue', field: 'title', code: 'custom', message: expect.stringMatching(/256/) }],
      documentation_url: expect.stringMatching(/^https:\/\/docs\.github\.com\//),
      status: '422',
    });
    const big = await at('PATCH', `/repos/octo-org/iris/issues/${issue.number}`, { body: 'x'.repeat(65537) });
    expect(big.body.errors).toEqual([expect.objectContaining({ resource: 'Issue', field: 'body' })]);
    const fits = await at('PATCH', `/repos/octo-org/iris/issues/${issue.number}`, {
      body: 'é'.repeat(65536),
    });
    expect(fits.status).toBe(200);
    const { body: comment } = await at('POST', `/repos/octo-org/iris/issues/${issue.number}/comments`, {
      body: 'c',
    });
    const bigComment = await at('PATCH', `/repos/octo-org/iris/issues/comments/${comment.id}`, {
      body: 'x'.repeat(65537),
    });
    expect(bigComment.status).toBe(422);
    expect(bigComment.body.errors[0]).toMatchObject({
      resource: 'IssueComment',
      field: 'body',
      code: 'custom',
    });
    expect((await at('GET', `/repos/octo-org/iris/issues/${issue.number}/comments`)).body[0].body).toBe('c');
  });

  it('takes a multi-line comment only inside one hunk with start_line before line, and sides LEFT/RIGHT only', async () => {
    const pr = seedPull(own, { headSha: 'c'.repeat(40), files: [pullFile('m.py', TWO_HUNKS)] });
    const review = (comment: Record<string, unknown>) =>
      at('POST', `/repos/octo-org/iris/pulls/${pr.number}/reviews`, {
        event: 'COMMENT',
        body: 'r',
        comments: [{ path: 'm.py', body: 'c', ...comment }],
      });
    const refused = async (comment: Record<string, unknown>) => {
      const res = await review(comment);
      expect(res.status).toBe(422);
      return res.body.errors as string[];
    };
    expect(await refused({ start_line: 2, line: 22, side: 'RIGHT' })).toEqual([
      'Pull request review thread start line must be part of the same hunk as the line.',
    ]);
    expect(await refused({ start_line: 4, line: 2, side: 'RIGHT' })).toEqual([
      'Pull request review thread start line must precede the end line.',
    ]);
    expect(await refused({ start_line: 2, line: 2 })).toHaveLength(1);
    expect(await refused({ line: 2, side: 'right' })).toEqual([
      expect.stringMatching(/side must be LEFT or RIGHT/),
    ]);
    expect(await refused({ line: 2, start_line: 1, start_side: 'BOTH' })).toHaveLength(1);
    expect((await review({ start_line: 21, line: 23, side: 'RIGHT' })).status).toBe(200);
    expect((await review({ start_line: 20, start_side: 'LEFT', line: 22, side: 'RIGHT' })).status).toBe(200);
    const listed = await at('GET', `/repos/octo-org/iris/pulls/${pr.number}/comments`);
    expect(listed.body.map((c: { start_line: number; line: number }) => [c.start_line, c.line])).toEqual([
      [21, 23],
      [20, 22],
    ]);
    expect(listed.body[0].diff_hunk).toMatch(/^@@ -20,3 \+21,3 @@/);
  });
});

describe('fake GitHub answers for repositories as GitHub does', () => {
  it('answers 404 for a repository no test created, and limits a token to its repositories', async () => {
    const own = new FakeGitHub({ repos: ['octo-org/iris', 'octo-org/public'] });
    own.createRepo('octo-org/secret', { private: true });
    own.grant('ghs_iris_only', 'github-actions[bot]', { repos: ['octo-org/iris'] });
    own.grant('ghs_read_only', 'github-actions[bot]', { write: false });
    await own.start();
    try {
      const at = (method: string, path: string, token = 'ghs_test_token', body?: unknown) =>
        fetch(own.url + path, {
          method,
          headers: { ...auth, authorization: `token ${token}` },
          body: body === undefined ? undefined : JSON.stringify(body),
        }).then(async (r) => ({
          status: r.status,
          message: ((await r.json()) as { message: string }).message,
        }));
      expect(await at('GET', '/repos/octo-org/nowhere/issues')).toEqual({
        status: 404,
        message: 'Not Found',
      });
      expect((await at('POST', '/repos/octo-org/nowhere/issues', undefined, { title: 't' })).status).toBe(
        404,
      );
      expect((await at('POST', '/repos/octo-org/iris/issues', 'ghs_iris_only', { title: 't' })).status).toBe(
        201,
      );
      // Outside its list: a public repository reads but refuses writes; a private one does not exist.
      expect((await at('GET', '/repos/octo-org/public/issues', 'ghs_iris_only')).status).toBe(200);
      expect(await at('POST', '/repos/octo-org/public/issues', 'ghs_iris_only', { title: 't' })).toEqual({
        status: 403,
        message: 'Resource not accessible by integration',
      });
      expect((await at('GET', '/repos/octo-org/secret/issues', 'ghs_iris_only')).status).toBe(404);
      expect((await at('GET', '/repos/octo-org/secret/issues')).status).toBe(200);
      expect(
        (await at('PATCH', '/repos/octo-org/iris/issues/1', 'ghs_read_only', { state: 'closed' })).status,
      ).toBe(403);
      expect(own.state.repo('octo-org', 'iris')!.issue(1)!.state).toBe('open');
      expect(own.state.repo('octo-org', 'nowhere')).toBeUndefined();
    } finally {
      await own.stop();
    }
  });
});

describe('fake GitHub refuses what a token has no permission for, as a job token without it', () => {
  it('refuses pull requests to a token without pull-requests (a private repository; a public one reads), and serves the rest', async () => {
    const own = new FakeGitHub({ repos: ['octo-org/public'] });
    own.createRepo('octo-org/iris', { private: true });
    registerPullHandlers(own);
    // permissions: { contents: read, issues: write }, as an alert-triage caller of v1 grants.
    own.grant('ghs_no_pulls', 'github-actions[bot]', { none: ['pull-requests'] });
    await own.start();
    try {
      const at = (path: string) =>
        fetch(own.url + path, { headers: { ...auth, authorization: 'token ghs_no_pulls' } }).then(
          async (r) => ({ status: r.status, message: ((await r.json()) as { message?: string }).message }),
        );
      expect(await at('/repos/octo-org/iris/pulls?state=open')).toEqual({
        status: 403,
        message: 'Resource not accessible by integration',
      });
      expect((await at('/repos/octo-org/public/pulls?state=open')).status).toBe(200);
      expect((await at('/repos/octo-org/iris/issues')).status).toBe(200);
    } finally {
      await own.stop();
    }
  });
});

describe('fake GitHub commit comments', () => {
  it('comments only on a commit it has, with a body, and lets only the author edit', async () => {
    const own = new FakeGitHub({ repos: ['o/r'] }).grant('ghs_other', 'hubot');
    registerCommitHandlers(own);
    await own.start();
    const sha = addCommit(own, 'o', 'r', { message: 'm', files: ['a'] }).sha;
    const at = (method: string, path: string, body?: unknown, token = 'ghs_test_token') =>
      fetch(own.url + path, {
        method,
        headers: { ...auth, authorization: `token ${token}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await at('POST', `/repos/o/r/commits/${'0'.repeat(40)}/comments`, { body: 'x' })).status).toBe(
      404,
    );
    const empty = await at('POST', `/repos/o/r/commits/${sha}/comments`, { body: ' ' });
    expect(empty.status).toBe(422);
    expect(((await empty.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('body');
    const made = await at('POST', `/repos/o/r/commits/${sha}/comments`, { body: 'report' });
    expect(made.status).toBe(201);
    const { id, commit_id } = (await made.json()) as { id: number; commit_id: string };
    expect(commit_id).toBe(sha);
    expect((await at('PATCH', `/repos/o/r/comments/${id}`, { body: 'mine now' }, 'ghs_other')).status).toBe(
      403,
    );
    expect((await at('PATCH', `/repos/o/r/comments/${id}`, { body: 'v2' })).status).toBe(200);
    const listed = (await (await at('GET', `/repos/o/r/commits/${sha.slice(0, 7)}/comments`)).json()) as {
      body: string;
    }[];
    expect(listed.map((c) => c.body)).toEqual(['v2']);
    await own.stop(); // throws if any response above broke GitHub's schema
  });
});

describe('fake GitHub merges pull requests in the bare repository, as GitHub does', () => {
  let own: FakeGitHub;
  let origin: Origin;
  const api = OpenApi.load();
  const bare = (...args: string[]) => git(origin.root, ['--git-dir', origin.bare, ...args]);
  beforeAll(async () => {
    origin = makeOrigin({ 'a.txt': 'one\n', 'b.txt': 'bee\n' });
    own = new FakeGitHub({ repos: ['octo-org/iris'] });
    registerPullHandlers(own, { gitDir: origin.bare });
    registerReviewHandlers(own); // pulls/get
    await own.start();
  });
  afterAll(() => own.stop()); // throws if any response broke GitHub's schema

  const at = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${own.url}/repos/octo-org/iris${path}`, {
      method,
      headers: auth,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  /** A branch off main with one commit writing `path`, and its pull request. */
  const pullFor = async (branch: string, path: string, text: string, extra: Record<string, unknown> = {}) => {
    const dir = cloneFresh(origin);
    git(dir, ['checkout', '-q', '-b', branch]);
    git(dir, ['config', 'core.autocrlf', 'false']);
    writeFileSync(join(dir, path), text);
    git(dir, ['add', '-A']);
    git(dir, ['commit', '-q', '-m', `${branch}: ${path}`]);
    git(dir, ['push', '-q', 'origin', branch]);
    const pr = await at('POST', '/pulls', { title: `PR ${branch}`, head: branch, base: 'main', ...extra });
    expect(pr.status).toBe(201);
    return { number: pr.body.number as number, sha: git(dir, ['rev-parse', 'HEAD']) };
  };

  it('merges with a merge commit by default: 200 {sha, merged, message}, main moved, the PR closed and merged', async () => {
    const pr = await pullFor('fix-a', 'a.txt', 'two\n');
    const base = head(origin);
    const merged = await at('PUT', `/pulls/${pr.number}/merge`);
    expect(merged).toEqual({
      status: 200,
      body: { sha: head(origin), merged: true, message: 'Pull Request successfully merged' },
    });
    // GitHub never fast-forwards: a new commit with the base and the head as parents, by GitHub.
    expect(bare('rev-parse', 'main^1', 'main^2').split('\n')).toEqual([base, pr.sha]);
    expect(bare('log', '-1', '--format=%B', 'main')).toBe(
      `Merge pull request #${pr.number} from octo-org/fix-a\n\nPR fix-a`,
    );
    expect(bare('log', '-1', '--format=%cn <%ce>', 'main')).toBe('GitHub <noreply@github.com>');
    const got = await at('GET', `/pulls/${pr.number}`);
    expect(got.body).toMatchObject({
      state: 'closed',
      merged: true,
      merge_commit_sha: merged.body.sha,
      merged_at: expect.any(String),
      closed_at: expect.any(String),
      merged_by: { login: 'github-actions[bot]' },
      head: { sha: pr.sha },
    });
    expect((await at('GET', `/issues/${pr.number}`)).body).toMatchObject({
      state: 'closed',
      pull_request: { merged_at: got.body.merged_at },
    });
    // Merged once: a second merge is refused and moves nothing.
    const again = await at('PUT', `/pulls/${pr.number}/merge`);
    expect(again).toEqual({
      status: 405,
      body: expect.objectContaining({ message: 'Pull Request is not mergeable' }),
    });
    expect(head(origin)).toBe(merged.body.sha);
    expect(own.takeViolations()).toEqual([]);
  });

  it('refuses to reopen a merged pull request (422, nothing of the update applied); a closed unmerged one reopens', async () => {
    const pr = await pullFor('fix-r', 'r.txt', 'r\n');
    expect((await at('PUT', `/pulls/${pr.number}/merge`)).status).toBe(200);
    const reopen = await at('PATCH', `/pulls/${pr.number}`, { state: 'open', title: 'renamed' });
    expect(reopen).toEqual({
      status: 422,
      body: expect.objectContaining({
        message: 'Validation Failed',
        errors: [
          {
            resource: 'PullRequest',
            code: 'custom',
            field: 'state',
            message: 'state cannot be changed. The pull request cannot be reopened.',
          },
        ],
      }),
    });
    expect((await at('GET', `/pulls/${pr.number}`)).body).toMatchObject({
      state: 'closed',
      merged: true,
      title: 'PR fix-r',
    });
    expect((await at('GET', `/issues/${pr.number}`)).body).toMatchObject({
      state: 'closed',
      title: 'PR fix-r',
    });
    // Its title and body still change, and `state: closed` is no change of state.
    const retitled = await at('PATCH', `/pulls/${pr.number}`, { state: 'closed', title: 'renamed' });
    expect(retitled.body).toMatchObject({ state: 'closed', merged: true, title: 'renamed' });
    // Closed without a merge, a pull request reopens.
    const other = await pullFor('fix-s', 's.txt', 's\n');
    expect((await at('PATCH', `/pulls/${other.number}`, { state: 'closed' })).body).toMatchObject({
      state: 'closed',
      merged: false,
    });
    expect((await at('PATCH', `/pulls/${other.number}`, { state: 'open' })).body).toMatchObject({
      state: 'open',
      closed_at: null,
    });
    expect(own.takeViolations()).toEqual([]);
  });

  it('refuses the same reopen through the issues API (a PR is an issue); closing and reopening there moves the PR too', async () => {
    const pr = await pullFor('fix-i', 'i.txt', 'i\n');
    expect((await at('PUT', `/pulls/${pr.number}/merge`)).status).toBe(200);
    const reopen = await at('PATCH', `/issues/${pr.number}`, { state: 'open', title: 'renamed' });
    expect(reopen).toEqual({
      status: 422,
      body: expect.objectContaining({
        message: 'Validation Failed',
        errors: [
          expect.objectContaining({
            field: 'state',
            message: 'state cannot be changed. The pull request cannot be reopened.',
          }),
        ],
      }),
    });
    expect((await at('GET', `/issues/${pr.number}`)).body).toMatchObject({
      state: 'closed',
      title: 'PR fix-i',
    });
    expect((await at('GET', `/pulls/${pr.number}`)).body).toMatchObject({ state: 'closed', merged: true });
    // An unmerged PR closed and reopened through its issue: the pull request follows.
    const other = await pullFor('fix-j', 'j.txt', 'j\n');
    expect((await at('PATCH', `/issues/${other.number}`, { state: 'closed' })).status).toBe(200);
    expect((await at('GET', `/pulls/${other.number}`)).body).toMatchObject({
      state: 'closed',
      merged: false,
    });
    expect((await at('PATCH', `/issues/${other.number}`, { state: 'open' })).status).toBe(200);
    expect((await at('GET', `/pulls/${other.number}`)).body).toMatchObject({
      state: 'open',
      closed_at: null,
    });
    expect(own.takeViolations()).toEqual([]);
  });

  it('answers 409 when `sha` is not the head, 422 for a merge method GitHub does not have; neither merges', async () => {
    const pr = await pullFor('fix-b', 'b.txt', 'bumble\n');
    const before = head(origin);
    const stale = await at('PUT', `/pulls/${pr.number}/merge`, { sha: before });
    expect(stale).toEqual({
      status: 409,
      body: expect.objectContaining({
        message: 'Head branch was modified. Review and try the merge again.',
        documentation_url: expect.stringMatching(/^https:\/\/docs\.github\.com\//),
      }),
    });
    const method = await at('PUT', `/pulls/${pr.number}/merge`, { merge_method: 'fast-forward' });
    expect(method.status).toBe(422);
    expect(method.body.message).toMatch(/merge_method/);
    expect(head(origin)).toBe(before);
    expect((await at('GET', `/pulls/${pr.number}`)).body).toMatchObject({ state: 'open', merged: false });
    // The head it names: merged, as a squash (one parent, the head's tree, the commit's subject).
    const squashed = await at('PUT', `/pulls/${pr.number}/merge`, { sha: pr.sha, merge_method: 'squash' });
    expect(squashed.status).toBe(200);
    expect(bare('rev-parse', `${squashed.body.sha}^@`)).toBe(before);
    expect(bare('rev-parse', `${squashed.body.sha}^{tree}`)).not.toBe(bare('rev-parse', `${before}^{tree}`));
    expect(bare('show', 'main:b.txt')).toBe('bumble');
    expect(bare('log', '-1', '--format=%s', 'main')).toBe(`fix-b: b.txt (#${pr.number})`);
  });

  it('rebases onto a base that moved: new commits by GitHub, the author kept; a conflict is 405', async () => {
    const pr = await pullFor('fix-c', 'a.txt', 'three\n');
    const clash = await pullFor('fix-d', 'a.txt', 'four\n');
    const other = await pullFor('fix-e', 'b.txt', 'bzz\n');
    expect((await at('PUT', `/pulls/${other.number}/merge`)).status).toBe(200);
    const base = head(origin);
    const rebased = await at('PUT', `/pulls/${pr.number}/merge`, { merge_method: 'rebase' });
    expect(rebased.status).toBe(200);
    expect(rebased.body.sha).not.toBe(pr.sha);
    expect(bare('rev-parse', `${rebased.body.sha}^@`)).toBe(base);
    expect(bare('log', '-1', '--format=%s|%an|%cn', rebased.body.sha)).toBe('fix-c: a.txt|Seed|GitHub');
    // fix-d changed the same line fix-c did: GitHub cannot merge it.
    const conflict = await at('PUT', `/pulls/${clash.number}/merge`);
    expect(conflict).toEqual({
      status: 405,
      body: expect.objectContaining({ message: 'Pull Request is not mergeable' }),
    });
    expect(head(origin)).toBe(rebased.body.sha);
    expect(bare('worktree', 'list')).not.toMatch(/fake-github-rebase/);
  });

  it("refuses drafts, closed pull requests and methods the repository's settings disable, with 405", async () => {
    const draft = await pullFor('draft', 'a.txt', 'five\n', { draft: true });
    expect((await at('PUT', `/pulls/${draft.number}/merge`)).body.message).toBe(
      'Pull Request is still a draft',
    );
    const closed = await pullFor('closed', 'b.txt', 'closed\n');
    await at('PATCH', `/pulls/${closed.number}`, { state: 'closed' });
    expect(await at('PUT', `/pulls/${closed.number}/merge`)).toMatchObject({ status: 405 });
    const squashOnly = await pullFor('squash-only', 'b.txt', 'squash\n');
    own.state.repo('octo-org', 'iris')!.mergeMethods = ['squash'];
    const refused = await at('PUT', `/pulls/${squashOnly.number}/merge`, { merge_method: 'merge' });
    expect(refused).toMatchObject({
      status: 405,
      body: { message: 'Merge commits are not allowed on this repository.' },
    });
    expect((await at('PUT', `/pulls/${squashOnly.number}/merge`, { merge_method: 'squash' })).status).toBe(
      200,
    );
    expect((await at('PUT', '/pulls/999/merge')).status).toBe(404);
  });

  it('closes the issues its description closes with a keyword, only on the default branch', async () => {
    const issue = async () => (await at('POST', '/issues', { title: 'alert' })).body.number as number;
    const [fixed, mentioned, elsewhere] = [await issue(), await issue(), await issue()];
    const pr = await pullFor('fixes', 'c.txt', 'c\n', { body: `Fixes #${fixed}. For #${mentioned}.` });
    git(cloneFresh(origin), ['push', '-q', 'origin', 'HEAD:release']);
    const other = await pullFor('to-release', 'd.txt', 'd\n', {
      base: 'release',
      body: `Closes #${elsewhere}`,
    });
    for (const n of [pr.number, other.number])
      expect((await at('PUT', `/pulls/${n}/merge`, { merge_method: 'squash' })).status).toBe(200);
    const states = await Promise.all(
      [fixed, mentioned, elsewhere].map(async (n) => (await at('GET', `/issues/${n}`)).body),
    );
    expect(states.map((i) => [i.state, i.state_reason])).toEqual([
      ['closed', 'completed'],
      ['open', null],
      ['open', null],
    ]);
  });

  it("checks the merge result against GitHub's schema: its own example passes, an invented one fails", () => {
    const op = api.operation('pulls/merge')!;
    const example = op.examples.find((e) => e.status === 200)!.value as Record<string, unknown>;
    expect(api.checkResponse(op, 200, example)).toEqual([]);
    expect(api.checkResponse(op, 200, { merged: true, message: 'merged' }).join()).toMatch(
      /required property 'sha'/,
    );
    expect(api.checkResponse(op, 405, { message: 'Pull Request is not mergeable' }).join()).toMatch(
      /documentation_url/,
    );
    expect(api.checkResponse(op, 201, example).join()).toMatch(/status not documented/);
  });
});
