/**
 * The optional model-written analysis of the run, appended to the report. It runs after the gate
 * has decided and the outputs are set, and returns only Markdown: nothing it reads or Gemini says
 * can reach the verdict, the alias or an output. It never fails the action: a missing key, an
 * MLflow read that fails or a bad Gemini answer each become one line saying why there is none.
 */
import * as core from '@actions/core';
import {
  analyseRun,
  renderAnalysis,
  snapshotRun,
  type AnalysisInput,
  type AnalysisResult,
} from '../shared/analysis/index.js';
import { errorMessage } from '../shared/errors.js';
import { Gemini } from '../shared/gemini/index.js';
import type { MlflowClient } from '../shared/mlflow/index.js';
import type { Config } from './inputs.js';
import type { Outcome } from './pipeline.js';
import { REPORT_READS } from './report-data.js';

async function gather(
  client: MlflowClient,
  config: Config,
  outcome: Readonly<Outcome>,
): Promise<AnalysisInput> {
  // Short timeouts: the run is logged already, and a late analysis is worth less than the job's time.
  const gateMetric = config.gate?.metric;
  const run = await snapshotRun(client, outcome.runId, {
    priority: gateMetric ? [gateMetric] : [],
    call: REPORT_READS,
  });
  const c = outcome.champion;
  const championRun = c?.runId
    ? await snapshotRun(client, c.runId, { only: Object.keys(run.histories), call: REPORT_READS })
    : undefined;
  return {
    subject: config.registeredModel ?? `experiment ${config.experiment}`,
    run,
    ...(c
      ? {
          champion: {
            version: c.version,
            alias: config.championAlias,
            ...(championRun ? { run: championRun } : {}),
            ...(c.problem ? { problem: c.problem } : {}),
          },
        }
      : {}),
    ...(config.gate && outcome.gate
      ? {
          gate: {
            metric: config.gate.metric,
            direction: config.gate.direction,
            passed: outcome.gate.passed,
            reason: outcome.gate.reason,
          },
        }
      : {}),
  };
}

export async function analysisSection(
  config: Config,
  outcome: Readonly<Outcome>,
  client: MlflowClient,
): Promise<string> {
  const { apiKey, baseUrl, model, fallbackModels } = config.analysis;
  const secrets = [apiKey, config.githubToken, config.mlflow.token, config.mlflow.password];
  const render = (r: AnalysisResult): string =>
    renderAnalysis(r, { gateMetric: config.gate?.metric, secrets });
  const gemini = new Gemini({
    apiKey,
    baseUrl,
    model,
    fallbackModels,
    timeoutMs: 45_000,
    maxOutputTokens: 2_048,
  });
  if (!gemini.enabled) return render({ ok: false, reason: 'no `gemini-api-key` was given' });
  let input: AnalysisInput;
  try {
    input = await gather(client, config, outcome);
  } catch (err) {
    const reason = `the run's metric histories could not be read from MLflow (${errorMessage(err)})`;
    core.warning(`No analysis: ${reason}`);
    return render({ ok: false, reason });
  }
  try {
    const result = await analyseRun(gemini, input);
    if (result.ok) core.info(`Analysis written by ${result.model}`);
    else core.warning(`No analysis: ${result.reason}`);
    return render(result);
  } catch (err) {
    // The client reports failures as values; this is a bug, and still not worth failing the run.
    return render({ ok: false, reason: `the analysis failed (${errorMessage(err)})` });
  }
}
