/** Every input of gitops-bump, parsed and checked up front so a bad one fails before any clone. */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as input from '../shared/inputs.js';
import { InputError } from '../shared/errors.js';
// Type only: @actions/github stays out of the startup path (loaded when a mode needs the API).
import type { Repo } from '../shared/github.js';
import { DIGEST_EXPECTED, isDigest, isName, isTag, parseImageRef, type Target } from '../shared/image-ref.js';
import type { Author } from './git.js';

export const MODES = ['push', 'pull-request', 'rollback', 'deployed'] as const;
export type Mode = (typeof MODES)[number];

/** What rollback and deployed modes read from the deploy commits' trailers, and where a rollback is told. */
export interface HistoryInputs {
  /** Only deploy commits whose Model / Environment trailer is this (a commit without it still counts). */
  model?: string;
  environment?: string;
  /** Rollback mode: the model version to go back to (its newest earlier deploy). */
  toVersion?: string;
  /** Rollback mode: the digest to go back to (the `digest` input, or `image`'s @digest). */
  toDigest?: string;
  /** Rollback mode: the issue (in the workflow's repository) that gets a comment linking the PR. */
  issue?: Repo & { number: number; token: string };
  /** MLflow's UI, without a trailing slash, for links to the versions in the PR body. */
  trackingUri?: string;
}

export interface Inputs {
  /** `owner/name` when the repository is on GitHub (needed for pull requests and links). */
  repo?: { owner: string; repo: string };
  remoteUrl: string;
  token?: string;
  branch?: string;
  files: string[];
  image: string;
  target: Target;
  helmPaths: string[][];
  mode: Mode;
  /** Set in rollback and deployed modes only. */
  history?: HistoryInputs;
  commitMessage: string;
  author: Author;
  waitForSync: boolean;
  argocdApp?: string;
  argocdNamespace: string;
  argocdRefresh: boolean;
  /** ArgoCD's web UI, without a trailing slash, for the summary's link to the Application. */
  argocdUrl?: string;
  kubeconfig?: string;
  timeoutMs: number;
  /** The token the API is called with: `token`, or the runner's GITHUB_TOKEN. */
  apiToken: string;
  /** The GitHub server the workflow runs on, for links (GHES included). */
  serverUrl: string;
  /** The workflow run, named in pull-request bodies. */
  runId?: string;
  /** Where the work tree is cloned: the runner's temporary folder. */
  tempDir: string;
}

export const DEFAULT_MESSAGE = 'chore(gitops): bump {image} to {new}';

/** The action.yml defaults, used when an input is empty (see shared/inputs.ts). */
export const DEFAULTS = {
  mode: 'push',
  'commit-message': DEFAULT_MESSAGE,
  author: 'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>',
  'wait-for-sync': 'false',
  'argocd-namespace': 'argocd',
  'argocd-refresh': 'true',
  timeout: '5m',
} as const satisfies input.Defaults;

const REPO = /^[A-Za-z0-9-_.]+\/[A-Za-z0-9-_.]+$/;

/**
 * `repository` is `owner/name` on the server the workflow runs on, or a local path / file:// URL
 * (a mirror, or a bare repository in tests). MLOPS_GIT_REMOTE_URL overrides the clone URL only,
 * keeping `owner/name` for the API.
 */
function repository(workspace: string): Pick<Inputs, 'repo' | 'remoteUrl'> {
  const value = input.optional('repository') ?? process.env.GITHUB_REPOSITORY ?? '';
  const override = process.env.MLOPS_GIT_REMOTE_URL?.trim();
  const toUrl = (v: string): string =>
    /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : pathToFileURL(isAbsolute(v) ? v : resolve(workspace, v)).href;
  if (REPO.test(value) && !existsSync(resolve(workspace, value))) {
    const [owner, repo] = value.split('/') as [string, string];
    let remoteUrl: string;
    if (override) remoteUrl = toUrl(override);
    else {
      const url = new URL(
        `${(process.env.GITHUB_SERVER_URL ?? 'https://github.com').replace(/\/$/, '')}/${value}.git`,
      );
      url.username = 'x-access-token';
      remoteUrl = url.href;
    }
    return { repo: { owner, repo }, remoteUrl };
  }
  if (value.startsWith('file://') || value.startsWith('/') || value.startsWith('.')) {
    return { remoteUrl: toUrl(override || value) };
  }
  throw new InputError('repository', 'owner/name, a local path or a file:// URL', value);
}

