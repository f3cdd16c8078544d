/**
 * The faults GitHub plays, with the headers it sends (primary and secondary rate limits, bursts of
 * 5xx, labels dropped on issue create, a lagging label-filtered issue list), played by the fake
 * against createOctokit and the bundled alert-to-issue and ai-review: nothing is lost and nothing
 * is duplicated. The relay's own faults are in relay.test.ts.
 *
 * The tests run concurrently (test.concurrent): they spend nearly all their time in the retry waits
 * GitHub's headers ask for and in the throttling plugin's spacing of writes, so each has a fake
 * GitHub (and Gemini) of its own.
 */
import { describe, expect, it, jest } from '@jest/globals';
import type { FakeGitHub } from './helpers/fake-github/server.js';
import { registerReviewHandlers } from './helpers/fake-github/reviews.js';
import {
  inProcessOctokit,
  reviewPull,
  seedEnvironmentPull,
  withGitHub,
  withGitHubAndGemini,
  type GitHubSetup,
} from './helpers/fakes.js';
import { runAction } from './helpers/run-action.js';
import { notification } from './helpers/alert-fixtures.js';

jest.setTimeout(120_000);

/** Each test's own fake GitHub: the one repository, with pull requests and reviews. */
const SETUP: GitHubSetup = { repos: ['octo-org/iris'], handlers: [registerReviewHandlers] };

// The in-process createOctokit tests take turns on the port it was imported with.
const { createOctokit, onImportedPort } = inProcessOctokit(SETUP);

const repo = (gh: FakeGitHub) => gh.state.repo('octo-org', 'iris')!;
const issues = (gh: FakeGitHub) => repo(gh).issues.filter((i) => !i.pull_request);
const statuses = (gh: FakeGitHub, op: string) => gh.calls(op).map((r) => r.status);

/** Each fault, played once on one operation. */
const FAULTS: [string, (gh: FakeGitHub, operationId: string) => void][] = [
  ['a primary rate limit', (gh, operationId) => gh.rateLimit({ operationId })],
  ['a secondary rate limit (403)', (gh, operationId) => gh.secondaryRateLimit({ operationId })],
  ['a secondary rate limit (429)', (gh, operationId) => gh.secondaryRateLimit({ status: 429, operationId })],
  ['a burst of 502s', (gh, operationId) => gh.serverErrors({ operationId, times: 2 })],
];

