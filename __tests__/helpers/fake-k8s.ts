/**
 * A local Kubernetes API server for ArgoCD `Application` objects (applications.argoproj.io/v1alpha1),
 * speaking what @kubernetes/client-node and kubectl use: list (with fieldSelector metadata.name),
 * get, JSON merge patch, and watch (`?watch=true`, newline-delimited `{type, object}` events from
 * a resourceVersion, `410 Expired` once history before it is compacted, `timeoutSeconds`). Bearer
 * auth as in the kubeconfig it hands out. Tests play the ArgoCD controller by changing `status`
 * (and `operation`, a sync requested), or with `reconcileUnchanged` as the controller reconciles a
 * commit that changes nothing it renders.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const GROUP_VERSION = 'argoproj.io/v1alpha1';
const BASE = /^\/apis\/argoproj\.io\/v1alpha1\/namespaces\/([a-z0-9-]+)\/applications(?:\/([a-z0-9.-]+))?$/;
const TOKEN = 'fake-k8s-token';

type Json = Record<string, unknown>;
export interface Application {
  apiVersion: string;
  kind: 'Application';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    generation: number;
    creationTimestamp: string;
    annotations?: Record<string, string>;
  };
  spec: Json;
  /** A sync requested and not finished (`argoOperation`); ArgoCD clears it when the operation completes. */
  operation?: Json;
  status?: Json;
}

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Application;
}

interface Watcher {
  namespace: string;
  name?: string;
  res: ServerResponse;
}

export interface RecordedK8sRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: unknown;
  status: number;
}

export type HealthCode = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';
export type Phase = 'Running' | 'Succeeded' | 'Failed' | 'Error' | 'Terminating';

/** One resource of `status.resources`, with its live health (where ArgoCD 3 keeps health messages). */
export interface ResourceHealth {
  kind: string;
  name: string;
  group?: string;
  health: HealthCode;
  message?: string;
}

/** A hook of `operationState.syncResult.resources` (a PostSync Job, say). */
export interface HookResult {
  name: string;
  hookType: 'PreSync' | 'Sync' | 'PostSync' | 'SyncFail' | 'PostDelete' | 'Skip';
  hookPhase: Phase;
  message?: string;
}

/**
 * status as ArgoCD's application controller writes it (types.go of argo-cd v2.x/v3.x):
 * `revisions` makes a multi-source Application (no `revision`, `comparedTo.sources`);
 * `healthMessage` exists only for ArgoCD 2 (deprecated and never set in ArgoCD 3).
 */
