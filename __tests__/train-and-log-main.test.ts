/**
 * train-and-log's main(inputs, deps) called in-process against a real `mlflow server`, with the
 * outputs, summary, PR comment and analysis recorded instead of written: the logic without the
 * runner. The bundle tests (train-and-log*.test.ts) stay the end-to-end proof.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { getInputs, type Inputs } from '../actions/train-and-log/inputs.js';
import { defaultDeps, main, type Deps } from '../actions/train-and-log/train.js';
import { commentKey } from '../actions/train-and-log/pr-comment.js';
import { gatherExtras } from '../actions/train-and-log/report-data.js';
import { PYTHON, startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest, tagsOf } from './helpers/mlflow-rest.js';

let mlflow: MlflowServer;
let rest: MlflowRest;

beforeAll(async () => {
  mlflow = await startMlflow();
  rest = new MlflowRest(mlflow.url);
}, 120_000);

afterAll(async () => {
  await mlflow?.stop();
});

let counter = 0;

/** A working directory with a minimal MLflow model directory and the metrics the command "wrote". */
function workdir(metrics: Record<string, number>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tal-main-'));
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'MLmodel'), 'flavors:\n  python_function:\n    loader_module: none\n');
  writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics));
  return dir;
}

function inputs(dir: string, over: Partial<Inputs> = {}): Inputs {
  const n = ++counter;
  return {
    mlflow: mlflowSettings({}, mlflow.url),
    commentOnPush: false,
    experiment: `main-${n}`,
    runName: `run-${n}`,
    command: 'true',
    workingDirectory: dir,
    metricsFile: join(dir, 'metrics.json'),
    artifacts: [],
    modelPath: 'model',
    championAlias: 'champion',
    promoteAlias: 'candidate',
    analysis: { model: 'unused', fallbackModels: [] },
    github: { serverUrl: 'https://github.com' },
    ...over,
  };
}

interface Recorded {
  outputs: Record<string, string>;
  summaries: string[];
  comments: { key: string; body: string }[];
  /** One entry per analysis asked for. */
  analysed: string[];
}

/** The real MLflow connection and command runner; everything the runner would write, recorded. */
function deps(): Deps & Recorded {
  const rec: Recorded = { outputs: {}, summaries: [], comments: [], analysed: [] };
  return {
    ...rec,
    connect: defaultDeps.connect,
    startCommand: defaultDeps.startCommand,
    // No signal handlers in the test process: cancellation is the bundle tests' job.
    onCancel: () => () => undefined,
    exit: (code) => {
      throw new Error(`exit(${code}) without a cancellation`);
    },
    setOutput: (name, value) => void (rec.outputs[name] = value),
    writeSummary: async (md) => void rec.summaries.push(md),
    comment: async (inputs, body) => void rec.comments.push({ key: commentKey(inputs), body }),
    extras: gatherExtras,
    analysis: async (_inputs, outcome) => {
      rec.analysed.push(outcome.runId);
      return '_no analysis_';
    },
  };
}

const gated = { metric: 'accuracy', direction: 'maximize' as const, minDelta: 0 };

