/**
 * alert-to-issue's getInputs() and main(inputs, deps) called in-process, against the fake GitHub,
 * with stand-ins for Gemini and the MLflow lookup: the logic without the runner.
 * alert-to-issue.test.ts runs the bundle end to end.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as github from '@actions/github';
import { main, type Deps } from '../actions/alert-to-issue/action.js';
import { modelContext } from '../actions/alert-to-issue/context.js';
import { getInputs, type Inputs } from '../actions/alert-to-issue/inputs.js';
import { parseAllowlist } from '../actions/alert-to-issue/labels.js';
import { extractNotification } from '../actions/alert-to-issue/webhook.js';
import type { GeminiOptions } from '../actions/shared/gemini/index.js';
import type { TrackingUri } from '../actions/shared/mlflow/types.js';
import { addCommit, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { registerPullHandlers } from './helpers/fake-github/pulls.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { dispatchEvent, notification } from './helpers/alert-fixtures.js';

const TOKEN = 'ghs_test_token';
let gh: FakeGitHub;
beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  await gh.start();
});
afterAll(() => gh.stop());

const repo = () => gh.state.repo('octo-org', 'iris')!;

const inputs = (body: unknown, over: Partial<Inputs> = {}): Inputs => ({
  token: TOKEN,
  repo: { owner: 'octo-org', repo: 'iris' },
  gitops: { repo: { owner: 'octo-org', repo: 'iris' }, token: TOKEN, tokenInput: 'github-token' },
  notification: extractNotification(body, 'payload'),
  staticLabels: ['alert'],
  allowlist: parseAllowlist(['severity:critical']),
  severityLabel: 'severity',
  closeOnResolve: true,
  reopenWindowMs: 3_600_000,
  modelLabel: 'model',
  alias: 'champion',
  gemini: { model: 'gemini-test', fallbackModels: [], timeoutMs: 1000 },
  ...over,
});

type Recorded = Deps & { geminiOptions: GeminiOptions[]; lookups: unknown[] };

/** The real Octokit against the fake; Gemini answers `reply` (or is off); MLflow knows one model. */
function deps(reply?: Record<string, unknown>): Recorded {
  const geminiOptions: GeminiOptions[] = [];
  const lookups: unknown[] = [];
  return {
    geminiOptions,
    lookups,
    octokit: (token) => github.getOctokit(token, { baseUrl: gh.url }),
    gemini: (options) => {
      geminiOptions.push(options);
      return {
        enabled: reply !== undefined,
        generateJson: async <T>() =>
          reply
            ? { ok: true as const, value: reply as T, model: 'gemini-test' }
            : { ok: false as const, reason: 'no Gemini API key was given' },
      };
    },
    models: async (_n, opts) => {
      lookups.push(opts);
      return [{ name: 'iris', alias: opts.alias, version: '7' }];
    },
  };
}

describe('alert-to-issue main', () => {
  it('opens the issue with the allowed labels and the MLflow context, and summarises what it did', async () => {
    const d = deps();
    const mlflow = { settings: { trackingUri: 'http://mlflow.example:5000' as TrackingUri } };
    const result = await main(inputs(notification(), { mlflow }), d);
    expect(result.outputs).toEqual({
      action: 'created',
      'issue-number': '1',
      'issue-url': 'https://github.com/octo-org/iris/issues/1',
    });
    const issue = repo().issue(1)!;
    const labels = issue.labels.map((l) => l.name);
    expect(labels).toEqual(expect.arrayContaining(['alert', 'severity:critical']));
    expect(labels.some((l) => l.startsWith('alert-group:'))).toBe(true);
    // The settings getInputs() resolved are handed on as they are; no gitops-path, no history.
    expect(d.lookups).toEqual([{ mlflow, modelLabel: 'model', alias: 'champion' }]);
    expect(issue.body).toContain('version 7');
    expect(issue.body).toContain('Deterministic summary');
    expect(d.geminiOptions).toEqual([{ model: 'gemini-test', fallbackModels: [], timeoutMs: 1000 }]);
    expect(result.stepSummary).toContain(
      '**Opened** [#1](https://github.com/octo-org/iris/issues/1): opened the issue.',
    );
    expect(result.stepSummary).toMatch(/^- Labels: alert, severity:critical, alert-group:[0-9a-f]{12}$/m);
  });

  it('skips a redelivery and closes the issue on resolve', async () => {
    const again = await main(inputs(notification()), deps());
    expect(again.outputs).toMatchObject({ action: 'skipped', 'issue-number': '1' });
    const resolved = await main(inputs(notification({ status: 'resolved' })), deps());
    expect(resolved.outputs.action).toBe('closed');
    expect(repo().issue(1)!.state).toBe('closed');
    expect(resolved.stepSummary).toContain(
      '**Commented on and closed** [#1](https://github.com/octo-org/iris/issues/1): resolved; closed the issue.',
    );
    expect(resolved.stepSummary).not.toContain('- Labels:');
    expect(again.stepSummary).toContain('**Left unchanged** [#1](https://github.com/octo-org/iris/issues/1)');
  });

  it("writes Gemini's summary with any secret it repeats removed", async () => {
    const leak = {
      what: `Latency is high; the token ${TOKEN} was seen.`,
      causes: ['A slow model version.'],
      impact: 'Users wait.',
      nextSteps: ['Roll back.'],
    };
    const result = await main(
      inputs(notification({ groupLabels: { alertname: 'GeminiCase', model: 'iris' } })),
      deps(leak),
    );
    expect(result.outputs.action).toBe('created');
    const body = repo().issue(Number(result.outputs['issue-number']))!.body;
    expect(body).toContain('Latency is high');
    expect(body).not.toContain(TOKEN);
    expect(result.stepSummary).toContain('- Summary: by Gemini \\(gemini-test\\)');
  });

  it('does nothing, calling no API, when the event is not one to act on', async () => {
    const before = gh.requests.length;
    const result = await main(
      inputs(notification(), { notification: undefined, skipped: 'other event' }),
      deps(),
    );
    expect(result).toEqual({ outputs: { action: 'skipped' } });
    expect(gh.requests.length).toBe(before);
  });
});

