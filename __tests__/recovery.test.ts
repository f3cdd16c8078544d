/**
 * platform/README.md's recovery procedures, run as written. "MLflow data lost" runs for real: MLflow on a
 * throwaway PostgreSQL, backed up, its database dropped and artifacts wiped, then the README's lines
 * (after its `export`, whose cluster values are checked against the manifests instead) restore it
 * and a new server answers with everything as before. The cluster procedures run their lines with
 * recording fakes of `k3d` and `kubectl` (a real `kubectl kustomize`, a real bootstrap.sh): the
 * test checks what each line would do against the manifests and names every step that needs a
 * real cluster, which cannot run here.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from './helpers/run-action.js';
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { PG_BIN, startPostgres, type Postgres } from './helpers/postgres.js';
import { SCRIPT, dr, seed, snapshot, type Snapshot } from './helpers/mlflow-dr.js';

const README = readFileSync(join(ROOT, 'platform', 'README.md'), 'utf8');

/** The lines of the first ```bash block after `### <heading>` in platform/README.md's Recovery section. */
function block(heading: string): string[] {
  const recovery = README.slice(README.indexOf('## Recovery'));
  const at = recovery.indexOf(`### ${heading}\n`);
  if (at < 0) throw new Error(`platform/README.md has no "### ${heading}" under "## Recovery"`);
  const m = /```bash\n([\s\S]*?)```/.exec(recovery.slice(at));
  return m![1]!.trimEnd().split('\n');
}

/* eslint-disable @typescript-eslint/no-explicit-any -- walking kustomize output as plain YAML */
const controlPlane = (): Record<string, any>[] => {
  const r = spawnSync('kubectl', ['kustomize', join(ROOT, 'platform', 'control-plane')], {
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, any>);
};
const find = (docs: Record<string, any>[], kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata.name === name)!;

describe('README recovery: MLflow data lost', () => {
  let pg: Postgres;
  let a: MlflowServer | undefined;
  let b: MlflowServer | undefined;
  let before: Snapshot;
  const work = mkdtempSync(join(tmpdir(), 'recovery-'));
  const home = join(work, 'server');
  const backups = join(work, 'backups');
  const lines = block('MLflow data lost');

  beforeAll(async () => {
    pg = await startPostgres();
    pg.createDatabase('mlflow');
    const env = { PGPASSWORD: pg.password };
    a = await startMlflow({ dir: home, backendStoreUri: pg.urlWithoutPassword('mlflow'), env });
    await seed(a);
    before = await snapshot(new MlflowRest(a.url));
    const res = await dr(
      [
        'backup',
        `--postgres=host=${pg.host} port=${pg.port} user=${pg.user} dbname=mlflow`,
        `--artifacts=${join(home, 'mlflow', 'artifacts')}`,
        `--dest=${backups}`,
      ],
      { PATH: `${PG_BIN}:${process.env.PATH}`, ...env },
    );
    expect(res).toMatchObject({ code: 0, err: '' });
    // Lost: the server stops, its database is dropped and its artifacts wiped.
    await a.stop();
    pg.dropDatabase('mlflow');
    rmSync(join(home, 'mlflow', 'artifacts'), { recursive: true, force: true });
  }, 300_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await pg?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("sets, in the MLflow pod, what the manifests give it: the store's host and user, the volumes, the script", () => {
    const m = /^export (.*)$/.exec(lines[0]!);
    expect(m).toBeTruthy();
    const vars = Object.fromEntries(m![1]!.split(' ').map((kv) => kv.split('=') as [string, string]));
    const docs = controlPlane();
    const pod = find(docs, 'Deployment', 'mlflow').spec.template.spec;
    const c = pod.containers[0];
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]));
    const uri = new URL(env.MLFLOW_BACKEND_STORE_URI.value);
    expect(env.PGPASSWORD.valueFrom.secretKeyRef.name).toBe('mlflow-postgres');
    const mountOf = (pick: (v: any) => boolean) =>
      c.volumeMounts.find((vm: any) => vm.name === pod.volumes.find(pick).name).mountPath;
    expect(vars).toEqual({
      PGHOST: uri.hostname,
      PGUSER: uri.username,
      BACKUPS: mountOf((v) => v.persistentVolumeClaim?.claimName === 'mlflow-backups'),
      MLFLOW_DIR: mountOf((v) => v.persistentVolumeClaim?.claimName === 'mlflow-data'),
      DR: `${mountOf((v) => v.configMap?.name.startsWith('mlflow-backup-script-'))}/mlflow_dr.py`,
    });
    expect(find(docs, 'Service', uri.hostname)).toBeDefined();
    expect(/--artifacts-destination=(\S+)/.exec(c.command.join(' '))![1]).toBe(
      `${vars.MLFLOW_DIR}/artifacts`,
    );
    // The database the README recreates is the one the server uses.
    expect(lines.join('\n')).toContain(`createdb ${uri.pathname.slice(1)}`);
  });

  it('restores with exactly the README lines; a new server has every run, history, artifact, version and alias', async () => {
    // Here, not in the pod: libpq's variables point at the test's PostgreSQL, the folders are local.
    const env = {
      ...process.env,
      PATH: `${PG_BIN}:${process.env.PATH}`,
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      PGUSER: pg.user,
      PGPASSWORD: pg.password,
      BACKUPS: backups,
      MLFLOW_DIR: join(home, 'mlflow'),
      DR: SCRIPT,
      // As in runBlock: at level 0 with socket stdio bash sources /etc/bash.bashrc (PS1 unbound).
      SHLVL: '1',
    };
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', lines.slice(1).join('\n')], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    // dropdb --if-exists says NOTICE when the database is already gone; nothing else may be said.
    expect(r.stderr.replace(/^NOTICE: .*\n/gm, '')).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^restored mlflow-backup-\S+\.tar\.gz into \S+ and the --postgres database\n$/);
    // The README's next step, `kubectl -n mlops rollout restart deployment/mlflow`, needs a
    // cluster; here the equivalent is a new server on the restored database and directory.
    expect(README).toContain('`kubectl -n mlops rollout restart deployment/mlflow`');
    b = await startMlflow({
      dir: home,
      backendStoreUri: pg.urlWithoutPassword('mlflow'),
      env: { PGPASSWORD: pg.password },
    });
    const after = await snapshot(new MlflowRest(b.url));
    expect(Object.keys(after.runs)).toHaveLength(3);
    expect(after.aliases).toEqual({ champion: '2', prod: '3', challenger: undefined });
    expect(after).toEqual(before);
  }, 180_000);
});

