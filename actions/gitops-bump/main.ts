/** gitops-bump: sets an image's tag/digest in GitOps files, lands it (push or PR), optionally waits for ArgoCD. */
import { run } from '../shared/run.js';
import { defaultDeps, main, writeResult } from './action.js';
import { getInputs } from './inputs.js';

await run(async () => writeResult(await main(getInputs(), defaultDeps)));
