/**
 * The serving image as ml-pipeline.yml's build job makes it: download-model puts a version
 * registered on a real MLflow into model/'s build context, and build-scan-push builds the real
 * model/Dockerfile (docker buildx played by real buildah), scans and pushes it to a real registry.
 * The pushed image carries the model's files at /app/model, byte for byte, with labels and
 * environment naming its name, version, run id and digest, and the digest is the files' own; the
 * archive handed to the scanner holds the same layers, model included.
 *
 * No Python base image can be pulled here (no Docker Hub), so PYTHON_IMAGE is a stand-in built
 * from scratch whose /bin/sh is a static binary that does nothing: the Dockerfile's RUN steps
 * (pip, the version and digest checks) are no-ops, while its FROM, COPY, LABEL and ENV, which
 * are what put the model into the image, run as written. The checks themselves are tested where
 * they run: python-version.test.ts and model/tests/test_baked_model.py.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { FAKE_TOOLS_DIR, fakeEnv } from './helpers/fake-tools/index.js';
import { PYTHON, startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { freePort, waitForHttp } from './helpers/net.js';
import { ROOT, runAction } from './helpers/run-action.js';

const available = spawnSync('buildah', ['--version']).status === 0 && existsSync('/usr/bin/docker-registry');
if (!available) console.warn('buildah or docker-registry missing (scripts/setup installs them): skipping');

const MODEL = 'iris-image';
const STUB = 'localhost/python-stand-in:3';
let mlflow: MlflowServer;
let registry: ChildProcess;
let registryUrl: string;
let host: string;
let dir: string;

function registerModel(url: string): void {
  const script = `
import sys, mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri(sys.argv[1])
iris = load_iris(as_frame=True)
with mlflow.start_run():
    mlflow.sklearn.log_model(LogisticRegression(max_iter=500).fit(iris.data, iris.target), name="model",
                             registered_model_name=sys.argv[2], pip_requirements=["scikit-learn"])`;
  execFileSync(PYTHON, ['-c', script, url, MODEL], {
    env: { ...process.env, PYTHONWARNINGS: 'ignore' },
    stdio: 'pipe',
  });
}

/** The stand-in base: /bin/sh exits 0 for any script, and /opt/venv exists for the builder's COPY. */
function buildStandIn(buildahDir: string): void {
  const src = join(dir, 'stand-in');
  mkdirSync(join(src, 'opt', 'venv'), { recursive: true });
  writeFileSync(join(src, 'opt', 'venv', '.keep'), '');
  // The host's /bin/true with the libraries it links (from ldd): nothing is compiled at test time.
  copyFileSync('/bin/true', join(src, 'sh'));
  const libs = execFileSync('ldd', ['/bin/true'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((l): l is string => !!l);
  for (const lib of libs) {
    mkdirSync(join(src, 'rootfs', dirname(lib)), { recursive: true });
    copyFileSync(lib, join(src, 'rootfs', lib));
  }
  writeFileSync(
    join(src, 'Containerfile'),
    'FROM scratch\nCOPY rootfs/ /\nCOPY sh /bin/sh\nCOPY opt/ /opt/\n',
  );
  const storage = ['--root', join(buildahDir, 'root'), '--runroot', join(buildahDir, 'runroot')];
  execFileSync(
    'buildah',
    [
      ...storage,
      '--storage-driver',
      'vfs',
      'build',
      '--isolation',
      'chroot',
      '-t',
      STUB,
      '-f',
      'Containerfile',
      '.',
    ],
    { cwd: src, stdio: 'pipe' },
  );
}

beforeAll(async () => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), 'serving-image-'));
  const port = await freePort();
  host = `localhost:${port}`;
  registryUrl = `http://127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'registry.yml'),
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  registry = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'registry.yml')], { stdio: 'ignore' });
  [mlflow] = await Promise.all([startMlflow(), waitForHttp(`${registryUrl}/v2/`, 20_000)]);
  registerModel(mlflow.url);
}, 180_000);

afterAll(async () => {
  registry?.kill();
  await mlflow?.stop();
});

const MANIFEST =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

interface Manifest {
  config: { digest: string };
  layers: { digest: string }[];
}

async function blob(repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${registryUrl}/v2/${repo}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** The image's file system: every layer unpacked in order (no whiteouts in these builds). */
async function unpack(repo: string, manifest: Manifest, into: string): Promise<void> {
  mkdirSync(into, { recursive: true });
  for (const layer of manifest.layers) {
    const file = join(dir, layer.digest.replace(':', '-'));
    writeFileSync(file, await blob(repo, layer.digest));
    execFileSync('tar', ['-xf', file, '-C', into]);
  }
}

function files(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[relative(root, full)] = readFileSync(full).toString('base64');
    }
  };
  walk(root);
  return out;
}

(available ? describe : describe.skip)('the serving image, built with the registered model in it', () => {
  it('carries the downloaded version at /app/model, labelled and configured with its digest', async () => {
    const f = fakeEnv();
    const buildahDir = join(f.dir, 'buildah');
    buildStandIn(buildahDir);
    // The build context as the pipeline's checkout has it: model/ of this repository.
    for (const name of ['Dockerfile', '.dockerignore', 'requirements-serve.txt', 'serve.py', 'iris_server']) {
      cpSync(join(ROOT, 'model', name), join(f.workspace, 'model', name), {
        recursive: true,
        filter: (p) => !p.includes('__pycache__'),
      });
    }
    const download = await runAction('download-model', {
      inputs: {
        'tracking-uri': mlflow.url,
        'registered-model': MODEL,
        version: '1',
        path: 'model/registered-model',
      },
      cwd: f.workspace,
      timeoutMs: 60_000,
    });
    expect(download.errors).toEqual([]);
    const { digest: modelDigest, 'run-id': runId } = download.outputs;
    expect(runId).toBe((await new MlflowRest(mlflow.url).version(MODEL, '1')).run_id);

    const kept = join(f.dir, 'scanned');
    mkdirSync(kept);
    const clean = join(f.dir, 'clean.json');
    writeFileSync(clean, JSON.stringify({ SchemaVersion: 2, ArtifactType: 'container_image', Results: [] }));
    const pythonVersion = readFileSync(join(ROOT, '.python-version'), 'utf8').trim();
    const build = await runAction('build-scan-push', {
      inputs: {
        context: 'model',
        image: `${host}/octo-org/iris-classifier`,
        'registry-username': 'robot',
        'registry-password': 'pw',
        'build-args': [
          `PYTHON_IMAGE=${STUB}`,
          `PYTHON_VERSION=${pythonVersion}`,
          download.outputs['build-args'],
        ].join('\n'),
        'mlflow-run-id': runId,
        'model-version': '1',
      },
      env: {
        ...f.env,
        PATH: `${join(FAKE_TOOLS_DIR, 'buildah')}:${f.env.PATH}`,
        BUILDAH_SHIM_DIR: buildahDir,
        FAKE_TRIVY_KEEP_INPUT: kept,
        FAKE_TRIVY_REPORT: clean,
      },
      cwd: f.workspace,
      timeoutMs: 150_000,
    });
    expect(build.errors).toEqual([]);
    expect(build.code).toBe(0);

    const repo = 'octo-org/iris-classifier';
    const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${build.outputs.digest}`, {
      headers: { accept: MANIFEST },
    });
    expect(res.status).toBe(200);
    const manifest = (await res.json()) as Manifest;
    const config = JSON.parse((await blob(repo, manifest.config.digest)).toString('utf8')) as {
      config: { Labels: Record<string, string>; Env: string[] };
    };
    expect(config.config.Labels).toMatchObject({
      'io.mlflow.model-name': MODEL,
      'io.mlflow.model-version': '1',
      'io.mlflow.run-id': runId,
      'io.mlflow.model-digest': modelDigest,
    });
    expect(config.config.Env).toEqual(
      expect.arrayContaining([
        'MODEL_URI=/app/model',
        `MODEL_NAME=${MODEL}`,
        'MODEL_VERSION=1',
        `MODEL_RUN_ID=${runId}`,
        `MODEL_DIGEST=${modelDigest}`,
      ]),
    );
    expect(config.config.Env.some((e) => e.startsWith('MLFLOW_RUN_ID='))).toBe(false);

    // The files in the image are the downloaded ones, and they hash to the label.
    const rootfs = join(f.dir, 'rootfs');
    await unpack(repo, manifest, rootfs);
    const baked = join(rootfs, 'app', 'model');
    expect(files(baked)).toEqual(files(join(f.workspace, 'model', 'registered-model')));
    expect(files(baked)).toHaveProperty('MLmodel');
    const recomputed = execFileSync(PYTHON, ['-m', 'iris_server.digest', baked], {
      cwd: join(ROOT, 'model'),
      encoding: 'utf8',
    }).trim();
    expect(recomputed).toBe(modelDigest);
    // Only what the Dockerfile copies: the server's code beside the model, no tests or training.
    expect(readdirSync(join(rootfs, 'app')).sort()).toEqual(['iris_server', 'model', 'serve.py']);

    // What the scanner got is this image, model layer included.
    const [layout] = readdirSync(kept);
    const read = (path: string): string => readFileSync(join(kept, layout!, path), 'utf8');
    const index = JSON.parse(read('index.json')) as { manifests: { digest: string }[] };
    const scanned = JSON.parse(read(`blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)) as Manifest;
    expect(scanned.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest));
    f.cleanup();
  }, 240_000);
});
