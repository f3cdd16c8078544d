/**
 * gitops-bump's rollback and deployed modes, run as the bundle (INPUT_* variables, real
 * GITHUB_OUTPUT and summary files) against a local bare GitOps origin whose history holds deploy
 * commits with ml-pipeline.yml's trailers, and the OpenAPI-validated fake GitHub: rollback.yml and
 * deployed.yml run exactly these steps (act-rollback.test.ts runs the workflows themselves).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerPullHandlers } from './helpers/fake-github/pulls.js';
import { basicError } from './helpers/fake-github/resources.js';
import type { FakeGitHub } from './helpers/fake-github/server.js';
import { startGitHub, stopFakes } from './helpers/fakes.js';
import {
  cloneFresh,
  commitDirect,
  deployMessage,
  git,
  head,
  makeOrigin,
  type Origin,
} from './helpers/gitops-repo.js';
import { runAction } from './helpers/run-action.js';

const IMAGE = 'ghcr.io/octo-org/iris';
const OVERLAY = 'envs/prod/kustomization.yaml';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const overlay = (d: string): string => `images:\n  - name: ${IMAGE}\n    digest: ${d}\n`;

function deploy(origin: Origin, version: string, d: string, extra: string[] = []): string {
  return commitDirect(
    origin,
    OVERLAY,
    overlay(d),
    deployMessage({ image: IMAGE, version, digest: d }, extra),
  );
}

let gh: FakeGitHub | undefined;
// Fails the test if any response broke GitHub's OpenAPI description.
afterEach(async () => {
  const last = gh;
  gh = undefined;
  await stopFakes(last);
});

/** The fake GitHub serving the GitOps repository (PRs on `origin`) and the workflow's own one. */
async function github(origin: Origin): Promise<FakeGitHub> {
  gh = await startGitHub({
    repos: ['octo-org/gitops', 'octo-org/iris'],
    handlers: [(fake) => registerPullHandlers(fake, { gitDir: origin.bare })],
  });
  return gh;
}

function run(origin: Origin, inputs: Record<string, string> = {}) {
  return runAction('gitops-bump', {
    inputs: {
      repository: 'octo-org/gitops',
      files: OVERLAY,
      image: IMAGE,
      mode: 'rollback',
      'registered-model': 'iris',
      environment: 'prod',
      ...inputs,
    },
    env: { ...gh?.env(), MLOPS_GIT_REMOTE_URL: `file://${origin.bare}` },
  });
}

const trailers = (origin: Origin, ref: string): string[] =>
  git(origin.root, ['--git-dir', origin.bare, 'log', '-1', '--format=%(trailers:only,unfold)', ref]).split(
    '\n',
  );

