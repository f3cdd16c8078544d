/**
 * The one retry loop of the suite. Every caller that sends something again (HTTP through
 * withRetry, Gemini calls, relay dispatches, guarded creates, gitops pushes) states its own policy
 * here (which failures are worth another attempt, how long to wait, what to log) and this loop
 * owns the rest: the attempt bound, the waits, and what the caller gets when retries run out.
 */

/** A failed attempt: the error it threw, or the value `retryOn` refused (an HTTP 503, a rejected push). */
export type Failure<T> = { error: unknown; value?: undefined } | { value: T; error?: undefined };

export interface RetryPolicy<T> {
  /** Attempts in all, the first included (at least 1). */
  attempts: number;
  /** Whether a returned value is a failure to retry. Default: none is. */
  retryOn?: (value: T, attempt: number) => boolean;
  /** Whether a thrown error is worth another attempt. Default: every one is. */
  retryable?: (error: unknown, attempt: number) => boolean;
  /**
   * The wait after failed attempt `attempt` (1-based) before the next one: a backoff, or what the
   * failure asked for (Retry-After, Gemini's RetryInfo). Not called after the last attempt.
   */
  delayMs: (failure: Failure<T>, attempt: number) => number;
  /** Called (and awaited) before each wait: logs, metrics, releasing what the failure holds. */
  onRetry?: (info: { attempt: number; delayMs: number; failure: Failure<T> }) => void | Promise<void>;
  /** For tests: observe or skip waits. A wait of 0 ms is no wait: the next attempt goes at once. */
  sleep?: (ms: number) => Promise<void>;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` (given its 1-based number) until it succeeds, a failure is not retryable, or the
 * attempts are spent. Resolves with the first value `retryOn` accepts, or with the last value it
 * refused; rejects with the last error (the caller's own, unwrapped).
 */
export async function retry<T>(attempt: (n: number) => Promise<T>, policy: RetryPolicy<T>): Promise<T> {
  const { attempts, retryOn = () => false, retryable = () => true, onRetry } = policy;
  const wait = policy.sleep ?? sleep;
  for (let n = 1; ; n++) {
    let failure: Failure<T>;
    try {
      const value = await attempt(n);
      if (n >= attempts || !retryOn(value, n)) return value;
      failure = { value };
    } catch (error) {
      if (n >= attempts || !retryable(error, n)) throw error;
      failure = { error };
    }
    const delayMs = policy.delayMs(failure, n);
    await onRetry?.({ attempt: n, delayMs, failure });
    if (delayMs > 0) await wait(delayMs);
  }
}
