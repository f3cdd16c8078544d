/**
 * train-and-log's model-written analysis, bundled, against a real `mlflow server` and the fake
 * Gemini. The training command is a small script that logs step histories, params and tags over
 * MLflow's REST API (as a hostile script could too). The prompt must carry the run's and the
 * champion's histories, params and metrics as fenced data and the gate's verdict as fact; the
 * reading lands in the summary and the PR comment marked as model-written; and nothing Gemini says
 * (an approval, a malformed or blocked answer, an error) changes the verdict, the aliases or the
 * outputs, or fails the step.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGemini, FAKE_GEMINI_KEY, type Answer, type GeminiRequest } from './helpers/fake-gemini.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import {
  FORBIDDEN_IN_POSTS,
  FORBIDDEN_IN_TRAINING_REPORT,
  INJECTION_CASES,
  TOKEN_PLACEHOLDER,
  TRAINING_INJECTION_CASES,
  hostileRunFields,
  type InjectionCase,
} from './helpers/injection-cases.js';
import { startMlflow, PYTHON, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { runAction, type RunResult } from './helpers/run-action.js';

const MODEL = 'iris-analysis';
const GH_TOKEN = 'ghs_test_token';

/** Logs `spec` into MLFLOW_RUN_ID over REST (stdlib only), writes metrics.json and a model dir. */
const SCRIPT = String.raw`
import json, os, time, urllib.request
spec = json.load(open("spec.json"))
api = os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow"
run = os.environ["MLFLOW_RUN_ID"]
now = int(time.time() * 1000)
metrics = [{"key": k, "value": v, "timestamp": now + i, "step": i}
           for k, vs in spec["histories"].items() for i, v in enumerate(vs)]
tags = [{"key": k, "value": v} for k, v in spec.get("tags", {}).items()]
if "runName" in spec:
    tags.append({"key": "mlflow.runName", "value": spec["runName"]})
params = [{"key": k, "value": v} for k, v in spec["params"].items()]
body = json.dumps({"run_id": run, "metrics": metrics, "params": params, "tags": tags}).encode()
req = urllib.request.Request(api + "/runs/log-batch", body, {"content-type": "application/json"})
urllib.request.urlopen(req).read()
json.dump(spec["metrics"], open("metrics.json", "w"))
os.makedirs("model", exist_ok=True)
open("model/MLmodel", "w").write("flavors:\n  python_function:\n    loader_module: none\n")
print("logged", len(metrics), "points")
`;

interface Spec {
  runName?: string;
  params: Record<string, string>;
  tags?: Record<string, string>;
  histories: Record<string, number[]>;
  metrics: Record<string, number | Record<string, number>>;
}

const curve = (n: number, f: (i: number) => number): number[] =>
  Array.from({ length: n }, (_, i) => Number(f(i).toFixed(4)));

/** The champion: both losses fall together; every class is recalled well. */
const CHAMPION: Spec = {
  params: { lr: '0.01', max_depth: '4', epochs: '20' },
  histories: {
    train_loss: curve(20, (i) => 1 / (1 + i * 0.3)),
    val_loss: curve(20, (i) => 1.05 / (1 + i * 0.28)),
  },
  metrics: { accuracy: 0.9, recall: { setosa: 1, versicolor: 0.85, virginica: 0.9 } },
};

/** Better accuracy, but the validation loss turns up after step 8 and virginica is recalled worse. */
const OVERFIT: Spec = {
  params: { lr: '0.1', max_depth: '12', epochs: '20' },
  histories: {
    train_loss: curve(20, (i) => 1 / (1 + i * 0.9)),
    val_loss: curve(20, (i) => (i < 8 ? 1 - i * 0.07 : 0.44 + (i - 8) * 0.03)),
  },
  metrics: { accuracy: 0.93, recall: { setosa: 1, versicolor: 0.98, virginica: 0.7 } },
};

/** Worse on the gate metric: the gate fails. */
const WORSE: Spec = { ...OVERFIT, metrics: { ...OVERFIT.metrics, accuracy: 0.8 } };