describe('gitops-bump mode: rollback', () => {
  it('opens a PR putting back the previous version, its commit with the trailers, the story in its body', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const v1 = deploy(origin, '1', digest('1'));
    commitDirect(origin, 'README.md', 'unrelated\n', 'docs');
    // ml-pipeline moved champion for v2 itself; for the rollback, deployed.yml will.
    const v2 = deploy(origin, '2', digest('2'), ['Promoted-By: ml-pipeline']);
    await github(origin);
    const r = await run(origin);
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs).toMatchObject({
      changed: 'true',
      'deployed-commit': v2,
      'deployed-version': '2',
      'deployed-image': `${IMAGE}@${digest('2')}`,
      'restored-commit': v1,
      'restored-version': '1',
      'restored-image': `${IMAGE}@${digest('1')}`,
      'rollback-of': v2,
      'previous-image': `${IMAGE}@${digest('2')}`,
      'promoted-by': '',
    });
    const [pr, ...more] = [...gh!.state.repo('octo-org', 'gitops')!.pulls.values()];
    expect(more).toEqual([]);
    expect(pr!.title).toBe('rollback(prod): iris v2 -> v1');
    expect(pr!.base.ref).toBe('main');
    expect(head(origin, pr!.head.ref)).toBe(r.outputs['commit-sha']);
    expect(trailers(origin, r.outputs['commit-sha']!)).toEqual([
      'Model: iris',
      'Model-Version: 1',
      `Image: ${IMAGE}@${digest('1')}`,
      'Environment: prod',
      'Run-Id: run1',
      `Rollback-Of: ${v2}`,
    ]);
    expect(head(origin)).not.toBe(r.outputs['commit-sha']); // main moves only when the PR merges
    expect(pr!.body).toContain('### Rollback of iris in prod: v2 -> v1');
    expect(pr!.body).toContain(
      `| deployed now | v2 | \`${IMAGE}@${digest('2')}\` | [\`${v2.slice(0, 12)}\`](https://github.com/octo-org/gitops/commit/${v2}) |`,
    );
    expect(pr!.body).toContain(`| \`${OVERLAY}\` |`); // the bump's own table below the story
    expect(r.summary).toContain('### Rollback of iris in prod: v2 -> v1');
  });

  it('skips a redeploy of the same version and a version a rollback already undid; to-version and digest choose', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const v1 = deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    // The rollback of v2 (a deploy of v1 again), then v3, then v3 rebuilt.
    const v1again = deploy(origin, '1', digest('1'), [`Rollback-Of: ${v2}`]);
    deploy(origin, '3', digest('3'));
    const v3b = deploy(origin, '3', digest('4'));
    await github(origin);
    const r = await run(origin);
    expect(r.errors).toEqual([]);
    expect(r.outputs['deployed-commit']).toBe(v3b);
    expect(r.outputs['restored-version']).toBe('1');
    expect(r.outputs['restored-commit']).toBe(v1again); // the newest deploy of v1, not v1 itself
    expect((await run(origin, { 'to-version': '2' })).outputs['restored-commit']).toBe(v2);
    const byDigest = await run(origin, { image: `${IMAGE}@${digest('1')}` });
    expect(byDigest.outputs['restored-commit']).toBe(v1again);
    expect(v1).not.toBe(v1again);
  });

  it('counts no commit whose trailers are not of a deploy (they would go into the title, body and links)', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const v1 = deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    const forged = [
      'chore: comment',
      '',
      'Model: iris',
      'Model-Version: 3) [click](https://evil.example)',
      `Image: ${IMAGE}@${digest('2')}`,
    ].join('\n');
    commitDirect(origin, OVERLAY, `${overlay(digest('2'))}# reviewed\n`, forged);
    await github(origin);
    const r = await run(origin);
    expect(r.errors).toEqual([]);
    expect(r.outputs).toMatchObject({ 'deployed-commit': v2, 'restored-commit': v1 });
    const [pr] = [...gh!.state.repo('octo-org', 'gitops')!.pulls.values()];
    expect(pr!.body).not.toContain('evil');
  });

  it('fails clearly when there is nothing earlier to go back to, and opens nothing', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const v1 = deploy(origin, '1', digest('1'));
    await github(origin);
    const only = await run(origin);
    expect(only.code).not.toBe(0);
    expect(only.errors).toEqual([
      `iris v1 (deployed by ${v1.slice(0, 12)}) has no earlier deploy of another version to roll back to`,
    ]);
    deploy(origin, '2', digest('2'));
    const never = await run(origin, { 'to-version': '7' });
    expect(never.errors).toEqual(['iris v7 has no earlier deploy to roll back to']);
    expect(never.outputs).toEqual({});
    expect(gh!.calls('pulls/create')).toEqual([]);
  });

  it('refuses when HEAD no longer holds what the newest deploy commit deployed', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    commitDirect(origin, OVERLAY, overlay(digest('9')), 'hand edit');
    await github(origin);
    const r = await run(origin);
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toContain(
      `HEAD no longer holds ${IMAGE}@${digest('2')}, which ${v2.slice(0, 12)} deployed`,
    );
    expect(gh!.calls('pulls/create')).toEqual([]);
  });

  it('refuses an issue that is not a number before anything else', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const r = await run(origin, { issue: '12) [x](https://evil', repository: 'octo-org/nowhere' });
    expect(r.errors).toEqual(["Input 'issue': expected an issue number, got '12) [x](https://evil'."]);
  });

  it('links the pull request in the issue once: a re-run edits the same comment', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    await github(origin);
    const iris = gh!.state.repo('octo-org', 'iris')!;
    const issue = iris.addIssue(gh!.state, gh!.url, {
      title: 'IrisClassifierHighErrorRatio firing',
      user: gh!.state.user('github-actions[bot]'),
    });
    const first = await run(origin, { issue: String(issue.number) });
    expect(first.errors).toEqual([]);
    const url = first.outputs['pull-request-url']!;
    expect(url).toMatch(/^https:\/\/github\.com\/octo-org\/gitops\/pull\/\d+$/);
    const comments = () => iris.comments.filter((c) => c.issue_number === issue.number);
    expect(comments()).toHaveLength(1);
    expect(comments()[0]!.body).toContain(
      `Rollback pull request: ${url} puts back iris v1 in prod (v2 was deployed by octo-org/gitops@${v2}).`,
    );
    const [pr] = [...gh!.state.repo('octo-org', 'gitops')!.pulls.values()];
    expect(pr!.body).toContain(`For #${issue.number}.`);
    const again = await run(origin, { issue: String(issue.number) });
    expect(again.errors).toEqual([]);
    expect(again.outputs['pull-request-url']).toBe(url);
    expect(comments()).toHaveLength(1);
    expect(gh!.calls('issues/update-comment')).toHaveLength(1);
  });

  it('still writes the outputs and summary, with a warning, when the issue cannot take the comment', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    deploy(origin, '2', digest('2'));
    await github(origin);
    const iris = gh!.state.repo('octo-org', 'iris')!;
    const user = gh!.state.user('github-actions[bot]');
    const issue = iris.addIssue(gh!.state, gh!.url, { title: 'IrisClassifierHighErrorRatio firing', user });
    gh!.grant('ghs_read_only', 'github-actions[bot]', { write: false });
    const cases: [string, Record<string, string>, number, () => void][] = [
      ['a token without issues: write', { 'issue-token': 'ghs_read_only' }, 403, () => {}],
      ['an issue deleted since', { issue: String(issue.number + 100) }, 404, () => {}],
      [
        'a locked issue',
        {},
        403,
        () =>
          gh!.fail({
            status: 403,
            operationId: 'issues/create-comment',
            body: basicError(403, 'Unable to create comment because issue is locked.'),
          }),
      ],
    ];
    for (const [what, inputs, status, arrange] of cases) {
      arrange();
      const r = await run(origin, { issue: String(issue.number), ...inputs });
      expect([what, r.code, r.errors]).toEqual([what, 0, []]);
      const url = r.outputs['pull-request-url']!;
      expect(url).toMatch(/^https:\/\/github\.com\/octo-org\/gitops\/pull\/\d+$/);
      expect(r.outputs).toMatchObject({ 'deployed-version': '2', 'restored-version': '1' });
      expect(r.summary).toContain('### Rollback of iris in prod: v2 -> v1');
      const number = inputs.issue ?? String(issue.number);
      expect(r.warnings).toEqual([
        expect.stringMatching(
          new RegExp(
            `^could not link ${url} in issue #${number} of octo-org/iris \\(HTTP ${status}: .+\\): check the inputs 'issue' and 'issue-token'`,
          ),
        ),
      ]);
    }
    expect(iris.comments).toEqual([]);
  });

  it('keeps rollback PRs apart from the pull-request-mode bump PR of the same image', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    await github(origin);
    const pulls = gh!.state.repo('octo-org', 'gitops')!.pulls;
    const bumpTo = (d: string) =>
      run(origin, { mode: 'pull-request', digest: d, 'registered-model': '', environment: '' });
    const toV4 = await bumpTo(digest('4'));
    expect(toV4.errors).toEqual([]);
    const bumpPr = [...pulls.values()][0]!;
    const bumpHead = head(origin, bumpPr.head.ref);
    // The alert fires while the bump to v4 waits for review.
    const rolled = await run(origin);
    expect(rolled.errors).toEqual([]);
    expect(rolled.outputs['pull-request-url']).not.toBe(toV4.outputs['pull-request-url']);
    const rollbackPr = [...pulls.values()].find((p) => p.number !== bumpPr.number)!;
    expect(rollbackPr.head.ref).toMatch(/^gitops-bump\/rollback\/iris-[0-9a-f]{10}$/);
    expect(head(origin, bumpPr.head.ref)).toBe(bumpHead);
    expect(bumpPr.title).not.toContain('rollback');
    // The next bump updates its own PR; the rollback PR still deploys v1 and says what it undoes.
    const toV5 = await bumpTo(digest('5'));
    expect(toV5.errors).toEqual([]);
    expect(toV5.outputs['pull-request-url']).toBe(toV4.outputs['pull-request-url']);
    expect(head(origin, rollbackPr.head.ref)).toBe(rolled.outputs['commit-sha']);
    expect(trailers(origin, rollbackPr.head.ref)).toContain(`Rollback-Of: ${v2}`);
    expect(rollbackPr.title).toBe('rollback(prod): iris v2 -> v1');
    expect(rollbackPr.body).toContain(`Rollback-Of: ${v2}`);
    expect(pulls.size).toBe(2);
  });

  it('does not add a bump to a rollback PR left open on the bump branch by an earlier release', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    await github(origin);
    const bumpTo = (d: string) =>
      run(origin, { mode: 'pull-request', digest: d, 'registered-model': '', environment: '' });
    const first = await bumpTo(digest('1'));
    expect(first.errors).toEqual([]);
    // What the shared branch held before: the rollback's commit message and story on that PR.
    const [pr] = [...gh!.state.repo('octo-org', 'gitops')!.pulls.values()];
    pr!.title = 'rollback(prod): iris v2 -> v1';
    pr!.body = `### Rollback of iris in prod: v2 -> v1\n\n(\`Rollback-Of: ${v2}\`)`;
    const tip = head(origin, pr!.head.ref);
    const refused = await bumpTo(digest('4'));
    expect(refused.code).not.toBe(0);
    expect(refused.errors).toEqual([
      `pull request #${pr!.number} (${first.outputs['pull-request-url']}) on ${pr!.head.ref} is a rollback, opened before rollbacks got branches of their own: merge or close it, then bump again`,
    ]);
    expect(head(origin, pr!.head.ref)).toBe(tip);
    expect(pr!.body).toContain(`Rollback-Of: ${v2}`);
  });

  it('rewrites the open PR’s title and body on a re-run, which finds its commit there already', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    deploy(origin, '2', digest('2'));
    await github(origin);
    const first = await run(origin);
    expect(first.errors).toEqual([]);
    const pulls = gh!.state.repo('octo-org', 'gitops')!.pulls;
    const [pr] = [...pulls.values()];
    expect(pr!.body).not.toContain('mlflow.example.com');
    // Someone edits the PR; the re-run (now with tracking-uri) tells the story again.
    pr!.title = 'edited by hand';
    const again = await run(origin, { 'tracking-uri': 'https://mlflow.example.com' });
    expect(again.errors).toEqual([]);
    expect(again.outputs['pull-request-url']).toBe(first.outputs['pull-request-url']);
    expect(again.outputs['commit-sha']).toBe(''); // no second commit on the PR branch
    expect([...pulls.values()]).toHaveLength(1);
    expect(pr!.title).toBe('rollback(prod): iris v2 -> v1');
    expect(pr!.body).toContain('| restored | [v1](https://mlflow.example.com/#/models/iris/versions/1) |');
    expect(pr!.body).toContain(`| \`${OVERLAY}\` |`);
    expect(gh!.calls('pulls/update')).toHaveLength(1);
    expect(gh!.calls('pulls/create')).toHaveLength(1);
  });

  it('names the branch that does not exist', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    await github(origin);
    const r = await run(origin, { branch: 'nope' });
    expect(r.errors).toEqual([
      "Input 'branch': expected a branch that exists in the repository, got 'nope'.",
    ]);
  });
});

