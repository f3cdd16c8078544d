/**
 * gitops-bump in push mode, run as the bundle against a real bare repository: the YAML edits are
 * byte-exact except for the image values (comments, quoting, anchors, blank lines, CRLF), a second
 * run is a no-op, and bad inputs fail naming the input.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAction } from './helpers/run-action.js';
import { GitHttpServer } from './helpers/git-http.js';
import {
  cloneFresh,
  commitCount,
  commitDirect,
  git,
  head,
  makeOrigin,
  readFrom,
} from './helpers/gitops-repo.js';

const A = 'sha256:' + 'a'.repeat(64);
const B = 'sha256:' + 'b'.repeat(64);
const IMAGE = 'ghcr.io/octo-org/iris';
const crlf = (s: string): string => s.replace(/\n/g, '\r\n');

const KUSTOMIZATION = crlf(`# Production overlay for the iris model server.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

resources:
  - ../../base   # shared base

images:
  # the model server; bumped by CI
  - name: ghcr.io/octo-org/iris
    newTag: "1.4.0"   # quoted on purpose
  - name: redis
    newName: docker.io/library/redis
    newTag: 7.2.4
  - name: ghcr.io/octo-org/iris-batch
    newTag: '1.4.0'
    digest: ${A}
`);

const VALUES = `# Helm values for iris
global:
  imageDefaults: &defaults
    pullPolicy: IfNotPresent

image:
  <<: *defaults
  repository: ghcr.io/octo-org/iris
  tag: 1.4.0 # plain
  digest: ""

worker:
  image:
    repository: ghcr.io/octo-org/iris
    tag: &workerTag '1.4.0'

  replicas: 2   # the blank line above stays
canary:
  image: {repository: ghcr.io/octo-org/iris, tag: *workerTag}
sidecar:
  image: docker.io/envoyproxy/envoy:v1.30.1
`;

const WORKLOADS = crlf(`# two workloads and an unrelated object
apiVersion: apps/v1
kind: Deployment
metadata:
  name: iris
spec:
  template:
    spec:
      initContainers:
        - name: fetch-model
          image: ghcr.io/octo-org/iris:1.4.0   # init mode
      containers:
        - name: server
          image: "ghcr.io/octo-org/iris:1.4.0"
        - name: sidecar
          image: envoyproxy/envoy:v1.30.1
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: iris-retrain
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: retrain
              image: ghcr.io/octo-org/iris@${A}
          restartPolicy: Never
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated
data:
  image: ghcr.io/octo-org/iris:0.0.1
`);

const MORE_WORKLOADS = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: iris-cache}
spec:
  template:
    spec:
      containers:
      - {name: cache, image: 'ghcr.io/octo-org/iris:1.4.0'}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: iris-node
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/octo-org/iris:1.4.0
          name: agent
---
apiVersion: batch/v1
kind: Job
metadata:
  name: iris-migrate
spec:
  template:
    spec:
      containers:
        - name: migrate
          image: ghcr.io/octo-org/iris:1.4.0
---
apiVersion: v1
kind: Pod
metadata:
  name: iris-debug
spec:
  containers:
    - name: debug
      image: ghcr.io/octo-org/iris:1.4.0
`;

const FILES = {
  'apps/iris/prod/kustomization.yaml': KUSTOMIZATION,
  'apps/iris/values.yaml': VALUES,
  'apps/iris/workloads.yaml': WORKLOADS,
  'apps/iris/more.yaml': MORE_WORKLOADS,
  'README.md': '# gitops\n',
};

/** `text` with each [from, to] replaced exactly once (the expected minimal diff). */
function expectEdits(text: string, edits: [string, string][]): string {
  let out = text;
  for (const [from, to] of edits) {
    const at = out.indexOf(from);
    if (at < 0 || out.indexOf(from, at + 1) >= 0) throw new Error(`fixture edit '${from}' is not unique`);
    out = out.slice(0, at) + to + out.slice(at + from.length);
  }
  return out;
}

const changedLines = (dir: string, from: string, to: string): number =>
  git(dir, ['diff', '--numstat', from, to])
    .split('\n')
    .filter(Boolean)
    .reduce((n, l) => n + Number(l.split('\t')[0]), 0);