describe('alert-to-issue getInputs', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  const set = (env: Record<string, string>): void => {
    for (const [k, v] of Object.entries(env)) process.env[k] = v;
  };

  it('reads the payload file and resolves MLflow settings from MLFLOW_TRACKING_URI', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'alert-inputs-')), 'payload.json');
    writeFileSync(file, JSON.stringify(notification()));
    set({
      'INPUT_GITHUB-TOKEN': TOKEN,
      INPUT_REPOSITORY: 'octo-org/iris',
      'INPUT_PAYLOAD-FILE': file,
      'INPUT_REOPEN-WINDOW': '30m',
      MLFLOW_TRACKING_URI: 'http://mlflow.internal:5000',
      MLFLOW_TRACKING_TOKEN: 'mlflow-token',
      MLFLOW_HTTP_REQUEST_TIMEOUT: '7',
      GOOGLE_GEMINI_BASE_URL: 'http://gemini.internal:8080',
    });
    const got = getInputs();
    expect(got.notification?.form).toBeDefined();
    expect(got.notification?.notification.status).toBe('firing');
    expect(got.reopenWindowMs).toBe(1_800_000);
    expect(got.mlflow).toEqual({
      settings: expect.objectContaining({
        trackingUri: 'http://mlflow.internal:5000',
        token: 'mlflow-token',
        timeoutMs: 7000,
      }),
    });
    expect(got.closeOnResolve).toBe(true);
    // Read with the inputs and handed to the Gemini client as its baseUrl option.
    expect(got.gemini.baseUrl).toBe('http://gemini.internal:8080');
  });

  it('skips another repository_dispatch type, and names the input of a payload that is not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-event-'));
    writeFileSync(join(dir, 'event.json'), JSON.stringify(dispatchEvent(notification(), 'deploy')));
    set({
      'INPUT_GITHUB-TOKEN': TOKEN,
      INPUT_REPOSITORY: 'octo-org/iris',
      'INPUT_EVENT-TYPE': 'alertmanager',
      GITHUB_EVENT_NAME: 'repository_dispatch',
      GITHUB_EVENT_PATH: join(dir, 'event.json'),
    });
    const got = getInputs();
    expect(got.notification).toBeUndefined();
    expect(got.skipped).toContain("'deploy' is not 'alertmanager'");
    set({ INPUT_PAYLOAD: '{not json' });
    expect(() => getInputs()).toThrow("Input 'payload'");
  });

  it('keeps a bad tracking URI for the issue to report instead of failing, and no URI means no lookup', () => {
    set({
      'INPUT_GITHUB-TOKEN': TOKEN,
      INPUT_REPOSITORY: 'octo-org/iris',
      INPUT_PAYLOAD: JSON.stringify(notification()),
    });
    delete process.env.MLFLOW_TRACKING_URI;
    expect(getInputs().mlflow).toBeUndefined();
    set({ 'INPUT_TRACKING-URI': 'ftp://mlflow.internal' });
    expect(getInputs().mlflow).toEqual({ error: expect.stringContaining("Input 'tracking-uri'") });
  });
});

