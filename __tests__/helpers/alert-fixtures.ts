/** Alertmanager webhook bodies (version 4) for tests, shaped exactly as Alertmanager posts them. */
import { createHash } from 'node:crypto';

export interface AlertSpec {
  name?: string;
  status?: 'firing' | 'resolved';
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  fingerprint?: string;
}

export interface NotificationSpec {
  status?: 'firing' | 'resolved';
  receiver?: string;
  groupKey?: string | null;
  groupLabels?: Record<string, string>;
  alerts?: AlertSpec[];
  commonAnnotations?: Record<string, string>;
  truncatedAlerts?: number;
}

const ZERO = '0001-01-01T00:00:00Z';

export function alert(spec: AlertSpec = {}): Record<string, unknown> {
  const status = spec.status ?? 'firing';
  const labels = {
    alertname: spec.name ?? 'ModelLatencyHigh',
    severity: 'critical',
    model: 'iris',
    ...spec.labels,
  };
  return {
    status,
    labels,
    annotations: { summary: 'p99 latency above 500 ms', ...spec.annotations },
    startsAt: spec.startsAt ?? '2026-11-26T10:00:00.000Z',
    endsAt: spec.endsAt ?? (status === 'resolved' ? '2026-11-26T10:30:00.000Z' : ZERO),
    generatorURL: 'http://prometheus.example:9090/graph?g0.expr=latency_p99+%3E+0.5',
    // Alertmanager's fingerprint is a 64-bit hash of the label set.
    fingerprint:
      spec.fingerprint ?? createHash('sha256').update(JSON.stringify(labels)).digest('hex').slice(0, 16),
  };
}

export function notification(spec: NotificationSpec = {}): Record<string, unknown> {
  const alerts = (spec.alerts ?? [{}]).map((a) => alert({ status: spec.status, ...a }));
  const status = spec.status ?? (alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved');
  const groupLabels = spec.groupLabels ?? { alertname: 'ModelLatencyHigh', model: 'iris' };
  const common: Record<string, string> = { ...(alerts[0]!.labels as Record<string, string>) };
  for (const a of alerts) {
    for (const [k, v] of Object.entries(common))
      if ((a.labels as Record<string, string>)[k] !== v) delete common[k];
  }
  const body: Record<string, unknown> = {
    receiver: spec.receiver ?? 'github',
    status,
    alerts,
    groupLabels,
    commonLabels: common,
    commonAnnotations: spec.commonAnnotations ?? {},
    externalURL: 'http://alertmanager.example:9093',
    version: '4',
    groupKey:
      spec.groupKey === undefined
        ? `{}/{severity="critical"}:{alertname="${groupLabels.alertname ?? ''}", model="${groupLabels.model ?? ''}"}`
        : spec.groupKey,
    truncatedAlerts: spec.truncatedAlerts ?? 0,
  };
  if (body.groupKey === null) delete body.groupKey;
  return body;
}

/** The repository_dispatch event the runner writes to GITHUB_EVENT_PATH. */
export function dispatchEvent(clientPayload: unknown, eventType = 'alertmanager'): Record<string, unknown> {
  return {
    action: eventType,
    branch: 'main',
    client_payload: clientPayload,
    repository: { full_name: 'octo-org/iris', name: 'iris', owner: { login: 'octo-org' } },
    sender: { login: 'alert-relay[bot]', type: 'Bot' },
  };
}
