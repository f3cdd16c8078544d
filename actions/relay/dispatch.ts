/**
 * POST /repos/{owner}/{repo}/dispatches with bounded retries: network errors, 5xx, 429 and
 * 403 rate limits are retried, honouring `retry-after` and `x-ratelimit-reset` as GitHub asks;
 * a wait longer than what is left of the retry budget ends the delivery at once, and the relay
 * tells Alertmanager to retry later instead (so nothing is lost and GitHub is not hammered).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createAppAuth } from '@octokit/auth-app';
import { request as octokitRequest } from '@octokit/request';
import type { GitHubAuth, RelayConfig } from './config.js';
import type { Logger } from './log.js';
import type { RelayMetrics } from './metrics.js';
import type { DispatchRequest } from './wrap.js';
import { retry, sleep } from '../shared/retry.js';

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

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

class TimeoutError extends Error {}

/**
 * One POST over a kept-alive connection. node:http rather than fetch: at thousands of
 * dispatches a second, fetch's web streams cost the relay several times the CPU.
 */
function post(
  url: URL,
  agent: HttpAgent,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new TimeoutError(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const header = (h: IncomingHttpHeaders, name: string): string | null => {
  const v = h[name];
  return v === undefined ? null : Array.isArray(v) ? (v[0] ?? null) : v;
};

type Last = { status?: number; reason: string };

/** One delivery's state across its attempts. */
interface Run {
  deadline: number;
  body: string;
  /** The App token was refreshed once already (after a 401). */
  refreshed: boolean;
}

/** An attempt's verdict: the delivery's result, or another attempt after `delayMs` (`result` if none is left). */
type Step =
  | { done: DispatchResult }
  | { again: { delayMs: number; result: DispatchResult; log?: Record<string, unknown> } };

const again = (attempt: number, last: Last, delayMs: number, log?: Record<string, unknown>): Step => ({
  again: { delayMs, result: { ok: false, attempts: attempt, ...last }, ...(log ? { log } : {}) },
});

export interface DispatcherOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** First backoff without a server hint; doubled per retry, jittered. */
  baseDelayMs?: number;
}

export class Dispatcher {
  private readonly url: URL;
  private readonly agent: HttpAgent;
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
    this.url = new URL(
      `${cfg.apiUrl}/repos/${encodeURIComponent(cfg.owner)}/${encodeURIComponent(cfg.repo)}/dispatches`,
    );
    const agentOptions = { keepAlive: true, maxSockets: 64, maxFreeSockets: 16 };
    this.agent = this.url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.token = tokenSource(cfg.auth, cfg.apiUrl);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? sleep;
    this.baseDelayMs = opts.baseDelayMs ?? 200;
  }

  async send(req: DispatchRequest, id: string): Promise<DispatchResult> {
    const run: Run = {
      deadline: this.now() + this.cfg.retryBudgetMs,
      body: JSON.stringify(req),
      refreshed: false,
    };
    const step = await retry((attempt) => this.attempt(run, attempt), {
      attempts: this.cfg.attempts,
      retryOn: (s) => 'again' in s,
      // What throws here is no GitHub answer (those are steps): it ends the delivery, as it did.
      retryable: () => false,
      delayMs: ({ value }) => (value && 'again' in value ? value.again.delayMs : 0),
      onRetry: ({ attempt, failure }) => {
        const log = failure.value && 'again' in failure.value ? failure.value.again.log : undefined;
        if (log) this.log.warn('dispatch failed, retrying', { id, attempt, ...log });
      },
      sleep: this.sleep,
    });
    return 'done' in step ? step.done : step.again.result;
  }

  /**
   * One POST and what it means: done (delivered, not retryable, or a wait past the retry budget),
   * or again after a delay (a log line says why, except for the one token refresh after a 401).
   */
  private async attempt(run: Run, attempt: number): Promise<Step> {
    const fail = (last: Last): Step => ({ done: { ok: false, attempts: attempt, ...last } });
    if (this.blockedUntil > this.now()) {
      const wait = this.blockedUntil - this.now();
      if (this.now() + wait > run.deadline) {
        return {
          done: {
            ok: false,
            attempts: attempt - 1,
            status: 403,
            reason: 'GitHub rate limit spent',
            retryAfterMs: wait,
          },
        };
      }
      await this.sleep(wait);
    }
    let res: Answer;
    try {
      const token = await this.token(run.refreshed);
      res = await post(
        this.url,
        this.agent,
        {
          authorization: `Bearer ${token}`,
          accept: 'application/vnd.github+json',
          'content-type': 'application/json',
          'user-agent': 'mlops-actions-relay',
          'x-github-api-version': '2022-11-28',
        },
        run.body,
        this.cfg.requestTimeoutMs,
      );
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { status?: unknown };
      let last: Last;
      if (typeof e.status === 'number') {
        // The App's installation token could not be had (auth-app's RequestError): a 4xx
        // there (bad key, app not installed) does not heal by retrying.
        last = { status: e.status, reason: `GitHub App token request answered ${e.status}: ${e.message}` };
        this.metrics.attempts.inc({ status: `token-${e.status}` });
        if (e.status < 500 && e.status !== 429) return fail(last);
      } else {
        last = { reason: err instanceof TimeoutError ? e.message : (e.code ?? e.message) };
        this.metrics.attempts.inc({ status: 'error' });
      }
      const delay = this.backoff(attempt);
      if (this.now() + delay > run.deadline) return fail(last);
      return again(attempt, last, delay, { reason: last.reason, delayMs: delay });
    }
    this.metrics.attempts.inc({ status: String(res.status) });
    if (res.status === 204 || res.status === 200) return { done: { ok: true, attempts: attempt } };
    const message = readMessage(res.text);
    const last = {
      status: res.status,
      reason: `GitHub answered ${res.status}${message ? `: ${message}` : ''}`,
    };

    if (res.status === 401 && this.cfg.auth.kind === 'app' && !run.refreshed) {
      // An installation token can be revoked before its expiry: get a new one once.
      run.refreshed = true;
      return again(attempt, last, 0);
    }
    const wait = this.retryWait(res, message, attempt);
    if (wait === undefined) return fail(last); // not retryable (401, 404, 422, a 403 that is no rate limit)
    if (attempt < this.cfg.attempts && this.now() + wait > run.deadline) {
      return { done: { ok: false, attempts: attempt, ...last, retryAfterMs: wait } };
    }
    return again(attempt, last, wait, { status: res.status, delayMs: wait });
  }

  private backoff(attempt: number): number {
    const base = this.baseDelayMs * 2 ** (attempt - 1);
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  /** How long to wait before retrying this answer, or undefined when retrying cannot help. */
  private retryWait(res: Answer, message: string, attempt: number): number | undefined {
    const retryAfter = parseRetryAfter(header(res.headers, 'retry-after'), this.now());
    const remaining = header(res.headers, 'x-ratelimit-remaining');
    const reset = Number(header(res.headers, 'x-ratelimit-reset'));
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
