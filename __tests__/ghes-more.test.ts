/**
 * GitHub Enterprise Server, continued (ghes.test.ts has alert-to-issue and ai-review): the bundled
 * train-and-log and gitops-bump, and the relay, against the fake served under `/api/v3` of its host, with
 * GITHUB_API_URL and GITHUB_SERVER_URL set as a GHES runner sets them. Every API call goes under
 * /api/v3, every link the actions write (comments, PR bodies, summaries, MLflow tags) is on the
 * GHES host and none on github.com, and gitops-bump clones from the GHES host when no
 * MLOPS_GIT_REMOTE_URL overrides it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addCommit, commitCommentsOf, registerCommitHandlers } from './helpers/fake-github/commits.js';
import { registerPullHandlers } from './helpers/fake-github/pulls.js';
import type { FakeGitHub } from './helpers/fake-github/server.js';
import { startGitHub, stopFakes } from './helpers/fakes.js';
import {
  cloneFresh,
  commitDirect,
  deployMessage,
  makeOrigin,
  readFrom,
  type Origin,
} from './helpers/gitops-repo.js';
import { startMlflow, PYTHON, type MlflowServer } from './helpers/mlflow-server.js';
import { notification } from './helpers/alert-fixtures.js';
import { startRelay } from './helpers/relay-process.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { runAction, type RunResult } from './helpers/run-action.js';

const TOKEN = 'ghs_test_token';
const IMAGE = 'ghcr.io/octo-org/iris';
const OVERLAY = 'envs/prod/kustomization.yaml';

let gh: FakeGitHub;
let origin: Origin;
let mlflow: MlflowServer;

beforeAll(async () => {
  origin = makeOrigin({ [OVERLAY]: `images:\n  - name: ${IMAGE}\n    newTag: "1.0.0"\n` });
  // The fake first, so that afterAll stops it should MLflow fail to start.
  gh = await startGitHub({
    ghes: true,
    repos: ['octo-org/iris', 'octo-org/gitops'],
    handlers: [registerCommitHandlers, (fake) => registerPullHandlers(fake, { gitDir: origin.bare })],
  });
  mlflow = await startMlflow();
}, 120_000);
// Fails the file if any response broke the GHES description.
afterAll(() => stopFakes(mlflow, gh));

/** What the actions asked of the fake since `before`: every path under the GHES API root. */
const pathsSince = (before: number): string[] => gh.requests.slice(before).map((r) => r.path);

