/**
 * ml-pipeline.yml as workflows-example/ml-pipeline.yml calls it, run by the real `act` on this
 * host with the example's local profile (vars.IMAGE on a local registry, wait-for-sync against a
 * local ArgoCD): a real `mlflow server`, the real model/train.py, the real buildah as the builder
 * (vars.BUILDER, no docker shim; its storage in a scratch directory through CONTAINERS_STORAGE_CONF
 * in act's environment, as a user's shell sets it; the plain-http loopback registry needs no
 * registries.conf, as for docker), Debian's docker-registry, a local bare GitOps origin
 * (MLOPS_GIT_REMOTE_URL) and the fake Kubernetes serving the ArgoCD Application, whose controller
 * the test plays. Trivy is the real one build-scan-push finds on PATH (.tools/bin, built by
 * scripts/setup), its vulnerability DB built by trivy-db and served from the same local registry
 * through TRIVY_DB_REPOSITORY, as a user with a mirror would.
 *
 * Three pushes, in order: a first model goes all the way (champion moves only once ArgoCD reports
 * Healthy); a worse model fails the gate and nothing is built or deployed; an equal model whose
 * rollout ArgoCD reports Degraded puts the environment alias back, with a `::warning::` that is
 * its own line of the log (curl's reply has no trailing newline); a fourth, Healthy in ArgoCD but
 * failing the post-sync check (smoke-test-url, a local server the test plays, given with a
 * user:token@ the messages must not show), fails the job and leaves champion where it was, while
 * the environment alias says what runs: the new version, which the deploy commit pins and ArgoCD
 * reported Healthy. The first run's check answers 503 once, then 200: it is retried.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callerRepo, commandArgs, outputsOf, PIPELINE_RUN, runAct, type ActRun } from './helpers/act.js';
import { argoStatus, FakeKubernetes } from './helpers/fake-k8s.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { git, head, makeOrigin, type Origin } from './helpers/gitops-repo.js';
import { startMlflow, PYTHON, type MlflowServer } from './helpers/mlflow-server.js';
import { freePort, waitForHttp } from './helpers/net.js';
import { ROOT } from './helpers/run-action.js';
import { buildTrivyDb, packTrivyDb, pushTrivyDb, realTrivyAvailable } from './helpers/trivy-db.js';

const available =
  spawnSync('buildah', ['--version']).status === 0 &&
  existsSync('/usr/bin/docker-registry') &&
  realTrivyAvailable();
if (!available) console.warn('buildah, docker-registry or trivy/trivy-db missing (scripts/setup): skipping');

const PUSH_EVENT = PIPELINE_RUN.eventFile;
const PUSH = JSON.parse(readFileSync(PUSH_EVENT, 'utf8')) as { after: string };
const OVERLAY = 'platform/iris-classifier/overlays/prod/kustomization.yaml';
const JOBS = {
  train: 'pipeline/ml-pipeline/Train and log',
  build: 'pipeline/ml-pipeline/Build, scan, push',
  deploy: 'pipeline/ml-pipeline/GitOps bump and promote',
  report: 'ml-pipeline/report',
};

let mlflow: MlflowServer;
let gh: FakeGitHub;
let k8s: FakeKubernetes;
let origin: Origin;
let registry: ChildProcess;
let registryUrl: string;
let image: string;
let dir: string;
let caller: string;
let actCache: string;
/** buildah's storage.conf: vfs under the test's directory, not the host's /var/lib/containers. */
let storageConf: string;

