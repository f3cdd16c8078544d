/**
 * alert-to-issue when Git says what is deployed: the GitOps history holds the pipeline's deploy
 * commits (trailers Model, Model-Version, Image, Environment, Run-Id, as ml-pipeline.yml writes
 * them), MLflow (a real server) holds v1 (deployed), v2 (registered, refused by the gate, never
 * deployed) and v3 (deployed, worse on virginica), and rollback.yml's pull request is open. The
 * bundle runs as the runner runs it; the issue must name v3 and its commit, compare it with v1
 * (not v2), and link the rollback PR; without deploy commits it falls back to the alias, and says so.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import * as github from '@actions/github';
import { MlflowClient } from '../actions/shared/mlflow/index.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { addCommit, registerCommitHandlers, type FakeCommit } from './helpers/fake-github/commits.js';
import { registerPullHandlers } from './helpers/fake-github/pulls.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { FAKE_GEMINI_KEY, FakeGemini } from './helpers/fake-gemini.js';
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { runAction, type RunOptions } from './helpers/run-action.js';
import { notification } from './helpers/alert-fixtures.js';

const IMAGE = 'ghcr.io/octo-org/iris-classifier';
const OVERLAY = 'platform/iris-classifier/overlays/prod/kustomization.yaml';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;

/** v2 would look better than v3 on virginica: comparing with it would hide the regression. */
const VERSIONS = [
  { accuracy: 0.93, 'recall.setosa': 1, 'recall.virginica': 0.95 },
  { accuracy: 0.6, 'recall.setosa': 1, 'recall.virginica': 0.5 },
  { accuracy: 0.9, 'recall.setosa': 1, 'recall.virginica': 0.7 },
];

let mlflow: MlflowServer;
let gemini: FakeGemini;
let gh: FakeGitHub;
const runIds: string[] = [];

beforeAll(async () => {
  gemini = new FakeGemini();
  [mlflow] = await Promise.all([startMlflow(), gemini.start()]);
  const client = new MlflowClient(mlflowSettings({}, mlflow.url));
  const { experiment_id: experimentId } = await client.tracking.getOrCreateExperiment('iris');
  await client.registry.getOrCreateRegisteredModel('iris');
  for (const metrics of VERSIONS) {
    const { run_id: runId } = await client.tracking.createRun({ experimentId, runName: 'train' });
    runIds.push(runId);
    const timestamp = Date.now();
    await client.tracking.logBatch(runId, {
      metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp, step: 0 })),
    });
    await client.tracking.updateRun(runId, { status: 'FINISHED', endTime: Date.now() });
    const mv = await client.registry.createModelVersion({
      name: 'iris',
      source: `runs:/${runId}/model`,
      runId,
    });
    await client.registry.waitForModelVersionReady('iris', mv.version);
  }
  // The alias says v3 too, but the comparison must come from the deploy history, not from v3 - 1.
  await client.registry.setAlias('iris', 'champion', '3');
}, 120_000);

afterAll(async () => {
  await Promise.all([mlflow?.stop(), gemini?.stop(), gh?.stop()]);
});

/** A deploy commit as ml-pipeline.yml's bump writes it. */
function deploy(version: number, hex: string, environment = 'prod'): FakeCommit {
  return addCommit(gh, 'octo-org', 'iris', {
    message: [
      `deploy(${environment}): iris v${version} as ${digest(hex)}`,
      '',
      `Model: iris`,
      `Model-Version: ${version}`,
      `Image: ${IMAGE}@${digest(hex)}`,
      `Environment: ${environment}`,
      `Run-Id: ${runIds[version - 1]}`,
    ].join('\n'),
    files: [environment === 'prod' ? OVERLAY : OVERLAY.replace('/prod/', `/${environment}/`)],
  });
}

beforeEach(async () => {
  gemini.reset();
  await gh?.stop();
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  registerCommitHandlers(gh);
  registerPullHandlers(gh);
  await gh.start();
});

