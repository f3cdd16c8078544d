/**
 * What the analysis reads from MLflow about one run: its latest metrics, params, user tags and the
 * step histories of the metrics that have more than one step (metrics/get-history). Everything in a
 * snapshot was written by the training script, so it is data for the model, never instructions.
 * Histories are few and downsampled: a curve's shape needs tens of points, not thousands.
 */
import type { CallOptions, LoggedMetric, MlflowClient } from '../mlflow/index.js';

export interface Point {
  step: number;
  value: number;
}

export interface RunSnapshot {
  runId: string;
  runName?: string;
  metrics: Record<string, number>;
  params: Record<string, string>;
  /** Tags the script set: not MLflow's own `mlflow.*` ones nor the action's `github.*`. */
  tags: Record<string, string>;
  /** Downsampled step histories, by metric key. */
  histories: Record<string, Point[]>;
  /** Metrics with a history that was not read (over maxHistories). */
  historiesLeftOut: number;
}

export interface SnapshotOptions {
  /** Read these keys' histories first (e.g. the gate metric). */
  priority?: string[];
  /** Read only these keys' histories (the champion: what the candidate has). */
  only?: string[];
  maxHistories?: number;
  maxPoints?: number;
  /** Each read's timeout and attempts (an analysis after the run has seconds, not minutes). */
  call?: CallOptions;
}

const HISTORY_CONCURRENCY = 4;

/** At most `max` points, evenly spaced, always keeping the first, the last, the best and the worst. */
export function downsample(points: Point[], max: number): Point[] {
  if (points.length <= max) return points;
  const keep = new Set<number>([0, points.length - 1]);
  let lo = 0;
  let hi = 0;
  points.forEach((p, i) => {
    if (p.value < points[lo]!.value) lo = i;
    if (p.value > points[hi]!.value) hi = i;
  });
  keep.add(lo).add(hi);
  const slots = Math.max(1, max - keep.size);
  for (let k = 1; k <= slots; k++) keep.add(Math.round((k * (points.length - 1)) / (slots + 1)));
  return [...keep].sort((a, b) => a - b).map((i) => points[i]!);
}

/** A history as a curve: one value per step (the last logged wins), in step order. */
export function toCurve(history: LoggedMetric[]): Point[] {
  const byStep = new Map<number, LoggedMetric>();
  for (const m of history) {
    const seen = byStep.get(m.step);
    if (!seen || m.timestamp >= seen.timestamp) byStep.set(m.step, m);
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step).map((m) => ({ step: m.step, value: m.value }));
}

export async function snapshotRun(
  client: MlflowClient,
  runId: string,
  opts: SnapshotOptions = {},
): Promise<RunSnapshot> {
  const { maxHistories = 20, maxPoints = 50 } = opts;
  const run = await client.tracking.getRun(runId, opts.call);
  const metrics = Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
  // runs/get gives each metric's last step: a step above 0 means there is a curve to read.
  const stepped = run.data.metrics
    .filter((m) => m.step > 0 && (!opts.only || opts.only.includes(m.key)))
    .map((m) => m.key);
  const priority = opts.priority ?? [];
  stepped.sort((a, b) => Number(priority.includes(b)) - Number(priority.includes(a)) || a.localeCompare(b));
  const keys = stepped.slice(0, maxHistories);
  const histories: Record<string, Point[]> = {};
  for (let i = 0; i < keys.length; i += HISTORY_CONCURRENCY) {
    const batch = keys.slice(i, i + HISTORY_CONCURRENCY);
    const got = await Promise.all(batch.map((k) => client.tracking.getMetricHistory(runId, k, opts.call)));
    batch.forEach((k, j) => (histories[k] = downsample(toCurve(got[j]!), maxPoints)));
  }
  const tags = Object.fromEntries(
    run.data.tags.filter((t) => !/^(mlflow|github)\./.test(t.key)).map((t) => [t.key, t.value]),
  );
  return {
    runId,
    runName: run.info.run_name,
    metrics,
    params: Object.fromEntries(run.data.params.map((p) => [p.key, p.value])),
    tags,
    histories,
    historiesLeftOut: stepped.length - keys.length,
  };
}
