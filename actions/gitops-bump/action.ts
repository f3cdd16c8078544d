/**
 * gitops-bump's logic as a function of its inputs and of the clients it loads, so that tests can
 * call it in-process; main.ts only reads the inputs and hands the result to the runner.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '../shared/errors.js';
import type { Octokit } from '../shared/github.js';
import type { SyncResult, WaitOptions } from './argocd.js';
import { bump, type BumpResult } from './bump.js';
import { Git, killLiveGit } from './git.js';
import type { Inputs } from './inputs.js';
import { deployed, rollback, type HistoryResult } from './rollback.js';
import { renderSummary, shownRemote } from './summary.js';

/** The part of argocd.ts main uses (a fake can stand in). */
export interface ArgoCD {
  loadKubeConfig: (value: string | undefined) => KubeConfig;
  waitForSync: (options: WaitOptions) => Promise<SyncResult>;
}

export interface Deps {
  octokit: (token: string) => Promise<Octokit>;
  argocd: () => Promise<ArgoCD>;
}

// Both are loaded on demand: the Kubernetes client is most of the bundle, and push mode starts
// faster without Octokit.
export const defaultDeps: Deps = {
  octokit: async (token) => (await import('../shared/github.js')).createOctokit(token),
  argocd: async () => import('./argocd.js'),
};

export interface Outputs {
  changed: string;
  'commit-sha': string;
  'pull-request-url': string;
  'changed-files': string;
  'previous-image': string;
  'deployed-version': string;
  'deployed-image': string;
  'deployed-commit': string;
  'restored-version': string;
  'restored-image': string;
  'restored-commit': string;
  'rollback-of': string;
  'promoted-by': string;
}

export interface Result {
  outputs: Outputs;
  stepSummary: string;
  /** Set when the step must fail, after the outputs and summary are written. */
  failure?: string;
}

const outputsOf = (r: BumpResult, h?: HistoryResult): Outputs => ({
  changed: String(r.changed),
  'commit-sha': r.sha ?? '',
  'pull-request-url': r.pullRequestUrl ?? '',
  'changed-files': JSON.stringify(r.changedFiles),
  'previous-image': r.previousImage,
  'deployed-version': h?.current.version ?? '',
  'deployed-image': h?.current.image ?? '',
  'deployed-commit': h?.current.sha ?? '',
  'restored-version': h?.target?.version ?? '',
  'restored-image': h?.target?.image ?? '',
  'restored-commit': h?.target?.sha ?? '',
  // The Rollback-Of trailer: of the commit made (rollback), or of HEAD's deploy commit (deployed).
  'rollback-of': h ? (h.target ? h.current.sha : h.current.rollbackOf) : '',
  // Deployed mode: whether HEAD's deploy commit is promoted by ml-pipeline (deployed.yml then moves
  // only the environment's alias and leaves champion alone).
  'promoted-by': h && !h.target ? h.current.promotedBy : '',
});

/** The bump each mode makes; rollback and deployed modes also say what the history holds. */
async function land(
  git: Git,
  inputs: Inputs,
  deps: Deps,
): Promise<{ bumped: BumpResult; history?: HistoryResult }> {
  if (inputs.mode === 'deployed') return deployed(git, inputs);
  const octokit = inputs.mode !== 'push' && inputs.repo ? await deps.octokit(inputs.apiToken) : undefined;
  if (inputs.mode === 'rollback') return rollback(git, inputs, octokit, deps.octokit);
  return { bumped: await bump(git, inputs, octokit) };
}

/** Waits for ArgoCD to run the commit; nothing is deployed from a PR branch, so not in that mode. */
async function awaitSync(
  argocd: ArgoCD,
  kc: KubeConfig,
  inputs: Inputs,
  bumped: BumpResult,
  git: Git,
): Promise<SyncResult | undefined> {
  if (inputs.mode === 'pull-request' || inputs.mode === 'rollback') {
    core.warning(`wait-for-sync is skipped in ${inputs.mode} mode: nothing is deployed until the PR merges.`);
    return undefined;
  }
  // When nothing changed, the deployed revision to check is the tip we found already bumped.
  const revision = bumped.sha ?? bumped.tip;
  const sync = await argocd.waitForSync({
    kc,
    namespace: inputs.argocdNamespace,
    name: inputs.argocdApp!,
    revision,
    timeoutMs: inputs.timeoutMs,
    refresh: inputs.argocdRefresh,
    contains: (later) => git.contains(revision, later, bumped.branch),
  });
  core.info(sync.ok ? `ArgoCD synced ${revision.slice(0, 12)}: ${sync.last}` : sync.reason);
  return sync;
}

export async function main(inputs: Inputs, deps: Deps = defaultDeps): Promise<Result> {
  // A bad kubeconfig fails before anything is cloned or pushed.
  const argocd = inputs.waitForSync ? await deps.argocd() : undefined;
  const kc = argocd?.loadKubeConfig(inputs.kubeconfig);
  await mkdir(inputs.tempDir, { recursive: true });
  const dir = await mkdtemp(join(inputs.tempDir, 'gitops-bump-'));
  let git: Git | undefined;
  try {
    git = new Git(join(dir, 'repo'), {
      token: inputs.token,
      remoteUrl: inputs.remoteUrl,
      author: inputs.author,
      timeoutMs: inputs.timeoutMs,
    });
    const { bumped, history } = await land(git, inputs, deps);
    // The commit has landed: whatever the wait says, the outputs (previous-image for a rollback)
    // and the summary are still written.
    let sync: SyncResult | undefined;
    let failure: string | undefined;
    try {
      sync = argocd && kc ? await awaitSync(argocd, kc, inputs, bumped, git) : undefined;
      if (sync && !sync.ok) failure = `${sync.reason} (last status: ${sync.last})`;
    } catch (err) {
      failure = errorMessage(err);
    }
    return {
      outputs: outputsOf(bumped, history),
      stepSummary: renderSummary({
        image: inputs.image,
        story: history?.story,
        locations: bumped.locations,
        commitSha: bumped.sha,
        commitUrl: bumped.commitUrl,
        pullRequestUrl: bumped.pullRequestUrl,
        branch: bumped.branch,
        // Deployed mode never commits: "already at this image" would say nothing.
        changed: bumped.changed || inputs.mode === 'deployed',
        remote: inputs.repo ? undefined : shownRemote(inputs.remoteUrl),
        argocd: inputs.argocdApp
          ? { namespace: inputs.argocdNamespace, name: inputs.argocdApp, url: inputs.argocdUrl }
          : undefined,
        sync,
      }),
      failure,
    };
  } finally {
    // A check still running (a fetch for a revision ArgoCD reported, when a later event already
    // decided) would keep writing into the clone while it is removed (ENOTEMPTY).
    if (git) killLiveGit(git);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

export async function writeResult({ outputs, stepSummary, failure }: Result): Promise<void> {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value);
  await core.summary.addRaw(stepSummary, true).write();
  if (failure) throw new Error(failure);
}
