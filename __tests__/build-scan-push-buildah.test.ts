/**
 * build-scan-push with `builder: buildah` (and `auto` where no docker buildx answers): the bundle
 * drives the real buildah, which builds, exports the OCI layout that is scanned and pushes to a
 * real registry (Debian's docker-registry on loopback, plain http). buildah's storage, isolation
 * and auth file are set the way a user sets them, through buildah's own environment variables; the
 * action passes none, and reaches the loopback registry as docker does, over http with no
 * registries.conf (login and push). Trivy stays the recorded report here (the real
 * one is in build-scan-push-trivy.test.ts). Proves that the digest output is the
 * registry's, that the labels are in the pushed image, that what was scanned is what was pushed,
 * and that a failed gate leaves the registry untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from './helpers/net.js';
import { runAction } from './helpers/run-action.js';
import { FAKE_TOOLS_DIR, fakeEnv, type FakeEnv } from './helpers/fake-tools/index.js';

const available = spawnSync('buildah', ['--version']).status === 0 && existsSync('/usr/bin/docker-registry');
if (!available) console.warn('buildah or docker-registry missing (scripts/setup installs them): skipping');

const SHA = '0123456789abcdef0123456789abcdef01234567';
let registry: ChildProcess;
let registryUrl: string;
let host: string;
let dir: string;

beforeAll(async () => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), 'bsp-registry-'));
  const port = await freePort();
  host = `localhost:${port}`;
  registryUrl = `http://127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  registry = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  await waitForHttp(`${registryUrl}/v2/`, 20_000);
});

afterAll(() => {
  registry?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ACCEPT =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

async function manifest(
  repo: string,
  ref: string,
): Promise<{ digest: string; body: { config: { digest: string }; layers: { digest: string }[] } }> {
  const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } });
  expect(res.status).toBe(200);
  return { digest: res.headers.get('docker-content-digest')!, body: (await res.json()) as never };
}

/**
 * buildah configured as a user without root or overlay would: vfs, chroot, a private store and auth
 * file; an empty registries.conf, so nothing marks the loopback registry insecure.
 */
function buildahEnv(root: string): Record<string, string> {
  mkdirSync(root, { recursive: true });
  const storage = join(root, 'storage.conf');
  writeFileSync(
    storage,
    `[storage]\ndriver = "vfs"\ngraphroot = "${join(root, 'graph')}"\nrunroot = "${join(root, 'run')}"\n`,
  );
  const registries = join(root, 'registries.conf');
  writeFileSync(registries, '');
  const auth = join(root, 'auth.json');
  writeFileSync(auth, '{"auths":{}}\n');
  return {
    STORAGE_DRIVER: 'vfs',
    BUILDAH_ISOLATION: 'chroot',
    CONTAINERS_STORAGE_CONF: storage,
    CONTAINERS_REGISTRIES_CONF: registries,
    REGISTRY_AUTH_FILE: auth,
  };
}

function setup(): FakeEnv & { context: string; kept: string; auth: string; env: Record<string, string> } {
  const f = fakeEnv();
  // Only the fake trivy ahead of the system PATH: no fake docker, so `auto` must find buildah.
  const tools = join(f.dir, 'trivy-only');
  mkdirSync(tools);
  symlinkSync(join(FAKE_TOOLS_DIR, 'trivy'), join(tools, 'trivy'));
  const buildah = buildahEnv(join(f.dir, 'buildah'));
  const context = join(f.workspace, 'serving');
  mkdirSync(context);
  writeFileSync(
    join(context, 'Dockerfile'),
    'FROM scratch\nARG MODEL_VERSION\nCOPY model.txt /model/\nLABEL org.example.from-dockerfile=yes\n',
  );
  writeFileSync(join(context, 'model.txt'), 'iris model weights\n');
  const kept = join(f.dir, 'scanned');
  mkdirSync(kept);
  return {
    ...f,
    context,
    kept,
    auth: buildah.REGISTRY_AUTH_FILE!,
    env: {
      ...f.env,
      ...buildah,
      PATH: `${tools}:${process.env.PATH}`,
      FAKE_TRIVY_KEEP_INPUT: kept,
    },
  };
}

