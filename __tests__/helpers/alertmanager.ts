/**
 * A real Alertmanager (Debian's prometheus-alertmanager) on a free loopback port, with its own
 * storage directory and clustering off, for tests that need real grouping, timing and webhook
 * delivery. Reusable: pass the configuration as YAML text or as an object.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitForHttp } from './net.js';

export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

export interface ManagedProcess {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Starts `bin args`, waits for `readyPath` to answer 2xx, and kills the process on failure or stop. */
export async function startManaged(
  bin: string,
  args: string[],
  opts: { dir: string; port: number; readyPath: string; name: string; timeoutMs?: number },
): Promise<ManagedProcess> {
  const child = spawn(bin, args, { cwd: opts.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (log += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${opts.port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    await Promise.race([
      waitForHttp(`${url}${opts.readyPath}`, opts.timeoutMs ?? 30_000),
      exited.then(() => {
        throw new Error(`${opts.name} exited`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw new Error(`${opts.name} did not start: ${(err as Error).message}\n${log.slice(-3000)}`);
  }
  return { url, port: opts.port, dir: opts.dir, process: child, log: () => log, stop };
}

export interface AlertmanagerOptions {
  /** alertmanager.yml as text or as an object. */
  config: string | Record<string, unknown>;
  /** Extra files written next to the config (e.g. a bearer token file), by name. */
  files?: Record<string, string>;
  /** External URL Alertmanager puts in notifications. */
  externalUrl?: string;
}

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<ManagedProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'alertmanager-'));
  for (const [name, text] of Object.entries(opts.files ?? {}))
    writeFileSync(join(dir, name), text, { mode: 0o600 });
  const config = join(dir, 'alertmanager.yml');
  writeFileSync(config, typeof opts.config === 'string' ? opts.config : stringify(opts.config));
  const port = await freePort();
  return startManaged(
    ALERTMANAGER_BIN,
    [
      `--config.file=${config}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // No gossip: a single test instance must not look for peers or bind 0.0.0.0:9094.
      '--cluster.listen-address=',
      ...(opts.externalUrl ? [`--web.external-url=${opts.externalUrl}`] : []),
      '--log.level=debug',
    ],
    { dir, port, readyPath: '/-/ready', name: 'alertmanager' },
  );
}
