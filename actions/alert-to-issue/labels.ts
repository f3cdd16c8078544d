/**
 * Issue labels: the fixed ones from the `labels` input, the group label, and `name:value` for an
 * alert label only when that exact pair is in the allowlist. Alert text never names a label.
 */
import { InputError } from '../shared/errors.js';
import type { Notification } from './webhook.js';

export interface AllowedLabel {
  name: string;
  value: string;
  /** The issue label, `name:value`. */
  label: string;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
export const MAX_LABEL = 50;

export function parseAllowlist(entries: string[], input = 'label-allowlist'): AllowedLabel[] {
  return entries.map((entry) => {
    const at = entry.indexOf(':');
    const name = at < 0 ? '' : entry.slice(0, at).trim();
    const value = at < 0 ? '' : entry.slice(at + 1).trim();
    if (!LABEL_NAME.test(name) || value === '') {
      throw new InputError(
        input,
        'entries of the form alert-label-name:value, e.g. severity:critical',
        entry,
      );
    }
    const label = `${name}:${value}`;
    if (label.length > MAX_LABEL)
      throw new InputError(input, `labels of at most ${MAX_LABEL} characters`, label);
    return { name, value, label };
  });
}

export function parseStaticLabels(entries: string[], input = 'labels'): string[] {
  for (const l of entries) {
    if (l.length > MAX_LABEL) throw new InputError(input, `labels of at most ${MAX_LABEL} characters`, l);
  }
  return entries;
}

/** Allowlisted pairs present on any alert of the notification (or in its common labels). */
export function allowedLabels(n: Notification, allow: AllowedLabel[]): string[] {
  const present = (name: string, value: string): boolean =>
    n.commonLabels[name] === value || n.alerts.some((a) => a.labels[name] === value);
  return allow.filter((a) => present(a.name, a.value)).map((a) => a.label);
}

export function unique(labels: string[]): string[] {
  const seen = new Set<string>();
  return labels.filter((l) => {
    const key = l.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