const bump = (origin: { bare: string }, inputs: Record<string, string>, env: Record<string, string> = {}) =>
  runAction('gitops-bump', {
    inputs: {
      repository: origin.bare,
      files: 'apps/**/*.yaml',
      image: IMAGE,
      'helm-key-path': 'image, *.image',
      ...inputs,
    },
    env: { GITHUB_TOKEN: 'ghs_secret_value_123', ...env },
  });

describe('gitops-bump (push mode, YAML fidelity)', () => {
  it('changes only the image values in kustomize, Helm values and workload manifests, and a rerun is a no-op', async () => {
    const origin = makeOrigin(FILES);
    const before = head(origin);
    const res = await bump(origin, { tag: '1.5.0' });
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.outputs.changed).toBe('true');
    expect(res.outputs['commit-sha']).toBe(head(origin));
    expect(JSON.parse(res.outputs['changed-files']!)).toEqual([
      'apps/iris/more.yaml',
      'apps/iris/prod/kustomization.yaml',
      'apps/iris/values.yaml',
      'apps/iris/workloads.yaml',
    ]);
    expect(res.outputs['previous-image']).toBe('ghcr.io/octo-org/iris:1.4.0');

    const dir = cloneFresh(origin);
    expect(readFrom(dir, 'apps/iris/prod/kustomization.yaml')).toBe(
      expectEdits(KUSTOMIZATION, [['newTag: "1.4.0"   # quoted', 'newTag: "1.5.0"   # quoted']]),
    );
    expect(readFrom(dir, 'apps/iris/values.yaml')).toBe(
      expectEdits(VALUES, [
        ['tag: 1.4.0 # plain', 'tag: 1.5.0 # plain'],
        ["tag: &workerTag '1.4.0'", "tag: &workerTag '1.5.0'"],
      ]),
    );
    // The chart's digest stays empty for a tag-only bump: the file must not change there.
    expect(readFrom(dir, 'apps/iris/values.yaml')).toContain('digest: ""\n');
    expect(readFrom(dir, 'apps/iris/workloads.yaml')).toBe(
      expectEdits(WORKLOADS, [
        ['iris:1.4.0   # init', 'iris:1.5.0   # init'],
        ['"ghcr.io/octo-org/iris:1.4.0"', '"ghcr.io/octo-org/iris:1.5.0"'],
        [`iris@${A}`, 'iris:1.5.0'],
      ]),
    );
    expect(readFrom(dir, 'apps/iris/workloads.yaml')).toContain('\r\n');
    expect(readFrom(dir, 'apps/iris/workloads.yaml').replace(/\r\n/g, '')).not.toContain('\n');
    expect(readFrom(dir, 'apps/iris/more.yaml')).toBe(MORE_WORKLOADS.replace(/iris:1\.4\.0/g, 'iris:1.5.0'));
    // One line per changed value, nothing else: 1 + 2 + 3 + 4.
    expect(changedLines(dir, before, 'HEAD')).toBe(10);
    expect(git(dir, ['log', '-1', '--format=%an <%ae>|%s'])).toBe(
      'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>|chore(gitops): bump ghcr.io/octo-org/iris to 1.5.0',
    );

    expect(res.summary).toContain('apps/iris/workloads.yaml');
    expect(res.summary).toMatch(
      /Deployment\/iris initContainers\\\[fetch-model\\\]\.image.*`ghcr\.io\/octo-org\/iris:1\.4\.0`.*`ghcr\.io\/octo-org\/iris:1\.5\.0`/,
    );
    expect(res.summary).toContain(res.outputs['commit-sha']!.slice(0, 7));

    const again = await bump(origin, { tag: '1.5.0' });
    expect(again.code).toBe(0);
    expect(again.outputs.changed).toBe('false');
    expect(again.outputs['commit-sha']).toBe('');
    expect(again.outputs['changed-files']).toBe('[]');
    expect(again.outputs['previous-image']).toBe('ghcr.io/octo-org/iris:1.5.0');
    expect(commitCount(origin)).toBe(2);
    expect(again.summary).toMatch(/nothing to commit/);
  });

  it('pins tag@digest and digest alone as kustomize edit set image writes them', async () => {
    const origin = makeOrigin(FILES);
    const before = head(origin);
    const pinned = await bump(origin, {
      files: 'apps/iris/prod/kustomization.yaml\napps/iris/values.yaml',
      tag: '1.6.0',
      digest: B,
      'commit-message': 'deploy {image} {old} -> {new}',
    });
    expect(pinned.errors).toEqual([]);
    const dir = cloneFresh(origin);
    expect(readFrom(dir, 'apps/iris/prod/kustomization.yaml')).toBe(
      expectEdits(KUSTOMIZATION, [
        [
          'newTag: "1.4.0"   # quoted on purpose\r\n',
          `newTag: "1.6.0"   # quoted on purpose\r\n    digest: ${B}\r\n`,
        ],
      ]),
    );
    expect(readFrom(dir, 'apps/iris/values.yaml')).toBe(
      expectEdits(VALUES, [
        ['tag: 1.4.0 # plain\n  digest: ""', `tag: 1.6.0 # plain\n  digest: "${B}"`],
        ["tag: &workerTag '1.4.0'\n", `tag: &workerTag '1.6.0'\n    digest: ${B}\n`],
        ['tag: *workerTag}', `tag: *workerTag, digest: ${B}}`],
      ]),
    );
    expect(git(dir, ['log', '-1', '--format=%s'])).toBe(`deploy ${IMAGE} 1.4.0 -> 1.6.0@${B}`);
    // kustomize: newTag changed, digest added; values: tag, digest, anchored tag, added digest, flow map.
    expect(changedLines(dir, before, 'HEAD')).toBe(7);

    // Digest only: kustomize drops newTag; the batch image entry is not touched.
    const digestOnly = await bump(origin, { files: 'apps/iris/prod/kustomization.yaml', digest: A });
    expect(digestOnly.errors).toEqual([]);
    expect(digestOnly.outputs['previous-image']).toBe(`${IMAGE}:1.6.0@${B}`);
    const dir2 = cloneFresh(origin);
    expect(readFrom(dir2, 'apps/iris/prod/kustomization.yaml')).toBe(
      expectEdits(KUSTOMIZATION, [['newTag: "1.4.0"   # quoted on purpose\r\n', `digest: ${A}\r\n`]]),
    );
  });

  it('quotes a new tag that would otherwise read as a number, and keeps the token out of logs and disk', async () => {
    const origin = makeOrigin({ 'values.yaml': 'image:\n  repository: ghcr.io/octo-org/iris\n  tag: 1.9\n' });
    const res = await bump(origin, { files: 'values.yaml', tag: '1.10' }, { RUNNER_DEBUG: '1' });
    expect(res.errors).toEqual([]);
    expect(readFrom(cloneFresh(origin), 'values.yaml')).toBe(
      'image:\n  repository: ghcr.io/octo-org/iris\n  tag: "1.10"\n',
    );
    // `::add-mask::` is how the runner learns what to hide; nothing else may carry the token.
    const log = (res.stdout + res.stderr)
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');
    expect(log).toContain('git push');
    expect(log).not.toContain('ghs_secret_value_123');
    // The work clone lived in RUNNER_TEMP and is removed.
    expect(readdirSync(join(res.dir, 'runner-temp'))).toEqual([]);
  });

  it('puts a new digest under its tag, also when a nested block ends the mapping, and swaps a tag for a digest in place', async () => {
    const values = [
      'image:',
      `  repository: ${IMAGE}`,
      '  tag: "1.0.0" # released',
      '  pullSecrets:',
      '    - name: ghcr',
      '',
      '  # resources below',
      'resources: {}',
      '',
    ].join('\n');
    const kustomization = `images:\n  - name: ${IMAGE}\n    newTag: "1.0.0" # released\n  - name: redis\n    newTag: "7"\n`;
    const origin = makeOrigin({ 'values.yaml': values, 'kustomization.yaml': kustomization });
    const helm = await bump(origin, { files: 'values.yaml', tag: '1.1.0', digest: B });
    expect(helm.errors).toEqual([]);
    expect(readFrom(cloneFresh(origin), 'values.yaml')).toBe(
      values.replace('  tag: "1.0.0" # released\n', `  tag: "1.1.0" # released\n  digest: ${B}\n`),
    );
    const kust = await bump(origin, { files: 'kustomization.yaml', digest: B });
    expect(kust.errors).toEqual([]);
    expect(readFrom(cloneFresh(origin), 'kustomization.yaml')).toBe(
      kustomization.replace('newTag: "1.0.0" # released', `digest: ${B} # released`),
    );
  });

  it('bumps on top of a branch that moved since the last run, never dropping the other commit', async () => {
    const origin = makeOrigin(FILES);
    const other = commitDirect(origin, 'apps/other/values.yaml', 'replicas: 3\n', 'someone else');
    const res = await bump(origin, { files: 'apps/iris/values.yaml', tag: '2.0.0' });
    expect(res.code).toBe(0);
    const dir = cloneFresh(origin);
    expect(git(dir, ['rev-parse', 'HEAD~1'])).toBe(other);
    expect(readFrom(dir, 'apps/other/values.yaml')).toBe('replicas: 3\n');
  });

  it('uses owner/name with MLOPS_GIT_REMOTE_URL as the clone URL, and the branch input', async () => {
    const origin = makeOrigin(FILES);
    git(origin.root, ['--git-dir', origin.bare, 'branch', 'staging', 'main']);
    const res = await runAction('gitops-bump', {
      inputs: {
        repository: 'octo-org/gitops',
        branch: 'staging',
        files: 'apps/iris/more.yaml',
        image: `${IMAGE}:3.0.0`,
      },
      env: { GITHUB_TOKEN: 'ghs_secret_value_123', MLOPS_GIT_REMOTE_URL: `file://${origin.bare}` },
    });
    expect(res.errors).toEqual([]);
    expect(head(origin, 'main')).not.toBe(res.outputs['commit-sha']);
    expect(head(origin, 'staging')).toBe(res.outputs['commit-sha']);
    expect(res.summary).toContain(`https://github.com/octo-org/gitops/commit/${res.outputs['commit-sha']}`);
  });

  it.each([
    [{ tag: 'not a tag!' }, /Input 'tag'/],
    [{ tag: '', digest: 'sha256:abc' }, /Input 'digest'/],
    [{ tag: '', digest: 'sha512:' + 'a'.repeat(64) }, /Input 'digest'.*sha512:<128>/],
    [{ tag: '', digest: 'sha256:' + 'A'.repeat(64) }, /Input 'digest'.*lowercase/],
    [{ tag: '', digest: 'md5:' + 'a'.repeat(64) }, /Input 'digest'/],
    [{ tag: '', image: `ghcr.io/octo-org/iris@sha384:${'a'.repeat(64)}` }, /Input 'image'.*sha384:<96>/],
    [{ tag: '' }, /Input 'tag'.*at least one/],
    [{ tag: '1.0', mode: 'merge' }, /Input 'mode'.*push, pull-request/],
    [{ tag: '1.0', files: 'nope/*.yaml' }, /Input 'files'.*match.*nope/],
    [{ tag: '1.0', files: '../etc/passwd' }, /Input 'files'/],
    [{ tag: '1.0', author: 'just a name' }, /Input 'author'.*Name <email>/],
    [{ tag: '1.0', 'wait-for-sync': 'true' }, /Input 'argocd-app'/],
    [{ tag: '1.0', timeout: 'soon' }, /Input 'timeout'/],
    [
      { tag: '1.0', branch: 'nope' },
      /Input 'branch': expected a branch that exists in the repository, got 'nope'/,
    ],
    [{ tag: '1.0', files: 'apps/iris/values.yaml', 'helm-key-path': 'api.image' }, /input 'helm-key-path'/],
    [{ tag: '1.0', image: 'ghcr.io/octo-org/unknown', files: 'apps/iris/*.yaml' }, /not referenced in/],
  ])('fails clearly on %j', async (inputs, message) => {
    const origin = makeOrigin(FILES);
    const res = await bump(origin, inputs as Record<string, string>);
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(message);
    expect(commitCount(origin)).toBe(1);
  });

  it('fails on a file that is not valid YAML, naming it', async () => {
    const origin = makeOrigin({ 'bad.yaml': 'image: [unclosed\n' });
    const res = await bump(origin, { files: 'bad.yaml', tag: '1.0' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/bad\.yaml: not valid YAML/);
    expect(readFileSync(join(origin.bare, 'HEAD'), 'utf8')).toContain('main');
  });
});

