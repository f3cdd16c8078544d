/** train-and-log: train inside an MLflow run, log, register, gate, report. */
import * as core from '@actions/core';
import { run } from '../shared/run.js';
import { readConfig } from './inputs.js';
import { trainAndLog } from './pipeline.js';
import { commentOnPullRequest } from './pr-comment.js';
import { renderReport } from './summary.js';

await run(async () => {
  const config = readConfig();
  const outcome = await trainAndLog(config, ({ runId, runUrl, experimentId }) => {
    core.setOutput('run-id', runId);
    core.setOutput('run-url', runUrl);
    core.setOutput('experiment-id', experimentId);
  });
  core.setOutput('model-version', outcome.version?.version ?? '');
  core.setOutput('model-uri', outcome.model?.modelUri ?? '');
  core.setOutput('metrics', JSON.stringify(outcome.metrics));
  core.setOutput('gate-passed', String(outcome.promoted));

  const report = renderReport(outcome, config);
  await core.summary.addRaw(report).write();
  await commentOnPullRequest(
    config.githubToken,
    `train-and-log:${config.registeredModel ?? config.experiment}`,
    report,
  );
});
