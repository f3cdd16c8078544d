/**
 * Waits for ArgoCD to deploy a commit: lists the Application, then watches it from that
 * resourceVersion (re-listing when the watch ends or the version is too old, 410 Gone) until
 * `status.sync.revision` is the commit with sync `Synced` and health `Healthy`. A `Degraded`
 * health or a `Failed`/`Error` operation on that commit fails at once with ArgoCD's message.
 */
import { existsSync } from 'node:fs';
import * as core from '@actions/core';
import {
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { InputError } from '../shared/errors.js';

const GROUP = 'argoproj.io';
const VERSION = 'v1alpha1';
const PLURAL = 'applications';
export const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';

export interface Application {
  metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
  status?: {
    sync?: { status?: string; revision?: string; revisions?: string[] };
    health?: { status?: string; message?: string };
    operationState?: {
      phase?: string;
      message?: string;
      operation?: { sync?: { revision?: string; revisions?: string[] } };
      syncResult?: { revision?: string; revisions?: string[] };
    };
    conditions?: { type?: string; message?: string }[];
  };
}

export type Verdict = { done: false } | { done: true; ok: true } | { done: true; ok: false; reason: string };

export interface SyncResult {
  ok: boolean;
  /** Why it failed or timed out; empty on success. */
  reason: string;
  /** The last status seen, as a one-line description. */
  last: string;
  elapsedMs: number;
}

export function loadKubeConfig(value: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (value === undefined) {
    kc.loadFromDefault();
  } else if (value.includes('\n') || /^\s*(apiVersion|kind|clusters)\s*:/.test(value)) {
    // Inline content: mask the credentials it carries before anything can print them.
    for (const m of value.matchAll(
      /^\s*(?:token|client-key-data|client-certificate-data|password)\s*:\s*(\S+)/gm,
    )) {
      core.setSecret(m[1]!.replace(/^["']|["']$/g, ''));
    }
    try {
      kc.loadFromString(value);
    } catch (err) {
      throw new InputError(
        'kubeconfig',
        'a kubeconfig file path or its YAML content',
        (err as Error).message,
      );
    }
  } else if (existsSync(value)) {
    kc.loadFromFile(value);
  } else {
    throw new InputError('kubeconfig', 'a kubeconfig file path or its YAML content', value);
  }
  if (!kc.getCurrentCluster())
    throw new InputError('kubeconfig', 'a current context with a cluster', value ?? '(default)');
  return kc;
}

/** Whether the revision(s) named match one of the accepted commits. */
const includes = (
  one: string | undefined,
  many: string[] | undefined,
  accepted: ReadonlySet<string>,
): boolean => (one !== undefined && accepted.has(one)) || (many ?? []).some((r) => accepted.has(r));

export function describe(app: Application | undefined): string {
  if (!app) return 'no Application seen';
  const s = app.status ?? {};
  const parts = [
    `sync ${s.sync?.status ?? 'Unknown'}`,
    `revision ${(s.sync?.revision ?? s.sync?.revisions?.join(',') ?? 'none').slice(0, 12)}`,
    `health ${s.health?.status ?? 'Unknown'}`,
  ];
  if (s.operationState?.phase) {
    parts.push(
      `operation ${s.operationState.phase}${s.operationState.message ? `: ${s.operationState.message}` : ''}`,
    );
  }
  return parts.join(', ');
}

/**
 * `accepted` is the pushed commit plus any later commit known to contain it: when another run
 * pushes right after us, ArgoCD may go straight to that commit, which deploys ours too.
 */
export function evaluate(app: Application, accepted: ReadonlySet<string>): Verdict {
  const s = app.status ?? {};
  const onRevision = includes(s.sync?.revision, s.sync?.revisions, accepted);
  const op = s.operationState;
  // The last operation may be an older one (a failed sync of the previous commit): only an
  // operation on our commit counts.
  const opOnRevision =
    includes(op?.syncResult?.revision, op?.syncResult?.revisions, accepted) ||
    includes(op?.operation?.sync?.revision, op?.operation?.sync?.revisions, accepted);
  if (op && (op.phase === 'Failed' || op.phase === 'Error') && opOnRevision) {
    return {
      done: true,
      ok: false,
      reason: `ArgoCD sync operation ${op.phase}: ${op.message ?? 'no message'}`,
    };
  }
  // Health is of the live objects: it speaks for our commit once that commit is what is synced.
  if (onRevision && s.sync?.status === 'Synced' && s.health?.status === 'Degraded') {
    const detail =
      s.health.message ??
      op?.message ??
      s.conditions?.map((c) => `${c.type}: ${c.message}`).join('; ') ??
      'no message';
    return { done: true, ok: false, reason: `Application is Degraded: ${detail}` };
  }
  if (onRevision && s.sync?.status === 'Synced' && s.health?.status === 'Healthy')
    return { done: true, ok: true };
  return { done: false };
}

export interface WaitOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  revision: string;
  timeoutMs: number;
  refresh: boolean;
  /** Whether `later` contains the pushed commit (a descendant of it). */
  contains?: (later: string) => Promise<boolean>;
}

export async function requestRefresh(api: CustomObjectsApi, namespace: string, name: string): Promise<void> {
  await api.patchNamespacedCustomObject(
    {
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      name,
      body: { metadata: { annotations: { [REFRESH_ANNOTATION]: 'normal' } } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

function apiError(err: unknown, what: string): Error {
  const e = err as { code?: number; statusCode?: number; body?: unknown; message?: string };
  const code = e.code ?? e.statusCode;
  let message = e.message ?? String(err);
  try {
    const body =
      typeof e.body === 'string'
        ? (JSON.parse(e.body) as { message?: string })
        : (e.body as { message?: string });
    if (body?.message) message = body.message;
  } catch {
    // not JSON: keep the client's message
  }
  return new Error(`${what} failed${code ? ` (HTTP ${code})` : ''}: ${message}`);
}

export async function waitForSync(options: WaitOptions): Promise<SyncResult> {
  const { kc, namespace, name, revision, timeoutMs } = options;
  const api = kc.makeApiClient(CustomObjectsApi);
  const started = Date.now();
  const deadline = started + timeoutMs;
  const where = `Application ${namespace}/${name}`;
  let last: Application | undefined;

  if (options.refresh) {
    try {
      await requestRefresh(api, namespace, name);
      core.info(`Requested a refresh of ${where}.`);
    } catch (err) {
      throw apiError(err, `refreshing ${where}`);
    }
  }

  const accepted = new Set([revision]);
  const checks = new Map<string, Promise<boolean>>();
  const judge = async (app: Application): Promise<Verdict> => {
    const verdict = evaluate(app, accepted);
    const seen = app.status?.sync?.revision;
    if (verdict.done || !options.contains || !seen || accepted.has(seen) || !/^[0-9a-f]{40}$/.test(seen)) {
      return verdict;
    }
    if (!checks.has(seen))
      checks.set(
        seen,
        options.contains(seen).catch(() => false),
      );
    if (!(await checks.get(seen))) return verdict;
    core.info(`${where} is at ${seen.slice(0, 12)}, a later commit that contains ${revision.slice(0, 12)}.`);
    accepted.add(seen);
    return evaluate(app, accepted);
  };

  const result = (ok: boolean, reason: string): SyncResult => ({
    ok,
    reason,
    last: describe(last),
    elapsedMs: Date.now() - started,
  });

  while (Date.now() < deadline) {
    let list: { items?: Application[]; metadata?: { resourceVersion?: string } };
    try {
      list = (await api.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        fieldSelector: `metadata.name=${name}`,
      })) as typeof list;
    } catch (err) {
      throw apiError(err, `listing ${where}`);
    }
    const app = list.items?.[0];
    if (!app) throw new Error(`${where} not found`);
    last = app;
    const verdict = await judge(app);
    if (verdict.done) return result(verdict.ok, verdict.ok ? '' : verdict.reason);
    core.info(`${where}: ${describe(app)}; waiting for ${revision.slice(0, 12)}.`);

    const outcome = await watchOnce(kc, {
      namespace,
      name,
      resourceVersion: list.metadata?.resourceVersion,
      untilMs: deadline - Date.now(),
      onApp: async (a) => {
        last = a;
        const v = await judge(a);
        if (!v.done) core.info(`${where}: ${describe(a)}`);
        return v;
      },
    });
    if (outcome.verdict?.done) {
      return result(outcome.verdict.ok, outcome.verdict.ok ? '' : outcome.verdict.reason);
    }
    if (outcome.deleted) throw new Error(`${where} was deleted while waiting`);
    // The watch ended (server timeout, 410 Gone, dropped connection): list again and resume.
    if (outcome.error) core.debug(`watch ended: ${outcome.error}`);
    if (Date.now() < deadline)
      await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
  }
  return result(
    false,
    `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${where} to be Synced and Healthy at ${revision.slice(0, 12)}`,
  );
}

interface WatchOutcome {
  verdict?: Verdict;
  deleted?: boolean;
  error?: string;
}

function watchOnce(
  kc: KubeConfig,
  opts: {
    namespace: string;
    name: string;
    resourceVersion?: string;
    untilMs: number;
    onApp: (app: Application) => Promise<Verdict>;
  },
): Promise<WatchOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let controller: AbortController | undefined;
    const finish = (outcome: WatchOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      controller?.abort();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ error: 'deadline' }), Math.max(0, opts.untilMs));
    new Watch(kc)
      .watch(
        `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(opts.namespace)}/${PLURAL}`,
        {
          fieldSelector: `metadata.name=${opts.name}`,
          resourceVersion: opts.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: Math.max(1, Math.min(300, Math.ceil(opts.untilMs / 1000))),
        },
        (type: string, object: unknown) => {
          if (type === 'ERROR') {
            const status = object as { code?: number; message?: string };
            return finish({ error: `${status.code ?? ''} ${status.message ?? ''}`.trim() });
          }
          if (type === 'BOOKMARK') return;
          if (type === 'DELETED') return finish({ deleted: true });
          void opts.onApp(object as Application).then((verdict) => {
            if (verdict.done) finish({ verdict });
          });
        },
        (err: unknown) => finish({ error: err ? String((err as Error).message ?? err) : 'closed' }),
      )
      .then((c) => {
        controller = c;
        if (settled) c.abort();
      })
      .catch((err: unknown) => finish({ error: String((err as Error).message ?? err) }));
  });
}
