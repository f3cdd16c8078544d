/**
 * platform/prometheus: `promtool check config`, `promtool check rules`, and `promtool test rules`
 * run one test group at a time (each group is a jest test), plus what the config must say (the
 * Tailscale scrape of the data plane on 30808, Alertmanager at alertmanager:9093) and a check that
 * the unit tests can fail: a rule with a broken threshold must fail them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './helpers/run-action.js';
import { freePort } from './helpers/net.js';

const DIR = join(ROOT, 'platform', 'prometheus');
const CONFIG = join(DIR, 'prometheus.yml');
const RULE_FILES = readdirSync(join(DIR, 'rules'))
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => join(DIR, 'rules', f));
const TEST_FILES = readdirSync(join(DIR, 'tests'))
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => join(DIR, 'tests', f));

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface TestGroup {
  name: string;
  alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
  promql_expr_test?: unknown[];
}
interface TestFile {
  rule_files: string[];
  evaluation_interval?: string;
  tests: TestGroup[];
}

const promtool = (...args: string[]) => {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
};

const rules: Rule[] = RULE_FILES.flatMap((f) =>
  (parse(readFileSync(f, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules),
);
const alerts = rules.filter((r) => r.alert);
const testFiles = TEST_FILES.map((f) => ({ path: f, spec: parse(readFileSync(f, 'utf8')) as TestFile }));

/** A test file with one group, its rule_files made absolute (optionally swapped for other files). */
function singleGroupFile(
  file: { path: string; spec: TestFile },
  group: TestGroup,
  ruleFiles?: string[],
): string {
  const dir = mkdtempSync(join(tmpdir(), 'promtool-'));
  const spec: TestFile = {
    ...file.spec,
    rule_files: ruleFiles ?? file.spec.rule_files.map((r) => resolve(file.path, '..', r)),
    tests: [group],
  };
  const out = join(dir, basename(file.path));
  writeFileSync(out, JSON.stringify(spec));
  return out;
}