const octokit = () => github.getOctokit('ghs_test_token', { baseUrl: gh.url });
/** The body of the issue the run opened (pull requests share the numbers). */
const issueBody = (res: { outputs: Record<string, string> }): string =>
  gh.state.repo('octo-org', 'iris')!.issue(Number(res.outputs['issue-number']))?.body ?? '';
/** The issue as it reads once rendered: inert text is backslash-escaped and has zero-width spaces. */
const rendered = (s: string): string => s.replace(/\\(.)/g, '$1').replace(/\u200b/g, '');

function deliver(body: unknown, opts: RunOptions = {}): ReturnType<typeof runAction> {
  return runAction('alert-to-issue', {
    ...opts,
    inputs: {
      payload: JSON.stringify(body),
      'tracking-uri': mlflow.url,
      'gitops-path': 'platform/iris-classifier',
      ...opts.inputs,
    },
    env: { ...gh.env(), ...gemini.env(), ...opts.env },
  });
}

const errorRatio = (labels: Record<string, string> = {}) =>
  notification({
    groupLabels: { alertname: 'IrisClassifierHighErrorRatio', model: 'iris' },
    alerts: [{ name: 'IrisClassifierHighErrorRatio', labels: { environment: 'prod', ...labels } }],
  });

/** The history of the demo: v1 deployed, v2 refused by the gate (no commit), v3 deployed. */
function history(): { v1: FakeCommit; v3: FakeCommit } {
  const v1 = deploy(1, 'a');
  addCommit(gh, 'octo-org', 'iris', { message: 'docs: overlay notes', files: [OVERLAY] });
  const v3 = deploy(3, 'c');
  // A newer deploy to staging must not count for a prod alert.
  deploy(2, 'b', 'staging');
  return { v1, v3 };
}

/** rollback.yml's PR (gitops-bump's title is the commit's subject), and an unrelated bump PR. */
async function openRollbackPull(v1: FakeCommit, v3: FakeCommit): Promise<number> {
  await octokit().rest.pulls.create({
    owner: 'octo-org',
    repo: 'iris',
    head: 'gitops-bump/other-image',
    base: 'main',
    title: `chore: bump ${IMAGE}-sidecar`,
    body: 'Sets the sidecar image.',
  });
  const { data } = await octokit().rest.pulls.create({
    owner: 'octo-org',
    repo: 'iris',
    head: 'gitops-bump/iris-classifier-0123456789',
    base: 'main',
    title: 'rollback(prod): iris v3 -> v1',
    body: [
      '<!-- rollback -->',
      '### Rollback of iris in prod: v3 -> v1',
      '',
      `| deployed now | v3 | \`${IMAGE}@${digest('c')}\` | ${v3.sha.slice(0, 12)} |`,
      `| restored | v1 | \`${IMAGE}@${digest('a')}\` | ${v1.sha.slice(0, 12)} |`,
      '',
      `Merging this deploys v1 again (\`Rollback-Of: ${v3.sha}\`).`,
      '<!-- /rollback -->',
    ].join('\n'),
  });
  return data.number;
}

