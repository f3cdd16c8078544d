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
import type { Dispatcher } from './dispatch.js';
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

  const send = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void => {
    if (res.headersSent) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type':
        typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...(stopping ? { connection: 'close' } : {}),
      ...headers,
    });
    res.end(text);
  };

  async function notification(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const id = randomUUID();
    const done = (
      outcome: Outcome,
      status: number,
      body: unknown,
      headers?: Record<string, string>,
    ): void => {
      metrics.notifications.inc({ outcome });
      metrics.duration.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
      send(res, status, body, headers);
    };
    if (!authorized(req.headers.authorization)) {
      req.resume();
      log.warn('unauthorized notification', { id, remote: req.socket.remoteAddress });
      return done(
        'unauthorized',
        401,
        { error: 'unauthorized' },
        { 'www-authenticate': 'Bearer realm="relay"' },
      );
    }
    if (stopping) {
      req.resume();
      return done('unavailable', 503, { error: 'shutting down; retry' }, { 'retry-after': '1' });
    }
    const type = req.headers['content-type'];
    if (!isJson(type)) {
      req.resume();
      log.warn('notification with a wrong content type', { id, contentType: type ?? null });
      return done(
        'rejected',
        415,
        { error: `Content-Type must be application/json, got ${type ? `'${type}'` : 'none'}` },
        { 'accept-post': 'application/json' },
      );
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, cfg.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        req.resume();
        return done('rejected', 413, { error: `body larger than ${cfg.maxBodyBytes} bytes` });
      }
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return done('rejected', 400, { error: `body is not JSON: ${(err as Error).message}` });
    }
    let group: string;
    try {
      // Any number of alerts: wrap() trims them to what GitHub takes and counts the rest.
      group = groupId(validateNotification(parsed, 'body', { maxAlerts: Infinity })).label;
    } catch (err) {
      if (err instanceof PayloadError) {
        log.warn('invalid notification', { id, error: err.message });
        return done('rejected', 400, { error: err.message });
      }
      throw err;
    }
    const body = parsed as Parameters<typeof wrap>[0];
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
    const result = await dispatcher.send(wrapped.request, id);
    const fields = { id, group, status: body.status, alerts: body.alerts.length, attempts: result.attempts };
    if (result.ok) {
      log.info('delivered', { ...fields, bytes: wrapped.bytes, trimmed: wrapped.trimmedAlerts });
      return done('delivered', 200, { status: 'delivered', id, trimmedAlerts: wrapped.trimmedAlerts });
    }
    if (result.status === 422) {
      // GitHub refuses this payload as invalid; sending it again gets the same answer, and a
      // 5xx would make Alertmanager retry it until the notification expires. A 4xx it does not
      // retry; the loss is logged and counted (relay_notifications_total{outcome="undeliverable"}).
      log.error('GitHub rejected the dispatch (422); not asking Alertmanager to retry', {
        ...fields,
        githubStatus: result.status,
        reason: result.reason,
      });
      return done('undeliverable', 422, { error: result.reason, id, retryable: false });
    }
    log.error('delivery failed; Alertmanager will retry', {
      ...fields,
      githubStatus: result.status,
      reason: result.reason,
    });
    const headers: Record<string, string> = {};
    if (result.retryAfterMs !== undefined)
      headers['retry-after'] = String(Math.ceil(result.retryAfterMs / 1000));
    // 5xx is what Alertmanager retries; 503 with Retry-After when GitHub asked us to wait.
    return done(
      'failed',
      result.retryAfterMs !== undefined ? 503 : 502,
      { error: result.reason, id },
      headers,
    );
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/alertmanager') {
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
      return;
    }
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      return send(res, stopping ? 503 : 200, { status: stopping ? 'stopping' : 'ok', inFlight });
    }
    if (path === '/metrics' && req.method === 'GET') {
      metrics.registry
        .metrics()
        .then((text) => send(res, 200, text, { 'content-type': metrics.registry.contentType }))
        .catch((err: Error) => send(res, 500, { error: err.message }));
      return;
    }
    send(res, 404, { error: 'not found' });
  });
  // Alertmanager keeps connections open; a slow client must not hold a socket forever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 65_000;

  return {
    server,
    get inFlight() {
      return inFlight;
    },
    async shutdown() {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const drained = await new Promise<boolean>((resolve) => {
        if (inFlight === 0) return resolve(true);
        const timer = setTimeout(() => resolve(false), cfg.shutdownTimeoutMs);
        idle.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      const abandoned = inFlight;
      server.closeAllConnections();
      await closed;
      return { drained, abandoned };
    },
  };
}
