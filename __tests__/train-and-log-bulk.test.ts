/**
 * train-and-log at volume, bundled, against a real `mlflow server`: more than 1,000 metrics and
 * 100 params in one run (log-batch split to MLflow's limits), a 20 MB artifact, directories and
 * globs, and a model saved locally by model/train.py that the action uploads and registers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMlflow, PYTHON, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest, metricsOf, paramsOf, pyfuncPredict, tagsOf } from './helpers/mlflow-rest.js';
import { ROOT, runAction } from './helpers/run-action.js';

let mlflow: MlflowServer;
let rest: MlflowRest;

beforeAll(async () => {
  mlflow = await startMlflow();
  rest = new MlflowRest(mlflow.url);
}, 120_000);

afterAll(async () => {
  await mlflow?.stop();
});

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('train-and-log at volume', () => {
  it('logs 1,200 metrics, 150 params, a 20 MB file, a directory and a glob, and registers a local model', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tal-bulk-'));
    // Nested metrics, as a real evaluation writes them: 40 layers x 30 stats, plus arrays.
    const layers: Record<string, Record<string, number>> = {};
    for (let l = 0; l < 40; l++) {
      layers[`layer_${l}`] = Object.fromEntries(
        Array.from({ length: 30 }, (_, s) => [`stat_${s}`, l + s / 100]),
      );
    }
    const metrics = { accuracy: 0.875, loss: { train: 0.25, valid: [0.5, 0.375] }, layers };
    const params = Object.fromEntries(
      Array.from({ length: 150 }, (_, i) => [`hp_${i}`, i % 2 ? i : `v${i}`]),
    );
    writeFileSync(join(cwd, 'metrics-in.json'), JSON.stringify(metrics));
    writeFileSync(join(cwd, 'params-in.json'), JSON.stringify({ ...params, nested: { flag: true } }));
    const big = randomBytes(20 * 1024 * 1024);
    writeFileSync(join(cwd, 'big.bin'), big);
    mkdirSync(join(cwd, 'reports', 'roc'), { recursive: true });
    writeFileSync(join(cwd, 'reports', 'roc', 'a.txt'), 'roc a');
    writeFileSync(join(cwd, 'reports', 'roc', 'b.txt'), 'roc b');
    writeFileSync(join(cwd, 'reports', 'skip.csv'), 'x');

    const r = await runAction('train-and-log', {
      cwd,
      inputs: {
        'tracking-uri': mlflow.url,
        experiment: 'bulk',
        'run-name': 'bulk run',
        // Trains without MLflow (a script that knows nothing of it) and leaves files for the action.
        command: [
          `${PYTHON} ${join(ROOT, 'model', 'train.py')} --no-mlflow --output-dir train-out --model-dir local-model --n-estimators 20`,
          'cp metrics-in.json metrics.json && cp params-in.json params.json',
        ].join('\n'),
        'metrics-file': 'metrics.json',
        'params-file': 'params.json',
        artifacts: 'big.bin\nreports/**/*.txt\ntrain-out',
        'model-path': 'local-model',
        'registered-model': 'iris-bulk',
        'gate-metric': 'loss.valid.1',
        'gate-direction': 'minimize',
        'github-token': '',
      },
      env: { PYTHONWARNINGS: 'ignore' },
      timeoutMs: 150_000,
    });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    const runId = r.outputs['run-id']!;

    const run = await rest.run(runId);
    expect(run.info.status).toBe('FINISHED');
    expect(tagsOf(run)['mlflow.runName']).toBe('bulk run');
    const logged = metricsOf(run);
    expect(Object.keys(logged)).toHaveLength(1 + 3 + 1200);
    expect(logged['layers.layer_39.stat_29']).toBeCloseTo(39.29, 10);
    expect(logged['loss.valid.1']).toBe(0.375);
    const loggedParams = paramsOf(run);
    expect(Object.keys(loggedParams)).toHaveLength(151);
    expect(loggedParams.hp_1).toBe('1');
    expect(loggedParams.hp_148).toBe('v148');
    expect(loggedParams['nested.flag']).toBe('true');

    const root = await rest.artifacts(runId);
    const bigInfo = root.find((f) => f.path === 'big.bin');
    expect(bigInfo?.file_size).toBe(big.length);
    expect(sha256(await rest.artifact(runId, 'big.bin'))).toBe(sha256(big));
    expect((await rest.artifacts(runId, 'reports/roc')).map((f) => f.path).sort()).toEqual([
      'reports/roc/a.txt',
      'reports/roc/b.txt',
    ]);
    expect(root.map((f) => f.path)).not.toContain('reports/skip.csv');
    expect((await rest.artifact(runId, 'reports/roc/b.txt')).toString()).toBe('roc b');
    const trainOut = (await rest.artifacts(runId, 'train-out')).map((f) => f.path);
    expect(trainOut).toEqual(expect.arrayContaining(['train-out/metrics.json', 'train-out/params.json']));

    // The local model directory became a LoggedModel of this run and version 1.
    expect(r.outputs['model-version']).toBe('1');
    expect(r.outputs['model-uri']).toMatch(/^models:\/m-[0-9a-f]+$/);
    const mv = await rest.version('iris-bulk', '1');
    expect(mv).toMatchObject({ status: 'READY', run_id: runId, source: r.outputs['model-uri'] });
    expect(r.outputs['gate-passed']).toBe('true');
    expect(await rest.alias('iris-bulk', 'candidate')).toBe('1');

    // The summary stays readable: the gate metric first, the rest cut off with a count.
    expect(r.summary).toMatch(/\| \*\*loss\.valid\.1\*\* \| 0\.375 \|/);
    expect(r.summary).toMatch(/and 1164 more metrics in the MLflow run/);

    const predictions = pyfuncPredict(mlflow.url, ['models:/iris-bulk/1']);
    expect(predictions['models:/iris-bulk/1']).toEqual(['setosa', 'versicolor', 'virginica']);
  }, 240_000);
});