/** Every http(s) link in a text, each on the GHES host or MLflow's (never github.com). */
function expectLinksOnHosts(text: string, allowed: string[]): void {
  const links = text.match(/https?:\/\/[^\s)"'<>`|]+/g) ?? [];
  expect(links.length).toBeGreaterThan(0);
  expect(links.filter((l) => !allowed.some((a) => l.startsWith(`${a}/`)))).toEqual([]);
  expect(text).not.toContain('github.com/');
}

describe('train-and-log on GHES', () => {
  const SCRIPT = [
    'import json, os',
    'json.dump({"accuracy": 0.93}, open("metrics.json", "w"))',
    'os.makedirs("model", exist_ok=True)',
    'open("model/MLmodel", "w").write("flavors:\\n  python_function:\\n    loader_module: none\\n")',
  ].join('\n');

  async function train(event: { pr?: number; sha?: string }): Promise<RunResult> {
    const cwd = mkdtempSync(join(tmpdir(), 'ghes-tal-'));
    writeFileSync(join(cwd, 'train.py'), SCRIPT);
    const result = await runAction('train-and-log', {
      cwd,
      inputs: {
        'tracking-uri': mlflow.url,
        experiment: 'iris-ghes',
        command: `${PYTHON} train.py`,
        'registered-model': 'iris-ghes',
        'gate-metric': 'accuracy',
        'comment-on-push': 'true',
      },
      env: { ...gh.env(TOKEN), ...(event.sha ? { GITHUB_SHA: event.sha } : {}) },
      eventName: event.pr ? 'pull_request' : 'push',
      event: event.pr
        ? { action: 'synchronize', number: event.pr, pull_request: { number: event.pr } }
        : { ref: 'refs/heads/main' },
      timeoutMs: 110_000,
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.code).toBe(0);
    return result;
  }

  it('comments on the pull request through /api/v3 and tags the run with the GHES links', async () => {
    const iris = gh.state.repo('octo-org', 'iris')!;
    const issue = iris.addIssue(gh.state, gh.url, {
      title: 'Tune the model',
      user: gh.state.user('octocat'),
    });
    issue.pull_request = {
      url: `${gh.url}/repos/octo-org/iris/pulls/${issue.number}`,
      html_url: `${gh.serverUrl}/octo-org/iris/pull/${issue.number}`,
      diff_url: `${gh.serverUrl}/octo-org/iris/pull/${issue.number}.diff`,
      patch_url: `${gh.serverUrl}/octo-org/iris/pull/${issue.number}.patch`,
      merged_at: null,
    };
    const before = gh.requests.length;
    const res = await train({ pr: issue.number });
    const comments = iris.comments.filter((c) => c.issue_number === issue.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain(res.outputs['run-id']!);
    expectLinksOnHosts(comments[0]!.body, [mlflow.url]);
    expectLinksOnHosts(res.summary, [mlflow.url, gh.serverUrl]);
    expect(res.stdout).toContain(
      `Commented on the pull request #${issue.number}: ${gh.serverUrl}/octo-org/iris/issues/${issue.number}#issuecomment-`,
    );
    const paths = pathsSince(before);
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.every((p) => p.startsWith('/api/v3/repos/octo-org/iris/'))).toBe(true);

    const { tags } = (await new MlflowRest(mlflow.url).run(res.outputs['run-id']!)).data;
    const tag = (key: string) => tags?.find((t) => t.key === key)?.value;
    expect(tag('mlflow.source.git.repoURL')).toBe(`${gh.serverUrl}/octo-org/iris`);
    expect(tag('github.run_url')).toBe(`${gh.serverUrl}/octo-org/iris/actions/runs/4242`);
  }, 120_000);

  it('comments on the pushed commit through /api/v3', async () => {
    const sha = addCommit(gh, 'octo-org', 'iris', { message: 'more data', files: ['data.csv'] }).sha;
    const before = gh.requests.length;
    const res = await train({ sha });
    const comments = commitCommentsOf(gh, 'octo-org', 'iris');
    expect(comments).toHaveLength(1);
    expect(comments[0]!.commit_id).toBe(sha);
    expect(comments[0]!.body).toContain(res.outputs['run-id']!);
    expectLinksOnHosts(comments[0]!.body, [mlflow.url]);
    expect(res.stdout).toContain(
      `Commented on the commit ${sha.slice(0, 7)}: ${gh.serverUrl}/octo-org/iris/commit/${sha}#commitcomment-`,
    );
    expect(pathsSince(before).every((p) => p.startsWith('/api/v3/repos/octo-org/iris/'))).toBe(true);
  }, 120_000);
});

describe('gitops-bump on GHES', () => {
  /**
   * The clone URL gitops-bump derives from GITHUB_SERVER_URL, served by the bare origin: git's
   * `insteadOf` in a global config file stands in for the GHES host's git endpoint.
   */
  function ghesGitConfig(): Record<string, string> {
    const url = new URL(`${gh.serverUrl}/octo-org/gitops.git`);
    url.username = 'x-access-token';
    const file = join(origin.root, 'gitconfig');
    writeFileSync(file, `[url "file://${origin.bare}"]\n\tinsteadOf = ${url.href}\n`);
    return { GIT_CONFIG_GLOBAL: file, GIT_CONFIG_NOSYSTEM: '1' };
  }

  it('opens the pull request through /api/v3, cloning from the GHES host, and links it there', async () => {
    const before = gh.requests.length;
    const res = await runAction('gitops-bump', {
      inputs: {
        repository: 'octo-org/gitops',
        mode: 'pull-request',
        image: IMAGE,
        files: OVERLAY,
        tag: '1.1.0',
      },
      env: { ...gh.env(TOKEN), ...ghesGitConfig() },
    });
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.outputs.changed).toBe('true');
    const [pr, ...more] = [...gh.state.repo('octo-org', 'gitops')!.pulls.values()];
    expect(more).toEqual([]);
    expect(res.outputs['pull-request-url']).toBe(`${gh.serverUrl}/octo-org/gitops/pull/${pr!.number}`);
    expect(readFrom(cloneFresh(origin, pr!.head.ref), OVERLAY)).toContain('newTag: "1.1.0"');
    const sha = res.outputs['commit-sha']!;
    expect(res.summary).toContain(`(${gh.serverUrl}/octo-org/gitops/commit/${sha})`);
    expect(res.summary).toContain(`Pull request: ${res.outputs['pull-request-url']}`);
    expectLinksOnHosts(res.summary, [gh.serverUrl]);
    expect(pathsSince(before).every((p) => p.startsWith('/api/v3/repos/octo-org/gitops/'))).toBe(true);
  });

  it('rolls back through /api/v3, its PR body, summary and issue comment linking the GHES host', async () => {
    const digest = (c: string): string => `sha256:${c.repeat(64)}`;
    const deploy = (version: string, d: string): string =>
      commitDirect(
        origin,
        OVERLAY,
        `images:\n  - name: ${IMAGE}\n    digest: ${d}\n`,
        deployMessage({ image: IMAGE, version, digest: d }),
      );
    const v1 = deploy('1', digest('1'));
    const v2 = deploy('2', digest('2'));
    const iris = gh.state.repo('octo-org', 'iris')!;
    const issue = iris.addIssue(gh.state, gh.url, {
      title: 'IrisClassifierHighErrorRatio firing',
      user: gh.state.user('github-actions[bot]'),
    });
    const before = gh.requests.length;
    const res = await runAction('gitops-bump', {
      inputs: {
        repository: 'octo-org/gitops',
        files: OVERLAY,
        image: IMAGE,
        mode: 'rollback',
        'registered-model': 'iris',
        environment: 'prod',
        issue: String(issue.number),
      },
      env: { ...gh.env(TOKEN), MLOPS_GIT_REMOTE_URL: `file://${origin.bare}` },
    });
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.outputs).toMatchObject({ 'restored-commit': v1, 'rollback-of': v2 });
    const pr = [...gh.state.repo('octo-org', 'gitops')!.pulls.values()].find((p) =>
      p.title.startsWith('rollback('),
    )!;
    const url = `${gh.serverUrl}/octo-org/gitops/pull/${pr.number}`;
    expect(res.outputs['pull-request-url']).toBe(url);
    expect(pr.body).toContain(`(${gh.serverUrl}/octo-org/gitops/commit/${v2})`);
    expect(pr.body).toContain(`(${gh.serverUrl}/octo-org/gitops/commit/${v1})`);
    expectLinksOnHosts(pr.body ?? '', [gh.serverUrl]);
    expectLinksOnHosts(res.summary, [gh.serverUrl]);
    const comments = iris.comments.filter((c) => c.issue_number === issue.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain(`Rollback pull request: ${url} puts back iris v1 in prod`);
    expectLinksOnHosts(comments[0]!.body, [gh.serverUrl]);
    const paths = pathsSince(before);
    expect(paths.every((p) => /^\/api\/v3\/repos\/octo-org\/(gitops|iris)\//.test(p))).toBe(true);
  });
});

describe('relay on GHES', () => {
  it('dispatches to the repository through /api/v3', async () => {
    const before = gh.requests.length;
    const relay = await startRelay({ GITHUB_API_URL: gh.url, GITHUB_TOKEN: TOKEN });
    try {
      const res = await relay.post(notification());
      expect(res.status).toBe(200);
    } finally {
      await relay.stop('SIGTERM');
    }
    expect(gh.state.repo('octo-org', 'iris')!.dispatches).toHaveLength(1);
    expect(pathsSince(before)).toEqual(['/api/v3/repos/octo-org/iris/dispatches']);
  });
});
