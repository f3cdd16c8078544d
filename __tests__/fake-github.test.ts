/** The fake must reject what GitHub rejects, or tests against it prove nothing. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeGitHub } from './helpers/fake-github/server.js';

let gh: FakeGitHub;
const auth = {
  authorization: 'token ghs_test_token',
  'user-agent': 'test',
  'content-type': 'application/json',
};

beforeAll(async () => {
  gh = new FakeGitHub();
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

  it('injects faults once', async () => {
    gh.fail({ status: 502, operationId: 'issues/get' });
    expect((await call('GET', '/repos/o/r/issues/1')).status).toBe(502);
    expect((await call('GET', '/repos/o/r/issues/1')).status).toBe(200);
  });
});