/** The optional input as a URL: undefined when empty, null when it does not parse. */
function urlInput(name: string): { value: string; url: URL | null } | undefined {
  const value = input.optional(name);
  if (value === undefined) return undefined;
  return { value, url: URL.canParse(value) ? new URL(value) : null };
}

function argocdUrl(): string | undefined {
  const given = urlInput('argocd-url');
  if (given === undefined) return undefined;
  const { value, url } = given;
  // A password in the URL is a secret: the error does not repeat it.
  if (url && (url.username || url.password)) {
    throw new InputError(
      'argocd-url',
      'the URL of the ArgoCD web UI without credentials',
      '(credentials removed)',
    );
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash) {
    throw new InputError('argocd-url', 'the http(s) URL of the ArgoCD web UI', value);
  }
  return url.href.replace(/\/+$/, '');
}

function author(): Author {
  const value = input.string('author', DEFAULTS.author);
  const match = /^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(value);
  if (!match) throw new InputError('author', 'Name <email>', value);
  return { name: match[1]!, email: match[2]! };
}

function target(mode: Mode): { image: string; target: Target } {
  const raw = input.required('image');
  const ref = parseImageRef(raw);
  if (!isName(ref.name)) throw new InputError('image', 'an image name such as ghcr.io/owner/app', raw);
  const tag = input.optional('tag') ?? ref.tag;
  const digest = input.optional('digest') ?? ref.digest;
  if (ref.tag && input.optional('tag') && ref.tag !== tag) {
    throw new InputError('image', `a name without a tag when 'tag' is set (tag '${tag}')`, raw);
  }
  if (ref.digest && input.optional('digest') && ref.digest !== digest) {
    throw new InputError('image', `a name without a digest when 'digest' is set`, raw);
  }
  // A rollback finds its digest in the history (`digest` only chooses one); deployed mode reads HEAD's.
  if (mode === 'deployed' && (tag !== undefined || digest !== undefined))
    throw new InputError(
      tag !== undefined ? 'tag' : 'digest',
      'nothing in deployed mode (HEAD says what it deploys)',
      tag ?? digest,
    );
  if (mode === 'rollback' && tag !== undefined)
    throw new InputError('tag', 'nothing in rollback mode (the deploy commits pin digests)', tag);
  if (tag === undefined && digest === undefined && (mode === 'push' || mode === 'pull-request')) {
    throw new InputError('tag', "a tag, or a 'digest' (at least one of them is required)", '');
  }
  if (tag !== undefined && !isTag(tag))
    throw new InputError('tag', 'a Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})', tag);
  if (digest !== undefined && !isDigest(digest)) {
    const from = input.optional('digest') !== undefined ? 'digest' : 'image';
    throw new InputError(from, `a digest: ${DIGEST_EXPECTED}`, from === 'digest' ? digest : raw);
  }
  return { image: ref.name, target: { name: ref.name, ...(tag && { tag }), ...(digest && { digest }) } };
}

function trackingUri(): string | undefined {
  const url = urlInput('tracking-uri')?.url;
  if (url === undefined) return undefined;
  if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash)
    throw new InputError(
      'tracking-uri',
      "the http(s) URL of MLflow's UI, without credentials",
      '(not shown)',
    );
  return url.href.replace(/\/+$/, '');
}

/** The workflow's own repository, where the alert's issue is. */
function workflowRepo(): Repo {
  const value = process.env.GITHUB_REPOSITORY ?? '';
  if (!REPO.test(value))
    throw new InputError(
      'issue',
      "an issue of the workflow's repository (GITHUB_REPOSITORY is not owner/name)",
      value,
    );
  const [owner, repo] = value.split('/') as [string, string];
  return { owner, repo };
}

