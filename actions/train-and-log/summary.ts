/**
 * The report, as Markdown for the job summary and the PR comment: the gate verdict, this run's
 * metrics against the champion's with deltas, the confusion matrix, and links.
 */
import { cell } from '../shared/markdown.js';
import type { Config } from './inputs.js';
import type { Outcome } from './pipeline.js';

/** Rows in the metrics table; a run may log thousands, the rest stay one click away in MLflow. */
export const MAX_ROWS = 40;
const CONFUSION = /^confusion_matrix\.([^.]+)\.([^.]+)$/;

export function formatNumber(n: number): string {
  if (!Number.isFinite(n) || Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return n.toExponential(3);
  return String(Number(n.toFixed(4)));
}

function formatDelta(d: number): string {
  if (Math.abs(d) < 1e-12) return '±0';
  return `${d > 0 ? '+' : '−'}${formatNumber(Math.abs(d))}`;
}

export function confusionMatrix(metrics: Record<string, number>): string | undefined {
  const rows: string[] = [];
  const cols: string[] = [];
  const at = new Map<string, number>();
  for (const [key, value] of Object.entries(metrics)) {
    const m = CONFUSION.exec(key);
    if (!m) continue;
    const [, actual, predicted] = m as unknown as [string, string, string];
    if (!rows.includes(actual)) rows.push(actual);
    if (!cols.includes(predicted)) cols.push(predicted);
    at.set(`${actual}\u0000${predicted}`, value);
  }
  if (rows.length === 0) return undefined;
  const lines = [
    `| actual \\ predicted | ${cols.map(cell).join(' | ')} |`,
    `| --- | ${cols.map(() => '---:').join(' | ')} |`,
    ...rows.map(
      (r) =>
        `| **${cell(r)}** | ${cols
          .map((c) => {
            const v = at.get(`${r}\u0000${c}`);
            return v === undefined ? '' : r === c ? `**${formatNumber(v)}**` : formatNumber(v);
          })
          .join(' | ')} |`,
    ),
  ];
  return lines.join('\n');
}

export function verdict(outcome: Outcome, config: Config): string {
  const model = config.registeredModel ? cell(config.registeredModel) : '';
  if (!outcome.version) return 'No model registered (set `registered-model` to register and gate one).';
  const v = `\`${model}\` v${outcome.version.version}`;
  if (!outcome.gate) return `Registered ${v}; no \`gate-metric\`, so it was not promoted.`;
  return outcome.gate.passed
    ? `✅ **Gate passed**: ${cell(outcome.gate.reason)}. \`${config.promoteAlias}\` → ${v}.`
    : `❌ **Gate failed**: ${cell(outcome.gate.reason)}. \`${config.promoteAlias}\` was not moved.`;
}

export function renderReport(outcome: Outcome, config: Config): string {
  const champion = outcome.champion;
  const gateMetric = config.gate?.metric;
  // The gate metric first: it is the row the verdict is about.
  const keys = Object.keys(outcome.metrics)
    .filter((k) => !CONFUSION.test(k))
    .sort((a, b) => Number(b === gateMetric) - Number(a === gateMetric));
  const shown = keys.slice(0, MAX_ROWS);

  const header = champion
    ? `| metric | this run | ${cell(config.championAlias)} (v${champion.version}) | Δ |\n| --- | ---: | ---: | ---: |`
    : '| metric | this run |\n| --- | ---: |';
  const rows = shown.map((k) => {
    const name = k === gateMetric ? `**${cell(k)}**` : cell(k);
    const value = outcome.metrics[k]!;
    if (!champion) return `| ${name} | ${formatNumber(value)} |`;
    const before = champion.metrics[k];
    return before === undefined
      ? `| ${name} | ${formatNumber(value)} | – | |`
      : `| ${name} | ${formatNumber(value)} | ${formatNumber(before)} | ${formatDelta(value - before)} |`;
  });
  const more = keys.length - shown.length;

  const links = [`[MLflow run \`${cell(outcome.runName)}\`](${outcome.runUrl})`];
  if (outcome.version && outcome.versionUrl) {
    links.push(
      `[\`${cell(config.registeredModel ?? '')}\` v${outcome.version.version}](${outcome.versionUrl})`,
    );
  }
  if (outcome.model) links.push(`model \`${outcome.model.modelUri}\``);

  const parts = [
    `### train-and-log: ${cell(config.experiment)}`,
    verdict(outcome, config),
    shown.length ? [header, ...rows].join('\n') : '_The run has no metrics._',
  ];
  if (more > 0) parts.push(`…and ${more} more metrics in the MLflow run.`);
  const matrix = confusionMatrix(outcome.metrics);
  if (matrix) parts.push(`**Confusion matrix**\n\n${matrix}`);
  if (champion?.problem) parts.push(`Champion v${champion.version}: ${cell(champion.problem)}.`);
  parts.push(links.join(' · '));
  return parts.join('\n\n') + '\n';
}

/** The summary of a failed step: what went wrong and, when the run exists, where it is. */
export function renderFailure(
  experiment: string,
  run: { runId: string; runUrl: string } | undefined,
  message: string,
): string {
  const parts = [`### train-and-log: ${cell(experiment)}`, `❌ **Failed**: ${cell(message)}`];
  if (run) parts.push(`[MLflow run ${run.runId}](${run.runUrl})`);
  return parts.join('\n\n') + '\n';
}
