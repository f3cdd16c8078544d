/**
 * The reusable alert-triage and ai-review workflows, called as workflows-example/ calls them, run
 * by the real `act` on this host against the fake GitHub and the fake Gemini; each is checked by
 * the issue or the review that results. Also: the act helper notices a job act skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callerRepo, commandArgs, runAct, type ActRun } from './helpers/act.js';
import { FakeGemini, FAKE_GEMINI_KEY } from './helpers/fake-gemini.js';
import { addCommit, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { addedPatch, pullFile, registerReviewHandlers, seedPull } from './helpers/fake-github/reviews.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { ROOT } from './helpers/run-action.js';

const example = (name: string): string => readFileSync(join(ROOT, 'workflows-example', name), 'utf8');
const eventFile = (name: string): string => join(ROOT, 'workflows-example', 'events', name);
const TOKEN = 'ghs_test_token';
/** The example's GITOPS_READ_TOKEN: reads the GitOps repository only. */
const GITOPS_TOKEN = 'ghs_gitops_read_token';

let gh: FakeGitHub;
let gemini: FakeGemini;

beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['example-org/iris-app', 'example-org/iris-gitops'] });
  gh.grant(GITOPS_TOKEN, 'gitops-reader[bot]', { repos: ['example-org/iris-gitops'], write: false });
  registerCommitHandlers(gh);
  addCommit(gh, 'example-org', 'iris-gitops', {
    message: 'chore: overlay',
    files: ['platform/iris-classifier/overlays/prod/kustomization.yaml'],
  });
  registerReviewHandlers(gh);
  gemini = new FakeGemini();
  await Promise.all([gh.start(), gemini.start()]);
});
afterAll(async () => {
  await Promise.all([gh?.stop(), gemini?.stop()]);
});

/** What every job run here must show: act ran it (no skipped platform) and it succeeded. */
function expectJobs(run: ActRun, jobs: Record<string, string>): void {
  if (run.code !== 0) console.error(run.output.slice(-4000), run.other.slice(-2000));
  expect(run.unsupported).toEqual([]);
  expect(run.jobs).toEqual(jobs);
  expect(run.code).toBe(Object.values(jobs).every((r) => r === 'success') ? 0 : 1);
}

describe('the act helper', () => {
  it('reports a job act skipped for a runs-on label without a -P mapping (act itself exits 0)', async () => {
    const workdir = callerRepo({
      '.github/workflows/x.yml': [
        'name: x',
        'on: push',
        'jobs:',
        '  mapped:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - run: node --version',
        '  unmapped:',
        '    runs-on: windows-latest',
        '    steps:',
        '      - run: echo never',
      ].join('\n'),
    });
    const run = await runAct({
      event: 'push',
      workflow: '.github/workflows/x.yml',
      eventFile: eventFile('push.json'),
      workdir,
    });
    expect(run.code).toBe(0);
    expect(run.unsupported).toEqual(['windows-latest']);
    expect(run.jobs).toEqual({ 'x/mapped': 'success' });
    // node24 actions and run: steps get the project's Node 24, first on PATH.
    expect(run.output).toMatch(/^v24\./m);
    expect(run.output).not.toContain('never');
  });
});

