/** The bump itself: clone, edit, and land the commit on the branch (push mode) or a PR branch. */
import * as core from '@actions/core';
import { InputError } from '../shared/errors.js';
import type { Octokit } from '../shared/github.js';
import { formatImageRef, versionOf } from '../shared/image-ref.js';
import type { Location } from './edit/index.js';
import { editTree, resolveFiles } from './files.js';
import type { Git } from './git.js';
import type { Inputs } from './inputs.js';
import { land, type EditResult } from './push.js';
import { branchFor, findOpenPullRequest, upsertPullRequest } from './pull-request.js';

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

export async function bump(git: Git, inputs: Inputs, octokit?: Octokit): Promise<BumpResult> {
  const base = await git.clone(inputs.branch);
  const firstTip = await git.head();
  const files = await resolveFiles(git, inputs.files);
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
  const previous = (locations: Location[]): string =>
    locations[0] ? formatImageRef(locations[0].before) : '';
  const commitUrl = (sha?: string): string | undefined =>
    sha && inputs.repo
      ? `${process.env.GITHUB_SERVER_URL ?? 'https://github.com'}/${inputs.repo.owner}/${inputs.repo.repo}/commit/${sha}`
      : undefined;

  if (inputs.mode === 'push') {
    const landed = await land({ git, target: base, initialTip: firstTip, refresh: refreshTo(base), edit });
    if (landed.sha) core.info(`Pushed ${landed.sha} to ${base}: ${landed.edit.message}`);
    else core.info(`${inputs.image} is already at ${newVersion} on ${base}; nothing to commit.`);
    return {
      changed: landed.sha !== undefined,
      sha: landed.sha,
      tip: landed.tip,
      branch: base,
      commitUrl: commitUrl(landed.sha),
      changedFiles: landed.edit.files,
      locations: landed.edit.locations,
      previousImage: previous(landed.edit.locations),
    };
  }

  if (!inputs.repo || !octokit) {
    throw new InputError(
      'repository',
      'owner/name in pull-request mode (the PR is opened through the API)',
      inputs.remoteUrl,
    );
  }
  const repo = inputs.repo;
  const prBranch = branchFor(base, inputs.image, files);
  // The base decides whether there is anything to propose, and what a rollback goes back to.
  const onBase = await edit();
  await git.resetHard(firstTip);
  let open = await findOpenPullRequest(octokit, repo, prBranch, base);
  if (!onBase.changed) {
    core.info(`${inputs.image} is already at ${newVersion} on ${base}; no pull request needed.`);
    return {
      changed: false,
      tip: firstTip,
      branch: base,
      changedFiles: [],
      locations: onBase.locations,
      previousImage: previous(onBase.locations),
      pullRequestUrl: open?.url,
    };
  }

  let stale: string | undefined;
  const refresh = async (): Promise<string> => {
    stale = undefined;
    const remote = await git.remoteHead(prBranch);
    if (remote && open) return refreshTo(prBranch)();
    const tip = await refreshTo(base)();
    if (remote) {
      // A branch left from a closed PR: build on the base, then join its history (no force-push).
      await git.fetchCommit(remote);
      stale = remote;
    }
    return tip;
  };
  const landed = await land({
    git,
    target: prBranch,
    refresh,
    edit,
    afterCommit: async (sha) =>
      stale ? git.adopt(stale, `Merge the previous ${prBranch} into the bump`) : sha,
  });
  const title = landed.edit.message.split('\n')[0]!;
  const body = [
    `Sets \`${inputs.image}\` to \`${newVersion}\` on \`${base}\` (was \`${previous(onBase.locations)}\`).`,
    '',
    '| file | where | before | after |',
    '| --- | --- | --- | --- |',
    ...onBase.locations
      .filter((l) => l.changed)
      .map(
        (l) =>
          `| \`${l.file}\` | ${l.where.replace(/\|/g, '\\|')} | \`${formatImageRef(l.before)}\` | \`${formatImageRef(l.after)}\` |`,
      ),
    '',
    `Opened by gitops-bump${process.env.GITHUB_RUN_ID ? ` in run ${process.env.GITHUB_RUN_ID}` : ''}; later bumps of this image update this PR.`,
  ].join('\n');
  if (landed.sha || !open) {
    const pr = await upsertPullRequest(octokit, repo, { branch: prBranch, base, title, body });
    open = pr;
    core.info(`${pr.created ? 'Opened' : 'Updated'} pull request #${pr.number}: ${pr.url}`);
  }
  return {
    changed: landed.sha !== undefined,
    sha: landed.sha,
    tip: landed.tip,
    branch: prBranch,
    commitUrl: commitUrl(landed.sha),
    pullRequestUrl: open?.url,
    changedFiles: landed.edit.files,
    locations: onBase.locations,
    previousImage: previous(onBase.locations),
  };
}
