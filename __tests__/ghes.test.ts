/**
 * GitHub Enterprise Server: the bundled alert-to-issue and ai-review against the fake served as
 * GHES serves its API (under `/api/v3` of the host, checked against the GHES 3.19 description),
 * with GITHUB_API_URL and GITHUB_SERVER_URL set as a GHES runner sets them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FakeGemini } from './helpers/fake-gemini.js';
import type { FakeGitHub } from './helpers/fake-github/server.js';
import { registerReviewHandlers } from './helpers/fake-github/reviews.js';
import { reviewPull, seedEnvironmentPull, startGemini, startGitHub, stopFakes } from './helpers/fakes.js';
import { runAction } from './helpers/run-action.js';
import { notification } from './helpers/alert-fixtures.js';

let gh: FakeGitHub;
let gemini: FakeGemini;
beforeAll(async () => {
  // One after the other, so that afterAll stops whichever started (each starts at once).
  gh = await startGitHub({ ghes: true, repos: ['octo-org/iris'], handlers: [registerReviewHandlers] });
  gemini = await startGemini();
});
// Fails the file if any response broke the GHES description.
afterAll(() => stopFakes(gh, gemini));

const repo = () => gh.state.repo('octo-org', 'iris')!;

describe('the fake as a GHES host', () => {
  it('serves the API under /api/v3 only, with links on the host', async () => {
    const host = gh.serverUrl;
    expect(gh.url).toBe(`${host}/api/v3`);
    expect(gh.env()).toMatchObject({ GITHUB_API_URL: `${host}/api/v3`, GITHUB_SERVER_URL: host });
    const headers = { authorization: 'token ghs_test_token', 'user-agent': 't' };
    expect((await fetch(`${host}/repos/octo-org/iris`, { headers })).status).toBe(404);
    const res = await fetch(`${gh.url}/repos/octo-org/iris`, { headers });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { url: string; html_url: string; owner: { url: string } };
    expect(body.url).toBe(`${host}/api/v3/repos/octo-org/iris`);
    expect(body.html_url).toBe(`${host}/octo-org/iris`);
    expect(body.owner.url).toBe(`${host}/api/v3/users/octo-org`);
  });
});

describe('actions on GHES', () => {
  it('alert-to-issue opens the issue through /api/v3 and links it on the host', async () => {
    const before = gh.requests.length;
    const res = await runAction('alert-to-issue', {
      inputs: { payload: JSON.stringify(notification()) },
      env: { ...gh.env(), GITHUB_RUN_ID: '77' },
    });
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
    expect(res.outputs['issue-url']).toBe(`${gh.serverUrl}/octo-org/iris/issues/1`);
    expect(repo().issue(1)!.labels.length).toBeGreaterThan(0);
    const paths = gh.requests.slice(before).map((r) => r.path);
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.every((p) => p.startsWith('/api/v3/repos/octo-org/iris/'))).toBe(true);
  });

  it('ai-review posts its review and summary through /api/v3', async () => {
    const pr = seedEnvironmentPull(gh, gemini, { headSha: 'd'.repeat(40) });
    const before = gh.requests.length;
    const res = await reviewPull(gh, gemini, pr, { action: 'opened', timeoutMs: 60_000 });
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    const reviews = repo().reviews.filter((r) => r.pull_number === pr.number);
    expect(reviews).toHaveLength(1);
    expect(reviews[0]!.comments.map((c) => `${c.path}:${c.line}`)).toEqual(['train.py:2']);
    expect(repo().comments.filter((c) => c.issue_number === pr.number)).toHaveLength(1);
    expect(gh.requests.slice(before).every((r) => r.path.startsWith('/api/v3/'))).toBe(true);
  });
});