export function argoStatus(s: {
  sync: 'Synced' | 'OutOfSync' | 'Unknown';
  revision?: string;
  revisions?: string[];
  health: HealthCode;
  healthMessage?: string;
  phase?: Phase;
  /** The revision the operation synced, when it is not the compared one (an older sync still shown). */
  opRevision?: string;
  message?: string;
  resources?: ResourceHealth[];
  hooks?: HookResult[];
  conditions?: { type: string; message: string }[];
  /** When the controller last compared with the latest commit (default: now, in ArgoCD's second precision). */
  reconciledAt?: Date;
}): Json {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const source = {
    repoURL: 'https://github.com/octo-org/gitops.git',
    path: 'apps/iris',
    targetRevision: 'main',
  };
  const multi = s.revisions !== undefined;
  const sources = (s.revisions ?? []).map((_, i) => ({ ...source, path: `apps/iris/part-${i}` }));
  const rev = multi ? { revisions: s.revisions } : s.revision !== undefined ? { revision: s.revision } : {};
  const opRev = s.opRevision !== undefined ? { revision: s.opRevision } : rev;
  const destination = { server: 'https://kubernetes.default.svc', namespace: 'iris' };
  return {
    sync: {
      status: s.sync,
      ...rev,
      comparedTo: multi ? { sources, destination } : { source, destination },
    },
    health: {
      status: s.health,
      lastTransitionTime: now,
      ...(s.healthMessage && { message: s.healthMessage }),
    },
    ...(s.resources && {
      resources: s.resources.map((r) => ({
        ...(r.group && { group: r.group }),
        version: 'v1',
        kind: r.kind,
        namespace: 'iris',
        name: r.name,
        status: s.sync === 'Unknown' ? 'Unknown' : s.sync,
        health: { status: r.health, ...(r.message && { message: r.message }) },
      })),
    }),
    ...(s.conditions && { conditions: s.conditions.map((c) => ({ ...c, lastTransitionTime: now })) }),
    ...(s.phase && {
      operationState: {
        operation: {
          sync: { ...opRev, syncStrategy: { hook: {} } },
          initiatedBy: { automated: true },
          retry: {},
        },
        phase: s.phase,
        message: s.message ?? (s.phase === 'Succeeded' ? 'successfully synced (all tasks run)' : ''),
        startedAt: now,
        ...(s.phase !== 'Running' && { finishedAt: now }),
        syncResult: {
          // `revision` has no omitempty in SyncOperationResult: a multi-source result carries "".
          ...(multi ? { revision: '', revisions: s.revisions } : opRev),
          ...(multi ? { sources } : { source }),
          resources: (s.hooks ?? []).map((h) => ({
            group: 'batch',
            version: 'v1',
            kind: 'Job',
            namespace: 'iris',
            name: h.name,
            status: 'Synced',
            message: h.message ?? '',
            hookType: h.hookType,
            hookPhase: h.hookPhase,
            syncPhase: h.hookType === 'PostSync' ? 'PostSync' : h.hookType === 'PreSync' ? 'PreSync' : 'Sync',
          })),
        },
      },
    }),
    reconciledAt: s.reconciledAt ? s.reconciledAt.toISOString().replace(/\.\d+Z$/, 'Z') : now,
    controllerNamespace: 'argocd',
    sourceType: 'Kustomize',
    ...(multi && { sourceTypes: sources.map(() => 'Kustomize') }),
    summary: { images: ['ghcr.io/octo-org/iris:1.0.0'] },
  };
}

/**
 * `Application.operation` as ArgoCD's auto-sync requests it (appcontroller.go autoSync, then
 * SetAppOperation): the spec's source for one source, `revisions` alone for several.
 */
export function argoOperation(app: Application, revision: string | string[]): Json {
  const multi = Array.isArray(revision);
  // Prune and retry come from the spec's syncPolicy (prune left out when false, as Go's omitempty
  // does); without a retry there, auto-sync's default of 5 attempts.
  const policy = (app.spec as { syncPolicy?: { automated?: { prune?: boolean }; retry?: Json } }).syncPolicy;
  return {
    sync: {
      ...(multi ? { revisions: revision } : { revision, source: app.spec.source }),
      ...(policy?.automated?.prune ? { prune: true } : {}),
    },
    initiatedBy: { automated: true },
    retry: policy?.retry ?? { limit: 5 },
  };
}

/**
 * The Application CRD's own status schema (argo-cd v3.5.1), made strict the way it is meant:
 * the API server prunes fields the schema does not name, so a field a test invents is rejected
 * here instead of silently reaching the action; the status codes are the enums of ArgoCD's Go
 * types (the CRD leaves them as plain strings).
 */
const ENUMS: Record<string, string[]> = {
  'sync.status': ['Synced', 'OutOfSync', 'Unknown'],
  'health.status': ['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'],
  'operationState.phase': ['Running', 'Terminating', 'Failed', 'Error', 'Succeeded'],
  'resources.health.status': ['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'],
  'operationState.syncResult.resources.hookPhase': ['Running', 'Terminating', 'Failed', 'Error', 'Succeeded'],
  'conditions.type': [
    'DeletionError',
    'InvalidSpecError',
    'ComparisonError',
    'SyncError',
    'UnknownError',
    'SharedResourceWarning',
    'RepeatedResourceWarning',
    'ExcludedResourceWarning',
    'OrphanedResourceWarning',
  ],
};

