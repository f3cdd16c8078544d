/**
 * The fault where GitHub commits a write and the client never learns it: a 5xx after the write,
 * or a connection closed with no answer (`failAfterWrite`). createOctokit finds what a lost create
 * made instead of making it twice; the bundled alert-to-issue keeps one issue per group and one
 * comment per notification, ai-review posts one review and one summary, and the relay, which
 * cannot ask GitHub whether a dispatch arrived, delivers again and alert-to-issue records it once.
 * One fake serves the file; each test gets its own repository.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer } from 'node:net';
import { FakeGemini, FAKE_GEMINI_KEY } from './helpers/fake-gemini.js';
import { FakeGitHub, type ServerErrorStatus } from './helpers/fake-github/server.js';
import { addCommit, commitCommentsOf, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { addedPatch, pullFile, registerReviewHandlers, seedPull } from './helpers/fake-github/reviews.js';
import { dispatchEvent, notification } from './helpers/alert-fixtures.js';
import { startRelay } from './helpers/relay-process.js';
import { runAction } from './helpers/run-action.js';

jest.setTimeout(120_000);

let gh: FakeGitHub;
let createOctokit: typeof import('../actions/shared/github.js').createOctokit;
beforeAll(async () => {
  // @actions/github reads GITHUB_API_URL when it is imported: the fake's port is chosen first.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  process.env.GITHUB_API_URL = `http://127.0.0.1:${port}`;
  ({ createOctokit } = await import('../actions/shared/github.js'));
  gh = new FakeGitHub();
  registerReviewHandlers(gh);
  registerCommitHandlers(gh);
  await gh.start(port);
});
afterAll(() => gh.stop());

let repos = 0;
/** A repository of its own for one test: `{ owner, repo, full }`. */
function freshRepo(): { owner: string; repo: string; full: string } {
  const repo = `w${++repos}`;
  gh.createRepo(`octo-org/${repo}`);
  return { owner: 'octo-org', repo, full: `octo-org/${repo}` };
}
const state = (r: { owner: string; repo: string }) => gh.state.repo(r.owner, r.repo)!;
const issuesOf = (r: { owner: string; repo: string }) => state(r).issues.filter((i) => !i.pull_request);
/** The statuses of `operationId` on one repository; 0 is a connection closed with no answer. */
const statuses = (r: { full: string }, operationId: string) =>
  gh
    .calls(operationId)
    .filter((c) => c.path.startsWith(`/repos/${r.full}/`))
    .map((c) => c.status);

/** The ways a write's answer is lost. */
const LOST: [string, { status?: ServerErrorStatus; drop?: boolean }][] = [
  ['a 502 after the write', { status: 502 }],
  ['a 503 after the write', { status: 503 }],
  ['a connection closed after the write', { drop: true }],
];
const lostStatus = (f: { status?: number; drop?: boolean }): number => (f.drop ? 0 : (f.status ?? 502));

describe('the fake plays a lost answer', () => {
  const post = (r: { full: string }) =>
    fetch(`${gh.url}/repos/${r.full}/issues`, {
      method: 'POST',
      headers: { authorization: 'Bearer ghs_test_token', 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'written' }),
    });

  it("writes, then answers GitHub's 502 or closes the connection", async () => {
    const r = freshRepo();
    gh.failAfterWrite({ operationId: 'issues/create' });
    const res = await post(r);
    expect(res.status).toBe(502);
    expect(res.headers.get('x-github-request-id')).toBeTruthy();
    expect(await res.json()).toMatchObject({
      message: 'Server Error',
      documentation_url: expect.any(String),
    });
    gh.failAfterWrite({ operationId: 'issues/create', drop: true });
    await expect(post(r)).rejects.toThrow();
    expect(issuesOf(r).map((i) => i.title)).toEqual(['written', 'written']);
    expect(statuses(r, 'issues/create')).toEqual([502, 0]);
    // Played once each: the next create is answered.
    expect((await post(r)).status).toBe(201);
  });
});

