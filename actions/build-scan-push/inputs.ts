/** Every input of build-scan-push, parsed and checked once, with errors that name the input. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import * as core from '@actions/core';
import * as input from '../shared/inputs.js';
import { InputError } from '../shared/errors.js';
import { IgnoreFileError, parseSeverities, parseTrivyignore, type Severity } from './gate.js';
import { formatImageRef, isTag, parseImageRef, registryOf, type ImageRef } from '../shared/image-ref.js';
import { parseKeyValues, readEvent, sourceDateEpoch } from './labels.js';
import { validateImage } from './registry.js';
import { parseFlavor, type Flavor } from './tags.js';
import { DEFAULT_TRIVY_VERSION } from './trivy.js';

export interface Config {
  workspace: string;
  context: string;
  /** Undefined for a remote (git/https) context without `file`: buildx reads the context's own. */
  file?: string;
  /** The image the outputs name: the first of `images`. */
  image: string;
  /** Every image tagged (metadata-action's `images`), all on one registry: one login pushes them. */
  images: string[];
  /** Rules (this action's short ones or metadata-action's `type=...`); tags for every image. */
  tagRules: string[];
  /** Full references given as is (metadata-action's `tags` output), `name:tag`. */
  references: string[];
  flavor: Flavor;
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  platforms: string[];
  /** `auto`: docker buildx when `docker buildx version` works, else buildah when installed. */
  builder: 'auto' | 'buildx' | 'buildah';
  /** Dockerfile stage to build (`--target`). */
  target?: string;
  /** Build secrets, id -> value (masked); written to files for `--secret id=...,src=...`. */
  secrets: Record<string, string>;
  /** `--no-cache` for the scanned build; the push reuses what that fresh build just made. */
  noCache: boolean;
  /** `--provenance` / `--sbom` values for the pushed image (the scanned copy has no attestations). */
  provenance?: string;
  sbom?: string;
  push: boolean;
  /** The GitHub instance's container registry: ghcr.io, or `containers.<host>` on GHES (see githubRegistry). */
  githubRegistry: string;
  registryUsername?: string;
  registryPassword?: string;
  githubToken?: string;
  cache: 'gha' | 'none' | 'custom';
  cacheFrom: string[];
  cacheTo: string[];
  mlflowRunId?: string;
  modelVersion?: string;
  trivyVersion: string;
  /** Keep Trivy's vulnerability DB in the runner's tool cache, one per UTC day. */
  trivyDbCache: boolean;
  severities: Severity[];
  ignoreUnfixed: boolean;
  failOnVulnerabilities: boolean;
  sarifFile: string;
  trivy: TrivyConfig;
}

/** The Trivy inputs, named as aquasecurity/trivy-action names them where the meaning is the same. */
export interface TrivyConfig {
  /** An installed trivy to run instead of installing one. */
  path?: string;
  /** Undefined: Trivy's default scanners (vuln, secret). */
  scanners?: string[];
  /** Plain-text ignore files (absolute), each already checked to parse as Trivy parses it. */
  ignorefiles: string[];
  /** Their IDs in force today (expired entries dropped). */
  ignoreIds: Set<string>;
  timeout?: string;
  config?: string;
  /** An extra report, written by `trivy convert` from the JSON report the gate read. */
  extraReport?: { format: string; output: string };
}

/** The action.yml defaults, used when an input is empty (see shared/inputs.ts). */
export const DEFAULTS = {
  context: '.',
  builder: 'auto',
  'no-cache': 'false',
  push: 'true',
  'trivy-version': DEFAULT_TRIVY_VERSION,
  'trivy-db-cache': 'true',
  severity: 'CRITICAL,HIGH',
  'ignore-unfixed': 'false',
  'fail-on-vulnerabilities': 'true',
  'sarif-file': 'trivy-results.sarif',
} as const satisfies input.Defaults;

const lines = (name: string): string[] => input.list(name, { commas: false });