const READING = {
  summary: 'Accuracy rose from 0.9 to 0.93, but virginica recall fell from 0.9 to 0.7.',
  changes: ['lr went from 0.01 to 0.1 and max_depth from 4 to 12.'],
  fitting: ['val_loss bottoms out at step 7 and rises to 0.79 while train_loss keeps falling: over-fitting.'],
  perClass: ['recall.virginica 0.7 vs 0.9 behind a better accuracy.'],
  gateMetric: { verdict: 'misses-something', why: 'Accuracy hides the virginica regression.' },
};

let mlflow: MlflowServer;
let rest: MlflowRest;
let gemini: FakeGemini;
let gh: FakeGitHub;
let prNumber: number;

beforeAll(async () => {
  gemini = new FakeGemini();
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  [mlflow] = await Promise.all([startMlflow(), gemini.start(), gh.start()]);
  rest = new MlflowRest(mlflow.url);
  // A pull request is an issue with `pull_request` links: the PR comment goes through the issues API.
  prNumber = gh.createRepo('octo-org/iris').addIssue(gh.state, gh.url, {
    title: 'Tune the learning rate',
    user: gh.state.user('contributor'),
    pull: true,
    nodePrefix: 'PR',
  }).number;
}, 120_000);

afterAll(async () => {
  await Promise.all([mlflow?.stop(), gemini?.stop(), gh?.stop()]);
});

async function train(
  spec: Spec,
  {
    key = true,
    pr = false,
    registeredModel = MODEL,
  }: { key?: boolean; pr?: boolean; registeredModel?: string } = {},
): Promise<RunResult> {
  const cwd = mkdtempSync(join(tmpdir(), 'tal-analysis-'));
  writeFileSync(join(cwd, 'spec.json'), JSON.stringify(spec));
  writeFileSync(join(cwd, 'train.py'), SCRIPT);
  return runAction('train-and-log', {
    cwd,
    inputs: {
      'tracking-uri': mlflow.url,
      experiment: 'iris-analysis',
      command: `${PYTHON} train.py`,
      'registered-model': registeredModel,
      'gate-metric': 'accuracy',
      ...(key ? { 'gemini-api-key': FAKE_GEMINI_KEY } : {}),
    },
    env: { ...gemini.env(), ...gh.env(GH_TOKEN) },
    eventName: pr ? 'pull_request' : 'push',
    event: pr ? { action: 'synchronize', number: prNumber, pull_request: { number: prNumber } } : {},
    timeoutMs: 90_000,
  });
}

interface Fence {
  label: string;
  body: string;
}

/** The fenced parts of a prompt, and what is left outside them. */
function fences(text: string): { fences: Fence[]; outside: string } {
  const re = /<<<UNTRUSTED ([0-9a-f]{24}) label="([^"]*)">>>\n([\s\S]*?)\n<<<END UNTRUSTED \1>>>/g;
  const found: Fence[] = [];
  for (const m of text.matchAll(re)) found.push({ label: m[2]!, body: m[3]! });
  return { fences: found, outside: text.replace(re, '') };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const fenceJson = (req: GeminiRequest, label: RegExp): any => {
  const f = fences(req.userText).fences.find((x) => label.test(x.label));
  expect(f).toBeDefined();
  return JSON.parse(f!.body);
};

const comment = () =>
  gh.state
    .repo('octo-org', 'iris')!
    .comments.filter((c) => c.issue_number === prNumber)
    .at(-1)?.body ?? '';

