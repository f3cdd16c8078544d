/**
 * Deliveries of one alert group at once, as separate action processes against the fake GitHub:
 * exactly one issue stays (the rest are closed as its duplicates and unlabelled), each
 * notification is recorded on it exactly once, and redelivering them all at once adds nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { runAction } from './helpers/run-action.js';
import { notification } from './helpers/alert-fixtures.js';

let gh: FakeGitHub;
beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
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

function runAll(
  bodies: unknown[],
  inputs: Record<string, string> = {},
): ReturnType<typeof Promise.all<ReturnType<typeof runAction>[]>> {
  return Promise.all(
    bodies.map((b) =>
      runAction('alert-to-issue', { inputs: { payload: JSON.stringify(b), ...inputs }, env: gh.env() }),
    ),
  );
}
const times = <T>(k: number, v: T): T[] => Array.from({ length: k }, () => v);
const commentsOn = (n: number): string[] =>
  repo()
    .comments.filter((c) => c.issue_number === n)
    .map((c) => c.body);
const actions = (results: Awaited<ReturnType<typeof runAll>>): string[] =>
  results.map((r) => r.outputs.action ?? `error: ${r.errors.join('; ')}`).sort();

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

  it('redelivering all ten notifications of a raced group at once adds no comment', async () => {
    const bodies = Array.from({ length: 10 }, (_, i) =>
      notification({
        groupLabels: { alertname: 'Redeliver', model: 'iris' },
        alerts: [{ name: 'Redeliver', labels: { instance: `pod-${i}` } }],
      }),
    );
    const first = await runAll(bodies);
    for (const r of first) expect(r.errors).toEqual([]);
    const open = repo().issues.filter((i) => i.title.includes('Redeliver') && i.state === 'open');
    expect(open).toHaveLength(1);
    const winner = open[0]!.number;
    expect(commentsOn(winner)).toHaveLength(9);

    const again = await runAll(bodies);
    expect(actions(again)).toEqual(times(10, 'skipped'));
    expect(commentsOn(winner)).toHaveLength(9);
    expect(repo().issues.filter((i) => i.title.includes('Redeliver') && i.state === 'open')).toHaveLength(1);
    // Every pod's notification is on the issue exactly once: in the body or in one comment.
    const text = [repo().issue(winner)!.body, ...commentsOn(winner)];
    for (let i = 0; i < 10; i++)
      expect(text.filter((t) => t?.includes(`instance=pod-${i} `))).toHaveLength(1);
  });

  const copies = (name: string) => {
    const group = { alertname: name, model: 'iris' };
    const fire = (startsAt = '2026-11-26T10:00:00Z', extra = false): Record<string, unknown> =>
      notification({
        groupLabels: group,
        alerts: [{ name, startsAt }, ...(extra ? [{ name, labels: { instance: 'b' } }] : [])],
      });
    const resolve = (startsAt = '2026-11-26T10:00:00Z'): Record<string, unknown> =>
      notification({ status: 'resolved', groupLabels: group, alerts: [{ name, startsAt }] });
    const one = async (body: unknown, inputs: Record<string, string> = {}): Promise<number> => {
      const [r] = await runAll([body], inputs);
      expect(r!.errors).toEqual([]);
      return Number(r!.outputs['issue-number']);
    };
    const issuesOf = () => repo().issues.filter((i) => i.title.includes(name));
    return { fire, resolve, one, issuesOf };
  };

  it('five copies at once of a new notification on an open issue: one comment', async () => {
    const { fire, one } = copies('Joined');
    const n = await one(fire());
    const results = await runAll(times(5, fire(undefined, true)));
    expect(actions(results)).toEqual(['commented', ...times(4, 'skipped')]);
    expect(results.every((r) => r.outputs['issue-number'] === String(n))).toBe(true);
    expect(commentsOn(n)).toHaveLength(1);
    expect(commentsOn(n)[0]).toContain('2 firing');
  });

  it('five copies at once of one resolved notification: one resolve comment, the issue closed', async () => {
    const { fire, resolve, one } = copies('Resolving');
    const n = await one(fire());
    expect(actions(await runAll(times(5, resolve())))).toEqual(['closed', ...times(4, 'skipped')]);
    expect(commentsOn(n)).toHaveLength(1);
    expect(commentsOn(n)[0]).toContain('✅ Resolved');
    expect(repo().issue(n)).toMatchObject({ state: 'closed', state_reason: 'completed' });
    // And again later: a redelivery finds the issue closed and adds nothing.
    expect(actions(await runAll(times(5, resolve())))).toEqual(times(5, 'skipped'));
    expect(commentsOn(n)).toHaveLength(1);
  });

  it('five copies at once of a firing after resolve reopen the issue once, within the window', async () => {
    const { fire, resolve, one } = copies('Refiring');
    const n = await one(fire());
    await one(resolve());
    expect(repo().issue(n)!.state).toBe('closed');
    const again = fire('2026-11-26T11:00:00Z');
    expect(actions(await runAll(times(5, again)))).toEqual(['reopened', ...times(4, 'skipped')]);
    expect(repo().issue(n)).toMatchObject({ state: 'open', state_reason: 'reopened' });
    expect(commentsOn(n)).toHaveLength(2);
    expect(commentsOn(n)[1]).toContain('reopened');
    expect(actions(await runAll(times(5, again)))).toEqual(times(5, 'skipped'));
    expect(commentsOn(n)).toHaveLength(2);
  });

  it('five copies at once of a firing after the reopen window open one new issue that follows the old', async () => {
    const { fire, resolve, one, issuesOf } = copies('Returning');
    const n = await one(fire());
    await one(resolve());
    const late = await runAll(times(5, fire('2026-11-26T12:00:00Z')), { 'reopen-window': '1ms' });
    expect(actions(late)).toEqual(['created', ...times(4, 'skipped')]);
    const open = issuesOf().filter((i) => i.state === 'open');
    expect(open).toHaveLength(1);
    expect(open[0]!.number).toBeGreaterThan(n);
    expect(open[0]!.body).toContain(`Follows #${n}`);
    expect(commentsOn(open[0]!.number)).toHaveLength(0);
    expect(repo().issue(n)!.state).toBe('closed');
    expect(commentsOn(n)).toHaveLength(1);
  });
});
