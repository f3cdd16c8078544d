/**
 * download-model, bundled, against a real `mlflow server` (MLflow 3: versions registered from
 * LoggedModels by MLflow's own Python client, and MLflow 2.x: versions from runs:/ sources): the
 * files are MLflow's own download byte for byte, the digest is the one the inference server
 * computes (model/iris_server/digest.py) and the coreutils recipe gives, an alias resolves to its
 * version, an earlier download is replaced and a foreign folder is not, bad references name the input.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { main } from '../actions/download-model/download-model.js';
import { connectTracking } from '../actions/shared/mlflow/connect.js';
import type { MlflowClient } from '../actions/shared/mlflow/index.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { PYTHON, startMlflow, VENV2_BIN, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { ROOT, runAction, type RunResult } from './helpers/run-action.js';

const MODEL = 'download-iris';

/** Logs and registers `n` iris classifiers with MLflow's Python client; champion -> the last. */
function registerWithPython(python: string, url: string, n: number): void {
  const script = `
import sys, mlflow, mlflow.sklearn, pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri(sys.argv[1])
iris = load_iris(as_frame=True)
for i in range(int(sys.argv[3])):
    est = LogisticRegression(C=1.0 + i, max_iter=500).fit(iris.data, iris.target)
    with mlflow.start_run():
        kw = {"name": "model"} if mlflow.__version__ >= "3" else {"artifact_path": "model"}
        mlflow.sklearn.log_model(est, registered_model_name=sys.argv[2], pip_requirements=["scikit-learn"], **kw)
mlflow.MlflowClient().set_registered_model_alias(sys.argv[2], "champion", str(int(sys.argv[3])))
`;
  execFileSync(python, ['-c', script, url, MODEL, String(n)], {
    env: { ...process.env, PYTHONWARNINGS: 'ignore' },
    stdio: 'pipe',
  });
}

/**
 * MLflow's own download of the version, for comparison, without the `registered_model_meta` file
 * its client writes beside a models:/ download (it is not in the artifact store).
 */
function mlflowDownload(python: string, url: string, version: string): string {
  const dest = mkdtempSync(join(tmpdir(), 'mlflow-dl-'));
  const script = `
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
print(mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[2], dst_path=sys.argv[3]))`;
  const out = execFileSync(python, ['-c', script, url, `models:/${MODEL}/${version}`, dest], {
    env: { ...process.env, PYTHONWARNINGS: 'ignore' },
    encoding: 'utf8',
  });
  return out.trim().split('\n').pop()!;
}

function tree(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[relative(dir, full)] = readFileSync(full).toString('base64');
    }
  };
  walk(dir);
  for (const name of skip) delete out[name];
  return out;
}

const mlflowTree = (python: string, url: string, version: string): Record<string, string> =>
  tree(mlflowDownload(python, url, version), ['registered_model_meta']);

/** The digest as the server computes it, and as coreutils gives it. */
function digests(dir: string): { python: string; shell: string } {
  const python = execFileSync(PYTHON, ['-m', 'iris_server.digest', dir], {
    cwd: join(ROOT, 'model'),
    encoding: 'utf8',
  }).trim();
  const shell = spawnSync(
    'bash',
    ['-c', "find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum"],
    { cwd: dir, encoding: 'utf8' },
  ).stdout.split(' ')[0]!;
  return { python, shell: `sha256:${shell}` };
}

function download(
  mlflow: MlflowServer,
  workspace: string,
  inputs: Record<string, string>,
): Promise<RunResult> {
  return runAction('download-model', {
    inputs: {
      'tracking-uri': mlflow.url,
      'registered-model': MODEL,
      path: 'serving/registered-model',
      ...inputs,
    },
    cwd: workspace,
    timeoutMs: 60_000,
  });
}

