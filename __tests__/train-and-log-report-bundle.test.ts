/**
 * train-and-log's report, bundled, against a real `mlflow server` and the fake GitHub: the job
 * summary's charts parse with mermaid and show this run against the champion (per metric, the
 * training curve, both confusion matrices, the params that changed, MLflow's compare-runs and
 * LoggedModel links); two matrix legs keep one PR comment each across re-runs; and with
 * `comment-on-push` a push gets the report as one comment on its commit, edited when re-run.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addCommit, commitCommentsOf, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { mermaidBlocks, parseMermaid } from './helpers/mermaid.js';
import { startMlflow, PYTHON, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { runAction, type RunResult } from './helpers/run-action.js';

const MODEL = 'iris-report';
const TOKEN = 'ghs_test_token';

/** Logs a val_loss curve and params into MLFLOW_RUN_ID over REST, writes metrics.json and a model dir. */
const SCRIPT = String.raw`
import json, os, time, urllib.request
spec = json.load(open("spec.json"))
api = os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow"
now = int(time.time() * 1000)
metrics = [{"key": "val_loss", "value": v, "timestamp": now + i, "step": i} for i, v in enumerate(spec["curve"])]
params = [{"key": k, "value": v} for k, v in spec["params"].items()]
body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "metrics": metrics, "params": params}).encode()
urllib.request.urlopen(urllib.request.Request(api + "/runs/log-batch", body, {"content-type": "application/json"})).read()
json.dump(spec["metrics"], open("metrics.json", "w"))
os.makedirs("model", exist_ok=True)
open("model/MLmodel", "w").write("flavors:\n  python_function:\n    loader_module: none\n")
`;

interface Spec {
  params: Record<string, string>;
  curve: number[];
  metrics: Record<string, unknown>;
}

const matrix = (miss: number) => ({
  setosa: { setosa: 15, virginica: 0 },
  virginica: { setosa: miss, virginica: 15 - miss },
});
const CHAMPION: Spec = {
  params: { lr: '0.01', depth: '4' },
  curve: [1, 0.8, 0.6, 0.5],
  metrics: { accuracy: 0.9, train_samples: 100, confusion_matrix: matrix(1) },
};
const BETTER: Spec = {
  params: { lr: '0.1', depth: '4' },
  curve: [1, 0.7, 0.5, 0.4],
  metrics: { accuracy: 0.95, train_samples: 120, confusion_matrix: matrix(0) },
};

let mlflow: MlflowServer;
let rest: MlflowRest;
let gh: FakeGitHub;
let prNumber: number;
const commitComments = () => commitCommentsOf(gh, 'octo-org', 'iris');

beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  [mlflow] = await Promise.all([startMlflow(), gh.start()]);
  rest = new MlflowRest(mlflow.url);
  registerCommitHandlers(gh);
  const res = await fetch(`${gh.url}/repos/octo-org/iris/issues`, {
    method: 'POST',
    headers: { authorization: `token ${TOKEN}`, 'user-agent': 'test', 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Raise the learning rate' }),
  });
  prNumber = ((await res.json()) as { number: number }).number;
  gh.state.repo('octo-org', 'iris')!.issue(prNumber)!.pull_request = {
    url: `${gh.url}/repos/octo-org/iris/pulls/${prNumber}`,
    html_url: `https://github.com/octo-org/iris/pull/${prNumber}`,
    diff_url: `https://github.com/octo-org/iris/pull/${prNumber}.diff`,
    patch_url: `https://github.com/octo-org/iris/pull/${prNumber}.patch`,
    merged_at: null,
  };
}, 120_000);

afterAll(async () => {
  await Promise.all([mlflow?.stop(), gh?.stop()]);
});

async function train(
  spec: Spec,
  opts: { pr?: boolean; sha?: string; inputs?: Record<string, string> } = {},
): Promise<RunResult> {
  const cwd = mkdtempSync(join(tmpdir(), 'tal-report-'));
  writeFileSync(join(cwd, 'spec.json'), JSON.stringify(spec));
  writeFileSync(join(cwd, 'train.py'), SCRIPT);
  const result = await runAction('train-and-log', {
    cwd,
    inputs: {
      'tracking-uri': mlflow.url,
      experiment: 'iris-report',
      command: `${PYTHON} train.py`,
      'registered-model': MODEL,
      'gate-metric': 'accuracy',
      ...opts.inputs,
    },
    env: { ...gh.env(TOKEN), ...(opts.sha ? { GITHUB_SHA: opts.sha } : {}) },
    eventName: opts.pr ? 'pull_request' : 'push',
    event: opts.pr
      ? { action: 'synchronize', number: prNumber, pull_request: { number: prNumber } }
      : { ref: 'refs/heads/main' },
    timeoutMs: 110_000,
  });
  expect(result.errors).toEqual([]);
  expect(result.code).toBe(0);
  return result;
}

