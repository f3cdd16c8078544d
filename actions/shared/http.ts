/**
 * fetch with a timeout on every attempt and bounded retries with jittered exponential backoff:
 * connection errors, 429 and 5xx are retried, honouring Retry-After; anything else is returned as is.
 */
import { retry } from './retry.js';

export { sleep } from './retry.js';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  /** First backoff; doubled each retry, with full jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** The delay before retry n (1-based), replacing the jittered exponential one. */
  backoff?: (retry: number) => number;
  /** Whether a non-throwing response should be retried. Default: 429 and 5xx. */
  retryOn?: (res: Response) => boolean;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

export class HttpError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const defaultRetryOn = (res: Response): boolean => res.status === 429 || res.status >= 500;

/** Seconds or an HTTP date, as RFC 9110 allows; undefined when absent or unreadable. */
export function retryAfterMs(res: Response): number | undefined {
  const header = res.headers.get('retry-after');
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export async function fetchWithRetry(
  url: string | URL,
  init: Omit<RequestInit, 'body'> & { body?: RequestInit['body'] | (() => RequestInit['body']) } = {},
  options: RetryOptions = {},
): Promise<Response> {
  return withRetry(
    `${init.method ?? 'GET'} ${String(url)}`,
    (signal) => {
      // A body factory lets a stream body be re-created for each attempt.
      const body = typeof init.body === 'function' ? init.body() : init.body;
      const requestInit: RequestInit & { duplex?: 'half' } = { ...init, body, signal };
      if (body && typeof body === 'object' && 'getReader' in body) requestInit.duplex = 'half';
      return fetch(url, requestInit);
    },
    options,
  );
}

/** The delay before retry `retry` (1-based): exponential from baseDelayMs, capped, full jitter. */
const jittered =
  (baseDelayMs: number, maxDelayMs: number) =>
  (retry: number): number =>
    Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1)) * Math.random();

/** Why an attempt failed, as the final error and onRetry say it. */
function reasonOf(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return e.cause?.code ?? e.cause?.message ?? (e as { code?: string }).code ?? e.message;
}

/**
 * The retry loop of fetchWithRetry for any sender of a Response (e.g. a streamed node:http
 * upload): `send` gets an AbortSignal that fires after the per-attempt timeout and rejects with
 * its reason (a TimeoutError) or the connection error.
 */
export async function withRetry(
  label: string,
  send: (signal: AbortSignal) => Promise<Response>,
  options: RetryOptions = {},
): Promise<Response> {
  const {
    attempts = 4,
    timeoutMs = 30_000,
    baseDelayMs = 250,
    maxDelayMs = 8_000,
    retryOn = defaultRetryOn,
    onRetry,
  } = options;
  const backoff = options.backoff ?? jittered(baseDelayMs, maxDelayMs);
  try {
    return await retry(() => send(AbortSignal.timeout(timeoutMs)), {
      attempts,
      retryOn,
      delayMs: ({ value }, attempt) => (value && retryAfterMs(value)) ?? backoff(attempt),
      onRetry: async ({ attempt, delayMs, failure }) => {
        // The refused answer is dropped: free its connection before the wait.
        await failure.value?.body?.cancel();
        onRetry?.({
          attempt,
          delayMs,
          reason: failure.value ? `HTTP ${failure.value.status}` : reasonOf(failure.error, timeoutMs),
        });
      },
    });
  } catch (err) {
    throw new HttpError(`${label} failed after ${attempts} attempts: ${reasonOf(err, timeoutMs)}`);
  }
}
