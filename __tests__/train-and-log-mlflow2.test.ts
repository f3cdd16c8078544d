/**
 * train-and-log, bundled, against MLflow 2.x (the newest 2.22, from .venv-mlflow2): no LoggedModel
 * API there, so a local model directory goes to the run's artifacts and is recorded with
 * runs/log-model, then registered from runs:/ and gated on the champion alias. The MLmodel here
 * lacks utc_time_created, which 2.x's runs/log-model requires.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYTHON, VENV2_BIN, startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest, tagsOf } from './helpers/mlflow-rest.js';
import { ROOT, runAction, type RunResult } from './helpers/run-action.js';

const MODEL = 'iris-on-2x';

let mlflow: MlflowServer;
let rest: MlflowRest;

beforeAll(async () => {
  mlflow = await startMlflow({ bin: VENV2_BIN });
  rest = new MlflowRest(mlflow.url);
}, 120_000);

afterAll(async () => {
  await mlflow?.stop();
});

async function train(extraArgs = ''): Promise<RunResult> {
  const cwd = mkdtempSync(join(tmpdir(), 'tal-2x-'));
  return runAction('train-and-log', {
    cwd,
    inputs: {
      'tracking-uri': mlflow.url,
      experiment: 'on-2x',
      command: [
        `${PYTHON} ${join(ROOT, 'model', 'train.py')} --no-mlflow --output-dir out --model-dir local-model --n-estimators 10 ${extraArgs}`,
        // As an MLmodel written by another tool may be: no creation time.
        "sed -i '/^utc_time_created:/d' local-model/MLmodel",
        '! grep -q utc_time_created local-model/MLmodel',
      ].join('\n'),
      'metrics-file': 'out/metrics.json',
      artifacts: 'out/metrics.json',
      'model-path': 'local-model',
      'registered-model': MODEL,
      'gate-metric': 'accuracy',
      'github-token': '',
    },
    env: { PYTHONWARNINGS: 'ignore' },
    timeoutMs: 120_000,
  });
}

describe('train-and-log against MLflow 2.x', () => {
  it('logs, uploads the model to run artifacts, registers it and gates it on the champion', async () => {
    expect(await (await fetch(`${mlflow.url}/version`)).text()).toMatch(/^2\.22\./);
    const first = await train();
    expect(first.errors).toEqual([]);
    expect(first.code).toBe(0);
    const runId = first.outputs['run-id']!;
    const run = await rest.run(runId);
    expect(run.info.status).toBe('FINISHED');
    expect(first.outputs['model-uri']).toBe(`runs:/${runId}/local-model`);
    // Recorded as log_model does on 2.x, with the creation time it lacked.
    const history = JSON.parse(tagsOf(run)['mlflow.log-model.history']!) as Record<string, unknown>[];
    expect(history).toEqual([
      expect.objectContaining({
        run_id: runId,
        artifact_path: 'local-model',
        utc_time_created: expect.any(String),
      }),
    ]);
    expect((await rest.artifacts(runId, 'local-model')).map((f) => f.path)).toContain('local-model/MLmodel');
    expect(first.outputs['model-version']).toBe('1');
    expect(await rest.version(MODEL, '1')).toMatchObject({ status: 'READY', run_id: runId });
    expect(await rest.alias(MODEL, 'candidate')).toBe('1');

    // With v1 the champion, a model trained on noisy labels fails the gate: registered, not promoted.
    await rest.setAlias(MODEL, 'champion', '1');
    const worse = await train('--label-noise 0.6');
    expect(worse.errors).toEqual([]);
    expect(worse.code).toBe(0);
    expect(worse.outputs['model-version']).toBe('2');
    expect(worse.outputs['gate-passed']).toBe('false');
    expect(await rest.alias(MODEL, 'candidate')).toBe('1');
    expect(await rest.alias(MODEL, 'champion')).toBe('1');
  }, 240_000);
});
