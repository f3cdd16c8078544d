/**
 * An Alertmanager body as a repository_dispatch request within GitHub's limits: at most 10
 * top-level keys in client_payload (the body alone has 10) and less than 64 KB. The body goes
 * whole under `alertmanager` (the form alert-to-issue documents as "wrapped"); when it is too
 * big, overlong texts are cut first, then alerts are left out (resolved ones before firing
 * ones) and counted in the body's own `truncatedAlerts`, as Alertmanager's max_alerts does.
 */
import { MAX_ALERTS, RELAY_KEY, WRAPPED_KEY, type RelayInfo } from '../alert-to-issue/webhook.js';

export interface DispatchRequest {
  event_type: string;
  client_payload: { [WRAPPED_KEY]: Record<string, unknown>; [RELAY_KEY]: RelayInfo };
}

export interface Wrapped {
  request: DispatchRequest;
  /** Bytes of JSON.stringify(client_payload). */
  bytes: number;
  trimmedAlerts: number;
}

type Body = Record<string, unknown> & { alerts: Record<string, unknown>[] };

const size = (v: unknown): number => Buffer.byteLength(JSON.stringify(v), 'utf8');

const MARK = '…[cut by relay]';

function cutStrings(kv: unknown, max: number): unknown {
  if (!kv || typeof kv !== 'object' || Array.isArray(kv)) return kv;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kv)) {
    out[k] = typeof v === 'string' && v.length > max ? v.slice(0, max) + MARK : v;
  }
  return out;
}

function cutAlert(a: Record<string, unknown>, max: number): Record<string, unknown> {
  return {
    ...a,
    annotations: cutStrings(a.annotations, max),
    generatorURL: typeof a.generatorURL === 'string' && a.generatorURL.length > max ? '' : a.generatorURL,
  };
}

export function wrap(
  body: Body,
  opts: { eventType: string; maxBytes: number; id: string; receivedAt: string },
): Wrapped {
  const relay: RelayInfo = { id: opts.id, receivedAt: opts.receivedAt };
  const make = (b: Record<string, unknown>, trimmed: number): DispatchRequest => ({
    event_type: opts.eventType,
    client_payload: { [WRAPPED_KEY]: b, [RELAY_KEY]: trimmed ? { ...relay, trimmedAlerts: trimmed } : relay },
  });
  const whole = make(body, 0);
  const wholeBytes = size(whole.client_payload);
  if (wholeBytes <= opts.maxBytes) return { request: whole, bytes: wholeBytes, trimmedAlerts: 0 };

  // Long descriptions are the usual culprit: cut texts before dropping whole alerts.
  for (const max of [4096, 1024, 256]) {
    const cut = {
      ...body,
      commonAnnotations: cutStrings(body.commonAnnotations, max),
      alerts: body.alerts.map((a) => cutAlert(a, max)),
    } as Body;
    const attempt = fit(cut, Number(body.truncatedAlerts) || 0, opts.maxBytes, make);
    if (attempt && (attempt.trimmedAlerts === 0 || max === 256)) return attempt;
  }
  // Not even one alert fits beside the group's common data: send the first alert bare.
  const first = body.alerts[0]!;
  const bare = {
    ...body,
    commonAnnotations: {},
    alerts: [{ ...first, annotations: {}, generatorURL: '' }],
  } as Body;
  const dropped = body.alerts.length - 1;
  const request = make({ ...bare, truncatedAlerts: (Number(body.truncatedAlerts) || 0) + dropped }, dropped);
  return { request, bytes: size(request.client_payload), trimmedAlerts: dropped };
}

/** Keeps as many alerts as fit (firing first, then resolved, each in the order received). */
function fit(
  body: Body,
  alreadyTruncated: number,
  maxBytes: number,
  make: (b: Record<string, unknown>, trimmed: number) => DispatchRequest,
): Wrapped | undefined {
  const ordered = [
    ...body.alerts.filter((a) => a.status === 'firing'),
    ...body.alerts.filter((a) => a.status !== 'firing'),
  ];
  // Room for the largest counts the relay could write, so adding them cannot overflow.
  const empty = make(
    { ...body, alerts: [], truncatedAlerts: alreadyTruncated + body.alerts.length },
    body.alerts.length,
  );
  let used = size(empty.client_payload);
  const kept: Record<string, unknown>[] = [];
  for (const a of ordered) {
    // 64 KB holds far fewer alerts than alert-to-issue takes; the cap makes that explicit.
    if (kept.length === MAX_ALERTS) break;
    const s = size(a) + (kept.length ? 1 : 0);
    if (used + s > maxBytes) break;
    kept.push(a);
    used += s;
  }
  if (kept.length === 0) return undefined;
  const dropped = body.alerts.length - kept.length;
  const request = make({ ...body, alerts: kept, truncatedAlerts: alreadyTruncated + dropped }, dropped);
  return { request, bytes: size(request.client_payload), trimmedAlerts: dropped };
}
