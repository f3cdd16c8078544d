/**
 * The root action.yml only describes the suite. Used as `uses: <owner>/mlops-actions@v1`, it
 * fails with the list of the real actions rather than doing something surprising.
 */
import * as core from '@actions/core';

const ACTIONS = [
  'train-and-log',
  'download-model',
  'build-scan-push',
  'gitops-bump',
  'promote',
  'ai-review',
  'alert-to-issue',
];
const usage = `usage: uses: <owner>/mlops-actions/<name>@v1, where <name> is one of: ${ACTIONS.join(', ')}`;

if (process.argv.includes('--help')) {
  console.log(usage);
} else {
  core.setFailed(`mlops-actions is a suite of actions, not one action. ${usage}`);
}
