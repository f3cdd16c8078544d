/** Prometheus metrics of the relay, on its own registry (served at /metrics). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * `undeliverable`: GitHub refused the dispatch with 422, which no retry changes; Alertmanager is
 * answered 4xx (it does not retry those), so this count is where such notifications show.
 */
export type Outcome = 'delivered' | 'rejected' | 'unauthorized' | 'failed' | 'unavailable' | 'undeliverable';

export class RelayMetrics {
  readonly registry = new Registry();
  readonly notifications = new Counter({
    name: 'relay_notifications_total',
    help: 'Alertmanager notifications received, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly attempts = new Counter({
    name: 'relay_dispatch_attempts_total',
    help: 'Requests to the GitHub dispatches API, by HTTP status (or "error" for network failures).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'relay_notification_duration_seconds',
    help: 'Time from receiving a notification to answering Alertmanager.',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly trimmed = new Counter({
    name: 'relay_trimmed_alerts_total',
    help: 'Alerts left out of dispatches to stay within GitHub client_payload limits.',
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'relay_in_flight_notifications',
    help: 'Notifications being delivered right now.',
    registers: [this.registry],
  });

  constructor({ defaults = true }: { defaults?: boolean } = {}) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}
