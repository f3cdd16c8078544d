/**
 * train-and-log as a function: train inside an MLflow run, log, register, gate, then report. The
 * entry file calls it with the real world; tests call it with their own deps.
 */
import * as core from '@actions/core';
import { errorMessage } from '../shared/errors.js';
import { connectTracking } from '../shared/mlflow/connect.js';
import type { MlflowClient } from '../shared/mlflow/index.js';
import { analysisSection } from './analysis.js';
import { onCancel, startCommand } from './command.js';
import type { Inputs } from './inputs.js';
import { trainAndLog, type Outcome, type PipelineDeps, type StartedRun } from './pipeline.js';
import { postReport } from './pr-comment.js';
import { gatherExtras, type ReportExtras } from './report-data.js';
import { renderFailure, renderReport } from './summary.js';

export interface Deps extends PipelineDeps {
  setOutput: (name: string, value: string) => void;
  /** Appends Markdown to the job summary. */
  writeSummary: (markdown: string) => Promise<void>;
  /** Posts the report on the pull request (or the pushed commit), under the run's comment key. */
  comment: (inputs: Inputs, body: string) => Promise<unknown>;
  /**
   * Charts, curves and changed params read back from MLflow (undefined when it cannot say), on
   * the client the run was made with.
   */
  extras: (
    inputs: Inputs,
    outcome: Readonly<Outcome>,
    client: MlflowClient,
  ) => Promise<ReportExtras | undefined>;
  /** The optional model-written analysis, as Markdown (never fails). */
  analysis: (inputs: Inputs, outcome: Readonly<Outcome>, client: MlflowClient) => Promise<string>;
}

export const defaultDeps: Deps = {
  connect: connectTracking,
  startCommand,
  onCancel,
  exit: (code) => process.exit(code),
  setOutput: (name, value) => core.setOutput(name, value),
  writeSummary: async (markdown) => {
    await core.summary.addRaw(markdown).write();
  },
  comment: postReport,
  extras: gatherExtras,
  analysis: analysisSection,
};

export async function main(inputs: Inputs, deps: Deps = defaultDeps): Promise<void> {
  let started: StartedRun | undefined;
  const { client, outcome } = await trainAndLog(inputs, deps, (run) => {
    started = run;
    setRunOutputs(deps, run);
  }).catch(async (err: unknown) => {
    const failure = renderFailure(inputs.experiment, started, errorMessage(err));
    await deps.writeSummary(failure).catch(() => undefined);
    throw err;
  });
  setOutcomeOutputs(deps, outcome);

  // The outputs above are final: the model-written analysis only adds to the report.
  const extras = await deps.extras(inputs, outcome, client);
  const analysis = await deps.analysis(inputs, outcome, client);
  const report = `${renderReport(outcome, inputs, extras)}\n${analysis}\n`;
  await deps.writeSummary(report);
  await deps.comment(inputs, report);
}

function setRunOutputs(deps: Deps, run: StartedRun): void {
  deps.setOutput('run-id', run.runId);
  deps.setOutput('run-url', run.runUrl);
  deps.setOutput('experiment-id', run.experimentId);
}

function setOutcomeOutputs(deps: Deps, outcome: Outcome): void {
  deps.setOutput('model-version', outcome.version?.version ?? '');
  deps.setOutput('model-uri', outcome.model?.modelUri ?? '');
  deps.setOutput('metrics', JSON.stringify(outcome.metrics));
  deps.setOutput('gate-passed', String(outcome.promoted));
}
