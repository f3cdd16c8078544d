/**
 * platform/prometheus/federation: promtool checks of the global config and its rules, and two real
 * Prometheus processes on loopback: a cluster one running the deployed iris recording rules on a
 * scrape target, and the global one federating its /federate with global.yml's match[] and
 * honor_labels, evaluating the federated alert rule (its `for:` shortened to seconds).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './helpers/run-action.js';
import type { ManagedProcess } from './helpers/alertmanager.js';
import { startMetricsTarget, startPrometheus, type MetricsTarget } from './helpers/prometheus.js';

const DIR = join(ROOT, 'platform', 'prometheus');
const FED = join(DIR, 'federation');
const GLOBAL = join(FED, 'global.yml');
const FED_RULES = join(FED, 'rules', 'federated.rules.yml');

type Config = {
  global: Record<string, unknown> & { external_labels: Record<string, string> };
  scrape_configs: ({ job_name: string } & Record<string, unknown>)[];
} & Record<string, unknown>;
type RuleFile = { groups: { name: string; rules: Record<string, unknown>[] }[] };

const promtool = (...args: string[]) => {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
};
const globalConfig = parse(readFileSync(GLOBAL, 'utf8')) as Config;
const federateJob = () => globalConfig.scrape_configs.find((j) => j.job_name === 'federate')!;

describe('federation config', () => {
  it('promtool accepts global.yml and its rule file, and the rules unit tests pass', () => {
    const c = promtool('check', 'config', GLOBAL);
    expect(c.out).toMatch(/SUCCESS: 1 rule files found/);
    expect(c.code).toBe(0);
    const t = promtool('test', 'rules', join(FED, 'tests', 'federated.test.yml'));
    expect(t.out).toMatch(/SUCCESS/);
    expect(t.code).toBe(0);
  });

  it('federates the recording rules series from /federate, honouring their labels', () => {
    const job = federateJob();
    expect(job).toMatchObject({ metrics_path: '/federate', honor_labels: true });
    expect((job.params as Record<string, string[]>)['match[]']).toContain('{__name__=~"iris:.+"}');
  });

  it('the cluster Prometheus has a cluster external label, distinct from the global one', () => {
    const cluster = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as Config;
    expect(cluster.global.external_labels.cluster).toBe('control-plane');
    expect(globalConfig.global.external_labels.cluster).toBeUndefined();
  });
});

/** Polls `fn` until it returns a value (not undefined) or the deadline passes. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface Alert {
  labels: Record<string, string>;
  state: string;
  annotations: Record<string, string>;
}
async function query(p: ManagedProcess, q: string): Promise<Sample[]> {
  const res = await fetch(`${p.url}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { data: { result: Sample[] } };
  return body.data.result;
}

describe('two real Prometheus processes: a cluster one federated by the global one', () => {
  let target: MetricsTarget;
  let cluster: ManagedProcess;
  let global: ManagedProcess;
  let ticker: NodeJS.Timeout;
  let bad = false;

  beforeAll(async () => {
    target = await startMetricsTarget();
    // Counters that grow; no request fails until a test sets `bad`, then every new one does.
    let ok = 0;
    let failed = 0;
    const tick = () => {
      if (bad) failed += 10;
      else ok += 10;
      target.set('iris_requests_total', { route: '/predict', status: '200' }, ok);
      target.set('iris_requests_total', { route: '/predict', status: '500' }, failed);
    };
    tick();
    ticker = setInterval(tick, 250);
    cluster = await startPrometheus({
      config: {
        global: { scrape_interval: '1s', evaluation_interval: '1s', external_labels: { cluster: 'dp-test' } },
        rule_files: ['iris.rules.yml'],
        scrape_configs: [{ job_name: 'iris-classifier', static_configs: [{ targets: [target.address] }] }],
      },
      rules: { 'iris.rules.yml': readFileSync(join(DIR, 'rules', 'iris-classifier.rules.yml'), 'utf8') },
    });
    // global.yml as deployed, with loopback targets and seconds for minutes.
    const rules = parse(readFileSync(FED_RULES, 'utf8')) as RuleFile;
    for (const g of rules.groups) for (const r of g.rules) if (r.for) r.for = '2s';
    const job = federateJob();
    global = await startPrometheus({
      config: {
        ...globalConfig,
        global: {
          ...globalConfig.global,
          scrape_interval: '1s',
          scrape_timeout: '1s',
          evaluation_interval: '1s',
        },
        alerting: undefined,
        rule_files: ['federated.rules.yml'],
        scrape_configs: [{ ...job, static_configs: [{ targets: [`127.0.0.1:${cluster.port}`] }] }],
      },
      rules: { 'federated.rules.yml': rules },
    });
  }, 90_000);

  const fleetAlerts = async (): Promise<Alert[]> => {
    const body = (await (await fetch(`${global.url}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } };
    return body.data.alerts.filter((a) => a.labels.alertname === 'IrisClassifierFleetHighErrorRatio');
  };

  afterAll(async () => {
    clearInterval(ticker);
    await global?.stop();
    await cluster?.stop();
    await target?.stop();
  });

  it('the global one holds the recording rule series with the cluster label, not the raw series', async () => {
    const s = await until('the federated error ratio', async () => {
      const r = await query(global, 'iris:request_errors:ratio_rate5m');
      return r.length ? r : undefined;
    });
    expect(s).toHaveLength(1);
    expect(s[0]!.metric).toMatchObject({ cluster: 'dp-test' });
    // honor_labels: the cluster's own job/instance survive instead of the federate scrape's.
    const up = await query(global, 'up{cluster="dp-test"}');
    expect(up.map((u) => u.metric)).toEqual([
      expect.objectContaining({ job: 'iris-classifier', instance: target.address }),
    ]);
    expect(Number(s[0]!.value[1])).toBe(0);
    expect(await query(global, 'iris_requests_total')).toEqual([]);
    expect((await query(global, 'up{job="federate"}'))[0]!.value[1]).toBe('1');
  }, 90_000);

  it('fires the federated alert with the cluster it came from once its endpoint reports errors', async () => {
    // Healthy so far: the global one has evaluated its rule on a 0 ratio (at least once past `for:`)
    // without even a pending alert.
    await until('several evaluations of the federated rule', async () => {
      const r = await query(global, 'count_over_time(iris:request_errors:ratio_rate5m[10s])');
      return r.length && Number(r[0]!.value[1]) >= 4 ? r : undefined;
    });
    expect(await fleetAlerts()).toEqual([]);
    bad = true;
    const alert = await until('IrisClassifierFleetHighErrorRatio firing', async () =>
      (await fleetAlerts()).find((a) => a.state === 'firing'),
    );
    expect(alert.labels).toMatchObject({ cluster: 'dp-test', severity: 'critical', model: 'iris' });
    expect(alert.annotations.summary).toBe('iris-classifier 5xx ratio above 5% in cluster dp-test');
  }, 90_000);
});
