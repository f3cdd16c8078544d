/** build-scan-push: build, scan with Trivy, push only what passed the gate (see pipeline.ts). */
import { run } from '../shared/run.js';
import { getInputs } from './inputs.js';
import { defaultDeps, main, writeResult } from './pipeline.js';

await run(async () => writeResult(await main(getInputs(), defaultDeps)));