describe('download-model against a real MLflow 3 server', () => {
  let mlflow: MlflowServer;
  let rest: MlflowRest;

  beforeAll(async () => {
    mlflow = await startMlflow();
    rest = new MlflowRest(mlflow.url);
    registerWithPython(PYTHON, mlflow.url, 2);
  }, 180_000);

  afterAll(async () => {
    await mlflow?.stop();
  });

  it('writes MLflow’s files for the version, with the server’s digest and the build args', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'dl-ws-'));
    const r = await download(mlflow, workspace, { version: '1' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    const dir = join(workspace, 'serving', 'registered-model');
    const mv = await rest.version(MODEL, '1');
    expect(mv.source).toMatch(/^models:\/m-/); // a LoggedModel's files, not the run's
    expect(tree(dir)).toEqual(mlflowTree(PYTHON, mlflow.url, '1'));
    expect(Object.keys(tree(dir))).toContain('MLmodel');
    const { python, shell } = digests(dir);
    expect(r.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.outputs.digest).toBe(python);
    expect(r.outputs.digest).toBe(shell);
    expect(r.outputs).toMatchObject({
      path: 'serving/registered-model',
      version: '1',
      'run-id': mv.run_id,
      'model-uri': `models:/${MODEL}/1`,
    });
    expect(r.outputs['build-args']!.split('\n')).toEqual([
      `MODEL_NAME=${MODEL}`,
      'MODEL_VERSION=1',
      `MLFLOW_RUN_ID=${mv.run_id}`,
      `MODEL_DIGEST=${python}`,
    ]);
    expect(r.summary).toContain(`[\`${MODEL}\` version 1](${mlflow.url}/#/models/${MODEL}/versions/1)`);
    expect(r.summary).toContain(`| digest | \`${python}\` |`);
    // Nothing left beside it (the staging folder was moved into place).
    expect(readdirSync(join(workspace, 'serving'))).toEqual(['registered-model']);
  });

  it('resolves an alias, replaces an earlier download, and another version has another digest', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'dl-ws-'));
    const first = await download(mlflow, workspace, { version: '1' });
    const r = await download(mlflow, workspace, { alias: 'champion' });
    expect(r.errors).toEqual([]);
    expect(r.outputs.version).toBe('2');
    expect(r.outputs['run-id']).toBe((await rest.version(MODEL, '2')).run_id);
    expect(r.outputs.digest).not.toBe(first.outputs.digest);
    const dir = join(workspace, 'serving', 'registered-model');
    expect(tree(dir)).toEqual(mlflowTree(PYTHON, mlflow.url, '2'));
    expect(digests(dir).python).toBe(r.outputs.digest);
    expect(r.summary).toContain('(`@champion`)');
  });

  it('main(inputs, deps): the alias, the version and every file go through the one client', async () => {
    const clients: MlflowClient[] = [];
    const dest = join(mkdtempSync(join(tmpdir(), 'dl-main-')), 'model');
    const result = await main(
      { mlflow: mlflowSettings({}, mlflow.url), model: MODEL, ref: { alias: 'champion' }, path: dest },
      { connect: async (settings) => clients[clients.push(await connectTracking(settings)) - 1]! },
    );
    expect(result.outputs.version).toBe('2');
    expect(tree(dest)).toEqual(mlflowTree(PYTHON, mlflow.url, '2'));
    expect(clients).toHaveLength(1);
    // ping, alias, version, download URI, at least one listing, then one GET per file: all counted here.
    expect(clients[0]!.requestCount).toBeGreaterThanOrEqual(5 + Object.keys(tree(dest)).length);
  });

  it('refuses a folder that is not an earlier download, and leaves it as it was', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'dl-ws-'));
    mkdirSync(join(workspace, 'serving', 'registered-model'), { recursive: true });
    writeFileSync(join(workspace, 'serving', 'registered-model', 'notes.txt'), 'mine\n');
    const r = await download(mlflow, workspace, { version: '1' });
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toMatch(/registered-model' exists and is not an MLflow model directory/);
    expect(readdirSync(join(workspace, 'serving'))).toEqual(['registered-model']);
    expect(readdirSync(join(workspace, 'serving', 'registered-model'))).toEqual(['notes.txt']);
  });

  it.each([
    [{ version: '9' }, /Input 'version': expected a version of registered model 'download-iris'/],
    [{ alias: 'nope' }, /Input 'alias': expected an alias that is set on registered model/],
    [{ version: 'v1' }, /Input 'version': expected a model version number such as 3, got 'v1'/],
    [{ version: '1', alias: 'champion' }, /Input 'alias': expected no value when version is set/],
    [{ version: '', alias: '' }, /Input 'version': expected a model version number \(or alias\)/],
    [{ version: '1', path: '../out' }, /Input 'path': expected a directory of its own/],
  ])('fails naming the input for %j', async (inputs, message) => {
    const workspace = mkdtempSync(join(tmpdir(), 'dl-ws-'));
    const r = await download(mlflow, workspace, inputs);
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toMatch(message);
    expect(readdirSync(workspace)).toEqual([]);
  });
});

describe('download-model against a real MLflow 2.x server', () => {
  let mlflow: MlflowServer;

  beforeAll(async () => {
    mlflow = await startMlflow({ bin: VENV2_BIN });
    registerWithPython(join(VENV2_BIN, 'python'), mlflow.url, 1);
  }, 180_000);

  afterAll(async () => {
    await mlflow?.stop();
  });

  it('downloads a version registered from a run’s artifacts', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'dl-ws-'));
    const r = await download(mlflow, workspace, { alias: 'champion' });
    expect(r.errors).toEqual([]);
    const dir = join(workspace, 'serving', 'registered-model');
    expect(tree(dir)).toEqual(mlflowTree(join(VENV2_BIN, 'python'), mlflow.url, '1'));
    expect(r.outputs.digest).toBe(digests(dir).python);
  });
});