const prComments = () =>
  gh.state.repo('octo-org', 'iris')!.comments.filter((c) => c.issue_number === prNumber);

describe('the report of a run against its champion', () => {
  let champion: RunResult;
  let better: RunResult;

  beforeAll(async () => {
    champion = await train(CHAMPION);
    await rest.setAlias(MODEL, 'champion', '1');
    better = await train(BETTER, { pr: true, inputs: { 'comment-key': '{"depth": 4}' } });
  }, 240_000);

  it('has valid mermaid charts of both runs and of the training curve', async () => {
    const blocks = mermaidBlocks(better.summary);
    expect(blocks.length).toBe(3);
    for (const b of blocks) await expect(parseMermaid(b)).resolves.toBe('xychart');
    expect(blocks[0]).toContain('bar [0.95, 0');
    expect(blocks[0]).toContain('bar [0, 0.9');
    expect(blocks[1]).toContain('bar [120, 0]');
    expect(blocks[2]).toContain('x-axis "step" ["0", "1", "2", "3"]');
    expect(blocks[2]).toContain('line [1, 0.7, 0.5, 0.4]');
    expect(blocks[2]).toContain('line [1, 0.8, 0.6, 0.5]');
  });

  it('shows both confusion matrices, the changed params and the links', () => {
    expect(better.summary).toContain('<th>this run</th><th>champion v1</th>');
    expect(better.summary).toContain('| **virginica** | 0 | **15** |');
    expect(better.summary).toContain('| **virginica** | 1 | **14** |');
    expect(better.summary).toContain('| lr | <code>0.01</code> | <code>0.1</code> |');
    expect(better.summary).not.toContain('| depth |');
    const runs = encodeURIComponent(JSON.stringify([better.outputs['run-id'], champion.outputs['run-id']]));
    expect(better.summary).toContain(`${mlflow.url}/#/compare-runs?runs=${runs}&experiments=`);
    const modelId = better.outputs['model-uri']!.replace('models:/', '');
    const experimentId = better.outputs['experiment-id']!;
    expect(better.summary).toContain(`(${mlflow.url}/#/experiments/${experimentId}/models/${modelId})`);
  });

  it('keeps one PR comment per matrix leg, edited on a re-run', async () => {
    expect(prComments()).toHaveLength(1);
    expect(prComments()[0]!.body).toContain('### train-and-log: iris-report \\(depth=4\\)');
    await train(BETTER, { pr: true, inputs: { 'comment-key': '{"depth": 8}' } });
    expect(prComments()).toHaveLength(2);
    const again = await train(BETTER, { pr: true, inputs: { 'comment-key': '{\n  "depth": 4\n}' } });
    expect(prComments()).toHaveLength(2);
    const legs = prComments().map((c) => /^### train-and-log: .*$/m.exec(c.body)![0]);
    expect(legs.sort()).toEqual([
      '### train-and-log: iris-report \\(depth=4\\)',
      '### train-and-log: iris-report \\(depth=8\\)',
    ]);
    const leg4 = prComments().find((c) => c.body.includes('\\(depth=4\\)'))!;
    expect(leg4.body).toContain(again.outputs['run-id']!);
    expect(gh.calls('issues/update-comment')).toHaveLength(1);
  });
});

describe('the report of a push', () => {
  it('goes to the pushed commit only when asked, once per commit and leg', async () => {
    const sha = addCommit(gh, 'octo-org', 'iris', { message: 'more data', files: ['data.csv'] }).sha;
    await train(BETTER, { sha });
    expect(commitComments()).toHaveLength(0);

    const first = await train(BETTER, { sha, inputs: { 'comment-on-push': 'true' } });
    expect(commitComments()).toHaveLength(1);
    expect(commitComments()[0]!.commit_id).toBe(sha);
    expect(commitComments()[0]!.body).toContain(first.outputs['run-id']!);
    const rerun = await train(BETTER, { sha, inputs: { 'comment-on-push': 'true' } });
    expect(commitComments()).toHaveLength(1);
    expect(commitComments()[0]!.body).toContain(rerun.outputs['run-id']!);
    expect(gh.calls('repos/update-commit-comment')).toHaveLength(1);
  });

  it('warns, and still succeeds, when the commit cannot be commented on', async () => {
    const result = await train(BETTER, { sha: 'f'.repeat(40), inputs: { 'comment-on-push': 'true' } });
    expect(result.warnings.join('\n')).toMatch(/Could not comment on the commit fffffff/);
    expect(result.outputs['gate-passed']).toBe('true');
  });
});
