/**
 * Pull-request mode against the OpenAPI-validated fake GitHub and a real bare repository: one
 * branch and one PR per target, updated in place by later bumps (never duplicated), nothing
 * opened when the base is already at the image.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { registerPullHandlers } from './helpers/fake-github/pulls.js';
import { runAction } from './helpers/run-action.js';
import {
  cloneFresh,
  commitCount,
  git,
  head,
  makeOrigin,
  readFrom,
  type Origin,
} from './helpers/gitops-repo.js';

const IMAGE = 'ghcr.io/octo-org/iris';
const files = {
  'envs/prod/kustomization.yaml': `images:\n  - name: ${IMAGE}\n    newTag: "1.0.0" # prod\n`,
  'envs/staging/kustomization.yaml': `images:\n  - name: ${IMAGE}\n    newTag: "1.0.0" # staging\n`,
};

let gh: FakeGitHub;
let origin: Origin;

beforeAll(async () => {
  origin = makeOrigin(files);
  gh = new FakeGitHub({ repos: ['octo-org/gitops'] });
  registerPullHandlers(gh, { gitDir: origin.bare });
  await gh.start();
});
afterAll(() => gh.stop());

const bump = (inputs: Record<string, string>) =>
  runAction('gitops-bump', {
    inputs: { repository: 'octo-org/gitops', mode: 'pull-request', image: IMAGE, ...inputs },
    env: { ...gh.env(), MLOPS_GIT_REMOTE_URL: origin.bare },
  });

const prs = () => [...gh.state.repo('octo-org', 'gitops')!.pulls.values()];

describe('gitops-bump (pull-request mode)', () => {
  it('opens one PR per target and updates it on the next bump', async () => {
    const first = await bump({ files: 'envs/prod/kustomization.yaml', tag: '1.1.0' });
    expect(first.errors).toEqual([]);
    expect(first.outputs.changed).toBe('true');
    expect(first.outputs['pull-request-url']).toMatch(/^https:\/\/github\.com\/octo-org\/gitops\/pull\/\d+$/);
    expect(first.outputs['previous-image']).toBe(`${IMAGE}:1.0.0`);
    // main is untouched; the PR branch carries the change.
    expect(commitCount(origin)).toBe(1);
    expect(prs()).toHaveLength(1);
    const pr = prs()[0]!;
    expect(pr.base.ref).toBe('main');
    expect(pr.head.ref).toMatch(/^gitops-bump\/iris-[0-9a-f]{10}$/);
    expect(pr.title).toBe(`chore(gitops): bump ${IMAGE} to 1.1.0`);
    expect(pr.body).toContain('`envs/prod/kustomization.yaml`');
    expect(head(origin, pr.head.ref)).toBe(first.outputs['commit-sha']);
    const branch = cloneFresh(origin, pr.head.ref);
    expect(readFrom(branch, 'envs/prod/kustomization.yaml')).toBe(
      `images:\n  - name: ${IMAGE}\n    newTag: "1.1.0" # prod\n`,
    );
    expect(gh.calls('pulls/create')).toHaveLength(1);
    expect(first.summary).toContain(first.outputs['pull-request-url']!);

    const second = await bump({ files: 'envs/prod/kustomization.yaml', tag: '1.2.0' });
    expect(second.errors).toEqual([]);
    expect(second.outputs['pull-request-url']).toBe(first.outputs['pull-request-url']);
    expect(prs()).toHaveLength(1);
    expect(gh.calls('pulls/create')).toHaveLength(1);
    expect(gh.calls('pulls/update')).toHaveLength(1);
    expect(prs()[0]!.title).toBe(`chore(gitops): bump ${IMAGE} to 1.2.0`);
    // The update is a new commit on top of the first one: no force-push.
    expect(git(origin.root, ['--git-dir', origin.bare, 'rev-parse', `${pr.head.ref}~1`])).toBe(
      first.outputs['commit-sha'],
    );
    // Against main the previous image is still what main deploys.
    expect(second.outputs['previous-image']).toBe(`${IMAGE}:1.0.0`);

    // The same bump again changes nothing and keeps pointing at the PR.
    const same = await bump({ files: 'envs/prod/kustomization.yaml', tag: '1.2.0' });
    expect(same.outputs.changed).toBe('false');
    expect(same.outputs['pull-request-url']).toBe(first.outputs['pull-request-url']);
    expect(gh.calls('pulls/create')).toHaveLength(1);

    // Another target (staging) gets its own branch and PR.
    const staging = await bump({ files: 'envs/staging/kustomization.yaml', tag: '1.2.0' });
    expect(staging.errors).toEqual([]);
    expect(staging.outputs['pull-request-url']).not.toBe(first.outputs['pull-request-url']);
    expect(prs()).toHaveLength(2);
    expect(new Set(prs().map((p) => p.head.ref)).size).toBe(2);
  });

  it('opens nothing when the base already has the image', async () => {
    const before = gh.calls('pulls/create').length;
    const res = await bump({ files: 'envs/prod/kustomization.yaml', tag: '1.0.0' });
    expect(res.errors).toEqual([]);
    expect(res.outputs.changed).toBe('false');
    expect(res.outputs['commit-sha']).toBe('');
    expect(gh.calls('pulls/create')).toHaveLength(before);
  });

  it('starts a fresh PR, without force, when the previous one was closed', async () => {
    const target = prs().find((p) => p.title.includes('1.2.0') && p.state === 'open')!;
    target.state = 'closed';
    const oldTip = head(origin, target.head.ref);
    const res = await bump({ files: 'envs/prod/kustomization.yaml', tag: '1.3.0' });
    expect(res.errors).toEqual([]);
    const open = prs().filter((p) => p.head.ref === target.head.ref && p.state === 'open');
    expect(open).toHaveLength(1);
    expect(open[0]!.number).not.toBe(target.number);
    // The branch moved forward from its old tip (fast-forward), and its content is main + this bump.
    const tip = head(origin, target.head.ref);
    expect(git(origin.root, ['--git-dir', origin.bare, 'merge-base', '--is-ancestor', oldTip, tip])).toBe('');
    const diff = git(origin.root, ['--git-dir', origin.bare, 'diff', '--name-only', 'main', tip]);
    expect(diff).toBe('envs/prod/kustomization.yaml');
    expect(readFrom(cloneFresh(origin, target.head.ref), 'envs/prod/kustomization.yaml')).toContain(
      'newTag: "1.3.0" # prod',
    );
  });

  it('fails clearly when the token cannot use the API', async () => {
    const res = await runAction('gitops-bump', {
      inputs: {
        repository: 'octo-org/gitops',
        mode: 'pull-request',
        image: IMAGE,
        files: 'envs/prod/kustomization.yaml',
        tag: '9.9.9',
      },
      env: { ...gh.env('ghs_wrong'), MLOPS_GIT_REMOTE_URL: origin.bare },
    });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/Bad credentials/);
  });
});

describe('fake GitHub pulls handlers', () => {
  it('rejects what GitHub rejects', async () => {
    const call = (method: string, path: string, body?: unknown) =>
      fetch(gh.url + path, {
        method,
        headers: {
          authorization: 'token ghs_test_token',
          'user-agent': 't',
          'content-type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const missing = await call('POST', '/repos/octo-org/gitops/pulls', {
      title: 't',
      head: 'no-such-branch',
      base: 'main',
    });
    expect(missing.status).toBe(422);
    const same = await call('POST', '/repos/octo-org/gitops/pulls', {
      title: 't',
      head: 'main',
      base: 'main',
    });
    expect(same.status).toBe(422);
    const open = prs().find((p) => p.state === 'open')!;
    const dup = await call('POST', '/repos/octo-org/gitops/pulls', {
      title: 't',
      head: open.head.ref,
      base: 'main',
    });
    expect(dup.status).toBe(422);
    // GitHub's shape: the reason is in errors[].message, the message is 'Validation Failed'.
    const dupBody = (await dup.json()) as {
      message: string;
      errors: { resource: string; message: string }[];
    };
    expect(dupBody.message).toBe('Validation Failed');
    expect(dupBody.errors[0]).toMatchObject({ resource: 'PullRequest', code: 'custom' });
    expect(dupBody.errors[0]!.message).toMatch(/^A pull request already exists for octo-org:/);
    const noTitle = await call('POST', '/repos/octo-org/gitops/pulls', { head: open.head.ref, base: 'main' });
    expect(noTitle.status).toBe(422);
    const badState = await call('GET', '/repos/octo-org/gitops/pulls?state=merged');
    expect(badState.status).toBe(422);
    const list = await call('GET', `/repos/octo-org/gitops/pulls?head=octo-org:${open.head.ref}`);
    expect(((await list.json()) as { number: number }[]).map((p) => p.number)).toEqual([open.number]);
  });
});