describe('alert-to-issue main: what the deploy commits say', () => {
  let own: FakeGitHub;
  const OVERLAY = 'platform/iris-classifier/overlays/prod/kustomization.yaml';
  const deploy = (version: number, extra: string[] = [], on = own) =>
    addCommit(on, 'octo-org', 'iris', {
      message: [
        `deploy(prod): iris v${version}`,
        '',
        'Model: iris',
        `Model-Version: ${version}`,
        `Image: ghcr.io/octo-org/iris-classifier@sha256:${String(version).repeat(64)}`,
        'Environment: prod',
        ...extra,
      ].join('\n'),
      files: [OVERLAY],
    });
  beforeAll(async () => {
    own = new FakeGitHub({ repos: ['octo-org/iris'] });
    registerCommitHandlers(own);
    registerPullHandlers(own);
    await own.start();
  });
  afterAll(() => own.stop());

  const run = (n: unknown, on = own) =>
    main(inputs(n, { gitopsPath: 'platform/iris-classifier' }), {
      ...deps(),
      octokit: (token) => github.getOctokit(token, { baseUrl: on.url }),
      // The real lookup, with MLflow not configured: the commits alone name the versions.
      models: modelContext,
    });
  /** The body as it reads once rendered: inert text is backslash-escaped and has zero-width spaces. */
  const bodyOf = (r: { outputs: { 'issue-number'?: string } }, on = own) =>
    (on.state.repo('octo-org', 'iris')!.issue(Number(r.outputs['issue-number']))!.body ?? '')
      .replace(/\\(.)/g, '$1')
      .replace(/\u200b/g, '');

  it('names the deployed version and the previous champion from the trailers, and links the rollback PR', async () => {
    const v1 = deploy(1);
    // v2 was registered, refused by the gate and never deployed: no commit; v3 was, twice.
    deploy(3);
    const v3 = deploy(3, ['Run-Id: abc']);
    const { data: pr } = await github.getOctokit(TOKEN, { baseUrl: own.url }).rest.pulls.create({
      owner: 'octo-org',
      repo: 'iris',
      head: 'gitops-bump/iris-classifier-1',
      base: 'main',
      title: 'rollback(prod): iris v3 -> v1',
      body: `Rollback-Of: ${v3.sha}`,
    });
    const result = await run(notification({ groupLabels: { alertname: 'Deployed', model: 'iris' } }));
    const body = bodyOf(result);
    expect(body).toContain(`deployed in prod is version 3, by GitOps commit [${v3.sha.slice(0, 7)}](`);
    expect(body).toContain(`  - Previous champion: version 1, deployed by [${v1.sha.slice(0, 7)}](`);
    expect(body).toContain(
      `  - Rollback ready: [#${pr.number}](${pr.html_url}) rollback(prod): iris v3 -&gt; v1`,
    );
    // Without MLflow, no metrics and no table, but no error either.
    expect(body).not.toContain('| metric |');
    expect(body).not.toContain('could not read MLflow');
  });

  it('takes as previous champion no version a rollback undid (as the rollback PR would restore)', async () => {
    // Its own history: the repository above already holds the first test's deploys.
    const gitops = new FakeGitHub({ repos: ['octo-org/iris'] });
    registerCommitHandlers(gitops);
    registerPullHandlers(gitops);
    await gitops.start();
    try {
      const commit = (version: number, extra: string[] = []) => deploy(version, extra, gitops).sha;
      const body = async (alertname: string) =>
        bodyOf(await run(notification({ groupLabels: { alertname, model: 'iris' } }), gitops), gitops);
      commit(1);
      const v2 = commit(2);
      // v2 rolled back to v1, then v3: the previous champion is v1 (the rollback's deploy of it).
      const v1again = commit(1, [`Rollback-Of: ${v2}`]);
      const v3 = commit(3);
      expect(await body('AfterV3')).toContain(
        `  - Previous champion: version 1, deployed by [${v1again.slice(0, 7)}](`,
      );
      // v3 rolled back to v1 as well: v3 and v2 were both undone, nothing is left to compare with.
      commit(1, [`Rollback-Of: ${v3}`]);
      const after = await body('AfterSecondRollback');
      expect(after).toContain('deployed in prod is version 1');
      expect(after).toContain(`  - That commit rolls back ${v3.slice(0, 12)}.`);
      expect(after).toContain(
        '  - No earlier deploy of another version was found among the 5 commits read under platform/iris-classifier: nothing to compare with.',
      );
      expect(after).not.toContain('Previous champion');
    } finally {
      await gitops.stop();
    }
  });

  it('keeps the issue when the pull requests cannot be listed, and says why', async () => {
    own.fail({
      status: 403,
      operationId: 'pulls/list',
      body: {
        message: 'Resource not accessible by integration',
        documentation_url: 'https://docs.github.com',
      },
    });
    const result = await run(notification({ groupLabels: { alertname: 'NoPulls', model: 'iris' } }));
    expect(result.outputs.action).toBe('created');
    // No gitops-token: the line names github-token, GitHub's answer and the way in.
    expect(bodyOf(result)).toContain(
      '  - Rollback: not looked up: the open pull requests of octo-org/iris could not be listed (HTTP 403: Resource not accessible by integration); github-token was used (no gitops-token given): it, or a gitops-token, needs pull-requests: read on octo-org/iris.',
    );
  });
});
