/**
 * A real Prometheus (Debian's package) on a free loopback port with its own TSDB directory,
 * plus a tiny /metrics endpoint whose values a test sets, so alert rules can be driven on and
 * off. Reusable by any test that needs real rule evaluation and alert delivery.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startManaged, type ManagedProcess } from './alertmanager.js';
import { freePort } from './net.js';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface PrometheusOptions {
  /** prometheus.yml as text or object; rule files are referenced relative to its directory. */
  config: string | Record<string, unknown>;
  /** Rule files by name, written next to the config. */
  rules?: Record<string, string | Record<string, unknown>>;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<ManagedProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  for (const [name, rules] of Object.entries(opts.rules ?? {})) {
    writeFileSync(join(dir, name), typeof rules === 'string' ? rules : stringify(rules));
  }
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, typeof opts.config === 'string' ? opts.config : stringify(opts.config));
  const port = await freePort();
  return startManaged(
    PROMETHEUS_BIN,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Send firing/resolved alerts on every evaluation, not once a minute.
      '--rules.alert.resend-delay=1s',
      '--log.level=debug',
    ],
    { dir, port, readyPath: '/-/ready', name: 'prometheus' },
  );
}

/** A scrape target serving gauges in the Prometheus text format; `set` changes them live. */
export interface MetricsTarget {
  url: string;
  /** host:port for a static_config target. */
  address: string;
  set(name: string, labels: Record<string, string>, value: number): void;
  stop(): Promise<void>;
}

export async function startMetricsTarget(): Promise<MetricsTarget> {
  const series = new Map<string, { name: string; labels: Record<string, string>; value: number }>();
  const render = (): string => {
    const lines: string[] = [];
    const names = new Set([...series.values()].map((s) => s.name));
    for (const name of names) {
      lines.push(`# TYPE ${name} gauge`);
      for (const s of series.values()) {
        if (s.name !== name) continue;
        const labels = Object.entries(s.labels)
          .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
          .join(',');
        lines.push(`${name}${labels ? `{${labels}}` : ''} ${s.value}`);
      }
    }
    return `${lines.join('\n')}\n`;
  };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(render());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    address: `127.0.0.1:${port}`,
    set(name, labels, value) {
      series.set(`${name}${JSON.stringify(Object.entries(labels).sort())}`, { name, labels, value });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
