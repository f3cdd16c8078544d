/**
 * The relay's HTTP side: `POST /alertmanager` (bearer auth, validation, wrap, deliver),
 * `GET /healthz`, `GET /metrics`. Alertmanager is answered only after GitHub accepted the
 * dispatch; a delivery that finally fails is answered 5xx so that Alertmanager retries it,
 * except GitHub's 422, which no retry changes (answered 422, logged and counted).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PayloadError, validateNotification } from '../alert-to-issue/webhook.js';
import { groupId } from '../alert-to-issue/group.js';
import { bearerCheck } from './auth.js';
import type { RelayConfig } from './config.js';
import type { DispatchResult, Dispatcher } from './dispatch.js';
import type { Logger } from './log.js';
import type { Outcome, RelayMetrics } from './metrics.js';
import { wrap } from './wrap.js';

export interface Relay {
  server: Server;
  /** Stops accepting, lets in-flight deliveries finish (up to the shutdown timeout). */
  shutdown(): Promise<{ drained: boolean; abandoned: number }>;
  readonly inFlight: number;
}

class BodyTooLarge extends Error {}

/** `application/json` (parameters such as charset allowed) or a `+json` type: what Alertmanager sends. */
function isJson(header: string | undefined): boolean {
  const type = (header ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(type);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(new BodyTooLarge());
  // Events rather than an async iterator: cheaper per request, which counts at thousands a second.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > max) {
        req.off('data', onData);
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** What a notification is answered: the outcome counted, and the HTTP answer. */
interface Reply {
  outcome: Outcome;
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const reject = (status: number, error: string, headers?: Record<string, string>): Reply => ({
  outcome: 'rejected',
  status,
  body: { error },
  headers,
});

/** The checks made before the body is read: auth, shutdown, content type. */
function admit(
  req: IncomingMessage,
  id: string,
  authorized: boolean,
  stopping: boolean,
  log: Logger,
): Reply | undefined {
  if (!authorized) {
    log.warn('unauthorized notification', { id, remote: req.socket.remoteAddress });
    return {
      outcome: 'unauthorized',
      status: 401,
      body: { error: 'unauthorized' },
      headers: { 'www-authenticate': 'Bearer realm="relay"' },
    };
  }
  if (stopping) {
    return {
      outcome: 'unavailable',
      status: 503,
      body: { error: 'shutting down; retry' },
      headers: { 'retry-after': '1' },
    };
  }
  const type = req.headers['content-type'];
  if (!isJson(type)) {
    log.warn('notification with a wrong content type', { id, contentType: type ?? null });
    return reject(415, `Content-Type must be application/json, got ${type ? `'${type}'` : 'none'}`, {
      'accept-post': 'application/json',
    });
  }
  return undefined;
}

type Body = Parameters<typeof wrap>[0];

/** The body read, parsed and validated; or the 4xx that says why not. */
async function readNotification(
  req: IncomingMessage,
  id: string,
  cfg: RelayConfig,
  log: Logger,
): Promise<{ body: Body; group: string } | Reply> {
  let raw: Buffer;
  try {
    raw = await readBody(req, cfg.maxBodyBytes);
  } catch (err) {
    if (!(err instanceof BodyTooLarge)) throw err;
    req.resume();
    return reject(413, `body larger than ${cfg.maxBodyBytes} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    return reject(400, `body is not JSON: ${(err as Error).message}`);
  }
  try {
    // Any number of alerts: wrap() trims them to what GitHub takes and counts the rest.
    const group = groupId(validateNotification(parsed, 'body', { maxAlerts: Infinity })).label;
    return { body: parsed as Body, group };
  } catch (err) {
    if (!(err instanceof PayloadError)) throw err;
    log.warn('invalid notification', { id, error: err.message });
    return reject(400, err.message);
  }
}

/** GitHub's answer to the dispatch, as Alertmanager should hear it. */
function replyToDispatch(
  result: Extract<DispatchResult, { ok: false }>,
  fields: Record<string, unknown>,
  log: Logger,
): Reply {
  const id = fields.id;
  const logged = { ...fields, githubStatus: result.status, reason: result.reason };
  if (result.status === 422) {
    // GitHub refuses this payload as invalid; sending it again gets the same answer, and a
    // 5xx would make Alertmanager retry it until the notification expires. A 4xx it does not
    // retry; the loss is logged and counted (relay_notifications_total{outcome="undeliverable"}).
    log.error('GitHub rejected the dispatch (422); not asking Alertmanager to retry', logged);
    return { outcome: 'undeliverable', status: 422, body: { error: result.reason, id, retryable: false } };
  }
  log.error('delivery failed; Alertmanager will retry', logged);
  const headers: Record<string, string> = {};
  if (result.retryAfterMs !== undefined)
    headers['retry-after'] = String(Math.ceil(result.retryAfterMs / 1000));
  // 5xx is what Alertmanager retries; 503 with Retry-After when GitHub asked us to wait.
  return {
    outcome: 'failed',
    status: result.retryAfterMs !== undefined ? 503 : 502,
    body: { error: result.reason, id },
    headers,
  };
}

/** Wraps the notification into a repository_dispatch and delivers it. */
async function deliver(
  notification: { body: Body; group: string },
  id: string,
  cfg: RelayConfig,
  deps: { dispatcher: Dispatcher; metrics: RelayMetrics; log: Logger },
): Promise<Reply> {
  const { body, group } = notification;
  const { metrics, log } = deps;
  const wrapped = wrap(body, {
    eventType: cfg.eventType,
    maxBytes: cfg.maxPayloadBytes,
    id,
    receivedAt: new Date().toISOString(),
  });
  if (wrapped.trimmedAlerts) {
    metrics.trimmed.inc(wrapped.trimmedAlerts);
    log.warn('alerts trimmed to fit client_payload', {
      id,
      group,
      trimmed: wrapped.trimmedAlerts,
      bytes: wrapped.bytes,
    });
  }
  const result = await deps.dispatcher.send(wrapped.request, id);
  const fields = { id, group, status: body.status, alerts: body.alerts.length, attempts: result.attempts };
  if (!result.ok) return replyToDispatch(result, fields, log);
  log.info('delivered', { ...fields, bytes: wrapped.bytes, trimmed: wrapped.trimmedAlerts });
  return {
    outcome: 'delivered',
    status: 200,
    body: { status: 'delivered', id, trimmedAlerts: wrapped.trimmedAlerts },
  };
}

/** JSON, or the Prometheus text format for a string body. */
function respond(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  if (res.headersSent) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type':
      typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Alertmanager keeps connections open; a slow client must not hold a socket forever. */
function boundTimeouts(server: Server): void {
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 65_000;
}

function serveMetrics(res: ServerResponse, registry: RelayMetrics['registry'], send: typeof respond): void {
  registry
    .metrics()
    .then((text) => send(res, 200, text, { 'content-type': registry.contentType }))
    .catch((err: Error) => send(res, 500, { error: err.message }, {}));
}

/** Resolves true once nothing is in flight, false after the shutdown timeout. */
function whenIdle(inFlight: () => number, idle: Array<() => void>, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    if (inFlight() === 0) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    idle.push(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export function createRelay(
  cfg: RelayConfig,
  dispatcher: Dispatcher,
  metrics: RelayMetrics,
  log: Logger,
): Relay {
  let inFlight = 0;
  let stopping = false;
  const authorized = bearerCheck(cfg.bearerToken);
  const idle: Array<() => void> = [];

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
    respond(res, status, body, { ...(stopping ? { connection: 'close' } : {}), ...headers });

  async function notification(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const id = randomUUID();
    const refused = admit(req, id, authorized(req.headers.authorization), stopping, log);
    // A refused body is drained unread, so the connection can be kept.
    if (refused) req.resume();
    const read = refused ?? (await readNotification(req, id, cfg, log));
    const reply = 'outcome' in read ? read : await deliver(read, id, cfg, { dispatcher, metrics, log });
    metrics.notifications.inc({ outcome: reply.outcome });
    metrics.duration.observe({ outcome: reply.outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    send(res, reply.status, reply.body, reply.headers);
  }

  const alertmanager = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST' }, { allow: 'POST' });
    inFlight++;
    metrics.inFlight.inc();
    notification(req, res)
      .catch((err: Error) => {
        log.error('relay error', { error: err.message });
        send(res, 500, { error: 'relay error' });
      })
      .finally(() => {
        inFlight--;
        metrics.inFlight.dec();
        if (inFlight === 0) idle.splice(0).forEach((f) => f());
      });
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/alertmanager') return alertmanager(req, res);
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      return send(res, stopping ? 503 : 200, { status: stopping ? 'stopping' : 'ok', inFlight });
    }
    if (path === '/metrics' && req.method === 'GET') return serveMetrics(res, metrics.registry, send);
    send(res, 404, { error: 'not found' });
  });
  boundTimeouts(server);

  return {
    server,
    get inFlight() {
      return inFlight;
    },
    async shutdown() {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const ok = await whenIdle(() => inFlight, idle, cfg.shutdownTimeoutMs);
      const abandoned = inFlight;
      server.closeAllConnections();
      await closed;
      return { drained: ok, abandoned };
    },
  };
}
