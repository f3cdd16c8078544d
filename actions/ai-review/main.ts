/** ai-review: a Gemini review of a pull request, posted as one COMMENT review plus a summary comment kept up to date. */
import { run } from '../shared/run.js';
import { getInputs } from './inputs.js';
import { defaultDeps, main, writeResult } from './review.js';

await run(async () => writeResult(await main(getInputs(), defaultDeps)));