describe('createOctokit when GitHub writes and the answer is lost', () => {
  it.each(LOST)('creates one issue, and answers with it, through %s', async (_name, fault) => {
    const r = freshRepo();
    gh.failAfterWrite({ operationId: 'issues/create', ...fault });
    const { status, data } = await createOctokit('ghs_test_token').rest.issues.create({
      owner: r.owner,
      repo: r.repo,
      title: 'once',
      body: 'the text',
    });
    expect(status).toBe(201);
    expect(issuesOf(r)).toHaveLength(1);
    expect(data).toMatchObject({ number: 1, title: 'once' });
    // The write id that identified it, after the caller's text.
    expect(data.body).toMatch(/^the text\n\n<!-- mlops-actions:write [0-9a-f-]{36} -->$/);
    // Found, not sent again.
    expect(statuses(r, 'issues/create')).toEqual([lostStatus(fault)]);
    expect(statuses(r, 'issues/list-for-repo')).toEqual([200]);
  });

  it('sends a create again when GitHub did not make it, and makes it once', async () => {
    const r = freshRepo();
    gh.serverErrors({ operationId: 'issues/create', times: 1 });
    const { data } = await createOctokit('ghs_test_token').rest.issues.create({ ...r, title: 'once' });
    expect(issuesOf(r).map((i) => i.number)).toEqual([data.number]);
    expect(statuses(r, 'issues/create')).toEqual([502, 201]);
    expect(statuses(r, 'issues/list-for-repo')).toEqual([200]);
  });

  it('finds the write of its last attempt, and gives up with GitHub’s status when there is none', async () => {
    const r = freshRepo();
    // No retries at all: the first attempt is the last.
    const octokit = createOctokit('ghs_test_token', { maxRetries: 0 });
    gh.failAfterWrite({ operationId: 'issues/create' });
    const { data } = await octokit.rest.issues.create({ ...r, title: 'first' });
    expect(issuesOf(r).map((i) => [i.number, i.title])).toEqual([[data.number, 'first']]);

    gh.serverErrors({ operationId: 'issues/create', times: 1, status: 503 });
    await expect(octokit.rest.issues.create({ ...r, title: 'second' })).rejects.toMatchObject({
      status: 503,
    });
    expect(issuesOf(r).map((i) => i.title)).toEqual(['first']);
    expect(statuses(r, 'issues/create')).toEqual([502, 503]);
    expect(statuses(r, 'issues/list-for-repo')).toEqual([200, 200]);
  });

  it('creates one comment, one review and one commit comment through a lost answer', async () => {
    const r = freshRepo();
    const octokit = createOctokit('ghs_test_token');
    const pr = seedPull(gh, {
      ...r,
      headSha: 'a'.repeat(40),
      files: [pullFile('a.py', addedPatch('x = 1'), 'added')],
    });
    const commit = addCommit(gh, r.owner, r.repo, { message: 'one', files: ['a.py'] });
    for (const operationId of ['issues/create-comment', 'pulls/create-review', 'repos/create-commit-comment'])
      gh.failAfterWrite({ operationId });
    await octokit.rest.issues.createComment({ ...r, issue_number: pr.number, body: 'a comment' });
    await octokit.rest.pulls.createReview({
      ...r,
      pull_number: pr.number,
      commit_id: pr.head.sha,
      event: 'COMMENT',
      body: 'a review',
    });
    const { data } = await octokit.rest.repos.createCommitComment({
      ...r,
      commit_sha: commit.sha,
      body: 'on a commit',
    });
    expect(state(r).comments.map((c) => c.body)).toEqual([
      expect.stringMatching(/^a comment\n\n<!-- mlops-actions:write /),
    ]);
    expect(state(r).reviews.map((v) => v.body)).toEqual([expect.stringMatching(/^a review\n/)]);
    expect(commitCommentsOf(gh, r.owner, r.repo).map((c) => c.id)).toEqual([data.id]);
    for (const op of ['issues/create-comment', 'pulls/create-review', 'repos/create-commit-comment'])
      expect(statuses(r, op)).toEqual([502]);
  });
});

describe('alert-to-issue (bundle) when GitHub writes and the answer is lost', () => {
  const deliver = (r: { full: string }, body: unknown) =>
    runAction('alert-to-issue', {
      inputs: { payload: JSON.stringify(body) },
      env: { ...gh.env(), GITHUB_REPOSITORY: r.full },
      timeoutMs: 90_000,
    });
  const firing = notification();
  const refired = notification({ alerts: [{}, { labels: { pod: 'iris-2' } }] });
  const resolved = notification({
    status: 'resolved',
    alerts: [{ status: 'resolved' }, { status: 'resolved', labels: { pod: 'iris-2' } }],
  });

  it.each(LOST.filter(([name]) => name !== 'a 503 after the write'))(
    'opens one issue, records each notification once and closes it through %s',
    async (_name, fault) => {
      const r = freshRepo();
      gh.failAfterWrite({ operationId: 'issues/create', ...fault });
      const one = await deliver(r, firing);
      gh.failAfterWrite({ operationId: 'issues/create-comment', ...fault });
      const two = await deliver(r, refired);
      gh.failAfterWrite({ operationId: 'issues/create-comment', ...fault });
      gh.failAfterWrite({ operationId: 'issues/update', ...fault });
      const three = await deliver(r, resolved);
      expect([one.errors, two.errors, three.errors]).toEqual([[], [], []]);
      expect([one.outputs.action, two.outputs.action, three.outputs.action]).toEqual([
        'created',
        'commented',
        'closed',
      ]);
      expect(issuesOf(r).map((i) => [i.number, i.state, i.state_reason])).toEqual([
        [1, 'closed', 'completed'],
      ]);
      expect(state(r).comments.filter((c) => c.issue_number === 1)).toHaveLength(2);
      // Each lost answer was met once; the creates were found, not sent again.
      expect(statuses(r, 'issues/create')).toEqual([lostStatus(fault)]);
      expect(statuses(r, 'issues/create-comment')).toEqual([lostStatus(fault), lostStatus(fault)]);
      // A redelivery of either adds nothing.
      expect((await deliver(r, refired)).outputs.action).toBe('skipped');
      expect(state(r).comments).toHaveLength(2);
    },
  );
});