/** `gha` (default), `none`, or explicit `from:<spec>` / `to:<spec>` lines for buildx. */
function parseCache(): Pick<Config, 'cache' | 'cacheFrom' | 'cacheTo'> {
  const raw = lines('cache');
  if (raw.length === 0 || (raw.length === 1 && raw[0]!.toLowerCase() === 'gha')) {
    return { cache: 'gha', cacheFrom: [], cacheTo: [] };
  }
  if (raw.length === 1 && ['none', 'false'].includes(raw[0]!.toLowerCase())) {
    return { cache: 'none', cacheFrom: [], cacheTo: [] };
  }
  const cacheFrom: string[] = [];
  const cacheTo: string[] = [];
  for (const line of raw) {
    const m = /^(from|to):\s*(type=.+)$/.exec(line);
    if (!m) throw new InputError('cache', 'gha, none, or lines of from:type=... / to:type=...', line);
    (m[1] === 'from' ? cacheFrom : cacheTo).push(m[2]!);
  }
  return { cache: 'custom', cacheFrom, cacheTo };
}

/** The build context (local directory or remote URL) and its Dockerfile, checked to exist when local. */
function readBuildContext(at: (p: string) => string): { context: string; file: string | undefined } {
  const contextIn = input.string('context', DEFAULTS.context);
  const remote = /^[a-z][a-z0-9+.-]*:\/\//i.test(contextIn) || contextIn.startsWith('git@');
  const context = remote ? contextIn : at(contextIn);
  if (!remote && !(existsSync(context) && statSync(context).isDirectory())) {
    throw new InputError('context', 'an existing directory (relative to the workspace)', contextIn);
  }
  const fileIn = input.optional('file');
  const file = fileIn ? (remote ? fileIn : at(fileIn)) : remote ? undefined : join(context, 'Dockerfile');
  if (file !== undefined && !remote && !existsSync(file)) {
    throw new InputError('file', 'a Dockerfile that exists', fileIn ?? `${contextIn}/Dockerfile`);
  }
  return { context, file };
}

export function readConfig(): Config {
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd();
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(workspace, p));

  const { context, file } = readBuildContext(at);
  const { rules: tagRules, references } = splitTags(lines('tags'));
  const registry = githubRegistry(process.env.GITHUB_SERVER_URL);
  const images = resolveImages(references, `${registry}/${process.env.GITHUB_REPOSITORY ?? ''}`);
  const labels = parseKeyValues(lines('labels'), 'labels');
  const buildArgs = parseKeyValues(lines('build-args'), 'build-args');
  const platforms = input.list('platforms');
  for (const p of platforms) {
    if (!/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(p)) {
      throw new InputError('platforms', 'os/arch[/variant] entries such as linux/amd64', p);
    }
  }

  const target = input.optional('target');
  if (target !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(target)) {
    throw new InputError('target', 'a Dockerfile stage name', target);
  }

  const trivyVersion = input.string('trivy-version', DEFAULTS['trivy-version']).replace(/^v/, '');
  if (!/^\d+\.\d+\.\d+$/.test(trivyVersion)) {
    throw new InputError(
      'trivy-version',
      'an exact version such as 0.74.0 (no ranges: it is pinned)',
      trivyVersion,
    );
  }

  const mlflowRunId = input.optional('mlflow-run-id');
  if (mlflowRunId && !/^[A-Za-z0-9_-]{1,64}$/.test(mlflowRunId)) {
    throw new InputError('mlflow-run-id', 'an MLflow run ID (letters, digits, - and _)', mlflowRunId);
  }
  const modelVersion = input.optional('model-version');
  if (modelVersion && !/^[A-Za-z0-9_.-]{1,128}$/.test(modelVersion)) {
    throw new InputError('model-version', 'a model version such as 3', modelVersion);
  }

  return {
    workspace,
    context,
    file,
    image: images[0]!,
    images,
    // No rules and no references: the action's own default (sha, ref), as action.yml says.
    tagRules: tagRules.length || references.length ? tagRules : ['sha', 'ref'],
    references: references.map(formatImageRef),
    flavor: parseFlavor(lines('flavor')),
    labels,
    buildArgs,
    platforms,
    builder: parseBuilder(),
    target,
    secrets: parseSecrets(),
    noCache: input.boolean('no-cache', DEFAULTS['no-cache']),
    provenance: attestation('provenance'),
    sbom: attestation('sbom'),
    push: input.boolean('push', DEFAULTS.push),
    githubRegistry: registry,
    registryUsername: input.optional('registry-username'),
    registryPassword: input.secret('registry-password'),
    githubToken: input.secret('github-token'),
    ...parseCache(),
    mlflowRunId,
    modelVersion,
    trivyVersion,
    trivyDbCache: input.boolean('trivy-db-cache', DEFAULTS['trivy-db-cache']),
    severities: parseSeverities(input.string('severity', DEFAULTS.severity)),
    ignoreUnfixed: input.boolean('ignore-unfixed', DEFAULTS['ignore-unfixed']),
    failOnVulnerabilities: input.boolean('fail-on-vulnerabilities', DEFAULTS['fail-on-vulnerabilities']),
    sarifFile: at(input.string('sarif-file', DEFAULTS['sarif-file'])),
    trivy: readTrivyConfig(at),
  };
}

