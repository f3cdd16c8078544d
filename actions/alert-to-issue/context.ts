/**
 * What the issue (and the model) should know beyond the alerts: which model version is live
 * (the MLflow alias of the model named in the alert labels) and what was last deployed (the
 * latest commits that touched the GitOps manifests). Context is best effort: a lookup that fails
 * is reported in the issue, never fails the run.
 */
import { weakerOnClasses } from '../shared/analysis/index.js';
import { errorMessage } from '../shared/errors.js';
import type { Octokit, Repo } from '../shared/github.js';
import { MlflowClient } from '../shared/mlflow/index.js';
import { mlflowSettings } from '../shared/mlflow/inputs.js';
import type { Notification } from './webhook.js';

export interface ModelContext {
  name: string;
  alias: string;
  version?: string;
  runId?: string;
  runUrl?: string;
  versionUrl?: string;
  metrics?: Record<string, number>;
  /** The version registered before the live one, for the per-class comparison. */
  predecessor?: { version: string; metrics: Record<string, number> };
  /** The class the alert names (its `class` label), if any. */
  affectedClass?: string;
  /** Whether the live version was weaker than its predecessor on that class (or on any). */
  classComparison?: string;
  error?: string;
}

export interface CommitItem {
  sha: string;
  message: string;
  author: string;
  date?: string;
  url?: string;
}

export interface CommitContext {
  path: string;
  items: CommitItem[];
  error?: string;
}

export interface Context {
  models: ModelContext[];
  commits?: CommitContext;
}

const MAX_MODELS = 3;
/** The alert label naming a class, as the platform's per-class recording rules have it. */
export const CLASS_LABEL = 'class';
/** Deleted versions leave gaps: look this far back for the predecessor. */
const PREDECESSOR_LOOKBACK = 5;

/** Distinct values of the model label across the group's alerts (common labels first). */
export function modelNames(n: Notification, label: string): string[] {
  const names = new Set<string>();
  if (n.commonLabels[label]) names.add(n.commonLabels[label]);
  for (const a of n.alerts) if (a.labels[label]) names.add(a.labels[label]);
  // Registered model names are short; anything odd is not looked up at all.
  // eslint-disable-next-line no-control-regex
  return [...names].filter((v) => v.length <= 256 && !/[\u0000-\u001f]/.test(v)).slice(0, MAX_MODELS);
}

/** The affected class: the `class` label common to the group, else of its first alert that has one. */
export function affectedClass(n: Notification): string | undefined {
  const value =
    n.commonLabels[CLASS_LABEL] ?? n.alerts.find((a) => a.labels[CLASS_LABEL])?.labels[CLASS_LABEL];
  return value && value.length <= 100 ? value : undefined;
}

/** The latest version below `version` whose run can be read; undefined when there is none. */
async function predecessorOf(
  client: MlflowClient,
  name: string,
  version: string,
): Promise<{ version: string; metrics: Record<string, number> } | undefined> {
  const live = Number(version);
  for (let v = live - 1; v >= 1 && v >= live - PREDECESSOR_LOOKBACK; v--) {
    const mv = await client.registry.getModelVersion(name, String(v)).catch(() => undefined);
    if (!mv?.run_id) continue;
    const run = await client.tracking.getRun(mv.run_id).catch(() => undefined);
    if (run)
      return {
        version: mv.version,
        metrics: Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value])),
      };
  }
  return undefined;
}

async function compareWithPredecessor(client: MlflowClient, out: ModelContext, cls?: string): Promise<void> {
  if (!out.version || !out.metrics) return;
  const prev = await predecessorOf(client, out.name, out.version);
  if (!prev) return;
  out.predecessor = prev;
  if (cls) out.affectedClass = cls;
  const comparison = weakerOnClasses(
    out.metrics,
    prev.metrics,
    { run: `live version ${out.version}`, baseline: `its predecessor version ${prev.version}` },
    cls,
  );
  if (comparison) out.classComparison = comparison;
}

export async function championOf(
  client: MlflowClient,
  name: string,
  alias: string,
  cls?: string,
): Promise<ModelContext> {
  try {
    const mv = await client.registry.getModelVersionByAlias(name, alias);
    if (!mv) return { name, alias };
    const out: ModelContext = {
      name,
      alias,
      version: mv.version,
      versionUrl: client.registry.modelVersionUrl(name, mv.version),
    };
    if (mv.run_id) {
      out.runId = mv.run_id;
      const run = await client.tracking.getRun(mv.run_id);
      out.runUrl = client.tracking.runUrl(run.info.experiment_id, mv.run_id);
      out.metrics = Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
      await compareWithPredecessor(client, out, cls);
    }
    return out;
  } catch (err) {
    return { name, alias, error: errorMessage(err) };
  }
}

export async function modelContext(
  n: Notification,
  /** `trackingUri` undefined: MLflow is not configured, no lookup. */
  opts: { trackingUri?: string; modelLabel: string; alias: string },
): Promise<ModelContext[]> {
  const names = modelNames(n, opts.modelLabel);
  if (names.length === 0) return [];
  const uri = opts.trackingUri;
  if (!uri) return [];
  let client: MlflowClient;
  try {
    // Short and few attempts: an issue without MLflow context beats a late one.
    client = new MlflowClient({ ...mlflowSettings(process.env, uri), timeoutMs: 10_000, attempts: 2 });
  } catch (err) {
    return names.map((name) => ({ name, alias: opts.alias, error: errorMessage(err) }));
  }
  const cls = affectedClass(n);
  return Promise.all(names.map((name) => championOf(client, name, opts.alias, cls)));
}

export async function gitopsCommits(
  octokit: Octokit,
  repo: Repo,
  path: string,
  { ref, limit = 5 }: { ref?: string; limit?: number } = {},
): Promise<CommitContext> {
  try {
    const { data } = await octokit.rest.repos.listCommits({
      ...repo,
      path,
      per_page: limit,
      ...(ref ? { sha: ref } : {}),
    });
    return {
      path,
      items: data.map((c) => ({
        sha: c.sha,
        message: c.commit.message,
        author: c.author?.login ?? c.commit.author?.name ?? 'unknown',
        date: c.commit.committer?.date ?? c.commit.author?.date,
        url: c.html_url,
      })),
    };
  } catch (err) {
    return { path, items: [], error: errorMessage(err) };
  }
}
