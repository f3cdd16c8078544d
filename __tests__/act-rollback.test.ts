/**
 * rollback.yml as workflows-example/rollback.yml calls it (workflow_dispatch with an issue number),
 * run by the real `act` on this host: the GitOps repository is a local bare origin
 * (MLOPS_GIT_REMOTE_URL) whose history holds two deploy commits with ml-pipeline.yml's trailers
 * (v1, then v2), and GitHub is the fake. The run opens a pull request whose head commit puts back
 * v1's digest, with the trailers and Rollback-Of, describes it in the PR body and links it in the
 * issue; a version that was never deployed before fails with a clear error and opens nothing.
 * Then the PR is merged (main moved to its head) and deployed.yml, as workflows-example/deployed.yml
 * calls it on that push, waits for ArgoCD (the fake Kubernetes, whose controller the test plays)
 * on the new HEAD before it points the environment alias (`prod`) at v1 and, once the post-sync
 * check (smoke-test-url, a local server the test plays) passes, moves `champion` back to v1 in a
 * real `mlflow server`; while the check fails, champion stays. For a later deploy commit of
 * ml-pipeline.yml (its `Promoted-By: ml-pipeline` trailer: the pipeline moves champion for it
 * itself), with `prod` left at the previous version as a timed-out ArgoCD wait in the pipeline
 * leaves it, deployed.yml points `prod` at the version ArgoCD runs and leaves champion alone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callerRepo, commandArgs, runAct, type ActRun } from './helpers/act.js';
import { argoStatus, FakeKubernetes } from './helpers/fake-k8s.js';
import { registerPullHandlers } from './helpers/fake-github/pulls.js';
import type { FakeGitHub } from './helpers/fake-github/server.js';
import { startGitHub, stopFakes } from './helpers/fakes.js';
import { commitDirect, deployMessage, git, head, makeOrigin, type Origin } from './helpers/gitops-repo.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { ROOT } from './helpers/run-action.js';

const IMAGE = 'ghcr.io/example-org/iris-classifier';
const OVERLAY = 'platform/iris-classifier/overlays/prod/kustomization.yaml';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const overlay = (d: string): string => `images:\n  - name: ${IMAGE}\n    digest: ${d} # prod\n`;
const JOB = 'rollback/rollback/Open the rollback pull request';

let gh: FakeGitHub;
let k8s: FakeKubernetes;
let mlflow: MlflowServer;
let origin: Origin;
let caller: string;
let kubeconfig: string;
const deploys: Record<string, string> = {};
/** The deployed service the post-sync check asks: the status it answers, and how often it was asked. */
const smoke: { server?: Server; url: string; status: number; requests: number } = {
  url: '',
  status: 200,
  requests: 0,
};

/** A deploy commit as ml-pipeline.yml's bump writes it (workflows.test.ts checks that message). */
function deploy(version: string, d: string, extra: string[] = []): string {
  const message = deployMessage({ image: IMAGE, version, digest: d, runId: `run-of-v${version}` }, extra);
  return commitDirect(origin, OVERLAY, overlay(d), message);
}

