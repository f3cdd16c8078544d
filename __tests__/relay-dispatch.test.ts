/**
 * The relay's Dispatcher on the shared retry loop, against a scripted GitHub: the waits it takes
 * (backoff, retry-after), the log line before each retry, and a wait past the budget answered at
 * once with retryAfterMs instead of taken.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RelayConfig } from '../actions/relay/config.js';
import { Dispatcher } from '../actions/relay/dispatch.js';
import type { Logger } from '../actions/relay/log.js';
import type { RelayMetrics } from '../actions/relay/metrics.js';
import type { DispatchRequest } from '../actions/relay/wrap.js';

let server: Server;
let apiUrl: string;
let script: { status: number; headers?: Record<string, string> }[] = [];
let served = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    const a = script[served++] ?? { status: 204 };
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(a.status === 204 ? undefined : JSON.stringify({ message: `scripted ${a.status}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function dispatcher(cfg: Partial<RelayConfig> = {}) {
  const warns: [string, Record<string, unknown> | undefined][] = [];
  const sleeps: number[] = [];
  const log = { debug() {}, info() {}, error() {}, warn: (m, f) => void warns.push([m, f]) } as Logger;
  const metrics = { attempts: { inc() {} } } as unknown as RelayMetrics;
  const config = {
    apiUrl,
    owner: 'o',
    repo: 'r',
    auth: { kind: 'token', token: 't' },
    attempts: 4,
    retryBudgetMs: 60_000,
    requestTimeoutMs: 5_000,
    ...cfg,
  } as RelayConfig;
  const d = new Dispatcher(config, metrics, log, {
    baseDelayMs: 100,
    sleep: async (ms) => void sleeps.push(ms),
  });
  return { d, warns, sleeps };
}
const req = { event_type: 'alertmanager', client_payload: {} } as unknown as DispatchRequest;

describe('relay Dispatcher retries', () => {
  it('backs off after a 5xx, waits retry-after after a 429, logs each retry and delivers', async () => {
    script = [{ status: 502 }, { status: 429, headers: { 'retry-after': '2' } }];
    served = 0;
    const { d, warns, sleeps } = dispatcher();
    expect(await d.send(req, 'n1')).toEqual({ ok: true, attempts: 3 });
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[1]).toBe(2000);
    expect(warns).toEqual([
      ['dispatch failed, retrying', { id: 'n1', attempt: 1, status: 502, delayMs: sleeps[0] }],
      ['dispatch failed, retrying', { id: 'n1', attempt: 2, status: 429, delayMs: 2000 }],
    ]);
  });

  it('answers a wait past the budget at once with retryAfterMs, and the last failure after the last attempt', async () => {
    script = [{ status: 429, headers: { 'retry-after': '10' } }];
    served = 0;
    const short = dispatcher({ retryBudgetMs: 5_000 });
    expect(await short.d.send(req, 'n2')).toEqual({
      ok: false,
      attempts: 1,
      status: 429,
      reason: 'GitHub answered 429: scripted 429',
      retryAfterMs: 10_000,
    });
    expect(short.sleeps).toEqual([]);

    script = [{ status: 500 }, { status: 503 }];
    served = 0;
    const two = dispatcher({ attempts: 2 });
    expect(await two.d.send(req, 'n3')).toEqual({
      ok: false,
      attempts: 2,
      status: 503,
      reason: 'GitHub answered 503: scripted 503',
    });
    expect(two.sleeps).toHaveLength(1);
    expect(two.warns).toHaveLength(1);
  });

  it('does not retry a 422', async () => {
    script = [{ status: 422 }];
    served = 0;
    const { d, sleeps } = dispatcher();
    expect(await d.send(req, 'n4')).toMatchObject({ ok: false, attempts: 1, status: 422 });
    expect(served).toBe(1);
    expect(sleeps).toEqual([]);
  });
});
