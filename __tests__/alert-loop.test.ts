/**
 * The whole alert loop with real components: a metric we control, a real Prometheus
 * evaluating a rule on it, a real Alertmanager configured from platform/alertmanager/
 * alertmanager.yml (timings, relay URL and token path changed for the test), the relay bundle,
 * and the fake GitHub's /dispatches. alert-to-issue then runs on the exact dispatch payload as
 * a repository_dispatch event: firing creates the issue with a summary, resolved closes it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startAlertmanager, type ManagedProcess } from './helpers/alertmanager.js';
import { FAKE_GEMINI_KEY, FakeGemini } from './helpers/fake-gemini.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import type { Dispatch } from './helpers/fake-github/state.js';
import { startMetricsTarget, startPrometheus, type MetricsTarget } from './helpers/prometheus.js';
import { RELAY_TOKEN, startRelay, type RelayProcess } from './helpers/relay-process.js';
import { ROOT, runAction } from './helpers/run-action.js';

let gh: FakeGitHub;
let gemini: FakeGemini;
let relay: RelayProcess;
let target: MetricsTarget;
let alertmanager: ManagedProcess;
let prometheus: ManagedProcess;

interface AmConfig {
  route: Record<string, unknown>;
  receivers: {
    name: string;
    webhook_configs: { url: string; http_config: { authorization: Record<string, string> } }[];
  }[];
}

beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  gemini = new FakeGemini();
  target = await startMetricsTarget();
  await Promise.all([gh.start(), gemini.start()]);
  target.set('iris_request_latency_p99_seconds', { model: 'iris', service: 'iris-classifier' }, 0.05);
  relay = await startRelay({ GITHUB_API_URL: gh.url, GITHUB_TOKEN: 'ghs_test_token' });

  // The shipped configuration, with test timings, the relay's address and a temp token file.
  const config = parse(
    readFileSync(join(ROOT, 'platform', 'alertmanager', 'alertmanager.yml'), 'utf8'),
  ) as AmConfig;
  Object.assign(config.route, { group_wait: '1s', group_interval: '2s', repeat_interval: '1h' });
  const hook = config.receivers[0]!.webhook_configs[0]!;
  hook.url = `${relay.url}/alertmanager`;
  const secrets = mkdtempSync(join(tmpdir(), 'am-secrets-'));
  writeFileSync(join(secrets, 'token'), RELAY_TOKEN, { mode: 0o600 });
  hook.http_config.authorization.credentials_file = join(secrets, 'token');
  alertmanager = await startAlertmanager({ config: config as unknown as Record<string, unknown> });

  prometheus = await startPrometheus({
    config: {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${alertmanager.port}`] }] }] },
      rule_files: ['rules.yml'],
      scrape_configs: [{ job_name: 'iris', static_configs: [{ targets: [target.address] }] }],
    },
    rules: {
      'rules.yml': {
        groups: [
          {
            name: 'iris',
            rules: [
              {
                alert: 'IrisLatencyHigh',
                expr: 'iris_request_latency_p99_seconds > 0.5',
                for: '0s',
                labels: { severity: 'critical' },
                annotations: {
                  summary: 'p99 latency of {{ $labels.model }} is {{ $value }} s',
                  description: 'Requests to the iris model are slow.',
                },
              },
            ],
          },
        ],
      },
    },
  });
}, 90_000);

afterAll(async () => {
  await Promise.allSettled([
    prometheus?.stop(),
    alertmanager?.stop(),
    relay?.stop(),
    target?.stop(),
    gh?.stop(),
    gemini?.stop(),
  ]);
});

async function waitForDispatch(status: 'firing' | 'resolved', timeoutMs = 30_000): Promise<Dispatch> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const d = gh.state
      .repo('octo-org', 'iris')
      ?.dispatches.find(
        (x) => (x.client_payload.alertmanager as { status?: string } | undefined)?.status === status,
      );
    if (d) return d;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `no ${status} dispatch within ${timeoutMs} ms\n--- relay\n${relay.output().slice(-2000)}\n--- alertmanager\n${alertmanager.log().slice(-3000)}\n--- prometheus\n${prometheus.log().slice(-2000)}`,
  );
}

describe('alert loop: Prometheus -> Alertmanager -> relay -> GitHub -> alert-to-issue', () => {
  it('opens the issue with a summary on firing and closes it on resolve', async () => {
    gemini.always({
      json: {
        what: 'The iris model answers slowly: p99 latency is above 0.5 s.',
        causes: ['A recent deployment of the model.'],
        impact: 'Predictions are slow for every client.',
        nextSteps: ['Check the latest rollout.', 'Roll back if it is the cause.'],
      },
    });
    target.set('iris_request_latency_p99_seconds', { model: 'iris', service: 'iris-classifier' }, 2.5);
    const firing = await waitForDispatch('firing');
    expect(firing.event_type).toBe('alertmanager');
    const body = firing.client_payload.alertmanager as {
      groupKey: string;
      alerts: { labels: Record<string, string>; annotations: Record<string, string> }[];
    };
    expect(body.groupKey).toContain('alertname="IrisLatencyHigh"');
    expect(body.alerts[0]!.labels).toMatchObject({
      alertname: 'IrisLatencyHigh',
      model: 'iris',
      severity: 'critical',
    });
    expect(body.alerts[0]!.annotations.summary).toBe('p99 latency of iris is 2.5 s');

    const run = (d: Dispatch): ReturnType<typeof runAction> =>
      runAction('alert-to-issue', {
        inputs: { 'gemini-api-key': FAKE_GEMINI_KEY },
        env: { ...gh.env(), ...gemini.env() },
        eventName: 'repository_dispatch',
        event: {
          action: d.event_type,
          client_payload: d.client_payload,
          repository: { full_name: 'octo-org/iris' },
        },
      });
    const created = await run(firing);
    expect(created.errors).toEqual([]);
    expect(created.outputs.action).toBe('created');
    const issue = gh.state.repo('octo-org', 'iris')!.issue(Number(created.outputs['issue-number']))!;
    expect(issue.title).toBe('[alert] IrisLatencyHigh (model=iris)');
    expect(issue.labels.map((l) => l.name)).toEqual(expect.arrayContaining(['alert', 'severity:critical']));
    expect(issue.body).toContain('**What is wrong:** The iris model answers slowly');
    expect(issue.body).toContain('p99 latency of iris is 2.5 s');
    expect(gemini.requests[0]!.userText).toContain('p99 latency of iris is 2.5 s');

    target.set('iris_request_latency_p99_seconds', { model: 'iris', service: 'iris-classifier' }, 0.05);
    const resolved = await waitForDispatch('resolved');
    const closed = await run(resolved);
    expect(closed.errors).toEqual([]);
    expect(closed.outputs).toMatchObject({
      action: 'closed',
      'issue-number': created.outputs['issue-number'],
    });
    expect(issue.state).toBe('closed');
    // Every notification Alertmanager sent reached GitHub exactly once.
    const delivered = relay.logs().filter((l) => l.msg === 'delivered').length;
    expect(gh.state.repo('octo-org', 'iris')!.dispatches).toHaveLength(delivered);
  });
});
