/**
 * Deterministic comparisons of a run with a baseline (the champion, or the live version's
 * predecessor): metric deltas, params that moved, and per-class metrics. An aggregate can improve
 * while one class gets worse; per-class keys are how the metrics file names classes
 * (`recall.virginica`: the last `.` part is the class, the rest the metric).
 */
export interface ParamChange {
  key: string;
  from?: string;
  to?: string;
}

export interface ClassDelta {
  metric: string;
  cls: string;
  value: number;
  baseline: number;
  /** Positive is better, whichever way the metric points. */
  improvement: number;
}

/** Metrics where lower is better; everything else (accuracy, recall, f1, auc...) is higher-better. */
const LOWER_IS_BETTER = /(loss|error|err\b|mse|mae|rmse|fpr|fnr|perplexity|latency)/i;
/** Below this a per-class difference is noise. */
export const CLASS_TOLERANCE = 0.005;

export function lowerIsBetter(metric: string): boolean {
  return LOWER_IS_BETTER.test(metric);
}

export function changedParams(
  params: Record<string, string>,
  baseline: Record<string, string>,
): ParamChange[] {
  const keys = [...new Set([...Object.keys(baseline), ...Object.keys(params)])].sort();
  return keys
    .filter((k) => params[k] !== baseline[k])
    .map((k) => ({
      key: k,
      ...(k in baseline ? { from: baseline[k] } : {}),
      ...(k in params ? { to: params[k] } : {}),
    }));
}

/** Per-class metric keys: `<metric>.<class>`, where at least two classes share the metric. */
export function perClassKeys(metrics: Record<string, number>): Map<string, Map<string, string>> {
  const groups = new Map<string, Map<string, string>>();
  for (const key of Object.keys(metrics)) {
    const dot = key.lastIndexOf('.');
    if (dot <= 0 || dot === key.length - 1 || key.startsWith('confusion_matrix.')) continue;
    const metric = key.slice(0, dot);
    if (!groups.has(metric)) groups.set(metric, new Map());
    groups.get(metric)!.set(key.slice(dot + 1), key);
  }
  for (const [metric, classes] of groups) if (classes.size < 2) groups.delete(metric);
  return groups;
}

/** Every per-class metric both runs have, worst change first. */
export function classDeltas(metrics: Record<string, number>, baseline: Record<string, number>): ClassDelta[] {
  const out: ClassDelta[] = [];
  for (const [metric, classes] of perClassKeys(metrics)) {
    for (const [cls, key] of classes) {
      const value = metrics[key]!;
      const before = baseline[key];
      if (before === undefined || !Number.isFinite(value) || !Number.isFinite(before)) continue;
      const improvement = lowerIsBetter(metric) ? before - value : value - before;
      out.push({ metric, cls, value, baseline: before, improvement });
    }
  }
  return out.sort((a, b) => a.improvement - b.improvement);
}

/** The classes that got worse beyond noise. */
export function classRegressions(
  metrics: Record<string, number>,
  baseline: Record<string, number>,
): ClassDelta[] {
  return classDeltas(metrics, baseline).filter((d) => d.improvement < -CLASS_TOLERANCE);
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4))));

/**
 * One plain sentence on `cls`: was the run weaker than the baseline on it? Undefined when neither
 * run has per-class metrics for that class. Used by alert-to-issue for the live version against
 * its predecessor.
 */
export function classVerdict(
  cls: string,
  metrics: Record<string, number>,
  baseline: Record<string, number>,
  names: { run: string; baseline: string },
): string | undefined {
  const want = cls.toLowerCase();
  const deltas = classDeltas(metrics, baseline).filter((d) => d.cls.toLowerCase() === want);
  if (deltas.length === 0) return undefined;
  const worse = deltas.filter((d) => d.improvement < -CLASS_TOLERANCE);
  const shown = (worse.length ? worse : deltas).slice(0, 4);
  const detail = shown.map((d) => `${d.metric} ${fmt(d.value)} vs ${fmt(d.baseline)}`).join(', ');
  return worse.length
    ? `On class ${cls}, ${names.run} was weaker than ${names.baseline}: ${detail}.`
    : `On class ${cls}, ${names.run} was not weaker than ${names.baseline} (${detail}).`;
}

/**
 * The same question without a named class: on which classes was the run weaker than the
 * baseline? With `cls`, only that class (see classVerdict).
 */
export function weakerOnClasses(
  metrics: Record<string, number>,
  baseline: Record<string, number>,
  names: { run: string; baseline: string },
  cls?: string,
): string | undefined {
  if (cls) return classVerdict(cls, metrics, baseline, names);
  const all = classDeltas(metrics, baseline);
  if (all.length === 0) return undefined;
  const worse = all.filter((d) => d.improvement < -CLASS_TOLERANCE).slice(0, 4);
  if (worse.length === 0) return `${names.run} was not weaker than ${names.baseline} on any class.`;
  const detail = worse.map((d) => `${d.cls} (${d.metric} ${fmt(d.value)} vs ${fmt(d.baseline)})`).join(', ');
  return `${names.run} was weaker than ${names.baseline} on class ${detail}.`;
}
