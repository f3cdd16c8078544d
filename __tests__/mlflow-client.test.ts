/**
 * The shared MLflow client against a real `mlflow server` (pinned MLflow 3.x, sqlite, --serve-artifacts).
 * Results are checked through MLflow's REST API and, for models, by loading them in Python.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MlflowClient, MlflowError } from '../actions/shared/mlflow/index.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { PYTHON, startMlflow, type MlflowServer } from './helpers/mlflow-server.js';

jest.setTimeout(240_000);

const exec = promisify(execFile);
let server: MlflowServer;
let client: MlflowClient;
let work: string;

beforeAll(async () => {
  // Nothing here uses the server's GenAI job runner; its seven worker processes only cost CPU.
  process.env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION = 'false';
  server = await startMlflow();
  client = new MlflowClient(mlflowSettings({}, server.url));
  work = mkdtempSync(join(tmpdir(), 'mlflow-client-'));
});

afterAll(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function python(code: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await exec(PYTHON, ['-c', code], {
    env: { ...process.env, MLFLOW_TRACKING_URI: server.url, PYTHONWARNINGS: 'ignore', ...env },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

async function newRun(experiment: string, runName = 'run'): Promise<{ experimentId: string; runId: string }> {
  const exp = await client.tracking.getOrCreateExperiment(experiment);
  const info = await client.tracking.createRun({ experimentId: exp.experiment_id, runName });
  return { experimentId: exp.experiment_id, runId: info.run_id };
}

describe('experiments', () => {
  test('get-by-name answers undefined for a missing experiment, getOrCreate creates once', async () => {
    expect(await client.tracking.getExperimentByName('exp-missing')).toBeUndefined();
    const created = await client.tracking.getOrCreateExperiment('exp-a');
    expect(created.name).toBe('exp-a');
    expect(created.artifact_location).toMatch(/^mlflow-artifacts:/);
    const again = await client.tracking.getOrCreateExperiment('exp-a');
    expect(again.experiment_id).toBe(created.experiment_id);
    expect((await client.tracking.getExperimentByName('exp-a'))?.experiment_id).toBe(created.experiment_id);
  });

  test('concurrent getOrCreate of one name converges on a single experiment', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        new MlflowClient(mlflowSettings({}, server.url)).tracking.getOrCreateExperiment('exp-race'),
      ),
    );
    expect(new Set(results.map((e) => e.experiment_id)).size).toBe(1);
  });
});

describe('runs', () => {
  test('create, tag, update to FINISHED, get and search', async () => {
    const exp = await client.tracking.getOrCreateExperiment('exp-runs');
    const start = Date.now() - 5000;
    const info = await client.tracking.createRun({
      experimentId: exp.experiment_id,
      runName: 'lifecycle',
      tags: { 'mlflow.source.name': 'ci', team: 'ml' },
      startTime: start,
    });
    expect(info.status).toBe('RUNNING');
    expect(info.run_name).toBe('lifecycle');
    expect(info.artifact_uri).toBe(`mlflow-artifacts:/${exp.experiment_id}/${info.run_id}/artifacts`);

    await client.tracking.setTag(info.run_id, 'stage', 'trained');
    await client.tracking.updateRun(info.run_id, { status: 'FINISHED', endTime: start + 4000 });
    const run = await client.tracking.getRun(info.run_id);
    expect(run.info).toMatchObject({ status: 'FINISHED', start_time: start, end_time: start + 4000 });
    const tags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({
      'mlflow.source.name': 'ci',
      team: 'ml',
      stage: 'trained',
      'mlflow.runName': 'lifecycle',
    });
    expect(run.data.metrics).toEqual([]);
    expect(run.data.params).toEqual([]);

    const other = await client.tracking.createRun({ experimentId: exp.experiment_id, runName: 'other' });
    await client.tracking.updateRun(other.run_id, { status: 'FAILED' });
    const finished = await client.tracking.searchRuns({
      experimentIds: [exp.experiment_id],
      filter: "attributes.status = 'FINISHED'",
    });
    expect(finished.map((r) => r.info.run_id)).toEqual([info.run_id]);
    const all = await client.tracking.searchRuns({
      experimentIds: [exp.experiment_id],
      orderBy: ['attributes.run_name ASC'],
    });
    expect(all.map((r) => r.info.run_name)).toEqual(['lifecycle', 'other']);
    const failed = await client.tracking.getRun(other.run_id);
    expect(failed.info.status).toBe('FAILED');
    expect(failed.info.end_time).toBeGreaterThan(0);
  });

  test("a training loop's log sent as concurrent streams: every value, step and latest value is stored", async () => {
    const { runId } = await newRun('exp-batch-streams');
    const metrics = [];
    for (let step = 0; step < 100; step++) {
      for (let k = 0; k < 40; k++)
        metrics.push({ key: `acc_${k}`, value: k + step / 100, step, timestamp: 1_700_000_000_000 });
    }
    const params = Array.from({ length: 50 }, (_, i) => ({ key: `p${i}`, value: `v${i}` }));
    const before = client.requestCount;
    await client.tracking.logBatch(runId, { metrics, params });
    // 4,050 entities: at least 5 requests, sent as the default four streams.
    expect(client.requestCount - before).toBeGreaterThanOrEqual(5);
    const run = await client.tracking.getRun(runId);
    expect(run.data.params).toHaveLength(50);
    // latest_metrics, which each request updates for its keys, holds every key's last step.
    const latest = Object.fromEntries(run.data.metrics.map((m) => [m.key, [m.step, m.value]]));
    expect(Object.keys(latest)).toHaveLength(40);
    for (let k = 0; k < 40; k++) expect(latest[`acc_${k}`]).toEqual([99, k + 0.99]);
    const histories = await Promise.all(
      Array.from({ length: 40 }, (_, k) => client.tracking.getMetricHistory(runId, `acc_${k}`)),
    );
    for (const [k, history] of histories.entries()) {
      expect(history.map((m) => [m.step, m.value])).toEqual(
        Array.from({ length: 100 }, (_, s) => [s, k + s / 100]),
      );
    }
  });

  test('log-batch beyond every per-request limit: every value and step arrives, in order', async () => {
    const { runId } = await newRun('exp-batch');
    const keys = Array.from({ length: 12 }, (_, k) => `metric.${k}`);
    const steps = 120; // 12 x 120 = 1,440 metrics
    const metrics = [];
    for (let step = 0; step < steps; step++) {
      for (const [k, key] of keys.entries()) {
        metrics.push({ key, value: k * 1000 + step + 0.5, step, timestamp: 1_700_000_000_000 + step });
      }
    }
    metrics.push({ key: 'special', value: NaN, step: 0 }, { key: 'special', value: Infinity, step: 1 });
    // Long values push the 250 params past the 1 MB request limit by size as well as count.
    const params = Array.from({ length: 250 }, (_, i) => ({
      key: `p${i}`,
      value: `${i}:`.padEnd(5000, 'x'),
    }));
    const tags = Array.from({ length: 150 }, (_, i) => ({ key: `t${i}`, value: `tag ${i}` }));
    const before = client.requestCount;
    await client.tracking.logBatch(runId, { metrics, params, tags });
    // 1,442 metrics, 250 params and 150 tags cannot go in fewer than three requests.
    expect(client.requestCount - before).toBeGreaterThanOrEqual(3);

    const run = await client.tracking.getRun(runId);
    const gotParams = Object.fromEntries(run.data.params.map((p) => [p.key, p.value]));
    expect(Object.keys(gotParams)).toHaveLength(250);
    for (const p of params) expect(gotParams[p.key]).toBe(p.value);
    const gotTags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
    for (const t of tags) expect(gotTags[t.key]).toBe(t.value);

    for (const [k, key] of keys.entries()) {
      const history = await client.tracking.getMetricHistory(runId, key);
      expect(history.map((m) => m.step)).toEqual(Array.from({ length: steps }, (_, s) => s));
      expect(history.map((m) => m.value)).toEqual(
        Array.from({ length: steps }, (_, s) => k * 1000 + s + 0.5),
      );
      expect(history[7]!.timestamp).toBe(1_700_000_000_007);
    }
    const special = await client.tracking.getMetricHistory(runId, 'special');
    // NaN is kept; MLflow's SQL store saves infinity as the largest double, as it does for Python.
    expect(special.map((m) => [m.step, m.value])).toEqual([
      [0, NaN],
      [1, Number.MAX_VALUE],
    ]);
  });

  test('log-inputs records a dataset on the run', async () => {
    const { runId } = await newRun('exp-inputs');
    await client.tracking.logInputs(runId, [
      {
        dataset: { name: 'iris', digest: 'abc123', source_type: 'local', source: '{"uri": "data/iris.csv"}' },
        tags: [{ key: 'mlflow.data.context', value: 'training' }],
      },
    ]);
    const run = await client.tracking.getRun(runId);
    expect(run.inputs?.dataset_inputs?.[0]?.dataset).toMatchObject({ name: 'iris', digest: 'abc123' });
  });

  test("MLflow's error_code, message, method and path are in the error", async () => {
    const err = await client.tracking.getRun('0123456789abcdef0123456789abcdef').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowError);
    const e = err as MlflowError;
    expect(e.status).toBe(404);
    expect(e.errorCode).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(e.message).toContain('GET /api/2.0/mlflow/runs/get');
    expect(e.message).toContain('RESOURCE_DOES_NOT_EXIST');
    expect(e.message).toContain('0123456789abcdef0123456789abcdef');

    const { runId } = await newRun('exp-errors');
    await client.tracking.logBatch(runId, { params: [{ key: 'lr', value: '0.1' }] });
    const overwrite = await client.tracking
      .logBatch(runId, { params: [{ key: 'lr', value: '0.2' }] })
      .catch((x: unknown) => x);
    expect(overwrite).toMatchObject({ status: 400, errorCode: 'INVALID_PARAMETER_VALUE' });
    expect((overwrite as Error).message).toMatch(
      /POST \/api\/2\.0\/mlflow\/runs\/log-batch failed: HTTP 400 INVALID_PARAMETER_VALUE: .*lr/,
    );
  });
});

describe('artifacts', () => {
  test('a 20 MB binary file round-trips byte for byte', async () => {
    const { runId } = await newRun('exp-artifacts', 'big');
    const file = join(work, 'weights.bin');
    const data = randomBytes(20 * 1024 * 1024);
    writeFileSync(file, data);
    await client.artifacts.logArtifact(runId, file, 'blobs');
    const listed = await client.artifacts.listArtifacts(runId, 'blobs');
    expect(listed).toEqual([{ path: 'blobs/weights.bin', is_dir: false, file_size: data.length }]);
    const back = await client.artifacts.downloadArtifact(runId, 'blobs/weights.bin');
    expect(back.length).toBe(data.length);
    expect(back.equals(data)).toBe(true);
  });

  test('a directory tree keeps its structure, including names that need encoding', async () => {
    const { runId } = await newRun('exp-artifacts', 'tree');
    const dir = join(work, 'tree');
    const files: Record<string, string> = {
      'report.html': '<h1>report</h1>',
      'plots/roc curve.png': 'png-bytes',
      'plots/deep/ümlaut +100% (v2)?.txt': 'unicode',
      'data/a.csv': 'x,y\n1,2\n',
    };
    for (let i = 0; i < 30; i++) files[`many/file-${String(i).padStart(2, '0')}.txt`] = `content ${i}`;
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      writeFileSync(join(dir, rel), content);
    }
    const count = await client.artifacts.logArtifacts(runId, dir, 'outputs');
    expect(count).toBe(Object.keys(files).length);

    const walk = async (path?: string): Promise<string[]> => {
      const out: string[] = [];
      for (const f of await client.artifacts.listArtifacts(runId, path)) {
        if (f.is_dir) out.push(...(await walk(f.path)));
        else out.push(f.path);
      }
      return out;
    };
    const remote = await walk();
    expect(remote.sort()).toEqual(
      Object.keys(files)
        .map((rel) => `outputs/${rel}`)
        .sort(),
    );
    for (const [rel, content] of Object.entries(files)) {
      expect((await client.artifacts.downloadArtifact(runId, `outputs/${rel}`)).toString()).toBe(content);
    }
  });

  test('a tree with a path MLflow refuses fails up front, naming the file, with nothing uploaded', async () => {
    const { runId } = await newRun('exp-artifacts', 'refused');
    const dir = join(work, 'refused');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'a.txt'), 'a');
    writeFileSync(join(dir, 'sub', 'issue #12.txt'), 'b');
    const err = await client.artifacts.logArtifacts(runId, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowError);
    expect((err as Error).message).toContain(join(dir, 'sub', 'issue #12.txt'));
    expect((err as Error).message).toContain("'#'");
    expect(await client.artifacts.listArtifacts(runId)).toEqual([]);
  });
});

describe('registry and LoggedModels', () => {
  let modelDir: string;
  let pyRun: { experimentId: string; runId: string };

  beforeAll(async () => {
    pyRun = await newRun('exp-models', 'trained-in-python');
    modelDir = join(work, 'iris-model');
    // One Python process: save a model directory for us to upload, and log one inside the run
    // the way a training script does.
    await python(
      [
        'import mlflow, mlflow.sklearn',
        'from sklearn.datasets import load_iris',
        'from sklearn.linear_model import LogisticRegression',
        'X, y = load_iris(return_X_y=True)',
        'm = LogisticRegression(max_iter=500).fit(X, y)',
        `mlflow.sklearn.save_model(m, ${JSON.stringify(modelDir)}, input_example=X[:2])`,
        'with mlflow.start_run():',
        '    mlflow.sklearn.log_model(m, name="clf", input_example=X[:2])',
      ].join('\n'),
      { MLFLOW_RUN_ID: pyRun.runId },
    );
  });

  const predict = (uri: string): Promise<string> =>
    python(
      `import mlflow, numpy as np\nm = mlflow.pyfunc.load_model(${JSON.stringify(uri)})\nprint([int(v) for v in m.predict(np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))])`,
    );

  test('the server has the LoggedModel API, and the model a Python script logged is found', async () => {
    expect(await client.models.supportsLoggedModels(pyRun.experimentId)).toBe(true);
    const found = await client.models.findLoggedModel({ ...pyRun, name: 'clf' });
    expect(found?.info).toMatchObject({
      name: 'clf',
      source_run_id: pyRun.runId,
      status: 'LOGGED_MODEL_READY',
    });
    expect(await client.models.findLoggedModel({ ...pyRun, name: 'not-logged' })).toBeUndefined();
    const other = await newRun('exp-models', 'no-model');
    expect(await client.models.findLoggedModel({ ...other })).toBeUndefined();
  });

  test('a local model directory is uploaded as a LoggedModel, registered, aliased and loadable', async () => {
    const { experimentId, runId } = await newRun('exp-models', 'uploaded');
    const logged = await client.models.logModelDir({
      runId,
      experimentId,
      localDir: modelDir,
      name: 'model',
    });
    expect(logged.modelId).toMatch(/^m-/);
    expect(logged.modelUri).toBe(`models:/${logged.modelId}`);

    const found = await client.models.findLoggedModel({ experimentId, runId, name: 'model' });
    expect(found?.info).toMatchObject({ model_id: logged.modelId, status: 'LOGGED_MODEL_READY' });
    const run = await client.tracking.getRun(runId);
    expect(run.outputs?.model_outputs).toEqual([{ model_id: logged.modelId, step: 0 }]);

    const name = 'iris-classifier';
    const rm = await client.registry.getOrCreateRegisteredModel(name, { owner: 'ml' });
    expect(rm.name).toBe(name);
    expect((await client.registry.getOrCreateRegisteredModel(name)).name).toBe(name);
    const mv = await client.registry.createModelVersion({
      name,
      source: logged.source,
      runId,
      modelId: logged.modelId,
      tags: { gate: 'pending' },
      description: 'from CI',
    });
    const ready = await client.registry.waitForModelVersionReady(name, mv.version);
    expect(ready).toMatchObject({
      name,
      version: mv.version,
      status: 'READY',
      run_id: runId,
      source: logged.source,
    });

    await client.registry.setModelVersionTag(name, mv.version, 'gate', 'passed');
    const tagged = await client.registry.getModelVersion(name, mv.version);
    expect(tagged.tags).toContainEqual({ key: 'gate', value: 'passed' });

    expect(await client.registry.getModelVersionByAlias(name, 'candidate')).toBeUndefined();
    expect(await client.registry.getModelVersionByAlias('no-such-model', 'candidate')).toBeUndefined();
    await client.registry.setAlias(name, 'candidate', mv.version);
    expect((await client.registry.getModelVersionByAlias(name, 'candidate'))?.version).toBe(mv.version);
    await client.registry.deleteAlias(name, 'candidate');
    expect(await client.registry.getModelVersionByAlias(name, 'candidate')).toBeUndefined();
    await client.registry.setAlias(name, 'candidate', mv.version);

    // Python loads what we uploaded, by version and by alias, and the model points back at its run.
    const loaded = await python(
      [
        'import mlflow, numpy as np',
        'X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])',
        `for uri in ["models:/${name}/${mv.version}", "models:/${name}@candidate"]:`,
        '    print([int(v) for v in mlflow.pyfunc.load_model(uri).predict(X)])',
        `info = mlflow.models.get_model_info("models:/${name}/${mv.version}")`,
        'print(info.run_id, info.model_id)',
      ].join('\n'),
    );
    expect(loaded).toBe(`[0, 2]\n[0, 2]\n${runId} ${logged.modelId}\n`);
    expect(client.registry.modelVersionUrl(name, mv.version)).toBe(
      `${server.url}/#/models/iris-classifier/versions/${mv.version}`,
    );
    expect(client.tracking.runUrl(experimentId, runId)).toBe(
      `${server.url}/#/experiments/${experimentId}/runs/${runId}`,
    );
  });

  test('a model the Python script logged is registered from its LoggedModel', async () => {
    const found = await client.models.findLoggedModel({ ...pyRun, name: 'clf' });
    await client.registry.getOrCreateRegisteredModel('iris-from-python');
    const mv = await client.registry.createModelVersion({
      name: 'iris-from-python',
      source: `models:/${found!.info.model_id}`,
      runId: pyRun.runId,
      modelId: found!.info.model_id,
    });
    await client.registry.waitForModelVersionReady('iris-from-python', mv.version);
    expect(await predict(`models:/iris-from-python/${mv.version}`)).toBe('[0, 2]\n');
  });

  test('without the LoggedModel API (MLflow 2.x) the model goes to run artifacts with a runs:/ source', async () => {
    // MLflow 2.x has no /logged-models routes: Flask answers them with an HTML 404.
    const proxy = await startProxy(server.url, (path) => path.includes('/logged-models'));
    try {
      const old = new MlflowClient(mlflowSettings({}, proxy.url));
      const exp = await old.tracking.getOrCreateExperiment('exp-models-2x');
      expect(await old.models.supportsLoggedModels(exp.experiment_id)).toBe(false);
      const run = await old.tracking.createRun({ experimentId: exp.experiment_id, runName: 'v2' });
      expect(
        await old.models.findLoggedModel({ experimentId: exp.experiment_id, runId: run.run_id }),
      ).toBeUndefined();
      const logged = await old.models.logModelDir({
        runId: run.run_id,
        experimentId: exp.experiment_id,
        localDir: modelDir,
        name: 'model',
      });
      expect(logged).toEqual({ modelUri: `runs:/${run.run_id}/model`, source: `runs:/${run.run_id}/model` });
      const files = (await old.artifacts.listArtifacts(run.run_id, 'model')).map((f) => f.path);
      expect(files).toEqual(
        expect.arrayContaining(['model/MLmodel', 'model/model.skops', 'model/requirements.txt']),
      );
      const mlmodel = (await old.artifacts.downloadArtifact(run.run_id, 'model/MLmodel')).toString();
      expect(mlmodel).toContain(`run_id: ${run.run_id}`);
      const history = (await old.tracking.getRun(run.run_id)).data.tags.find(
        (t) => t.key === 'mlflow.log-model.history',
      );
      expect(JSON.parse(history!.value)[0]).toMatchObject({ run_id: run.run_id, artifact_path: 'model' });

      await old.registry.getOrCreateRegisteredModel('iris-2x');
      const mv = await old.registry.createModelVersion({
        name: 'iris-2x',
        source: logged.source,
        runId: run.run_id,
      });
      await old.registry.waitForModelVersionReady('iris-2x', mv.version);
      expect(await predict(`models:/iris-2x/${mv.version}`)).toBe('[0, 2]\n');
      expect(proxy.hidden()).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
    }
  });

  test('a directory without MLmodel is refused before anything is created', async () => {
    const { experimentId, runId } = await newRun('exp-models', 'not-a-model');
    const err = await client.models
      .logModelDir({ runId, experimentId, localDir: join(work, 'tree'), name: 'model' })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/not an MLflow model directory/);
    expect(await client.models.findLoggedModel({ experimentId, runId })).toBeUndefined();
  });
});

test('ping succeeds against a live server', async () => {
  await expect(client.ping()).resolves.toBeUndefined();
});

/** A pass-through proxy that answers `hide(path)` requests like a server without those routes. */
async function startProxy(
  target: string,
  hide: (path: string) => boolean,
): Promise<{ url: string; hidden: () => number; stop: () => Promise<void> }> {
  const upstream = new URL(target);
  let hidden = 0;
  const srv: Server = createServer((req, res) => {
    if (hide(req.url ?? '')) {
      hidden++;
      req.resume();
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>404 Not Found</title><h1>Not Found</h1>');
      return;
    }
    const fwd = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hidden: () => hidden,
    stop: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}
