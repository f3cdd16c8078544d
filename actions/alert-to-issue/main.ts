/** alert-to-issue: an Alertmanager notification in, one GitHub issue per alert group out. */
import { run } from '../shared/run.js';
import { defaultDeps, main, writeResult } from './action.js';
import { getInputs } from './inputs.js';

await run(async () => writeResult(await main(getInputs(), defaultDeps)));