/** Recording fakes: k3d and kubectl append their argv to calls.log; `kubectl kustomize` is real. */
function fakeCluster(): { bin: string; calls: () => string[] } {
  const bin = mkdtempSync(join(tmpdir(), 'recovery-bin-'));
  const log = join(bin, 'calls.log');
  writeFileSync(log, '');
  const realKubectl = spawnSync('bash', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim();
  const tool = (name: string, body: string): void => {
    writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  tool('k3d', `echo "k3d $*" >>"${log}"\n[ "$1 $2" = "cluster list" ] && echo '[]'\nexit 0`);
  tool(
    'kubectl',
    [
      `[ "$1" = kustomize ] && exec "${realKubectl}" "$@"`,
      `echo "kubectl $*" >>"${log}"`,
      'case "$*" in *"get secret"*) exit 1;; *"get pod -l"*"-o name"*) echo pod/mlflow-5d9c7b-x2x9z;;',
      '  *--dry-run*) echo "kind: Namespace";; *"apply -f -"*) cat >/dev/null;; esac',
      'exit 0',
    ].join('\n'),
  );
  tool('openssl', 'echo 0123456789abcdef');
  return { bin, calls: () => readFileSync(log, 'utf8').trim().split('\n') };
}

function runBlock(lines: string[], bin: string): ReturnType<typeof spawnSync> & { stdout: string } {
  return spawnSync('bash', ['-euo', 'pipefail', '-c', lines.join('\n')], {
    cwd: ROOT,
    // SHLVL: node's stdio are sockets, and bash sources /etc/bash.bashrc for a "remote" shell at level 0.
    env: { PATH: `${bin}:/usr/bin:/bin`, HOME: tmpdir(), SHLVL: '1' },
    encoding: 'utf8',
    input: '',
    timeout: 60_000,
  });
}

describe('README recovery: data-plane cluster lost', () => {
  const repoUrl = (
    parse(readFileSync(join(ROOT, 'platform', 'argocd', 'root.yaml'), 'utf8')) as {
      spec: { source: { repoURL: string } };
    }
  ).spec.source.repoURL;
  const owner = /github\.com\/([^/]+)\//.exec(repoUrl)![1]!;

  it('recreates the cluster and the app-of-apps; git pins the image ArgoCD deploys', () => {
    const lines = block('Data-plane cluster lost');
    const { bin, calls } = fakeCluster();
    // The one placeholder: the fork's owner (bootstrap.sh refuses a REPO_URL the Applications do not use).
    const r = runBlock(
      lines.map((l) => l.replace('<you>', owner)),
      bin,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const log = calls();
    const cluster = (parse(readFileSync(join(ROOT, 'platform', 'k3d', 'cluster.yaml'), 'utf8')) as any)
      .metadata.name;
    const at = (re: RegExp): number => log.findIndex((c) => re.test(c));
    // Needs a real cluster (recorded, not run here): k3d delete/create, ArgoCD's install, the wait.
    const steps = [
      at(new RegExp(`^k3d cluster delete ${cluster}$`)),
      at(/^k3d cluster create --config \S+platform\/k3d\/cluster\.yaml$/),
      at(/^kubectl apply -n argocd --server-side --force-conflicts -f https:\S+\/install\.yaml$/),
      at(/^kubectl -n mlops create secret generic mlflow-postgres /),
      at(/^kubectl apply -f \S+platform\/argocd\/root\.yaml$/),
      at(
        /^kubectl -n argocd wait application\/iris-classifier --for=jsonpath=\{\.status\.health\.status\}=Healthy/,
      ),
    ];
    expect(steps.every((i) => i >= 0)).toBe(true);
    expect([...steps].sort((x, y) => x - y)).toEqual(steps);
    // Runs here for real: the overlay renders offline, with the image git pins.
    const overlay = parse(
      readFileSync(
        join(ROOT, 'platform', 'iris-classifier', 'overlays', 'prod', 'kustomization.yaml'),
        'utf8',
      ),
    ) as { images: { name: string; newName?: string; newTag?: string; digest?: string }[] };
    const e = overlay.images[0]!;
    const pinned = `${e.newName ?? e.name}${e.newTag ? `:${e.newTag}` : ''}${e.digest ? `@${e.digest}` : ''}`;
    expect(r.stdout).toContain(`image: ${pinned}\n`);
    expect(pinned).toMatch(/(:[\w][\w.-]*|@sha256:[a-f0-9]{64})$/);
    const apps = spawnSync('kubectl', ['kustomize', join(ROOT, 'platform', 'argocd', 'apps')], {
      encoding: 'utf8',
    });
    const app = parseAllDocuments(apps.stdout)
      .map((d) => d.toJS() as any)
      .find((d) => d.kind === 'Application' && d.metadata.name === 'iris-classifier');
    expect(app.spec.source).toMatchObject({
      repoURL: repoUrl,
      path: 'platform/iris-classifier/overlays/prod',
    });
  });
});

describe('README recovery: control-plane node lost', () => {
  it("recreates exactly the control plane's claims, lets ArgoCD resync, and copies the archives into /backups", () => {
    const lines = block('Control-plane node lost');
    const { bin, calls } = fakeCluster();
    const r = runBlock(lines, bin);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const docs = controlPlane();
    const claims = docs.filter((d) => d.kind === 'PersistentVolumeClaim').map((d) => d.metadata.name);
    // Every line needs a real cluster: recorded here, each checked against the manifests.
    const log = calls();
    const del = /^kubectl -n mlops delete pvc (.*) --wait=false$/.exec(log[0]!)!;
    expect(del[1]!.split(' ').sort()).toEqual(claims.sort());
    expect(log[1]).toBe('kubectl -n mlops delete pod --all');
    expect(log[2]).toMatch(/^kubectl -n argocd wait application\/control-plane --for=jsonpath=/);
    const selector = /get pod -l (\S+) -o name/.exec(log[3]!)![1]!;
    const labels = Object.fromEntries(selector.split(',').map((kv) => kv.split('=') as [string, string]));
    const selected = docs.filter(
      (d) =>
        d.kind === 'Deployment' &&
        Object.entries(labels).every(([k, v]) => d.spec.template.metadata.labels[k] === v),
    );
    expect(selected.map((d) => d.metadata.name)).toEqual(['mlflow']);
    expect(log[4]).toBe('kubectl -n mlops cp ./mlflow-backups/. mlflow-5d9c7b-x2x9z:/backups');
    const pod = selected[0]!.spec.template.spec;
    const vol = pod.volumes.find((v: any) => v.persistentVolumeClaim?.claimName === 'mlflow-backups');
    const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === vol.name);
    expect([mount.mountPath, mount.readOnly]).toEqual(['/backups', undefined]);
    expect(log).toHaveLength(5);
  });
});
