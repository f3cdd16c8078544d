/**
 * Rollback and deployed modes: both read the deploy commits' trailers (history.ts, on the reading
 * alert-to-issue shares in shared/deploys.ts) from a clone with history. Rollback opens a pull
 * request that puts back an earlier deploy's digest, with the same trailers plus Rollback-Of, tells
 * the story in the PR body and links it in the alert's issue.
 * Deployed reads what HEAD deploys (deployed.yml waits for ArgoCD on it, then moves champion).
 */
import * as core from '@actions/core';
import { errorMessage } from '../shared/errors.js';
import type { Octokit } from '../shared/github.js';
import { formatImageRef } from '../shared/image-ref.js';
import { trustedAuthor, upsertComment } from '../shared/sticky-comment.js';
import { bump, checkout, type BumpResult, type Checkout } from './bump.js';
import type { Location } from './edit/index.js';
import { editTree } from './files.js';
import type { Git } from './git.js';
import { choose, deploysImage, NO_DEPLOY, readDeploys, type Deploy } from './history.js';
import type { HistoryInputs, Inputs } from './inputs.js';

export interface HistoryResult {
  /** What HEAD deploys (in rollback mode: what the PR rolls back). */
  current: Deploy;
  /** Rollback mode: what the PR puts back. */
  target?: Deploy;
  model: string;
  environment: string;
  /** Markdown telling what was found (and done), for the PR body and the job summary. */
  story: string;
}

const short = (sha: string): string => sha.slice(0, 12);

/**
 * The trailers must describe HEAD: a hand edit after the deploy commit would make them lie. Every
 * place the files name the image must hold the deploy's digest; the work tree is left at `tip`.
 */
async function checkHead(git: Git, inputs: Inputs, cloned: Checkout, d: Deploy): Promise<Location[]> {
  const target = { name: inputs.image, digest: d.digest };
  const tree = await editTree(git.dir, cloned.files, {
    image: inputs.image,
    target,
    helmPaths: inputs.helmPaths,
  });
  await git.resetHard(cloned.firstTip);
  if (tree.locations.length === 0 || tree.locations.some((l) => l.before.digest !== d.digest)) {
    throw new Error(
      `HEAD no longer holds ${d.image}, which ${short(d.sha)} deployed: the files changed since without deploy trailers`,
    );
  }
  return tree.locations;
}

function checkImage(d: Deploy, image: string): void {
  if (!deploysImage(d, image)) throw new Error(`${d.sha} deployed ${d.name}, not the image ${image}`);
}

/** The rollback commit's message: the bump fills {image}/{old}/{new}; the trailers say what it deploys. */
export function commitMessage({
  current,
  target,
  model,
  environment,
}: Required<Omit<HistoryResult, 'story'>>): string {
  return [
    `rollback${environment ? `(${environment})` : ''}: ${model} v${current.version} -> v${target.version}`,
    '',
    `Puts back {image}@{new} (v${target.version}, deployed by ${target.sha}) in place of {old} (v${current.version}, deployed by ${current.sha}).`,
    '',
    ...(model ? [`Model: ${model}`] : []),
    `Model-Version: ${target.version}`,
    `Image: ${target.image}`,
    ...(environment ? [`Environment: ${environment}`] : []),
    ...(target.runId ? [`Run-Id: ${target.runId}`] : []),
    `Rollback-Of: ${current.sha}`,
  ].join('\n');
}

interface Links {
  commit: (sha: string) => string;
  version: (v: string) => string;
}

function linksFor(inputs: Inputs, model: string): Links {
  const repo = inputs.repo ? `${inputs.repo.owner}/${inputs.repo.repo}` : undefined;
  const tracking = inputs.history?.trackingUri;
  return {
    commit: (sha) =>
      repo ? `[\`${short(sha)}\`](${inputs.serverUrl}/${repo}/commit/${sha})` : `\`${short(sha)}\``,
    version: (v) =>
      tracking
        ? `[v${v}](${tracking}/#/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(v)})`
        : `v${v}`,
  };
}

function rollbackStory(r: Required<Omit<HistoryResult, 'story'>>, links: Links, issue?: number): string {
  const { current, target } = r;
  return [
    `### Rollback of ${r.model || 'the model'}${r.environment ? ` in ${r.environment}` : ''}: v${current.version} -> v${target.version}`,
    '',
    '| | version | image | GitOps commit |',
    '| --- | --- | --- | --- |',
    `| deployed now | ${links.version(current.version)} | \`${current.image}\` | ${links.commit(current.sha)} |`,
    `| restored | ${links.version(target.version)} | \`${target.image}\` | ${links.commit(target.sha)} |`,
    '',
    `Merging this deploys v${target.version} again; the commit's trailers (\`Rollback-Of: ${current.sha}\`) let the next run find it.${issue ? ` For #${issue}.` : ''}`,
  ].join('\n');
}

