/**
 * scripts/rollback.mjs plan and current, run as rollback.yml and deployed.yml run them (node, inputs in the environment, a real
 * GITHUB_OUTPUT file) against a local bare GitOps origin whose history holds deploy commits with
 * ml-pipeline.yml's trailers.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloneFresh, commitDirect, git, makeOrigin, type Origin } from './helpers/gitops-repo.js';
import { ROOT } from './helpers/run-action.js';

const IMAGE = 'ghcr.io/octo-org/iris';
const OVERLAY = 'envs/prod/kustomization.yaml';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const overlay = (d: string): string => `images:\n  - name: ${IMAGE}\n    digest: ${d}\n`;

/** A deploy commit as ml-pipeline.yml's bump writes it. */
function deployMessage(version: string, d: string, extra: string[] = []): string {
  return [
    `deploy(prod): iris v${version} as ${d}`,
    '',
    'Model: iris',
    `Model-Version: ${version}`,
    `Image: ${IMAGE}@${d}`,
    'Environment: prod',
    `Run-Id: run${version}`,
    ...extra,
  ].join('\n');
}

function deploy(origin: Origin, version: string, d: string, extra: string[] = []): string {
  return commitDirect(origin, OVERLAY, overlay(d), deployMessage(version, d, extra));
}

function plan(origin: Origin, env: Record<string, string> = {}, command = 'plan') {
  const out = join(mkdtempSync(join(tmpdir(), 'rollback-out-')), 'output');
  writeFileSync(out, '');
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'rollback.mjs'), command], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      GITHUB_OUTPUT: out,
      RUNNER_TEMP: origin.root,
      GITOPS_REPOSITORY: 'octo-org/gitops',
      MLOPS_GIT_REMOTE_URL: `file://${origin.bare}`,
      FILES: OVERLAY,
      MODEL: 'iris',
      ENVIRONMENT: 'prod',
      IMAGE,
      ...env,
    },
  });
  const text = readFileSync(out, 'utf8');
  const outputs: Record<string, string> = {};
  for (const m of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$|^([\w-]+)=(.*)$/gm))
    outputs[m[1] ?? m[4]!] = m[3] ?? m[5]!;
  return { status: r.status, stdout: r.stdout, outputs };
}

describe('rollback.mjs plan', () => {
  it('finds the deploy HEAD runs and the previous version, and writes the rollback message with trailers', () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const v1 = deploy(origin, '1', digest('1'));
    commitDirect(origin, 'README.md', 'unrelated\n', 'docs');
    const v2 = deploy(origin, '2', digest('2'));
    const r = plan(origin);
    expect(r.status).toBe(0);
    expect(r.outputs).toMatchObject({
      'current-sha': v2,
      'current-version': '2',
      'target-sha': v1,
      'target-version': '1',
      'target-image': `${IMAGE}@${digest('1')}`,
      'target-digest': digest('1'),
    });
    const lines = r.outputs['commit-message']!.split('\n');
    expect(lines[0]).toBe('rollback(prod): iris v2 -> v1');
    expect(lines.slice(-6)).toEqual([
      'Model: iris',
      'Model-Version: 1',
      `Image: ${IMAGE}@${digest('1')}`,
      'Environment: prod',
      'Run-Id: run1',
      `Rollback-Of: ${v2}`,
    ]);
  });

  it('skips a redeploy of the same version and a version a rollback already undid', () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const v1 = deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    // The rollback of v2 (a deploy of v1 again), then v3, then v3 rebuilt.
    deploy(origin, '1', digest('1'), [`Rollback-Of: ${v2}`]);
    deploy(origin, '3', digest('3'));
    const v3b = deploy(origin, '3', digest('4'));
    const r = plan(origin);
    expect(r.status).toBe(0);
    expect(r.outputs['current-sha']).toBe(v3b);
    expect(r.outputs['target-version']).toBe('1');
    expect(r.outputs['target-sha']).not.toBe(v1); // the rollback commit, the newest deploy of v1
    expect(plan(origin, { TO_VERSION: '2' }).outputs['target-sha']).toBe(v2);
  });

  it('fails clearly when there is nothing earlier to go back to', () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const v1 = deploy(origin, '1', digest('1'));
    const only = plan(origin);
    expect(only.status).toBe(1);
    expect(only.stdout).toContain(
      `::error title=rollback::iris v1 (deployed by ${v1.slice(0, 12)}) has no earlier deploy of another version to roll back to`,
    );
    deploy(origin, '2', digest('2'));
    const never = plan(origin, { TO_VERSION: '7' });
    expect(never.status).toBe(1);
    expect(never.stdout).toContain('::error title=rollback::iris v7 has no earlier deploy to roll back to');
    expect(never.outputs).toEqual({});
  });

  it('refuses when HEAD no longer holds what the newest deploy commit deployed', () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    commitDirect(origin, OVERLAY, overlay(digest('9')), 'hand edit');
    const r = plan(origin);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(
      `HEAD no longer holds ${IMAGE}@${digest('2')}, which ${v2.slice(0, 12)} deployed`,
    );
  });

  it('refuses an issue that is not a number before anything else', () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const r = plan(origin, { ISSUE: '12) [x](https://evil' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(
      "::error title=rollback::issue must be an issue number, not '12) [x](https://evil'",
    );
  });

  it('current: reads the deploy commit behind a merge commit of the rollback PR (deployed.yml)', () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    deploy(origin, '1', digest('1'));
    const v2 = deploy(origin, '2', digest('2'));
    // The PR branch's rollback commit, merged with a merge commit (GitHub's default merge button).
    const dir = cloneFresh(origin);
    git(dir, ['checkout', '-q', '-b', 'gitops-bump/iris-x']);
    writeFileSync(join(dir, OVERLAY), overlay(digest('1')));
    git(dir, ['commit', '-qam', deployMessage('1', digest('1'), [`Rollback-Of: ${v2}`])]);
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
    const r = plan(origin, {}, 'current');
    expect(r.status).toBe(0);
    expect(r.outputs).toEqual({
      'commit-sha': rollbackCommit,
      'model-version': '1',
      'image-ref': `${IMAGE}@${digest('1')}`,
      'image-digest': digest('1'),
      'rollback-of': v2,
    });
  });

  it('names the clone that failed', () => {
    const origin = makeOrigin({ [OVERLAY]: overlay(digest('0')) });
    const r = plan(origin, { GITOPS_BRANCH: 'nope' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('::error title=rollback::cannot clone octo-org/gitops branch nope:');
  });
});
