/** train-and-log: train inside an MLflow run, log, register, gate, report. */
import { run } from '../shared/run.js';
import { getInputs } from './inputs.js';
import { defaultDeps, main } from './train.js';

await run(() => main(getInputs(), defaultDeps));
