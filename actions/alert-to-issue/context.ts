/**
 * What the issue (and the model) should know beyond the alerts: which model version is live and
 * what was last deployed. Git is the source of truth: the latest commits that touched the GitOps
 * manifests carry deploy trailers, so the newest deploy commit of the model names the deployed
 * version, shared/deploys.ts the previous champion (as gitops-bump's rollback picks it), and the
 * open rollback PR is linked; without a deploy commit, the MLflow alias of the model named in the
 * alert labels is used instead. Context is best effort: a lookup that fails is reported in the
 * issue, never fails the run.
 */
import { weakerOnClasses } from '../shared/analysis/index.js';
import { errorMessage } from '../shared/errors.js';
import type { Octokit, Repo } from '../shared/github.js';
import { MlflowClient, type ModelVersion } from '../shared/mlflow/index.js';
import { DEPLOY_TRAILERS, deployedAndPrevious, deploysOf, type Deploy } from '../shared/deploys.js';
import type { MlflowSetup } from './inputs.js';
import {
  isRefusal,
  openPulls,
  pullsNote,
  rollbackPullFor,
  tokenNeeds,
  type TokenInput,
} from './rollback-pull.js';
import type { Notification } from './webhook.js';

export interface ModelContext {
  name: string;
  alias: string;
  /** The live version: the deployed one when a deploy commit names it, else the alias's. */
  version?: string;
  runId?: string;
  runUrl?: string;
  versionUrl?: string;
  metrics?: Record<string, number>;
  /**
   * What the live version is compared with: the previous champion (the version deployed before
   * it) when the deploy commits say what runs, else the version registered before it.
   */
  predecessor?: { version: string; metrics: Record<string, number> };
  baseline?: 'previous champion' | 'registry predecessor';
  /** What the GitOps history says is deployed; absent when no deploy commit names the model. */
  deploy?: DeployedContext;
  /** Why the context is what it is (e.g. no deploy commit, so the alias was used). */
  note?: string;
  /** The class the alert names (its `class` label), if any. */
  affectedClass?: string;
  /** Whether the live version was weaker than its baseline on that class (or on any). */
  classComparison?: string;
  error?: string;
}

export interface DeployedContext {
  commit: Deploy;
  /** The previous champion: the newest earlier deploy of another version that no rollback undid. */
  previous?: Deploy;
  previousUrl?: string;
  rollback?: { number: number; url: string; title: string };
  /** Why no rollback PR is linked (none open, or the lookup failed). */
  rollbackNote?: string;
  /** Where no previous champion was found: the commits read (a bounded number of pages). */
  searched?: { commits: number; where: string };
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
  /** The GitOps repository (owner/name), when it is not the one the issue is in. */
  repository?: string;
  items: CommitItem[];
  error?: string;
}

export interface Context {
  models: ModelContext[];
  commits?: CommitContext;
}

const MAX_MODELS = 3;
/** The newest commits shown in the issue and given to Gemini (more are read, for the deploys). */
export const SHOWN_COMMITS = 5;
/** The alert label naming a class, as the platform's per-class recording rules have it. */
export const CLASS_LABEL = 'class';
/** The alert label naming the environment (Prometheus' target label), matched to the Environment trailer. */
export const ENVIRONMENT_LABEL = 'environment';
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

/** A label common to the group, else of its first alert that has one; short values only. */
function groupLabel(n: Notification, label: string, max: number): string | undefined {
  const value = n.commonLabels[label] ?? n.alerts.find((a) => a.labels[label])?.labels[label];
  return value && value.length <= max ? value : undefined;
}

/** The affected class: the `class` label common to the group, else of its first alert that has one. */
export const affectedClass = (n: Notification): string | undefined => groupLabel(n, CLASS_LABEL, 100);

/** The environment the alert is about, when its labels say (else deploys to any environment count). */
export const alertEnvironment = (n: Notification): string | undefined =>
  groupLabel(n, ENVIRONMENT_LABEL, 100);

const metricsOf = (run: { data: { metrics: Array<{ key: string; value: number }> } }) =>
  Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));

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
    if (run) return { version: mv.version, metrics: metricsOf(run) };
  }
  return undefined;
}

/** The per-class verdict of the live version against `baseline`, named as what it is. */
function compare(
  out: ModelContext,
  baseline: { version: string; metrics: Record<string, number> },
  names: { run: string; baseline: string },
  cls?: string,
): void {
  out.predecessor = baseline;
  if (cls) out.affectedClass = cls;
  const comparison = weakerOnClasses(out.metrics ?? {}, baseline.metrics, names, cls);
  if (comparison) out.classComparison = comparison;
}

