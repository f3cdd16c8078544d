/**
 * alert-to-issue, run as the bundle against the OpenAPI-validated fake GitHub: the issue
 * lifecycle of one alert group, redelivery, the reopen window, the three payload forms, the
 * label allowlist and payload validation. GitHub API calls are counted on every run.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { addCommit, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { createComment } from './helpers/fake-github/handlers.js';
import { runAction, type RunOptions } from './helpers/run-action.js';
import { dispatchEvent, notification } from './helpers/alert-fixtures.js';

let gh: FakeGitHub;

beforeEach(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  registerCommitHandlers(gh);
  await gh.start();
});
afterEach(async () => {
  await gh.stop();
});

const repo = (): NonNullable<ReturnType<FakeGitHub['state']['repo']>> => gh.state.repo('octo-org', 'iris')!;

async function deliver(body: unknown, opts: RunOptions = {}): ReturnType<typeof runAction> {
  const before = gh.requests.length;
  const res = await runAction('alert-to-issue', {
    ...opts,
    inputs: { payload: JSON.stringify(body), ...opts.inputs },
    env: { ...gh.env(), ...opts.env },
  });
  calls.push(gh.requests.slice(before).map((r) => r.operationId));
  return res;
}
const calls: string[][] = [];
beforeEach(() => {
  calls.length = 0;
});
const lastCalls = (): string[] => calls.at(-1) ?? [];
/** A lookup of the group's issues: the label-filtered and the newest issues, listed at once. */
const LIST = ['issues/list-for-repo', 'issues/list-for-repo'];
const comments = (n: number): string[] =>
  repo()
    .comments.filter((c) => c.issue_number === n)
    .map((c) => c.body);

