/**
 * The faults GitHub plays, with the headers it sends (primary and secondary rate limits, bursts of
 * 5xx, labels dropped on issue create, a lagging label-filtered issue list), played by the fake
 * against createOctokit and the bundled alert-to-issue and ai-review: nothing is lost and nothing
 * is duplicated. The relay's own faults are in relay.test.ts.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { createServer } from 'node:net';
import { FakeGemini, FAKE_GEMINI_KEY } from './helpers/fake-gemini.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { addedPatch, pullFile, registerReviewHandlers, seedPull } from './helpers/fake-github/reviews.js';
import type { Pull } from './helpers/fake-github/state.js';
import { runAction } from './helpers/run-action.js';
import { notification } from './helpers/alert-fixtures.js';

jest.setTimeout(120_000);

let gh: FakeGitHub;
// @actions/github reads GITHUB_API_URL when it is imported: every fake here serves on one port.
let port = 0;
let createOctokit: typeof import('../actions/shared/github.js').createOctokit;
beforeAll(async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  process.env.GITHUB_API_URL = `http://127.0.0.1:${port}`;
  ({ createOctokit } = await import('../actions/shared/github.js'));
});
beforeEach(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  registerReviewHandlers(gh);
  await gh.start(port);
});
afterEach(() => gh.stop());

const repo = () => gh.state.repo('octo-org', 'iris')!;
const issues = () => repo().issues.filter((i) => !i.pull_request);
const statuses = (op: string) => gh.calls(op).map((r) => r.status);

/** Each fault, played once on one operation. */
const FAULTS: [string, (operationId: string) => void][] = [
  ['a primary rate limit', (operationId) => gh.rateLimit({ operationId })],
  ['a secondary rate limit (403)', (operationId) => gh.secondaryRateLimit({ operationId })],
  ['a secondary rate limit (429)', (operationId) => gh.secondaryRateLimit({ status: 429, operationId })],
  ['a burst of 502s', (operationId) => gh.serverErrors({ operationId, times: 2 })],
];

describe('createOctokit under GitHub faults', () => {
  const create = () =>
    createOctokit('ghs_test_token').rest.issues.create({ owner: 'octo-org', repo: 'iris', title: 'once' });

  it.each(FAULTS)('creates exactly one issue through %s', async (_name, play) => {
    play('issues/create');
    const { status, data } = await create();
    expect(status).toBe(201);
    expect(data.number).toBe(1);
    expect(issues()).toHaveLength(1);
    const seen = statuses('issues/create');
    expect(seen.at(-1)).toBe(201);
    expect(seen.slice(0, -1).every((s) => s >= 403)).toBe(true);
  });

  it("gives up past its retry budget with GitHub's status, having created nothing", async () => {
    gh.serverErrors({ operationId: 'issues/get', times: 10, status: 503 });
    await expect(
      createOctokit('ghs_test_token', { maxRetries: 1 }).rest.issues.get({
        owner: 'octo-org',
        repo: 'iris',
        issue_number: 1,
      }),
    ).rejects.toMatchObject({ status: 503 });
    expect(statuses('issues/get')).toEqual([503, 503]);
  });
});

describe('alert-to-issue (bundle) under GitHub faults', () => {
  const deliver = (body: unknown) =>
    runAction('alert-to-issue', {
      inputs: { payload: JSON.stringify(body) },
      env: gh.env(),
      timeoutMs: 90_000,
    });
  // Two notifications of one group: the second has one more alert.
  const first = notification();
  const second = notification({ alerts: [{}, { labels: { pod: 'iris-2' } }] });

  it.each(FAULTS)('keeps one issue and records both notifications under %s', async (_name, play) => {
    play('issues/list-for-repo');
    play('issues/create');
    const one = await deliver(first);
    play('issues/list-for-repo');
    play('issues/create-comment');
    const two = await deliver(second);
    expect([one.errors, two.errors]).toEqual([[], []]);
    expect([one.outputs.action, two.outputs.action]).toEqual(['created', 'commented']);
    expect(issues()).toHaveLength(1);
    expect(repo().comments.filter((c) => c.issue_number === 1)).toHaveLength(1);
    // Every fault was met (and retried), none left over.
    for (const op of ['issues/list-for-repo', 'issues/create', 'issues/create-comment'])
      expect(statuses(op).some((s) => s >= 403)).toBe(true);
  });

  it('keeps one issue per group when the label-filtered list lags behind writes', async () => {
    gh.listLagMs = 60_000;
    const one = await deliver(first);
    const two = await deliver(second);
    expect([one.outputs.action, two.outputs.action]).toEqual(['created', 'commented']);
    // Concurrent copies of a third notification, still inside the lag: one of them records it.
    const third = notification({ alerts: [{}, { labels: { pod: 'iris-3' } }] });
    const runs = await Promise.all([deliver(third), deliver(third), deliver(third)]);
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(runs.map((r) => r.outputs.action).sort()).toEqual(['commented', 'skipped', 'skipped']);
    expect(issues().filter((i) => i.state === 'open')).toHaveLength(1);
    expect(issues()).toHaveLength(1);
    expect(repo().comments.filter((c) => c.issue_number === 1)).toHaveLength(2);
  });

  it('fails clearly when GitHub drops the labels, and does not open a second issue for the group', async () => {
    gh.dropLabelsOnCreate = true;
    const one = await deliver(first);
    expect(one.code).toBe(1);
    expect(one.errors.join('\n')).toMatch(/without the label '[^']+': the token needs push access/);
    const two = await deliver(second);
    expect(two.outputs.action).toBe('commented');
    expect(issues()).toHaveLength(1);
  });
});

describe('ai-review (bundle) under GitHub faults', () => {
  let gemini: FakeGemini;
  beforeEach(async () => {
    gemini = new FakeGemini();
    await gemini.start();
  });
  afterEach(() => gemini.stop());
  let n = 0;

  const review = (pr: Pull) =>
    runAction('ai-review', {
      inputs: { 'gemini-api-key': FAKE_GEMINI_KEY, 'request-timeout': '20s' },
      env: { ...gh.env(), ...gemini.env() },
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

  // Each fault on a different call of the run.
  it.each([
    ['a primary rate limit on pulls/get', () => gh.rateLimit({ operationId: 'pulls/get' })],
    [
      'a burst of 502s on the file list',
      () => gh.serverErrors({ operationId: 'pulls/list-files', times: 2 }),
    ],
    [
      'a secondary rate limit (403) on the review',
      () => gh.secondaryRateLimit({ operationId: 'pulls/create-review' }),
    ],
    [
      'a secondary rate limit (429) on the summary',
      () => gh.secondaryRateLimit({ status: 429, operationId: 'issues/create-comment' }),
    ],
  ])('posts one review and one summary under %s', async (_name, play) => {
    const pr = seedPull(gh, {
      headSha: (++n).toString(16).padStart(40, 'c'),
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
    play();
    const res = await review(pr);
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(repo().reviews.filter((r) => r.pull_number === pr.number)).toHaveLength(1);
    expect(repo().comments.filter((c) => c.issue_number === pr.number)).toHaveLength(1);
  });
});