const ROLLBACK_ONLY = ['to-version', 'issue'];
const HISTORY_ONLY = ['registered-model', 'environment', 'tracking-uri', ...ROLLBACK_ONLY];

/** The rollback's and deployed mode's inputs; in the other modes they must be empty. */
function history(mode: Mode, toDigest: string | undefined): HistoryInputs | undefined {
  const unused = mode === 'rollback' ? [] : mode === 'deployed' ? ROLLBACK_ONLY : HISTORY_ONLY;
  for (const name of unused) {
    const value = input.optional(name);
    if (value !== undefined)
      throw new InputError(
        name,
        `nothing in ${mode} mode (${ROLLBACK_ONLY.includes(name) ? 'rollback mode only' : 'rollback and deployed modes only'})`,
        value,
      );
  }
  if (mode !== 'rollback' && mode !== 'deployed') return undefined;
  const toVersion = input.optional('to-version');
  if (toVersion !== undefined && !/^[\w.-]+$/.test(toVersion))
    throw new InputError('to-version', 'a model version such as 3', toVersion);
  // Checked before anything is cloned or opened: the number goes into the PR body and a URL.
  const number = input.optional('issue');
  if (number !== undefined && !/^[1-9]\d*$/.test(number))
    throw new InputError('issue', 'an issue number', number);
  const token = input.secret('issue-token') ?? process.env.GITHUB_TOKEN ?? '';
  return {
    model: input.optional('registered-model'),
    environment: input.optional('environment'),
    toVersion,
    toDigest,
    issue: number === undefined ? undefined : { ...workflowRepo(), number: Number(number), token },
    trackingUri: trackingUri(),
  };
}

export function getInputs(): Inputs {
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const files = input.list('files');
  if (files.length === 0) throw new InputError('files', 'one or more paths or globs', '');
  const helmPaths = input.list('helm-key-path').map((p) => {
    const parts = p.split('.');
    if (parts.some((s) => s === ''))
      throw new InputError('helm-key-path', 'dotted key paths such as image or api.image', p);
    return parts;
  });
  const waitForSync = input.boolean('wait-for-sync', DEFAULTS['wait-for-sync']);
  const argocdApp = input.optional('argocd-app');
  if (waitForSync && !argocdApp) {
    throw new InputError('argocd-app', "the Application's name when wait-for-sync is true", '');
  }
  if (argocdApp && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(argocdApp)) {
    throw new InputError('argocd-app', 'a Kubernetes object name', argocdApp);
  }
  const argocdNamespace = input.string('argocd-namespace', DEFAULTS['argocd-namespace']);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(argocdNamespace)) {
    throw new InputError('argocd-namespace', 'a Kubernetes namespace name', argocdNamespace);
  }
  const branch = input.optional('branch');
  if (branch && /\.\.|[\s~^:?*[\\]|^-|\.lock$|\/$|^\/|@\{/.test(branch)) {
    throw new InputError('branch', 'a valid git branch name', branch);
  }
  const token = input.secret('token');
  const mode = input.oneOf('mode', MODES, DEFAULTS.mode);
  const image = target(mode);
  return {
    ...repository(workspace),
    token,
    branch,
    files,
    ...image,
    helmPaths: helmPaths.length ? helmPaths : [['image']],
    mode,
    history: history(mode, image.target.digest),
    commitMessage: input.string('commit-message', DEFAULTS['commit-message']),
    author: author(),
    waitForSync,
    argocdApp,
    argocdNamespace,
    argocdRefresh: input.boolean('argocd-refresh', DEFAULTS['argocd-refresh']),
    argocdUrl: argocdUrl(),
    kubeconfig: input.optional('kubeconfig'),
    timeoutMs: input.duration('timeout', DEFAULTS.timeout),
    apiToken: token ?? process.env.GITHUB_TOKEN ?? '',
    serverUrl: (process.env.GITHUB_SERVER_URL ?? 'https://github.com').replace(/\/$/, ''),
    runId: process.env.GITHUB_RUN_ID || undefined,
    tempDir: process.env.RUNNER_TEMP || tmpdir(),
  };
}
