/**
 * The release story: release.yml's tagging step, run with bash as the runner runs it, against a
 * repository with a local bare origin. It tags `vX.Y.Z`, moves the major tag, refuses what would
 * break users pinned to a tag, and the reusable workflows' `actions-ref` default follows the major.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './helpers/run-action.js';

interface Step {
  name?: string;
  run?: string;
  env?: Record<string, string>;
  uses?: string;
}
const releaseYml = parse(readFileSync(join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8')) as {
  on: { workflow_dispatch: { inputs: Record<string, { required: boolean }> } };
  jobs: Record<string, { permissions: Record<string, string>; steps: Step[] }>;
};
const job = Object.values(releaseYml.jobs)[0]!;
const tagStep = job.steps.find((s) => s.run?.includes('scripts/release.mjs'))!;

let repo = '';
let origin = '';
const git = (...args: string[]): string =>
  execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const remoteTags = (): Record<string, string> =>
  Object.fromEntries(
    execFileSync('git', ['ls-remote', '--tags', origin], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter((l) => l.includes('^{}'))
      .map((l) => {
        const [sha, ref] = l.split('\t');
        return [ref!.replace('refs/tags/', '').replace('^{}', ''), sha!];
      }),
  );

function commitVersion(version: string, changelog = `## [${version}]\n\n- a change\n`): string {
  writeFileSync(join(repo, 'package.json'), JSON.stringify({ name: 'x', version }) + '\n');
  writeFileSync(join(repo, 'CHANGELOG.md'), `# Changelog\n\n${changelog}`);
  git('add', '-A');
  git('commit', '-qm', `release ${version}`);
  git('push', '-q', 'origin', 'HEAD:main');
  return git('rev-parse', 'HEAD');
}

/** The workflow step's own script with its `env:` as the runner sets it. */
function runStep(version: string): { status: number | null; out: string } {
  const env = Object.fromEntries(
    Object.entries(tagStep.env ?? {}).map(([k, v]) => [k, v === '${{ inputs.version }}' ? version : v]),
  );
  const r = spawnSync('bash', ['-eo', 'pipefail', '-c', tagStep.run!], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, ...env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

beforeEach(() => {
  const dir = mkdtempSync(join(tmpdir(), 'release-'));
  origin = join(dir, 'origin.git');
  repo = join(dir, 'repo');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  execFileSync('git', ['init', '-q', '-b', 'main', repo]);
  git('config', 'user.name', 't');
  git('config', 'user.email', 't@example.com');
  git('remote', 'add', 'origin', origin);
  mkdirSync(join(repo, 'scripts'));
  copyFileSync(join(ROOT, 'scripts', 'release.mjs'), join(repo, 'scripts', 'release.mjs'));
  symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules'));
  writeFileSync(join(repo, '.gitignore'), 'node_modules\n');
});

describe('release.yml', () => {
  it('asks for the version, may write contents only, and checks dist/ before tagging', () => {
    expect(releaseYml.on.workflow_dispatch.inputs.version!.required).toBe(true);
    expect(job.permissions).toEqual({ contents: 'write' });
    const runs = job.steps.map((s) => s.run ?? '');
    const distCheck = runs.findIndex(
      (r) => /npm run build/.test(r) && /git status --porcelain -- dist\b/.test(r),
    );
    expect(distCheck).toBeGreaterThanOrEqual(0);
    expect(distCheck).toBeLessThan(job.steps.indexOf(tagStep));
  });

  it('tags vX.Y.Z and moves v1 to it; the next release moves v1 again and keeps the old tag', () => {
    const first = commitVersion('1.0.0');
    const r1 = runStep('1.0.0');
    expect(r1.out).toContain('pushed v1.0.0 and moved v1');
    expect(r1.status).toBe(0);
    expect(remoteTags()).toEqual({ 'v1.0.0': first, v1: first });

    const second = commitVersion('1.1.0');
    expect(runStep('v1.1.0').status).toBe(0);
    expect(remoteTags()).toEqual({ 'v1.0.0': first, 'v1.1.0': second, v1: second });

    const major = commitVersion('2.0.0');
    expect(runStep('2.0.0').status).toBe(0);
    expect(remoteTags()).toMatchObject({ v1: second, v2: major, 'v2.0.0': major });
  });

  it('a prerelease is tagged but does not move the major tag users pin to', () => {
    const first = commitVersion('1.0.0');
    runStep('1.0.0');
    const rc = commitVersion('1.1.0-rc.1');
    expect(runStep('1.1.0-rc.1').status).toBe(0);
    expect(remoteTags()).toEqual({ 'v1.0.0': first, 'v1.1.0-rc.1': rc, v1: first });
  });

  it.each([
    ['not a semantic version', '1.0', '1.0', undefined, /"1.0" is not a semantic version/],
    [
      'package.json names another version',
      '1.0.1',
      '1.0.0',
      undefined,
      /package.json says version 1.0.0; set it to 1.0.1/,
    ],
    [
      'CHANGELOG.md has no section for it',
      '1.0.0',
      '1.0.0',
      '## [0.9.0]\n',
      /CHANGELOG.md has no "## 1.0.0" section/,
    ],
  ])('refuses when %s, and pushes no tag', (_, asked, inPackage, changelog, message) => {
    commitVersion(inPackage, changelog);
    const r = runStep(asked);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(message);
    expect(remoteTags()).toEqual({});
  });

  it('refuses a version that exists on the remote or is not higher than the latest release', () => {
    const first = commitVersion('1.2.0');
    expect(runStep('1.2.0').status).toBe(0);
    // Someone else's clone: the tag is only on the remote.
    git('tag', '-d', 'v1.2.0', 'v1');
    const again = runStep('1.2.0');
    expect(again.status).toBe(1);
    expect(again.out).toMatch(/tag v1.2.0 exists already/);
    commitVersion('1.1.9');
    const lower = runStep('1.1.9');
    expect(lower.out).toMatch(/1.1.9 is not higher than the latest release 1.2.0/);
    expect(remoteTags()).toEqual({ 'v1.2.0': first, v1: first });
  });

  it("refuses a release whose reusable workflows' actions-ref default is not the major tag it moves", () => {
    mkdirSync(join(repo, '.github', 'workflows'), { recursive: true });
    copyFileSync(
      join(ROOT, '.github', 'workflows', 'ml-pipeline.yml'),
      join(repo, '.github', 'workflows', 'ml-pipeline.yml'),
    );
    const first = commitVersion('1.0.0');
    expect(runStep('1.0.0').status).toBe(0);
    // A new major with the defaults still at v1: callers of @v2 would run v1's actions.
    commitVersion('2.0.0');
    const refused = runStep('2.0.0');
    expect(refused.status).toBe(1);
    expect(refused.out).toMatch(/ml-pipeline.yml: actions-ref defaults to v1; set it to v2 first/);
    // A prerelease moves no major tag: it may come first.
    const rc = commitVersion('2.0.0-rc.1');
    expect(runStep('2.0.0-rc.1').status).toBe(0);
    expect(remoteTags()).toEqual({ 'v1.0.0': first, 'v2.0.0-rc.1': rc, v1: first });
  });

  it('refuses a working tree with uncommitted changes', () => {
    commitVersion('1.0.0');
    writeFileSync(join(repo, 'CHANGELOG.md'), 'edited\n## [1.0.0]\n');
    const r = runStep('1.0.0');
    expect(r.out).toMatch(/uncommitted changes/);
    expect(remoteTags()).toEqual({});
  });
});

describe('the project is released as it says', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const major = `v${pkg.version.split('.')[0]}`;

  it("CHANGELOG.md has a section for package.json's version", () => {
    expect(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(
      new RegExp(`^## \\[${pkg.version.replace(/\./g, '\\.')}\\]`, 'm'),
    );
  });

  it.each(['ml-pipeline.yml', 'alert-triage.yml', 'ai-review.yml'])(
    "%s's actions-ref default is the major tag the release moves",
    (file) => {
      const wf = parse(readFileSync(join(ROOT, '.github', 'workflows', file), 'utf8')) as {
        on: { workflow_call: { inputs: Record<string, { default?: string }> } };
      };
      expect(wf.on.workflow_call.inputs['actions-ref']!.default).toBe(major);
    },
  );
});
