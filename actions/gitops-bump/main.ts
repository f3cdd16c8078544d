/** gitops-bump: sets an image's tag/digest in GitOps files, lands it (push or PR), optionally waits for ArgoCD. */
import * as core from '@actions/core';
import { run } from '../shared/run.js';
import { defaultDeps, main, writeResult } from './action.js';
import { stopGitOnCancel } from './git.js';
import { getInputs } from './inputs.js';

stopGitOnCancel((signal, killed) => {
  core.setFailed(`cancelled (${signal})${killed ? `: stopped ${killed} running git command(s)` : ''}`);
  process.exit(1);
});

await run(async () => writeResult(await main(getInputs(), defaultDeps)));
