/**
 * Stable identities: the alert group (one issue per group) and the notification (so a redelivery
 * of the same notification is recognised and not commented twice).
 */
import { createHash } from 'node:crypto';
import type { Alert, KV, Notification } from './webhook.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const sorted = (kv: KV): [string, string][] =>
  Object.entries(kv).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export interface GroupId {
  /** sha256 of the group key, kept in the issue body's marker and compared in full. */
  id: string;
  /** `alert-group:<12 hex>`: the label the strongly consistent lookup filters on (<= 50 chars). */
  label: string;
  /** What the id was derived from, for the issue body. */
  basis: 'groupKey' | 'receiver+groupLabels';
}

export const GROUP_LABEL_PREFIX = 'alert-group:';

/**
 * Alertmanager's groupKey is stable across restarts (route path + group labels). Payload
 * templates cannot send it, so then the receiver and the group labels stand in for it.
 */
export function groupId(n: Notification): GroupId {
  const basis = n.groupKey ? 'groupKey' : 'receiver+groupLabels';
  const key = n.groupKey
    ? `groupKey\n${n.groupKey}`
    : `receiver\n${n.receiver}\n${JSON.stringify(sorted(n.groupLabels))}`;
  const id = sha256(key);
  return { id, label: `${GROUP_LABEL_PREFIX}${id.slice(0, 12)}`, basis };
}

/** An alert's identity within its group: Alertmanager's fingerprint, or a hash of its labels. */
export function alertKey(a: Alert): string {
  return a.fingerprint || sha256(JSON.stringify(sorted(a.labels))).slice(0, 16);
}

/**
 * Equal for the same notification delivered twice (relay retry, Alertmanager retry, manual
 * re-run); different as soon as an alert starts, resolves or joins the group. Relay metadata
 * and alert text are left out on purpose: they do not change what happened.
 */
export function notificationFingerprint(n: Notification, group: GroupId): string {
  const alerts = n.alerts
    .map((a) => [alertKey(a), a.status, a.startsAt, a.status === 'resolved' ? (a.endsAt ?? '') : ''])
    .sort((x, y) => (x.join() < y.join() ? -1 : 1));
  return sha256(JSON.stringify([group.id, n.status, n.truncatedAlerts ?? 0, alerts])).slice(0, 16);
}
