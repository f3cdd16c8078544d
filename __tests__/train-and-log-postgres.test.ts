/**
 * train-and-log, bundled, against MLflow on PostgreSQL, the store platform/mlflow runs in
 * production (a throwaway PostgreSQL 15 from helpers/postgres.ts; MLflow gets the password from
 * PGPASSWORD, as the manifests set it): it trains with model/train.py, logs, registers, and gates
 * a worse and a better model against the champion. The rows are read back from PostgreSQL itself,
 * so the test fails if the server were on anything else.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMlflow, PYTHON, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest, metricsOf } from './helpers/mlflow-rest.js';
import { startPostgres, type Postgres } from './helpers/postgres.js';
import { ROOT, runAction, type RunResult } from './helpers/run-action.js';

const TRAIN = join(ROOT, 'model', 'train.py');
const MODEL = 'iris-pg';

let pg: Postgres;
let mlflow: MlflowServer;
let rest: MlflowRest;

beforeAll(async () => {
  pg = await startPostgres();
  pg.createDatabase('mlflow');
  mlflow = await startMlflow({
    backendStoreUri: pg.urlWithoutPassword('mlflow'),
    env: { PGPASSWORD: pg.password },
  });
  rest = new MlflowRest(mlflow.url);
}, 180_000);

afterAll(async () => {
  await mlflow?.stop();
  await pg?.stop();
});

function train(args: string): Promise<RunResult> {
  return runAction('train-and-log', {
    cwd: mkdtempSync(join(tmpdir(), 'tal-pg-')),
    inputs: {
      'tracking-uri': mlflow.url,
      experiment: 'iris-pg',
      command: `${PYTHON} ${TRAIN} --output-dir out ${args}`,
      'metrics-file': 'out/metrics.json',
      'params-file': 'out/params.json',
      artifacts: 'out/metrics.json',
      'model-path': 'model',
      'registered-model': MODEL,
      'gate-metric': 'accuracy',
    },
    env: { PYTHONWARNINGS: 'ignore' },
    timeoutMs: 110_000,
  });
}

/** One query against MLflow's tables in PostgreSQL. */
const rows = (query: string): string[][] =>
  pg
    .sql('mlflow', query)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('|'));

describe('train-and-log against MLflow on PostgreSQL', () => {
  it('logs, registers and gates: v1 candidate, a worse v2 held back, a better v3 promoted', async () => {
    const first = await train('');
    expect(first.errors).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.outputs['model-version']).toBe('1');
    expect(first.outputs['gate-passed']).toBe('true');
    expect(await rest.alias(MODEL, 'candidate')).toBe('1');
    await rest.setAlias(MODEL, 'champion', '1');
    const champion = metricsOf(await rest.run(first.outputs['run-id']!)).accuracy!;

    const worse = await train('--label-noise 0.6');
    expect(worse.errors).toEqual([]);
    expect([worse.outputs['model-version'], worse.outputs['gate-passed']]).toEqual(['2', 'false']);
    expect((JSON.parse(worse.outputs.metrics!) as { accuracy: number }).accuracy).toBeLessThan(champion);
    expect(await rest.alias(MODEL, 'candidate')).toBe('1');

    const better = await train('--max-depth 3');
    expect(better.errors).toEqual([]);
    expect([better.outputs['model-version'], better.outputs['gate-passed']]).toEqual(['3', 'true']);
    expect(await rest.alias(MODEL, 'candidate')).toBe('3');
    expect(await rest.alias(MODEL, 'champion')).toBe('1');
    expect(better.summary).toMatch(/Gate passed/);

    // In PostgreSQL's tables: the three runs finished, their versions, the aliases, the gate tags.
    const ids = [first, worse, better].map((r) => r.outputs['run-id']!);
    expect(
      rows(`SELECT run_uuid, status FROM runs WHERE run_uuid IN ('${ids.join("','")}') ORDER BY start_time`),
    ).toEqual(ids.map((id) => [id, 'FINISHED']));
    expect(
      rows(`SELECT version, run_id FROM model_versions WHERE name = '${MODEL}' ORDER BY version`),
    ).toEqual(ids.map((id, i) => [String(i + 1), id]));
    expect(
      rows(`SELECT alias, version FROM registered_model_aliases WHERE name = '${MODEL}' ORDER BY alias`),
    ).toEqual([
      ['candidate', '3'],
      ['champion', '1'],
    ]);
    expect(
      rows(
        `SELECT version, value FROM model_version_tags WHERE name = '${MODEL}' AND key = 'mlops-actions.gate' ORDER BY version`,
      ),
    ).toEqual([
      ['1', 'passed'],
      ['2', 'failed'],
      ['3', 'passed'],
    ]);
  }, 400_000);
});
