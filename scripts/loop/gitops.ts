/**
 * The GitOps repository, locally: a bare origin seeded with platform/iris-classifier (what ArgoCD
 * syncs), hosted by a fake GitHub that sees the same git data (pull requests against its branches,
 * its history for alert-to-issue's gitops-path). Deploys are the bundled gitops-bump in push mode
 * with the trailers ml-pipeline.yml writes; the rollback is gitops-bump's rollback mode (what
 * rollback.yml runs: a pull request putting back the previous deploy's digest, read from those
 * trailers), merged through the fake's pulls/merge (a merge commit in the origin, as GitHub's
 * default method writes), and its deployed mode (deployed.yml's) says what the branch deploys
 * afterwards.
 */
import { execFileSync } from 'node:child_process';
import * as github from '@actions/github';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { addCommit, registerCommitHandlers } from '../../__tests__/helpers/fake-github/commits.js';
import { registerPullHandlers } from '../../__tests__/helpers/fake-github/pulls.js';
import type { FakeGitHub } from '../../__tests__/helpers/fake-github/server.js';
import { ROOT, runBundledAction, type ActionRun } from './actions.js';
import { MODEL_NAME, writeReport, type LoopContext } from './context.js';
import { IMAGE, type LocalImage } from './images.js';

export const ENVIRONMENT = 'prod';
/** The manifests ArgoCD syncs for prod, and the file gitops-bump edits. */
export const GITOPS_PATH = 'platform/iris-classifier/overlays/prod';
export const GITOPS_FILE = `${GITOPS_PATH}/kustomization.yaml`;
const BRANCH = 'main';
const AUTHOR = ['-c', 'user.name=mlops-demo', '-c', 'user.email=mlops-demo@example.invalid'];

export interface GitOps {
  /** The bare repository standing in for the GitHub repository's git data. */
  origin: string;
  /** owner/name on the fake host. */
  repository: string;
  host: FakeGitHub;
  token: string;
  /** Commits of `main` the host's history already has. */
  mirrored: Set<string>;
}

/** A deploy commit as its trailers say (what gitops-bump's rollback mode reads back, through actions/shared/deploys.ts). */
export interface Deploy {
  sha: string;
  version: string;
  image: LocalImage;
}

const git = (args: string[], cwd = ROOT): string =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The origin, seeded with platform/iris-classifier as this checkout has it, on `host`. */
export function startGitOps(ctx: LoopContext, host: FakeGitHub, repository: string, token: string): GitOps {
  const root = join(ctx.state, 'gitops');
  rmSync(root, { recursive: true, force: true });
  const seed = join(root, 'seed');
  const origin = join(root, 'origin.git');
  mkdirSync(join(seed, 'platform'), { recursive: true });
  cpSync(join(ROOT, 'platform', 'iris-classifier'), join(seed, 'platform', 'iris-classifier'), {
    recursive: true,
  });
  git(['init', '-q', '-b', BRANCH, seed]);
  git(['add', '-A'], seed);
  git([...AUTHOR, 'commit', '-q', '-m', 'iris-classifier: the prod overlay'], seed);
  git(['init', '-q', '--bare', '-b', BRANCH, origin]);
  git(['push', '-q', origin, `${BRANCH}:${BRANCH}`], seed);
  rmSync(seed, { recursive: true, force: true });
  host.createRepo(repository);
  registerPullHandlers(host, { gitDir: origin });
  registerCommitHandlers(host);
  const gitops = { origin, repository, host, token, mirrored: new Set<string>() };
  mirror(gitops);
  ctx.stages.link('GitOps origin', `${origin} (${repository} on the fake GitHub, branch ${BRANCH})`);
  return gitops;
}

/** The host's history follows the origin's `main` (alert-to-issue lists it through the API). */
function mirror(g: GitOps): void {
  const [owner, name] = g.repository.split('/') as [string, string];
  const gitDir = ['--git-dir', g.origin];
  for (const sha of git([...gitDir, 'rev-list', '--reverse', BRANCH]).split('\n')) {
    if (g.mirrored.has(sha)) continue;
    const [message, date, files] = [
      git([...gitDir, 'log', '-1', '--format=%B', sha]),
      git([...gitDir, 'log', '-1', '--format=%cI', sha]),
      git([...gitDir, 'diff-tree', '--root', '--no-commit-id', '--name-only', '-r', sha]),
    ];
    addCommit(g.host, owner, name, {
      sha,
      message,
      date,
      files: files.split('\n'),
      login: 'github-actions[bot]',
    });
    g.mirrored.add(sha);
  }
}

/** The digest `main` pins for the image: what ArgoCD would deploy now. */
export function pinnedDigest(g: GitOps): string {
  const text = git(['--git-dir', g.origin, 'show', `${BRANCH}:${GITOPS_FILE}`]);
  const images = (parse(text) as { images?: { name: string; digest?: string }[] }).images ?? [];
  const digest = images.find((i) => i.name === IMAGE)?.digest;
  if (!digest) throw new Error(`${GITOPS_FILE} on ${BRANCH} pins no digest for ${IMAGE}`);
  return digest;
}

