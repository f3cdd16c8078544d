/**
 * build-scan-push: build the image, scan what was built with Trivy, push only if the gate passes.
 * Nothing vulnerable reaches the registry: the push is a separate, cache-served build that runs
 * after the verdict. `main` reads as the run does; the tools it drives come in as `deps`.
 */
import * as core from '@actions/core';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../shared/errors.js';
import { Buildah } from './buildah.js';
import { Buildx, cacheFor, type BuildMetadata, type BuildSpec, type CacheChoice } from './buildx.js';
import { planDbCache, type DbCacheOptions, type DbCachePlan } from './dbcache.js';
import { rank } from './gate.js';
import type { Config, Inputs } from './inputs.js';
import { planImage, type ImagePlan } from './plan.js';
import {
  login,
  logout,
  registryOf,
  resolveCredentials,
  type Credentials,
  type LoginTool,
} from './registry.js';
import {
  buildAndScan,
  judge,
  type Builder,
  type Judgement,
  type Scanned,
  type Scanner,
  type ScanSetup,
} from './scan.js';
import { renderSummary } from './summary.js';
import { locateTrivy } from './trivy.js';

export interface Deps {
  /** docker buildx, every build run with `env` added (SOURCE_DATE_EPOCH). */
  buildx(env: Record<string, string>): Builder;
  /** buildah, the same; SOURCE_DATE_EPOCH becomes its --timestamp. */
  buildah?(env: Record<string, string>): Builder;
  trivy(o: { path?: string; version: string; cwd: string; downloadBase?: string }): Promise<{
    trivy: Scanner;
    version: string;
  }>;
  /** `tool`: the CLI of the builder chosen, so its push finds the credentials. */
  registry: {
    login(c: Credentials, tool: LoginTool): Promise<void>;
    logout(registry: string, tool: LoginTool): Promise<void>;
  };
  dbCache(o: DbCacheOptions): DbCachePlan | Promise<DbCachePlan>;
}

export const defaultDeps: Deps = {
  buildx: (env) => new Buildx(undefined, env),
  buildah: (env) => new Buildah(undefined, env),
  trivy: (o) => locateTrivy(o),
  registry: { login: (c, t) => login(c, undefined, t), logout: (r, t) => logout(r, undefined, t) },
  dbCache: planDbCache,
};

export interface Result {
  outputs: Record<string, string>;
  summary: string;
  /** The gate's refusal: the step fails with it once outputs and summary are written. */
  failure?: string;
  /** The gate's findings when fail-on-vulnerabilities is false. */
  warning?: string;
}

export async function main(inputs: Inputs, deps: Deps = defaultDeps): Promise<Result> {
  const { config: cfg, context: ctx } = inputs;
  const plan = planImage(inputs);
  const { builder, tool } = await chooseBuilder(cfg, deps, { SOURCE_DATE_EPOCH: String(plan.epoch) });
  const driver = await checkBuilder(builder, cfg, plan);
  const cache = cacheFor(cfg, driver, ctx.cacheEnv);
  if (cache.note) core.info(cache.note);
  const work = mkdtempSync(join(ctx.tempDir, 'build-scan-push-'));
  let creds: Credentials | undefined;
  try {
    // Trivy first: a broken or tampered download should fail before minutes of building.
    const { trivy, version: trivyVersion } = await deps.trivy({
      path: cfg.trivy.path,
      version: cfg.trivyVersion,
      cwd: trivyCwd(work),
      downloadBase: ctx.trivyDownloadBase,
    });
    creds = credentialsFor(inputs);
    if (creds) await deps.registry.login(creds, tool);
    const db = await deps.dbCache({
      enabled: cfg.trivyDbCache,
      trivyCacheDir: ctx.trivyCacheDir,
      toolCacheDir: ctx.toolCacheDir,
      tempRoot: work,
      actionsCache: Boolean(
        ctx.cacheEnv.ACTIONS_RUNTIME_TOKEN &&
        (ctx.cacheEnv.ACTIONS_CACHE_URL || ctx.cacheEnv.ACTIONS_RESULTS_URL),
      ),
    });
    core.info(db.note);
    const secrets = writeSecrets(cfg, work);
    const spec = (metadataFile: string): BuildSpec => ({
      ...buildSpec(cfg, plan, cache, metadataFile),
      secrets,
    });
    const setup: ScanSetup = { cfg, builder, trivy, driver, cache, db, spec, work };
    const scanned = await buildAndScan(setup);
    const judgement = await judge(setup, scanned);
    const mayPush = cfg.push && (judgement.verdict.passed || !cfg.failOnVulnerabilities);
    const pushed = mayPush ? await push(setup, scanned) : undefined;
    return result({ cfg, plan, scanned, judgement, pushed, trivyVersion, trivyDb: db.note });
  } finally {
    if (creds) await deps.registry.logout(creds.registry, tool);
    rmSync(work, { recursive: true, force: true });
  }
}