/** The deployed service as the post-sync check sees it: each answer, and ArgoCD's health when asked. */
interface SmokeRequest {
  status: number;
  health?: string;
}
const smoke: { server?: Server; url: string; answers: number[]; requests: SmokeRequest[] } = {
  url: '',
  answers: [],
  requests: [],
};
/** Answers the queued statuses in turn, the last one from then on. */
function startSmoke(): Promise<void> {
  smoke.server = createServer((req, res) => {
    const status = (smoke.answers.length > 1 ? smoke.answers.shift() : smoke.answers[0]) ?? 500;
    const health = k8s.get('argocd', 'iris-classifier')?.status as { health?: { status?: string } };
    smoke.requests.push({ status, health: health?.health?.status });
    res.writeHead(status).end(req.url);
  });
  return new Promise((resolve) =>
    smoke.server!.listen(0, '127.0.0.1', () => {
      smoke.url = `http://127.0.0.1:${(smoke.server!.address() as AddressInfo).port}/readyz`;
      resolve();
    }),
  );
}

beforeAll(async () => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), 'act-pipeline-'));
  gh = new FakeGitHub({ repos: ['example-org/iris-classifier'] });
  k8s = new FakeKubernetes();
  const port = await freePort();
  writeFileSync(
    join(dir, 'registry.yml'),
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'registry')}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  registry = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'registry.yml')], { stdio: 'ignore' });
  registryUrl = `http://127.0.0.1:${port}`;
  image = `localhost:${port}/example-org/iris-classifier`;
  [mlflow] = await Promise.all([
    startMlflow(),
    gh.start(),
    k8s.start(),
    waitForHttp(`${registryUrl}/v2/`, 20_000),
    startSmoke(),
  ]);
  origin = makeOrigin({ [OVERLAY]: `images:\n  - name: ${image}\n    newTag: v0.0.0\n` });
  writeFileSync(join(dir, 'kubeconfig'), k8s.kubeconfig());
  k8s.put(
    'argocd',
    'iris-classifier',
    argoStatus({ sync: 'Synced', revision: head(origin), health: 'Healthy', phase: 'Succeeded' }),
  );
  caller = callerRepo({
    '.github/workflows/ml-pipeline.yml': readFileSync(
      join(ROOT, 'workflows-example', 'ml-pipeline.yml'),
      'utf8',
    ),
    'model/train.py': readFileSync(join(ROOT, 'model', 'train.py'), 'utf8'),
    // The real Dockerfile's model part: the registered version download-model put into the context.
    'model/Dockerfile': [
      'FROM scratch',
      'ARG PYTHON_VERSION MODEL_NAME MODEL_VERSION MLFLOW_RUN_ID MODEL_DIGEST',
      'LABEL io.mlflow.model-name="${MODEL_NAME}" io.mlflow.model-digest="${MODEL_DIGEST}" org.example.python="${PYTHON_VERSION}"',
      'COPY train.py /app/train.py',
      'COPY registered-model/ /app/model/',
      '',
    ].join('\n'),
    '.python-version': readFileSync(join(ROOT, '.python-version'), 'utf8'),
    'requirements.txt': 'scikit-learn==1.9.1\nmlflow==3.17.2\n',
  });
  actCache = join(dir, 'act-cache');
  storageConf = join(dir, 'storage.conf');
  writeFileSync(
    storageConf,
    `[storage]\ndriver = "vfs"\ngraphroot = "${join(dir, 'buildah', 'graph')}"\nrunroot = "${join(dir, 'buildah', 'run')}"\n`,
  );
  await pushTrivyDb(registryUrl, 'mirror/trivy-db', packTrivyDb(buildTrivyDb(join(dir, 'db')), dir));
}, 120_000);

afterAll(async () => {
  registry?.kill();
  smoke.server?.close();
  await Promise.all([mlflow?.stop(), gh?.stop(), k8s?.stop()]);
});

const alias = async (name: string): Promise<string | undefined> => {
  const res = await fetch(
    `${mlflow.url}/api/2.0/mlflow/registered-models/alias?name=iris&alias=${encodeURIComponent(name)}`,
  );
  return res.ok
    ? ((await res.json()) as { model_version: { version: string } }).model_version.version
    : undefined;
};

