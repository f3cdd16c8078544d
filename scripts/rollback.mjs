#!/usr/bin/env node
// The rollback steps of .github/workflows/rollback.yml, with Node's built-ins only (the suite's
// checkout has no node_modules). Git is the source of truth: every deploy commit of ml-pipeline.yml
// carries trailers (Model, Model-Version, Image, Environment, Run-Id), so what runs now and what
// ran before are read from the GitOps repository's history, not from MLflow's aliases.
//
//   node scripts/rollback.mjs plan      clone the GitOps branch, find the deploy commit HEAD runs and
//                                       the one to go back to; writes outputs and the commit message
//   node scripts/rollback.mjs describe  put the rollback's story at the top of the pull request body
//   node scripts/rollback.mjs link      comment the pull request on the alert's issue
//   node scripts/rollback.mjs current   what HEAD deploys (deployed.yml moves `champion` to it)
//
// Everything comes from the environment (the workflow passes inputs through `env:`, never into the
// script text); the token only ever travels in an http.extraheader given through GIT_CONFIG_*.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class RollbackError extends Error {}

const env = (name, fallback = '') => (process.env[name] ?? '').trim() || fallback;

/** Files as gitops-bump takes them (one per line or comma-separated, globs allowed) as pathspecs. */
export const pathspecs = (files) =>
  files
    .split(/[\n,]/)
    .map((f) => f.trim())
    .filter(Boolean)
    .map((f) => `:(glob)${f}`);