describe('gitops-bump over smart HTTP', () => {
  it('authenticates with an http.extraheader: the token is in no URL and not in the log', async () => {
    const origin = makeOrigin(FILES);
    const root = join(origin.root, 'http');
    mkdirSync(join(root, 'octo-org'), { recursive: true });
    git(origin.root, ['clone', '-q', '--bare', origin.bare, join(root, 'octo-org', 'gitops.git')]);
    const server = new GitHttpServer(root, 'ghs_http_token_456');
    await server.start();
    try {
      const res = await runAction('gitops-bump', {
        inputs: { repository: 'octo-org/gitops', files: 'apps/iris/values.yaml', image: IMAGE, tag: '7.0.0' },
        env: { GITHUB_TOKEN: 'ghs_http_token_456', GITHUB_SERVER_URL: server.url },
      });
      expect(res.errors).toEqual([]);
      expect(res.outputs.changed).toBe('true');
      const pushed = git(origin.root, [
        '--git-dir',
        join(root, 'octo-org', 'gitops.git'),
        'rev-parse',
        'main',
      ]);
      expect(pushed).toBe(res.outputs['commit-sha']);
      expect(server.requests.some((r) => r.url.includes('git-receive-pack'))).toBe(true);
      for (const r of server.requests) {
        expect(r.url).not.toContain('ghs_http_token_456');
        expect(r.authorization).toBe(
          `basic ${Buffer.from('x-access-token:ghs_http_token_456').toString('base64')}`,
        );
      }
      const log = res.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::'));
      expect(log.join('\n')).not.toMatch(/ghs_http_token_456|eC1hY2Nlc3MtdG9rZW46Z2hzX2h0dHBfdG9rZW5fNDU2/);
    } finally {
      await server.stop();
    }
  });

  it('keeps credentials written into MLOPS_GIT_REMOTE_URL out of the debug log', async () => {
    const origin = makeOrigin(FILES);
    const root = join(origin.root, 'http');
    mkdirSync(join(root, 'octo-org'), { recursive: true });
    git(origin.root, ['clone', '-q', '--bare', origin.bare, join(root, 'octo-org', 'gitops.git')]);
    const server = new GitHttpServer(root, 'url-secret-789');
    await server.start();
    try {
      const url = new URL(`${server.url}/octo-org/gitops.git`);
      url.username = 'x-access-token';
      url.password = 'url-secret-789';
      const res = await runAction('gitops-bump', {
        inputs: { repository: 'octo-org/gitops', files: 'apps/iris/values.yaml', image: IMAGE, tag: '7.1.0' },
        env: { MLOPS_GIT_REMOTE_URL: url.href, RUNNER_DEBUG: '1' },
      });
      expect(res.errors).toEqual([]);
      const log = res.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::'));
      expect(log.some((l) => l.startsWith('::debug::git clone'))).toBe(true);
      expect(log.join('\n')).not.toContain('url-secret-789');
      expect(res.stdout).toContain('::add-mask::url-secret-789');
    } finally {
      await server.stop();
    }
  });

  it('fails clearly when the server refuses the token', async () => {
    const origin = makeOrigin(FILES);
    const root = join(origin.root, 'http');
    mkdirSync(join(root, 'octo-org'), { recursive: true });
    git(origin.root, ['clone', '-q', '--bare', origin.bare, join(root, 'octo-org', 'gitops.git')]);
    const server = new GitHttpServer(root, 'the-right-token');
    await server.start();
    try {
      const res = await runAction('gitops-bump', {
        inputs: { repository: 'octo-org/gitops', files: 'apps/iris/values.yaml', image: IMAGE, tag: '7.0.0' },
        env: { GITHUB_TOKEN: 'ghs_wrong_token', GITHUB_SERVER_URL: server.url },
      });
      expect(res.code).toBe(1);
      expect(res.errors.join('\n')).toMatch(/Input 'token': expected a token that may read and push/);
      expect(res.errors.join('\n')).not.toContain('ghs_wrong_token');
    } finally {
      await server.stop();
    }
  });
});