describe('alert-to-issue: one issue per alert group', () => {
  it('creates the issue with labels and a deterministic summary that says so, in 3 steps (5 API calls)', async () => {
    const res = await deliver(notification());
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.outputs.action).toBe('created');
    expect(res.outputs['issue-number']).toBe('1');
    expect(res.outputs['issue-url']).toBe('https://github.com/octo-org/iris/issues/1');
    const issue = repo().issue(1)!;
    expect(issue.title).toBe('[alert] ModelLatencyHigh (model=iris)');
    const labels = issue.labels.map((l) => l.name).sort();
    expect(labels).toHaveLength(3);
    expect(labels).toEqual(expect.arrayContaining(['alert', 'severity:critical']));
    expect(labels.find((l) => l.startsWith('alert-group:'))).toMatch(/^alert-group:[0-9a-f]{12}$/);
    expect(issue.body).toMatch(
      /^<!-- alert-to-issue:state \{"v":1,"group":"[0-9a-f]{64}","seen":\["[0-9a-f]{16}"\]\} -->/,
    );
    expect(issue.body).toContain('**What is wrong:** ModelLatencyHigh is firing for 1 alert');
    expect(issue.body).toContain('Deterministic summary');
    expect(issue.body).toContain('no Gemini API key was given');
    expect(issue.body).toContain('| 🔥 firing |');
    expect(lastCalls()).toEqual([...LIST, 'issues/create', ...LIST]);
    const list = gh.calls('issues/list-for-repo').find((c) => c.query.labels)!;
    expect(list.query).toMatchObject({
      state: 'all',
      labels: labels.find((l) => l.startsWith('alert-group:')),
    });
    expect(gh.requests.some((r) => r.path.startsWith('/search'))).toBe(false);
    // The job summary links the issue and says what was done, with the labels GitHub applied.
    expect(res.summary).toContain(
      '**Opened** [#1](https://github.com/octo-org/iris/issues/1): opened the issue.',
    );
    expect(res.summary).toContain('- Action: `created`');
    const shown = /^- Labels: (.*)$/m.exec(res.summary)?.[1]?.split(', ');
    expect(shown?.map((l) => l.replace(/\\/g, '')).sort()).toEqual(labels);
    expect(res.summary).toContain('- Summary: deterministic \\(no Gemini API key was given\\)');
  });

  it('ignores a redelivered notification, comments on a changed one, and closes on resolve', async () => {
    const first = notification();
    await deliver(first);
    const again = await deliver(first);
    expect(again.outputs.action).toBe('skipped');
    expect(again.outputs['issue-number']).toBe('1');
    expect(lastCalls()).toEqual([...LIST]);
    expect(comments(1)).toHaveLength(0);

    const body = repo().issue(1)!.body;
    const more = notification({ alerts: [{}, { labels: { instance: 'pod-2' } }] });
    const commented = await deliver(more);
    expect(commented.outputs.action).toBe('commented');
    // Posted, then listed again: a lower comment with the same marker would win over this one.
    expect(lastCalls()).toEqual([
      ...LIST,
      'issues/list-comments',
      'issues/create-comment',
      'issues/list-comments',
    ]);
    expect(comments(1)).toHaveLength(1);
    expect(comments(1)[0]).toMatch(/^<!-- alert-to-issue:notification [0-9a-f]{16} -->/);
    expect(comments(1)[0]).toContain('2 firing');
    // The comment is the record: the body, which concurrent runs would overwrite, is not rewritten.
    expect(repo().issue(1)!.body).toBe(body);
    // Redelivery of the second notification is recognised by its comment.
    expect((await deliver(more)).outputs.action).toBe('skipped');
    expect(lastCalls()).toEqual([...LIST, 'issues/list-comments']);

    const resolved = notification({
      status: 'resolved',
      alerts: [{ status: 'resolved' }, { status: 'resolved', labels: { instance: 'pod-2' } }],
    });
    const closed = await deliver(resolved);
    expect(closed.outputs.action).toBe('closed');
    expect(lastCalls()).toEqual([
      ...[...LIST, 'issues/list-comments', 'issues/create-comment', 'issues/list-comments'],
      'issues/update',
    ]);
    expect(gh.calls('issues/update').at(-1)!.body).toEqual({ state: 'closed', state_reason: 'completed' });
    expect(repo().issue(1)!.state).toBe('closed');
    expect(repo().issue(1)!.state_reason).toBe('completed');
    expect(comments(1).at(-1)).toContain('✅ Resolved');
    expect((await deliver(resolved)).outputs.action).toBe('skipped');
    expect(repo().issues).toHaveLength(1);
  });

  it('reopens within the reopen window and opens a linked new issue after it', async () => {
    await deliver(notification());
    await deliver(notification({ status: 'resolved' }));
    const refire = notification({ alerts: [{ startsAt: '2026-11-26T11:00:00.000Z' }] });
    const reopened = await deliver(refire);
    expect(reopened.outputs.action).toBe('reopened');
    expect(repo().issue(1)!.state).toBe('open');
    expect(lastCalls()).toEqual([
      ...[...LIST, 'issues/list-comments', 'issues/create-comment', 'issues/list-comments'],
      'issues/update',
    ]);
    expect(comments(1).at(-1)).toContain('reopened');

    await deliver(notification({ status: 'resolved', alerts: [{ startsAt: '2026-11-26T11:00:00.000Z' }] }));
    expect(repo().issue(1)!.state).toBe('closed');
    const late = await deliver(notification({ alerts: [{ startsAt: '2026-11-26T12:00:00.000Z' }] }), {
      inputs: { 'reopen-window': '1ms' },
    });
    expect(late.outputs.action).toBe('created');
    expect(late.outputs['issue-number']).toBe('2');
    // The closed issue's comments are read first: a redelivery of its reopening is not new.
    expect(lastCalls()).toEqual([...LIST, 'issues/list-comments', 'issues/create', ...LIST]);
    expect(repo().issue(2)!.body).toContain('Follows #1');
    expect(repo().issue(1)!.state).toBe('closed');
  });

  it('a run whose comment is not the first of its notification deletes it and neither closes nor reopens', async () => {
    await deliver(notification());
    // A concurrent copy of the same notification posts its comment just before this run's.
    gh.on('issues/create-comment', (ctx) => {
      createComment(ctx);
      return createComment(ctx);
    });
    const resolved = notification({ status: 'resolved' });
    const res = await deliver(resolved);
    expect(res.errors).toEqual([]);
    expect(res.outputs).toMatchObject({ action: 'skipped', 'issue-number': '1' });
    expect(lastCalls()).toEqual([
      ...LIST,
      'issues/list-comments',
      'issues/create-comment',
      'issues/list-comments',
      'issues/delete-comment',
    ]);
    // The racer's (lower) comment is the record; the racer, not this run, closes the issue.
    const [kept] = repo().comments;
    expect(repo().comments).toHaveLength(1);
    expect(gh.calls('issues/delete-comment')[0]!.path).not.toContain(String(kept!.id));
    expect(repo().issue(1)!.state).toBe('open');
  });

  it('still recognises notifications listed in the body by earlier versions', async () => {
    await deliver(notification());
    const more = notification({ alerts: [{}, { labels: { instance: 'pod-2' } }] });
    await deliver(more);
    // Earlier versions rewrote the body's marker with every notification instead of relying on
    // the comment: move the comment's fingerprint into the body, as they left it.
    const fp = /notification ([0-9a-f]{16})/.exec(comments(1)[0]!)![1]!;
    const issue = repo().issue(1)!;
    issue.body = issue.body!.replace(/"seen":\["([0-9a-f]{16})"\]/, `"seen":["$1","${fp}"]`);
    repo().comments.length = 0;
    expect((await deliver(more)).outputs.action).toBe('skipped');
    expect(comments(1)).toHaveLength(0);
  });

  it('keeps the issue open when an alert opts out, or when close-on-resolve is false', async () => {
    await deliver(notification());
    const optOut = await deliver(
      notification({ status: 'resolved', alerts: [{ annotations: { close_on_resolve: 'false' } }] }),
    );
    expect(optOut.outputs.action).toBe('commented');
    expect(repo().issue(1)!.state).toBe('open');
    expect(comments(1).at(-1)).toContain('Kept open');

    const other = { alertname: 'DriftDetected', model: 'iris' };
    await deliver(notification({ groupLabels: other, alerts: [{ name: 'DriftDetected' }] }));
    const kept = await deliver(
      notification({ status: 'resolved', groupLabels: other, alerts: [{ name: 'DriftDetected' }] }),
      { inputs: { 'close-on-resolve': 'false' } },
    );
    expect(kept.outputs.action).toBe('commented');
    expect(repo().issue(Number(kept.outputs['issue-number']))!.state).toBe('open');
  });

  it('keeps groups apart, and keys a group without groupKey by receiver and group labels', async () => {
    await deliver(notification());
    const other = await deliver(
      notification({ groupLabels: { alertname: 'DriftDetected' }, alerts: [{ name: 'DriftDetected' }] }),
    );
    expect(other.outputs.action).toBe('created');
    const noKey = notification({ groupKey: null });
    const a = await deliver(noKey);
    expect(a.outputs.action).toBe('created');
    const b = await deliver(notification({ groupKey: null, alerts: [{}, { labels: { instance: 'x' } }] }));
    expect(b.outputs).toMatchObject({ action: 'commented', 'issue-number': a.outputs['issue-number'] });
    const otherReceiver = await deliver(notification({ groupKey: null, receiver: 'pager' }));
    expect(otherReceiver.outputs.action).toBe('created');
    expect(repo().issues).toHaveLength(4);
  });

  it('reads the repository_dispatch event in the wrapped and bare forms and skips other event types', async () => {
    const wrapped = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent({
        alertmanager: notification(),
        relay: { id: 'r-1', receivedAt: new Date().toISOString() },
      }),
    });
    expect(wrapped.errors).toEqual([]);
    expect(wrapped.outputs.action).toBe('created');
    expect(wrapped.stdout).toContain('wrapped form, relay id r-1');
    const bare = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent(notification()),
    });
    expect(bare.outputs).toMatchObject({ action: 'skipped', 'issue-number': '1' });
    const other = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent(notification({ groupLabels: { alertname: 'X' } }), 'deploy'),
    });
    expect(other.code).toBe(0);
    expect(other.outputs.action).toBe('skipped');
    expect(other.stdout).toContain("event type 'deploy' is not 'alertmanager'");
    expect(repo().issues).toHaveLength(1);
  });

  it('logs untrusted values on one line, so they cannot become workflow commands', async () => {
    const evil = 'x\n::error title=pwned::boom\r\n::add-mask::alert';
    const res = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent({ alertmanager: notification(), relay: { id: evil } }),
    });
    expect(res.code).toBe(0);
    expect(res.outputs.action).toBe('created');
    expect(res.stdout).not.toMatch(/^::(error title=pwned|add-mask::alert)/m);
    expect(res.stdout).toContain('relay id x\\n::error title=pwned::boom\\r\\n::add-mask::alert');
    const other = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent(notification(), `deploy\n::error title=pwned::boom`),
    });
    expect(other.code).toBe(0);
    expect(other.stdout).not.toMatch(/^::error title=pwned/m);
  });

  it('reads payload-file, and the direct form rendered by the payload: template', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-payload-'));
    const file = join(dir, 'n.json');
    writeFileSync(file, JSON.stringify(notification()));
    const fromFile = await runAction('alert-to-issue', { inputs: { 'payload-file': file }, env: gh.env() });
    expect(fromFile.outputs.action).toBe('created');

    // What platform/alertmanager/alertmanager-direct.yml renders (Go's urlquery: spaces as '+').
    const direct = {
      format: 'alertmanager-direct/v1',
      status: 'firing',
      receiver: 'github-direct',
      groupLabels: 'alertname=DataDrift&model=iris&',
      commonLabels: 'alertname=DataDrift&model=iris&severity=warning&',
      commonAnnotations: 'summary=Feature+drift+%3E+0.3&',
      externalURL: 'http://alertmanager.example:9093',
      truncatedAlerts: '0',
      alerts:
        'status=firing&startsAt=2026-11-26T10%3A00%3A00Z&endsAt=0001-01-01T00%3A00%3A00Z&generatorURL=http%3A%2F%2Fprom%2Fgraph&fingerprint=abc123&l.alertname=DataDrift&l.model=iris&l.severity=warning&a.summary=Feature+drift+%3E+0.3&\n',
    };
    const res = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent(direct),
    });
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
    const issue = repo().issue(Number(res.outputs['issue-number']))!;
    expect(issue.title).toBe('[alert] DataDrift (model=iris)');
    expect(issue.labels.map((l) => l.name)).toContain('severity:warning');
    expect(issue.body).toContain('Feature drift &gt; 0.3');
  });

  it('labels only allowlisted alert labels', async () => {
    const body = notification({
      alerts: [
        {
          labels: {
            severity: 'critical',
            team: 'ml',
            owner: 'evil',
            // Would be a label if values were copied; never is.
            note: 'security',
          },
        },
      ],
    });
    const res = await deliver(body, {
      inputs: { 'label-allowlist': 'severity:critical\nteam:ml\nteam:platform', labels: 'alert, oncall' },
    });
    expect(res.outputs.action).toBe('created');
    const names = repo()
      .issue(1)!
      .labels.map((l) => l.name);
    expect(names.filter((l) => !l.startsWith('alert-group:')).sort()).toEqual([
      'alert',
      'oncall',
      'severity:critical',
      'team:ml',
    ]);
    expect([...repo().labels.keys()].some((k) => k.includes('evil') || k.includes('security'))).toBe(false);
  });

  it('adds the latest GitOps commits as context with one more call', async () => {
    addCommit(gh, 'octo-org', 'iris', { message: 'Bump iris to v3', files: ['deploy/iris/values.yaml'] });
    addCommit(gh, 'octo-org', 'iris', { message: 'Docs', files: ['README.md'] });
    addCommit(gh, 'octo-org', 'iris', { message: 'Raise replicas', files: ['deploy/iris/deployment.yaml'] });
    const res = await deliver(notification(), { inputs: { 'gitops-path': 'deploy/' } });
    expect(res.outputs.action).toBe('created');
    expect(lastCalls().sort()).toEqual(['issues/create', ...LIST, ...LIST, 'repos/list-commits']);
    const body = repo().issue(1)!.body!;
    expect(body).toContain('Raise replicas');
    expect(body).toContain('Bump iris to v3');
    expect(body).not.toContain('Docs');
    expect(body).toContain('The last GitOps change under deploy/ was');
    expect(gh.calls('repos/list-commits')[0]!.query).toMatchObject({ path: 'deploy/' });
  });
});