function git(gitDir, args, extraEnv = {}) {
  return execFileSync('git', ['--git-dir', gitDir, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...extraEnv },
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** The token as git's Authorization header, through the environment only (never argv or a file). */
function authEnv(token) {
  if (!token) return {};
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraheader',
    GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${basic}`,
  };
}

/** A bare clone of the branch with its whole history (the trailers are in the commit messages). */
export function cloneGitops({ repository, branch, token, remoteUrl, serverUrl }) {
  const url = remoteUrl || `${serverUrl.replace(/\/$/, '')}/${repository}.git`;
  const dir = join(mkdtempSync(join(env('RUNNER_TEMP', tmpdir()), 'rollback-')), 'gitops.git');
  const args = ['clone', '--quiet', '--bare', '--single-branch', ...(branch ? ['--branch', branch] : [])];
  try {
    execFileSync('git', [...args, url, dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...authEnv(token) },
    });
  } catch (err) {
    const why = String(err.stderr ?? err.message).trim();
    throw new RollbackError(`cannot clone ${repository}${branch ? ` branch ${branch}` : ''}: ${why}`);
  }
  return dir;
}

/** Trailers of one commit as git parses them, keys lower-cased, the first value of each key. */
export function parseTrailers(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m && !(m[1].toLowerCase() in out)) out[m[1].toLowerCase()] = m[2].trim();
  }
  return out;
}

/** Commits touching the files on HEAD, newest first, each with its trailers. */
export function history(gitDir, specs) {
  const out = git(gitDir, ['log', '--format=%H%x1f%(trailers:only,unfold)%x1e', 'HEAD', '--', ...specs]);
  return out
    .split('\x1e')
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r) => {
      const [sha, trailers = ''] = r.split('\x1f');
      return { sha: sha.trim(), trailers: parseTrailers(trailers) };
    });
}

const digestOf = (image) => /@([a-z0-9]+:[a-f0-9]+)$/.exec(image ?? '')?.[1] ?? '';

/** The deploy commits of this model to this environment (a trailer that is absent does not exclude). */
export function deploys(commits, { model, environment }) {
  return commits
    .filter((c) => c.trailers['model-version'] && digestOf(c.trailers.image))
    .filter((c) => !model || !c.trailers.model || c.trailers.model === model)
    .filter((c) => !environment || !c.trailers.environment || c.trailers.environment === environment)
    .map((c) => ({
      sha: c.sha,
      version: c.trailers['model-version'],
      image: c.trailers.image,
      digest: digestOf(c.trailers.image),
      runId: c.trailers['run-id'] ?? '',
      rollbackOf: c.trailers['rollback-of'] ?? '',
    }));
}

/**
 * The deploy HEAD runs (the newest deploy commit) and the one to restore: `toImage`'s or
 * `toVersion`'s newest earlier deploy, or by default the newest earlier deploy of another version
 * that no rollback has already undone.
 */
export function choose(list, { toVersion, toImage, model }) {
  const [current, ...earlier] = list;
  if (!current)
    throw new RollbackError('no deploy commit (one with Model-Version and Image trailers) touches the files');
  const undone = new Set(list.map((d) => d.rollbackOf).filter(Boolean));
  const isUndone = (d) => [...undone].some((u) => d.sha.startsWith(u) || u.startsWith(d.sha));
  const name = model || 'the model';
  let target;
  if (toImage) {
    target = list.find((d) => d.image === toImage || d.digest === digestOf(toImage));
    if (!target) throw new RollbackError(`no deploy commit deployed ${toImage}`);
  } else if (toVersion) {
    if (toVersion === current.version)
      throw new RollbackError(`${name} v${toVersion} is what ${current.sha.slice(0, 12)} deploys now`);
    target = earlier.find((d) => d.version === toVersion);
    if (!target) throw new RollbackError(`${name} v${toVersion} has no earlier deploy to roll back to`);
  } else {
    target = earlier.find((d) => d.version !== current.version && !isUndone(d));
    if (!target) {
      throw new RollbackError(
        `${name} v${current.version} (deployed by ${current.sha.slice(0, 12)}) has no earlier deploy of another version to roll back to`,
      );
    }
  }
  if (target.digest === current.digest)
    throw new RollbackError(`${target.image} is already what ${current.sha.slice(0, 12)} deploys`);
  return { current, target };
}

/** The rollback commit's message: gitops-bump fills {image}/{old}/{new}; the trailers say what it deploys. */
export function commitMessage({ current, target }, { model, environment }) {
  return [
    `rollback(${environment}): ${model} v${current.version} -> v${target.version}`,
    '',
    `Puts back {image}@{new} (v${target.version}, deployed by ${target.sha}) in place of {old} (v${current.version}, deployed by ${current.sha}).`,
    '',
    `Model: ${model}`,
    `Model-Version: ${target.version}`,
    `Image: ${target.image}`,
    `Environment: ${environment}`,
    ...(target.runId ? [`Run-Id: ${target.runId}`] : []),
    `Rollback-Of: ${current.sha}`,
  ].join('\n');
}

function setOutputs(outputs) {
  const file = env('GITHUB_OUTPUT');
  for (const [k, v] of Object.entries(outputs)) {
    const text = String(v);
    if (!file) console.log(`${k}=${text}`);
    else if (!text.includes('\n')) appendFileSync(file, `${k}=${text}\n`);
    else {
      const eof = `EOF_${Math.random().toString(36).slice(2)}`;
      appendFileSync(file, `${k}<<${eof}\n${text}\n${eof}\n`);
    }
  }
}

/** The deploy commits of the files on the GitOps branch, newest first, from a fresh bare clone. */
function readDeploys() {
  const specs = pathspecs(env('FILES'));
  if (specs.length === 0) throw new RollbackError('gitops-files is empty');
  const gitDir = cloneGitops({
    repository: env('GITOPS_REPOSITORY'),
    branch: env('GITOPS_BRANCH'),
    token: env('GITOPS_TOKEN'),
    remoteUrl: env('MLOPS_GIT_REMOTE_URL'),
    serverUrl: env('GITHUB_SERVER_URL', 'https://github.com'),
  });
  const list = deploys(history(gitDir, specs), { model: env('MODEL'), environment: env('ENVIRONMENT') });
  return { gitDir, specs, list };
}

/** The trailers must describe HEAD: a hand edit after the deploy commit would make them lie. */
function checkHead(gitDir, specs, current) {
  try {
    git(gitDir, ['grep', '-q', '-F', current.digest, 'HEAD', '--', ...specs]);
  } catch {
    throw new RollbackError(
      `HEAD no longer holds ${current.image}, which ${current.sha.slice(0, 12)} deployed: the files changed since without deploy trailers`,
    );
  }
}

export function plan() {
  const model = env('MODEL');
  const environment = env('ENVIRONMENT');
  const image = env('IMAGE');
  // Checked before anything is opened: the number goes into the PR body and the comment's URL.
  if (!/^\d*$/.test(env('ISSUE')))
    throw new RollbackError(`issue must be an issue number, not '${env('ISSUE')}'`);
  const { gitDir, specs, list } = readDeploys();
  const chosen = choose(list, { toVersion: env('TO_VERSION'), toImage: env('TO_IMAGE'), model });
  const { current, target } = chosen;
  checkHead(gitDir, specs, current);
  const name = target.image.slice(0, target.image.length - target.digest.length - 1);
  if (image && name !== image)
    throw new RollbackError(`${target.sha} deployed ${name}, not the image ${image}`);
  setOutputs({
    'current-sha': current.sha,
    'current-version': current.version,
    'current-image': current.image,
    'target-sha': target.sha,
    'target-version': target.version,
    'target-image': target.image,
    'target-digest': target.digest,
    'commit-message': commitMessage(chosen, { model, environment }),
  });
  console.log(
    `${model} in ${environment}: ${current.sha.slice(0, 12)} deploys v${current.version}; rolling back to v${target.version} (${target.image}, deployed by ${target.sha.slice(0, 12)})`,
  );
}

/** What HEAD deploys: its newest deploy commit, checked against the files (deployed.yml). */
export function current() {
  const { gitDir, specs, list } = readDeploys();
  const [deployed] = list;
  if (!deployed)
    throw new RollbackError('no deploy commit (one with Model-Version and Image trailers) touches the files');
  checkHead(gitDir, specs, deployed);
  setOutputs({
    'commit-sha': deployed.sha,
    'model-version': deployed.version,
    'image-ref': deployed.image,
    'image-digest': deployed.digest,
    'rollback-of': deployed.rollbackOf,
  });
  console.log(
    `HEAD deploys ${env('MODEL')} v${deployed.version} (${deployed.image}, commit ${deployed.sha.slice(0, 12)})`,
  );
}

async function api(method, path, body) {
  const res = await fetch(`${env('GITHUB_API_URL', 'https://api.github.com').replace(/\/$/, '')}${path}`, {
    method,
    headers: {
      accept: 'application/vnd.github+json',
      authorization: `Bearer ${env('GITHUB_TOKEN')}`,
      'x-github-api-version': '2022-11-28',
      ...(body && { 'content-type': 'application/json' }),
    },
    body: body && JSON.stringify(body),
  });
  if (!res.ok)
    throw new RollbackError(`${method} ${path}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  return res.json();
}

const START = '<!-- rollback -->';
const END = '<!-- /rollback -->';

/** The rollback's section of the PR body, replacing an earlier one (a re-run updates it in place). */
export function bodyWith(
  existing,
  { server, repository, model, environment, current, target, issue, tracking },
) {
  const link = (sha) => `[\`${sha.slice(0, 12)}\`](${server}/${repository}/commit/${sha})`;
  const version = (v) =>
    tracking
      ? `[v${v}](${tracking.replace(/\/$/, '')}/#/models/${encodeURIComponent(model)}/versions/${v})`
      : `v${v}`;
  const section = [
    START,
    `### Rollback of ${model} in ${environment}: v${current.version} -> v${target.version}`,
    '',
    '| | version | image | GitOps commit |',
    '| --- | --- | --- | --- |',
    `| deployed now | ${version(current.version)} | \`${current.image}\` | ${link(current.sha)} |`,
    `| restored | ${version(target.version)} | \`${target.image}\` | ${link(target.sha)} |`,
    '',
    `Merging this deploys v${target.version} again; the commit's trailers (\`Rollback-Of: ${current.sha}\`) let the next run find it.${issue ? ` For #${issue}.` : ''}`,
    END,
  ].join('\n');
  const rest = existing.includes(START)
    ? existing.slice(existing.indexOf(END) + END.length)
    : `\n\n${existing}`;
  return `${section}${rest}`;
}

const prNumber = (url) => {
  const n = /\/pull\/(\d+)$/.exec(url)?.[1];
  if (!n) throw new RollbackError(`not a pull request URL: '${url}'`);
  return n;
};

const fromEnv = (prefix) => ({
  sha: env(`${prefix}_SHA`),
  version: env(`${prefix}_VERSION`),
  image: env(`${prefix}_IMAGE`),
});

export async function describe() {
  const repository = env('GITOPS_REPOSITORY');
  const number = prNumber(env('PR_URL'));
  // The issues API serves every PR too (its body included), with pull-requests: read.
  const pr = await api('GET', `/repos/${repository}/issues/${number}`);
  const body = bodyWith(pr.body ?? '', {
    server: env('GITHUB_SERVER_URL', 'https://github.com').replace(/\/$/, ''),
    repository,
    model: env('MODEL'),
    environment: env('ENVIRONMENT'),
    current: fromEnv('CURRENT'),
    target: fromEnv('TARGET'),
    issue: env('ISSUE'),
    tracking: env('TRACKING_URI'),
  });
  await api('PATCH', `/repos/${repository}/pulls/${number}`, { body });
  console.log(`described the rollback in ${env('PR_URL')}`);
}

export async function link() {
  const issue = env('ISSUE');
  if (!/^\d+$/.test(issue)) throw new RollbackError(`issue must be an issue number, not '${issue}'`);
  const current = fromEnv('CURRENT');
  const target = fromEnv('TARGET');
  const body = `Rollback pull request: ${env('PR_URL')} puts back ${env('MODEL')} v${target.version} in ${env('ENVIRONMENT')} (v${current.version} was deployed by ${env('GITOPS_REPOSITORY')}@${current.sha}).`;
  await api('POST', `/repos/${env('GITHUB_REPOSITORY')}/issues/${issue}/comments`, { body });
  console.log(`linked ${env('PR_URL')} in issue #${issue}`);
}

const commands = { plan, current, describe, link };
if (import.meta.url === `file://${process.argv[1]}`) {
  const command = commands[process.argv[2] ?? ''];
  try {
    if (!command) throw new RollbackError(`usage: rollback.mjs ${Object.keys(commands).join('|')}`);
    await command();
  } catch (err) {
    const message = err instanceof RollbackError ? err.message : String(err?.stack ?? err);
    console.log(
      `::error title=rollback::${message.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}`,
    );
    process.exit(1);
  }
}