/** What the aliases were while ArgoCD was still rolling out the new revision. */
interface Seen {
  revision?: string;
  championWhileProgressing?: string;
  prodWhileProgressing?: string;
}

/** Plays ArgoCD: on the refresh request, OutOfSync and a running sync, then `final` on the origin's tip. */
function controller(final: 'Healthy' | 'Degraded'): Seen {
  const seen: Seen = {};
  k8s.onPatch = (app, patch) => {
    const annotations = (patch as { metadata?: { annotations?: Record<string, string> } }).metadata
      ?.annotations;
    if (annotations?.['argocd.argoproj.io/refresh'] !== 'normal') return;
    const revision = head(origin);
    seen.revision = revision;
    const { namespace, name } = app.metadata;
    setTimeout(() => {
      k8s.update(namespace, name, (a) => {
        delete a.metadata.annotations?.['argocd.argoproj.io/refresh'];
        a.status = argoStatus({
          sync: 'OutOfSync',
          revision,
          health: 'Progressing',
          phase: 'Running',
          message: 'waiting for healthy state of apps/Deployment/iris-classifier',
        });
      });
      void (async () => {
        seen.championWhileProgressing = await alias('champion');
        seen.prodWhileProgressing = await alias('prod');
        k8s.update(namespace, name, (a) => {
          a.status =
            final === 'Healthy'
              ? argoStatus({ sync: 'Synced', revision, health: 'Healthy', phase: 'Succeeded' })
              : argoStatus({
                  sync: 'Synced',
                  revision,
                  health: 'Degraded',
                  healthMessage: 'Deployment "iris-classifier" exceeded its progress deadline',
                  phase: 'Succeeded',
                });
        });
      })();
    }, 300);
  };
  return seen;
}

/** One run; `answers` are the post-sync check's statuses (see startSmoke). */
function pipeline(answers: number[], vars: Record<string, string> = {}): Promise<ActRun> {
  smoke.answers = answers;
  smoke.requests = [];
  // Typed by PIPELINE_RUN's names: the README's ml-pipeline line gives exactly these.
  const given: Record<(typeof PIPELINE_RUN.vars)[number], string> = {
    MLFLOW_TRACKING_URI: mlflow.url,
    IMAGE: image,
    WAIT_FOR_SYNC: 'true',
    SMOKE_TEST_URL: smoke.url,
    BUILDER: 'buildah',
  };
  const secrets: Record<(typeof PIPELINE_RUN.secrets)[number], string> = {
    GITHUB_TOKEN: 'ghs_test_token',
    KUBECONFIG: join(dir, 'kubeconfig'),
  };
  const userEnv: Record<(typeof PIPELINE_RUN.env)[number], string> = { ACT_PYTHON: PYTHON };
  return runAct({
    event: PIPELINE_RUN.event,
    workflow: PIPELINE_RUN.workflow,
    eventFile: PIPELINE_RUN.eventFile,
    workdir: caller,
    secrets,
    vars: { ...given, ...vars },
    env: {
      ...userEnv,
      GITHUB_API_URL: gh.url,
      MLOPS_GIT_REMOTE_URL: `file://${origin.bare}`,
      ACT_SARIF_DIR: join(dir, 'sarif'),
      TRIVY_CACHE_DIR: join(dir, 'trivy-cache'),
      TRIVY_DB_REPOSITORY: `${image.split('/')[0]}/mirror/trivy-db`,
    },
    hostEnv: { CONTAINERS_STORAGE_CONF: storageConf },
    actionCachePath: actCache,
    verbose: true,
    timeoutMs: 110_000,
  });
}

const registryJson = async (
  path: string,
  accept?: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; digest?: string; body: any }> => {
  const res = await fetch(`${registryUrl}/v2/${path}`, accept ? { headers: { accept } } : {});
  return {
    status: res.status,
    digest: res.headers.get('docker-content-digest') ?? undefined,
    body: await res.json(),
  };
};
const MANIFEST =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