// One describe block: jest runs consecutive concurrent tests of one block together.
describe('under GitHub faults', () => {
  // --- alert-to-issue, bundled --------------------------------------------------------------------
  const deliver = (gh: FakeGitHub, body: unknown) =>
    runAction('alert-to-issue', {
      inputs: { payload: JSON.stringify(body) },
      env: gh.env(),
      timeoutMs: 90_000,
    });
  // Two notifications of one group: the second has one more alert.
  const first = notification();
  const second = notification({ alerts: [{}, { labels: { pod: 'iris-2' } }] });

  it.concurrent.each(FAULTS)(
    'alert-to-issue (bundle) keeps one issue and records both notifications under %s',
    (_name, play) =>
      withGitHub(SETUP, async (gh) => {
        play(gh, 'issues/list-for-repo');
        play(gh, 'issues/create');
        const one = await deliver(gh, first);
        play(gh, 'issues/list-for-repo');
        play(gh, 'issues/create-comment');
        const two = await deliver(gh, second);
        expect([one.errors, two.errors]).toEqual([[], []]);
        expect([one.outputs.action, two.outputs.action]).toEqual(['created', 'commented']);
        expect(issues(gh)).toHaveLength(1);
        expect(repo(gh).comments.filter((c) => c.issue_number === 1)).toHaveLength(1);
        // Every fault was met (and retried), none left over.
        for (const op of ['issues/list-for-repo', 'issues/create', 'issues/create-comment'])
          expect(statuses(gh, op).some((s) => s >= 403)).toBe(true);
      }),
  );

  it.concurrent(
    'alert-to-issue (bundle) keeps one issue per group when the label-filtered list lags behind writes',
    () =>
      withGitHub(SETUP, async (gh) => {
        gh.listLagMs = 60_000;
        const one = await deliver(gh, first);
        const two = await deliver(gh, second);
        expect([one.outputs.action, two.outputs.action]).toEqual(['created', 'commented']);
        // Concurrent copies of a third notification, still inside the lag: one of them records it.
        const third = notification({ alerts: [{}, { labels: { pod: 'iris-3' } }] });
        const runs = await Promise.all([deliver(gh, third), deliver(gh, third), deliver(gh, third)]);
        expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
        expect(runs.map((r) => r.outputs.action).sort()).toEqual(['commented', 'skipped', 'skipped']);
        expect(issues(gh).filter((i) => i.state === 'open')).toHaveLength(1);
        expect(issues(gh)).toHaveLength(1);
        expect(repo(gh).comments.filter((c) => c.issue_number === 1)).toHaveLength(2);
      }),
  );

  it.concurrent(
    'alert-to-issue (bundle) fails clearly when GitHub drops the labels, and does not open a second issue for the group',
    () =>
      withGitHub(SETUP, async (gh) => {
        gh.dropLabelsOnCreate = true;
        const one = await deliver(gh, first);
        expect(one.code).toBe(1);
        expect(one.errors.join('\n')).toMatch(/without the label '[^']+': the token needs push access/);
        const two = await deliver(gh, second);
        expect(two.outputs.action).toBe('commented');
        expect(issues(gh)).toHaveLength(1);
      }),
  );

  // --- ai-review, bundled: each fault on a different call of the run --------------------------------
  it.concurrent.each([
    ['a primary rate limit on pulls/get', (gh: FakeGitHub) => gh.rateLimit({ operationId: 'pulls/get' })],
    [
      'a burst of 502s on the file list',
      (gh: FakeGitHub) => gh.serverErrors({ operationId: 'pulls/list-files', times: 2 }),
    ],
    [
      'a secondary rate limit (403) on the review',
      (gh: FakeGitHub) => gh.secondaryRateLimit({ operationId: 'pulls/create-review' }),
    ],
    [
      'a secondary rate limit (429) on the summary',
      (gh: FakeGitHub) => gh.secondaryRateLimit({ status: 429, operationId: 'issues/create-comment' }),
    ],
  ])('ai-review (bundle) posts one review and one summary under %s', (_name, play) =>
    withGitHubAndGemini(SETUP, async (gh, gemini) => {
      const pr = seedEnvironmentPull(gh, gemini, { headSha: 'c'.repeat(40) });
      play(gh);
      const res = await reviewPull(gh, gemini, pr);
      expect(res.errors).toEqual([]);
      expect(res.code).toBe(0);
      expect(repo(gh).reviews.filter((r) => r.pull_number === pr.number)).toHaveLength(1);
      expect(repo(gh).comments.filter((c) => c.issue_number === pr.number)).toHaveLength(1);
    }),
  );

  // --- createOctokit, in this process ---------------------------------------------------------------
  const create = () =>
    createOctokit('ghs_test_token').rest.issues.create({ owner: 'octo-org', repo: 'iris', title: 'once' });

  it.concurrent.each(FAULTS)('createOctokit creates exactly one issue through %s', (_name, play) =>
    onImportedPort(async (gh) => {
      play(gh, 'issues/create');
      const { status, data } = await create();
      expect(status).toBe(201);
      expect(data.number).toBe(1);
      expect(issues(gh)).toHaveLength(1);
      const seen = statuses(gh, 'issues/create');
      expect(seen.at(-1)).toBe(201);
      expect(seen.slice(0, -1).every((s) => s >= 403)).toBe(true);
    }),
  );

  it.concurrent(
    "createOctokit gives up past its retry budget with GitHub's status, having created nothing",
    () =>
      onImportedPort(async (gh) => {
        gh.serverErrors({ operationId: 'issues/get', times: 10, status: 503 });
        await expect(
          createOctokit('ghs_test_token', { maxRetries: 1 }).rest.issues.get({
            owner: 'octo-org',
            repo: 'iris',
            issue_number: 1,
          }),
        ).rejects.toMatchObject({ status: 503 });
        expect(statuses(gh, 'issues/get')).toEqual([503, 503]);
      }),
  );
});