beforeAll(async () => {
  origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
  deploys['1'] = deploy('1', digest('1'));
  commitDirect(origin, 'README.md', 'GitOps\n', 'docs: readme');
  deploys['2'] = deploy('2', digest('2'));
  // The fake GitHub first, so that afterAll stops it should MLflow fail to start.
  gh = await startGitHub({
    repos: ['example-org/iris-app'],
    handlers: [(fake) => registerPullHandlers(fake, { gitDir: origin.bare })],
  });
  k8s = new FakeKubernetes();
  smoke.server = createServer((_, res) => {
    smoke.requests++;
    res.writeHead(smoke.status).end();
  });
  await new Promise<void>((r) => smoke.server!.listen(0, '127.0.0.1', r));
  smoke.url = `http://127.0.0.1:${(smoke.server.address() as AddressInfo).port}/readyz`;
  [mlflow] = await Promise.all([startMlflow(), k8s.start()]);
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'act-rollback-')), 'kubeconfig');
  writeFileSync(kubeconfig, k8s.kubeconfig());
  k8s.put(
    'argocd',
    'iris-classifier',
    argoStatus({ sync: 'Synced', revision: head(origin), health: 'Healthy', phase: 'Succeeded' }),
  );
  // iris v1 and v2 in the registry, champion at v2 as the pipeline left it.
  const rest = new MlflowRest(mlflow.url);
  const exp = await rest.call<{ experiment_id: string }>('POST', '/experiments/create', { name: 'iris' });
  const run = await rest.call<{ run: { info: { run_id: string } } }>('POST', '/runs/create', {
    experiment_id: exp.experiment_id,
  });
  const runId = run.run.info.run_id;
  await rest.call('POST', '/registered-models/create', { name: 'iris' });
  for (let i = 0; i < 2; i++)
    await rest.call('POST', '/model-versions/create', {
      name: 'iris',
      source: `runs:/${runId}/model`,
      run_id: runId,
    });
  await rest.call('POST', '/registered-models/alias', { name: 'iris', alias: 'champion', version: '2' });
  caller = callerRepo({
    '.github/workflows/rollback.yml': readFileSync(join(ROOT, 'workflows-example', 'rollback.yml'), 'utf8'),
    '.github/workflows/deployed.yml': readFileSync(join(ROOT, 'workflows-example', 'deployed.yml'), 'utf8'),
    // rollback.yml's to-image is workflow_call only: a caller that passes it on.
    '.github/workflows/rollback-to-image.yml': [
      'name: rollback',
      'on:',
      '  workflow_dispatch:',
      '    inputs:',
      '      to-image: { type: string, required: true }',
      'permissions: { contents: write, pull-requests: write, issues: write }',
      'jobs:',
      '  rollback:',
      '    uses: example-org/mlops-actions/.github/workflows/rollback.yml@v1',
      '    with:',
      '      actions-repository: example-org/mlops-actions',
      `      image: ${IMAGE}`,
      '      to-image: ${{ inputs.to-image }}',
    ].join('\n'),
  });
}, 120_000);
// Fails the file if any response broke GitHub's OpenAPI description.
afterAll(async () => {
  smoke.server?.close();
  await stopFakes(gh, k8s, mlflow);
});

const alias = async (name: string): Promise<string | undefined> => {
  const res = await fetch(`${mlflow.url}/api/2.0/mlflow/registered-models/alias?name=iris&alias=${name}`);
  return res.ok
    ? ((await res.json()) as { model_version: { version: string } }).model_version.version
    : undefined;
};
const champion = (): Promise<string | undefined> => alias('champion');

const repo = () => gh.state.repo('example-org', 'iris-app')!;

function rollback(inputs: Record<string, string>, workflow = 'rollback.yml'): Promise<ActRun> {
  return runAct({
    event: 'workflow_dispatch',
    workflow: `.github/workflows/${workflow}`,
    inputs,
    workdir: caller,
    secrets: { GITHUB_TOKEN: 'ghs_test_token' },
    env: { GITHUB_API_URL: gh.url, MLOPS_GIT_REMOTE_URL: `file://${origin.bare}` },
    timeoutMs: 90_000,
  });
}

