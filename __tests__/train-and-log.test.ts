/**
 * train-and-log, bundled, against a real `mlflow server` with the real model/train.py: the first
 * model registers and becomes the candidate; once it is the champion, a worse model fails the gate
 * and a better one passes, on a pull request whose one comment is edited, not duplicated. And at
 * volume: more than 1,000 metrics and 100 params in one run (log-batch split to MLflow's limits), a
 * 20 MB artifact, directories and globs, and a locally saved model that the action uploads.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { startMlflow, PYTHON, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest, metricsOf, paramsOf, pyfuncPredict, tagsOf } from './helpers/mlflow-rest.js';
import { ROOT, runAction, type RunResult } from './helpers/run-action.js';

const TRAIN = join(ROOT, 'model', 'train.py');
const MODEL = 'iris-classifier';
const EXPERIMENT = 'iris-gate';

let mlflow: MlflowServer;
let rest: MlflowRest;
let gh: FakeGitHub;
let prNumber: number;

beforeAll(async () => {
  [mlflow, gh] = await Promise.all([
    startMlflow(),
    Promise.resolve(new FakeGitHub({ repos: ['octo-org/iris'] })),
  ]);
  await gh.start();
  rest = new MlflowRest(mlflow.url);
  // The pull request the later runs report on (PRs are issues to the comments API).
  // A pull request is an issue with `pull_request` links: the PR comment goes through the issues API.
  prNumber = gh.createRepo('octo-org/iris').addIssue(gh.state, gh.url, {
    title: 'Tune the forest',
    user: gh.state.user('contributor'),
    pull: true,
    nodePrefix: 'PR',
  }).number;
}, 120_000);

afterAll(async () => {
  await Promise.all([mlflow?.stop(), gh?.stop()]);
});

type Trained = RunResult & { cwd: string };

async function train(
  args: string,
  extra: { event?: 'pull_request'; inputs?: Record<string, string> } = {},
): Promise<Trained> {
  const cwd = mkdtempSync(join(tmpdir(), 'tal-'));
  // Like this repository: a `model/` source folder, which must not shadow the model train.py logs.
  mkdirSync(join(cwd, 'model'));
  writeFileSync(join(cwd, 'model', 'README.md'), 'training code lives here\n');
  const pr = extra.event === 'pull_request';
  const result = await runAction('train-and-log', {
    cwd,
    inputs: {
      'tracking-uri': mlflow.url,
      experiment: EXPERIMENT,
      command: `${PYTHON} ${TRAIN} --output-dir out ${args}`,
      'metrics-file': 'out/metrics.json',
      'params-file': 'out/params.json',
      artifacts: 'out/metrics.json',
      'model-path': 'model',
      'registered-model': MODEL,
      'gate-metric': 'accuracy',
      ...extra.inputs,
    },
    env: {
      ...gh.env(),
      PYTHONWARNINGS: 'ignore',
      ...(pr
        ? {
            GITHUB_HEAD_REF: 'tune-forest',
            GITHUB_BASE_REF: 'main',
            GITHUB_REF: `refs/pull/${prNumber}/merge`,
          }
        : {}),
    },
    eventName: pr ? 'pull_request' : 'push',
    event: pr
      ? { action: 'synchronize', number: prNumber, pull_request: { number: prNumber } }
      : { ref: 'refs/heads/main' },
    timeoutMs: 110_000,
  });
  return { ...result, cwd };
}

const comments = () => gh.state.repo('octo-org', 'iris')!.comments.filter((c) => c.issue_number === prNumber);

describe('train-and-log against a real MLflow server', () => {
  let first: Trained;

  it('trains, logs, registers the first model and makes it the candidate (no champion yet)', async () => {
    first = await train('');
    expect(first.errors).toEqual([]);
    expect(first.code).toBe(0);
    const runId = first.outputs['run-id']!;
    expect(runId).toMatch(/^[0-9a-f]{32}$/);
    expect(first.outputs['run-url']).toContain(runId);
    expect(first.outputs['run-url']).toContain(mlflow.url);
    expect(first.outputs['model-version']).toBe('1');
    expect(first.outputs['model-uri']).toMatch(/^models:\/m-[0-9a-f]+$/);
    expect(first.outputs['gate-passed']).toBe('true');
    // The command streamed its output into the action's log.
    expect(first.stdout).toMatch(/accuracy=0\.\d+ f1_macro=0\.\d+/);

    const written = JSON.parse(readFileSync(join(first.cwd, 'out', 'metrics.json'), 'utf8')) as {
      accuracy: number;
      recall: Record<string, number>;
    };

    const run = await rest.run(runId);
    expect(run.info.status).toBe('FINISHED');
    expect(run.info.end_time).toBeGreaterThan(0);
    expect(run.info.experiment_id).toBe(first.outputs['experiment-id']);
    const tags = tagsOf(run);
    expect(tags).toMatchObject({
      'mlflow.source.git.commit': '0123456789abcdef0123456789abcdef01234567',
      'mlflow.source.git.branch': 'main',
      'mlflow.source.git.repoURL': 'https://github.com/octo-org/iris',
      'mlflow.user': 'octocat',
      'mlflow.runName': 'main@0123456',
      'github.run_url': 'https://github.com/octo-org/iris/actions/runs/4242',
    });
    expect(tags['mlflow.source.name']).toBeTruthy();

    const metrics = metricsOf(run);
    const outputMetrics = JSON.parse(first.outputs.metrics!) as Record<string, number>;
    expect(outputMetrics).toEqual(metrics);
    expect(metrics.accuracy).toBe(written.accuracy);
    expect(metrics['recall.setosa']).toBe(written.recall.setosa);
    expect(metrics['confusion_matrix.virginica.virginica']).toBeGreaterThan(0);
    expect(paramsOf(run)).toMatchObject({ seed: '42', n_estimators: '100', model: 'RandomForestClassifier' });
    expect((await rest.artifacts(runId, 'out')).map((f) => f.path)).toEqual(['out/metrics.json']);

    const mv = await rest.version(MODEL, '1');
    expect(mv.status).toBe('READY');
    expect(mv.run_id).toBe(runId);
    expect(mv.source).toBe(first.outputs['model-uri']);
    expect(await rest.alias(MODEL, 'candidate')).toBe('1');
    expect(await rest.alias(MODEL, 'champion')).toBeUndefined();

    expect(first.summary).toMatch(/Gate passed/);
    expect(first.summary).toContain('no champion yet');
    expect(first.summary).toMatch(/Confusion matrix/);
    expect(first.summary).toMatch(/\| \*\*setosa\*\* \| \*\*\d+\*\* \| 0 \| 0 \|/);
    expect(first.summary).toContain(first.outputs['run-url']);
    expect(first.summary).toContain(`${mlflow.url}/#/models/${MODEL}/versions/1`);
    // Not a pull request: no comment.
    expect(gh.calls('issues/create-comment')).toHaveLength(0);
  });

  it('gates a worse model against the champion: registered, not promoted; the PR gets one comment', async () => {
    // Deployment (a later action) makes the first version the champion.
    await rest.setAlias(MODEL, 'champion', '1');
    const champion = metricsOf(await rest.run(first.outputs['run-id']!));

    const worse = await train('--label-noise 0.6', { event: 'pull_request' });
    expect(worse.errors).toEqual([]);
    expect(worse.code).toBe(0);
    expect(worse.outputs['model-version']).toBe('2');
    expect(worse.outputs['gate-passed']).toBe('false');
    const metrics = JSON.parse(worse.outputs.metrics!) as Record<string, number>;
    expect(metrics.accuracy).toBeLessThan(champion.accuracy!);

    expect(await rest.alias(MODEL, 'candidate')).toBe('1');
    expect(await rest.alias(MODEL, 'champion')).toBe('1');
    const v2 = await rest.version(MODEL, '2');
    expect(v2.status).toBe('READY');
    expect(Object.fromEntries((v2.tags ?? []).map((t) => [t.key, t.value]))['mlops-actions.gate']).toBe(
      'failed',
    );
    const run = await rest.run(worse.outputs['run-id']!);
    expect(run.info.status).toBe('FINISHED');
    expect(tagsOf(run)['mlflow.source.git.branch']).toBe('tune-forest');

    expect(worse.summary).toMatch(/Gate failed/);
    expect(worse.summary).toMatch(/`candidate` was not moved/);
    // The champion's value and the delta are in the table.
    const delta = metrics.accuracy! - champion.accuracy!;
    expect(worse.summary).toContain(
      `| **accuracy** | ${Number(metrics.accuracy!.toFixed(4))} | ${Number(champion.accuracy!.toFixed(4))} | −${Number(Math.abs(delta).toFixed(4))} |`,
    );

    expect(comments()).toHaveLength(1);
    expect(comments()[0]!.body).toMatch(/Gate failed/);
    expect(comments()[0]!.body).toContain('<!-- mlops-actions:');
  });

  it('promotes a better model to candidate, never moves champion, and edits the same PR comment', async () => {
    const commentId = comments()[0]!.id;
    const better = await train('--max-depth 3', { event: 'pull_request' });
    expect(better.errors).toEqual([]);
    expect(better.code).toBe(0);
    expect(better.outputs['model-version']).toBe('3');
    expect(better.outputs['gate-passed']).toBe('true');
    expect(await rest.alias(MODEL, 'candidate')).toBe('3');
    expect(await rest.alias(MODEL, 'champion')).toBe('1');
    expect(better.summary).toMatch(/Gate passed/);
    expect(better.summary).toMatch(/champion \(v1\)/);

    expect(comments()).toHaveLength(1);
    expect(comments()[0]!.id).toBe(commentId);
    expect(comments()[0]!.body).toMatch(/Gate passed/);
    expect(comments()[0]!.body).toContain(`/versions/3`);
    expect(gh.calls('issues/create-comment')).toHaveLength(1);
    expect(gh.calls('issues/update-comment')).toHaveLength(1);

    // What a user (or the serving image) does with the registry: load by version and predict.
    const uris = [`models:/${MODEL}/1`, `models:/${MODEL}/3`];
    const predictions = pyfuncPredict(mlflow.url, uris);
    for (const uri of uris) expect(predictions[uri]).toEqual(['setosa', 'versicolor', 'virginica']);
  });
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

  it('uploads a 300 MB artifact byte for byte with bounded memory (peak RSS of the action under 200 MB)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tal-large-'));
    let peakKb = 0;
    let poll: NodeJS.Timeout | undefined;
    const r = await runAction('train-and-log', {
      cwd,
      inputs: {
        'tracking-uri': mlflow.url,
        experiment: 'large-artifact',
        command: `head -c 300M /dev/urandom > large.bin && echo '{"accuracy": 0.5}' > metrics.json`,
        artifacts: 'large.bin',
        'github-token': '',
      },
      timeoutMs: 180_000,
      onStdout: (_chunk, child) => {
        // VmHWM is the process's peak resident set so far; read it until the process is gone.
        poll ??= setInterval(() => {
          try {
            const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
            peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0));
          } catch {
            /* exited */
          }
        }, 50);
      },
    });
    clearInterval(poll);
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    const runId = r.outputs['run-id']!;
    const local = await sha256File(join(cwd, 'large.bin'));
    const res = await fetch(
      `${mlflow.url}/get-artifact?${new URLSearchParams({ run_id: runId, path: 'large.bin' })}`,
    );
    expect(res.ok).toBe(true);
    const remote = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      remote.update(chunk);
      bytes += chunk.length;
    }
    expect(bytes).toBe(300 * 1024 * 1024);
    expect(remote.digest('hex')).toBe(local);
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThan(200 * 1024);
    console.log(`train-and-log peak RSS uploading 300 MB: ${Math.round(peakKb / 1024)} MB`);
  }, 240_000);
});

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