describe('alert-to-issue: the deployed version, as the GitOps history says', () => {
  it('names the deployed version and its commit, compares it with the previous champion (not N-1), and links the rollback PR', async () => {
    const { v1, v3 } = history();
    const pr = await openRollbackPull(v1, v3);
    const res = await deliver(errorRatio({ class: 'virginica' }));
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
    const body = rendered(issueBody(res));
    const url = (c: FakeCommit): string => `https://github.com/octo-org/iris/commit/${c.sha}`;
    expect(body).toContain(
      `- **Model iris:** deployed in prod is [version 3](${mlflow.url}/#/models/iris/versions/3), by GitOps commit [${v3.sha.slice(0, 7)}](${url(v3)})`,
    );
    expect(body).toContain(
      `  - Previous champion: [version 1](${mlflow.url}/#/models/iris/versions/1), deployed by [${v1.sha.slice(0, 7)}](${url(v1)}).`,
    );
    expect(body).toContain(
      'On class virginica, deployed version 3 was weaker than the previous champion version 1: recall 0.7 vs 0.95.',
    );
    expect(body).not.toMatch(/version 2\b/);
    // The table: deployed v3 against v1, with the difference.
    expect(body).toContain('  | metric | deployed v3 | previous champion v1 | Δ |');
    expect(body).toContain('  | accuracy | 0.9 | 0.93 | -0.03 |');
    expect(body).toContain('  | recall.virginica | 0.7 | 0.95 | -0.25 |');
    expect(body).toContain(
      `  - Rollback ready: [#${pr}](https://github.com/octo-org/iris/pull/${pr}) rollback(prod): iris v3 -&gt; v1`,
    );
    // The deterministic summary points at the PR.
    expect(body).toContain(
      `- If version 3 of iris is the cause, review and merge rollback pull request #${pr} (it puts back version 1).`,
    );
    expect(body).toContain(
      `- Model iris version 3 is the one deployed, by GitOps commit ${v3.sha.slice(0, 7)}`,
    );
  });

  it('tells Gemini the deployed version, the previous champion and the PR as facts, the comparison as data', async () => {
    const { v1, v3 } = history();
    const pr = await openRollbackPull(v1, v3);
    gemini.script({
      json: {
        what: 'Deployed v3 misclassifies virginica.',
        causes: ['v3 recalls virginica worse than v1.'],
        impact: 'Wrong predictions.',
        nextSteps: ['Merge the rollback.'],
      },
    });
    const res = await deliver(errorRatio({ class: 'virginica' }), {
      inputs: { 'gemini-api-key': FAKE_GEMINI_KEY },
    });
    expect(res.errors).toEqual([]);
    const req = gemini.requests[0]!;
    const trusted = req.userText.split('<<<UNTRUSTED')[0]!;
    expect(trusted).toContain(
      `Model iris: GitOps commit ${v3.sha.slice(0, 12)} deploys version 3 to prod; metrics {"accuracy":0.9,"recall.setosa":1,"recall.virginica":0.7}; the previous champion (deployed before it by ${v1.sha.slice(0, 12)}) is version 1; rollback pull request #${pr} is open.`,
    );
    const m =
      /<<<UNTRUSTED (\w+) label="mlflow-live-vs-predecessor">>>\n([\s\S]*?)\n<<<END UNTRUSTED \1>>>/.exec(
        req.userText,
      );
    expect(JSON.parse(m![2]!)).toEqual([
      expect.objectContaining({ live: '3', predecessor: '1', baseline: 'previous champion' }),
    ]);
  });

  it('says so when no rollback PR is open', async () => {
    const { v3 } = history();
    const res = await deliver(errorRatio());
    expect(res.errors).toEqual([]);
    expect(rendered(issueBody(res))).toContain(
      `  - Rollback: no open rollback pull request for ${v3.sha.slice(0, 7)} in octo-org/iris.`,
    );
  });

  it('without a deploy commit, falls back to the alias and its registry predecessor, and says so', async () => {
    addCommit(gh, 'octo-org', 'iris', { message: 'Deploy iris v3 by hand', files: [OVERLAY] });
    const res = await deliver(errorRatio({ class: 'virginica' }));
    expect(res.errors).toEqual([]);
    const body = rendered(issueBody(res));
    expect(body).toContain(
      `- **Model iris:** champion is [version 3](${mlflow.url}/#/models/iris/versions/3)`,
    );
    expect(body).toContain(
      'On class virginica, live version 3 was not weaker than its predecessor version 2 (recall 0.7 vs 0.5).',
    );
    expect(body).toContain(
      '  - no deploy commit of iris to prod under platform/iris-classifier (one with Model-Version and Image trailers): the champion alias is shown instead.',
    );
    expect(body).not.toContain('Rollback');
    // No deploy commit, no rollback to look for.
    expect(gh.calls('pulls/list')).toHaveLength(0);
  });
});
