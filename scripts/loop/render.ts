/**
 * platform/'s Prometheus and Alertmanager configuration, rendered for one machine: every scrape
 * target and the Alertmanager address on loopback, the relay's URL and a token file, and time
 * compressed by a factor (default 60: a minute of production is a second of the demo) in the
 * rule files' `for:` durations and range selectors, so alerts fire and resolve within seconds.
 * The rule expressions are otherwise the shipped ones.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './actions.js';

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  y: 31536000,
};

/** Prometheus durations such as `5m`, `1h30m`, `500ms` in seconds. */
export function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|[smhdwy])/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: '${text}'`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_SECONDS[p[2]!]!, 0);
}

/** `seconds / factor`, at least `floor` seconds, as a Prometheus duration. */
export function compress(text: string, factor: number, floorSeconds = 0): string {
  const seconds = durationSeconds(text);
  if (seconds === 0) return text;
  const ms = Math.max(Math.round((seconds / factor) * 1000), floorSeconds * 1000);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  [key: string]: unknown;
}
interface RuleFile {
  groups: { name: string; interval?: string; rules: Rule[] }[];
}

export interface CompressOptions {
  /** How many times faster than production (default 60). */
  factor?: number;
  /** The shortest range a range selector may get: a few scrape intervals, so rate() has samples. */
  minRangeSeconds?: number;
}

/** One rule file with its durations compressed; everything else untouched. */
export function compressRules(file: RuleFile, opts: CompressOptions = {}): RuleFile {
  const factor = opts.factor ?? 60;
  const minRange = opts.minRangeSeconds ?? 4;
  return {
    ...file,
    groups: file.groups.map((g) => ({
      ...g,
      ...(g.interval ? { interval: compress(g.interval, factor, 1) } : {}),
      rules: g.rules.map((r) => ({
        ...r,
        // Range selectors `[5m]` (not subqueries or the content of strings).
        expr: r.expr.replace(
          /\[(\d+(?:\.\d+)?(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)\]/g,
          (_, d: string) => `[${compress(d, factor, minRange)}]`,
        ),
        ...(r.for ? { for: compress(r.for, factor) } : {}),
        ...(r.keep_firing_for ? { keep_firing_for: compress(r.keep_firing_for, factor) } : {}),
      })),
    })),
  };
}

/** platform/prometheus/rules/*.yml, compressed, by file name. */
export function renderRules(opts: CompressOptions = {}): Record<string, RuleFile> {
  const dir = join(ROOT, 'platform', 'prometheus', 'rules');
  const out: Record<string, RuleFile> = {};
  for (const name of readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()) {
    out[name] = compressRules(parse(readFileSync(join(dir, name), 'utf8')) as RuleFile, opts);
  }
  return out;
}

interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  scrape_timeout?: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  [key: string]: unknown;
}
interface PrometheusConfig {
  global?: Record<string, unknown>;
  alerting?: { alertmanagers: { static_configs: { targets: string[] }[]; [k: string]: unknown }[] };
  rule_files?: string[];
  scrape_configs: ScrapeConfig[];
  [key: string]: unknown;
}

export interface PrometheusTargets {
  /** host:port per scrape job name; a job of platform/ without an entry here is dropped. */
  jobs: Record<string, string>;
  alertmanager: string;
  /** Scrape and evaluation interval (default 1s). */
  interval?: string;
}

/** platform/prometheus/prometheus.yml with loopback targets and demo intervals. */
export function renderPrometheusConfig(t: PrometheusTargets): PrometheusConfig {
  const config = parse(
    readFileSync(join(ROOT, 'platform', 'prometheus', 'prometheus.yml'), 'utf8'),
  ) as PrometheusConfig;
  const interval = t.interval ?? '1s';
  config.global = {
    ...config.global,
    scrape_interval: interval,
    evaluation_interval: interval,
    scrape_timeout: interval,
  };
  if (!config.alerting?.alertmanagers.length)
    throw new Error('platform/prometheus/prometheus.yml has no alertmanagers');
  config.alerting.alertmanagers = config.alerting.alertmanagers.map((am) => ({
    ...am,
    static_configs: [{ targets: [t.alertmanager] }],
  }));
  const jobs = new Set(config.scrape_configs.map((s) => s.job_name));
  for (const job of Object.keys(t.jobs)) {
    if (!jobs.has(job)) throw new Error(`platform/prometheus/prometheus.yml has no scrape job '${job}'`);
  }
  config.scrape_configs = config.scrape_configs
    .filter((s) => t.jobs[s.job_name])
    .map((s) => {
      const { scrape_interval: _i, scrape_timeout: _t, ...rest } = s;
      return {
        ...rest,
        // Keep the target labels (environment, plane): the rules and dashboards may use them.
        static_configs: (s.static_configs ?? [{ targets: [] }]).map((sc) => ({
          ...sc,
          targets: [t.jobs[s.job_name]!],
        })),
      };
    });
  return config;
}

interface AlertmanagerConfig {
  route: Record<string, unknown>;
  receivers: {
    name: string;
    webhook_configs?: { url: string; http_config?: { authorization?: Record<string, string> } }[];
  }[];
  [key: string]: unknown;
}

/**
 * platform/alertmanager/alertmanager.yml with demo timings, every webhook pointed at the local
 * relay and its bearer token read from `tokenFile`.
 */
export function renderAlertmanagerConfig(opts: { relayUrl: string; tokenFile: string }): AlertmanagerConfig {
  const config = parse(
    readFileSync(join(ROOT, 'platform', 'alertmanager', 'alertmanager.yml'), 'utf8'),
  ) as AlertmanagerConfig;
  // group_interval also paces the resolved notification, so it is short too.
  Object.assign(config.route, { group_wait: '1s', group_interval: '2s', repeat_interval: '1h' });
  let hooks = 0;
  for (const r of config.receivers) {
    for (const hook of r.webhook_configs ?? []) {
      hook.url = `${opts.relayUrl}/alertmanager`;
      hook.http_config = {
        ...hook.http_config,
        authorization: {
          ...hook.http_config?.authorization,
          type: 'Bearer',
          credentials_file: opts.tokenFile,
        },
      };
      hooks++;
    }
  }
  if (!hooks) throw new Error('platform/alertmanager/alertmanager.yml has no webhook receiver');
  return config;
}