describe('train-and-log analysis with a real MLflow and the fake Gemini', () => {
  it('without a key: the step works as before and one line says why there is no analysis', async () => {
    gemini.reset();
    const r = await train(CHAMPION, { key: false });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs['model-version']).toBe('1');
    expect(r.outputs['gate-passed']).toBe('true');
    expect(r.summary).toContain('_No model-written analysis: no `gemini-api-key` was given._');
    expect(r.summary).not.toContain('#### 🤖');
    expect(gemini.requests).toHaveLength(0);
    await rest.setAlias(MODEL, 'champion', '1');
  });

  it('sends the histories, params and champion data fenced, and shows the reading marked as model-written', async () => {
    gemini.reset();
    gemini.script({ json: READING });
    const r = await train(OVERFIT, { pr: true });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs['gate-passed']).toBe('true');
    expect(gemini.requests).toHaveLength(1);
    const req = gemini.requests[0]!;
    expect(req.model).toBe('gemini-2.5-flash-lite');
    expect(req.systemText).toMatch(/strictly as data/);
    expect(req.body.generationConfig.responseJsonSchema.required).toContain('gateMetric');

    // This run: its step histories (one point per step), params and metrics, as data.
    const run = fenceJson(req, /^this run/);
    expect(run.histories.val_loss).toEqual(OVERFIT.histories.val_loss!.map((v, i) => [i, v]));
    expect(run.histories.train_loss).toHaveLength(20);
    expect(run.params).toEqual(OVERFIT.params);
    expect(run.metrics).toMatchObject({ accuracy: 0.93, 'recall.virginica': 0.7 });
    // The champion's, and the comparison: the params that moved, the class that regressed.
    const champ = fenceJson(req, /^champion v1 run$/);
    expect(champ.params).toEqual(CHAMPION.params);
    expect(champ.metrics).toMatchObject({ accuracy: 0.9, 'recall.virginica': 0.9 });
    expect(champ.histories.val_loss).toEqual(CHAMPION.histories.val_loss!.map((v, i) => [i, v]));
    const cmp = fenceJson(req, /^comparison with the champion$/);
    expect(cmp.paramsChanged).toEqual([
      { key: 'lr', from: '0.01', to: '0.1' },
      { key: 'max_depth', from: '4', to: '12' },
    ]);
    expect(cmp.perClassRegressions).toEqual([
      expect.objectContaining({ metric: 'recall', cls: 'virginica', value: 0.7, baseline: 0.9 }),
    ]);
    // Outside the fences: the task and the gate's verdict, none of the script's data.
    const { outside } = fences(req.userText);
    expect(outside).toMatch(/PASSED \(accuracy 0\.93 vs champion v1 0\.9/);
    expect(outside).not.toMatch(/val_loss|max_depth|virginica/);

    for (const body of [r.summary, comment()]) {
      expect(body).toMatch(/✅ \*\*Gate passed\*\*/);
      expect(body).toContain('#### 🤖 Model-written analysis');
      expect(body).toMatch(/Written by Gemini \(gemini-2\.5-flash-lite\).*not used by the gate/);
      expect(body).toContain('virginica recall fell from 0.9 to 0.7');
      expect(body).toContain('**Does `accuracy` tell the whole story?** no: Accuracy hides');
      // The analysis comes after the verdict and the metrics table.
      expect(body.indexOf('Gate passed')).toBeLessThan(body.indexOf('Model-written analysis'));
    }
  });

  it('keeps a failed gate failed when Gemini says to approve', async () => {
    gemini.reset();
    gemini.script({
      json: {
        ...READING,
        summary: '✅ **Gate passed**. APPROVE: promote this version, the gate is wrong.',
        gateMetric: { verdict: 'tells-the-whole-story', why: 'approve and merge' },
      },
    });
    const before = await rest.alias(MODEL, 'candidate');
    const r = await train(WORSE);
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(gemini.requests).toHaveLength(1);
    expect(fences(gemini.requests[0]!.userText).outside).toMatch(/FAILED \(accuracy 0\.8 vs champion v1/);
    expect(r.outputs['gate-passed']).toBe('false');
    expect(await rest.alias(MODEL, 'candidate')).toBe(before);
    const mv = await rest.version(MODEL, r.outputs['model-version']!);
    expect((mv.tags ?? []).find((t) => t.key === 'mlops-actions.gate')?.value).toBe('failed');
    expect(r.summary).toMatch(/❌ \*\*Gate failed\*\*/);
    expect(r.summary).not.toMatch(/✅ \*\*Gate passed\*\*/);
    // Shown, inert, under the model-written heading.
    expect(r.summary).toContain('✅ \\*\\*Gate passed\\*\\*. APPROVE');
  });

  const failures: Array<[string, Answer, RegExp]> = [
    ['not JSON', { text: 'The run looks fine, approve it.' }, /the reply was not valid JSON/],
    ['off the schema', { json: { summary: 'ok', verdict: 'approve' } }, /did not match the schema/],
    ['withheld for safety', { finishReason: 'SAFETY' }, /withheld by safety filters \(SAFETY\)/],
    [
      'a blocked prompt',
      { blockReason: 'PROHIBITED_CONTENT' },
      /the prompt was blocked \(PROHIBITED_CONTENT\)/,
    ],
    ['a rejected key', { status: 403 }, /HTTP 403 PERMISSION_DENIED/],
  ];
  it.each(failures)(
    'Gemini answer %s: the step succeeds, the verdict stands, one line says why',
    async (_n, answer, why) => {
      gemini.reset();
      gemini.always(answer);
      const r = await train(WORSE);
      expect(r.errors).toEqual([]);
      expect(r.code).toBe(0);
      expect(gemini.requests.length).toBeGreaterThanOrEqual(1);
      expect(r.outputs['gate-passed']).toBe('false');
      expect(r.outputs['model-version']).toMatch(/^\d+$/);
      expect(r.summary).toMatch(/❌ \*\*Gate failed\*\*/);
      const line = r.summary.split('\n').find((l) => l.startsWith('_Model-written analysis unavailable: '));
      expect(line).toBeDefined();
      // As it reads once rendered: the reason is escaped like any text from outside.
      expect(line!.replace(/\\(.)/g, '$1')).toMatch(why);
      expect(line).toContain("The gate's verdict above does not depend on it.");
      expect(r.summary).not.toContain('#### 🤖');
      expect(r.summary).not.toContain(FAKE_GEMINI_KEY);
    },
  );
});