async function bump(ctx: LoopContext, g: GitOps, inputs: Record<string, string>): Promise<ActionRun> {
  const run = await runBundledAction(
    'gitops-bump',
    { repository: g.repository, token: g.token, files: GITOPS_FILE, image: IMAGE, timeout: '60s', ...inputs },
    // The clone URL is the origin; the API (pull requests, the issue comment) is the fake host's.
    {
      env: { GITHUB_API_URL: g.host.url, GITHUB_REPOSITORY: g.repository, MLOPS_GIT_REMOTE_URL: g.origin },
      print: ctx.detail,
    },
  );
  if (run.code !== 0 || (inputs.mode !== 'deployed' && !run.outputs['commit-sha']))
    throw new Error(`gitops-bump (${inputs.mode}) failed (exit ${run.code}): ${run.errors.join('; ')}`);
  return run;
}

/** ml-pipeline.yml's deploy job: the bump pushed to main, its trailers naming what it deploys. */
export async function deploy(ctx: LoopContext, g: GitOps, image: LocalImage): Promise<Deploy> {
  const version = image.labels['io.mlflow.model-version'];
  const message = [
    `deploy(${ENVIRONMENT}): ${MODEL_NAME} v${version} as {new}`,
    '',
    `Model: ${MODEL_NAME}`,
    `Model-Version: ${version}`,
    `Image: ${image.ref}`,
    `Environment: ${ENVIRONMENT}`,
    `Run-Id: ${image.labels['io.mlflow.run-id']}`,
  ].join('\n');
  const run = await bump(ctx, g, { digest: image.digest, mode: 'push', 'commit-message': message });
  writeReport(ctx, 'job summary', `gitops-bump-deploy-v${version}.md`, run.summary);
  mirror(g);
  const sha = run.outputs['commit-sha']!;
  ctx.stages.link('deploy commit', `${sha} on ${BRANCH}: ${MODEL_NAME} v${version} as ${image.digest}`);
  return { sha, version, image };
}

export interface RollbackPr {
  url: string;
  number: number;
  sha: string;
  branch: string;
  /** The deploy commits it rolls back and restores, as gitops-bump read them from the history. */
  rolledBack: string;
  restored: string;
}

/**
 * What rollback.yml runs: gitops-bump's rollback mode reads the deploy commits' trailers, opens
 * the pull request putting the previous version's digest back, and (with `issue`, when the issues
 * live on the same host) comments it on the alert's issue.
 */
export async function openRollbackPr(
  ctx: LoopContext,
  g: GitOps,
  opts: { trackingUri: string; issue?: number },
): Promise<RollbackPr> {
  const issue: Record<string, string> = opts.issue
    ? { issue: String(opts.issue), 'issue-token': g.token }
    : {};
  const run = await bump(ctx, g, {
    mode: 'rollback',
    'registered-model': MODEL_NAME,
    environment: ENVIRONMENT,
    'tracking-uri': opts.trackingUri,
    ...issue,
  });
  writeReport(ctx, 'job summary', 'gitops-bump-rollback.md', run.summary);
  const o = run.outputs;
  const url = o['pull-request-url'] ?? '';
  const number = Number(/\/pull\/(\d+)$/.exec(url)?.[1]);
  const pr = g.host.state.repo(...(g.repository.split('/') as [string, string]))?.pulls.get(number);
  if (!pr)
    throw new Error(`gitops-bump reported the pull request '${url}', which the fake GitHub does not have`);
  ctx.stages.link('rollback PR', `${url}  ${pr.title}`);
  ctx.stages.link(
    'restores',
    `v${o['restored-version']} (${o['restored-image']}, deployed by ${o['restored-commit']})`,
  );
  return {
    url,
    number,
    sha: o['commit-sha']!,
    branch: pr.head.ref,
    rolledBack: o['deployed-commit'] ?? '',
    restored: o['restored-commit'] ?? '',
  };
}

/** What deployed.yml reads after a merge: the version `main`'s newest deploy commit deploys. */
export async function deployedNow(ctx: LoopContext, g: GitOps): Promise<{ version: string; image: string }> {
  const run = await bump(ctx, g, {
    mode: 'deployed',
    'registered-model': MODEL_NAME,
    environment: ENVIRONMENT,
  });
  const o = run.outputs;
  ctx.stages.link(
    'deployed',
    `${MODEL_NAME} v${o['deployed-version']} (${o['deployed-image']}, commit ${o['deployed-commit']})`,
  );
  return { version: o['deployed-version'] ?? '', image: o['deployed-image'] ?? '' };
}

/**
 * The merge, through the API as a user's merge button or `gh pr merge` does: `sha` makes GitHub
 * refuse (409) if the branch moved since the PR was read, and GitHub's default method writes a
 * merge commit on `main` (never a fast-forward), whose sha the answer carries.
 */
export async function mergeRollbackPr(ctx: LoopContext, g: GitOps, pr: RollbackPr): Promise<string> {
  const [owner, repo] = g.repository.split('/') as [string, string];
  const octokit = github.getOctokit(g.token, { baseUrl: g.host.url });
  const { data } = await octokit.rest.pulls.merge({
    owner,
    repo,
    pull_number: pr.number,
    sha: pr.sha,
    merge_method: 'merge',
  });
  const main = git(['--git-dir', g.origin, 'rev-parse', BRANCH]);
  if (!data.merged || data.sha !== main)
    throw new Error(`${pr.url}: GitHub answered ${JSON.stringify(data)}, but ${BRANCH} is at ${main}`);
  mirror(g);
  ctx.stages.link('merged', `${pr.url}: merge commit ${data.sha} on ${BRANCH}`);
  return data.sha;
}
