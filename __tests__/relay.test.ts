/**
 * The relay bundle as a process between an Alertmanager-like client and the fake GitHub:
 * bearer auth, validation, GitHub's client_payload limits, retries that honour GitHub's
 * rate-limit headers, 5xx to Alertmanager when delivery fails, health, metrics, logs without
 * secrets, and a graceful SIGTERM.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { RELAY_TOKEN, RelayStartError, startRelay, type RelayProcess } from './helpers/relay-process.js';
import { dispatchEvent, notification } from './helpers/alert-fixtures.js';
import { ROOT, runAction } from './helpers/run-action.js';
import { ENV_DOC } from '../actions/relay/config.js';

let gh: FakeGitHub;
let relay: RelayProcess | undefined;

beforeEach(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  await gh.start();
});
afterEach(async () => {
  await relay?.stop('SIGKILL');
  relay = undefined;
  await gh.stop();
});

/** A process that exists and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const dispatches = (): { event_type: string; client_payload: Record<string, unknown> }[] =>
  gh.state.repo('octo-org', 'iris')!.dispatches;

async function start(env: Record<string, string> = {}): Promise<RelayProcess> {
  relay = await startRelay({ GITHUB_API_URL: gh.url, GITHUB_TOKEN: 'ghs_test_token', ...env });
  return relay;
}

describe('relay: requests from Alertmanager', () => {
  it('wraps a notification as a repository_dispatch that alert-to-issue accepts', async () => {
    const r = await start();
    const body = notification();
    const res = await r.post(body);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { status: string; id: string; trimmedAlerts: number };
    expect(answer).toMatchObject({ status: 'delivered', trimmedAlerts: 0 });
    expect(dispatches()).toHaveLength(1);
    const d = dispatches()[0]!;
    expect(d.event_type).toBe('alertmanager');
    expect(Object.keys(d.client_payload).sort()).toEqual(['alertmanager', 'relay']);
    expect(d.client_payload.alertmanager).toEqual(body);
    expect(d.client_payload.relay).toMatchObject({ id: answer.id });
    const call = gh.calls('repos/create-dispatch-event')[0]!;
    expect(call.headers.authorization).toBe('Bearer ghs_test_token');
    expect(call.headers['x-github-api-version']).toBe('2022-11-28');

    const run = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent(d.client_payload, d.event_type),
    });
    expect(run.errors).toEqual([]);
    expect(run.outputs.action).toBe('created');
  });

  it('answers 401 without the right bearer token, in constant time, and delivers nothing', async () => {
    const r = await start();
    for (const token of [null, 'wrong-token', `${RELAY_TOKEN}x`, RELAY_TOKEN.slice(0, -1), '']) {
      const res = await r.post(notification(), { token });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const basic = await fetch(`${r.url}/alertmanager`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`x:${RELAY_TOKEN}`).toString('base64')}` },
      body: JSON.stringify(notification()),
    });
    expect(basic.status).toBe(401);
    expect(dispatches()).toHaveLength(0);
    const lower = await fetch(`${r.url}/alertmanager`, {
      method: 'POST',
      headers: { authorization: `bearer ${RELAY_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(notification()),
    });
    expect(lower.status).toBe(200);
  });

  it('rejects bodies that can never succeed with 4xx naming the problem', async () => {
    const r = await start({ RELAY_MAX_BODY_BYTES: '20000' });
    const notJson = await r.post(undefined, { raw: '{"status":' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toMatch(/not JSON/);
    const bad = await r.post({ ...notification(), alerts: [{ status: 'firing', labels: {} }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe(
      "body.alerts[0].labels: expected at least one label, got '{}'",
    );
    const huge = await r.post(undefined, { raw: JSON.stringify({ pad: 'x'.repeat(30_000) }) });
    expect(huge.status).toBe(413);
    expect((await fetch(`${r.url}/alertmanager`)).status).toBe(405);
    expect((await fetch(`${r.url}/nope`)).status).toBe(404);
    expect(dispatches()).toHaveLength(0);
  });

  it('answers 415 to a body not declared as JSON, and takes application/json with parameters', async () => {
    const r = await start();
    const post = (type: string | undefined): Promise<Response> =>
      fetch(`${r.url}/alertmanager`, {
        method: 'POST',
        headers: { authorization: `Bearer ${RELAY_TOKEN}`, ...(type ? { 'content-type': type } : {}) },
        body:
          type === undefined ? Buffer.from(JSON.stringify(notification())) : JSON.stringify(notification()),
      });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', undefined]) {
      const res = await post(type);
      expect(res.status).toBe(415);
      expect(res.headers.get('accept-post')).toBe('application/json');
      expect(((await res.json()) as { error: string }).error).toBe(
        `Content-Type must be application/json, got ${type ? `'${type}'` : 'none'}`,
      );
    }
    expect(dispatches()).toHaveLength(0);
    expect((await post('Application/JSON; charset=utf-8')).status).toBe(200);
    expect(dispatches()).toHaveLength(1);
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    expect(metrics).toMatch(/^relay_notifications_total\{outcome="rejected"\} 4$/m);
  });

  it('takes a group of more than 5,000 alerts (max_alerts: 0), trims it and alert-to-issue shows the rest', async () => {
    const r = await start();
    const alerts = Array.from({ length: 6000 }, (_, i) => ({ labels: { instance: `pod-${i}` } }));
    const body = notification({ alerts });
    const res = await r.post(body);
    expect(res.status).toBe(200);
    const { trimmedAlerts } = (await res.json()) as { trimmedAlerts: number };
    const d = dispatches()[0]!;
    expect(Buffer.byteLength(JSON.stringify(d.client_payload))).toBeLessThan(64 * 1024);
    const am = d.client_payload.alertmanager as { alerts: unknown[]; truncatedAlerts: number };
    expect(am.alerts.length).toBeGreaterThan(0);
    expect(am.alerts.length + trimmedAlerts).toBe(6000);
    expect(am.truncatedAlerts).toBe(trimmedAlerts);
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^relay_trimmed_alerts_total ${trimmedAlerts}$`, 'm'));

    const run = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent(d.client_payload),
    });
    expect(run.errors).toEqual([]);
    expect(run.outputs.action).toBe('created');
    expect(gh.state.repo('octo-org', 'iris')!.issue(1)!.body).toContain(
      `(+${trimmedAlerts} not shown: truncated before delivery)`,
    );
  });

  it('trims alerts to fit GitHub limits and counts them in truncatedAlerts', async () => {
    const r = await start();
    const alerts = Array.from({ length: 300 }, (_, i) => ({
      status: i % 3 === 0 ? ('resolved' as const) : ('firing' as const),
      labels: { instance: `pod-${i}` },
      annotations: { description: `pod ${i} is slow. ${'detail '.repeat(60)}` },
    }));
    const body = notification({ alerts, truncatedAlerts: 5 });
    const res = await r.post(body);
    expect(res.status).toBe(200);
    const { trimmedAlerts } = (await res.json()) as { trimmedAlerts: number };
    expect(trimmedAlerts).toBeGreaterThan(0);
    const d = dispatches()[0]!;
    expect(Buffer.byteLength(JSON.stringify(d.client_payload))).toBeLessThan(64 * 1024);
    const am = d.client_payload.alertmanager as { alerts: { status: string }[]; truncatedAlerts: number };
    expect(am.alerts.length + trimmedAlerts).toBe(300);
    expect(am.truncatedAlerts).toBe(5 + trimmedAlerts);
    expect(d.client_payload.relay).toMatchObject({ trimmedAlerts });
    // Firing alerts are kept before resolved ones.
    expect(am.alerts.every((a) => a.status === 'firing')).toBe(true);

    const run = await runAction('alert-to-issue', {
      env: gh.env(),
      eventName: 'repository_dispatch',
      event: dispatchEvent(d.client_payload),
    });
    expect(run.outputs.action).toBe('created');
    expect(gh.state.repo('octo-org', 'iris')!.issue(1)!.body).toContain(`+${5 + trimmedAlerts} not shown`);
  });

  it('cuts an oversized annotation rather than dropping the only alert', async () => {
    const r = await start();
    const body = notification({ alerts: [{ annotations: { description: 'y'.repeat(200_000) } }] });
    expect((await r.post(body)).status).toBe(200);
    const am = dispatches()[0]!.client_payload.alertmanager as {
      alerts: { annotations: { description: string } }[];
    };
    expect(am.alerts).toHaveLength(1);
    expect(am.alerts[0]!.annotations.description).toMatch(/…\[cut by relay\]$/);
  });
});

describe('relay: delivery to GitHub', () => {
  it('retries 5xx and 429 honouring retry-after, then delivers once', async () => {
    const r = await start();
    gh.serverErrors({ operationId: 'repos/create-dispatch-event', times: 2 });
    gh.secondaryRateLimit({ status: 429, operationId: 'repos/create-dispatch-event', retryAfter: 1 });
    const res = await r.post(notification());
    expect(res.status).toBe(200);
    expect(gh.calls('repos/create-dispatch-event').map((c) => c.status)).toEqual([502, 502, 429, 204]);
    expect(dispatches()).toHaveLength(1);
    const delivered = r.logs().find((l) => l.msg === 'delivered')!;
    expect(delivered.attempts).toBe(4);
  });

  it('waits for x-ratelimit-reset on a primary rate limit and for retry-after on a secondary one', async () => {
    const r = await start();
    gh.rateLimit({ operationId: 'repos/create-dispatch-event', resetIn: 1 });
    expect((await r.post(notification())).status).toBe(200);
    const first = gh.calls('repos/create-dispatch-event');
    expect(first.map((c) => c.status)).toEqual([403, 204]);
    // The retry came after the reset time GitHub gave.
    expect(gh.requests.indexOf(first[1]!)).toBeGreaterThan(gh.requests.indexOf(first[0]!));
    gh.secondaryRateLimit({ operationId: 'repos/create-dispatch-event', retryAfter: 1 });
    expect((await r.post(notification({ groupLabels: { alertname: 'B' } }))).status).toBe(200);
    expect(gh.calls('repos/create-dispatch-event').map((c) => c.status)).toEqual([403, 204, 403, 204]);
  });

  it('answers 5xx when delivery finally fails, so Alertmanager retries, and never loses the notification', async () => {
    const r = await start({ RELAY_DISPATCH_ATTEMPTS: '3', RELAY_RETRY_BUDGET: '5s' });
    gh.serverErrors({ status: 500, operationId: 'repos/create-dispatch-event', times: 3 });
    const failed = await r.post(notification());
    expect(failed.status).toBe(502);
    expect(gh.calls('repos/create-dispatch-event')).toHaveLength(3);
    expect(dispatches()).toHaveLength(0);
    // Alertmanager's retry of the same notification goes through.
    expect((await r.post(notification())).status).toBe(200);
    expect(dispatches()).toHaveLength(1);
  });

  it('answers 503 with Retry-After at once when GitHub asks for a wait beyond the retry budget, and stops calling it', async () => {
    const r = await start({ RELAY_RETRY_BUDGET: '2s' });
    gh.rateLimit({ operationId: 'repos/create-dispatch-event', resetIn: 3600 });
    const res = await r.post(notification());
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(3000);
    const again = await r.post(notification());
    expect(again.status).toBe(503);
    // The second delivery did not even reach GitHub: the relay knew the limit was spent.
    expect(gh.calls('repos/create-dispatch-event')).toHaveLength(1);
  });

  it('gives up on a GitHub that does not answer, within the timeout, and answers 502', async () => {
    const r = await start({ RELAY_GITHUB_TIMEOUT: '300ms', RELAY_DISPATCH_ATTEMPTS: '2' });
    gh.on('repos/create-dispatch-event', () => new Promise(() => undefined));
    const res = await r.post(notification());
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: string }).error).toBe('no answer within 300 ms');
    expect(gh.requests.filter((q) => q.path === '/repos/octo-org/iris/dispatches')).toHaveLength(2);
  });

  it('answers a dispatch GitHub refuses with 422 with a 4xx (no retry), and logs and counts it', async () => {
    const r = await start();
    gh.fail({
      status: 422,
      operationId: 'repos/create-dispatch-event',
      body: { message: "Invalid request.\n\nFor 'properties/client_payload', nil is not an object." },
    });
    const res = await r.post(notification());
    // Alertmanager retries 5xx only: a 4xx here ends the retries of a dispatch that cannot succeed.
    expect(res.status).toBe(422);
    const answer = (await res.json()) as { error: string; id: string; retryable: boolean };
    expect(answer.error).toMatch(/^GitHub answered 422: Invalid request/);
    expect(answer.retryable).toBe(false);
    expect(gh.calls('repos/create-dispatch-event')).toHaveLength(1);
    expect(dispatches()).toHaveLength(0);
    const line = r.logs().find((l) => l.id === answer.id && l.level === 'error')!;
    expect(line).toMatchObject({ githubStatus: 422, attempts: 1 });
    expect(String(line.msg)).toMatch(/422/);
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    expect(metrics).toMatch(/^relay_notifications_total\{outcome="undeliverable"\} 1$/m);
    expect(metrics).not.toMatch(/^relay_notifications_total\{outcome="failed"\}/m);
    // The next notification goes through as usual.
    expect((await r.post(notification())).status).toBe(200);
  });

  it('does not retry what retrying cannot fix (bad credentials, unknown repository)', async () => {
    const r = await start({ GITHUB_TOKEN: 'ghs_revoked_token_123' });
    const res = await r.post(notification());
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: string }).error).toBe('GitHub answered 401: Bad credentials');
    expect(gh.requests.filter((q) => q.path === '/repos/octo-org/iris/dispatches')).toHaveLength(1);
    // The token never appears in the logs; neither does the bearer token.
    expect(r.output()).not.toContain('ghs_revoked_token_123');
    await r.stop('SIGKILL');

    // A repository the fake was not told about answers 404, as on GitHub.
    const missing = await start({ GITHUB_REPOSITORY: 'octo-org/missing' });
    const res404 = await missing.post(notification());
    expect(res404.status).toBe(502);
    expect(((await res404.json()) as { error: string }).error).toBe('GitHub answered 404: Not Found');
    expect(gh.requests.filter((q) => q.path === '/repos/octo-org/missing/dispatches')).toHaveLength(1);
    expect(missing.output()).not.toContain(RELAY_TOKEN);
  });
});

describe('relay: operations', () => {
  it('serves /healthz and Prometheus /metrics, and logs JSON lines without secrets', async () => {
    const r = await start();
    expect(await (await fetch(`${r.url}/healthz`)).json()).toEqual({ status: 'ok', inFlight: 0 });
    await r.post(notification());
    await r.post(notification(), { token: 'nope' });
    gh.fail({ status: 500, operationId: 'repos/create-dispatch-event' });
    await r.post(notification());
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    expect(metrics).toMatch(/^relay_notifications_total\{outcome="delivered"\} 2$/m);
    expect(metrics).toMatch(/^relay_notifications_total\{outcome="unauthorized"\} 1$/m);
    expect(metrics).toMatch(/^relay_dispatch_attempts_total\{status="500"\} 1$/m);
    expect(metrics).toMatch(/^relay_dispatch_attempts_total\{status="204"\} 2$/m);
    expect(metrics).toMatch(/^relay_notification_duration_seconds_count\{outcome="delivered"\} 2$/m);
    expect(metrics).toMatch(/^process_cpu_seconds_total /m);
    const logs = r.logs();
    expect(logs.length).toBeGreaterThan(3);
    for (const l of logs)
      expect(l).toEqual(
        expect.objectContaining({
          time: expect.any(String),
          level: expect.any(String),
          msg: expect.any(String),
        }),
      );
    expect(logs.filter((l) => l.msg === 'delivered')).toHaveLength(2);
    expect(r.output()).not.toContain(RELAY_TOKEN);
    expect(r.output()).not.toContain('ghs_test_token');
  });

  it('exits with a message naming the variable when configuration is wrong', async () => {
    await expect(
      startRelay({ GITHUB_API_URL: gh.url, GITHUB_TOKEN: 'ghs_test_token', GITHUB_REPOSITORY: 'nope' }),
    ).rejects.toThrow(/relay exited with 2:[\s\S]*GITHUB_REPOSITORY: expected owner\/name, got 'nope'/);
    await expect(
      startRelay({ GITHUB_API_URL: gh.url, GITHUB_TOKEN: 'ghs_test_token', RELAY_BEARER_TOKEN: 'short' }),
    ).rejects.toThrow(/RELAY_BEARER_TOKEN: expected at least 16 characters/);
    await expect(startRelay({ GITHUB_API_URL: gh.url })).rejects.toThrow(/GITHUB_TOKEN: expected a token/);
  });

  it('--help prints the usage with every variable and exits 0 without reading the configuration', () => {
    const help = spawnSync(process.execPath, [join(ROOT, 'dist', 'relay', 'index.js'), '--help'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: node dist\/relay\/index\.js/);
    for (const [name] of ENV_DOC) expect(help.stdout).toContain(`  ${name}\n`);
  });

  it('a relay that does not start in time is killed with its process group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-hang-'));
    const pidFile = join(dir, 'grandchild.pid');
    // Preloaded before the relay: starts a process of its own, then blocks so the relay never listens.
    writeFileSync(
      join(dir, 'hang.cjs'),
      `const c = require('node:child_process').spawn('sleep', ['300'], { stdio: 'ignore' });
require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);\n`,
    );
    const err = (await startRelay(
      {
        GITHUB_API_URL: gh.url,
        GITHUB_TOKEN: 'ghs_test_token',
        NODE_OPTIONS: `--require ${join(dir, 'hang.cjs')}`,
      },
      { startTimeoutMs: 1500 },
    ).catch((e: unknown) => e)) as RelayStartError;
    expect(err).toBeInstanceOf(RelayStartError);
    expect(err.message).toMatch(/^relay did not start within 1500 ms/);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(err.pid!)).toBe(false);
    for (let i = 0; i < 40 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(grandchild)).toBe(false);
  });

  it('on SIGTERM finishes the delivery in flight, refuses new work, and exits 0', async () => {
    const r = await start();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    gh.on('repos/create-dispatch-event', async (ctx) => {
      arrived();
      await held;
      gh.state.repo('octo-org', 'iris')!.dispatches.push({
        event_type: ctx.body.event_type,
        client_payload: ctx.body.client_payload,
        at: Date.now(),
      });
      return { status: 204 };
    });
    const pending = r.post(notification());
    await inFlight;
    r.child.kill('SIGTERM');
    // Stopping: health says so and the listener is closed for new connections.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(fetch(`${r.url}/healthz`)).rejects.toThrow();
    release();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(await r.exited).toBe(0);
    expect(dispatches()).toHaveLength(1);
    const msgs = r.logs().map((l) => l.msg);
    expect(msgs).toEqual(expect.arrayContaining(['shutting down', 'delivered', 'stopped']));
    expect(msgs.indexOf('delivered')).toBeLessThan(msgs.indexOf('stopped'));
  });
});
