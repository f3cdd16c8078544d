/**
 * POST /repos/{owner}/{repo}/dispatches with bounded retries: network errors, 5xx, 429 and
 * 403 rate limits are retried, honouring `retry-after` and `x-ratelimit-reset` as GitHub asks;
 * a wait longer than what is left of the retry budget ends the delivery at once, and the relay
 * tells Alertmanager to retry later instead (so nothing is lost and GitHub is not hammered).
 */
import { createAppAuth } from '@octokit/auth-app';
import { request as octokitRequest } from '@octokit/request';
import type { GitHubAuth, RelayConfig } from './config.js';
import type { Logger } from './log.js';
import type { RelayMetrics } from './metrics.js';
import type { DispatchRequest } from './wrap.js';

export type DispatchResult =
  | { ok: true; attempts: number }
  | { ok: false; attempts: number; status?: number; reason: string; retryAfterMs?: number };

type TokenSource = (refresh?: boolean) => Promise<string>;

export function tokenSource(auth: GitHubAuth, apiUrl: string): TokenSource {
  if (auth.kind === 'token') return async () => auth.token;
  const app = createAppAuth({
    appId: auth.appId,
    privateKey: auth.privateKey,
    installationId: auth.installationId,
    request: octokitRequest.defaults({ baseUrl: apiUrl }),
  });
  // auth-app caches installation tokens until shortly before they expire.
  return async (refresh = false) => (await app({ type: 'installation', refresh })).token;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface DispatcherOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** First backoff without a server hint; doubled per retry, jittered. */
  baseDelayMs?: number;
}

export class Dispatcher {
  private readonly url: string;
  private readonly token: TokenSource;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly baseDelayMs: number;
  /** Set when GitHub says the rate limit is spent: later deliveries fail fast until then. */
  private blockedUntil = 0;

  constructor(
    private readonly cfg: RelayConfig,
    private readonly metrics: RelayMetrics,
    private readonly log: Logger,
    opts: DispatcherOptions = {},
  ) {
    this.url = `${cfg.apiUrl}/repos/${encodeURIComponent(cfg.owner)}/${encodeURIComponent(cfg.repo)}/dispatches`;
    this.token = tokenSource(cfg.auth, cfg.apiUrl);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? sleep;
    this.baseDelayMs = opts.baseDelayMs ?? 200;
  }

  async send(req: DispatchRequest, id: string): Promise<DispatchResult> {
    const started = this.now();
    const deadline = started + this.cfg.retryBudgetMs;
    const body = JSON.stringify(req);
    let refreshed = false;
    let last: { status?: number; reason: string } = { reason: 'not attempted' };

    for (let attempt = 1; attempt <= this.cfg.attempts; attempt++) {
      if (this.blockedUntil > this.now()) {
        const wait = this.blockedUntil - this.now();
        if (this.now() + wait > deadline) {
          return {
            ok: false,
            attempts: attempt - 1,
            status: 403,
            reason: 'GitHub rate limit spent',
            retryAfterMs: wait,
          };
        }
        await this.sleep(wait);
      }
      let res: Response;
      try {
        const token = await this.token(refreshed);
        res = await fetch(this.url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/vnd.github+json',
            'content-type': 'application/json',
            'user-agent': 'mlops-actions-relay',
            'x-github-api-version': '2022-11-28',
          },
          body,
          signal: AbortSignal.timeout(this.cfg.requestTimeoutMs),
        });
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        last = {
          reason:
            e.name === 'TimeoutError'
              ? `no answer within ${this.cfg.requestTimeoutMs} ms`
              : (e.cause?.code ?? e.message),
        };
        this.metrics.attempts.inc({ status: 'error' });
        const delay = this.backoff(attempt);
        if (attempt === this.cfg.attempts || this.now() + delay > deadline) break;
        this.log.warn('dispatch failed, retrying', { id, attempt, reason: last.reason, delayMs: delay });
        await this.sleep(delay);
        continue;
      }
      this.metrics.attempts.inc({ status: String(res.status) });
      if (res.status === 204 || res.status === 200) {
        await res.body?.cancel();
        return { ok: true, attempts: attempt };
      }
      const text = await res.text().catch(() => '');
      const message = readMessage(text);
      last = { status: res.status, reason: `GitHub answered ${res.status}${message ? `: ${message}` : ''}` };

      if (res.status === 401 && this.cfg.auth.kind === 'app' && !refreshed) {
        // An installation token can be revoked before its expiry: get a new one once.
        refreshed = true;
        continue;
      }
      const wait = this.retryWait(res, message, attempt);
      if (wait === undefined) break; // not retryable (401, 404, 422, a 403 that is no rate limit)
      if (attempt === this.cfg.attempts) break;
      if (this.now() + wait > deadline) {
        return { ok: false, attempts: attempt, status: res.status, reason: last.reason, retryAfterMs: wait };
      }
      this.log.warn('dispatch failed, retrying', { id, attempt, status: res.status, delayMs: wait });
      await this.sleep(wait);
    }
    return { ok: false, attempts: this.cfg.attempts, ...last };
  }

  private backoff(attempt: number): number {
    const base = this.baseDelayMs * 2 ** (attempt - 1);
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  /** How long to wait before retrying this answer, or undefined when retrying cannot help. */
  private retryWait(res: Response, message: string, attempt: number): number | undefined {
    const retryAfter = parseRetryAfter(res.headers.get('retry-after'), this.now());
    const remaining = res.headers.get('x-ratelimit-remaining');
    const reset = Number(res.headers.get('x-ratelimit-reset'));
    const primary = (res.status === 403 || res.status === 429) && remaining === '0' && Number.isFinite(reset);
    if (primary) {
      const until = reset * 1000 + 1000;
      this.blockedUntil = Math.max(this.blockedUntil, until);
      return Math.max(0, until - this.now());
    }
    const secondary = res.status === 403 && /secondary rate limit|abuse/i.test(message);
    if (res.status === 429 || secondary || (res.status === 403 && retryAfter !== undefined)) {
      // GitHub: without retry-after, wait at least a minute after a secondary rate limit.
      return retryAfter ?? (secondary ? 60_000 : this.backoff(attempt));
    }
    if (res.status >= 500) return retryAfter ?? this.backoff(attempt);
    return undefined;
  }
}

function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function readMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    return typeof m === 'string' ? m.slice(0, 200) : '';
  } catch {
    return text.slice(0, 200);
  }
}
