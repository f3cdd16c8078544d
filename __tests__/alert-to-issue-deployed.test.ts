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
function deploy(version: number, hex: string, environment = 'prod', at = 'octo-org/iris'): FakeCommit {
  const [owner, name] = at.split('/') as [string, string];
  return addCommit(gh, owner, name, {
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
const issueBody = (res: { outputs: Record<string, string> }, at = 'octo-org/iris'): string =>
  gh.state.repo(...(at.split('/') as [string, string]))!.issue(Number(res.outputs['issue-number']))?.body ??
  '';
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
function history(at = 'octo-org/iris'): { v1: FakeCommit; v3: FakeCommit } {
  const v1 = deploy(1, 'a', 'prod', at);
  const [owner, name] = at.split('/') as [string, string];
  addCommit(gh, owner, name, { message: 'docs: overlay notes', files: [OVERLAY] });
  const v3 = deploy(3, 'c', 'prod', at);
  // A newer deploy to staging must not count for a prod alert.
  deploy(2, 'b', 'staging', at);
  return { v1, v3 };
}

/** rollback.yml's PR (gitops-bump's title is the commit's subject), and an unrelated bump PR. */
async function openRollbackPull(v1: FakeCommit, v3: FakeCommit, at = 'octo-org/iris'): Promise<number> {
  const [owner, repo] = at.split('/') as [string, string];
  await octokit().rest.pulls.create({
    owner,
    repo,
    head: 'gitops-bump/other-image',
    base: 'main',
    title: `chore: bump ${IMAGE}-sidecar`,
    body: 'Sets the sidecar image.',
  });
  const { data } = await octokit().rest.pulls.create({
    owner,
    repo,
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

  it("links its own model's rollback PR, not another model's rolling back the same version", async () => {
    history();
    const open = async (head: string, title: string, body: string): Promise<number> =>
      (
        await octokit().rest.pulls.create({
          owner: 'octo-org',
          repo: 'iris',
          head,
          base: 'main',
          title,
          body,
        })
      ).data.number;
    // Iris's PR, its body rewritten by hand (no trailer, no digest), then two other models' PRs.
    const own = await open(
      'gitops-bump/rollback/iris-classifier-0123456789',
      'rollback(prod): iris v3 -> v1',
      'Back to the version before the regression.',
    );
    const others = [
      await open(
        'gitops-bump/rollback/penguins-0123456789',
        'rollback(prod): penguins v3 -> v2',
        `| deployed now | v3 | \`ghcr.io/octo-org/penguins@${digest('e')}\` |\n\n\`Rollback-Of: ${'e'.repeat(40)}\``,
      ),
      await open(
        'gitops-bump/rollback/iris-large-0123456789',
        'rollback(prod): iris-large v3 -> v2',
        'Back to v2.',
      ),
    ];
    const res = await deliver(errorRatio());
    expect(res.errors).toEqual([]);
    const body = rendered(issueBody(res));
    expect(body).toContain(
      `  - Rollback ready: [#${own}](https://github.com/octo-org/iris/pull/${own}) rollback(prod): iris v3 -&gt; v1`,
    );
    for (const n of others) expect(body).not.toContain(`[#${n}]`);
  });

  it("links the deploy's environment's rollback PR, not staging's rolling back the same version", async () => {
    history();
    const open = async (head: string, title: string): Promise<number> =>
      (
        await octokit().rest.pulls.create({
          owner: 'octo-org',
          repo: 'iris',
          head,
          base: 'main',
          title,
          body: 'Back to the version before the regression.',
        })
      ).data.number;
    // Both bodies rewritten by hand: only the titles tell them apart. Staging's is the newer, listed first.
    const prod = await open('gitops-bump/rollback/prod-iris-classifier', 'rollback(prod): iris v3 -> v1');
    const staging = await open(
      'gitops-bump/rollback/staging-iris-classifier',
      'rollback(staging): iris v3 -> v2',
    );
    const res = await deliver(errorRatio());
    expect(res.errors).toEqual([]);
    const body = rendered(issueBody(res));
    expect(body).toContain(
      `  - Rollback ready: [#${prod}](https://github.com/octo-org/iris/pull/${prod}) rollback(prod): iris v3 -&gt; v1`,
    );
    expect(body).not.toContain(`[#${staging}]`);
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

describe('alert-to-issue: a token without pull-requests: read (alert-triage.yml grants none)', () => {
  /** The job token of alert-triage.yml: contents: read, issues: write, nothing for pull requests. */
  const JOB_TOKEN = 'ghs_job_token_no_pulls';
  /** What a caller passes as gitops-token to have the rollback PR linked (a GitHub App's, or a PAT). */
  const PR_READER = 'ghs_pull_reader_token';

  beforeEach(() => {
    // Private: a public repository's pull requests are readable without the permission.
    gh.createRepo('octo-org/iris', { private: true });
    gh.grant(JOB_TOKEN, 'github-actions[bot]', { repos: ['octo-org/iris'], none: ['pull-requests'] });
    gh.grant(PR_READER, 'gitops-reader[bot]', { repos: ['octo-org/iris'], write: false });
  });
  const deliverWith = (inputs: Record<string, string>) =>
    deliver(errorRatio({ class: 'virginica' }), {
      inputs: { 'github-token': JOB_TOKEN, ...inputs },
      env: gh.env(JOB_TOKEN),
    });

  it('opens the issue all the same, saying the rollback PR was not looked up and how to have it', async () => {
    const { v1, v3 } = history();
    await openRollbackPull(v1, v3);
    const res = await deliverWith({});
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.outputs.action).toBe('created');
    const body = rendered(issueBody(res));
    expect(body).toContain(
      '  - Rollback: not looked up: the open pull requests of octo-org/iris could not be listed (HTTP 403: Resource not accessible by integration); github-token was used (no gitops-token given): it, or a gitops-token, needs pull-requests: read on octo-org/iris.',
    );
    expect(body).not.toContain('Rollback ready');
    // The rest of the context is there: the deployed version and its predecessor.
    expect(body).toContain('  - Previous champion: [version 1]');
    expect(gh.calls('pulls/list').map((r) => r.status)).toEqual([403]);
  });

  it('links the rollback PR when gitops-token can read pull requests', async () => {
    const { v1, v3 } = history();
    const pr = await openRollbackPull(v1, v3);
    const res = await deliverWith({ 'gitops-token': PR_READER });
    expect(res.errors).toEqual([]);
    expect(rendered(issueBody(res))).toContain(
      `  - Rollback ready: [#${pr}](https://github.com/octo-org/iris/pull/${pr}) rollback(prod): iris v3 -&gt; v1`,
    );
    expect(gh.calls('pulls/list').map((r) => r.status)).toEqual([200]);
    const tokenOf = (r: { headers: Record<string, unknown> }): string =>
      String(r.headers.authorization).replace(/^(token|bearer)\s+/i, '');
    expect(gh.calls('issues/create').map(tokenOf)).toEqual([JOB_TOKEN]);
  });
});

describe('alert-to-issue: the GitOps manifests in another repository than the issues', () => {
  /** GITHUB_TOKEN, as GitHub scopes it: the workflow's repository only. */
  const JOB_TOKEN = 'ghs_job_token_app_only';
  /** A read-only token for the GitOps repository (a GitHub App's or a fine-grained PAT). */
  const GITOPS_TOKEN = 'ghs_gitops_read_token';

  beforeEach(async () => {
    await gh.stop();
    gh = new FakeGitHub({ repos: ['acme/app', 'acme/gitops'] });
    gh.createRepo('acme/gitops', { private: true });
    gh.grant(JOB_TOKEN, 'github-actions[bot]', { repos: ['acme/app'] });
    gh.grant(GITOPS_TOKEN, 'gitops-reader[bot]', { repos: ['acme/gitops'], write: false });
    registerCommitHandlers(gh);
    registerPullHandlers(gh);
    await gh.start();
  });

  const deliverTo = (inputs: Record<string, string>) =>
    deliver(errorRatio({ class: 'virginica' }), {
      inputs: { 'github-token': JOB_TOKEN, repository: 'acme/app', ...inputs },
      env: gh.env(JOB_TOKEN),
    });
  const tokenOf = (r: { headers: Record<string, unknown> }): string =>
    String(r.headers.authorization).replace(/^(token|bearer)\s+/i, '');

  it('reads the deploy commits and the rollback PR from gitops-repository with gitops-token, and links there', async () => {
    const { v1, v3 } = history('acme/gitops');
    // The application repository has a deploy-looking commit under the same path: it must not count.
    deploy(2, 'b', 'prod', 'acme/app');
    const pr = await openRollbackPull(v1, v3, 'acme/gitops');
    const res = await deliverTo({ 'gitops-repository': 'acme/gitops', 'gitops-token': GITOPS_TOKEN });
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
    const body = rendered(issueBody(res, 'acme/app'));
    const url = (c: FakeCommit): string => `https://github.com/acme/gitops/commit/${c.sha}`;
    expect(body).toContain(
      `- **Model iris:** deployed in prod is [version 3](${mlflow.url}/#/models/iris/versions/3), by GitOps commit [${v3.sha.slice(0, 7)}](${url(v3)})`,
    );
    expect(body).toContain(
      `  - Previous champion: [version 1](${mlflow.url}/#/models/iris/versions/1), deployed by [${v1.sha.slice(0, 7)}](${url(v1)}).`,
    );
    expect(body).toContain(
      `  - Rollback ready: [#${pr}](https://github.com/acme/gitops/pull/${pr}) rollback(prod): iris v3 -&gt; v1`,
    );
    expect(body).toContain('- **Last GitOps changes under platform/iris-classifier in acme/gitops:**');
    // Each repository with its own token; the GitOps token is masked before anything is logged.
    const reads = [...gh.calls('repos/list-commits'), ...gh.calls('pulls/list')];
    expect(reads.map((r) => [r.path.split('?')[0], tokenOf(r)])).toEqual([
      ['/repos/acme/gitops/commits', GITOPS_TOKEN],
      ['/repos/acme/gitops/pulls', GITOPS_TOKEN],
    ]);
    expect(gh.calls('issues/create').map(tokenOf)).toEqual([JOB_TOKEN]);
    expect(res.stdout).toContain(`::add-mask::${GITOPS_TOKEN}`);
  });

  it('reports a GitOps repository the token cannot read in the issue, and still opens it', async () => {
    history('acme/gitops');
    // No gitops-token: the job's token, which GitHub scopes to acme/app, is used and refused.
    const res = await deliverTo({ 'gitops-repository': 'acme/gitops' });
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.outputs.action).toBe('created');
    const body = rendered(issueBody(res, 'acme/app'));
    expect(body).toContain(
      '- **GitOps changes under platform/iris-classifier in acme/gitops:** could not list commits (Not Found',
    );
    // The token used was github-token's: the issue names it, not the gitops-token never given.
    expect(body).toContain(
      '; github-token was used (no gitops-token given): it, or a gitops-token, needs contents: read on acme/gitops).',
    );
    expect(body).not.toContain('gitops-token needs contents: read');
    // The alias stands in, and the issue says why.
    expect(body).toContain(
      '  - could not read the deploy commits under platform/iris-classifier in acme/gitops: the champion alias is shown instead.',
    );
    expect(gh.calls('repos/list-commits').map((r) => r.status)).toEqual([404]);
  });

  it('names gitops-token in the issue when it is given and may not read the GitOps repository', async () => {
    history('acme/gitops');
    const ELSEWHERE = 'ghs_token_of_another_repository';
    gh.grant(ELSEWHERE, 'gitops-reader[bot]', { repos: ['acme/app'], write: false });
    const res = await deliverTo({ 'gitops-repository': 'acme/gitops', 'gitops-token': ELSEWHERE });
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
    const body = rendered(issueBody(res, 'acme/app'));
    expect(body).toContain('could not list commits (Not Found');
    expect(body).toContain('; gitops-token needs contents: read on acme/gitops).');
    expect(body).not.toContain('github-token was used');
  });

  it('names gitops-token in the issue when it reads the commits but may not list pull requests', async () => {
    const { v1, v3 } = history('acme/gitops');
    await openRollbackPull(v1, v3, 'acme/gitops');
    const CONTENTS_ONLY = 'ghs_gitops_contents_only';
    gh.grant(CONTENTS_ONLY, 'gitops-reader[bot]', {
      repos: ['acme/gitops'],
      write: false,
      none: ['pull-requests'],
    });
    const res = await deliverTo({ 'gitops-repository': 'acme/gitops', 'gitops-token': CONTENTS_ONLY });
    expect(res.errors).toEqual([]);
    expect(res.outputs.action).toBe('created');
    const body = rendered(issueBody(res, 'acme/app'));
    expect(body).toContain('  - Previous champion: [version 1]');
    expect(body).toContain(
      '  - Rollback: not looked up: the open pull requests of acme/gitops could not be listed (HTTP 403: Resource not accessible by integration); gitops-token needs pull-requests: read on acme/gitops.',
    );
  });

  it('fails naming the input when gitops-repository is not owner/name', async () => {
    const res = await deliverTo({ 'gitops-repository': 'https://github.com/acme/gitops' });
    expect(res.code).not.toBe(0);
    expect(res.errors.join('\n')).toContain("Input 'gitops-repository'");
    expect(gh.calls('issues/create')).toHaveLength(0);
  });
});

describe('alert-to-issue: a GitOps history deeper than one page', () => {
  const chores = (n: number): void => {
    for (let i = 0; i < n; i++)
      addCommit(gh, 'octo-org', 'iris', { message: `chore: tune replicas ${i}`, files: [OVERLAY] });
  };
  const pages = (): string[] =>
    gh.calls('repos/list-commits').map((r) => `${r.query.page}/${r.query.per_page}`);

  it('reads further pages until the previous champion is found', async () => {
    const v1 = deploy(1, 'a');
    chores(130);
    const v3 = deploy(3, 'c');
    const res = await deliver(errorRatio({ class: 'virginica' }));
    expect(res.errors).toEqual([]);
    const body = rendered(issueBody(res));
    expect(body).toContain(`by GitOps commit [${v3.sha.slice(0, 7)}]`);
    expect(body).toContain(
      `  - Previous champion: [version 1](${mlflow.url}/#/models/iris/versions/1), deployed by [${v1.sha.slice(0, 7)}]`,
    );
    // Found on page 2 of 100: no third page is read.
    expect(pages()).toEqual(['1/100', '2/100']);
  });

  it('stops after three pages, and says no earlier deploy was found', async () => {
    deploy(1, 'a');
    chores(310);
    deploy(3, 'c');
    const res = await deliver(errorRatio());
    expect(res.errors).toEqual([]);
    expect(rendered(issueBody(res))).toContain(
      // The bound, not the end of the history: 3 pages of 100.
      '  - No earlier deploy of another version was found among the 300 commits read under platform/iris-classifier: nothing to compare with.',
    );
    expect(pages()).toEqual(['1/100', '2/100', '3/100']);
  });
});
