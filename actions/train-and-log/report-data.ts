/**
 * What the report reads from MLflow beyond the outcome: both runs' params (to show what changed),
 * the step histories of this run's stepped metrics and the champion's same curves, and the
 * champion run's experiment (for the compare-runs link). Read after the outcome is final, with
 * short timeouts: a report without charts is better than a job that waits on them.
 */
import * as core from '@actions/core';
import { downsample, toCurve, type Point } from '../shared/analysis/index.js';
import { errorMessage } from '../shared/errors.js';
import type { CallOptions, MlflowClient } from '../shared/mlflow/index.js';
import { MAX_CURVES } from './charts.js';
import type { Config } from './inputs.js';
import type { Outcome } from './pipeline.js';

/** Points per curve: a curve's shape needs tens of points, and every point is a label on the axis. */
const MAX_POINTS = 30;

/**
 * What the report's reads (and the analysis's) may take, each, on the action's one client: short
 * and few attempts, since the outcome is final and a report without charts beats a late one.
 */
export const REPORT_READS: CallOptions = { timeoutMs: 15_000, attempts: 2 };

export interface ReportExtras {
  params: Record<string, string>;
  champion?: { runId: string; experimentId: string; params: Record<string, string> };
  curves: Record<string, Point[]>;
  championCurves: Record<string, Point[]>;
}

async function curvesOf(
  client: MlflowClient,
  runId: string,
  keys: string[],
): Promise<Record<string, Point[]>> {
  const got = await Promise.all(keys.map((k) => client.tracking.getMetricHistory(runId, k, REPORT_READS)));
  return Object.fromEntries(keys.map((k, i) => [k, downsample(toCurve(got[i]!), MAX_POINTS)]));
}

export async function readExtras(
  client: MlflowClient,
  outcome: Readonly<Outcome>,
  gateMetric?: string,
): Promise<ReportExtras> {
  const run = await client.tracking.getRun(outcome.runId, REPORT_READS);
  // runs/get gives each metric's last step: above 0, there is a curve. The gate metric's first.
  const keys = run.data.metrics
    .filter((m) => m.step > 0)
    .map((m) => m.key)
    .sort((a, b) => Number(b === gateMetric) - Number(a === gateMetric) || a.localeCompare(b))
    .slice(0, MAX_CURVES);
  const extras: ReportExtras = {
    params: Object.fromEntries(run.data.params.map((p) => [p.key, p.value])),
    curves: await curvesOf(client, outcome.runId, keys),
    championCurves: {},
  };
  const championRunId = outcome.champion?.runId;
  if (championRunId) {
    const theirs = await client.tracking.getRun(championRunId, REPORT_READS);
    const has = new Set(theirs.data.metrics.filter((m) => m.step > 0).map((m) => m.key));
    extras.champion = {
      runId: championRunId,
      experimentId: theirs.info.experiment_id,
      params: Object.fromEntries(theirs.data.params.map((p) => [p.key, p.value])),
    };
    extras.championCurves = await curvesOf(
      client,
      championRunId,
      keys.filter((k) => has.has(k)),
    );
  }
  return extras;
}

/** The extras, or undefined (with a warning) when MLflow cannot give them now. */
export async function gatherExtras(
  config: Config,
  outcome: Readonly<Outcome>,
  client: MlflowClient,
): Promise<ReportExtras | undefined> {
  try {
    return await readExtras(client, outcome, config.gate?.metric);
  } catch (err) {
    core.warning(`The report has no charts or params: MLflow could not give them (${errorMessage(err)})`);
    return undefined;
  }
}
