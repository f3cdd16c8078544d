/**
 * One place where HTTP to MLflow happens: auth as MLflow's own clients send it, a timeout and
 * bounded retries on every call (via fetchWithRetry), and MLflow's `{error_code, message}` turned
 * into an MlflowError that says what was called and what the server answered.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, type Dispatcher } from 'undici';
import { fetchWithRetry, HttpError, withRetry, type RetryOptions } from '../http.js';
import type { TrackingUri } from './types.js';

export interface MlflowClientOptions {
  /** The tracking server, e.g. http://127.0.0.1:5000 (a path prefix is kept); see mlflowSettings. */
  trackingUri: TrackingUri;
  /** Sent as `Authorization: Bearer` (MLFLOW_TRACKING_TOKEN). */
  token?: string;
  /** With `password`, sent as `Authorization: Basic` (MLFLOW_TRACKING_USERNAME/PASSWORD). */
  username?: string;
  password?: string;
  /** Where username/password came from, for 401/403 messages (default: the MLflow variables). */
  credentialsSource?: string;
  /** Per-attempt timeout of API calls; artifact transfers get more time for large files. */
  timeoutMs?: number;
  /** Attempts per call, the first included. */
  attempts?: number;
  /** First retry backoff (doubled each retry, jittered). */
  baseDelayMs?: number;
  /**
   * Ending a run gets the budget of MLflow's Python client, not the short one of other calls, so a
   * server back within minutes still gets the run's final status: retries (default 7, as
   * MLFLOW_HTTP_REQUEST_MAX_RETRIES) after factor x 2^n seconds (default 2, as
   * MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR), each wait at most 60 s: 2 + 4 + ... + 60 + 60, about 3 minutes.
   */
  endRunRetries?: number;
  endRunBackoffFactorMs?: number;
  /**
   * TLS towards an https server, as MLflow's clients take it from MLFLOW_TRACKING_INSECURE_TLS,
   * MLFLOW_TRACKING_SERVER_CERT_PATH (a CA bundle) and MLFLOW_TRACKING_CLIENT_CERT_PATH (a PEM with
   * the client's certificate and key): PEM text, read once by mlflowSettings.
   */
  tls?: TlsOptions;
  /** Artifact uploads in flight at once (default 8). */
  uploadConcurrency?: number;
  /** Concurrent log-batch streams, each owning a disjoint set of metric keys (default 4). */
  logBatchStreams?: number;
}

export interface TlsOptions {
  /** Accept any server certificate (MLFLOW_TRACKING_INSECURE_TLS). */
  insecure?: boolean;
  /** CA certificates to trust instead of the system's (MLFLOW_TRACKING_SERVER_CERT_PATH). */
  ca?: string;
  /** Client certificate and its private key (MLFLOW_TRACKING_CLIENT_CERT_PATH, one PEM holding both). */
  clientCert?: string;
}

/** The same TLS settings in the shape both node:https and undici's connector take. */
function connectOptions(tls: TlsOptions): {
  rejectUnauthorized?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
} {
  return {
    ...(tls.insecure ? { rejectUnauthorized: false } : {}),
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.clientCert ? { cert: tls.clientCert, key: tls.clientCert } : {}),
  };
}

export class MlflowError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly errorCode?: string,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
}

/** The codes MLflow's Python client infers when a response carries no JSON error body. */
const STATUS_TO_ERROR_CODE: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'ENDPOINT_NOT_FOUND',
  429: 'REQUEST_LIMIT_EXCEEDED',
  500: 'INTERNAL_ERROR',
  501: 'NOT_IMPLEMENTED',
  503: 'TEMPORARILY_UNAVAILABLE',
};

export const API = '/api/2.0/mlflow';

export interface CallOptions {
  timeoutMs?: number;
  attempts?: number;
  /** The delay before retry n (1-based), instead of the jittered exponential from baseDelayMs. */
  backoff?: (retry: number) => number;
}

/** The most ending a run waits between two attempts. */
const END_RUN_MAX_DELAY_MS = 60_000;