async function compareWithPredecessor(client: MlflowClient, out: ModelContext, cls?: string): Promise<void> {
  if (!out.version || !out.metrics) return;
  const prev = await predecessorOf(client, out.name, out.version);
  if (!prev) return;
  out.baseline = 'registry predecessor';
  const names = { run: `live version ${out.version}`, baseline: `its predecessor version ${prev.version}` };
  compare(out, prev, names, cls);
}

/** A version's links and its run's metrics. */
async function versionFacts(
  client: MlflowClient,
  name: string,
  mv: Pick<ModelVersion, 'version' | 'run_id'>,
): Promise<Pick<ModelContext, 'versionUrl' | 'runId' | 'runUrl' | 'metrics'>> {
  const out = { versionUrl: client.registry.modelVersionUrl(name, mv.version) };
  if (!mv.run_id) return out;
  const run = await client.tracking.getRun(mv.run_id);
  return {
    ...out,
    runId: mv.run_id,
    runUrl: client.tracking.runUrl(run.info.experiment_id, mv.run_id),
    metrics: metricsOf(run),
  };
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
    const out: ModelContext = { name, alias, version: mv.version, ...(await versionFacts(client, name, mv)) };
    await compareWithPredecessor(client, out, cls);
    return out;
  } catch (err) {
    return { name, alias, error: errorMessage(err) };
  }
}

/**
 * The deployed version (from its deploy commit) and its metrics against the previous champion's,
 * both read from MLflow by the versions the commits name; without MLflow, the commits alone.
 */
export async function deployedOf(
  mlflow: MlflowClient | { error: string } | undefined,
  name: string,
  alias: string,
  { deployed, previous }: { deployed: Deploy; previous?: Deploy },
  cls?: string,
): Promise<ModelContext> {
  const out: ModelContext = { name, alias, version: deployed.version, deploy: { commit: deployed } };
  if (previous) out.deploy!.previous = previous;
  if (!(mlflow instanceof MlflowClient)) {
    if (mlflow) out.error = mlflow.error;
    return out;
  }
  try {
    const facts = (v: string) =>
      mlflow.registry.getModelVersion(name, v).then((mv) => versionFacts(mlflow, name, mv));
    Object.assign(out, await facts(deployed.version));
    if (!previous) return out;
    const before = await facts(previous.version);
    out.deploy!.previousUrl = before.versionUrl;
    out.baseline = 'previous champion';
    const names = {
      run: `deployed version ${deployed.version}`,
      baseline: `the previous champion version ${previous.version}`,
    };
    compare(out, { version: previous.version, metrics: before.metrics ?? {} }, names, cls);
  } catch (err) {
    out.error = errorMessage(err);
  }
  return out;
}