function strict(schema: Json, path: string): Json {
  const out: Json = { ...schema };
  delete out.description;
  if (ENUMS[path]) out.enum = ENUMS[path];
  if (out.properties) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, Json>).map(([k, v]) => [
        k,
        strict(v, path ? `${path}.${k}` : k),
      ]),
    );
    if (!out['x-kubernetes-preserve-unknown-fields'] && out.additionalProperties === undefined)
      out.additionalProperties = false;
  }
  if (out.items) out.items = strict(out.items as Json, path);
  if (out.additionalProperties && typeof out.additionalProperties === 'object')
    out.additionalProperties = strict(out.additionalProperties as Json, path);
  return out;
}

let validator: ValidateFunction | undefined;
/** Errors of `status` against the Application CRD (empty when valid). */
export function statusErrors(status: unknown): string[] {
  if (!validator) {
    const crd = JSON.parse(
      readFileSync(
        new URL('../fixtures/gitops-bump/argocd-application-status.schema.json', import.meta.url),
        'utf8',
      ),
    ) as Json;
    delete crd.$comment;
    const ajv = new Ajv({ strict: false, allErrors: true });
    (addFormatsModule as unknown as (a: Ajv) => Ajv)(ajv);
    ajv.addFormat('int64', true);
    validator = ajv.compile(strict(crd, ''));
  }
  if (validator(status)) return [];
  return (validator.errors ?? []).map(
    (e) =>
      `status${e.instancePath.replace(/\//g, '.')} ${e.message}${e.params && 'additionalProperty' in e.params ? ` '${String(e.params.additionalProperty)}'` : ''}${e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as string[]).join(', ')})` : ''}`,
  );
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Json =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const status = (code: number, reason: string, message: string): Json => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  code,
});

export class FakeKubernetes {
  readonly requests: RecordedK8sRequest[] = [];
  /** Answers the next watch that names a resourceVersion with 410 Expired (as after an etcd compaction). */
  expireNextWatch = false;
  /** How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK event (the API server: about a minute). */
  bookmarkIntervalMs = 200;
  /** BOOKMARK events sent so far. */
  bookmarksSent = 0;
  /** Called after a patch is stored; lets a test play ArgoCD reacting to a refresh request. */
  onPatch?: (app: Application, patch: unknown) => void;
  url = '';
  private readonly apps = new Map<string, Application>();
  private readonly history: Event[] = [];
  private readonly watchers = new Set<Watcher>();
  private rv = 100;
  /** Events at or below this resourceVersion are compacted away: watching from there is 410 Gone. */
  private compactedTo = 0;
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => send(res, 500, status(500, 'InternalError', err.message)));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  kubeconfig(namespace = 'argocd'): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: fake`,
      `  cluster:`,
      `    server: ${this.url}`,
      // Plain HTTP on loopback: @kubernetes/client-node sends a bearer token over http only with this set.
      '    insecure-skip-tls-verify: true',
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: ci',
      `    namespace: ${namespace}`,
      'current-context: fake',
      'users:',
      '- name: ci',
      '  user:',
      `    token: ${TOKEN}`,
      '',
    ].join('\n');
  }

  get(namespace: string, name: string): Application | undefined {
    return this.apps.get(`${namespace}/${name}`);
  }

  /** Creates or replaces an Application (an ArgoCD-shaped spec is filled in). */
  put(namespace: string, name: string, appStatus?: Json): Application {
    const existing = this.get(namespace, name);
    const app: Application = existing ?? {
      apiVersion: GROUP_VERSION,
      kind: 'Application',
      metadata: {
        name,
        namespace,
        uid: randomUUID(),
        resourceVersion: '',
        generation: 1,
        creationTimestamp: new Date().toISOString(),
      },
      spec: {
        project: 'default',
        source: {
          repoURL: 'https://github.com/octo-org/gitops.git',
          path: `apps/${name}`,
          targetRevision: 'main',
        },
        destination: { server: 'https://kubernetes.default.svc', namespace: name },
        syncPolicy: { automated: { prune: true, selfHeal: true } },
      },
    };
    if (appStatus) app.status = appStatus;
    this.check(app);
    this.commit(existing ? 'MODIFIED' : 'ADDED', app);
    return app;
  }

  /** Changes an Application the way the controller would (status updates) and notifies watchers. */
  update(namespace: string, name: string, change: (app: Application) => void): Application {
    const app = this.get(namespace, name);
    if (!app) throw new Error(`no application ${namespace}/${name}`);
    change(app);
    this.check(app);
    this.commit('MODIFIED', app);
    return app;
  }

  /**
   * Plays ArgoCD's reconciliation (processAppRefreshQueueItem in appcontroller.go) of a commit
   * that renders what is live: the comparison says Synced, so autoSync skips it ("Skipping
   * auto-sync: application status is Synced") and no `operation` is set. The status patch moves
   * `sync` to the commit (`revisions` for a multi-source Application), its resources to Synced,
   * `reconciledAt` to now (a comparison with the latest commit), drops the comparison errors,
   * and leaves health and the last `operationState` as they were; a second patch then drops the
   * refresh annotation (persistReconciliationStatus, then handleRefreshAnnotation).
   */
  reconcileUnchanged(namespace: string, name: string, revision: string | string[]): Application {
    this.update(namespace, name, (a) => {
      const st = (a.status ??= {}) as Json & {
        sync?: Json;
        resources?: Json[];
        conditions?: { type: string }[];
      };
      const { revision: _r, revisions: _rs, ...sync } = st.sync ?? {};
      st.sync = {
        ...sync,
        status: 'Synced',
        ...(Array.isArray(revision) ? { revisions: revision } : { revision }),
      };
      for (const r of st.resources ?? []) r.status = 'Synced';
      const conditions = (st.conditions ?? []).filter(
        (c) => c.type !== 'ComparisonError' && c.type !== 'InvalidSpecError',
      );
      if (conditions.length) st.conditions = conditions;
      else delete st.conditions;
      st.reconciledAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    });
    if (this.get(namespace, name)?.metadata.annotations?.['argocd.argoproj.io/refresh'] === undefined)
      return this.get(namespace, name)!;
    return this.update(namespace, name, (a) => {
      delete a.metadata.annotations!['argocd.argoproj.io/refresh'];
    });
  }

  /** Forgets the event history so far: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedTo = this.rv;
    this.history.length = 0;
  }

  /** A status the real CRD would not hold fails the test that wrote it. */
  private check(app: Application): void {
    const errors = app.status ? statusErrors(app.status) : [];
    if (errors.length) throw new Error(`not an Application status ArgoCD writes: ${errors.join('; ')}`);
  }

  watcherCount(): number {
    return this.watchers.size;
  }

  private commit(type: Event['type'], app: Application): void {
    app.metadata.resourceVersion = String(++this.rv);
    this.apps.set(`${app.metadata.namespace}/${app.metadata.name}`, app);
    const event: Event = { rv: this.rv, type, object: structuredClone(app) };
    this.history.push(event);
    for (const w of this.watchers) this.deliver(w, event);
  }

  private deliver(w: Watcher, e: Event): void {
    if (e.object.metadata.namespace !== w.namespace) return;
    if (w.name && e.object.metadata.name !== w.name) return;
    w.res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const record: RecordedK8sRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
      status: 0,
    };
    this.requests.push(record);
    const reply = (code: number, body: unknown): void => {
      record.status = code;
      send(res, code, body);
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      return reply(401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const m = BASE.exec(url.pathname);
    if (!m) return reply(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const [, namespace, name] = m as unknown as [string, string, string | undefined];

    if (req.method === 'GET' && !name) {
      const selector = url.searchParams.get('fieldSelector') ?? '';
      let only: string | undefined;
      if (selector) {
        const sel = /^metadata\.name(?:=|==)([a-z0-9.-]+)$/.exec(selector);
        if (!sel) return reply(400, status(400, 'BadRequest', `unsupported field selector "${selector}"`));
        only = sel[1];
      }
      const watch = ['true', '1'].includes(url.searchParams.get('watch') ?? '');
      if (watch) return this.watch(req, res, record, namespace, only, url.searchParams);
      const items = [...this.apps.values()].filter(
        (a) => a.metadata.namespace === namespace && (!only || a.metadata.name === only),
      );
      return reply(200, {
        apiVersion: GROUP_VERSION,
        kind: 'ApplicationList',
        metadata: { resourceVersion: String(this.rv) },
        items,
      });
    }
    if (!name)
      return reply(405, status(405, 'MethodNotAllowed', `${req.method} is not supported on the collection`));
    const app = this.get(namespace, name);
    if (!app) {
      return reply(404, status(404, 'NotFound', `applications.argoproj.io "${name}" not found`));
    }
    if (req.method === 'GET') return reply(200, app);
    if (req.method === 'PATCH') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (type === 'application/strategic-merge-patch+json') {
        // As the real API server: custom resources have no strategic merge.
        return reply(
          415,
          status(
            415,
            'UnsupportedMediaType',
            'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
          ),
        );
      }
      if (type !== 'application/merge-patch+json') {
        return reply(
          415,
          status(
            415,
            'UnsupportedMediaType',
            `fake-k8s implements merge patches only, got ${type || 'no content type'}`,
          ),
        );
      }
      let patch: unknown;
      try {
        patch = JSON.parse(raw);
      } catch (err) {
        return reply(400, status(400, 'BadRequest', `error decoding patch: ${(err as Error).message}`));
      }
      record.body = patch;
      const merged = mergePatch(app, patch) as Application;
      merged.metadata = { ...merged.metadata, name: app.metadata.name, namespace, uid: app.metadata.uid };
      if (JSON.stringify(merged.spec) !== JSON.stringify(app.spec)) merged.metadata.generation++;
      Object.assign(app, merged);
      this.commit('MODIFIED', app);
      reply(200, app);
      this.onPatch?.(app, patch);
      return;
    }
    return reply(405, status(405, 'MethodNotAllowed', `${req.method} is not supported`));
  }

  private watch(
    req: IncomingMessage,
    res: ServerResponse,
    record: RecordedK8sRequest,
    namespace: string,
    name: string | undefined,
    query: URLSearchParams,
  ): void {
    record.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const rvParam = query.get('resourceVersion');
    const watcher: Watcher = { namespace, name, res };
    if (rvParam && rvParam !== '0') {
      const from = Number(rvParam);
      const expire = this.expireNextWatch;
      this.expireNextWatch = false;
      if (expire || !Number.isInteger(from) || from < this.compactedTo) {
        res.end(
          `${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${rvParam} (${this.rv})`) })}\n`,
        );
        return;
      }
      for (const e of this.history) if (e.rv > from) this.deliver(watcher, e);
    } else {
      // No resourceVersion: the current state as synthetic ADDED events, then changes.
      for (const app of this.apps.values())
        this.deliver(watcher, { rv: this.rv, type: 'ADDED', object: app });
    }
    this.watchers.add(watcher);
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    // A BOOKMARK carries only the kind, apiVersion and the current resourceVersion, as the API
    // server sends it; only to clients that asked for them.
    const bookmarks =
      query.get('allowWatchBookmarks') === 'true'
        ? setInterval(() => {
            this.bookmarksSent++;
            res.write(
              `${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Application', apiVersion: GROUP_VERSION, metadata: { resourceVersion: String(this.rv) } } })}\n`,
            );
          }, this.bookmarkIntervalMs)
        : undefined;
    const cleanup = (): void => {
      if (bookmarks) clearInterval(bookmarks);
      if (timer) clearTimeout(timer);
      this.watchers.delete(watcher);
    };
    req.on('close', cleanup);
    res.on('close', cleanup);
  }
}

function send(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