(available ? describe : describe.skip)('build-scan-push with buildah and a real registry', () => {
  it('pushes after a passing scan: digest, tags and labels as the registry has them; scanned == pushed', async () => {
    const f = setup();
    try {
      const res = await runAction('build-scan-push', {
        inputs: {
          builder: 'buildah',
          context: 'serving',
          image: `${host}/octo-org/iris`,
          'mlflow-run-id': 'a1b2c3',
          'model-version': '5',
          // docker-registry without auth accepts any login; the login must reach it over http.
          'registry-username': 'octo',
          'registry-password': 'not-checked-here',
        },
        env: f.env,
        cwd: f.workspace,
        timeoutMs: 100_000,
      });
      expect(res.errors).toEqual([]);
      expect(res.code).toBe(0);
      // buildah 1.28's `login` ignores registries.conf's insecure flag: the action's own
      // --tls-verify=false for a loopback registry is what lets it in. Logged out at the end.
      expect(res.stdout).toContain('Login Succeeded');
      const auths = (JSON.parse(readFileSync(f.auth, 'utf8')) as { auths: Record<string, unknown> }).auths;
      expect(Object.keys(auths)).not.toContain(host);
      expect(res.stdout).toMatch(/builder buildah/);

      const digest = res.outputs.digest!;
      expect(res.outputs['image-ref']).toBe(`${host}/octo-org/iris@${digest}`);
      for (const tag of ['main', 'sha-0123456']) {
        expect((await manifest('octo-org/iris', tag)).digest).toBe(digest);
      }
      const pushed = await manifest('octo-org/iris', digest);
      // build-push-action's imageid and metadata: the config the registry holds, buildx's JSON.
      expect(res.outputs.imageid).toBe(pushed.body.config.digest);
      expect(JSON.parse(res.outputs.metadata!)).toMatchObject({ 'containerimage.digest': digest });
      const config = (await (
        await fetch(`${registryUrl}/v2/octo-org/iris/blobs/${pushed.body.config.digest}`)
      ).json()) as {
        config: { Labels: Record<string, string> };
      };
      expect(config.config.Labels).toMatchObject({
        'org.opencontainers.image.revision': SHA,
        'org.opencontainers.image.source': 'https://github.com/octo-org/iris',
        'org.opencontainers.image.version': 'main',
        'io.mlflow.run-id': 'a1b2c3',
        'io.mlflow.model-version': '5',
        'org.example.from-dockerfile': 'yes',
      });

      // The OCI layout Trivy scanned holds the same config and layers as the pushed image.
      const [layout] = readdirSync(f.kept);
      const read = (path: string) => readFileSync(join(f.kept, layout!, path), 'utf8');
      const index = JSON.parse(read('index.json')) as { manifests: { digest: string }[] };
      const scanned = JSON.parse(
        read(`blobs/sha256/${index.manifests[0]!.digest.slice(7)}`),
      ) as typeof pushed.body;
      expect(scanned.config.digest).toBe(pushed.body.config.digest);
      expect(scanned.layers.map((l) => l.digest)).toEqual(pushed.body.layers.map((l) => l.digest));
    } finally {
      f.cleanup();
    }
  });

  it('auto without docker buildx builds with buildah; a failed gate leaves the registry without the image', async () => {
    const f = setup();
    try {
      const res = await runAction('build-scan-push', {
        inputs: { context: 'serving', image: `${host}/octo-org/blocked`, severity: 'MEDIUM' },
        env: f.env,
        cwd: f.workspace,
        timeoutMs: 100_000,
      });
      expect(res.errors).toEqual([expect.stringMatching(/^Scan gate failed: 4 vulnerabilities at MEDIUM/)]);
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/builder buildah/);
      expect(readdirSync(f.kept)).toHaveLength(1);
      const tags = await fetch(`${registryUrl}/v2/octo-org/blocked/tags/list`);
      expect(tags.status).toBe(404);
      expect(((await tags.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('NAME_UNKNOWN');
    } finally {
      f.cleanup();
    }
  });
});