/** The comment on the alert's issue, one per pull request (a re-run edits it). */
async function linkInIssue(
  octokit: Octokit,
  issue: NonNullable<HistoryInputs['issue']>,
  r: Required<Omit<HistoryResult, 'story'>>,
  inputs: Inputs,
  url: string,
): Promise<string> {
  const repo = inputs.repo ? `${inputs.repo.owner}/${inputs.repo.repo}` : '';
  const body = `Rollback pull request: ${url} puts back ${r.model} v${r.target.version}${r.environment ? ` in ${r.environment}` : ''} (v${r.current.version} was deployed by ${repo}@${r.current.sha}).`;
  const where = { owner: issue.owner, repo: issue.repo, issue_number: issue.number };
  const comment = await upsertComment(octokit, where, `gitops-bump-rollback ${url}`, body, trustedAuthor);
  core.info(`${comment.created ? 'Linked' : 'Re-linked'} ${url} in issue #${issue.number}: ${comment.url}`);
  return comment.url;
}

/**
 * The link is a courtesy: the rollback PR is what the run makes, so a refused comment (a token
 * without issues: write, an issue deleted or locked) warns and the outputs and summary still follow.
 */
async function tryLinkInIssue(
  issueOctokit: (token: string) => Promise<Octokit>,
  issue: NonNullable<HistoryInputs['issue']>,
  r: Required<Omit<HistoryResult, 'story'>>,
  inputs: Inputs,
  url: string,
): Promise<void> {
  try {
    await linkInIssue(await issueOctokit(issue.token), issue, r, inputs, url);
  } catch (err) {
    const status = (err as { status?: number }).status;
    core.warning(
      `could not link ${url} in issue #${issue.number} of ${issue.owner}/${issue.repo} (${status ? `HTTP ${status}: ` : ''}${errorMessage(err)}): check the inputs 'issue' and 'issue-token' (the token needs issues: write there; the issue must exist and not be locked)`,
    );
  }
}

export interface HistoryRun {
  bumped: BumpResult;
  history: HistoryResult;
}

export async function rollback(
  git: Git,
  inputs: Inputs,
  octokit: Octokit | undefined,
  issueOctokit: (token: string) => Promise<Octokit>,
): Promise<HistoryRun> {
  const h = inputs.history ?? {};
  const cloned = await checkout(git, inputs, { history: true });
  const { current, target } = choose(await readDeploys(git, cloned.files, h), h);
  await checkHead(git, inputs, cloned, current);
  checkImage(target, inputs.image);
  const r = {
    current,
    target,
    model: h.model || current.model,
    environment: h.environment || current.environment,
  };
  core.info(
    `${r.model} in ${r.environment || 'the files'}: ${short(current.sha)} deploys v${current.version}; rolling back to v${target.version} (${target.image}, deployed by ${short(target.sha)})`,
  );
  const story = rollbackStory(r, linksFor(inputs, r.model), h.issue?.number);
  const bumped = await bump(
    git,
    {
      ...inputs,
      mode: 'pull-request',
      target: { name: inputs.image, digest: target.digest },
      commitMessage: commitMessage(r),
    },
    octokit,
    { cloned, bodyTop: story, kind: 'rollback' },
  );
  if (h.issue && bumped.pullRequestUrl)
    await tryLinkInIssue(issueOctokit, h.issue, r, inputs, bumped.pullRequestUrl);
  return { bumped, history: { ...r, story } };
}

/** What HEAD deploys: its newest deploy commit, checked against the files. Commits nothing. */
export async function deployed(git: Git, inputs: Inputs): Promise<HistoryRun> {
  const h = inputs.history ?? {};
  const cloned = await checkout(git, inputs, { history: true });
  const [current] = await readDeploys(git, cloned.files, h);
  if (!current) throw new Error(NO_DEPLOY);
  checkImage(current, inputs.image);
  const locations = await checkHead(git, inputs, cloned, current);
  const model = h.model || current.model;
  const links = linksFor(inputs, model);
  const story = `${cloned.base} deploys ${model || 'the model'} ${links.version(current.version)} (\`${current.image}\`, deploy commit ${links.commit(current.sha)}${current.rollbackOf ? `, a rollback of ${links.commit(current.rollbackOf)}` : ''}).`;
  core.info(`HEAD deploys ${model} v${current.version} (${current.image}, commit ${short(current.sha)})`);
  const bumped: BumpResult = {
    changed: false,
    tip: cloned.firstTip,
    branch: cloned.base,
    changedFiles: [],
    locations,
    previousImage: formatImageRef(locations[0]!.before),
  };
  return { bumped, history: { current, model, environment: h.environment || current.environment, story } };
}
