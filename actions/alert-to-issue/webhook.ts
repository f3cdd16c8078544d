/**
 * The Alertmanager webhook body (version 4) and the three envelopes it reaches the action in:
 *
 * - bare: the body exactly as Alertmanager posts it (`payload` input, `payload-file`, or a
 *   `client_payload` that is the body itself);
 * - wrapped: `{ "alertmanager": <body>, "relay": {...} }`, what the relay in this repository puts in
 *   `client_payload` (GitHub allows at most 10 top-level keys there; the body has 10 already);
 * - direct: what the `payload:` template in platform/alertmanager/alertmanager-direct.yml renders
 *   (Alertmanager >= 0.32): string fields only, labels and alerts encoded as URL query strings.
 *
 * The relay imports this module too, so both sides agree on one contract.
 */

import { fullFormats } from 'ajv-formats/dist/formats.js';

export const WRAPPED_KEY = 'alertmanager';
export const RELAY_KEY = 'relay';
export const DIRECT_FORMAT = 'alertmanager-direct/v1';

export type Status = 'firing' | 'resolved';
export type KV = Record<string, string>;

export interface Alert {
  status: Status;
  labels: KV;
  annotations: KV;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
  fingerprint?: string;
}

export interface Notification {
  version?: string;
  groupKey?: string;
  truncatedAlerts?: number;
  status: Status;
  receiver: string;
  groupLabels: KV;
  commonLabels: KV;
  commonAnnotations: KV;
  externalURL?: string;
  alerts: Alert[];
}

export interface RelayInfo {
  id?: string;
  receivedAt?: string;
  /** Alerts the relay dropped to fit GitHub's 64 KB limit (also counted in truncatedAlerts). */
  trimmedAlerts?: number;
}

export interface Extracted {
  notification: Notification;
  form: 'bare' | 'wrapped' | 'direct';
  relay?: RelayInfo;
}

/** A payload that is not an Alertmanager notification; the message names the field. */
export class PayloadError extends Error {
  constructor(
    readonly field: string,
    expected: string,
    got?: unknown,
  ) {
    super(`${field}: expected ${expected}${got === undefined ? '' : `, got ${describe(got)}`}`);
    this.name = 'PayloadError';
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    const s = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `'${s}'`;
  }
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Most alerts alert-to-issue takes in one notification (the relay trims to far fewer). */
export const MAX_ALERTS = 5000;
const MAX_STRING = 64 * 1024;

function str(obj: Record<string, unknown>, key: string, path: string, required: boolean): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) throw new PayloadError(`${path}.${key}`, 'a string (it is required)');
    return undefined;
  }
  if (typeof v !== 'string') throw new PayloadError(`${path}.${key}`, 'a string', v);
  if (v.length > MAX_STRING) throw new PayloadError(`${path}.${key}`, `at most ${MAX_STRING} characters`);
  return v;
}

function kv(obj: Record<string, unknown>, key: string, path: string, required = false): KV {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) throw new PayloadError(`${path}.${key}`, 'an object of strings (it is required)');
    return {};
  }
  if (!isObject(v)) throw new PayloadError(`${path}.${key}`, 'an object of strings', v);
  const out: KV = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw new PayloadError(`${path}.${key}.${k}`, 'a string', value);
    out[k] = value;
  }
  return out;
}

function status(obj: Record<string, unknown>, path: string): Status {
  const v = obj.status;
  if (v !== 'firing' && v !== 'resolved')
    throw new PayloadError(`${path}.status`, "'firing' or 'resolved'", v);
  return v;
}

function timestamp(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  required: boolean,
): string | undefined {
  const v = str(obj, key, path, required);
  // Date.parse takes '1' and 'March 7, 2026' and rolls 2026-02-30 over to March: only the
  // RFC 3339 date-time that Alertmanager writes (with a real calendar date) is accepted.
  if (v !== undefined && !isRfc3339(v)) {
    throw new PayloadError(`${path}.${key}`, 'an RFC 3339 timestamp', v);
  }
  return v;
}

const dateTime = fullFormats['date-time'] as { validate: (s: string) => boolean };

/** An RFC 3339 date-time with a time zone, a real calendar date and the `T` separator. */
export function isRfc3339(value: string): boolean {
  return /^\d{4}-\d\d-\d\dT/i.test(value) && dateTime.validate(value);
}

/**
 * Checks a v4 webhook body field by field; `path` prefixes every field named in errors.
 * `maxAlerts` is the relay's way out: it trims any number of alerts to GitHub's limits, so a
 * large group is not refused there (Alertmanager's max_alerts is 0, i.e. unlimited).
 */
export function validateNotification(
  value: unknown,
  path = 'payload',
  { maxAlerts = MAX_ALERTS }: { maxAlerts?: number } = {},
): Notification {
  if (!isObject(value)) throw new PayloadError(path, 'an Alertmanager webhook body (a JSON object)', value);
  const version = str(value, 'version', path, false);
  if (version !== undefined && version !== '4') throw new PayloadError(`${path}.version`, "'4'", version);
  const groupKey = str(value, 'groupKey', path, false);
  const receiver = str(value, 'receiver', path, groupKey === undefined) ?? '';
  let truncatedAlerts: number | undefined;
  if (value.truncatedAlerts !== undefined && value.truncatedAlerts !== null) {
    const t = value.truncatedAlerts;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) {
      throw new PayloadError(`${path}.truncatedAlerts`, 'a non-negative integer', t);
    }
    truncatedAlerts = t;
  }
  const rawAlerts = value.alerts;
  if (!Array.isArray(rawAlerts)) throw new PayloadError(`${path}.alerts`, 'an array of alerts', rawAlerts);
  if (rawAlerts.length === 0) throw new PayloadError(`${path}.alerts`, 'at least one alert', '[]');
  if (rawAlerts.length > maxAlerts) {
    throw new PayloadError(`${path}.alerts`, `at most ${maxAlerts} alerts`, `${rawAlerts.length}`);
  }
  const alerts = rawAlerts.map((a, i) => validateAlert(a, `${path}.alerts[${i}]`));
  return {
    version,
    groupKey: groupKey === '' ? undefined : groupKey,
    truncatedAlerts,
    status: status(value, path),
    receiver,
    groupLabels: kv(value, 'groupLabels', path),
    commonLabels: kv(value, 'commonLabels', path),
    commonAnnotations: kv(value, 'commonAnnotations', path),
    externalURL: str(value, 'externalURL', path, false),
    alerts,
  };
}

