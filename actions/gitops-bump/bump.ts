/** The bump itself: clone, edit, and land the commit on the branch (push mode) or a PR branch. */
import * as core from '@actions/core';
import { InputError } from '../shared/errors.js';
import type { Octokit, Repo } from '../shared/github.js';
import { cell } from '../shared/markdown.js';
import { formatImageRef, versionOf } from '../shared/image-ref.js';
import type { Location } from './edit/index.js';
import { editTree, resolveFiles } from './files.js';
import type { Git } from './git.js';
import type { Inputs } from './inputs.js';
import { land, type EditResult, type Landed } from './push.js';
import {
  branchFor,
  findOpenPullRequest,
  isRollbackBody,
  upsertPullRequest,
  type PullKind,
} from './pull-request.js';

export interface BumpResult {
  changed: boolean;
  sha?: string;
  /** The tip the edit was checked against (the deployed revision when nothing changed). */
  tip: string;
  branch: string;
  pullRequestUrl?: string;
  commitUrl?: string;
  changedFiles: string[];
  locations: Location[];
  previousImage: string;
}

interface Edit extends EditResult {
  locations: Location[];
}

export function renderMessage(
  template: string,
  image: string,
  locations: Location[],
  newVersion: string,
  files: string[],
): string {
  const old = [
    ...new Set(locations.filter((l) => l.changed).map((l) => versionOf(l.before) || '(none)')),
  ].join(', ');
  return template
    .replace(/\{image\}/g, image)
    .replace(/\{old\}/g, old || '(none)')
    .replace(/\{new\}/g, newVersion)
    .replace(/\{files\}/g, files.join(', '));
}

/** What both modes share: the clone, the files, and the edit that can be re-applied on any tip. */
interface Session {
  git: Git;
  inputs: Inputs;
  base: string;
  firstTip: string;
  files: string[];
  newVersion: string;
  edit: () => Promise<Edit>;
  /** Moves the work tree to the branch's current tip; returns it. */
  refreshTo: (branch: string) => () => Promise<string>;
}

/** The clone and the files the `files` input names in it. */
export interface Checkout {
  base: string;
  firstTip: string;
  files: string[];
}

/** Clones the branch (with its history when the deploy commits are to be read) and resolves `files`. */
export async function checkout(git: Git, inputs: Inputs, { history = false } = {}): Promise<Checkout> {
  const base = await git.clone(inputs.branch, { history });
  const firstTip = await git.head();
  return { base, firstTip, files: await resolveFiles(git, inputs.files) };
}

function start(git: Git, inputs: Inputs, { base, firstTip, files }: Checkout): Session {
  const options = { image: inputs.image, target: inputs.target, helmPaths: inputs.helmPaths };
  const newVersion = versionOf(inputs.target);
  const edit = async (): Promise<Edit> => {
    const tree = await editTree(git.dir, files, options);
    if (tree.locations.length === 0) {
      throw new Error(
        `image '${inputs.image}' is not referenced in ${files.join(', ')} (looked at kustomize images, Helm values at ${inputs.helmPaths.map((p) => p.join('.')).join(', ')} (input 'helm-key-path'), and workload containers)`,
      );
    }
    return {
      changed: tree.changedFiles.length > 0,
      files: tree.changedFiles,
      locations: tree.locations,
      message: renderMessage(
        inputs.commitMessage,
        inputs.image,
        tree.locations,
        newVersion,
        tree.changedFiles,
      ),
    };
  };
  const refreshTo = (branch: string) => async (): Promise<string> => {
    const tip = await git.fetch(branch);
    await git.resetHard(tip);
    return tip;
  };
  return { git, inputs, base, firstTip, files, newVersion, edit, refreshTo };
}

const previous = (locations: Location[]): string => (locations[0] ? formatImageRef(locations[0].before) : '');

const commitUrl = (inputs: Inputs, sha?: string): string | undefined =>
  sha && inputs.repo
    ? `${inputs.serverUrl}/${inputs.repo.owner}/${inputs.repo.repo}/commit/${sha}`
    : undefined;

/** The result of a landing on `branch`; `locations` as found on the branch the change is about. */
function landedResult(
  inputs: Inputs,
  landed: Landed<Edit>,
  branch: string,
  locations: Location[],
): BumpResult {
  return {
    changed: landed.sha !== undefined,
    sha: landed.sha,
    tip: landed.tip,
    branch,
    commitUrl: commitUrl(inputs, landed.sha),
    changedFiles: landed.edit.files,
    locations,
    previousImage: previous(locations),
  };
}

async function bumpByPush(s: Session): Promise<BumpResult> {
  const { git, inputs, base } = s;
  const landed = await land({
    git,
    target: base,
    initialTip: s.firstTip,
    refresh: s.refreshTo(base),
    edit: s.edit,
  });
  if (landed.sha) core.info(`Pushed ${landed.sha} to ${base}: ${landed.edit.message}`);
  else core.info(`${inputs.image} is already at ${s.newVersion} on ${base}; nothing to commit.`);
  return landedResult(inputs, landed, base, landed.edit.locations);
}