describe('ai-review (bundle) when GitHub writes and the answer is lost', () => {
  let gemini: FakeGemini;
  beforeAll(async () => {
    gemini = new FakeGemini();
    await gemini.start();
  });
  afterAll(() => gemini.stop());

  it.each(LOST.filter(([name]) => name !== 'a 503 after the write'))(
    'posts one review and one summary through %s on both',
    async (_name, fault) => {
      const r = freshRepo();
      const pr = seedPull(gh, {
        ...r,
        headSha: 'c'.repeat(40),
        files: [pullFile('train.py', addedPatch('import os\nprint(os.environ)\n'), 'added')],
      });
      gemini.script({
        json: {
          summary: 'Prints the environment.',
          findings: [
            {
              path: 'train.py',
              line: 2,
              severity: 'high',
              category: 'secrets',
              title: 'Environment printed',
              body: 'It may hold secrets.',
            },
          ],
        },
      });
      gh.failAfterWrite({ operationId: 'pulls/create-review', ...fault });
      gh.failAfterWrite({ operationId: 'issues/create-comment', ...fault });
      const res = await runAction('ai-review', {
        inputs: { 'gemini-api-key': FAKE_GEMINI_KEY, 'request-timeout': '20s' },
        env: { ...gh.env(), ...gemini.env(), GITHUB_REPOSITORY: r.full },
        eventName: 'pull_request',
        event: {
          action: 'synchronize',
          number: pr.number,
          pull_request: {
            number: pr.number,
            draft: false,
            head: { sha: pr.head.sha, repo: pr.head.repo },
            base: { sha: pr.base.sha, repo: pr.base.repo },
          },
        },
        timeoutMs: 90_000,
      });
      expect(res.errors).toEqual([]);
      expect(res.code).toBe(0);
      expect(state(r).reviews).toHaveLength(1);
      expect(state(r).reviews[0]!.comments).toHaveLength(1);
      expect(state(r).comments).toHaveLength(1);
      expect(state(r).comments[0]!.body).toContain('### AI review');
      expect(res.outputs['review-id']).toBe(String(state(r).reviews[0]!.id));
      expect(statuses(r, 'pulls/create-review')).toEqual([lostStatus(fault)]);
      expect(statuses(r, 'issues/create-comment')).toEqual([lostStatus(fault)]);
    },
  );
});

describe('relay (bundle) when GitHub writes the dispatch and the answer is lost', () => {
  it.each(LOST.filter(([name]) => name !== 'a 503 after the write'))(
    'delivers again, and alert-to-issue records the notification once, through %s',
    async (_name, fault) => {
      const r = freshRepo();
      const relay = await startRelay({
        GITHUB_API_URL: gh.url,
        GITHUB_TOKEN: 'ghs_test_token',
        GITHUB_REPOSITORY: r.full,
      });
      try {
        gh.failAfterWrite({ operationId: 'repos/create-dispatch-event', ...fault });
        expect((await relay.post(notification())).status).toBe(200);
      } finally {
        await relay.stop();
      }
      // GitHub has no way to ask whether a dispatch arrived: at least once, so here twice, the
      // same delivery (one relay id).
      const dispatches = state(r).dispatches;
      expect(statuses(r, 'repos/create-dispatch-event')).toEqual([lostStatus(fault), 204]);
      expect(dispatches).toHaveLength(2);
      const ids = dispatches.map((d) => (d.client_payload.relay as { id: string }).id);
      expect(ids[0]).toBe(ids[1]);
      // The workflow runs them one after the other (one concurrency group per alert group).
      const runs = [];
      for (const d of dispatches)
        runs.push(
          await runAction('alert-to-issue', {
            env: { ...gh.env(), GITHUB_REPOSITORY: r.full },
            eventName: 'repository_dispatch',
            event: dispatchEvent(d.client_payload, d.event_type),
          }),
        );
      expect(runs.map((run) => run.errors)).toEqual([[], []]);
      expect(runs.map((run) => run.outputs.action)).toEqual(['created', 'skipped']);
      expect(issuesOf(r)).toHaveLength(1);
      expect(state(r).comments).toHaveLength(0);
    },
  );
});
