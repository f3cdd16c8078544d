/**
 * Mermaid `xychart-beta` charts for the report: GitHub renders them in job summaries and comments,
 * so the report needs no image hosting. Labels come from the training script (metric names) and
 * from inputs (aliases), so they are reduced to characters with no meaning to mermaid: the xychart
 * lexer ends a string at any `"`, mermaid's preprocessing reads `%%{…}%%` directives and `#…;`
 * entities anywhere in the text, and a backtick fence would end the Markdown code block.
 */
import type { Point } from '../shared/analysis/index.js';

/** Metrics on the shared 0–1 chart; more would make the bars unreadably thin. */
export const MAX_UNIT_BARS = 12;
/** Metrics on their own scale, one chart each, and curves: charts past these stay in MLflow. */
export const MAX_SCALED_CHARTS = 4;
export const MAX_CURVES = 4;
const MAX_LABEL = 40;
/** The candidate green, the champion grey: the titles name the colours, xychart has no legend. */
const PALETTE = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#2da44e, #8c959f"}}}}%%';

/** Text safe inside a mermaid quoted string. */
export function mermaidText(text: string, max = MAX_LABEL): string {
  const t = text
    .replace(/[^\p{L}\p{N} _./:()+=-]/gu, '_')
    .replace(/\s+/g, ' ')
    .trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** A number as the xychart lexer reads one (no exponent), or undefined when it cannot be drawn. */
export function chartNumber(n: number): string | undefined {
  if (!Number.isFinite(n) || Math.abs(n) >= 1e15) return undefined;
  const s = String(Number(n.toPrecision(6)));
  return s.includes('e') ? '0' : s;
}

const quoted = (labels: string[]): string => `[${labels.map((l) => `"${mermaidText(l)}"`).join(', ')}]`;
const fence = (lines: string[]): string =>
  ['```mermaid', PALETTE, 'xychart-beta', ...lines, '```'].join('\n');

export interface Compared {
  key: string;
  candidate: number;
  champion?: number;
}

/**
 * One bar chart. Mermaid draws bar series over each other, so the candidate's and the champion's
 * bars take alternate slots, each series 0 where the other's bar stands: side by side, two colours.
 */
function barChart(title: string, rows: Compared[], championLabel: string | undefined, top: number): string {
  const labels: string[] = [];
  const mine: string[] = [];
  const theirs: string[] = [];
  for (const r of rows) {
    labels.push(r.key);
    mine.push(chartNumber(r.candidate)!);
    theirs.push('0');
    if (championLabel && r.champion !== undefined) {
      labels.push(`${r.key} (${championLabel})`);
      mine.push('0');
      theirs.push(chartNumber(r.champion)!);
    }
  }
  const lines = [
    `  title "${mermaidText(title, 80)}"`,
    `  x-axis ${quoted(labels)}`,
    `  y-axis "value" 0 --> ${chartNumber(top)}`,
    `  bar [${mine.join(', ')}]`,
  ];
  if (championLabel) lines.push(`  bar [${theirs.join(', ')}]`);
  return fence(lines);
}

const drawable = (v: number | undefined): boolean =>
  v !== undefined && chartNumber(v) !== undefined && v >= 0;

/**
 * This run against the champion, per metric: metrics within 0–1 (accuracy, F1, recall…) share one
 * chart, each other metric gets its own scale. Negative values are left to the table: a bar from 0
 * on a scale that starts below it would mislead.
 */
export function metricCharts(rows: Compared[], championLabel?: string): string[] {
  const usable = rows.filter(
    (r) => drawable(r.candidate) && (r.champion === undefined || drawable(r.champion)),
  );
  const vs = championLabel ? ` vs ${championLabel} (grey)` : '';
  const unit = usable.filter((r) => r.candidate <= 1 && (r.champion ?? 0) <= 1).slice(0, MAX_UNIT_BARS);
  const charts: string[] = [];
  if (unit.length) charts.push(barChart(`This run (green)${vs}`, unit, championLabel, 1));
  const scaled = usable.filter((r) => !unit.includes(r) && (r.candidate > 1 || (r.champion ?? 0) > 1));
  for (const r of scaled.slice(0, MAX_SCALED_CHARTS)) {
    const top = Math.max(r.candidate, r.champion ?? 0) * 1.1;
    charts.push(barChart(`${r.key}: this run (green)${vs}`, [r], championLabel, top));
  }
  return charts;
}

/**
 * A metric's curve by step, with the champion's when it logged the same steps (a line cannot have
 * gaps, and steps that differ would put points at the wrong x).
 */
export function curveChart(
  key: string,
  history: Point[],
  champion?: Point[],
  championLabel?: string,
): string | undefined {
  // NaN and ±Infinity (a diverged step) have no place on the axis; the table still shows the last value.
  const points = history.filter((p) => chartNumber(p.value) !== undefined);
  if (points.length < 2) return undefined;
  const values = points.map((p) => chartNumber(p.value)!);
  const byStep = new Map((champion ?? []).map((p) => [p.step, p.value]));
  const aligned = points.every((p) => chartNumber(byStep.get(p.step) ?? NaN) !== undefined);
  const lines = [
    `  title "${mermaidText(`${key} by step${aligned && championLabel ? `: this run (green) vs ${championLabel} (grey)` : ''}`, 80)}"`,
    `  x-axis "step" ${quoted(points.map((p) => String(p.step)))}`,
    `  line [${values.join(', ')}]`,
  ];
  if (aligned && championLabel) {
    lines.push(`  line [${points.map((p) => chartNumber(byStep.get(p.step)!)).join(', ')}]`);
  }
  return fence(lines);
}