/** The default of train.py's --label-noise: raising it commits a deliberately worse model. */
const LABEL_NOISE_DEFAULT = '"--label-noise",\n        type=float,\n        default=0.0,';

function commitTrainPy(change: (text: string) => string): void {
  const path = join(caller, 'model', 'train.py');
  const text = readFileSync(path, 'utf8');
  const changed = change(text);
  expect(changed).not.toBe(text);
  writeFileSync(path, changed);
  git(caller, ['commit', '-qam', 'model: change the label noise']);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function mlflowGet(path: string): Promise<any> {
  const res = await fetch(`${mlflow.url}/api/2.0/mlflow/${path}`);
  expect(res.status).toBe(200);
  return res.json();
}

/** The outputs one step set: outputsOf merges a job's steps, and the deploy job's promote steps share output names. */
const CHAMPION_STEP = 'Move the champion alias to the deployed version';
const stepOutputs = (run: ActRun, job: string, step: string): Record<string, string> =>
  Object.fromEntries(
    run.commands
      .filter((c) => c.command === 'set-output' && c.job?.trim() === job && c.step?.trim() === step)
      .map((c) => [c.name ?? '', c.arg ?? '']),
  );

function report(run: ActRun): string {
  return `${run.output.slice(-6000)}\n${run.other.slice(-2000)}`;
}

(available ? describe : describe.skip)('ml-pipeline.yml under act, local profile', () => {
  let first: { digest: string; runId: string; tags: string[] };

  it('trains, registers, builds, pushes, bumps GitOps to the digest, and moves champion only after Healthy', async () => {
    const seen = controller('Healthy');
    const run = await pipeline([503, 200]);
    if (run.code !== 0) console.error(report(run));
    expect(run.unsupported).toEqual([]);
    expect(run.jobs).toEqual({
      [JOBS.train]: 'success',
      [JOBS.build]: 'success',
      [JOBS.deploy]: 'success',
      [JOBS.report]: 'success',
    });
    expect(run.code).toBe(0);

    // MLflow: the run finished with the metrics train.py logged, and version 1 is that run's.
    const train = outputsOf(run, JOBS.train);
    expect(train).toMatchObject({ 'model-version': '1', 'gate-passed': 'true' });
    const runId = train['run-id']!;
    const mlRun = await mlflowGet(`runs/get?run_id=${runId}`);
    expect(mlRun.run.info.status).toBe('FINISHED');
    expect(mlRun.run.data.metrics.map((m: { key: string }) => m.key)).toContain('accuracy');
    const version = await mlflowGet('model-versions/get?name=iris&version=1');
    expect(version.model_version.run_id).toBe(runId);

    // buildah built it (vars.BUILDER through ml-pipeline.yml's builder input), into the test's store.
    expect(run.output).toMatch(/builder buildah/);
    expect(existsSync(join(dir, 'buildah', 'graph', 'vfs'))).toBe(true);

    // The registry: the image under its tags, labelled with the run, the version and the commit.
    const build = outputsOf(run, JOBS.build);
    const digest = build.digest!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(build['image-ref']).toBe(`${image}@${digest}`);
    const repoPath = 'example-org/iris-classifier';
    const tagged = await registryJson(`${repoPath}/manifests/model-1`, MANIFEST);
    expect(tagged.status).toBe(200);
    expect(tagged.digest).toBe(digest);
    const config = await registryJson(`${repoPath}/blobs/${tagged.body.config.digest}`);
    // The image carries registered version 1 itself: its digest as download-model computed it.
    const model = stepOutputs(run, JOBS.build, 'Download the registered model into the build context');
    expect(model.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(config.body.config.Labels).toMatchObject({
      'io.mlflow.model-name': 'iris',
      'io.mlflow.model-digest': model.digest,
      'org.example.python': readFileSync(join(ROOT, '.python-version'), 'utf8').trim(),
      'io.mlflow.run-id': runId,
      'io.mlflow.model-version': '1',
      // github.sha of a push is the event's `after`.
      'org.opencontainers.image.revision': PUSH.after,
    });
    const tags = (await registryJson(`${repoPath}/tags/list`)).body.tags as string[];
    expect(tags).toEqual(expect.arrayContaining(['model-1', 'main']));
    // The scan's SARIF went to the upload-sarif stand-in.
    expect(JSON.parse(readFileSync(join(dir, 'sarif', 'build-scan-push.sarif'), 'utf8')).version).toBe(
      '2.1.0',
    );

    // GitOps: one commit on the origin, pinning the pushed digest, the one ArgoCD was asked to sync.
    const deploy = outputsOf(run, JOBS.deploy);
    expect(deploy['commit-sha']).toBe(head(origin));
    expect(seen.revision).toBe(head(origin));
    expect(git(origin.root, ['--git-dir', origin.bare, 'log', '-1', '--format=%s', 'main'])).toMatch(
      /^deploy\(prod\): iris v1 as /,
    );
    // The trailers rollback.yml and deployed.yml read back: the commit says what it deploys.
    const trailers = git(origin.root, [
      '--git-dir',
      origin.bare,
      'log',
      '-1',
      '--format=%(trailers:only,unfold)',
      'main',
    ]);
    expect(trailers.split('\n')).toEqual([
      'Model: iris',
      'Model-Version: 1',
      `Image: ${image}@${digest}`,
      'Environment: prod',
      `Run-Id: ${runId}`,
      // ml-pipeline moves champion for this commit: deployed.yml in a GitOps repository skips it.
      'Promoted-By: ml-pipeline',
    ]);
    const overlay = git(origin.root, ['--git-dir', origin.bare, 'show', `main:${OVERLAY}`]);
    expect(overlay).toContain(`digest: ${digest}`);
    expect(overlay).toContain(`name: ${image}`);

    // The pods' alias moved before the rollout; champion only once ArgoCD said Healthy.
    expect(seen.prodWhileProgressing).toBe('1');
    expect(seen.championWhileProgressing).toBeUndefined();
    expect(await alias('champion')).toBe('1');
    expect(stepOutputs(run, JOBS.deploy, CHAMPION_STEP).version).toBe('1');
    // The post-sync check asked only once ArgoCD said Healthy, retried the 503, and passed on the 200.
    expect(smoke.requests).toEqual([
      { status: 503, health: 'Healthy' },
      { status: 200, health: 'Healthy' },
    ]);
    first = { digest, runId, tags };
  }, 120_000);

  it('a worse model fails the gate: nothing is built, pushed, committed or promoted', async () => {
    expect(first).toBeDefined();
    commitTrainPy((text) => text.replace(LABEL_NOISE_DEFAULT, LABEL_NOISE_DEFAULT.replace('0.0', '0.6')));
    const before = { head: head(origin), patches: k8s.requests.filter((r) => r.method === 'PATCH').length };
    controller('Healthy');
    const run = await pipeline([200]);
    if (run.code !== 0) console.error(report(run));
    expect(run.unsupported).toEqual([]);
    expect(run.jobs).toEqual({
      [JOBS.train]: 'success',
      [JOBS.build]: 'skipped',
      [JOBS.deploy]: 'skipped',
      [JOBS.report]: 'success',
    });
    expect(run.code).toBe(0);
    expect(outputsOf(run, JOBS.train)).toMatchObject({ 'gate-passed': 'false', 'model-version': '2' });
    expect(outputsOf(run, JOBS.build)).toEqual({});
    expect((await registryJson('example-org/iris-classifier/tags/list')).body.tags).toEqual(first.tags);
    expect(head(origin)).toBe(before.head);
    expect(k8s.requests.filter((r) => r.method === 'PATCH')).toHaveLength(before.patches);
    expect(await alias('champion')).toBe('1');
    expect(await alias('prod')).toBe('1');
  }, 120_000);

  it('a rollout ArgoCD reports Degraded puts the prod alias back, with a warning on its own line', async () => {
    expect(first).toBeDefined();
    commitTrainPy((text) => text.replace(LABEL_NOISE_DEFAULT.replace('0.0', '0.6'), LABEL_NOISE_DEFAULT));
    const seen = controller('Degraded');
    const run = await pipeline([200]);
    expect(run.unsupported).toEqual([]);
    expect(run.jobs).toEqual({
      [JOBS.train]: 'success',
      [JOBS.build]: 'success',
      [JOBS.deploy]: 'failure',
      // act 0.2.89 runs no later job after a failed one, `if: always()` or not (GitHub would run it).
    });
    expect(run.code).toBe(1);
    // The equal model passed the gate (a tie passes) and went out as version 3.
    expect(outputsOf(run, JOBS.train)).toMatchObject({ 'gate-passed': 'true', 'model-version': '3' });
    expect(seen.prodWhileProgressing).toBe('3');
    expect(seen.championWhileProgressing).toBe('1');
    // The restore step's annotation is a workflow command act (and the runner) recognizes.
    expect(commandArgs(run, 'warning')).toContain('rollout failed: iris@prod is back at 1');
    expect(run.output).not.toMatch(/.::warning::rollout failed/);
    expect(await alias('prod')).toBe('1');
    expect(await alias('champion')).toBe('1');
    expect(stepOutputs(run, JOBS.deploy, CHAMPION_STEP)).toEqual({});
    // ArgoCD failed the rollout first: the post-sync check never ran.
    expect(smoke.requests).toEqual([]);
  }, 120_000);

  it('a Healthy rollout whose post-sync check keeps failing fails the job: prod says the new version, champion stays', async () => {
    expect(first).toBeDefined();
    const seen = controller('Healthy');
    const withToken = smoke.url.replace('http://', 'http://smoke:s3cr3t-token@');
    const run = await pipeline([500], { SMOKE_TEST_URL: withToken, SMOKE_TEST_TIMEOUT: '4s' });
    expect(run.unsupported).toEqual([]);
    expect(run.jobs).toEqual({
      [JOBS.train]: 'success',
      [JOBS.build]: 'success',
      [JOBS.deploy]: 'failure',
    });
    expect(run.code).toBe(1);
    // The same model again (a tie passes), deployed and Healthy, but the service answers 500.
    expect(outputsOf(run, JOBS.train)).toMatchObject({ 'gate-passed': 'true', 'model-version': '4' });
    expect(seen.revision).toBe(head(origin));
    expect(smoke.requests.length).toBeGreaterThan(1);
    expect(smoke.requests.every((r) => r.status === 500 && r.health === 'Healthy')).toBe(true);
    // The error says what runs and how to undo it; the URL is shown without its user:token@.
    expect(commandArgs(run, 'error')).toContain(
      `post-sync check failed: ${smoke.url} did not answer 2xx within 4s (last HTTP status 500, curl exit 22). ` +
        `iris v4 is live in prod: ArgoCD reports ${head(origin).slice(0, 12)} Synced and Healthy, and iris@prod says v4; ` +
        'iris@champion does not move. To roll back, run rollback.yml (gitops-bump mode: rollback), which opens a pull request putting back the previous deploy.',
    );
    expect(run.commands.filter((c) => (c.arg ?? '').includes('s3cr3t-token'))).toEqual([]);
    expect(await alias('champion')).toBe('1');
    expect(stepOutputs(run, JOBS.deploy, CHAMPION_STEP)).toEqual({});
    // The deploy commit stays and ArgoCD runs it: the environment alias is not put back.
    expect(await alias('prod')).toBe('4');
    expect(commandArgs(run, 'warning').filter((w) => w.startsWith('rollout failed'))).toEqual([]);
  }, 120_000);
});
