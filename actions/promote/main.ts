/** promote: set, move or delete MLflow aliases, verified by reading them back, with a summary. */
import { run } from '../shared/run.js';
import { getInputs } from './inputs.js';
import { defaultDeps, main, writeResult } from './promote.js';

await run(async () => writeResult(await main(getInputs(), defaultDeps)));