describe('gitops-bump mode: deployed', () => {
  it('reads the deploy commit behind a merge commit of the rollback PR, and commits nothing', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    // The PR branch's rollback commit, merged with a merge commit (GitHub's default merge button).
    const dir = cloneFresh(origin);
    git(dir, ['checkout', '-q', '-b', 'gitops-bump/iris-x']);
    writeFileSync(join(dir, OVERLAY), overlay(digest('1')));
    git(dir, [
      'commit',
      '-qam',
      deployMessage({ image: IMAGE, version: '1', digest: digest('1') }, [`Rollback-Of: ${v2}`]),
    ]);
    const rollbackCommit = git(dir, ['rev-parse', 'HEAD']);
    git(dir, ['checkout', '-q', 'main']);
    git(dir, [
      'merge',
      '-q',
      '--no-ff',
      '-m',
      'Merge pull request #3 from gitops-bump/iris-x',
      'gitops-bump/iris-x',
    ]);
    git(dir, ['push', '-q', 'origin', 'main']);
    const merged = head(origin);
    const r = await run(origin, { mode: 'deployed', 'tracking-uri': 'https://mlflow.example.com/' });
    expect(r.errors).toEqual([]);
    expect(r.outputs).toMatchObject({
      changed: 'false',
      'commit-sha': '',
      'deployed-commit': rollbackCommit,
      'deployed-version': '1',
      'deployed-image': `${IMAGE}@${digest('1')}`,
      'rollback-of': v2,
      'restored-version': '',
      'promoted-by': '', // deployed.yml moves champion for a rollback
    });
    expect(r.summary).toContain(
      `main deploys iris [v1](https://mlflow.example.com/#/models/iris/versions/1) (\`${IMAGE}@${digest('1')}\``,
    );
    expect(r.summary).toContain(
      `a rollback of [\`${v2.slice(0, 12)}\`](https://github.com/octo-org/gitops/commit/${v2})`,
    );
    expect(head(origin)).toBe(merged);
  });

  it("says who moves champion for HEAD's deploy commit: its Promoted-By trailer, of a deploy's shape only", async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const v1 = deploy(origin, '1', digest('1'), ['Promoted-By: ml-pipeline']);
    const r = await run(origin, { mode: 'deployed' });
    expect(r.errors).toEqual([]);
    expect(r.outputs).toMatchObject({ 'deployed-commit': v1, 'promoted-by': 'ml-pipeline' });
    // A value that is not one word is not trusted (outputs go into workflow conditions and logs).
    deploy(origin, '2', digest('2'), ['Promoted-By: ml-pipeline) [x](https://evil']);
    expect((await run(origin, { mode: 'deployed' })).outputs['promoted-by']).toBe('');
  });

  it('refuses inputs that only a bump or a rollback takes', async () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const withDigest = await run(origin, { mode: 'deployed', digest: digest('1') });
    expect(withDigest.errors).toEqual([
      `Input 'digest': expected nothing in deployed mode (HEAD says what it deploys), got '${digest('1')}'.`,
    ]);
    const withIssue = await run(origin, { mode: 'deployed', issue: '3' });
    expect(withIssue.errors).toEqual([
      "Input 'issue': expected nothing in deployed mode (rollback mode only), got '3'.",
    ]);
    // run() gives registered-model (and environment), which a push does not read.
    const pushed = await run(origin, { mode: 'push', digest: digest('1') });
    expect(pushed.errors).toEqual([
      "Input 'registered-model': expected nothing in push mode (rollback and deployed modes only), got 'iris'.",
    ]);
  });
});