type Body = RequestInit['body'] | (() => RequestInit['body']);

export class Transport {
  /** Scheme, host and path prefix, without credentials or a trailing slash. */
  readonly baseUrl: string;
  requestCount = 0;
  readonly timeoutMs: number;
  readonly attempts: number;
  readonly uploadConcurrency: number;
  readonly logBatchStreams: number;
  /** The retry budget of the call that ends a run (see MlflowClientOptions.endRunRetries). */
  readonly endRun: Required<Pick<CallOptions, 'attempts' | 'backoff'>>;
  private readonly baseDelayMs: number;
  private readonly auth?: string;
  /** TLS options for node:https, and the undici dispatcher that applies them to fetch. */
  private readonly tls: ReturnType<typeof connectOptions>;
  private readonly dispatcher?: Dispatcher;
  /** Which credentials were sent, for 401/403 messages (never the secret itself). */
  private readonly credentials: string;

  constructor(opts: MlflowClientOptions) {
    this.baseUrl = opts.trackingUri;
    this.tls = connectOptions(opts.tls ?? {});
    if (Object.keys(this.tls).length) this.dispatcher = new Agent({ connect: this.tls });
    const { username, password, token } = opts;
    // Same precedence as mlflow.utils.rest_utils.http_request: Basic when both are set, else Bearer.
    if (username && password) {
      this.auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
      this.credentials = `user '${username}' of ${opts.credentialsSource ?? 'MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD'}`;
    } else if (token) {
      this.auth = `Bearer ${token}`;
      this.credentials = 'MLFLOW_TRACKING_TOKEN';
    } else {
      this.credentials = '';
    }
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.attempts = Math.max(1, opts.attempts ?? 4);
    this.baseDelayMs = opts.baseDelayMs ?? 250;
    this.uploadConcurrency = Math.max(1, opts.uploadConcurrency ?? 8);
    this.logBatchStreams = Math.max(1, opts.logBatchStreams ?? 4);
    const factor = opts.endRunBackoffFactorMs ?? 2000;
    this.endRun = {
      attempts: Math.max(0, opts.endRunRetries ?? 7) + 1,
      backoff: (retry) => Math.min(END_RUN_MAX_DELAY_MS, factor * 2 ** (retry - 1)),
    };
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': 'mlops-actions-mlflow-client', ...extra };
    if (this.auth) h.authorization = this.auth;
    return h;
  }

