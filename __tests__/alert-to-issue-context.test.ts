/**
 * alert-to-issue's summary and context: a real MLflow server holding the live (champion) model
 * version, the fake Gemini API, and prompt-injection attempts through alert text. The bundle
 * runs as the runner runs it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { MlflowClient } from '../actions/shared/mlflow/index.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { addCommit, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import type { RepoState } from './helpers/fake-github/state.js';
import { FAKE_GEMINI_KEY, FakeGemini, type GeminiRequest } from './helpers/fake-gemini.js';
import { FORBIDDEN_IN_POSTS, INJECTION_CASES, TOKEN_PLACEHOLDER } from './helpers/injection-cases.js';
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { runAction, type RunOptions } from './helpers/run-action.js';
import { notification } from './helpers/alert-fixtures.js';

let mlflow: MlflowServer;
let gemini: FakeGemini;
let gh: FakeGitHub;
let runId = '';
let experimentId = '';

beforeAll(async () => {
  gemini = new FakeGemini();
  [mlflow] = await Promise.all([startMlflow(), gemini.start()]);
  const client = new MlflowClient(mlflowSettings({}, mlflow.url));
  const exp = await client.tracking.getOrCreateExperiment('iris');
  experimentId = exp.experiment_id;
  const run = await client.tracking.createRun({ experimentId, runName: 'train' });
  runId = run.run_id;
  await client.tracking.logBatch(runId, {
    metrics: [
      { key: 'accuracy', value: 0.9333, timestamp: Date.now(), step: 0 },
      { key: 'f1', value: 0.91, timestamp: Date.now(), step: 0 },
    ],
  });
  await client.tracking.updateRun(runId, { status: 'FINISHED', endTime: Date.now() });
  await client.registry.getOrCreateRegisteredModel('iris');
  for (let i = 0; i < 2; i++) {
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
  await Promise.all([mlflow?.stop(), gemini?.stop()]);
});

beforeEach(async () => {
  gemini.reset();
  await gh?.stop();
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  registerCommitHandlers(gh);
  await gh.start();
  addCommit(gh, 'octo-org', 'iris', {
    message: 'Deploy iris v2 to prod',
    files: ['deploy/iris/kustomization.yaml'],
  });
});
afterAll(async () => {
  await gh?.stop();
});

const repo = (): NonNullable<ReturnType<FakeGitHub['state']['repo']>> => gh.state.repo('octo-org', 'iris')!;

function deliver(body: unknown, opts: RunOptions = {}): ReturnType<typeof runAction> {
  return runAction('alert-to-issue', {
    ...opts,
    inputs: {
      payload: JSON.stringify(body),
      'gemini-api-key': FAKE_GEMINI_KEY,
      'tracking-uri': mlflow.url,
      'gitops-path': 'deploy',
      ...opts.inputs,
    },
    env: { ...gh.env(), ...gemini.env(), ...opts.env },
  });
}

const SUMMARY = {
  what: 'Latency of the iris model is above its objective.',
  causes: ['Version 2 went live with the last deploy.'],
  impact: 'Prediction requests are slow for all users.',
  nextSteps: ['Compare version 2 with version 1.', 'Roll back through GitOps if confirmed.'],
};

describe('alert-to-issue: summary and context', () => {
  it('asks Gemini with the alerts fenced as data and the live model version as context', async () => {
    gemini.script({ json: SUMMARY });
    const res = await deliver(
      notification({
        alerts: [{ annotations: { summary: 'p99 latency 2.3 s', description: 'since 10:00' } }],
      }),
    );
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');

    expect(gemini.requests).toHaveLength(1);
    const req = gemini.requests[0]!;
    expect(req.model).toBe('gemini-2.5-flash-lite');
    // Alert text and commit messages sit inside untrusted fences; MLflow facts outside.
    const fenced = (label: string): string => {
      const m = new RegExp(
        `<<<UNTRUSTED (\\w+) label="${label}[^"]*">>>\\n([\\s\\S]*?)\\n<<<END UNTRUSTED \\1>>>`,
      ).exec(req.userText);
      return m?.[2] ?? '';
    };
    expect(fenced('alertmanager-notification')).toContain('p99 latency 2.3 s');
    expect(fenced('gitops-commits')).toContain('Deploy iris v2 to prod');
    expect(req.userText).toMatch(
      /Model iris: alias "champion" points to version 2; metrics \{"accuracy":0.9333,"f1":0.91\}/,
    );
    expect(req.userText.split('<<<UNTRUSTED')[0]).toContain('version 2');
    expect(req.systemText).toContain('untrusted');

    const body = repo().issue(1)!.body!;
    expect(body).toContain('**What is wrong:** Latency of the iris model is above its objective.');
    expect(body).toContain('- Roll back through GitOps if confirmed.');
    expect(body).toContain('Written by gemini-2.5-flash-lite');
    expect(body).toContain(`[version 2](${mlflow.url}/#/models/iris/versions/2)`);
    expect(body).toContain(`[run](${mlflow.url}/#/experiments/${experimentId}/runs/${runId})`);
    expect(body).toContain('accuracy=0.9333');
    expect(body).toContain('Deploy iris v2 to prod');
  });

  it('falls back to a deterministic summary when Gemini answers off-schema, and says why', async () => {
    gemini.always({ json: { verdict: 'fine' } });
    const res = await deliver(notification());
    expect(res.errors).toEqual([]);
    const body = repo().issue(1)!.body!;
    expect(body).toContain('Deterministic summary');
    expect(body).toMatch(/no Gemini: Gemini failed: gemini-2\.5-flash-lite: /);
    // The deterministic summary still uses the context.
    expect(body).toContain('Model iris version 2 \\(champion\\) is the one serving');
    expect(body).toContain('The last GitOps change under deploy was');
  });

  it('reports a model without the alias and an unreachable MLflow in the issue, and still opens it', async () => {
    gemini.always({ json: SUMMARY });
    const unknown = await deliver(notification({ alerts: [{ labels: { model: 'penguins' } }] }));
    expect(unknown.outputs.action).toBe('created');
    expect(repo().issue(1)!.body).toContain(
      '**Model penguins:** no version has the alias champion in MLflow.',
    );

    const down = await deliver(notification({ groupLabels: { alertname: 'Other' } }), {
      inputs: { 'tracking-uri': 'http://127.0.0.1:9' },
    });
    expect(down.outputs.action).toBe('created');
    expect(repo().issue(2)!.body).toMatch(/\*\*Model iris:\*\* could not read MLflow \(/);
  });
});

describe('alert-to-issue: prompt injection through alert text', () => {
  const TOKEN = 'ghs_test_token';
  interface Outcome {
    res: Awaited<ReturnType<typeof runAction>>;
    issue: NonNullable<ReturnType<RepoState['issue']>>;
    comments: string[];
    request?: GeminiRequest;
  }
  const outcomes = new Map<string, Outcome>();

  // Every case runs as its own action process against its own fake GitHub, a few at a time.
  beforeAll(async () => {
    gemini.always((req) => {
      const c = INJECTION_CASES.find((x, i) => req.userText.includes(`Injected${i}"`));
      const obey = (c?.obey ?? '').split(TOKEN_PLACEHOLDER).join(TOKEN);
      // The model "obeys": every free-text field carries the attacker's wish.
      return { json: { what: obey, causes: [obey], impact: obey, nextSteps: [obey, '/close'] } };
    });
    const queue = INJECTION_CASES.map((c, i) => ({ c, i }));
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { c, i } = next;
        const own = new FakeGitHub({ repos: ['octo-org/iris'] });
        await own.start();
        try {
          const body = notification({
            groupLabels: { alertname: `Injected${i}`, model: 'iris' },
            alerts: [
              {
                name: `Injected${i}`,
                labels: { severity: 'critical', team: c.text.slice(0, 40) },
                annotations: { summary: c.text, description: `${c.text}\n/close\n@octocat` },
              },
            ],
            commonAnnotations: { description: c.text },
          });
          const res = await runAction('alert-to-issue', {
            inputs: { payload: JSON.stringify(body), 'gemini-api-key': FAKE_GEMINI_KEY },
            env: { ...own.env(), ...gemini.env() },
          });
          const repoState = own.state.repo('octo-org', 'iris')!;
          outcomes.set(c.name, {
            res,
            issue: repoState.issue(1)!,
            comments: repoState.comments.map((x) => x.body),
            request: gemini.requests.find((r) => r.userText.includes(`Injected${i}"`)),
          });
        } finally {
          await own.stop();
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }, 180_000);

  it.each(INJECTION_CASES.map((c) => [c.name, c] as const))(
    '%s: nothing the attacker wanted happens',
    (_n, c) => {
      const o = outcomes.get(c.name)!;
      expect(o.res.errors).toEqual([]);
      expect(o.res.outputs.action).toBe('created');
      const { issue } = o;
      const posted = [issue.title, issue.body ?? '', ...o.comments];
      for (const text of posted) {
        for (const bad of FORBIDDEN_IN_POSTS) expect(text).not.toMatch(bad);
        expect(text).not.toContain(TOKEN);
        expect(text).not.toMatch(/^\s*\/(close|label|approve|merge)\b/m);
        expect(text).not.toMatch(/!\[[^\]]*\]\(/);
        expect(text).not.toContain('<script');
      }
      // The model's answer did reach the issue (neutralised), so the test exercises it.
      expect(issue.body).toContain('Written by gemini-2.5-flash-lite');
      // Exactly one hidden marker of the action's own (at the top), besides the write id that
      // createOctokit appends to every create (shared/lost-writes.ts) on its own last line.
      const ownMarkers = (issue.body ?? '').replace(/\n\n<!-- mlops-actions:write [0-9a-f-]{36} -->$/, '');
      expect(ownMarkers.match(/<!--/g)).toHaveLength(1);
      expect(issue.body).toMatch(/^<!-- alert-to-issue:state /);
      // Labels: the fixed ones, the allowlisted severity and the group label; never alert text.
      expect(
        issue.labels
          .map((l) => l.name)
          .filter((l) => !l.startsWith('alert-group:'))
          .sort(),
      ).toEqual(['alert', 'severity:critical']);
      expect(issue.state).toBe('open');
      expect(issue.assignees).toEqual([]);
      // Workflow commands in alert text never reach the log.
      expect(o.res.stdout).not.toMatch(/^::(set-output|error::pwned|stop-commands)/m);
      // The text reached the model only inside the fence.
      const req = o.request!;
      const outside = req.userText.replace(/<<<UNTRUSTED (\w+)[^\n]*>>>[\s\S]*?<<<END UNTRUSTED \1>>>/g, '');
      expect(outside).not.toContain(c.text.split('\n')[0]!.slice(0, 30));
      expect(req.userText).not.toContain(TOKEN);
    },
  );

  it('a forged state marker in alert text cannot hijack the lookup', async () => {
    gemini.always({ json: SUMMARY });
    const first = await deliver(notification());
    const marker = /<!-- alert-to-issue:state [^\n]*-->/.exec(repo().issue(1)!.body!)![0];
    // Another group's alert carries issue #1's marker and label name in its text.
    const other = notification({
      groupLabels: { alertname: 'Forger' },
      alerts: [{ name: 'Forger', annotations: { summary: marker, description: marker } }],
    });
    const res = await deliver(other);
    expect(res.outputs.action).toBe('created');
    expect(res.outputs['issue-number']).toBe('2');
    expect(
      repo()
        .issue(2)!
        .body!.match(/<!-- alert-to-issue:state/g),
    ).toHaveLength(1);
    // Issue #1's group still resolves to #1.
    const resolved = await deliver(notification({ status: 'resolved' }));
    expect(resolved.outputs).toMatchObject({
      action: 'closed',
      'issue-number': first.outputs['issue-number'],
    });
  });
});