describe('alert-to-issue: bad input', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no alerts', { ...notification(), alerts: [] }, /payload\.alerts: expected at least one alert/],
    [
      'a wrong status',
      { ...notification(), status: 'burning' },
      /payload\.status: expected 'firing' or 'resolved', got 'burning'/,
    ],
    [
      'a label that is not a string',
      notification({ alerts: [{ labels: { replicas: 3 as unknown as string } }] }),
      /payload\.alerts\[0\]\.labels\.replicas: expected a string, got number 3/,
    ],
    [
      'a bad timestamp',
      { ...notification(), alerts: [{ ...(notification().alerts as object[])[0], startsAt: 'yesterday' }] },
      /payload\.alerts\[0\]\.startsAt: expected an RFC 3339 timestamp/,
    ],
    [
      'neither groupKey nor receiver',
      { ...notification({ groupKey: null }), receiver: undefined },
      /payload\.receiver: expected a string \(it is required\)/,
    ],
    ['version 3', { ...notification(), version: '3' }, /payload\.version: expected '4'/],
    ...['1', 'March 7, 2026', '2026-02-30T00:00:00Z', '2026-03-07 10:00:00Z', '2026-03-07T10:00:00'].map(
      (t): [string, unknown, RegExp] => [
        `endsAt '${t}' (not RFC 3339)`,
        { ...notification(), alerts: [{ ...(notification().alerts as object[])[0], endsAt: t }] },
        /payload\.alerts\[0\]\.endsAt: expected an RFC 3339 timestamp/,
      ],
    ),
  ];
  it.each(cases)('fails on %s, naming the field', async (_name, body, message) => {
    const res = await deliver(body);
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/Input 'payload'/);
    expect(res.errors.join('\n')).toMatch(message);
    expect(gh.requests).toHaveLength(0);
  });

  it('accepts RFC 3339 timestamps with fractions, offsets and a leap day', async () => {
    const a = (notification().alerts as object[])[0];
    const res = await deliver({
      ...notification(),
      alerts: [{ ...a, startsAt: '2028-02-29T10:00:00.123456789+01:00', endsAt: '2028-02-29T23:59:59z' }],
    });
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
  });

  it.each(['labels', 'annotations', 'receiver'])(
    "fails on a direct-form alert with a crafted '%s=' key before l.*/a.* keys, naming the field",
    async (key) => {
      const res = await runAction('alert-to-issue', {
        env: gh.env(),
        eventName: 'repository_dispatch',
        event: dispatchEvent({
          format: 'alertmanager-direct/v1',
          status: 'firing',
          receiver: 'github-direct',
          alerts: `status=firing&startsAt=2026-11-26T10%3A00%3A00Z&${key}=x&l.alertname=A&a.summary=s&`,
        }),
      });
      expect(res.code).toBe(1);
      expect(res.errors.join('\n')).not.toMatch(/Cannot create property/);
      expect(res.errors.join('\n')).toMatch(
        new RegExp(`event\\.client_payload\\.alerts\\[0\\]\\.${key}: expected one of status, startsAt`),
      );
      expect(gh.requests).toHaveLength(0);
    },
  );

  const direct = (alerts: string) =>
    runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent({
        format: 'alertmanager-direct/v1',
        status: 'firing',
        receiver: 'github-direct',
        alerts,
      }),
    });

  it.each(['1', 'March+7%2C+2026', '2026-02-30T00%3A00%3A00Z'])(
    "fails on a direct-form startsAt '%s' (not RFC 3339), naming the field",
    async (t) => {
      const res = await direct(`status=firing&startsAt=${t}&l.alertname=A&`);
      expect(res.code).toBe(1);
      expect(res.errors.join('\n')).toMatch(
        /event\.client_payload\.alerts\[0\]\.startsAt: expected an RFC 3339 timestamp/,
      );
      expect(gh.requests).toHaveLength(0);
    },
  );

  it("takes a direct-form alert with Go's zero endsAt and __proto__/constructor labels without harm", async () => {
    const res = await direct(
      'status=firing&startsAt=2026-02-03T04%3A05%3A06.789%2B01%3A00&endsAt=0001-01-01T00%3A00%3A00Z&l.__proto__=p&l.constructor=c&l.alertname=A&a.__proto__=x&',
    );
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it('fails on JSON that does not parse, a missing file, a bad wrapped body and a bad allowlist', async () => {
    const bad = await runAction('alert-to-issue', { inputs: { payload: '{"status": ' }, env: gh.env() });
    expect(bad.errors.join()).toMatch(/Input 'payload': expected an Alertmanager webhook body as JSON/);
    const missing = await runAction('alert-to-issue', {
      inputs: { 'payload-file': '/nonexistent/n.json' },
      env: gh.env(),
    });
    expect(missing.errors.join()).toMatch(
      /Input 'payload-file': expected a readable file, got '\/nonexistent\/n.json: ENOENT'/,
    );
    const wrapped = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent({ alertmanager: { ...notification(), alerts: 'none' } }),
    });
    expect(wrapped.code).toBe(1);
    expect(wrapped.errors.join()).toMatch(
      /event\.client_payload\.alertmanager\.alerts: expected an array of alerts, got 'none'/,
    );
    const allow = await deliver(notification(), { inputs: { 'label-allowlist': 'severity' } });
    expect(allow.errors.join()).toMatch(/Input 'label-allowlist': expected entries of the form/);
    const long = await deliver(notification(), { inputs: { 'label-allowlist': `team:${'x'.repeat(60)}` } });
    expect(long.errors.join()).toMatch(/at most 50 characters/);
    const notDispatch = await runAction('alert-to-issue', { env: gh.env(), eventName: 'push' });
    expect(notDispatch.errors.join()).toMatch(
      /Input 'payload': expected a notification: set payload or payload-file, or run on repository_dispatch \(this run is push\)/,
    );
    expect(gh.requests).toHaveLength(0);
  });

  it('fails the run when GitHub fails for good, and says what failed', async () => {
    gh.fail({
      status: 403,
      operationId: 'issues/create',
      body: { message: 'Resource not accessible by integration' },
    });
    const res = await deliver(notification());
    expect(res.code).toBe(1);
    expect(res.errors.join()).toMatch(/Resource not accessible by integration/);
  });
});