  /** A REST call under /api/2.0/mlflow: GET sends `body` as query parameters, the rest as JSON. */
  async call<T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body?: Record<string, unknown>,
    opts: CallOptions = {},
  ): Promise<T> {
    let url = `${this.baseUrl}${API}${path}`;
    const init: RequestInit = { method, headers: this.headers() };
    if (method === 'GET') {
      const qs = toQuery(body);
      if (qs) url += `?${qs}`;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = this.headers({ 'content-type': 'application/json' });
    }
    const res = await this.send(url, init, opts);
    const text = await res.text();
    if (!text) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new MlflowError(
        `MLflow ${method} ${pathOf(url)} answered HTTP ${res.status} with a body that is not JSON: ${snippet(text)}`,
        res.status,
      );
    }
  }

  /** Any request to the server; non-2xx answers become MlflowError. The body may be a factory so retries re-open streams. */
  async send(
    url: string,
    init: Omit<RequestInit, 'body'> & { body?: Body },
    opts: CallOptions = {},
  ): Promise<Response> {
    // Node's fetch takes an undici dispatcher; RequestInit's type does not know the field.
    const withTls = this.dispatcher ? ({ ...init, dispatcher: this.dispatcher } as typeof init) : init;
    return this.exchange(url, init.method ?? 'GET', (retry) => fetchWithRetry(url, withTls, retry), opts);
  }

  /**
   * A PUT whose body is piped from `open()` (a fresh stream per attempt) over node:http(s), so
   * memory stays bounded whatever the size: fetch keeps a stream body in memory (undici's
   * "Request stream contents are kept in memory when using fetch").
   */
  async put(
    url: string,
    headers: Record<string, string>,
    open: () => Readable | Buffer,
    opts: CallOptions = {},
  ): Promise<Response> {
    return this.exchange(
      url,
      'PUT',
      (retry) =>
        withRetry(`PUT ${url}`, (signal) => streamedPut(url, headers, open(), signal, this.tls), retry),
      opts,
    );
  }

  private async exchange(
    url: string,
    method: string,
    go: (retry: RetryOptions) => Promise<Response>,
    opts: CallOptions,
  ): Promise<Response> {
    const retry: RetryOptions = {
      attempts: opts.attempts ?? this.attempts,
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      baseDelayMs: this.baseDelayMs,
      backoff: opts.backoff,
      onRetry: () => this.requestCount++,
    };
    this.requestCount++;
    let res: Response;
    try {
      res = await go(retry);
    } catch (err) {
      const reason = err instanceof HttpError ? err.message : (err as Error).message;
      throw new MlflowError(`cannot reach MLflow at ${this.baseUrl}: ${reason.replace(url, pathOf(url))}`);
    }
    if (res.ok) return res;
    const err = await toMlflowError(method, url, res);
    if (res.status !== 401 && res.status !== 403) throw err;
    throw new MlflowError(`${err.message} (${this.credentialHint(res.status)})`, err.status, err.errorCode);
  }

  /** What a 401/403 means for the credentials sent, naming the variables that hold them. */
  credentialHint(status: number): string {
    if (!this.credentials) {
      return 'no credentials were sent: set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN';
    }
    if (status === 401) return `the server did not accept the credentials: ${this.credentials}`;
    return `${this.credentials} lacks this permission: an MLflow admin can grant it (EDIT on the experiment and the registered model)`;
  }
}

export async function toMlflowError(method: string, url: string, res: Response): Promise<MlflowError> {
  const text = await res.text().catch(() => '');
  let code: string | undefined;
  let message: string | undefined;
  try {
    const body = JSON.parse(text) as { error_code?: unknown; message?: unknown };
    if (typeof body.error_code === 'string') code = body.error_code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    /* not JSON: proxies, auth front-ends and unknown routes answer HTML or plain text */
  }
  code ??= STATUS_TO_ERROR_CODE[res.status];
  message ??= snippet(text) || res.statusText;
  return new MlflowError(
    `MLflow ${method} ${pathOf(url)} failed: HTTP ${res.status}${code ? ` ${code}` : ''}: ${message}`,
    res.status,
    code,
  );
}

/**
 * One PUT over node:http(s) with `body` piped in (backpressure keeps memory bounded); the answer
 * as a Response, like fetch's. Rejects with the connection error, or the signal's reason on timeout.
 */
function streamedPut(
  url: string,
  headers: Record<string, string>,
  body: Readable | Buffer,
  signal: AbortSignal,
  tls: ReturnType<typeof connectOptions>,
): Promise<Response> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      if (body instanceof Readable) body.destroy();
      reject(signal.aborted ? signal.reason : err);
    };
    const req = request(u, { method: 'PUT', headers, signal, ...tls }, (res: IncomingMessage) => {
      // The server may answer (say 401) before taking the whole body: stop sending.
      if (body instanceof Readable) body.unpipe(req);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        if (settled) return;
        settled = true;
        if (body instanceof Readable) body.destroy();
        const status = res.statusCode ?? 502;
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        }
        const noBody = status === 204 || status === 205 || status === 304 || chunks.length === 0;
        resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, headers: h }));
      });
    });
    req.on('error', fail);
    if (Buffer.isBuffer(body)) req.end(body);
    else pipeline(body, req).catch(fail);
  });
}

function toQuery(body?: Record<string, unknown>): string {
  if (!body) return '';
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) qs.append(k, String(item));
    else qs.append(k, String(v));
  }
  return qs.toString();
}

/** Path and query of a URL, for messages (the base URL is given once, in front). */
export function pathOf(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

function snippet(text: string): string {
  return text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}