describe('gitops-bump and a remote that refuses, hangs or has no default branch', () => {
  const hook = (origin: { bare: string }, name: string, body: string) => {
    writeFileSync(join(origin.bare, 'hooks', name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(origin.bare, 'hooks', name), 0o755);
  };

  it("keeps the remote's whole refusal (a protected-branch GH006 line)", async () => {
    const origin = makeOrigin(FILES);
    hook(
      origin,
      'pre-receive',
      "echo 'error: GH006: Protected branch update failed for refs/heads/main.' >&2\necho 'error: Changes must be made through a pull request.' >&2\nexit 1",
    );
    const res = await bump(origin, { files: 'apps/iris/values.yaml', tag: '2.0.0' });
    expect(res.code).toBe(1);
    const errors = res.errors.join('\n');
    expect(errors).toContain('GH006: Protected branch update failed for refs/heads/main.');
    expect(errors).toContain('Changes must be made through a pull request.');
    expect(commitCount(origin)).toBe(1);
  });

  it("bounds git by the timeout input and counts a push that landed while the remote's hook hung", async () => {
    const origin = makeOrigin(FILES);
    // The ref is updated before post-receive runs; the hook's child keeps git's pipes open too.
    hook(origin, 'post-receive', 'sleep 300 &\nsleep 300');
    const res = await bump(origin, { files: 'apps/iris/values.yaml', tag: '2.0.0', timeout: '4s' });
    expect(res.errors).toEqual([]);
    expect(res.outputs.changed).toBe('true');
    expect(head(origin)).toBe(res.outputs['commit-sha']);
  });

  it('fails a push the remote did not take before the timeout, naming the input', async () => {
    const origin = makeOrigin(FILES);
    hook(origin, 'pre-receive', 'sleep 300');
    const res = await bump(origin, { files: 'apps/iris/values.yaml', tag: '2.0.0', timeout: '4s' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/timed out after 4s \(input 'timeout'\)/);
    expect(commitCount(origin)).toBe(1);
  });

  it('stops a hanging push with its whole process group when the job is cancelled (SIGTERM)', async () => {
    const origin = makeOrigin(FILES);
    const marker = join(origin.root, 'hook-pid');
    // The hook runs in the push's process group (git push spawns receive-pack for a local remote).
    hook(origin, 'pre-receive', `echo $$ > '${marker}'\nsleep 300`);
    let pgid = 0;
    let poll: NodeJS.Timeout | undefined;
    const res = await runAction('gitops-bump', {
      inputs: {
        repository: origin.bare,
        files: 'apps/iris/values.yaml',
        image: IMAGE,
        tag: '2.0.0',
        timeout: '90s',
      },
      env: { GITHUB_TOKEN: 'ghs_secret_value_123' },
      onStdout: (_, child) => {
        poll ??= setInterval(() => {
          if (!existsSync(marker) || !readFileSync(marker, 'utf8').trim()) return;
          clearInterval(poll);
          const pid = readFileSync(marker, 'utf8').trim();
          pgid = Number(execFileSync('ps', ['-o', 'pgid=', '-p', pid], { encoding: 'utf8' }).trim());
          child.kill('SIGTERM');
        }, 100);
      },
    });
    clearInterval(poll);
    expect(pgid).toBeGreaterThan(1);
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/cancelled \(SIGTERM\): stopped 1 running git command/);
    // No process of the push's group survives the action (given a moment to be reaped).
    const alive = (): boolean => {
      try {
        process.kill(-pgid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 20 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(() => process.kill(-pgid, 0)).toThrow(/ESRCH/);
    expect(commitCount(origin)).toBe(1);
  });

  it("fails clearly on an origin whose HEAD is detached instead of pushing a branch named 'HEAD'", async () => {
    const origin = makeOrigin(FILES);
    // Detached at a commit no branch points at (git clone guesses a branch whose tip equals HEAD).
    const first = head(origin);
    commitDirect(origin, 'README.md', '# gitops, later\n', 'a later commit');
    git(origin.root, ['--git-dir', origin.bare, 'update-ref', '--no-deref', 'HEAD', first]);
    const res = await bump(origin, { files: 'apps/iris/values.yaml', tag: '2.0.0' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/Input 'branch'.*detached/);
    expect(git(origin.root, ['--git-dir', origin.bare, 'for-each-ref', '--format=%(refname)'])).toBe(
      'refs/heads/main',
    );
    expect(commitCount(origin)).toBe(2);
  });
});
