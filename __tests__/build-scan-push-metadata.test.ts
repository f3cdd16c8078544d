/**
 * build-scan-push with the inputs a docker/metadata-action user writes: its `tags` and `labels`
 * outputs passed as is, its rule syntax and flavor, `images`; and the PR head commit (not the
 * merge commit) in the sha tag and the revision label. The bundle runs against the fake docker and
 * trivy (see build-scan-push.test.ts).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { runAction, type RunOptions } from './helpers/run-action.js';
import { allArgsOf, fakeEnv, type Call, type FakeEnv } from './helpers/fake-tools/index.js';

const MERGE_SHA = '0123456789abcdef0123456789abcdef01234567';
const HEAD_SHA = 'fedcba9876543210fedcba9876543210fedcba98';
let envs: FakeEnv[] = [];
afterEach(() => {
  for (const e of envs) e.cleanup();
  envs = [];
});

async function run(inputs: RunOptions['inputs'], opts: Partial<RunOptions> = {}) {
  const f = fakeEnv();
  envs.push(f);
  const res = await runAction('build-scan-push', {
    ...opts,
    inputs,
    env: { ...f.env, ...opts.env },
    cwd: f.workspace,
  });
  const builds = f.calls().filter((c: Call) => c.tool === 'docker' && c.argv[1] === 'build');
  const push = builds.find((c) => c.argv.includes('--push'));
  return { res, builds, push, tags: push ? allArgsOf(push.argv, '--tag') : [] };
}

/** What docker/metadata-action@v5 writes to its `labels` output on a push to main. */
const METADATA_LABELS = [
  'org.opencontainers.image.created=2026-11-26T21:00:00.000Z',
  'org.opencontainers.image.description=Iris classifier',
  'org.opencontainers.image.licenses=MIT',
  'org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567',
  'org.opencontainers.image.source=https://github.com/octo-org/iris',
  'org.opencontainers.image.title=iris',
  'org.opencontainers.image.url=https://github.com/octo-org/iris',
  'org.opencontainers.image.version=main',
].join('\n');

describe('build-scan-push: docker/metadata-action outputs as is', () => {
  it('tags exactly the full references given, with its labels, and derives the image from them', async () => {
    const { res, builds, tags } = await run({
      tags: 'ghcr.io/octo-org/iris:main\nghcr.io/octo-org/iris:sha-0123456\n',
      labels: METADATA_LABELS,
    });
    expect(res.errors).toEqual([]);
    expect(tags).toEqual(['ghcr.io/octo-org/iris:main', 'ghcr.io/octo-org/iris:sha-0123456']);
    expect(allArgsOf(builds[0]!.argv, '--tag')).toEqual(tags);
    const labels = allArgsOf(builds[0]!.argv, '--label');
    for (const l of METADATA_LABELS.split('\n')) expect(labels).toContain(l);
    expect(labels.filter((l) => l.startsWith('org.opencontainers.image.created='))).toHaveLength(1);
    expect(res.outputs['image-ref']).toBe(`ghcr.io/octo-org/iris@${res.outputs.digest}`);
    expect(res.outputs.tags).toBe('ghcr.io/octo-org/iris:main\nghcr.io/octo-org/iris:sha-0123456');
  });

  it('takes comma-separated references (sep-tags: ",") and images (plural)', async () => {
    const { res, tags } = await run({
      images: 'ghcr.io/octo-org/iris',
      tags: 'ghcr.io/octo-org/iris:1.4.0,ghcr.io/octo-org/iris:latest',
    });
    expect(res.errors).toEqual([]);
    expect(tags).toEqual(['ghcr.io/octo-org/iris:1.4.0', 'ghcr.io/octo-org/iris:latest']);
  });

  it('refuses a reference to an image the image input does not name, before building', async () => {
    const { res, builds } = await run({ image: 'ghcr.io/octo-org/iris', tags: 'ghcr.io/other/app:main' });
    expect(res.errors.join()).toMatch(/^Input 'tags': expected references to ghcr\.io\/octo-org\/iris/);
    expect(builds).toEqual([]);
  });
});

describe('build-scan-push: metadata-action rule syntax and flavor', () => {
  const RULES = [
    'type=ref,event=branch',
    'type=ref,event=pr',
    'type=semver,pattern={{version}}',
    'type=semver,pattern={{major}}.{{minor}}',
    'type=sha',
  ].join('\n');

  it('a release gets its versions, the sha and latest (latest=auto), the version label from semver', async () => {
    const { res, tags, builds } = await run(
      { images: 'ghcr.io/octo-org/iris', tags: RULES },
      { env: { GITHUB_REF: 'refs/tags/v1.4.0', GITHUB_REF_NAME: 'v1.4.0' } },
    );
    expect(res.errors).toEqual([]);
    expect(tags.map((t) => t.split(':').pop())).toEqual(['1.4.0', '1.4', 'sha-0123456', 'latest']);
    expect(allArgsOf(builds[0]!.argv, '--label')).toContain('org.opencontainers.image.version=1.4.0');
  });

  it('a branch gets its name and the sha; flavor latest=false and a suffix apply as metadata-action applies them', async () => {
    const main = await run({ tags: RULES });
    expect(main.tags.map((t) => t.split(':').pop())).toEqual(['main', 'sha-0123456']);
    const flavored = await run(
      { tags: RULES, flavor: 'latest=false\nsuffix=-gpu' },
      { env: { GITHUB_REF: 'refs/tags/v1.4.0' } },
    );
    // The sha rule has its own prefix, not the flavor's; its suffix is the flavor's.
    expect(flavored.tags.map((t) => t.split(':').pop())).toEqual(['1.4.0-gpu', '1.4-gpu', 'sha-0123456-gpu']);
  });

  it('raw latest enabled on the default branch only ({{is_default_branch}})', async () => {
    const tags = 'type=raw,value=latest,enable={{is_default_branch}}\ntype=sha';
    const event = { repository: { default_branch: 'main' } };
    const onMain = await run({ tags }, { event });
    expect(onMain.tags.map((t) => t.split(':').pop())).toEqual(['latest', 'sha-0123456']);
    const onDev = await run({ tags }, { event, env: { GITHUB_REF: 'refs/heads/dev' } });
    expect(onDev.tags.map((t) => t.split(':').pop())).toEqual(['sha-0123456']);
  });

  it('names the input for a rule type this action does not evaluate', async () => {
    const { res } = await run({ tags: 'type=schedule,pattern=nightly' });
    expect(res.errors.join()).toMatch(/^Input 'tags': expected tag types build-scan-push supports/);
  });
});

describe('build-scan-push: pull_request events use the PR head commit', () => {
  it('tags sha-<head> and labels the revision with the head, not the merge commit', async () => {
    const { res, tags, builds } = await run(
      { tags: 'type=ref,event=pr\ntype=sha', push: true },
      {
        eventName: 'pull_request',
        event: { number: 7, pull_request: { number: 7, head: { sha: HEAD_SHA } } },
        env: { GITHUB_REF: 'refs/pull/7/merge', GITHUB_SHA: MERGE_SHA },
      },
    );
    expect(res.errors).toEqual([]);
    expect(tags.map((t) => t.split(':').pop())).toEqual(['pr-7', 'sha-fedcba9']);
    const labels = allArgsOf(builds[0]!.argv, '--label');
    expect(labels).toContain(`org.opencontainers.image.revision=${HEAD_SHA}`);
    expect(labels.join()).not.toContain(MERGE_SHA);
  });
});
