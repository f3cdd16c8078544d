/**
 * alert-to-issue and the shared run analysis: for a model alert, the live version (champion
 * alias) is compared with the version registered before it, per class, on a real MLflow server.
 * The issue's summary says whether the live version was weaker on the affected class (the alert's
 * `class` label), or on which classes when the alert names none (a drift alert); the comparison
 * reaches Gemini fenced as data, and is used by the deterministic summary without a key.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { MlflowClient } from '../actions/shared/mlflow/index.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { FAKE_GEMINI_KEY, FakeGemini } from './helpers/fake-gemini.js';
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { runAction, type RunOptions } from './helpers/run-action.js';
import { notification } from './helpers/alert-fixtures.js';

let mlflow: MlflowServer;
let gemini: FakeGemini;
let gh: FakeGitHub;

/** One run per version: v2 is better on aggregate, worse on virginica. */
const VERSIONS = [
  { accuracy: 0.9, 'recall.setosa': 1, 'recall.versicolor': 0.85, 'recall.virginica': 0.95 },
  { accuracy: 0.93, 'recall.setosa': 1, 'recall.versicolor': 0.98, 'recall.virginica': 0.7 },
];

beforeAll(async () => {
  gemini = new FakeGemini();
  [mlflow] = await Promise.all([startMlflow(), gemini.start()]);
  const client = new MlflowClient(mlflowSettings({}, mlflow.url));
  const { experiment_id: experimentId } = await client.tracking.getOrCreateExperiment('iris');
  await client.registry.getOrCreateRegisteredModel('iris');
  for (const metrics of VERSIONS) {
    const { run_id: runId } = await client.tracking.createRun({ experimentId, runName: 'train' });
    await client.tracking.logBatch(runId, {
      metrics: Object.entries(metrics).map(([key, value]) => ({
        key,
        value,
        timestamp: Date.now(),
        step: 0,
      })),
    });
    await client.tracking.updateRun(runId, { status: 'FINISHED', endTime: Date.now() });
    const mv = await client.registry.createModelVersion({
      name: 'iris',
      source: `runs:/${runId}/model`,
      runId,
    });
    await client.registry.waitForModelVersionReady('iris', mv.version);
  }
  await client.registry.setAlias('iris', 'champion', '2');
}, 120_000);

afterAll(async () => {
  await Promise.all([mlflow?.stop(), gemini?.stop(), gh?.stop()]);
});

beforeEach(async () => {
  gemini.reset();
  await gh?.stop();
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  await gh.start();
});

function deliver(body: unknown, opts: RunOptions = {}): ReturnType<typeof runAction> {
  return runAction('alert-to-issue', {
    ...opts,
    inputs: { payload: JSON.stringify(body), 'tracking-uri': mlflow.url, ...opts.inputs },
    env: { ...gh.env(), ...gemini.env(), ...opts.env },
  });
}

const issueBody = (): string => gh.state.repo('octo-org', 'iris')!.issue(1)!.body ?? '';
/** The issue as it reads once rendered: inert text is backslash-escaped and has zero-width spaces. */
const rendered = (s: string): string => s.replace(/\\(.)/g, '$1').replace(/\u200b/g, '');

const errorRatio = (labels: Record<string, string> = {}) =>
  notification({
    groupLabels: { alertname: 'IrisClassifierHighErrorRatio', model: 'iris' },
    alerts: [{ name: 'IrisClassifierHighErrorRatio', labels }],
  });

const WEAKER =
  'On class virginica, live version 2 was weaker than its predecessor version 1: recall 0.7 vs 0.95.';

describe('alert-to-issue: the live version against its predecessor', () => {
  it('gives Gemini the per-class comparison for the class the alert names, fenced as data', async () => {
    gemini.script({
      json: {
        what: 'The iris model fails on virginica.',
        causes: ['Live version 2 recalls virginica worse than version 1 (0.7 vs 0.95).'],
        impact: 'Virginica predictions are wrong more often.',
        nextSteps: ['Roll back to version 1.'],
      },
    });
    const res = await deliver(errorRatio({ class: 'virginica' }), {
      inputs: { 'gemini-api-key': FAKE_GEMINI_KEY },
    });
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
    const req = gemini.requests[0]!;
    const m =
      /<<<UNTRUSTED (\w+) label="mlflow-live-vs-predecessor">>>\n([\s\S]*?)\n<<<END UNTRUSTED \1>>>/.exec(
        req.userText,
      );
    expect(m).not.toBeNull();
    expect(JSON.parse(m![2]!)).toEqual([
      {
        model: 'iris',
        live: '2',
        predecessor: '1',
        // No gitops-path: no deploy commits, so the baseline is the registry's predecessor.
        baseline: 'registry predecessor',
        affectedClass: 'virginica',
        perClass: [
          expect.objectContaining({ metric: 'recall', cls: 'virginica', value: 0.7, baseline: 0.95 }),
        ],
        verdict: WEAKER,
      },
    ]);
    expect(req.systemText).toMatch(/weaker than its predecessor on the affected class/);
    // The issue's context says it in the action's own words too.
    expect(rendered(issueBody())).toContain(`  - ${WEAKER}`);
    expect(rendered(issueBody())).toContain('recalls virginica worse than version 1');
  });

  it('without a key, the deterministic summary leads with the weaker class', async () => {
    const res = await deliver(errorRatio({ class: 'virginica' }));
    expect(res.errors).toEqual([]);
    expect(gemini.requests).toHaveLength(0);
    const body = rendered(issueBody());
    expect(body).toContain('Deterministic summary');
    expect(body).toMatch(new RegExp(`\\*\\*Likely causes\\*\\*\\n- ${WEAKER.replace(/\./g, '\\.')}`));
  });

  it('says the live version was not weaker on a class where it is not', async () => {
    await deliver(errorRatio({ class: 'versicolor' }));
    expect(rendered(issueBody())).toContain(
      'On class versicolor, live version 2 was not weaker than its predecessor version 1 (recall 0.98 vs 0.85).',
    );
  });

  it('for a drift alert without a class, names the classes the live version got weaker on', async () => {
    await deliver(
      notification({
        groupLabels: { alertname: 'IrisClassifierPredictionDistributionShift', model: 'iris' },
        alerts: [{ name: 'IrisClassifierPredictionDistributionShift', labels: { severity: 'warning' } }],
      }),
    );
    expect(rendered(issueBody())).toContain(
      'live version 2 was weaker than its predecessor version 1 on class virginica (recall 0.7 vs 0.95).',
    );
  });
});
