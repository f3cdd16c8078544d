/**
 * train-and-log against a real `mlflow server --app-name basic-auth`, as the users an admin sets up:
 * the admin, a user with EDIT on the experiment and the registered model (trains, uploads a local
 * model as a LoggedModel, registers and promotes it), a user with READ only, and a wrong password.
 * Failures name the variables holding the credentials; no password reaches the log.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_ADMIN, PYTHON, startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { ROOT, runAction, type RunResult } from './helpers/run-action.js';

const EXPERIMENT = 'auth-iris';
const MODEL = 'auth-iris-model';
const EDITOR = { username: 'editor', password: 'editor-secret-pw-1' };
const READER = { username: 'reader', password: 'reader-secret-pw-2' };

let mlflow: MlflowServer;
let admin: MlflowRest;

/** MLflow 3's auth REST API: users, and grants on one resource. */
async function grant(
  user: { username: string; password: string },
  grants: { resource_type: string; resource_id: string; permission: string }[],
): Promise<void> {
  await admin.call('POST', '/users/create', user);
  for (const g of grants) {
    const res = await fetch(`${mlflow.url}/api/3.0/mlflow/users/permissions/grant`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${AUTH_ADMIN.username}:${AUTH_ADMIN.password}`).toString('base64')}`,
      },
      body: JSON.stringify({ username: user.username, ...g }),
    });
    if (!res.ok) throw new Error(`grant ${JSON.stringify(g)}: ${res.status} ${await res.text()}`);
  }
}

beforeAll(async () => {
  mlflow = await startMlflow({ basicAuth: true });
  admin = new MlflowRest(mlflow.url, AUTH_ADMIN);
  const { experiment_id } = await admin.call<{ experiment_id: string }>('POST', '/experiments/create', {
    name: EXPERIMENT,
  });
  await admin.call('POST', '/registered-models/create', { name: MODEL });
  await grant(EDITOR, [
    { resource_type: 'experiment', resource_id: experiment_id, permission: 'EDIT' },
    { resource_type: 'registered_model', resource_id: MODEL, permission: 'EDIT' },
  ]);
  await grant(READER, [
    { resource_type: 'experiment', resource_id: experiment_id, permission: 'READ' },
    { resource_type: 'registered_model', resource_id: MODEL, permission: 'READ' },
  ]);
}, 120_000);

afterAll(async () => {
  await mlflow?.stop();
});

/** Trains without MLflow and leaves a local model directory for the action to upload and register. */
async function train(user: { username: string; password: string }): Promise<RunResult & { cwd: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'tal-auth-'));
  const r = await runAction('train-and-log', {
    cwd,
    inputs: {
      'tracking-uri': mlflow.url,
      experiment: EXPERIMENT,
      command: `${PYTHON} ${join(ROOT, 'model', 'train.py')} --no-mlflow --output-dir out --model-dir local-model --n-estimators 10 && touch trained`,
      'metrics-file': 'out/metrics.json',
      artifacts: 'out/metrics.json',
      'model-path': 'local-model',
      'registered-model': MODEL,
      'gate-metric': 'accuracy',
      'github-token': '',
    },
    env: {
      MLFLOW_TRACKING_USERNAME: user.username,
      MLFLOW_TRACKING_PASSWORD: user.password,
      PYTHONWARNINGS: 'ignore',
    },
    timeoutMs: 120_000,
  });
  return { ...r, cwd };
}

/** The log as a reader of the job sees it: the runner consumes `::add-mask::` lines, and masks their values. */
function expectNoSecret(r: RunResult, secret: string): void {
  const visible = r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  expect(visible + r.stderr + r.summary).not.toContain(secret);
  expect(r.stdout).toContain(`::add-mask::${secret}`);
}

const trained = (cwd: string): boolean => {
  try {
    readFileSync(join(cwd, 'trained'));
    return true;
  } catch {
    return false;
  }
};

describe('train-and-log on a basic-auth MLflow server', () => {
  it('a user with EDIT on the experiment and the model logs, uploads the model, registers and promotes it', async () => {
    const r = await train(EDITOR);
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expectNoSecret(r, EDITOR.password);
    const run = await admin.run(r.outputs['run-id']!);
    expect(run.info.status).toBe('FINISHED');
    expect(r.outputs['model-uri']).toMatch(/^models:\/m-[0-9a-f]+$/);
    const version = r.outputs['model-version']!;
    expect(await admin.version(MODEL, version)).toMatchObject({
      status: 'READY',
      run_id: r.outputs['run-id'],
      source: r.outputs['model-uri'],
    });
    expect(await admin.alias(MODEL, 'candidate')).toBe(version);
  }, 150_000);

  it('the admin can do the same', async () => {
    const r = await train(AUTH_ADMIN);
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expectNoSecret(r, AUTH_ADMIN.password);
    expect((await admin.run(r.outputs['run-id']!)).info.status).toBe('FINISHED');
  }, 150_000);

  it('a user with READ only fails before training, naming the user and the credentials variables', async () => {
    const r = await train(READER);
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/HTTP 403/);
    expect(r.errors[0]).toContain(
      "user 'reader' of MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD lacks this permission",
    );
    expect(trained(r.cwd)).toBe(false);
    expectNoSecret(r, READER.password);
  }, 150_000);

  it('a wrong password fails before training, naming tracking-uri and the credentials variables', async () => {
    const wrong = { username: EDITOR.username, password: 'not-the-password-9' };
    const r = await train(wrong);
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^Input 'tracking-uri': .*rejected the credentials \(HTTP 401\)/);
    expect(r.errors[0]).toContain(
      "the server did not accept the credentials: user 'editor' of MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD",
    );
    expect(r.outputs['run-id']).toBeUndefined();
    expect(trained(r.cwd)).toBe(false);
    expectNoSecret(r, wrong.password);
  }, 150_000);
});
