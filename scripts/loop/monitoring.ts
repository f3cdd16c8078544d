/**
 * Prometheus and Alertmanager as the loop runs them: configs rendered from platform/ into the
 * state folder, each binary in its own process group, ready when /-/ready answers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor, type Proc, type Procs } from './procs.js';
import { renderAlertmanagerConfig, renderPrometheusConfig, type renderRules } from './render.js';

export interface Monitoring {
  promUrl: string;
  amUrl: string;
  prom: Proc;
  am: Proc;
  promConfig: string;
  amConfig: string;
}

export async function startMonitoring(
  procs: Procs,
  opts: {
    stateDir: string;
    logDir: string;
    rules: ReturnType<typeof renderRules>;
    relayUrl: string;
    tokenFile: string;
    /** host:port of the inference server. */
    server: string;
  },
): Promise<Monitoring> {
  const [promPort, amPort] = [await freePort(), await freePort()];
  const promUrl = `http://127.0.0.1:${promPort}`;
  const amUrl = `http://127.0.0.1:${amPort}`;
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
  await Promise.all([
    waitFor('alertmanager', `${amUrl}/-/ready`, { proc: am, timeoutMs: 30_000 }),
    waitFor('prometheus', `${promUrl}/-/ready`, { proc: prom, timeoutMs: 30_000 }),
  ]);
  return { promUrl, amUrl, prom, am, promConfig, amConfig };
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