describe('train-and-log main', () => {
  it('logs, registers, passes the gate with no champion, moves the promote alias and reports', async () => {
    const d = deps();
    const dir = workdir({ accuracy: 0.9 });
    const model = `main-pass-${counter}`;
    await main(inputs(dir, { registeredModel: model, gate: gated }), d);

    expect(d.outputs['gate-passed']).toBe('true');
    expect(d.outputs['model-version']).toBe('1');
    expect(JSON.parse(d.outputs.metrics!)).toEqual({ accuracy: 0.9 });
    const run = await rest.run(d.outputs['run-id']!);
    expect(run.info.status).toBe('FINISHED');
    expect(run.data.metrics).toEqual([expect.objectContaining({ key: 'accuracy', value: 0.9 })]);
    expect(await rest.alias(model, 'candidate')).toBe('1');
    expect((await rest.version(model, '1')).tags).toContainEqual({
      key: 'mlops-actions.gate',
      value: 'passed',
    });
    expect(d.summaries).toHaveLength(1);
    expect(d.summaries[0]).toContain('Gate passed');
    expect(d.comments).toEqual([{ key: `train-and-log:${model}`, body: d.summaries[0] }]);
    expect(d.analysed).toEqual([d.outputs['run-id']]);
  });

  it('tags the run and the version from the GitHub run in the inputs; the report reads through the one client', async () => {
    const d = deps();
    const made: unknown[] = [];
    const used: unknown[] = [];
    d.connect = async (settings) => {
      const client = await defaultDeps.connect(settings);
      made.push(client);
      return client;
    };
    const read: unknown[] = [];
    d.extras = async (i, o, client) => {
      used.push(client);
      const extras = await gatherExtras(i, o, client);
      read.push(extras);
      return extras;
    };
    d.analysis = async (_i, _o, client) => {
      used.push(client);
      return '_no analysis_';
    };
    const model = `main-gh-${counter}`;
    const sha = '0123456789abcdef0123456789abcdef01234567';
    const runUrl = 'https://ghe.example.com/octo-org/iris/actions/runs/42';
    const github = {
      sha,
      branch: 'tune',
      ref: 'refs/heads/tune',
      repository: 'octo-org/iris',
      serverUrl: 'https://ghe.example.com',
      runUrl,
      workflow: 'train',
      actor: 'octocat',
      eventName: 'push',
    };
    const dir = workdir({ accuracy: 0.9 });
    writeFileSync(join(dir, 'params.json'), JSON.stringify({ depth: 3 }));
    await main(
      inputs(dir, { registeredModel: model, gate: gated, github, paramsFile: join(dir, 'params.json') }),
      d,
    );

    expect(tagsOf(await rest.run(d.outputs['run-id']!))).toMatchObject({
      'mlflow.source.git.commit': sha,
      'mlflow.source.git.branch': 'tune',
      'mlflow.source.git.repoURL': 'https://ghe.example.com/octo-org/iris',
      'mlflow.source.name': 'train (GitHub Actions)',
      'mlflow.user': 'octocat',
      'github.run_url': runUrl,
      'github.event_name': 'push',
      'github.ref': 'refs/heads/tune',
    });
    expect((await rest.version(model, '1')).tags).toEqual(
      expect.arrayContaining([
        { key: 'mlflow.source.git.commit', value: sha },
        { key: 'github.run_url', value: runUrl },
      ]),
    );
    expect(made).toHaveLength(1);
    expect(used).toHaveLength(2);
    expect(used[0]).toBe(made[0]);
    expect(used[1]).toBe(made[0]);
    // The extras were read through it: the run's params, back from MLflow.
    expect(read).toEqual([expect.objectContaining({ params: { depth: '3' } })]);
  });

  it('a gate refusal registers the version tagged failed but leaves the promote alias where it was', async () => {
    const model = `main-refuse-${counter}`;
    const first = deps();
    await main(inputs(workdir({ accuracy: 0.9 }), { registeredModel: model, gate: gated }), first);
    await rest.setAlias(model, 'champion', '1');

    const d = deps();
    await main(inputs(workdir({ accuracy: 0.5 }), { registeredModel: model, gate: gated }), d);
    expect(d.outputs['gate-passed']).toBe('false');
    expect(d.outputs['model-version']).toBe('2');
    expect((await rest.version(model, '2')).tags).toContainEqual({
      key: 'mlops-actions.gate',
      value: 'failed',
    });
    expect(await rest.alias(model, 'candidate')).toBe('1');
    expect(await rest.alias(model, 'champion')).toBe('1');
    expect(d.summaries[0]).toContain('Gate failed');
    expect((await rest.run(d.outputs['run-id']!)).info.status).toBe('FINISHED');
  });

  it('a failed command ends the run FAILED, writes the failure summary and registers nothing', async () => {
    const d = deps();
    const model = `main-fail-${counter}`;
    const dir = workdir({ accuracy: 0.9 });
    await expect(
      main(inputs(dir, { command: 'echo training; exit 3', registeredModel: model, gate: gated }), d),
    ).rejects.toThrow(/training command failed with exit code 3; MLflow run [0-9a-f]{32} is marked FAILED/);
    const runId = d.outputs['run-id']!;
    expect((await rest.run(runId)).info.status).toBe('FAILED');
    expect(d.outputs['gate-passed']).toBeUndefined();
    expect(d.summaries).toHaveLength(1);
    expect(d.summaries[0]).toContain('exit code 3');
    expect(d.comments).toEqual([]);
    expect(d.analysed).toEqual([]);
    expect(await rest.versions(model)).toEqual([]);
  });

  it('a gate metric the run lacks fails the run before anything is logged or registered', async () => {
    const d = deps();
    const model = `main-nometric-${counter}`;
    await expect(
      main(inputs(workdir({ f1: 0.7 }), { registeredModel: model, gate: gated }), d),
    ).rejects.toThrow(/gate-metric.*it has f1/);
    const run = await rest.run(d.outputs['run-id']!);
    expect(run.info.status).toBe('FAILED');
    expect(run.data.metrics ?? []).toEqual([]);
    expect(await rest.versions(model)).toEqual([]);
  });

  it('an unreachable tracking server fails before any run exists, with a failure summary', async () => {
    const d = deps();
    await expect(
      main(inputs(workdir({ accuracy: 1 }), { mlflow: mlflowSettings({}, 'http://127.0.0.1:9') }), d),
    ).rejects.toThrow(/Input 'tracking-uri'.*cannot be used/);
    expect(d.outputs).toEqual({});
    expect(d.summaries).toHaveLength(1);
  });

  it('without registered-model the run is logged and finished, nothing registered, gate-passed false', async () => {
    const d = deps();
    await main(inputs(workdir({ accuracy: 0.8 })), d);
    expect(d.outputs['model-version']).toBe('');
    expect(d.outputs['gate-passed']).toBe('false');
    expect(d.outputs['model-uri']).toMatch(/^models:\/m-/);
    expect((await rest.run(d.outputs['run-id']!)).info.status).toBe('FINISHED');
    expect(d.comments[0]!.key).toMatch(/^train-and-log:main-\d+$/);
  });

  it('with no metrics-file, a command that only calls mlflow.autolog() is gated on what autolog logged', async () => {
    // Real MLflow in the command: autolog's fit starts "its" run with mlflow.start_run(), which
    // resumes MLFLOW_RUN_ID (the action's run), logs metrics, params and the model there, ends it.
    const dir = mkdtempSync(join(tmpdir(), 'tal-autolog-'));
    writeFileSync(
      join(dir, 'train.py'),
      [
        'import mlflow',
        'from sklearn.datasets import load_iris',
        'from sklearn.linear_model import LogisticRegression',
        'mlflow.autolog(log_input_examples=False, log_model_signatures=False, silent=True)',
        'X, y = load_iris(return_X_y=True)',
        'LogisticRegression(max_iter=300, C=0.5).fit(X, y)',
        '',
      ].join('\n'),
    );
    const model = `main-autolog-${counter}`;
    const d = deps();
    const gate = { metric: 'training_accuracy_score', direction: 'maximize' as const, minDelta: 0 };
    const given = inputs(dir, {
      metricsFile: undefined,
      command: `PYTHONWARNINGS=ignore ${PYTHON} train.py`,
      registeredModel: model,
      gate,
    });
    await main(given, d);
    const runId = d.outputs['run-id']!;
    const run = await rest.run(runId);
    const metrics = JSON.parse(d.outputs.metrics!) as Record<string, number>;
    expect(metrics.training_accuracy_score).toBeGreaterThan(0.9);
    expect(run.data.metrics).toContainEqual(
      expect.objectContaining({ key: 'training_accuracy_score', value: metrics.training_accuracy_score }),
    );
    expect(run.data.params).toContainEqual({ key: 'C', value: '0.5' });
    expect(run.info.status).toBe('FINISHED');
    // The model autolog logged in the run is the one registered; nothing was uploaded a second time.
    expect(d.outputs['model-uri']).toMatch(/^models:\/m-/);
    expect((await rest.version(model, '1')).run_id).toBe(runId);
    expect(d.outputs['gate-passed']).toBe('true');
    // autolog logged into the action's run instead of starting one of its own.
    expect((await rest.runsOf(given.experiment)).map((r) => r.info.run_id)).toEqual([runId]);
  });
});