function parseBuilder(): Config['builder'] {
  const value = input.string('builder', DEFAULTS.builder).toLowerCase();
  if (value === 'auto' || value === 'buildx' || value === 'buildah') return value;
  throw new InputError('builder', 'auto, buildx or buildah', value);
}

/** docker/build-push-action's `secrets`: `id=value` per line, every value masked at once. */
function parseSecrets(): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const line of input.list('secrets', { commas: false })) {
    const at = line.indexOf('=');
    const id = line.slice(0, at).trim();
    const value = line.slice(at + 1);
    if (at <= 0 || !/^[A-Za-z0-9_.-]+$/.test(id)) {
      // The line may hold the secret itself: name the input, never echo the value.
      throw new InputError('secrets', 'lines of id=value (the id in letters, digits, ., _ and -)');
    }
    if (value) core.setSecret(value);
    secrets[id] = value;
  }
  return secrets;
}

/** `--provenance`/`--sbom` as buildx takes them: true, false, or `key=value` options (mode=max, generator=...). */
function attestation(name: 'provenance' | 'sbom'): string | undefined {
  const value = input.optional(name);
  if (value === undefined) return undefined;
  if (/^(true|false|[a-z-]+=[^,\s]+(,[a-z-]+=[^,\s]+)*)$/.test(value)) return value;
  throw new InputError(name, 'true, false or buildx attestation options such as mode=max', value);
}

/** This action's short rules; anything else without `=` and with `/` or `:` is a full reference. */
const SHORT_RULE = /^(sha|ref|semver|raw)(:.*)?$/i;

/**
 * `tags` as metadata-action's `tags` output (full references, one per line or comma-separated)
 * and/or rules (a line with `=` is one rule: its commas separate its fields).
 */
export function splitTags(entries: string[]): { rules: string[]; references: ImageRef[] } {
  const rules: string[] = [];
  const references: ImageRef[] = [];
  for (const entry of entries) {
    const pieces = entry.includes('=') ? [entry] : entry.split(',').map((p) => p.trim());
    for (const piece of pieces.filter(Boolean)) {
      if (entry.includes('=') || SHORT_RULE.test(piece) || !/[:/]/.test(piece)) {
        rules.push(piece);
        continue;
      }
      const ref = parseImageRef(piece);
      if (!ref.tag || ref.digest) {
        throw new InputError('tags', 'full references as name:tag (no digest), or tag rules', piece);
      }
      validateImage(ref.name, 'tags');
      if (!isTag(ref.tag)) throw new InputError('tags', 'references with a valid Docker tag', piece);
      references.push(ref);
    }
  }
  return { rules, references };
}

/**
 * The container registry of the GitHub instance the workflow runs on: ghcr.io on github.com, and
 * on GitHub Enterprise Server `containers.<host>`, the one namespace GHES documents for its
 * Container registry (it needs subdomain isolation, so there is no path-based form to fall back to).
 */
