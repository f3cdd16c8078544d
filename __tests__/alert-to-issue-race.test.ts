/**
 * Ten deliveries of one alert group at once, as ten separate action processes against the
 * fake GitHub: exactly one issue stays, the rest are closed as its duplicates and unlabelled.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { runAction } from './helpers/run-action.js';
import { notification } from './helpers/alert-fixtures.js';

let gh: FakeGitHub;
beforeAll(async () => {
  gh = new FakeGitHub();
  await gh.start();
});
afterAll(async () => {
  await gh.stop();
});

const repo = (): NonNullable<ReturnType<FakeGitHub['state']['repo']>> => gh.state.repo('octo-org', 'iris')!;
const groupLabelOf = (n: number): string | undefined =>
  repo()
    .issue(n)!
    .labels.map((l) => l.name)
    .find((l) => l.startsWith('alert-group:'));

function runAll(bodies: unknown[]): ReturnType<typeof Promise.all<ReturnType<typeof runAction>[]>> {
  return Promise.all(
    bodies.map((b) => runAction('alert-to-issue', { inputs: { payload: JSON.stringify(b) }, env: gh.env() })),
  );
}

describe('alert-to-issue under concurrent deliveries', () => {
  it('ten deliveries of the same notification at once leave exactly one issue and no comment', async () => {
    const body = notification({
      groupLabels: { alertname: 'Race', model: 'iris' },
      alerts: [{ name: 'Race' }],
    });
    const results = await runAll(Array.from({ length: 10 }, () => body));
    for (const r of results) expect(r.errors).toEqual([]);

    const created = repo().issues.filter((i) => i.title.includes('Race'));
    expect(created.length).toBeGreaterThanOrEqual(1);
    const open = created.filter((i) => i.state === 'open');
    expect(open).toHaveLength(1);
    const winner = open[0]!;
    expect(winner.number).toBe(Math.min(...created.map((i) => i.number)));
    expect(groupLabelOf(winner.number)).toMatch(/^alert-group:/);
    for (const dup of created.filter((i) => i !== winner)) {
      expect(dup.state).toBe('closed');
      expect(dup.state_reason).toBe('duplicate');
      expect(dup.labels).toEqual([]);
      expect(dup.body).toContain(`Duplicate of #${winner.number}`);
    }
    expect(results.filter((r) => r.outputs.action === 'created')).toHaveLength(1);
    expect(results.every((r) => r.outputs['issue-number'] === String(winner.number))).toBe(true);
    expect(results.filter((r) => r.outputs.action === 'skipped')).toHaveLength(9);
    expect(repo().comments.filter((c) => c.issue_number === winner.number)).toHaveLength(0);

    // The next delivery finds the one issue, not a duplicate.
    const next = await runAction('alert-to-issue', {
      inputs: {
        payload: JSON.stringify({
          ...body,
          status: 'resolved',
          alerts: [{ ...(body.alerts as object[])[0], status: 'resolved', endsAt: '2026-11-26T11:00:00Z' }],
        }),
      },
      env: gh.env(),
    });
    expect(next.outputs).toMatchObject({ action: 'closed', 'issue-number': String(winner.number) });
    expect(gh.requests.some((r) => r.path.startsWith('/search'))).toBe(false);
  });

  it('ten different notifications of one group at once: one issue, the other nine as comments on it', async () => {
    const bodies = Array.from({ length: 10 }, (_, i) =>
      notification({
        groupLabels: { alertname: 'Storm', model: 'iris' },
        alerts: [{ name: 'Storm', labels: { instance: `pod-${i}` } }],
      }),
    );
    const results = await runAll(bodies);
    for (const r of results) expect(r.errors).toEqual([]);
    const issues = repo().issues.filter((i) => i.title.includes('Storm'));
    const open = issues.filter((i) => i.state === 'open');
    expect(open).toHaveLength(1);
    const winner = open[0]!;
    expect(results.filter((r) => r.outputs.action === 'created')).toHaveLength(1);
    expect(results.filter((r) => r.outputs.action === 'commented')).toHaveLength(9);
    expect(repo().comments.filter((c) => c.issue_number === winner.number)).toHaveLength(9);
    for (const i of issues.filter((x) => x !== winner)) expect(i.state_reason).toBe('duplicate');
    // Every pod's alert is on the surviving issue, in its body or a comment.
    const text = [
      winner.body,
      ...repo()
        .comments.filter((c) => c.issue_number === winner.number)
        .map((c) => c.body),
    ].join('\n');
    for (let i = 0; i < 10; i++) expect(text).toContain(`instance=pod-${i}`);
  });
});