describe('getInputs', () => {
  /** Runs getInputs with these INPUT_* variables set, as the runner sets them, then restores the rest. */
  function withInputs(
    values: Record<string, string>,
    env: NodeJS.ProcessEnv,
    payload: Parameters<typeof getInputs>[1] = {},
  ): Inputs {
    const saved = { ...process.env };
    try {
      for (const [k, v] of Object.entries(values)) process.env[`INPUT_${k.toUpperCase()}`] = v;
      return getInputs(env, payload);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }
  const base = { command: 'true', 'working-directory': tmpdir() };
  const env = { MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000/', GITHUB_REPOSITORY: 'octo-org/iris' };

  it('experiment: the input, else MLFLOW_EXPERIMENT_NAME, else the repository', () => {
    expect(
      withInputs({ ...base, experiment: 'given' }, { ...env, MLFLOW_EXPERIMENT_NAME: 'from-env' }).experiment,
    ).toBe('given');
    expect(
      withInputs({ ...base, experiment: '' }, { ...env, MLFLOW_EXPERIMENT_NAME: 'from-env' }).experiment,
    ).toBe('from-env');
    expect(withInputs({ ...base, experiment: '' }, env).experiment).toBe('octo-org/iris');
  });

  it('the GitHub run is read once, from the runner variables and the event', () => {
    const runner = {
      ...env,
      GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
      GITHUB_HEAD_REF: 'tune',
      GITHUB_REF_NAME: '7/merge',
      GITHUB_REF: 'refs/pull/7/merge',
      GITHUB_SERVER_URL: 'https://ghe.example.com',
      GITHUB_RUN_ID: '42',
      GITHUB_WORKFLOW: 'train',
      GITHUB_WORKFLOW_REF: 'octo-org/iris/.github/workflows/train.yml@refs/pull/7/merge',
      GITHUB_ACTOR: 'octocat',
      GITHUB_TRIGGERING_ACTOR: 'hubot',
      GITHUB_EVENT_NAME: 'pull_request',
      GOOGLE_GEMINI_BASE_URL: 'http://127.0.0.1:9',
    };
    const got = withInputs(base, runner, { pull_request: { number: 7 } });
    expect(got.github).toEqual({
      sha: '0123456789abcdef0123456789abcdef01234567',
      branch: 'tune',
      ref: 'refs/pull/7/merge',
      repository: 'octo-org/iris',
      serverUrl: 'https://ghe.example.com',
      runUrl: 'https://ghe.example.com/octo-org/iris/actions/runs/42',
      workflow: 'train',
      workflowRef: 'octo-org/iris/.github/workflows/train.yml@refs/pull/7/merge',
      actor: 'hubot',
      eventName: 'pull_request',
      pullRequest: 7,
    });
    expect(got.runName).toBe('tune@0123456');
    expect(got.analysis.baseUrl).toBe('http://127.0.0.1:9');
    // A push names no pull request, whatever the payload holds; outside GitHub there is no run link.
    const push = withInputs(base, { ...env, GITHUB_EVENT_NAME: 'push' }, { pull_request: { number: 7 } });
    expect(push.github).toEqual({
      repository: 'octo-org/iris',
      serverUrl: 'https://github.com',
      eventName: 'push',
    });
    expect(push.runName).toBe('local');
  });

  it('metrics-file empty means none; the tracking URI is resolved once, with its settings', () => {
    const none = withInputs({ ...base, 'metrics-file': '' }, env);
    expect(none.metricsFile).toBeUndefined();
    expect(none.mlflow.trackingUri).toBe('http://127.0.0.1:5000');
    const given = withInputs(
      { ...base, 'metrics-file': 'out/m.json' },
      { ...env, MLFLOW_TRACKING_INSECURE_TLS: '1' },
    );
    expect(given.metricsFile).toBe(join(tmpdir(), 'out', 'm.json'));
    expect(given.mlflow.tls).toEqual({ insecure: true });
  });
});