export function githubRegistry(serverUrl: string | undefined): string {
  const url = serverUrl || 'https://github.com';
  if (!URL.canParse(url)) throw new Error(`GITHUB_SERVER_URL is not a URL: '${url}'`);
  const host = new URL(url).hostname.toLowerCase();
  return host === 'github.com' ? 'ghcr.io' : `containers.${host}`;
}

/**
 * `image` and metadata-action's `images` (names, or `name=...,enable=...` lines). Without either,
 * the images the given references name, else `<githubRegistry>/<owner>/<repo>`.
 */
function resolveImages(references: ImageRef[], defaultImage: string): string[] {
  const named: [name: string, input: string][] = [];
  for (const input of ['image', 'images']) {
    for (const line of lines(input)) {
      if (!line.includes('=')) {
        for (const n of line.split(',').map((p) => p.trim())) if (n) named.push([n, input]);
      } else if (!/(^|,)\s*enable\s*=\s*false\s*(,|$)/i.test(line)) {
        const name = /(?:^|,)\s*name\s*=\s*([^,]+)/i.exec(line)?.[1]?.trim();
        if (!name)
          throw new InputError(input, 'image names, or lines of name=<image>[,enable=true|false]', line);
        named.push([name, input]);
      }
    }
  }
  const fromRefs = references.map((r): [string, string] => [r.name, 'tags']);
  const fallback: [string, string] = [defaultImage.toLowerCase(), 'image'];
  const chosen = named.length ? named : fromRefs.length ? fromRefs : [fallback];
  const images = [...new Set(chosen.map(([n, input]) => validateImage(n, input)))];
  const stray = references.find((r) => !images.includes(r.name));
  if (stray) {
    throw new InputError(
      'tags',
      `references to ${images.join(', ')} (the images input)`,
      formatImageRef(stray),
    );
  }
  const registries = [...new Set(images.map(registryOf))];
  if (registries.length > 1) {
    throw new InputError('images', 'images on one registry (the action logs in to one)', images.join(', '));
  }
  return images;
}

const SCANNERS = ['vuln', 'secret', 'misconfig', 'license'];
/** What `trivy convert` writes without a template or an SBOM-complete report. */
const FORMATS = ['table', 'json', 'sarif', 'github'];
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

function existingFile(input: string, value: string, at: (p: string) => string): string {
  const path = at(value);
  if (!existsSync(path) || !statSync(path).isFile()) throw new InputError(input, 'a file that exists', value);
  return path;
}

/**
 * Only files the inputs name reach Trivy: a `.trivyignore` or `trivy.yaml` that happens to lie in
 * the workspace is not read (Trivy runs in an empty directory), as with trivy-action.
 */
export function readTrivyConfig(at: (p: string) => string, now = new Date()): TrivyConfig {
  const pathIn = input.optional('trivy-path');
  const path = pathIn ? existingFile('trivy-path', pathIn, at) : undefined;

  const scannersIn = input.list('scanners');
  for (const sc of scannersIn) {
    if (!SCANNERS.includes(sc)) throw new InputError('scanners', `a list among ${SCANNERS.join(', ')}`, sc);
  }

  // trivy-action's comma-separated `trivyignores`; this action's older single `trivyignore` too.
  const ignoreIn = [...input.list('trivyignores'), ...input.list('trivyignore')];
  const ignorefiles: string[] = [];
  const ignoreIds = new Set<string>();
  for (const name of ignoreIn) {
    const file = existingFile('trivyignores', name, at);
    if (/\.ya?ml$/i.test(file)) {
      throw new InputError(
        'trivyignores',
        'plain-text .trivyignore files (YAML ignore files are not supported)',
        name,
      );
    }
    try {
      for (const id of parseTrivyignore(readFileSync(file, 'utf8'), now, name)) ignoreIds.add(id);
    } catch (err) {
      if (err instanceof IgnoreFileError)
        throw new InputError('trivyignores', 'ignore files Trivy can read', err.message);
      throw err;
    }
    ignorefiles.push(file);
  }

  const timeout = input.optional('timeout');
  if (timeout !== undefined && !GO_DURATION.test(timeout)) {
    throw new InputError('timeout', 'a duration such as 10m, 90s or 1h30m', timeout);
  }
  const configIn = input.optional('trivy-config');
  const config = configIn ? existingFile('trivy-config', configIn, at) : undefined;

  const format = input.optional('format');
  const output = input.optional('output');
  if (format !== undefined && !FORMATS.includes(format)) {
    throw new InputError('format', `one of ${FORMATS.join(', ')}`, format);
  }
  if ((format === undefined) !== (output === undefined)) {
    throw new InputError(
      format ? 'output' : 'format',
      'both format and output for an extra report',
      format ?? output,
    );
  }
  return {
    path,
    scanners: scannersIn.length ? [...new Set(scannersIn)] : undefined,
    ignorefiles,
    ignoreIds,
    timeout,
    config,
    extraReport: format && output ? { format, output: at(output) } : undefined,
  };
}