describe('rollback.yml under act', () => {
  it('opens a PR that puts back v1, with the trailers, and links it in the alert issue', async () => {
    const issue = repo().addIssue(gh.state, gh.url, {
      title: 'IrisClassifierHighErrorRatio firing',
      user: gh.state.user('github-actions[bot]'),
    });
    const run = await rollback({ issue: String(issue.number) });
    if (run.code !== 0) console.error(run.output.slice(-4000), run.other.slice(-2000));
    expect(run.jobs).toEqual({ [JOB]: 'success' });
    expect(run.code).toBe(0);

    const prs = [...repo().pulls.values()];
    expect(prs).toHaveLength(1);
    const pr = prs[0]!;
    expect(pr.base.ref).toBe('main');
    expect(pr.title).toBe('rollback(prod): iris v2 -> v1');
    // The head commit sets v1's digest and says so in its trailers.
    const gitDir = ['--git-dir', origin.bare];
    const tip = git(origin.root, [...gitDir, 'rev-parse', `refs/heads/${pr.head.ref}`]);
    expect(git(origin.root, [...gitDir, 'rev-parse', `${tip}^`])).toBe(head(origin));
    expect(git(origin.root, [...gitDir, 'show', `${tip}:${OVERLAY}`])).toBe(overlay(digest('1')).trimEnd());
    const trailers = git(origin.root, [...gitDir, 'log', '-1', '--format=%(trailers:only,unfold)', tip]);
    expect(trailers.split('\n')).toEqual([
      'Model: iris',
      'Model-Version: 1',
      `Image: ${IMAGE}@${digest('1')}`,
      'Environment: prod',
      'Run-Id: run-of-v1',
      `Rollback-Of: ${deploys['2']}`,
    ]);
    // gitops-bump's {old} is the digest being replaced: v2's.
    expect(git(origin.root, [...gitDir, 'log', '-1', '--format=%b', tip])).toContain(
      `Puts back ${IMAGE}@${digest('1')} (v1, deployed by ${deploys['1']}) in place of ${digest('2')} (v2, deployed by ${deploys['2']}).`,
    );
    // main is untouched until the PR merges.
    expect(git(origin.root, [...gitDir, 'show', `main:${OVERLAY}`])).toBe(overlay(digest('2')).trimEnd());

    // The body names the deployed version, the one restored and the commit that deployed v2,
    // above gitops-bump's own table of the change.
    expect(pr.body).toContain('### Rollback of iris in prod: v2 -> v1');
    expect(pr.body).toContain(
      `| deployed now | v2 | \`${IMAGE}@${digest('2')}\` | [\`${deploys['2']!.slice(0, 12)}\`](https://github.com/example-org/iris-app/commit/${deploys['2']}) |`,
    );
    expect(pr.body).toContain(`| restored | v1 | \`${IMAGE}@${digest('1')}\` |`);
    expect(pr.body).toContain(`For #${issue.number}.`);
    expect(pr.body).toMatch(/\| `platform\/iris-classifier\/overlays\/prod\/kustomization\.yaml` \|/);

    const comments = repo().comments.filter((c) => c.issue_number === issue.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain(`https://github.com/example-org/iris-app/pull/${pr.number}`);
    expect(comments[0]!.body).toContain(`v2 was deployed by example-org/iris-app@${deploys['2']}`);
  }, 120_000);

  it('fails clearly for a version with no earlier deploy, and opens nothing', async () => {
    const before = repo().pulls.size;
    const run = await rollback({ 'to-version': '7' });
    expect(run.jobs).toEqual({ [JOB]: 'failure' });
    expect(run.code).not.toBe(0);
    expect(commandArgs(run, 'error')).toContain('iris v7 has no earlier deploy to roll back to');
    expect(repo().pulls.size).toBe(before);
  }, 120_000);

  it('fails naming both inputs when to-image is another image than image, and opens nothing', async () => {
    const before = repo().pulls.size;
    const other = `ghcr.io/example-org/iris-classifier-old@${digest('1')}`;
    const run = await rollback({ 'to-image': other }, 'rollback-to-image.yml');
    expect(run.jobs).toEqual({ [JOB]: 'failure' });
    expect(commandArgs(run, 'error')).toEqual([
      `Input 'to-image' (${other}) must be input 'image' (${IMAGE}) with @<digest>`,
    ]);
    expect(repo().pulls.size).toBe(before);
  }, 120_000);

  const DEPLOYED_JOB = 'champion/deployed/Move champion to what ArgoCD deployed';
  /** deployed.yml on a push to main, its post-sync check answered `status`. */
  function deployedRun(status: number): Promise<ActRun> {
    smoke.status = status;
    smoke.requests = 0;
    return runAct({
      event: 'push',
      workflow: '.github/workflows/deployed.yml',
      eventFile: join(ROOT, 'workflows-example', 'events', 'push.json'),
      workdir: caller,
      secrets: { GITHUB_TOKEN: 'ghs_test_token', KUBECONFIG: kubeconfig },
      vars: { MLFLOW_TRACKING_URI: mlflow.url, SMOKE_TEST_URL: smoke.url, SMOKE_TEST_TIMEOUT: '3s' },
      env: { GITHUB_API_URL: gh.url, MLOPS_GIT_REMOTE_URL: `file://${origin.bare}` },
      timeoutMs: 90_000,
    });
  }

  it('deployed.yml, on the push of the merged PR, points prod at v1 once ArgoCD reports HEAD Healthy, and champion once the check passes', async () => {
    const pr = [...repo().pulls.values()][0]!;
    const gitDir = ['--git-dir', origin.bare];
    const merged = git(origin.root, [...gitDir, 'rev-parse', `refs/heads/${pr.head.ref}`]);
    git(origin.root, [...gitDir, 'update-ref', 'refs/heads/main', merged]); // a fast-forward merge
    // Plays ArgoCD: on the refresh request, Progressing on HEAD while champion must not move yet.
    const seen: { revision?: string; championWhileProgressing?: string } = {};
    k8s.onPatch = (app) => {
      const { namespace, name } = app.metadata;
      seen.revision = head(origin);
      k8s.update(namespace, name, (a) => {
        a.status = argoStatus({
          sync: 'Synced',
          revision: seen.revision!,
          health: 'Progressing',
          phase: 'Running',
        });
      });
      void (async () => {
        seen.championWhileProgressing = await champion();
        k8s.update(namespace, name, (a) => {
          a.status = argoStatus({
            sync: 'Synced',
            revision: seen.revision!,
            health: 'Healthy',
            phase: 'Succeeded',
          });
        });
      })();
    };
    // Healthy, but the service fails the post-sync check: v1 runs (prod says so), champion stays.
    const failing = await deployedRun(500);
    expect(failing.jobs).toEqual({ [DEPLOYED_JOB]: 'failure' });
    expect(seen).toEqual({ revision: merged, championWhileProgressing: '2' });
    expect(smoke.requests).toBeGreaterThan(1);
    expect(commandArgs(failing, 'error')).toContain(
      `post-sync check failed: ${smoke.url} did not answer 2xx within 3s (last HTTP status 500, curl exit 22). ` +
        `iris v1 is live in prod: ArgoCD reports ${merged.slice(0, 12)} Synced and Healthy, and iris@prod says v1; ` +
        'iris@champion does not move. To roll back, run rollback.yml (gitops-bump mode: rollback), which opens a pull request putting back the previous deploy.',
    );
    expect(await alias('prod')).toBe('1');
    expect(await champion()).toBe('2');

    const run = await deployedRun(200);
    if (run.code !== 0) console.error(run.output.slice(-4000), run.other.slice(-2000));
    expect(run.jobs).toEqual({ [DEPLOYED_JOB]: 'success' });
    expect(smoke.requests).toBe(1);
    expect(await champion()).toBe('1');
    expect(await alias('prod')).toBe('1');
    expect(head(origin)).toBe(merged); // nothing pushed
  }, 180_000);

  it("deployed.yml points prod at what ml-pipeline's own deploy commit (Promoted-By: ml-pipeline) runs once ArgoCD reports it Healthy, and leaves champion to the pipeline", async () => {
    // ml-pipeline's bump of v2, pushed with a token that starts workflows in the GitOps repository.
    // Its ArgoCD wait timed out, so its restore step put prod back at v1; ArgoCD got there later.
    const bumped = deploy('2', digest('2'), ['Promoted-By: ml-pipeline']);
    await new MlflowRest(mlflow.url).call('POST', '/registered-models/alias', {
      name: 'iris',
      alias: 'prod',
      version: '1',
    });
    expect(await alias('prod')).toBe('1');
    // The check would fail: it is ml-pipeline's, and is not run here.
    const run = await deployedRun(500);
    if (run.code !== 0) console.error(run.output.slice(-4000), run.other.slice(-2000));
    expect(run.jobs).toEqual({ [DEPLOYED_JOB]: 'success' });
    expect(smoke.requests).toBe(0);
    expect(await alias('prod')).toBe('2');
    expect(await champion()).toBe('1');
    expect(commandArgs(run, 'notice')).toContain(
      `ArgoCD runs ${bumped.slice(0, 12)} (iris v2), a deploy commit of ml-pipeline (Promoted-By: ml-pipeline): ` +
        "iris@prod says v2; champion is ml-pipeline's to move after its own post-sync check, so this run leaves it alone.",
    );
  }, 120_000);
});
