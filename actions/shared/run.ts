/** The one wrapper every action's main goes through: failures mark the step failed, never exit 0. */
import * as core from '@actions/core';
import { errorMessage } from './errors.js';

export async function run(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof Error && err.stack) core.debug(err.stack);
    core.setFailed(errorMessage(err));
  }
}