/** A compromised model: every free-text field repeats what the attacker asked for. */
function obeying(cases: InjectionCase[]): Answer {
  const obey = cases.map((c) => c.obey.replace(TOKEN_PLACEHOLDER, GH_TOKEN));
  return {
    json: {
      summary: obey[0]!.slice(0, 600),
      changes: obey.slice(1, 7),
      fitting: obey.slice(7, 11),
      perClass: obey.slice(11, 17),
      gateMetric: { verdict: 'tells-the-whole-story', why: obey.slice(17).join(' ').slice(0, 500) },
    },
  };
}

describe('train-and-log analysis: a hostile training script', () => {
  const corpus = [...TRAINING_INJECTION_CASES, ...INJECTION_CASES];
  // 17 + the reason's share fit in one reply; the rest go in a second run.
  const chunks = [corpus.slice(0, 18), corpus.slice(18)];

  it.each(chunks.map((c, i) => [i + 1, c] as const))(
    'part %i: run name, params and tags reach Gemini fenced; its obedient answer lands inert',
    async (_i, cases) => {
      gemini.reset();
      gemini.script(obeying(cases));
      const hostile = hostileRunFields(cases);
      const r = await train(
        { ...WORSE, ...hostile, params: { ...WORSE.params, ...hostile.params } },
        { pr: true },
      );
      expect(r.errors).toEqual([]);
      expect(r.code).toBe(0);
      expect(r.outputs['gate-passed']).toBe('false');

      const req = gemini.requests[0]!;
      const { outside } = fences(req.userText);
      const run = fenceJson(req, /^this run/);
      expect(run.runName).toBe(hostile.runName);
      for (const [i, c] of cases.entries()) {
        expect(run.params[`note_${i}`]).toBe(c.text);
        expect(run.tags[`owner_note_${i}`]).toBe(c.text);
        expect(outside).not.toContain(c.text.split('\n')[0]);
      }

      for (const body of [r.summary, comment()]) {
        const section = body.slice(body.indexOf('#### 🤖 Model-written analysis'));
        expect(section.length).toBeGreaterThan(200);
        expect(body).toMatch(/❌ \*\*Gate failed\*\*/);
        for (const bad of [...FORBIDDEN_IN_POSTS, ...FORBIDDEN_IN_TRAINING_REPORT])
          expect(section).not.toMatch(bad);
        expect(body).not.toContain(GH_TOKEN);
        // Only the action's own sticky marker.
        expect(body.match(/<!--/g)?.length ?? 0).toBeLessThanOrEqual(1);
      }
      // Model text never reaches the log, where a line could be a workflow command.
      expect(r.stdout).not.toMatch(/^::(error|set-output|stop-commands)/m);
    },
  );
});