function pullRequestBody(s: Session, onBase: Edit, { bodyTop: top, kind }: BumpOptions): string {
  const { inputs } = s;
  return [
    ...(top ? [top, ''] : []),
    `Sets \`${inputs.image}\` to \`${s.newVersion}\` on \`${s.base}\` (was \`${previous(onBase.locations)}\`).`,
    '',
    '| file | where | before | after |',
    '| --- | --- | --- | --- |',
    ...onBase.locations
      .filter((l) => l.changed)
      .map(
        (l) =>
          `| \`${l.file}\` | ${cell(l.where)} | \`${formatImageRef(l.before)}\` | \`${formatImageRef(l.after)}\` |`,
      ),
    '',
    `Opened by gitops-bump${inputs.runId ? ` in run ${inputs.runId}` : ''}; ${kind === 'rollback' ? 'bumps of this image open their own PR' : 'later bumps of this image update this PR'}.`,
  ].join('\n');
}

/**
 * Commits on the PR branch: on top of the open PR's branch, or fresh from the base. A branch left
 * from a closed PR is joined into the new commit's history rather than force-pushed over.
 */
function landOnPullBranch(s: Session, prBranch: string, hasOpen: boolean): Promise<Landed<Edit>> {
  const { git } = s;
  let stale: string | undefined;
  const refresh = async (): Promise<string> => {
    stale = undefined;
    const remote = await git.remoteHead(prBranch);
    if (remote && hasOpen) return s.refreshTo(prBranch)();
    const tip = await s.refreshTo(s.base)();
    if (remote) {
      await git.fetchCommit(remote);
      stale = remote;
    }
    return tip;
  };
  return land({
    git,
    target: prBranch,
    refresh,
    edit: s.edit,
    afterCommit: async (sha) =>
      stale ? git.adopt(stale, `Merge the previous ${prBranch} into the bump`) : sha,
  });
}

/** The open PR of the branch; a bump refuses one that an earlier release's rollback opened there. */
async function openPullOf(octokit: Octokit, repo: Repo, prBranch: string, base: string, kind?: PullKind) {
  const open = await findOpenPullRequest(octokit, repo, prBranch, base);
  if (open && kind !== 'rollback' && isRollbackBody(open.body)) {
    throw new Error(
      `pull request #${open.number} (${open.url}) on ${prBranch} is a rollback, opened before rollbacks got branches of their own: merge or close it, then bump again`,
    );
  }
  return open && { number: open.number, url: open.url };
}

async function bumpByPullRequest(
  s: Session,
  octokit: Octokit | undefined,
  opts: BumpOptions,
): Promise<BumpResult> {
  const { git, inputs, base } = s;
  if (!inputs.repo || !octokit) {
    throw new InputError(
      'repository',
      'owner/name in pull-request mode (the PR is opened through the API)',
      inputs.remoteUrl,
    );
  }
  const repo = inputs.repo;
  const prBranch = branchFor(base, inputs.image, s.files, opts.kind);
  // The base decides whether there is anything to propose, and what a rollback goes back to.
  const onBase = await s.edit();
  await git.resetHard(s.firstTip);
  let open = await openPullOf(octokit, repo, prBranch, base, opts.kind);
  const common = { locations: onBase.locations, previousImage: previous(onBase.locations) };
  if (!onBase.changed) {
    core.info(`${inputs.image} is already at ${s.newVersion} on ${base}; no pull request needed.`);
    return {
      changed: false,
      tip: s.firstTip,
      branch: base,
      changedFiles: [],
      pullRequestUrl: open?.url,
      ...common,
    };
  }
  const landed = await landOnPullBranch(s, prBranch, open !== undefined);
  // A re-run of a rollback finds its commit on the open PR's branch already; the PR's title and
  // body (the story, the issue it is for, the links) are still rewritten as a later bump's are.
  if (landed.sha || !open || opts.bodyTop !== undefined) {
    // With no new commit, the PR branch's edit changed nothing: the base's says what the PR does.
    const title = (landed.sha ? landed.edit : onBase).message.split('\n')[0]!;
    const body = pullRequestBody(s, onBase, opts);
    const pr = await upsertPullRequest(octokit, repo, { branch: prBranch, base, title, body });
    open = pr;
    core.info(`${pr.created ? 'Opened' : 'Updated'} pull request #${pr.number}: ${pr.url}`);
  }
  return { ...landedResult(inputs, landed, prBranch, onBase.locations), pullRequestUrl: open?.url };
}

export interface BumpOptions {
  /** A clone made already (rollback mode reads the history first). */
  cloned?: Checkout;
  /** Markdown put above the pull request's own description (a rollback's story). */
  bodyTop?: string;
  /** Rollback mode's PRs are on branches of their own (pull-request.ts). */
  kind?: PullKind;
}

export async function bump(
  git: Git,
  inputs: Inputs,
  octokit?: Octokit,
  { cloned, ...opts }: BumpOptions = {},
): Promise<BumpResult> {
  const session = start(git, inputs, cloned ?? (await checkout(git, inputs)));
  return inputs.mode === 'push' ? bumpByPush(session) : bumpByPullRequest(session, octokit, opts);
}
