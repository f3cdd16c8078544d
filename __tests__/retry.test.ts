/**
 * The shared retry loop (shared/retry.ts) and withRetry on top of it (shared/http.ts): attempt
 * bounds, which failures are retried, delays chosen from the failure, the hook between attempts,
 * and what the caller gets when retries run out.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchWithRetry, HttpError, withRetry } from '../actions/shared/http.js';
import { retry, type Failure } from '../actions/shared/retry.js';

/** An attempt that yields the scripted outcomes in turn: an Error is thrown, anything else returned. */
function script<T>(...outcomes: (T | Error)[]): { attempt: (n: number) => Promise<T>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    attempt: async (n) => {
      calls.push(n);
      const next = outcomes[calls.length - 1];
      if (next instanceof Error) throw next;
      return next as T;
    },
  };
}

describe('retry', () => {
  it('retries thrown errors until an attempt succeeds, waiting the delay chosen for each failure', async () => {
    const boom = new Error('boom');
    const s = script<string>(boom, new Error('again'), 'ok');
    const sleeps: number[] = [];
    const delays: [unknown, number][] = [];
    const value = await retry(s.attempt, {
      attempts: 5,
      delayMs: (failure, attempt) => {
        delays.push([failure.error, attempt]);
        return attempt * 10;
      },
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(value).toBe('ok');
    expect(s.calls).toEqual([1, 2, 3]);
    expect(delays).toEqual([
      [boom, 1],
      [expect.objectContaining({ message: 'again' }), 2],
    ]);
    expect(sleeps).toEqual([10, 20]);
  });

  it('rethrows the last error itself, unwrapped, when the attempts are spent, and waits not after the last', async () => {
    const last = new Error('third');
    const s = script<string>(new Error('first'), new Error('second'), last);
    const sleeps: number[] = [];
    let delayCalls = 0;
    const run = retry(s.attempt, {
      attempts: 3,
      delayMs: () => ++delayCalls,
      sleep: async (ms) => void sleeps.push(ms),
    });
    await expect(run).rejects.toBe(last);
    expect(s.calls).toEqual([1, 2, 3]);
    expect(delayCalls).toBe(2);
    expect(sleeps).toEqual([1, 2]);
  });

  it('stops at once on an error `retryable` refuses, given the error and the attempt', async () => {
    const fatal = Object.assign(new Error('bad request'), { status: 400 });
    const s = script<string>(Object.assign(new Error('busy'), { status: 503 }), fatal, 'never');
    const seen: [number | undefined, number][] = [];
    const run = retry(s.attempt, {
      attempts: 5,
      retryable: (err, attempt) => {
        const status = (err as { status?: number }).status;
        seen.push([status, attempt]);
        return status !== undefined && status >= 500;
      },
      delayMs: () => 0,
    });
    await expect(run).rejects.toBe(fatal);
    expect(s.calls).toEqual([1, 2]);
    expect(seen).toEqual([
      [503, 1],
      [400, 2],
    ]);
  });

  it('retries values `retryOn` refuses and returns the last one refused when the attempts are spent', async () => {
    const s = script<{ status: number }>({ status: 503 }, { status: 502 }, { status: 500 });
    const failures: Failure<{ status: number }>[] = [];
    const value = await retry(s.attempt, {
      attempts: 3,
      retryOn: (v) => v.status >= 500,
      delayMs: (failure) => {
        failures.push(failure);
        return 0;
      },
    });
    expect(value).toEqual({ status: 500 });
    expect(s.calls).toEqual([1, 2, 3]);
    expect(failures).toEqual([{ value: { status: 503 } }, { value: { status: 502 } }]);
  });

  it('returns the first value `retryOn` accepts without another attempt', async () => {
    const s = script<number>(1, 2, 3);
    const value = await retry(s.attempt, { attempts: 9, retryOn: (v) => v < 2, delayMs: () => 0 });
    expect(value).toBe(2);
    expect(s.calls).toEqual([1, 2]);
  });

  it('awaits onRetry, told the attempt, the delay and the failure, before each wait', async () => {
    const events: string[] = [];
    const s = script<string>(new Error('down'), 'up');
    await retry(s.attempt, {
      attempts: 2,
      delayMs: () => 7,
      onRetry: async ({ attempt, delayMs, failure }) => {
        await new Promise((r) => setImmediate(r));
        events.push(`retry ${attempt} in ${delayMs}: ${(failure.error as Error).message}`);
      },
      sleep: async (ms) => void events.push(`sleep ${ms}`),
    });
    expect(events).toEqual(['retry 1 in 7: down', 'sleep 7']);
  });

  it('goes on at once after a delay of 0 ms, and makes one attempt when attempts is 1', async () => {
    const sleeps: number[] = [];
    const s = script<string>(new Error('x'), 'y');
    expect(
      await retry(s.attempt, { attempts: 2, delayMs: () => 0, sleep: async (ms) => void sleeps.push(ms) }),
    ).toBe('y');
    expect(sleeps).toEqual([]);
    const once = script<string>(new Error('only'));
    await expect(retry(once.attempt, { attempts: 1, delayMs: () => 0 })).rejects.toThrow('only');
    expect(once.calls).toEqual([1]);
  });
});

describe('withRetry and fetchWithRetry', () => {
  let server: Server;
  let url: string;
  const answers: { status: number; headers?: Record<string, string> }[] = [];
  let served = 0;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      const a = answers[served++] ?? { status: 200 };
      res.writeHead(a.status, a.headers).end(`answer ${served}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const serve = (...a: typeof answers): void => {
    answers.splice(0, answers.length, ...a);
    served = 0;
  };

  it('retries 429 and 5xx, preferring Retry-After to the backoff, and reports each retry', async () => {
    serve({ status: 503 }, { status: 429, headers: { 'retry-after': '0' } }, { status: 200 });
    const retries: { attempt: number; delayMs: number; reason: string }[] = [];
    const res = await fetchWithRetry(
      url,
      {},
      { attempts: 4, backoff: (n) => n, onRetry: (i) => retries.push(i) },
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('answer 3');
    expect(retries).toEqual([
      { attempt: 1, delayMs: 1, reason: 'HTTP 503' },
      { attempt: 2, delayMs: 0, reason: 'HTTP 429' },
    ]);
  });

  it('returns the last retryable answer as is when the attempts are spent, and others at once', async () => {
    serve({ status: 500 }, { status: 502 });
    const res = await fetchWithRetry(url, {}, { attempts: 2, backoff: () => 1 });
    expect(res.status).toBe(502);
    expect(await res.text()).toBe('answer 2');
    serve({ status: 404 }, { status: 200 });
    const notFound = await fetchWithRetry(url, {}, { attempts: 3, backoff: () => 1 });
    expect(notFound.status).toBe(404);
    expect(served).toBe(1);
  });

  it('honours a retryOn of its own', async () => {
    serve({ status: 409 }, { status: 200 });
    const res = await fetchWithRetry(
      url,
      {},
      { attempts: 2, backoff: () => 1, retryOn: (r) => r.status === 409 },
    );
    expect(res.status).toBe(200);
    expect(served).toBe(2);
  });

  it('throws an HttpError naming the attempts and the last reason after connection errors and timeouts', async () => {
    const reasons: string[] = [];
    let sends = 0;
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const run = withRetry(
      'GET http://nowhere/',
      async () => {
        sends++;
        throw refused;
      },
      { attempts: 3, backoff: () => 1, onRetry: (i) => reasons.push(i.reason) },
    );
    await expect(run).rejects.toEqual(
      new HttpError('GET http://nowhere/ failed after 3 attempts: ECONNREFUSED'),
    );
    expect(sends).toBe(3);
    expect(reasons).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);

    const hang = withRetry(
      'GET http://slow/',
      (signal) =>
        new Promise<Response>((_r, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason as Error));
        }),
      { attempts: 2, timeoutMs: 50, backoff: () => 1 },
    );
    await expect(hang).rejects.toThrow('GET http://slow/ failed after 2 attempts: no answer within 50 ms');
  });
});
