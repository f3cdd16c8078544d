/**
 * Prometheus and Alertmanager as the loop runs them: configs rendered from platform/ into the
 * state folder, each binary in its own process group, ready when /-/ready answers, and ready for
 * the loop once the inference server is scraped.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor, type Proc, type Procs } from './procs.js';
import { FAULT_ALERT, type LoopContext } from './context.js';
import type { Relay } from './relay.js';
import { compress, renderAlertmanagerConfig, renderPrometheusConfig, renderRules } from './render.js';
import type { Teardown } from './teardown.js';

export interface Monitoring {
  promUrl: string;
  amUrl: string;
  prom: Proc;
  am: Proc;
  promConfig: string;
  amConfig: string;
}

export interface MonitoringOptions {
  stateDir: string;
  logDir: string;
  rules: ReturnType<typeof renderRules>;
  relayUrl: string;
  tokenFile: string;
  /** host:port of the inference server. */
  server: string;
  teardown: Teardown;
}

export async function startMonitoring(procs: Procs, opts: MonitoringOptions): Promise<Monitoring> {
  const [promPort, amPort] = [await freePort(), await freePort()];
  const promUrl = `http://127.0.0.1:${promPort}`;
  const amUrl = `http://127.0.0.1:${amPort}`;
  const { promDir, amDir, promConfig, amConfig } = writeConfigs(opts, promPort, amPort);
  const am = procs.spawn(
    'alertmanager',
    process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager',
    [
      `--config.file=${amConfig}`,
      `--storage.path=${join(amDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      `--web.external-url=${amUrl}`,
      // One instance: no gossip, no 0.0.0.0:9094.
      '--cluster.listen-address=',
    ],
    { logFile: join(opts.logDir, 'alertmanager.log'), cwd: amDir },
  );
  opts.teardown.defer('alertmanager', () => am.stop());
  const prom = procs.spawn(
    'prometheus',
    process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus',
    [
      `--config.file=${promConfig}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      `--web.external-url=${promUrl}`,
      // Resend active alerts every second instead of every minute, as intervals are seconds here.
      '--rules.alert.resend-delay=1s',
    ],
    { logFile: join(opts.logDir, 'prometheus.log'), cwd: promDir },
  );
  opts.teardown.defer('prometheus', () => prom.stop());
  await Promise.all([
    waitFor('alertmanager', `${amUrl}/-/ready`, { proc: am, timeoutMs: 30_000 }),
    waitFor('prometheus', `${promUrl}/-/ready`, { proc: prom, timeoutMs: 30_000 }),
  ]);
  return { promUrl, amUrl, prom, am, promConfig, amConfig };
}

/** The rendered configs and rule files, in the state folder where a user can read them. */
function writeConfigs(
  opts: MonitoringOptions,
  promPort: number,
  amPort: number,
): { promDir: string; amDir: string; promConfig: string; amConfig: string } {
  const amDir = join(opts.stateDir, 'alertmanager');
  const promDir = join(opts.stateDir, 'prometheus');
  mkdirSync(join(promDir, 'rules'), { recursive: true });
  mkdirSync(amDir, { recursive: true });
  const amConfig = join(amDir, 'alertmanager.yml');
  writeFileSync(
    amConfig,
    stringify(renderAlertmanagerConfig({ relayUrl: opts.relayUrl, tokenFile: opts.tokenFile })),
  );
  for (const [name, file] of Object.entries(opts.rules))
    writeFileSync(join(promDir, 'rules', name), stringify(file));
  const promConfig = join(promDir, 'prometheus.yml');
  writeFileSync(
    promConfig,
    stringify(
      renderPrometheusConfig({
        jobs: {
          prometheus: `127.0.0.1:${promPort}`,
          alertmanager: `127.0.0.1:${amPort}`,
          'alertmanager-relay': opts.relayUrl.replace('http://', ''),
          'iris-classifier': opts.server,
        },
        alertmanager: `127.0.0.1:${amPort}`,
      }),
    ),
  );
  return { promDir, amDir, promConfig, amConfig };
}

/** Waits until Prometheus has scraped `job` successfully (its first target sync takes ~5 s). */
export async function waitForScrape(m: Monitoring, job: string, timeoutMs = 30_000): Promise<void> {
  const q = encodeURIComponent(`up{job="${job}"} == 1`);
  await waitFor(`Prometheus' scrape of ${job}`, `${m.promUrl}/api/v1/query?query=${q}`, {
    proc: m.prom,
    timeoutMs,
    ok: async (res) =>
      res.ok && ((await res.json()) as { data: { result: unknown[] } }).data.result.length > 0,
  });
}

/** platform/'s rules with time compressed `factor` times; they must still have the fault's alert. */
export function loopRules(factor: number): ReturnType<typeof renderRules> {
  const rules = renderRules({ factor });
  const alerts = Object.values(rules).flatMap((f) => f.groups.flatMap((g) => g.rules.map((r) => r.alert)));
  if (!alerts.includes(FAULT_ALERT))
    throw new Error(`platform/prometheus/rules has no alert ${FAULT_ALERT} any more`);
  return rules;
}

/**
 * Starts Prometheus and Alertmanager for the loop in the background (awaited by monitoringReady):
 * the teardown waits for the start to finish before it stops them.
 */
export function startLoopMonitoring(
  ctx: LoopContext,
  relay: Relay,
  server: string,
  rules: ReturnType<typeof renderRules>,
): Promise<Monitoring> {
  return ctx.teardown.track(
    startMonitoring(ctx.procs, {
      stateDir: ctx.state,
      logDir: ctx.logs,
      rules,
      relayUrl: relay.url,
      tokenFile: relay.tokenFile,
      server,
      teardown: ctx.teardown,
    }),
  );
}

/** The monitoring stage: ready once the inference server is scraped. */
export async function monitoringReady(
  ctx: LoopContext,
  starting: Promise<Monitoring>,
  factor: number,
): Promise<Monitoring> {
  const m = await starting;
  await waitForScrape(m, 'iris-classifier');
  const { stages } = ctx;
  stages.note('started while the model loaded; ready once the inference server is scraped');
  stages.note(
    `rules: platform/prometheus/rules with time ${factor}x compressed (for: 5m -> ${compress('5m', factor)})`,
  );
  stages.link('Prometheus', `${m.promUrl}/alerts`);
  stages.link('Alertmanager', `${m.amUrl}/#/alerts`);
  stages.link('configs', `${m.promConfig}, ${m.amConfig}`);
  ctx.live.prometheusUrl = m.promUrl;
  ctx.live.alertmanagerUrl = m.amUrl;
  return m;
}
