/**
 * Splits a log-batch into requests the server accepts. The limits are MLflow's own
 * (mlflow/utils/validation.py: MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH,
 * MAX_ENTITIES_PER_BATCH, MAX_BATCH_LOG_REQUEST_SIZE). Entities keep their order within each kind,
 * and splitBatch's requests are meant to be sent in sequence, so a metric's steps arrive in the
 * order given; planBatches makes several such sequences that may be sent side by side.
 */
import type { Metric, Param, Tag } from './types.js';

export const LIMITS = {
  metrics: 1000,
  params: 100,
  tags: 100,
  entities: 1000,
  /** Bytes of the JSON request body. */
  bytes: 1_000_000,
} as const;

export interface WireMetric {
  key: string;
  value: number | string;
  timestamp: number;
  step: number;
}

export interface BatchRequest {
  run_id: string;
  metrics: WireMetric[];
  params: Param[];
  tags: Tag[];
}

/** JSON has no NaN or infinities; MLflow's protobuf JSON takes them as these strings. */
export function wireValue(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return value;
}

export function readValue(value: number | string): number {
  return typeof value === 'number' ? value : Number(value);
}

export function splitBatch(
  runId: string,
  input: { metrics?: Metric[]; params?: Param[]; tags?: Tag[] },
  now: number = Date.now(),
  limits: typeof LIMITS = LIMITS,
): BatchRequest[] {
  const metrics: WireMetric[] = (input.metrics ?? []).map((m) => {
    if (typeof m.value !== 'number') {
      throw new TypeError(`metric '${m.key}' has a non-numeric value: ${JSON.stringify(m.value)}`);
    }
    return {
      key: m.key,
      value: wireValue(m.value),
      timestamp: Math.trunc(m.timestamp ?? now),
      step: Math.trunc(m.step ?? 0),
    };
  });
  const queues = {
    params: (input.params ?? []).map((p) => ({ key: p.key, value: String(p.value) })),
    tags: (input.tags ?? []).map((t) => ({ key: t.key, value: String(t.value) })),
    metrics,
  };
  const empty = (): BatchRequest => ({ run_id: runId, metrics: [], params: [], tags: [] });
  // `{"run_id":"…","metrics":[],"params":[],"tags":[]}` plus a comma per entity, counted exactly.
  const baseBytes = Buffer.byteLength(JSON.stringify(empty()));
  const requests: BatchRequest[] = [];
  const idx = { params: 0, tags: 0, metrics: 0 };
  const kinds = ['params', 'tags', 'metrics'] as const;
  const left = (): boolean => kinds.some((k) => idx[k] < queues[k].length);
  while (left()) {
    const req = empty();
    let bytes = baseBytes;
    let entities = 0;
    for (const kind of kinds) {
      const queue = queues[kind] as (WireMetric | Tag)[];
      const out = req[kind] as (WireMetric | Tag)[];
      while (idx[kind] < queue.length && out.length < limits[kind] && entities < limits.entities) {
        const entity = queue[idx[kind]]!;
        const size = Buffer.byteLength(JSON.stringify(entity)) + (out.length > 0 ? 1 : 0);
        if (bytes + size > limits.bytes) {
          if (entities === 0) {
            throw new RangeError(
              `${kind.slice(0, -1)} '${entity.key}' alone is ${size} bytes, over MLflow's ${limits.bytes}-byte request limit`,
            );
          }
          break;
        }
        out.push(entity);
        bytes += size;
        entities++;
        idx[kind]++;
      }
    }
    requests.push(req);
  }
  return requests;
}

/**
 * The log-batch requests for `input`, as up to `streams` sequences that may be sent side by side:
 * each metric key belongs to one stream (keys dealt round-robin in first-seen order), params and
 * tags go in the first. Within a stream a key's values stay together and in the order given, so
 * each request carries few keys: the server reads, locks and updates `latest_metrics` once per key
 * per request, so fewer keys per request cost it less (bench/README.md: 7-11% of the metrics'
 * server CPU for ~10 keys a request instead of ~25). Every metric key's steps arrive in the order given.
 */
export function planBatches(
  runId: string,
  input: { metrics?: Metric[]; params?: Param[]; tags?: Tag[] },
  streams: number,
  now: number = Date.now(),
  limits: typeof LIMITS = LIMITS,
): BatchRequest[][] {
  const byKey = new Map<string, Metric[]>();
  for (const m of input.metrics ?? []) {
    const values = byKey.get(m.key);
    if (values) values.push(m);
    else byKey.set(m.key, [m]);
  }
  // No more streams than requests: a batch that fits in one request goes as one.
  const needed = splitBatch(runId, input, now, limits).length;
  const n = Math.max(1, Math.min(streams, byKey.size, needed));
  const metrics: Metric[][] = Array.from({ length: n }, () => []);
  let i = 0;
  for (const values of byKey.values()) {
    const stream = metrics[i++ % n]!;
    for (const m of values) stream.push(m); // no spread: a key may have more steps than call arguments allowed
  }
  return metrics
    .map((ms, s) =>
      splitBatch(
        runId,
        s === 0 ? { metrics: ms, params: input.params, tags: input.tags } : { metrics: ms },
        now,
        limits,
      ),
    )
    .filter((reqs) => reqs.length > 0);
}