/** Sets the outputs, writes the job summary, and fails the step when the gate refused the image. */
export async function writeResult(res: Result): Promise<void> {
  for (const [name, value] of Object.entries(res.outputs)) core.setOutput(name, value);
  await core.summary.addRaw(res.summary).write();
  if (res.warning) core.warning(res.warning);
  if (res.failure) throw new Error(res.failure);
}

/**
 * The `builder` input: `auto` takes docker buildx when `docker buildx version` answers (a hosted
 * runner), else buildah when it is installed (no Docker engine), else says what to install.
 */
async function chooseBuilder(
  cfg: Config,
  deps: Deps,
  env: Record<string, string>,
): Promise<{ builder: Builder; tool: LoginTool }> {
  const buildah = (): Builder => {
    if (!deps.buildah) throw new Error('no buildah builder in this run');
    return deps.buildah(env);
  };
  if (cfg.builder === 'buildx') return { builder: deps.buildx(env), tool: 'docker' };
  if (cfg.builder === 'buildah') return { builder: buildah(), tool: 'buildah' };
  const buildx = deps.buildx(env);
  const tried: string[] = [];
  for (const [candidate, tool] of [
    [() => buildx, 'docker'],
    [buildah, 'buildah'],
  ] as const) {
    try {
      const builder = candidate();
      await builder.assertAvailable();
      return { builder, tool };
    } catch (err) {
      tried.push((err as Error).message);
    }
  }
  throw new InputError(
    'builder',
    `docker buildx or buildah on the runner (builder: auto found neither: ${tried.join('; ')}); install one, or set builder: buildx or buildah`,
    cfg.builder,
  );
}

async function checkBuilder(builder: Builder, cfg: Config, plan: ImagePlan): Promise<string> {
  core.info(await builder.assertAvailable());
  const driver = await builder.driver();
  if (driver === 'buildah') checkBuildahInputs(cfg);
  core.info(`Image ${cfg.image}, tags ${plan.tagNames.join(', ')}; builder ${driver}`);
  if (driver === 'docker' && cfg.platforms.length > 1) {
    throw new InputError(
      'platforms',
      'a single platform with the `docker` buildx driver (run docker/setup-buildx-action for multi-platform builds)',
      cfg.platforms.join(','),
    );
  }
  return driver;
}

/** What buildx can do and buildah cannot: refused by name rather than silently left out. */
function checkBuildahInputs(cfg: Config): void {
  if (cfg.platforms.length > 1) {
    throw new InputError('platforms', 'a single platform with builder buildah', cfg.platforms.join(','));
  }
  for (const name of ['provenance', 'sbom'] as const) {
    const value = cfg[name];
    if (value !== undefined && value !== 'false') {
      throw new InputError(name, 'empty or false with builder buildah (it makes no attestations)', value);
    }
  }
  if (cfg.cache === 'custom') {
    throw new InputError('cache', 'gha or none with builder buildah (it has no buildx cache exporters)');
  }
}

/** Trivy runs in an empty directory: it must not pick up a trivy.yaml or .trivyignore lying there. */
function trivyCwd(work: string): string {
  const dir = join(work, 'trivy-cwd');
  mkdirSync(dir);
  return dir;
}

function credentialsFor({ config: cfg, context: ctx }: Inputs): Credentials | undefined {
  if (!cfg.push) return undefined;
  const registry = registryOf(cfg.image);
  const creds = resolveCredentials({
    registry,
    githubRegistry: cfg.githubRegistry,
    username: cfg.registryUsername,
    password: cfg.registryPassword,
    githubToken: cfg.githubToken,
    actor: ctx.actor,
  });
  if (!creds)
    core.info(
      `No credentials for ${registry}: pushing with the credentials a docker or buildah login left on the runner`,
    );
  return creds;
}

/** Each secret in its own 0600 file in the work directory (removed at the end), as build-push-action does. */
function writeSecrets(cfg: Config, work: string): { id: string; src: string }[] {
  const entries = Object.entries(cfg.secrets);
  if (entries.length === 0) return [];
  const dir = join(work, 'secrets');
  mkdirSync(dir, { mode: 0o700 });
  return entries.map(([id, value], i) => {
    const src = join(dir, String(i));
    writeFileSync(src, value, { mode: 0o600 });
    return { id, src };
  });
}