function mlflowClient(mlflow: MlflowSetup | undefined): MlflowClient | { error: string } | undefined {
  if (!mlflow) return undefined;
  if (mlflow.error !== undefined) return { error: mlflow.error };
  try {
    // Short and few attempts: an issue without MLflow context beats a late one.
    return new MlflowClient({ ...mlflow.settings, timeoutMs: 10_000, attempts: 2 });
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

export interface ModelLookup {
  /** MLflow's settings, resolved by getInputs(); undefined: MLflow is not configured. */
  mlflow?: MlflowSetup;
  modelLabel: string;
  alias: string;
  /** The GitOps history: its deploy commits say what runs. */
  commits?: CommitContext;
}

/** The GitOps path, and its repository when that is not the issue's. */
export const gitopsWhere = (c: CommitContext): string =>
  c.repository ? `${c.path} in ${c.repository}` : c.path;

/**
 * Whether `items` (newest first) reach far enough back for the alert: every model it names has a
 * previous champion in them (or it names none). Until then gitopsCommits reads another page.
 */
export function historyEnough(n: Notification, modelLabel: string): (items: CommitItem[]) => boolean {
  const environment = alertEnvironment(n);
  const names = modelNames(n, modelLabel);
  return (items) =>
    names.every((model) => deployedAndPrevious(deploysOf(items, { model, environment })).previous);
}

/**
 * Per model named in the alert: what its newest deploy commit deploys, compared with the previous
 * champion; without a deploy commit, the alias's version compared with its registry predecessor.
 */
export async function modelContext(n: Notification, opts: ModelLookup): Promise<ModelContext[]> {
  const names = modelNames(n, opts.modelLabel);
  const environment = alertEnvironment(n);
  const history = opts.commits && !opts.commits.error ? opts.commits.items : [];
  const deploys = new Map(
    names.map((name) => [name, deployedAndPrevious(deploysOf(history, { model: name, environment }))]),
  );
  const anyDeploy = [...deploys.values()].some((d) => d.deployed);
  if (names.length === 0 || (!opts.mlflow && !anyDeploy)) return [];
  const client = mlflowClient(opts.mlflow);
  const cls = affectedClass(n);
  return Promise.all(
    names.map(async (name): Promise<ModelContext> => {
      const d = deploys.get(name)!;
      if (d.deployed) {
        const out = await deployedOf(client, name, opts.alias, { ...d, deployed: d.deployed }, cls);
        if (!d.previous)
          out.deploy!.searched = { commits: history.length, where: gitopsWhere(opts.commits!) };
        return out;
      }
      const why = opts.commits?.error
        ? `could not read the deploy commits under ${gitopsWhere(opts.commits)}`
        : opts.commits
          ? `no deploy commit of ${name}${environment ? ` to ${environment}` : ''} under ${gitopsWhere(opts.commits)} (${DEPLOY_TRAILERS})`
          : 'no gitops-path to read deploy commits from';
      if (!(client instanceof MlflowClient))
        return { name, alias: opts.alias, note: why, ...(client && { error: client.error }) };
      const out = await championOf(client, name, opts.alias, cls);
      return { ...out, note: `${why}: the ${opts.alias} alias is shown instead` };
    }),
  );
}

/** Commits per page, GitHub's maximum. */
export const COMMITS_PER_PAGE = 100;
/** Pages read at most: a busy GitOps repository still reaches the previous deploy, in bounded calls. */
export const MAX_COMMIT_PAGES = 3;

type ListedCommit = Awaited<ReturnType<Octokit['rest']['repos']['listCommits']>>['data'][number];

const commitItem = (c: ListedCommit): CommitItem => ({
  sha: c.sha,
  message: c.commit.message,
  author: c.author?.login ?? c.commit.author?.name ?? 'unknown',
  date: c.commit.committer?.date ?? c.commit.author?.date,
  url: c.html_url,
});

/**
 * The newest commits under `path` in the GitOps repository, page by page until `enough` says the
 * history read so far answers the question (each model's previous champion is in it), the history
 * ends, or MAX_COMMIT_PAGES were read. When a later page fails, the newer pages read are kept.
 * `tokenInput` names the input the token came from, for the message when GitHub refuses it.
 */
export async function gitopsCommits(
  octokit: Octokit,
  repo: Repo,
  path: string,
  {
    ref,
    enough = () => true,
    tokenInput,
  }: { ref?: string; enough?: (items: CommitItem[]) => boolean; tokenInput: TokenInput },
): Promise<CommitContext> {
  const items: CommitItem[] = [];
  try {
    for (let page = 1; page <= MAX_COMMIT_PAGES; page++) {
      const { data } = await octokit.rest.repos.listCommits({
        ...repo,
        path,
        per_page: COMMITS_PER_PAGE,
        page,
        ...(ref ? { sha: ref } : {}),
      });
      items.push(...data.map(commitItem));
      if (data.length < COMMITS_PER_PAGE || enough(items)) break;
    }
    return { path, items };
  } catch (err) {
    const full = `${repo.owner}/${repo.repo}`;
    const hint = isRefusal((err as { status?: number }).status ?? 0)
      ? `; ${tokenNeeds(tokenInput, 'contents: read', full)}`
      : '';
    if (items.length > 0) return { path, items };
    return { path, items: [], error: `${errorMessage(err)}${hint}` };
  }
}

/**
 * Links each deployed model's open rollback PR in the GitOps repository (one API call), best
 * effort: when none is found, or the list cannot be read (a token without pull-requests: read),
 * a line says so and the issue is opened all the same.
 */
export async function attachRollbacks(
  octokit: Octokit,
  repo: Repo,
  models: ModelContext[],
  tokenInput: TokenInput,
): Promise<void> {
  const deployed = models.filter((m) => m.deploy);
  if (deployed.length === 0) return;
  const pulls = await openPulls(octokit, repo);
  for (const { deploy } of deployed) {
    if (!Array.isArray(pulls)) {
      deploy!.rollbackNote = pullsNote(repo, pulls, tokenInput);
      continue;
    }
    const pr = rollbackPullFor(pulls, deploy!.commit);
    if (pr) deploy!.rollback = { number: pr.number, url: pr.url, title: pr.title };
    else
      deploy!.rollbackNote = `no open rollback pull request for ${deploy!.commit.sha.slice(0, 7)} in ${repo.owner}/${repo.repo}`;
  }
}