describe('alert-triage.yml under act', () => {
  it('opens the alert group’s issue from alertmanager-dispatch.json, summarized by Gemini', async () => {
    gemini.always({
      json: {
        what: 'The iris classifier answers 9% of requests with a 5xx.',
        causes: ['A bad rollout of the serving image.'],
        impact: 'Predictions fail for about one request in eleven.',
        nextSteps: ['Roll back the last GitOps bump.'],
      },
    });
    const workdir = callerRepo({ '.github/workflows/alert-triage.yml': example('alert-triage.yml') });
    const run = await runAct({
      event: 'repository_dispatch',
      workflow: '.github/workflows/alert-triage.yml',
      eventFile: eventFile('alertmanager-dispatch.json'),
      workdir,
      secrets: { GITHUB_TOKEN: TOKEN, GEMINI_API_KEY: FAKE_GEMINI_KEY, GITOPS_READ_TOKEN: GITOPS_TOKEN },
      vars: { GITOPS_REPOSITORY: 'example-org/iris-gitops' },
      env: { GITHUB_API_URL: gh.url, GOOGLE_GEMINI_BASE_URL: gemini.url },
    });
    expectJobs(run, { 'triage/alert-triage/Alert to issue': 'success' });

    const repo = gh.state.repo('example-org', 'iris-app')!;
    expect(repo.issues).toHaveLength(1);
    const issue = repo.issues[0]!;
    expect(issue.title).toContain('IrisClassifierHighErrorRatio');
    expect(issue.state).toBe('open');
    expect(issue.labels.map((l) => l.name)).toEqual(expect.arrayContaining(['alert', 'severity:critical']));
    expect(issue.body).toContain('The iris classifier answers 9% of requests with a 5xx.');
    expect(issue.body).toContain('Written by gemini-2.5-flash-lite');
    // The secret key reached Gemini as a header and nowhere in the log.
    expect(gemini.requests[0]!.headers['x-goog-api-key']).toBe(FAKE_GEMINI_KEY);
    expect(run.output).not.toContain(FAKE_GEMINI_KEY);
    // The job outputs the reusable workflow declares came from the action.
    expect(commandArgs(run, 'set-output')).toEqual(
      expect.arrayContaining(['created', '1', 'https://github.com/example-org/iris-app/issues/1']),
    );
    // The issue's recent GitOps context was asked for under the example's gitops-path, in the
    // GitOps repository the caller's variable names, with the caller's GitOps secret.
    const [list] = gh.calls('repos/list-commits');
    expect(list?.query.path).toBe('platform/iris-classifier');
    expect(list?.path).toMatch(/^\/repos\/example-org\/iris-gitops\/commits/);
    expect(String(list?.headers.authorization)).toMatch(new RegExp(`^(token|bearer) ${GITOPS_TOKEN}$`, 'i'));
    expect(list?.status).toBe(200);
    expect(run.output).not.toContain(GITOPS_TOKEN);
  });
});

describe('ai-review.yml under act', () => {
  it('posts one COMMENT review of PR #42 from pull_request.json, with the inline comment Gemini gave', async () => {
    const event = JSON.parse(readFileSync(eventFile('pull_request.json'), 'utf8')) as {
      pull_request: { number: number; head: { sha: string }; base: { sha: string } };
    };
    const repo = gh.state.repo('example-org', 'iris-app')!;
    // GitHub numbers issues and pull requests from one sequence: #42 needs 41 before it.
    while (repo.nextNumber() < event.pull_request.number)
      repo.addIssue(gh.state, gh.url, { title: 'filler', user: gh.state.user('octocat') });
    const train = 'X = scale(X)\nX_train, X_test = split(X)\nmodel.fit(X_train)';
    const pr = seedPull(gh, {
      owner: 'example-org',
      repo: 'iris-app',
      headSha: event.pull_request.head.sha,
      baseSha: event.pull_request.base.sha,
      title: 'Tune the iris classifier and raise the memory limit',
      files: [
        pullFile('model/train.py', addedPatch(train), 'added'),
        pullFile('platform/grafana/dashboards/iris.json', addedPatch('{"panels": []}'), 'added'),
      ],
    });
    expect(pr.number).toBe(42);
    gemini.reset();
    gemini.always({
      json: {
        summary: 'Scaling runs before the split and leaks the test set.',
        findings: [
          {
            path: 'model/train.py',
            line: 1,
            severity: 'high',
            category: 'data-leakage',
            title: 'Scaler fitted on all data',
            body: 'Fit the scaler on the training split only.',
          },
        ],
      },
    });
    const workdir = callerRepo({ '.github/workflows/ai-review.yml': example('ai-review.yml') });
    const run = await runAct({
      event: 'pull_request',
      workflow: '.github/workflows/ai-review.yml',
      eventFile: eventFile('pull_request.json'),
      workdir,
      secrets: { GITHUB_TOKEN: TOKEN, GEMINI_API_KEY: FAKE_GEMINI_KEY },
      env: { GITHUB_API_URL: gh.url, GOOGLE_GEMINI_BASE_URL: gemini.url },
    });
    expectJobs(run, { 'review/ai-review/Gemini review': 'success' });

    expect(repo.reviews).toHaveLength(1);
    const review = repo.reviews[0]!;
    expect(review.pull_number).toBe(42);
    expect(review.event).toBe('COMMENT');
    expect(review.commit_id).toBe(event.pull_request.head.sha);
    expect(review.comments).toEqual([
      expect.objectContaining({ path: 'model/train.py', line: 1, body: expect.stringContaining('Scaler') }),
    ]);
    // The example's exclude: the dashboard JSON never reached Gemini.
    expect(gemini.requests.length).toBeGreaterThan(0);
    expect(gemini.requests.map((r) => r.userText).join('')).toContain('model/train.py');
    expect(gemini.requests.map((r) => r.userText).join('')).not.toContain('dashboards/iris.json');
    expect(commandArgs(run, 'set-output')).toContain(String(review.id));
  });
});