function buildSpec(cfg: Config, plan: ImagePlan, cache: CacheChoice, metadataFile: string): BuildSpec {
  return {
    target: cfg.target,
    noCache: cfg.noCache,
    provenance: cfg.provenance,
    sbom: cfg.sbom,
    context: cfg.context,
    file: cfg.file,
    tags: plan.refs,
    labels: plan.labels,
    buildArgs: plan.buildArgs,
    platforms: cfg.platforms,
    ...cache.for(),
    metadataFile,
  };
}

/** Multi-platform: the cache-served push rebuilds each platform scanned above into one index. */
async function push(s: ScanSetup, scanned: Scanned): Promise<BuildMetadata> {
  const meta = await core.group('Push', () =>
    s.builder.build(
      {
        ...s.spec(join(s.work, 'push-metadata.json')),
        // Read what the scan builds exported; they already wrote the cache. Never --no-cache here:
        // the push must be served from the build that was scanned, even when that one was fresh.
        cacheFrom: [...new Set(scanned.targets.flatMap((p) => s.cache.for(p).cacheFrom))],
        cacheTo: [],
        noCache: false,
      },
      { kind: 'push' },
    ),
  );
  core.info(`Pushed ${s.cfg.image}@${meta['containerimage.digest']}`);
  return meta;
}

interface Outcome {
  cfg: Config;
  plan: ImagePlan;
  scanned: Scanned;
  judgement: Judgement;
  pushed?: BuildMetadata;
  trivyVersion: string;
  trivyDb: string;
}

function result(o: Outcome): Result {
  const { cfg, judgement: j } = o;
  // Unpushed, a multi-platform build has no single digest: each platform was built on its own.
  const local = o.scanned.metadata.length === 1 ? o.scanned.metadata[0] : undefined;
  const meta = o.pushed ?? local;
  const digest = meta?.['containerimage.digest'] ?? '';
  const outputs: Record<string, string> = {
    vulnerabilities: JSON.stringify(j.counts),
    'scan-passed': String(j.verdict.passed),
    'sarif-file': cfg.sarifFile,
    tags: o.plan.refs.join('\n'),
    digest,
    // docker/build-push-action's: the image config digest, and buildx's metadata as JSON.
    imageid: meta?.['containerimage.config.digest'] ?? '',
    metadata: meta ? JSON.stringify(meta, null, 2) : '',
  };
  if (o.pushed) outputs['image-ref'] = `${cfg.image}@${digest}`;
  const summary = renderSummary({
    image: cfg.image,
    tags: o.plan.tagNames,
    counts: j.counts,
    verdict: j.verdict,
    failOnVulnerabilities: cfg.failOnVulnerabilities,
    findings: j.policy.kept,
    ignoredListed: j.policy.ignoredListed.length,
    ignoredUnfixed: j.policy.ignoredUnfixed.length,
    pushed: o.pushed !== undefined,
    pushRequested: cfg.push,
    digest: digest || undefined,
    trivyVersion: o.trivyVersion,
    trivyDb: o.trivyDb,
  });
  const refusal = j.verdict.passed ? undefined : gateMessage(cfg, j);
  if (!refusal) return { outputs, summary };
  return cfg.failOnVulnerabilities
    ? { outputs, summary, failure: `Scan gate failed: ${refusal}; nothing was pushed.` }
    : { outputs, summary, warning: `Scan found ${refusal} (fail-on-vulnerabilities is false).` };
}

/** `3 vulnerabilities at CRITICAL,HIGH in <image>: <the worst three>`. */
function gateMessage(cfg: Config, { verdict }: Judgement): string {
  const worst = rank(verdict.failing)
    .slice(0, 3)
    .map((f) => `${f.id} ${f.pkg} ${f.installed}${f.fixed ? ` (fixed in ${f.fixed})` : ''}`);
  const more = verdict.failing.length > worst.length ? ', ...' : '';
  const n = verdict.failing.length;
  const noun = verdict.failing.every((f) => f.kind === 'vulnerability')
    ? `vulnerabilit${n === 1 ? 'y' : 'ies'}`
    : `finding${n === 1 ? '' : 's'} (vulnerabilities and secrets)`;
  return `${n} ${noun} at ${cfg.severities.join(',')} in ${cfg.image}: ${worst.join(', ')}${more}`;
}