describe('promtool check', () => {
  it('check config accepts prometheus.yml and the rule files it loads', () => {
    const r = promtool('check', 'config', CONFIG);
    expect(r.out).toMatch(/SUCCESS: \S*prometheus\.yml is valid prometheus config file syntax/);
    expect(r.out).toMatch(new RegExp(`SUCCESS: ${RULE_FILES.length} rule files found`));
    expect(r.code).toBe(0);
  });

  it.each(RULE_FILES.map((f) => [basename(f), f]))('check rules accepts %s', (_, file) => {
    const r = promtool('check', 'rules', file);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it('check rules rejects a broken rule file (the check is live)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'promtool-bad-'));
    writeFileSync(
      join(dir, 'bad.yml'),
      'groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(x[5m])\n',
    );
    expect(promtool('check', 'rules', join(dir, 'bad.yml')).code).not.toBe(0);
  });
});

describe('promtool test rules, one test group at a time', () => {
  const groups = testFiles.flatMap((file) =>
    file.spec.tests.map((group) => [`${basename(file.path)}: ${group.name}`, file, group] as const),
  );

  it('has test groups', () => {
    expect(groups.length).toBeGreaterThanOrEqual(10);
  });

  it.each(groups)('%s', (_, file, group) => {
    const r = promtool('test', 'rules', singleGroupFile(file, group));
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('covers every alert with a group where it fires and one where it stays quiet', () => {
    const all = testFiles.flatMap((f) => f.spec.tests.flatMap((g) => g.alert_rule_test ?? []));
    for (const a of alerts) {
      const cases = all.filter((t) => t.alertname === a.alert);
      expect([a.alert, cases.some((t) => t.exp_alerts.length > 0)]).toEqual([a.alert, true]);
      expect([a.alert, cases.some((t) => t.exp_alerts.length === 0)]).toEqual([a.alert, true]);
    }
  });

  it('fails when a rule is broken: the 5xx threshold raised tenfold', () => {
    const dir = mkdtempSync(join(tmpdir(), 'promtool-mutant-'));
    mkdirSync(join(dir, 'rules'));
    const [file] = testFiles;
    const rulesFile = RULE_FILES.find((f) =>
      readFileSync(f, 'utf8').includes('IrisClassifierHighErrorRatio'),
    )!;
    const mutant = join(dir, 'rules', basename(rulesFile));
    copyFileSync(rulesFile, mutant);
    const text = readFileSync(mutant, 'utf8');
    const broken = text.replace(
      'iris:request_errors:ratio_rate5m > 0.05',
      'iris:request_errors:ratio_rate5m > 0.5',
    );
    expect(broken).not.toBe(text);
    writeFileSync(mutant, broken);
    const group = file!.spec.tests.find((g) =>
      g.alert_rule_test?.some(
        (t) => t.alertname === 'IrisClassifierHighErrorRatio' && t.exp_alerts.length > 0,
      ),
    )!;
    const r = promtool('test', 'rules', singleGroupFile(file!, group, [mutant]));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('FAILED');
  });
});

describe('prometheus.yml', () => {
  const config = parse(readFileSync(CONFIG, 'utf8')) as {
    alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
  };

  it("scrapes the k3d data plane's NodePort 30808 through its Tailscale name", () => {
    const job = config.scrape_configs.find((j) => j.job_name === 'iris-classifier')!;
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    const targets = job.static_configs.flatMap((s) => s.targets);
    expect(targets).toEqual(['iris-dataplane.tailnet.ts.net:30808']);
  });

  it('sends alerts to the Alertmanager service at alertmanager:9093', () => {
    expect(config.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))).toEqual([
      'alertmanager:9093',
    ]);
  });

  it('loads the rule files by a path that works both in the repository and in the pod', () => {
    expect(config.rule_files).toEqual(['rules/*.yml']);
  });
});

describe('alert rules', () => {
  it('alert on target down, error ratio, p99 latency, class distribution shift and no predictions', () => {
    const exprs = Object.fromEntries(alerts.map((a) => [a.alert!, a.expr]));
    expect(Object.keys(exprs)).toEqual(
      expect.arrayContaining([
        'IrisClassifierTargetDown',
        'IrisClassifierHighErrorRatio',
        'IrisClassifierHighLatencyP99',
        'IrisClassifierPredictionDistributionShift',
        'IrisClassifierNoPredictions',
      ]),
    );
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))(
    '%s has a severity, the service and model labels, a summary and a description',
    (_, a) => {
      expect(['critical', 'warning', 'info']).toContain(a.labels?.severity);
      expect(a.labels).toMatchObject({ service: 'iris-classifier', model: 'iris' });
      expect(a.annotations?.summary).toBeTruthy();
      expect(a.annotations?.description).toBeTruthy();
      expect(a.for).toMatch(/^\d+[smh]$/);
    },
  );
});

describe('the rules and the dashboard query what the inference server exports', () => {
  const server = join(ROOT, 'model', 'iris_server');
  const metricsPy = readFileSync(join(server, 'metrics.py'), 'utf8');
  const appPy = readFileSync(join(server, 'app.py'), 'utf8');
  /** prometheus_client family names as exposed: counters get _total, histograms _bucket/_sum/_count. */
  const exported = new Set<string>();
  for (const m of metricsPy.matchAll(/\b(Counter|Gauge|Histogram)\(\s*"([a-z_:]+)"/g)) {
    const [, kind, name] = m as unknown as [string, string, string];
    if (kind === 'Counter') exported.add(`${name}_total`);
    else if (kind === 'Histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(`${name}${s}`);
    else exported.add(name);
  }
  const dashboard = readFileSync(
    join(ROOT, 'platform', 'grafana', 'dashboards', 'iris-classifier.json'),
    'utf8',
  );
  const queried = (text: string): string[] => [...new Set(text.match(/\biris_[a-z_]+\b/g) ?? [])];

  it('finds the server metrics', () => {
    expect([...exported]).toEqual(
      expect.arrayContaining([
        'iris_requests_total',
        'iris_request_duration_seconds_bucket',
        'iris_predictions_total',
        'iris_model_info',
      ]),
    );
  });

  it.each([
    ['rules', RULE_FILES.map((f) => readFileSync(f, 'utf8')).join('\n')],
    ['dashboard', dashboard],
  ])('every iris_* metric the %s query is exported by model/iris_server', (_, text) => {
    const names = queried(text);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !exported.has(n))).toEqual([]);
  });

  it('the routes the latency rule selects are routes of the server', () => {
    const rulesText = RULE_FILES.map((f) => readFileSync(f, 'utf8')).join('\n');
    const routes = /route=~"([^"]+)"/.exec(rulesText)![1]!.split('|');
    for (const r of routes) expect(appPy).toContain(`"${r}": (`);
  });

  it("the training class shares name the iris data set's classes and sum to 1", () => {
    const shares = rules.filter((r) => r.record === 'iris:training_class:share');
    const classes = shares.map((r) => r.labels!.class).sort();
    const py = spawnSync(
      join(ROOT, '.venv', 'bin', 'python'),
      ['-c', 'from sklearn.datasets import load_iris; print(",".join(sorted(load_iris().target_names)))'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(py.status).toBe(0);
    expect(classes).toEqual(py.stdout.trim().split(','));
    // vector(50 / 150) per class: the expressions must add up to one distribution.
    const total = shares.reduce((sum, r) => {
      const [, a, b] = /vector\((\d+) \/ (\d+)\)/.exec(r.expr)!;
      return sum + Number(a) / Number(b);
    }, 0);
    expect(total).toBeCloseTo(1, 10);
  });
});

describe('a real Prometheus runs the deployed config and rules (rendered for loopback)', () => {
  let prometheus: ChildProcess | undefined;
  let exporter: Server;
  let url = '';
  let plog = '';
  const scrapes: string[] = [];
  let requests = 0;
  let errors = 0;

  /** A stand-in for the model server's /metrics: 10% of requests fail, all predictions are setosa. */
  const exposition = (): string => {
    requests += 100;
    errors += 10;
    return [
      '# TYPE iris_requests_total counter',
      `iris_requests_total{route="/predict",status="200"} ${requests - errors}`,
      `iris_requests_total{route="/predict",status="500"} ${errors}`,
      '# TYPE iris_predictions_total counter',
      `iris_predictions_total{class="setosa"} ${requests - errors}`,
      'iris_predictions_total{class="versicolor"} 0',
      'iris_predictions_total{class="virginica"} 0',
      '',
    ].join('\n');
  };

  const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as {
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    return body.data.result;
  };
  const until = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`${what} not reached in ${ms} ms\n${plog.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    exporter = createServer((req, res) => {
      scrapes.push(req.url ?? '');
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(exposition());
    });
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const target = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;

    // The Deployment's args, with the pod's paths mapped to a temp dir.
    const deployment = parse(readFileSync(join(DIR, 'deployment.yaml'), 'utf8')) as {
      spec: { template: { spec: { containers: { args: string[] }[] } } };
    };
    const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
    mkdirSync(join(dir, 'rules'));
    for (const f of RULE_FILES) copyFileSync(f, join(dir, 'rules', basename(f)));
    // Loopback rendering: the data plane's Tailscale name becomes the stand-in, intervals shrink to 1s.
    const rendered = readFileSync(CONFIG, 'utf8')
      .replace('iris-dataplane.tailnet.ts.net:30808', target)
      .replace(/(scrape_interval|evaluation_interval): 15s/g, '$1: 1s')
      .replace(/scrape_timeout: (5|10)s/g, 'scrape_timeout: 1s');
    writeFileSync(join(dir, 'prometheus.yml'), rendered);
    const args = deployment.spec.template.spec.containers[0]!.args.map((a) =>
      a
        .replace('/etc/prometheus/prometheus.yml', join(dir, 'prometheus.yml'))
        .replace('=/prometheus', `=${join(dir, 'data')}`)
        .replace(/--web\.listen-address=.*/, `--web.listen-address=127.0.0.1:${port}`),
    );
    expect(args).toContain('--storage.tsdb.retention.time=7d');
    prometheus = spawn('prometheus', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout!.on('data', (c: Buffer) => (plog += c.toString()));
    prometheus.stderr!.on('data', (c: Buffer) => (plog += c.toString()));
    await until('ready', async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), 60_000);
  }, 90_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await new Promise<void>((r) => exporter.close(() => r()));
  });

  it('starts with the Deployment flags, including the 7-day retention', async () => {
    const res = await fetch(`${url}/api/v1/status/flags`);
    const flags = ((await res.json()) as { data: Record<string, string> }).data;
    // Prometheus prints durations in its largest unit: 7d reads back as 1w.
    const m = /^(\d+)([dw])$/.exec(flags['storage.tsdb.retention.time']!)!;
    expect(Number(m[1]) * (m[2] === 'w' ? 7 : 1)).toBe(7);
  });

  it('loads every rule group and evaluates them without errors', async () => {
    const groups = await until('rules evaluated', async () => {
      const res = await fetch(`${url}/api/v1/rules`);
      const g = (
        (await res.json()) as {
          data: { groups: { name: string; rules: { health: string; lastError?: string; name: string }[] }[] };
        }
      ).data.groups;
      return g.length > 0 && g.every((x) => x.rules.every((r) => r.health !== 'unknown')) ? g : undefined;
    });
    const names = RULE_FILES.flatMap((f) =>
      (parse(readFileSync(f, 'utf8')) as { groups: { name: string }[] }).groups.map((g) => g.name),
    );
    expect(groups.map((g) => g.name).sort()).toEqual(names.sort());
    for (const g of groups)
      for (const r of g.rules) expect([r.name, r.health, r.lastError ?? '']).toEqual([r.name, 'ok', '']);
  });

  it('scrapes the data plane target at /metrics and computes the recording rules from it', async () => {
    const ratio = await until('error ratio', async () => {
      const r = await query('iris:request_errors:ratio_rate5m');
      return r.length ? Number(r[0]!.value[1]) : undefined;
    });
    expect(scrapes.every((p) => p === '/metrics')).toBe(true);
    expect(ratio).toBeCloseTo(0.1, 5);
    const tvd = await until('total variation', async () => {
      const r = await query('iris:prediction_class:total_variation_30m');
      return r.length ? Number(r[0]!.value[1]) : undefined;
    });
    expect(tvd).toBeCloseTo(2 / 3, 5);
    const up = await query('up{job="iris-classifier"}');
    expect(up.map((s) => s.value[1])).toEqual(['1']);
  });

  it('puts the error-ratio alert in pending (for: 5m) with its labels', async () => {
    const alert = await until('pending alert', async () => {
      const r = await query('ALERTS{alertname="IrisClassifierHighErrorRatio"}');
      return r.length ? r[0]!.metric : undefined;
    });
    expect(alert).toMatchObject({
      alertstate: 'pending',
      severity: 'critical',
      service: 'iris-classifier',
      model: 'iris',
    });
  });
});
