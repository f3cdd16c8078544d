/** train-and-log: train inside an MLflow run, log, register, gate, report. */
import * as core from '@actions/core';
import { errorMessage } from '../shared/errors.js';
import { run } from '../shared/run.js';
import { analysisSection } from './analysis.js';
import { readConfig } from './inputs.js';
import { trainAndLog } from './pipeline.js';
import { postReport } from './pr-comment.js';
import { gatherExtras } from './report-data.js';
import { renderFailure, renderReport } from './summary.js';

await run(async () => {
  const config = readConfig();
  let started: { runId: string; runUrl: string } | undefined;
  const outcome = await trainAndLog(config, ({ runId, runUrl, experimentId }) => {
    started = { runId, runUrl };
    core.setOutput('run-id', runId);
    core.setOutput('run-url', runUrl);
    core.setOutput('experiment-id', experimentId);
  }).catch(async (err: unknown) => {
    await core.summary
      .addRaw(renderFailure(config.experiment, started, errorMessage(err)))
      .write()
      .catch(() => undefined);
    throw err;
  });
  core.setOutput('model-version', outcome.version?.version ?? '');
  core.setOutput('model-uri', outcome.model?.modelUri ?? '');
  core.setOutput('metrics', JSON.stringify(outcome.metrics));
  core.setOutput('gate-passed', String(outcome.promoted));

  // The outputs above are final: the model-written analysis only adds to the report.
  const extras = await gatherExtras(config, outcome);
  const report = `${renderReport(outcome, config, extras)}\n${await analysisSection(config, outcome)}\n`;
  await core.summary.addRaw(report).write();
  await postReport(config, report);
});
