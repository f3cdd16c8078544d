/** download-model: a registered model version's files into the build context, with their digest. */
import { run } from '../shared/run.js';
import { getInputs } from './inputs.js';
import { defaultDeps, main, writeResult } from './download-model.js';

await run(async () => writeResult(await main(getInputs(), defaultDeps)));