/** What the runner says through its environment, read once here so that main reads no process.env. */
export interface RunContext {
  ref: string;
  /** The commit built: GITHUB_SHA, but on pull_request events the PR head, not the merge commit. */
  sha: string;
  /** The repository's default branch (from the event), for `{{is_default_branch}}`. */
  defaultBranch?: string;
  serverUrl: string;
  repository: string;
  actor?: string;
  /** Parent of the work directory. */
  tempDir: string;
  /** Seconds: SOURCE_DATE_EPOCH, else the pushed commit's time, else now (see labels.ts). */
  sourceDateEpoch: number;
  /** The cache service variables the `gha` cache needs (see cacheFor). */
  cacheEnv: Partial<
    Pick<NodeJS.ProcessEnv, 'ACTIONS_RUNTIME_TOKEN' | 'ACTIONS_RESULTS_URL' | 'ACTIONS_CACHE_URL'>
  >;
  /** RUNNER_TOOL_CACHE: where @actions/tool-cache keeps Trivy and the day's DB. */
  toolCacheDir?: string;
  /** TRIVY_CACHE_DIR set by the caller: used as is, no DB cache of this action's (see dbcache.ts). */
  trivyCacheDir?: string;
  /** MLOPS_TRIVY_DOWNLOAD_BASE: a mirror of Trivy's GitHub releases (and the tests' local one). */
  trivyDownloadBase?: string;
}

export function readContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  const event = readEvent(env.GITHUB_EVENT_PATH);
  // metadata-action tags the merge commit unless told otherwise; the image is of the PR's head.
  const prHead = env.GITHUB_EVENT_NAME?.startsWith('pull_request')
    ? event.pull_request?.head?.sha
    : undefined;
  return {
    ref: env.GITHUB_REF ?? '',
    sha: prHead || env.GITHUB_SHA || '',
    defaultBranch: event.repository?.default_branch,
    serverUrl: env.GITHUB_SERVER_URL ?? 'https://github.com',
    repository: env.GITHUB_REPOSITORY ?? '',
    actor: env.GITHUB_ACTOR,
    tempDir: env.RUNNER_TEMP || tmpdir(),
    sourceDateEpoch: sourceDateEpoch(env, event),
    cacheEnv: {
      ACTIONS_RUNTIME_TOKEN: env.ACTIONS_RUNTIME_TOKEN,
      ACTIONS_RESULTS_URL: env.ACTIONS_RESULTS_URL,
      ACTIONS_CACHE_URL: env.ACTIONS_CACHE_URL,
    },
    toolCacheDir: env.RUNNER_TOOL_CACHE || undefined,
    trivyCacheDir: env.TRIVY_CACHE_DIR || undefined,
    trivyDownloadBase: env.MLOPS_TRIVY_DOWNLOAD_BASE || undefined,
  };
}

export interface Inputs {
  config: Config;
  context: RunContext;
}

export function getInputs(): Inputs {
  return { config: readConfig(), context: readContext() };
}
