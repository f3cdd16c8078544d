/**
 * The report, as Markdown for the job summary and the PR comment: the gate verdict, this run's
 * metrics against the champion's with deltas, charts of both and of the training curves, both
 * confusion matrices side by side, the params that changed, and links (the run, MLflow's
 * compare-runs view of both runs, the registered version, the LoggedModel).
 */
import { cell } from '../shared/markdown.js';
import { curveChart, metricCharts } from './charts.js';
import type { Config } from './inputs.js';
import type { Outcome } from './pipeline.js';
import type { ReportExtras } from './report-data.js';

/** Rows in the metrics table; a run may log thousands, the rest stay one click away in MLflow. */
export const MAX_ROWS = 40;
const CONFUSION = /^confusion_matrix\.([^.]+)\.([^.]+)$/;
/** Rows in the changed-params table, and characters of a value shown in it. */
export const MAX_PARAM_ROWS = 30;
const MAX_PARAM_VALUE = 60;

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

function metricsTable(outcome: Outcome, config: Config, keys: string[]): string {
  const champion = outcome.champion;
  const gateMetric = config.gate?.metric;
  const header = champion
    ? `| metric | this run | ${cell(config.championAlias)} (v${champion.version}) | Δ |\n| --- | ---: | ---: | ---: |`
    : '| metric | this run |\n| --- | ---: |';
  const rows = keys.map((k) => {
    const name = k === gateMetric ? `**${cell(k)}**` : cell(k);
    const value = outcome.metrics[k]!;
    if (!champion) return `| ${name} | ${formatNumber(value)} |`;
    const before = champion.metrics[k];
    return before === undefined
      ? `| ${name} | ${formatNumber(value)} | – | |`
      : `| ${name} | ${formatNumber(value)} | ${formatNumber(before)} | ${formatDelta(value - before)} |`;
  });
  return [header, ...rows].join('\n');
}

/** The label the charts give the champion, e.g. `champion v3`. */
const championLabel = (outcome: Outcome, config: Config): string | undefined =>
  outcome.champion ? `${config.championAlias} v${outcome.champion.version}` : undefined;

export function chartsSection(
  outcome: Outcome,
  config: Config,
  keys: string[],
  extras?: ReportExtras,
): string[] {
  const label = championLabel(outcome, config);
  const rows = keys.map((key) => ({
    key,
    candidate: outcome.metrics[key]!,
    champion: outcome.champion?.metrics[key],
  }));
  const parts = metricCharts(rows, label);
  const curves = Object.entries(extras?.curves ?? {})
    .map(([key, points]) => curveChart(key, points, extras?.championCurves[key], label))
    .filter((c): c is string => c !== undefined);
  if (curves.length) parts.push('**Training curves**', ...curves);
  return parts;
}

/** Both confusion matrices side by side: Markdown tables inside an HTML table, as GitHub renders it. */
export function confusionSection(outcome: Outcome, config: Config): string | undefined {
  const mine = confusionMatrix(outcome.metrics);
  if (!mine) return undefined;
  const theirs = outcome.champion ? confusionMatrix(outcome.champion.metrics) : undefined;
  if (!theirs) return `**Confusion matrix**\n\n${mine}`;
  const head = `<th>this run</th><th>${cell(championLabel(outcome, config)!)}</th>`;
  return `**Confusion matrices**\n\n<table><tr>${head}</tr><tr><td>\n\n${mine}\n\n</td><td>\n\n${theirs}\n\n</td></tr></table>`;
}

/**
 * A param value as inline code. The script wrote it, so it may hold a fake marker (`<!--`), HTML,
 * a mention or table syntax: cell() writes `<` and `&` as entities (so no marker or tag is ever
 * literal) and escapes the Markdown; `<code>` keeps GitHub from linking mentions.
 */
const paramValue = (v: string | undefined): string => {
  if (v === undefined) return '–';
  const short = v.length > MAX_PARAM_VALUE ? `${v.slice(0, MAX_PARAM_VALUE - 1)}…` : v;
  return `<code>${cell(short)}</code>`;
};

