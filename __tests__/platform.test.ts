/**
 * platform/: every kustomization builds offline with `kubectl kustomize`, and what it builds is what
 * the platform promises (security settings, probes, ports, least-privilege service accounts, no
 * committed secrets); ArgoCD Applications point at paths that build; the k3d config has the seed's
 * port map; Grafana dashboards are valid and use the provisioned datasource; bootstrap.sh does its
 * steps in order against recording fakes of k3d/kubectl/openssl.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from './helpers/run-action.js';

type Obj = Record<string, unknown>;
interface K8s {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

const PLATFORM = join(ROOT, 'platform');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const kustomizationDirs = walk(PLATFORM)
  .filter((f) => /\/kustomization\.ya?ml$/.test(f))
  .map((f) => relative(ROOT, join(f, '..')))
  .sort();

const built = new Map<string, K8s[]>();
function build(dir: string): K8s[] {
  let docs = built.get(dir);
  if (!docs) {
    const out = execFileSync('kubectl', ['kustomize', join(ROOT, dir)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    docs = parseAllDocuments(out)
      .map((d) => d.toJS() as K8s)
      .filter(Boolean);
    built.set(dir, docs);
  }
  return docs;
}

const get = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);

/** The two entry points ArgoCD deploys. */
const DATA_PLANE = 'platform/iris-classifier/overlays/prod';
const CONTROL_PLANE = 'platform/control-plane';
const byKind = (docs: K8s[], kind: string): K8s[] => docs.filter((d) => d.kind === kind);
const one = (docs: K8s[], kind: string, name: string): K8s => {
  const found = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} not in the build`);
  return found;
};

interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: Obj }[];
  resources?: { requests?: Obj; limits?: Obj };
  securityContext?: Obj;
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string }[];
  args?: string[];
  command?: string[];
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: Obj;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Obj[];
}
const podSpec = (workload: K8s): PodSpec => get(workload, 'spec.template.spec') as PodSpec;
const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet'];

describe('kubectl kustomize builds every kustomization offline', () => {
  it('finds the platform kustomizations', () => {
    expect(kustomizationDirs).toEqual(
      expect.arrayContaining([
        'platform/argocd/apps',
        'platform/argocd/ci-access',
        'platform/control-plane',
        'platform/grafana',
        'platform/iris-classifier/base',
        DATA_PLANE,
        'platform/mlflow',
        'platform/prometheus',
      ]),
    );
  });

  it.each(kustomizationDirs)('%s', (dir) => {
    const docs = build(dir);
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) {
      expect(d.apiVersion).toBeTruthy();
      expect(d.kind).toBeTruthy();
      expect(d.metadata?.name).toBeTruthy();
    }
    // Offline and reproducible: no remote bases or resources.
    const k = parse(readFileSync(join(ROOT, dir, 'kustomization.yaml'), 'utf8')) as Obj;
    for (const r of [...((k.resources as string[]) ?? []), ...((k.components as string[]) ?? [])]) {
      expect(r).not.toMatch(/^(https?:|git@|github\.com)/);
    }
  });
});

describe('security settings of every workload the platform deploys', () => {
  const workloads = [DATA_PLANE, CONTROL_PLANE].flatMap((dir) =>
    build(dir)
      .filter((d) => WORKLOADS.includes(d.kind))
      .map((d) => [`${dir} ${d.kind}/${d.metadata.name}`, d] as const),
  );

  it('deploys the model server and the control plane services', () => {
    expect(workloads.map(([n]) => n)).toEqual(
      expect.arrayContaining([
        `${DATA_PLANE} Deployment/iris-classifier`,
        `${CONTROL_PLANE} Deployment/mlflow`,
        `${CONTROL_PLANE} Deployment/prometheus`,
        `${CONTROL_PLANE} Deployment/grafana`,
      ]),
    );
  });

  it.each(workloads)('%s is non-root, read-only, without capabilities, with limits', (_, w) => {
    const spec = podSpec(w);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBeTruthy();
    expect(spec.serviceAccountName).not.toBe('default');
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(get(spec, 'securityContext.runAsUser')).not.toBe(0);
    for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(get(c, 'securityContext.privileged')).not.toBe(true);
      expect(get(c, 'securityContext.capabilities.add')).toBeUndefined();
      for (const kind of ['requests', 'limits'] as const) {
        expect(c.resources?.[kind]).toEqual(
          expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }),
        );
      }
      // A pinned tag (or digest), never latest.
      expect(c.image).toMatch(/(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$/);
      expect(c.image).not.toMatch(/:latest$/);
      expect(c.readinessProbe).toBeDefined();
      expect(c.livenessProbe).toBeDefined();
    }
  });

  it.each(workloads)('%s has a NetworkPolicy that selects its pods', (name, w) => {
    const dir = name.split(' ')[0]!;
    const podLabels = get(w, 'spec.template.metadata.labels') as Record<string, string>;
    const policies = byKind(build(dir), 'NetworkPolicy').filter((p) => {
      const sel = get(p, 'spec.podSelector.matchLabels') as Record<string, string>;
      return Object.entries(sel).every(([k, v]) => podLabels[k] === v);
    });
    expect(policies.length).toBeGreaterThan(0);
    for (const p of policies) expect(get(p, 'spec.policyTypes')).toEqual(['Ingress', 'Egress']);
  });
});

describe('the iris-classifier data plane', () => {
  const docs = build(DATA_PLANE);
  const deploy = one(docs, 'Deployment', 'iris-classifier');
  const server = podSpec(deploy).containers[0]!;
  const portNumber = (port: string | number | undefined): number | undefined =>
    typeof port === 'number' ? port : server.ports?.find((p) => p.name === port)?.containerPort;

  it('probes /readyz (readiness) and /healthz (liveness) on port 30808', () => {
    expect(server.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(server.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(portNumber(server.readinessProbe?.httpGet?.port)).toBe(30808);
    expect(portNumber(server.livenessProbe?.httpGet?.port)).toBe(30808);
  });

  it('serves the model baked into its image: no MODEL_URI, nothing of MLflow, no secret value in plain env', () => {
    const env = Object.fromEntries((server.env ?? []).map((e) => [e.name, e]));
    // The image sets MODEL_URI=/app/model and its MODEL_* labels; the pinned digest is the model.
    for (const name of ['MODEL_URI', 'MODEL_NAME', 'MODEL_VERSION', 'MODEL_DIGEST']) {
      expect([name, env[name]]).toEqual([name, undefined]);
    }
    expect(Object.keys(env).filter((name) => name.startsWith('MLFLOW_'))).toEqual([]);
    for (const e of server.env ?? []) {
      if (/TOKEN|PASSWORD|SECRET|KEY/.test(e.name)) expect(e.value).toBeUndefined();
    }
  });

  it('is exposed on NodePort 30808, selecting exactly the server pods', () => {
    const svc = one(docs, 'Service', 'iris-classifier');
    expect(get(svc, 'spec.type')).toBe('NodePort');
    expect(get(svc, 'spec.ports')).toEqual([expect.objectContaining({ nodePort: 30808, port: 30808 })]);
    const podLabels = get(deploy, 'spec.template.metadata.labels') as Record<string, string>;
    const selector = get(svc, 'spec.selector') as Record<string, string>;
    expect(Object.entries(selector).every(([k, v]) => podLabels[k] === v)).toBe(true);
    expect(get(deploy, 'spec.selector.matchLabels')).toEqual(selector);
  });

  it('scales with a HorizontalPodAutoscaler, which owns the replica count', () => {
    const hpa = one(docs, 'HorizontalPodAutoscaler', 'iris-classifier');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(get(hpa, 'spec.scaleTargetRef')).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'iris-classifier',
    });
    expect(get(hpa, 'spec.minReplicas')).toBeGreaterThanOrEqual(2);
    expect(get(deploy, 'spec.replicas')).toBeUndefined();
  });

  it('lets traffic in on 30808 only, and out to DNS only (the model is in the image)', () => {
    const np = one(docs, 'NetworkPolicy', 'iris-classifier');
    const ingressPorts = (get(np, 'spec.ingress') as Obj[]).flatMap((r) =>
      (r.ports as Obj[]).map((p) => p.port),
    );
    expect(ingressPorts).toEqual([30808]);
    const egressPorts = (get(np, 'spec.egress') as Obj[])
      .flatMap((r) => (r.ports as Obj[]).map((p) => p.port))
      .sort();
    expect(egressPorts).toEqual([53, 53]);
  });

  it('runs in a namespace that enforces the restricted Pod Security profile', () => {
    const ns = one(docs, 'Namespace', 'iris');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const d of docs.filter((d) => d.kind !== 'Namespace')) expect(d.metadata.namespace).toBe('iris');
  });

  it("has the image gitops-bump edits in the overlay's kustomization images:", () => {
    const k = parse(readFileSync(join(ROOT, DATA_PLANE, 'kustomization.yaml'), 'utf8')) as {
      images: { name: string; newName?: string; newTag?: string; digest?: string }[];
    };
    const base = build('platform/iris-classifier/base');
    const baseImage = podSpec(one(base, 'Deployment', 'iris-classifier')).containers[0]!.image;
    expect(k.images).toHaveLength(1);
    expect(k.images[0]!.name).toBe(baseImage);
    const entry = k.images[0]!;
    const expected = `${entry.newName ?? entry.name}${entry.newTag ? `:${entry.newTag}` : ''}${entry.digest ? `@${entry.digest}` : ''}`;
    expect(server.image).toBe(expected);
  });
});

describe('the control plane', () => {
  const docs = build(CONTROL_PLANE);

  it('runs MLflow on PostgreSQL (password from a Secret, never in argv) with proxied artifacts on a PVC', () => {
    const spec = podSpec(one(docs, 'Deployment', 'mlflow'));
    const c = spec.containers[0]!;
    const argv = [...(c.command ?? []), ...(c.args ?? [])].join(' ');
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(argv).toMatch(/\bmlflow server\b/);
    expect(argv).toMatch(/--serve-artifacts\b/);
    expect(argv).not.toMatch(/--backend-store-uri|sqlite/);
    // The store: the in-namespace PostgreSQL Service, as a user without a password in the URI.
    const uri = new URL(env.MLFLOW_BACKEND_STORE_URI!.value!);
    expect([uri.protocol, uri.username, uri.password, uri.port, uri.pathname]).toEqual([
      'postgresql:',
      'mlflow',
      '',
      '5432',
      '/mlflow',
    ]);
    expect(get(env.PGPASSWORD, 'valueFrom.secretKeyRef')).toEqual({
      name: 'mlflow-postgres',
      key: 'password',
    });
    const db = one(docs, 'Deployment', 'mlflow-postgres');
    const svc = one(docs, 'Service', uri.hostname);
    expect(get(svc, 'spec.selector')).toEqual(get(db, 'spec.selector.matchLabels'));
    const pgc = podSpec(db).containers[0]!;
    expect(pgc.image).toMatch(/postgres:15\./);
    const pgEnv = Object.fromEntries((pgc.env ?? []).map((e) => [e.name, e]));
    expect([pgEnv.POSTGRES_USER?.value, pgEnv.POSTGRES_DB?.value]).toEqual([uri.username, 'mlflow']);
    expect(get(pgEnv.POSTGRES_PASSWORD, 'valueFrom.secretKeyRef')).toEqual(
      get(env.PGPASSWORD, 'valueFrom.secretKeyRef'),
    );
    const dataMount = pgc.volumeMounts!.find((m) => pgEnv.PGDATA!.value!.startsWith(`${m.mountPath}/`))!;
    const dataVol = podSpec(db).volumes!.find((v) => v.name === dataMount.name)!;
    expect(
      get(
        one(docs, 'PersistentVolumeClaim', get(dataVol, 'persistentVolumeClaim.claimName') as string),
        'spec.accessModes',
      ),
    ).toEqual(['ReadWriteOnce']);
    // The artifacts on their own ReadWriteOnce volume: one pod at a time.
    const artifacts = /--artifacts-destination[= ](\/\S+)/.exec(argv)?.[1];
    const mount = c.volumeMounts!.find((m) => artifacts?.startsWith(`${m.mountPath}/`))!;
    const volume = spec.volumes!.find((v) => v.name === mount.name)!;
    const claim = get(volume, 'persistentVolumeClaim.claimName') as string;
    expect(get(one(docs, 'PersistentVolumeClaim', claim), 'spec.accessModes')).toEqual(['ReadWriteOnce']);
    for (const name of ['mlflow', 'mlflow-postgres']) {
      expect(get(one(docs, 'Deployment', name), 'spec.strategy.type')).toBe('Recreate');
      expect(get(one(docs, 'Deployment', name), 'spec.replicas')).toBe(1);
    }
  });

  it('runs Prometheus with 7-day retention and the repository config and rules', () => {
    const spec = podSpec(one(docs, 'Deployment', 'prometheus'));
    const args = spec.containers[0]!.args!;
    expect(args).toContain('--storage.tsdb.retention.time=7d');
    expect(args).toContain('--config.file=/etc/prometheus/prometheus.yml');
    // What promtool validates is what is deployed: the ConfigMaps carry the files byte for byte.
    const cms = byKind(docs, 'ConfigMap');
    const config = cms.find((c) => c.metadata.name.startsWith('prometheus-config-'))!;
    expect(get(config, 'data')).toEqual({
      'prometheus.yml': readFileSync(join(PLATFORM, 'prometheus', 'prometheus.yml'), 'utf8'),
    });
    const rules = cms.find((c) => c.metadata.name.startsWith('prometheus-rules-'))!;
    const ruleFiles = readdirSync(join(PLATFORM, 'prometheus', 'rules')).filter((f) => f.endsWith('.yml'));
    expect(Object.keys(get(rules, 'data') as Obj).sort()).toEqual(ruleFiles.sort());
    const mountPaths = spec.containers[0]!.volumeMounts!.map((m) => m.mountPath);
    expect(mountPaths).toEqual(
      expect.arrayContaining(['/etc/prometheus/prometheus.yml', '/etc/prometheus/rules']),
    );
  });

  it('provisions Grafana from the repository files and takes its admin password from a Secret', () => {
    const c = podSpec(one(docs, 'Deployment', 'grafana')).containers[0]!;
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(env.GF_SECURITY_ADMIN_PASSWORD?.value).toBeUndefined();
    expect(get(env.GF_SECURITY_ADMIN_PASSWORD, 'valueFrom.secretKeyRef.name')).toBe('grafana-admin');
    const cms = byKind(docs, 'ConfigMap');
    const dashboards = cms.find((c) => c.metadata.name.startsWith('grafana-dashboards-'))!;
    expect(Object.keys(get(dashboards, 'data') as Obj)).toEqual(
      readdirSync(join(PLATFORM, 'grafana', 'dashboards')).filter((f) => f.endsWith('.json')),
    );
  });

  it('puts everything in the mlops namespace under the restricted Pod Security profile', () => {
    const ns = one(docs, 'Namespace', 'mlops');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const d of docs.filter((d) => d.kind !== 'Namespace')) expect(d.metadata.namespace).toBe('mlops');
  });

  it('has Services whose selectors match pods of exactly one workload', () => {
    for (const svc of byKind(docs, 'Service')) {
      const sel = get(svc, 'spec.selector') as Record<string, string>;
      const matches = docs
        .filter((d) => WORKLOADS.includes(d.kind))
        .filter((w) => {
          const labels = get(w, 'spec.template.metadata.labels') as Record<string, string>;
          return Object.entries(sel).every(([k, v]) => labels[k] === v);
        });
      expect(matches.map((m) => m.metadata.name)).toEqual([svc.metadata.name]);
    }
  });
});

describe('least privilege and secrets across the platform', () => {
  const all = [DATA_PLANE, CONTROL_PLANE].flatMap((dir) => build(dir));

  it('gives every ServiceAccount no token unless a narrow Role is bound to it', () => {
    const sas = byKind(all, 'ServiceAccount');
    expect(sas.length).toBeGreaterThanOrEqual(4);
    const bindings = all.filter((d) => d.kind === 'RoleBinding' || d.kind === 'ClusterRoleBinding');
    for (const sa of sas) {
      const bound = bindings.filter((b) =>
        ((b.subjects as Obj[]) ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === sa.metadata.name),
      );
      if (bound.length === 0) expect(get(sa, 'automountServiceAccountToken')).toBe(false);
    }
    for (const b of bindings) expect(get(b, 'roleRef.name')).not.toMatch(/^(cluster-admin|admin|edit)$/);
    expect(byKind(all, 'ClusterRoleBinding')).toEqual([]);
    for (const role of all.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole')) {
      for (const rule of (role.rules as Obj[]) ?? []) {
        for (const field of ['verbs', 'resources', 'apiGroups']) expect(rule[field]).not.toContain('*');
      }
    }
  });

  it('references Secrets but commits none', () => {
    expect(byKind(all, 'Secret')).toEqual([]);
    const referenced = JSON.stringify(all).match(/"secretKeyRef":\{[^}]*"name":"[^"]+"/g) ?? [];
    expect(referenced.length).toBeGreaterThan(0);
    const files = walk(PLATFORM).filter((f) => /\.(ya?ml|json)$/.test(f));
    for (const f of files) {
      for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
        const js = doc.toJS() as Obj | null;
        if (js && js.kind === 'Secret') expect(`${relative(ROOT, f)} commits a Secret`).toBe('');
      }
    }
  });

  it('keeps stored data out of automated prune and Application deletion (PVCs and Namespaces)', () => {
    const stateful = all.filter((d) => d.kind === 'PersistentVolumeClaim' || d.kind === 'Namespace');
    expect(stateful.length).toBeGreaterThanOrEqual(4);
    for (const d of stateful) {
      const options = (get(d, 'metadata.annotations') as Record<string, string> | undefined)?.[
        'argocd.argoproj.io/sync-options'
      ];
      expect([`${d.kind}/${d.metadata.name}`, options?.split(',').sort()]).toEqual([
        `${d.kind}/${d.metadata.name}`,
        ['Delete=false', 'Prune=false'],
      ]);
    }
  });

  it('keeps NetworkPolicy peers as written (kube-dns selector not rewritten by kustomize labels)', () => {
    for (const np of byKind(all, 'NetworkPolicy')) {
      for (const rule of (get(np, 'spec.egress') as Obj[]) ?? []) {
        for (const peer of (rule.to as Obj[]) ?? []) {
          const ns = get(peer, 'namespaceSelector.matchLabels') as Record<string, string> | undefined;
          if (ns?.['kubernetes.io/metadata.name'] === 'kube-system') {
            expect(get(peer, 'podSelector.matchLabels')).toEqual({ 'k8s-app': 'kube-dns' });
          }
        }
      }
    }
  });
});

describe('NetworkPolicies allow the control plane flows, both ends', () => {
  const docs = build(CONTROL_PLANE);
  const policies = byKind(docs, 'NetworkPolicy');
  const podLabels = (name: string): Record<string, string> => {
    const w = docs.find((d) => WORKLOADS.includes(d.kind) && d.metadata.name === name);
    if (!w) throw new Error(`no workload ${name}`);
    return get(w, 'spec.template.metadata.labels') as Record<string, string>;
  };
  const selects = (selector: unknown, labels: Record<string, string>): boolean =>
    Object.entries((get(selector, 'matchLabels') as Record<string, string>) ?? {}).every(
      ([k, v]) => labels[k] === v,
    );
  /** Same-namespace peers only: a peer with a namespaceSelector or ipBlock is another namespace or no pod. */
  const allows = (
    rules: Obj[] | undefined,
    peerKey: 'to' | 'from',
    peer: Record<string, string>,
    port: number,
  ) =>
    (rules ?? []).some((rule) => {
      const ports = rule.ports as { port: number }[] | undefined;
      const peers = rule[peerKey] as Obj[] | undefined;
      const portOk = !ports || ports.some((p) => p.port === port);
      const peerOk =
        !peers || peers.some((p) => !p.namespaceSelector && !p.ipBlock && selects(p.podSelector, peer));
      return portOk && peerOk;
    });
  const flows: [string, string, number][] = [
    ['grafana', 'prometheus', 9090],
    ['prometheus', 'alertmanager', 9093],
    ['prometheus', 'alertmanager-relay', 8080],
    ['alertmanager', 'alertmanager-relay', 8080],
    ['mlflow', 'mlflow-postgres', 5432],
  ];

  it.each(flows)('%s -> %s:%d', (from, to, port) => {
    const src = podLabels(from);
    const dst = podLabels(to);
    const egress = policies.filter((p) => selects(get(p, 'spec.podSelector'), src));
    const ingress = policies.filter((p) => selects(get(p, 'spec.podSelector'), dst));
    expect(egress.length).toBeGreaterThan(0);
    expect(ingress.length).toBeGreaterThan(0);
    expect(egress.some((p) => allows(get(p, 'spec.egress') as Obj[], 'to', dst, port))).toBe(true);
    expect(ingress.some((p) => allows(get(p, 'spec.ingress') as Obj[], 'from', src, port))).toBe(true);
  });

  it('does not let MLflow open connections inside the namespace (a flow that must be denied)', () => {
    const src = podLabels('mlflow');
    const egress = policies.filter((p) => selects(get(p, 'spec.podSelector'), src));
    expect(
      egress.some((p) => allows(get(p, 'spec.egress') as Obj[], 'to', podLabels('prometheus'), 9090)),
    ).toBe(false);
  });

  it('every service Prometheus scrapes in the namespace lets Prometheus in on that port', () => {
    const config = parse(readFileSync(join(PLATFORM, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    const services = byKind(docs, 'Service');
    const targets = config.scrape_configs.flatMap((j) => j.static_configs.flatMap((s) => s.targets));
    const inNamespace = targets.filter((t) => services.some((s) => s.metadata.name === t.split(':')[0]));
    expect(inNamespace).toEqual(expect.arrayContaining(['alertmanager:9093', 'alertmanager-relay:8080']));
    for (const t of inNamespace) {
      const [name, port] = t.split(':') as [string, string];
      const svc = services.find((s) => s.metadata.name === name)!;
      const sel = get(svc, 'spec.selector') as Record<string, string>;
      const workload = docs.find(
        (d) =>
          WORKLOADS.includes(d.kind) &&
          Object.entries(sel).every(
            ([k, v]) => (get(d, 'spec.template.metadata.labels') as Record<string, string>)[k] === v,
          ),
      )!;
      const svcPort = (get(svc, 'spec.ports') as { port: number; targetPort: number | string }[]).find(
        (p) => p.port === Number(port),
      )!;
      const container = podSpec(workload).containers[0]!;
      const targetPort =
        typeof svcPort.targetPort === 'number'
          ? svcPort.targetPort
          : container.ports!.find((p) => p.name === svcPort.targetPort)!.containerPort;
      const dst = get(workload, 'spec.template.metadata.labels') as Record<string, string>;
      const src = podLabels('prometheus');
      const egress = policies.filter((p) => selects(get(p, 'spec.podSelector'), src));
      const ingress = policies.filter((p) => selects(get(p, 'spec.podSelector'), dst));
      expect([t, egress.some((p) => allows(get(p, 'spec.egress') as Obj[], 'to', dst, targetPort))]).toEqual([
        t,
        true,
      ]);
      expect([
        t,
        ingress.some((p) => allows(get(p, 'spec.ingress') as Obj[], 'from', src, targetPort)),
      ]).toEqual([t, true]);
    }
  });
});

describe('ArgoCD app-of-apps', () => {
  interface App extends K8s {
    spec: {
      project: string;
      source: { repoURL: string; targetRevision: string; path: string };
      destination: { server?: string; name?: string; namespace: string };
      syncPolicy?: { automated?: { prune?: boolean; selfHeal?: boolean } };
    };
  }
  const root = parse(readFileSync(join(PLATFORM, 'argocd', 'root.yaml'), 'utf8')) as App;
  const children = build(root.spec.source.path);
  const apps = [root, ...(byKind(children, 'Application') as App[])];
  const project = one(children, 'AppProject', 'mlops-actions');

  it('has the root app and one Application per plane', () => {
    expect(apps.map((a) => a.metadata.name).sort()).toEqual(['control-plane', 'iris-classifier', 'root']);
  });

  it.each(apps.map((a) => [a.metadata.name, a] as const))(
    '%s syncs automatically with prune and self-heal from a path that builds',
    (_, app) => {
      expect(app.apiVersion).toBe('argoproj.io/v1alpha1');
      expect(app.metadata.namespace).toBe('argocd');
      expect(app.spec.syncPolicy?.automated).toMatchObject({ prune: true, selfHeal: true });
      expect(app.spec.source.targetRevision).toBeTruthy();
      expect(app.spec.source.repoURL).toBe(root.spec.source.repoURL);
      const path = app.spec.source.path;
      expect(existsSync(join(ROOT, path, 'kustomization.yaml'))).toBe(true);
      expect(build(path).length).toBeGreaterThan(0);
    },
  );

  it('confines the platform Applications to their namespaces and kinds through the AppProject', () => {
    const destinations = get(project, 'spec.destinations') as { namespace: string }[];
    const allowed = new Set(
      ((get(project, 'spec.namespaceResourceWhitelist') as { group: string; kind: string }[]) ?? []).map(
        (r) => `${r.group}/${r.kind}`,
      ),
    );
    const clusterAllowed = new Set(
      ((get(project, 'spec.clusterResourceWhitelist') as { group: string; kind: string }[]) ?? []).map(
        (r) => `${r.group}/${r.kind}`,
      ),
    );
    for (const app of apps.filter((a) => a.spec.project === 'mlops-actions')) {
      expect(destinations.map((d) => d.namespace)).toContain(app.spec.destination.namespace);
      expect(get(project, 'spec.sourceRepos')).toContain(app.spec.source.repoURL);
      for (const d of build(app.spec.source.path)) {
        const group = d.apiVersion.includes('/') ? d.apiVersion.split('/')[0]! : '';
        const key = `${group}/${d.kind}`;
        if (d.kind === 'Namespace') expect(clusterAllowed.has(key)).toBe(true);
        else expect([key, allowed.has(key)]).toEqual([key, true]);
      }
    }
  });

  it('names the Application that gitops-bump waits for after editing the data plane overlay', () => {
    const iris = apps.find((a) => a.metadata.name === 'iris-classifier')!;
    expect(iris.spec.source.path).toBe(DATA_PLANE);
    expect(iris.spec.destination.namespace).toBe('iris');
  });
});

describe('the CI identity for gitops-bump wait-for-sync', () => {
  const docs = build('platform/argocd/ci-access');
  const role = one(docs, 'Role', 'mlops-ci-application-sync');

  it('may get, list, watch and patch only the Application the pipeline deploys, in argocd', () => {
    expect(role.metadata.namespace).toBe('argocd');
    expect(role.rules).toEqual([
      {
        apiGroups: ['argoproj.io'],
        resources: ['applications'],
        resourceNames: ['iris-classifier'],
        verbs: ['get', 'list', 'watch', 'patch'],
      },
    ]);
    const pipeline = parse(readFileSync(join(ROOT, '.github', 'workflows', 'ml-pipeline.yml'), 'utf8')) as {
      on: { workflow_call: { inputs: Record<string, { default?: string }> } };
    };
    const inputs = pipeline.on.workflow_call.inputs;
    expect((role.rules as { resourceNames: string[] }[])[0]!.resourceNames).toContain(
      inputs['argocd-app']!.default,
    );
    expect(role.metadata.namespace).toBe(inputs['argocd-namespace']!.default);
  });

  it('binds the Role, not a ClusterRole, to a ServiceAccount without a mounted token', () => {
    const binding = one(docs, 'RoleBinding', 'mlops-ci-application-sync');
    expect(get(binding, 'roleRef')).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata.name,
    });
    expect(get(binding, 'subjects')).toEqual([
      { kind: 'ServiceAccount', name: 'mlops-ci', namespace: 'argocd' },
    ]);
    expect(get(one(docs, 'ServiceAccount', 'mlops-ci'), 'automountServiceAccountToken')).toBe(false);
    expect(byKind(docs, 'ClusterRoleBinding')).toEqual([]);
  });
});

describe('k3d cluster config', () => {
  const config = parse(readFileSync(join(PLATFORM, 'k3d', 'cluster.yaml'), 'utf8')) as {
    apiVersion: string;
    kind: string;
    kubeAPI: { hostPort: string };
    ports: { port: string }[];
  };

  it("maps the seed's ports: 6550->6443, 8080->80, 30808 and 30900", () => {
    expect(config.apiVersion).toBe('k3d.io/v1alpha5');
    expect(config.kind).toBe('Simple');
    // k3d serves the API on 6443 inside the node; kubeAPI.hostPort is the host side.
    expect(config.kubeAPI.hostPort).toBe('6550');
    expect(config.ports.map((p) => p.port).sort()).toEqual(['30808:30808', '30900:30900', '8080:80']);
  });

  it('exposes NodePorts that the manifests actually use', () => {
    const nodePorts = [DATA_PLANE, CONTROL_PLANE]
      .flatMap((dir) => byKind(build(dir), 'Service'))
      .flatMap((s) => ((get(s, 'spec.ports') as Obj[]) ?? []).map((p) => p.nodePort))
      .filter(Boolean);
    expect(nodePorts.sort()).toEqual([30808, 30900]);
  });
});

describe('Grafana', () => {
  const datasources = parse(
    readFileSync(join(PLATFORM, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8'),
  ) as { datasources: { uid: string; type: string; url: string }[] };
  const uids = new Set(datasources.datasources.map((d) => d.uid));
  const dashboards = readdirSync(join(PLATFORM, 'grafana', 'dashboards')).filter((f) => f.endsWith('.json'));

  it('provisions the Prometheus datasource at the in-namespace Service', () => {
    expect(datasources.datasources).toEqual([
      expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    const svc = one(build(CONTROL_PLANE), 'Service', 'prometheus');
    expect(get(svc, 'spec.ports')).toEqual([expect.objectContaining({ port: 9090 })]);
  });

  it('has dashboards', () => {
    expect(dashboards).toContain('iris-classifier.json');
  });

  it.each(dashboards)('%s is valid JSON whose every datasource is the provisioned uid', (file) => {
    const dash = JSON.parse(readFileSync(join(PLATFORM, 'grafana', 'dashboards', file), 'utf8')) as Obj;
    expect(dash.uid).toBeTruthy();
    const refs: unknown[] = [];
    const visit = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'datasource') refs.push(x);
          visit(x);
        }
      }
    };
    visit(dash);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref).toEqual({ type: 'prometheus', uid: expect.any(String) });
      expect(uids.has((ref as { uid: string }).uid)).toBe(true);
    }
    const panels = dash.panels as { id: number; targets?: { expr?: string; refId: string }[] }[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) expect(p.targets?.every((t) => t.expr && t.refId)).toBe(true);
  });

  it.each(dashboards)('%s queries are valid PromQL (checked by promtool as recording rules)', (file) => {
    const dash = JSON.parse(readFileSync(join(PLATFORM, 'grafana', 'dashboards', file), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
      annotations?: { list?: { expr?: string }[] };
    };
    const exprs = [
      ...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...(dash.annotations?.list ?? []).map((a) => a.expr).filter((e): e is string => Boolean(e)),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'dash-'));
    const rules = {
      groups: [
        { name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) },
      ],
    };
    writeFileSync(join(dir, 'rules.json'), JSON.stringify(rules));
    const r = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.json')], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.status).toBe(0);
  });
});

describe('platform/bootstrap.sh', () => {
  const script = join(PLATFORM, 'bootstrap.sh');
  const repoUrl = (
    parse(readFileSync(join(PLATFORM, 'argocd', 'root.yaml'), 'utf8')) as {
      spec: { source: { repoURL: string } };
    }
  ).spec.source.repoURL;

  /** Fakes of k3d, kubectl and openssl that append their argv to calls.log and answer plausibly. */
  function fakes(existingCluster: boolean): { bin: string; log: string } {
    const bin = mkdtempSync(join(tmpdir(), 'bootstrap-bin-'));
    const log = join(bin, 'calls.log');
    const tool = (name: string, body: string): void => {
      writeFileSync(join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >>"${log}"\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    tool(
      'k3d',
      existingCluster
        ? `[ "$1 $2" = "cluster list" ] && echo '[{"name":"mlops-dataplane","serversCount":1}]'; exit 0`
        : `[ "$1 $2" = "cluster list" ] && echo '[]'; exit 0`,
    );
    // `get secret` fails (absent); `create secret --from-file=k=path` records each file's content
    // (the script deletes the files when it exits); `create ... --dry-run` prints a manifest.
    tool(
      'kubectl',
      [
        'case "$*" in *"get secret"*) exit 1;; esac',
        'for a in "$@"; do case "$a" in --from-file=*) kv=${a#--from-file=}; echo "  file ${kv%%=*}=$(cat "${kv#*=}") (${kv#*=})" >>"' +
          log +
          '";; esac; done',
        'case "$*" in *--dry-run*) echo "kind: Namespace";; *"apply -f -"*) cat >/dev/null;; esac',
        'exit 0',
      ].join('\n'),
    );
    tool(
      'openssl',
      '[ "$1 $2" = "rand -hex" ] && echo 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef || echo c2VjcmV0LXBhc3N3b3JkLWZvci10ZXN0cw==',
    );
    return { bin, log };
  }

  const run = (env: Record<string, string>, bin: string) =>
    spawnSync('bash', [script], {
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: tmpdir(), ...env },
      input: '',
      timeout: 30_000,
    });

  it('refuses to run without REPO_URL, before touching any cluster', () => {
    const { bin, log } = fakes(false);
    const r = run({}, bin);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/REPO_URL/);
    expect(existsSync(log)).toBe(false);
  });

  it('refuses a REPO_URL that the committed Applications do not use, naming the files', () => {
    const { bin, log } = fakes(false);
    const r = run({ REPO_URL: 'https://github.com/someone-else/mlops-actions.git' }, bin);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/repoURL in these files is not https:\/\/github.com\/someone-else/);
    expect(r.stderr).toMatch(/iris-classifier\.yaml/);
    expect(existsSync(log)).toBe(false);
  });

  it('creates the cluster, installs the pinned ArgoCD, creates the Grafana secret, then applies the root app', () => {
    const { bin, log } = fakes(false);
    const r = run({ REPO_URL: repoUrl }, bin);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    const at = (re: RegExp): number => calls.findIndex((c) => re.test(c));
    const create = at(/^k3d cluster create --config .*platform\/k3d\/cluster\.yaml$/);
    const argocd = at(
      /^kubectl apply -n argocd --server-side --force-conflicts -f https:\/\/raw\.githubusercontent\.com\/argoproj\/argo-cd\/v\d+\.\d+\.\d+\/manifests\/install\.yaml$/,
    );
    const ciAccess = at(/^kubectl apply -k .*platform\/argocd\/ci-access$/);
    const secret = at(/^kubectl -n mlops create secret generic grafana-admin /);
    const pgSecret = at(/^kubectl -n mlops create secret generic mlflow-postgres --from-file=password=\//);
    const root = at(/^kubectl apply -f .*platform\/argocd\/root\.yaml$/);
    expect([create, argocd, ciAccess, secret, pgSecret, root].every((i) => i >= 0)).toBe(true);
    expect(pgSecret).toBeLessThan(root);
    expect(create).toBeLessThan(argocd);
    expect(argocd).toBeLessThan(ciAccess);
    expect(argocd).toBeLessThan(secret);
    expect(secret).toBeLessThan(root);
    // The generated password reaches kubectl through a file, never argv or the output.
    expect(calls.find((c) => c.startsWith('  file admin-password='))).toMatch(
      /^ {2}file admin-password=c2VjcmV0LXBhc3N3b3JkLWZvci10ZXN0cw== \(\/.+\)$/,
    );
    expect(calls.filter((c) => !c.startsWith('  file ')).join('\n')).not.toContain(
      'c2VjcmV0LXBhc3N3b3JkLWZvci10ZXN0cw==',
    );
    expect(r.stdout).not.toContain('c2VjcmV0LXBhc3N3b3JkLWZvci10ZXN0cw==');
    // No relay token given: no relay Secret.
    expect(calls.some((c) => /create secret generic alertmanager-relay/.test(c))).toBe(false);
  });

  it('creates the relay Secret from RELAY_GITHUB_TOKEN with a random bearer token, through files it removes', () => {
    const { bin, log } = fakes(true);
    const r = run({ REPO_URL: repoUrl, RELAY_GITHUB_TOKEN: 'ghp_relaytesttoken' }, bin);
    expect(r.status).toBe(0);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    const create = calls.findIndex((c) =>
      /^kubectl -n mlops create secret generic alertmanager-relay /.test(c),
    );
    expect(create).toBeGreaterThan(0);
    const files = calls
      .slice(create + 1)
      .filter((c) => c.startsWith('  file '))
      .slice(0, 2);
    expect(files.map((f) => f.replace(/ \(.*\)$/, ''))).toEqual([
      '  file relay-token=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      '  file github-token=ghp_relaytesttoken',
    ]);
    expect(calls.filter((c) => !c.startsWith('  file ')).join('\n')).not.toContain('ghp_relaytesttoken');
    expect(`${r.stdout}${r.stderr}`).not.toContain('ghp_relaytesttoken');
    const tokenFile = /\((.*)\)$/.exec(files[1]!)![1]!;
    expect(existsSync(tokenFile)).toBe(false);
    expect(calls.indexOf(calls.find((c) => /kubectl apply -f .*root\.yaml/.test(c))!)).toBeGreaterThan(
      create,
    );
  });

  it('does not recreate a cluster that exists', () => {
    const { bin, log } = fakes(true);
    const r = run({ REPO_URL: repoUrl }, bin);
    expect(r.status).toBe(0);
    const calls = readFileSync(log, 'utf8');
    expect(calls).not.toMatch(/k3d cluster create/);
    expect(calls).toMatch(/kubectl apply -f .*root\.yaml/);
  });
});

describe('the global Prometheus (platform/prometheus/federation)', () => {
  const FED = 'platform/prometheus/federation';
  const docs = build(FED);
  const cluster = build('platform/prometheus');
  // The copies under federation/manifests differ from ../*.yaml only in these names.
  const rename = (s: string) =>
    s
      .replaceAll('"prometheus-global', '"prometheus')
      .replace(/"(prometheus-(?:config|rules))-[a-z0-9]+"/g, '"$1"')
      .replaceAll('"global"', '"server"');

  it('deploys global.yml and its rule files, byte for byte, as the config and rules', () => {
    const cms = byKind(docs, 'ConfigMap');
    const config = cms.find((c) => c.metadata.name.startsWith('prometheus-global-config-'))!;
    expect(get(config, 'data')).toEqual({
      'prometheus.yml': readFileSync(join(ROOT, FED, 'global.yml'), 'utf8'),
    });
    const rules = cms.find((c) => c.metadata.name.startsWith('prometheus-global-rules-'))!;
    const ruleFiles = readdirSync(join(ROOT, FED, 'rules')).filter((f) => f.endsWith('.yml'));
    expect(Object.keys(get(rules, 'data') as Obj).sort()).toEqual(ruleFiles.sort());
  });

  it('runs the same pod as the cluster Prometheus, under its own names and selector', () => {
    for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'PersistentVolumeClaim']) {
      const [g, c] = [byKind(docs, kind), byKind(cluster, kind)];
      expect(g).toHaveLength(1);
      expect(JSON.parse(rename(JSON.stringify(g[0])))).toEqual(JSON.parse(rename(JSON.stringify(c[0]))));
    }
    const names = docs.map((d) => d.metadata.name);
    expect(names.filter((n) => cluster.some((c) => c.metadata.name === n))).toEqual([]);
    expect(get(one(docs, 'Deployment', 'prometheus-global'), 'spec.selector.matchLabels')).toMatchObject({
      'app.kubernetes.io/component': 'global',
    });
  });

  it('may reach the clusters /federate on 9090, on top of the cluster Prometheus egress', () => {
    const g = get(one(docs, 'NetworkPolicy', 'prometheus-global'), 'spec.egress') as Obj[];
    const c = get(one(cluster, 'NetworkPolicy', 'prometheus'), 'spec.egress') as Obj[];
    expect(g).toEqual([...c, { ports: [{ protocol: 'TCP', port: 9090 }] }]);
  });
});