function validateAlert(value: unknown, path: string): Alert {
  if (!isObject(value)) throw new PayloadError(path, 'an alert object', value);
  const labels = kv(value, 'labels', path, true);
  if (Object.keys(labels).length === 0) throw new PayloadError(`${path}.labels`, 'at least one label', '{}');
  const endsAt = timestamp(value, 'endsAt', path, false);
  return {
    status: status(value, path),
    labels,
    annotations: kv(value, 'annotations', path),
    startsAt: timestamp(value, 'startsAt', path, true)!,
    // Alertmanager sends Go's zero time for alerts that have not ended.
    endsAt: endsAt === undefined || endsAt.startsWith('0001-') ? undefined : endsAt,
    generatorURL: str(value, 'generatorURL', path, false),
    fingerprint: str(value, 'fingerprint', path, false),
  };
}

/** `a=1&b=2`, as Go's `urlquery` writes it (spaces as `+`). */
function parseQuery(text: string): KV {
  const out: KV = {};
  for (const [k, v] of new URLSearchParams(text)) if (k !== '') out[k] = v;
  return out;
}

/** Keys of one direct-form alert that are not `l.*` / `a.*`; anything else is named in an error. */
const DIRECT_ALERT_KEYS = new Set(['status', 'startsAt', 'endsAt', 'generatorURL', 'fingerprint']);

function decodeDirectAlert(line: string, path: string): Record<string, unknown> {
  const labels: KV = {};
  const annotations: KV = {};
  const alert: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(line)) {
    if (k.startsWith('l.')) labels[k.slice(2)] = v;
    else if (k.startsWith('a.')) annotations[k.slice(2)] = v;
    else if (DIRECT_ALERT_KEYS.has(k)) alert[k] = v;
    else {
      // A bare `labels=`/`annotations=` (or any other key) would otherwise replace the maps.
      throw new PayloadError(
        `${path}.${k}`,
        `one of ${[...DIRECT_ALERT_KEYS].join(', ')} or an l.<label> / a.<annotation> key`,
        v,
      );
    }
  }
  return { ...alert, labels, annotations };
}

/**
 * A scalar of the direct form. The template sends `{{ .Receiver | urlquery }}&`: the `&` keeps
 * Alertmanager's YAML pass from reading `12345`, `true`, `null` or `~` as a number, boolean or
 * null. A value without the `&` is from a template that did not encode it and is taken as is.
 */
function scalar(value: string | undefined): string | undefined {
  if (value === undefined || !value.endsWith('&')) return value;
  return new URLSearchParams(`v=${value.slice(0, -1)}`).get('v') ?? '';
}

/**
 * The direct form: alerts separated by whitespace, each a query string with `status`,
 * `startsAt`, `endsAt`, `generatorURL`, `fingerprint`, and `l.<label>` / `a.<annotation>` pairs
 * (URL encoding never leaves whitespace inside one).
 */
export function decodeDirect(value: Record<string, unknown>, path: string): Notification {
  const field = (key: string, required = false): string | undefined => str(value, key, path, required);
  const alertsText = field('alerts', true)!;
  const alerts = alertsText
    .split(/\s+/)
    .filter(Boolean)
    .map((line, i) => decodeDirectAlert(line, `${path}.alerts[${i}]`));
  const truncated = field('truncatedAlerts');
  return validateNotification(
    {
      status: scalar(field('status')),
      receiver: scalar(field('receiver', true)),
      groupLabels: parseQuery(field('groupLabels') ?? ''),
      commonLabels: parseQuery(field('commonLabels') ?? ''),
      commonAnnotations: parseQuery(field('commonAnnotations') ?? ''),
      externalURL: scalar(field('externalURL')),
      truncatedAlerts: truncated === undefined || truncated === '' ? undefined : Number(truncated),
      alerts,
    },
    path,
  );
}

/**
 * Finds the notification in whatever the action was given: a repository_dispatch event, a
 * `{event_type, client_payload}` request, a wrapped client_payload, the direct form, or a bare body.
 */
export function extractNotification(raw: unknown, source = 'payload'): Extracted {
  let value = raw;
  let path = source;
  if (isObject(value) && 'client_payload' in value) {
    value = value.client_payload;
    path = `${path}.client_payload`;
  }
  if (!isObject(value)) throw new PayloadError(path, 'a JSON object', value);
  if (WRAPPED_KEY in value) {
    const relay = isObject(value[RELAY_KEY]) ? (value[RELAY_KEY] as RelayInfo) : undefined;
    return {
      notification: validateNotification(value[WRAPPED_KEY], `${path}.${WRAPPED_KEY}`),
      form: 'wrapped',
      relay,
    };
  }
  if (value.format === DIRECT_FORMAT) return { notification: decodeDirect(value, path), form: 'direct' };
  if (typeof value.format === 'string') {
    throw new PayloadError(
      `${path}.format`,
      `'${DIRECT_FORMAT}' (or no format for a bare body)`,
      value.format,
    );
  }
  return { notification: validateNotification(value, path), form: 'bare' };
}