/** Params whose value differs from the champion run's, including ones only one of them has. */
export function paramsSection(outcome: Outcome, config: Config, extras?: ReportExtras): string | undefined {
  const theirs = extras?.champion?.params;
  if (!extras || !theirs) return undefined;
  const mine = extras.params;
  const keys = [...new Set([...Object.keys(mine), ...Object.keys(theirs)])]
    .filter((k) => mine[k] !== theirs[k])
    .sort();
  const label = cell(championLabel(outcome, config)!);
  if (!keys.length) return `_No param changed since ${label}._`;
  const rows = keys
    .slice(0, MAX_PARAM_ROWS)
    .map((k) => `| ${cell(k)} | ${paramValue(theirs[k])} | ${paramValue(mine[k])} |`);
  const more = keys.length - rows.length;
  return [
    `**Params changed since ${label}**`,
    '',
    `| param | ${label} | this run |`,
    '| --- | --- | --- |',
    ...rows,
    ...(more > 0 ? ['', `…and ${more} more in MLflow's compare view.`] : []),
  ].join('\n');
}

/** The MLflow UI's root, from the run link the client built (`<ui>/#/experiments/…`). */
const uiRoot = (runUrl: string): string => runUrl.slice(0, Math.max(0, runUrl.indexOf('/#/')));

/** MLflow's own compare-runs route: `#/compare-runs?runs=[…]&experiments=[…]`, JSON arrays. */
export function compareRunsUrl(ui: string, runIds: string[], experimentIds: string[]): string {
  const json = (ids: string[]): string => encodeURIComponent(JSON.stringify([...new Set(ids)]));
  return `${ui}/#/compare-runs?runs=${json(runIds)}&experiments=${json(experimentIds)}`;
}

export function linksLine(outcome: Outcome, config: Config, extras?: ReportExtras): string {
  const ui = uiRoot(outcome.runUrl);
  const links = [`[MLflow run \`${cell(outcome.runName)}\`](${outcome.runUrl})`];
  const theirs = extras?.champion;
  if (ui && theirs) {
    const url = compareRunsUrl(
      ui,
      [outcome.runId, theirs.runId],
      [outcome.experimentId, theirs.experimentId],
    );
    links.push(`[compare with ${cell(championLabel(outcome, config)!)}](${url})`);
  }
  if (outcome.version && outcome.versionUrl) {
    links.push(
      `[\`${cell(config.registeredModel ?? '')}\` v${outcome.version.version}](${outcome.versionUrl})`,
    );
  }
  const modelId = outcome.model?.modelId;
  if (ui && modelId) {
    const url = `${ui}/#/experiments/${encodeURIComponent(outcome.experimentId)}/models/${encodeURIComponent(modelId)}`;
    links.push(`[LoggedModel \`${cell(modelId)}\`](${url})`);
  } else if (outcome.model) links.push(`model \`${outcome.model.modelUri}\``);
  return links.join(' · ');
}

export function renderReport(outcome: Outcome, config: Config, extras?: ReportExtras): string {
  const gateMetric = config.gate?.metric;
  // The gate metric first: it is the row the verdict is about.
  const keys = Object.keys(outcome.metrics)
    .filter((k) => !CONFUSION.test(k))
    .sort((a, b) => Number(b === gateMetric) - Number(a === gateMetric));
  const shown = keys.slice(0, MAX_ROWS);
  const more = keys.length - shown.length;
  const title = config.commentLabel ? `${config.experiment} (${config.commentLabel})` : config.experiment;

  const parts = [
    `### train-and-log: ${cell(title)}`,
    verdict(outcome, config),
    shown.length ? metricsTable(outcome, config, shown) : '_The run has no metrics._',
  ];
  if (more > 0) parts.push(`…and ${more} more metrics in the MLflow run.`);
  parts.push(...chartsSection(outcome, config, shown, extras));
  const matrices = confusionSection(outcome, config);
  if (matrices) parts.push(matrices);
  const params = paramsSection(outcome, config, extras);
  if (params) parts.push(params);
  if (outcome.champion?.problem)
    parts.push(`Champion v${outcome.champion.version}: ${cell(outcome.champion.problem)}.`);
  parts.push(linksLine(outcome, config, extras));
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
