/**
 * The fault where GitHub commits a write and the client never learns it: a 5xx after the write,
 * or a connection closed with no answer (`failAfterWrite`). createOctokit finds what a lost create
 * made instead of making it twice; the bundled alert-to-issue keeps one issue per group and one
 * comment per notification, ai-review posts one review and one summary, and the relay, which
 * cannot ask GitHub whether a dispatch arrived, delivers again and alert-to-issue records it once.
 *
 * The tests run concurrently (test.concurrent): they spend nearly all their time in the waits
 * before a lost create is looked for (1, 4, 9 s) and in the throttling plugin's spacing of
 * writes, so each has a fake GitHub (and Gemini) of its own.
 */
import { describe, expect, it, jest } from '@jest/globals';
import type { FakeGitHub, ServerErrorStatus } from './helpers/fake-github/server.js';
import { addCommit, commitCommentsOf, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { addedPatch, pullFile, registerReviewHandlers, seedPull } from './helpers/fake-github/reviews.js';
import {
  inProcessOctokit,
  reviewPull,
  seedEnvironmentPull,
  withGitHub,
  withGitHubAndGemini,
  type GitHubSetup,
} from './helpers/fakes.js';
import { dispatchEvent, notification } from './helpers/alert-fixtures.js';
import { startRelay } from './helpers/relay-process.js';
import { runAction } from './helpers/run-action.js';

jest.setTimeout(120_000);

/** The one repository each fake serves. */
const r = { owner: 'octo-org', repo: 'iris', full: 'octo-org/iris' };
/** Each test's own fake GitHub, with pull requests, reviews and commits. */
const SETUP: GitHubSetup = { repos: [r.full], handlers: [registerReviewHandlers, registerCommitHandlers] };

// The in-process createOctokit tests take turns on the port it was imported with.
const { createOctokit, onImportedPort } = inProcessOctokit(SETUP);

const state = (gh: FakeGitHub) => gh.state.repo(r.owner, r.repo)!;
const issuesOf = (gh: FakeGitHub) => state(gh).issues.filter((i) => !i.pull_request);
/** The statuses of `operationId`; 0 is a connection closed with no answer. */
const statuses = (gh: FakeGitHub, operationId: string) => gh.calls(operationId).map((c) => c.status);

/** The ways a write's answer is lost. */
const LOST: [string, { status?: ServerErrorStatus; drop?: boolean }][] = [
  ['a 502 after the write', { status: 502 }],
  ['a 503 after the write', { status: 503 }],
  ['a connection closed after the write', { drop: true }],
];
const LOST_502_OR_DROP = LOST.filter(([name]) => name !== 'a 503 after the write');
const lostStatus = (f: { status?: number; drop?: boolean }): number => (f.drop ? 0 : (f.status ?? 502));

// One describe block: jest runs consecutive concurrent tests of one block together.
describe('when GitHub writes and the answer is lost', () => {
  // --- the fake ----------------------------------------------------------------------------------
  const post = (gh: FakeGitHub) =>
    fetch(`${gh.url}/repos/${r.full}/issues`, {
      method: 'POST',
      headers: { authorization: 'Bearer ghs_test_token', 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'written' }),
    });

  it.concurrent("the fake writes, then answers GitHub's 502 or closes the connection", () =>
    withGitHub(SETUP, async (gh) => {
      gh.failAfterWrite({ operationId: 'issues/create' });
      const res = await post(gh);
      expect(res.status).toBe(502);
      expect(res.headers.get('x-github-request-id')).toBeTruthy();
      expect(await res.json()).toMatchObject({
        message: 'Server Error',
        documentation_url: expect.any(String),
      });
      gh.failAfterWrite({ operationId: 'issues/create', drop: true });
      await expect(post(gh)).rejects.toThrow();
      expect(issuesOf(gh).map((i) => i.title)).toEqual(['written', 'written']);
      expect(statuses(gh, 'issues/create')).toEqual([502, 0]);
      // Played once each: the next create is answered.
      expect((await post(gh)).status).toBe(201);
    }),
  );

  // --- createOctokit, in this process ---------------------------------------------------------------
  it.concurrent.each(LOST)(
    'createOctokit creates one issue, and answers with it, through %s',
    (_name, fault) =>
      onImportedPort(async (gh) => {
        gh.failAfterWrite({ operationId: 'issues/create', ...fault });
        const { status, data } = await createOctokit('ghs_test_token').rest.issues.create({
          owner: r.owner,
          repo: r.repo,
          title: 'once',
          body: 'the text',
        });
        expect(status).toBe(201);
        expect(issuesOf(gh)).toHaveLength(1);
        expect(data).toMatchObject({ number: 1, title: 'once' });
        // The write id that identified it, after the caller's text.
        expect(data.body).toMatch(/^the text\n\n<!-- mlops-actions:write [0-9a-f-]{36} -->$/);
        // Found, not sent again.
        expect(statuses(gh, 'issues/create')).toEqual([lostStatus(fault)]);
        expect(statuses(gh, 'issues/list-for-repo')).toEqual([200]);
      }),
  );

  it.concurrent('createOctokit sends a create again when GitHub did not make it, and makes it once', () =>
    onImportedPort(async (gh) => {
      gh.serverErrors({ operationId: 'issues/create', times: 1 });
      const { data } = await createOctokit('ghs_test_token').rest.issues.create({
        owner: r.owner,
        repo: r.repo,
        title: 'once',
      });
      expect(issuesOf(gh).map((i) => i.number)).toEqual([data.number]);
      expect(statuses(gh, 'issues/create')).toEqual([502, 201]);
      expect(statuses(gh, 'issues/list-for-repo')).toEqual([200]);
    }),
  );

  it.concurrent(
    'createOctokit finds the write of its last attempt, and gives up with GitHub’s status when there is none',
    () =>
      onImportedPort(async (gh) => {
        // No retries at all: the first attempt is the last.
        const octokit = createOctokit('ghs_test_token', { maxRetries: 0 });
        gh.failAfterWrite({ operationId: 'issues/create' });
        const { data } = await octokit.rest.issues.create({ owner: r.owner, repo: r.repo, title: 'first' });
        expect(issuesOf(gh).map((i) => [i.number, i.title])).toEqual([[data.number, 'first']]);

        gh.serverErrors({ operationId: 'issues/create', times: 1, status: 503 });
        await expect(
          octokit.rest.issues.create({ owner: r.owner, repo: r.repo, title: 'second' }),
        ).rejects.toMatchObject({ status: 503 });
        expect(issuesOf(gh).map((i) => i.title)).toEqual(['first']);
        expect(statuses(gh, 'issues/create')).toEqual([502, 503]);
        expect(statuses(gh, 'issues/list-for-repo')).toEqual([200, 200]);
      }),
  );

  it.concurrent(
    'createOctokit creates one comment, one review and one commit comment through a lost answer',
    () =>
      onImportedPort(async (gh) => {
        const where = { owner: r.owner, repo: r.repo };
        const octokit = createOctokit('ghs_test_token');
        const pr = seedPull(gh, {
          ...where,
          headSha: 'a'.repeat(40),
          files: [pullFile('a.py', addedPatch('x = 1'), 'added')],
        });
        const commit = addCommit(gh, r.owner, r.repo, { message: 'one', files: ['a.py'] });
        for (const operationId of [
          'issues/create-comment',
          'pulls/create-review',
          'repos/create-commit-comment',
        ])
          gh.failAfterWrite({ operationId });
        await octokit.rest.issues.createComment({ ...where, issue_number: pr.number, body: 'a comment' });
        await octokit.rest.pulls.createReview({
          ...where,
          pull_number: pr.number,
          commit_id: pr.head.sha,
          event: 'COMMENT',
          body: 'a review',
        });
        const { data } = await octokit.rest.repos.createCommitComment({
          ...where,
          commit_sha: commit.sha,
          body: 'on a commit',
        });
        expect(state(gh).comments.map((c) => c.body)).toEqual([
          expect.stringMatching(/^a comment\n\n<!-- mlops-actions:write /),
        ]);
        expect(state(gh).reviews.map((v) => v.body)).toEqual([expect.stringMatching(/^a review\n/)]);
        expect(commitCommentsOf(gh, r.owner, r.repo).map((c) => c.id)).toEqual([data.id]);
        for (const op of ['issues/create-comment', 'pulls/create-review', 'repos/create-commit-comment'])
          expect(statuses(gh, op)).toEqual([502]);
      }),
  );

  // --- alert-to-issue, bundled ----------------------------------------------------------------------
  const deliver = (gh: FakeGitHub, body: unknown) =>
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

  it.concurrent.each(LOST_502_OR_DROP)(
    'alert-to-issue (bundle) opens one issue, records each notification once and closes it through %s',
    (_name, fault) =>
      withGitHub(SETUP, async (gh) => {
        gh.failAfterWrite({ operationId: 'issues/create', ...fault });
        const one = await deliver(gh, firing);
        gh.failAfterWrite({ operationId: 'issues/create-comment', ...fault });
        const two = await deliver(gh, refired);
        gh.failAfterWrite({ operationId: 'issues/create-comment', ...fault });
        gh.failAfterWrite({ operationId: 'issues/update', ...fault });
        const three = await deliver(gh, resolved);
        expect([one.errors, two.errors, three.errors]).toEqual([[], [], []]);
        expect([one.outputs.action, two.outputs.action, three.outputs.action]).toEqual([
          'created',
          'commented',
          'closed',
        ]);
        expect(issuesOf(gh).map((i) => [i.number, i.state, i.state_reason])).toEqual([
          [1, 'closed', 'completed'],
        ]);
        expect(state(gh).comments.filter((c) => c.issue_number === 1)).toHaveLength(2);
        // Each lost answer was met once; the creates were found, not sent again.
        expect(statuses(gh, 'issues/create')).toEqual([lostStatus(fault)]);
        expect(statuses(gh, 'issues/create-comment')).toEqual([lostStatus(fault), lostStatus(fault)]);
        // A redelivery of either adds nothing.
        expect((await deliver(gh, refired)).outputs.action).toBe('skipped');
        expect(state(gh).comments).toHaveLength(2);
      }),
  );

  // --- ai-review, bundled ---------------------------------------------------------------------------
  it.concurrent.each(LOST_502_OR_DROP)(
    'ai-review (bundle) posts one review and one summary through %s on both',
    (_name, fault) =>
      withGitHubAndGemini(SETUP, async (gh, gemini) => {
        const pr = seedEnvironmentPull(gh, gemini, { owner: r.owner, repo: r.repo, headSha: 'c'.repeat(40) });
        gh.failAfterWrite({ operationId: 'pulls/create-review', ...fault });
        gh.failAfterWrite({ operationId: 'issues/create-comment', ...fault });
        const res = await reviewPull(gh, gemini, pr, { env: { GITHUB_REPOSITORY: r.full } });
        expect(res.errors).toEqual([]);
        expect(res.code).toBe(0);
        expect(state(gh).reviews).toHaveLength(1);
        expect(state(gh).reviews[0]!.comments).toHaveLength(1);
        expect(state(gh).comments).toHaveLength(1);
        expect(state(gh).comments[0]!.body).toContain('### AI review');
        expect(res.outputs['review-id']).toBe(String(state(gh).reviews[0]!.id));
        expect(statuses(gh, 'pulls/create-review')).toEqual([lostStatus(fault)]);
        expect(statuses(gh, 'issues/create-comment')).toEqual([lostStatus(fault)]);
      }),
  );

  // --- relay, bundled -------------------------------------------------------------------------------
  it.concurrent.each(LOST_502_OR_DROP)(
    'relay (bundle) delivers again, and alert-to-issue records the notification once, through %s',
    (_name, fault) =>
      withGitHub(SETUP, async (gh) => {
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
        const dispatches = state(gh).dispatches;
        expect(statuses(gh, 'repos/create-dispatch-event')).toEqual([lostStatus(fault), 204]);
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
        expect(issuesOf(gh)).toHaveLength(1);
        expect(state(gh).comments).toHaveLength(0);
      }),
  );
});
