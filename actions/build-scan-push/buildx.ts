/**
 * `docker buildx` as the runner provides it, driven through @actions/exec. Like
 * docker/actions-toolkit, argument lists are built by pure methods (tested as such) and run apart.
 *
 * Scan-before-push follows Docker's "test before push" pattern: a first build exports the image
 * locally (an OCI layout directory per platform, or `--load` on the `docker` driver, which cannot
 * export OCI), Trivy scans it, and only then a build with `--push` runs; it is served from the builder's cache, so it
 * pushes the layers that were scanned. SOURCE_DATE_EPOCH is fixed for both builds so their image
 * configs match too.
 */
import * as exec from '@actions/exec';
import { readFileSync } from 'node:fs';

export interface BuildSpec {
  context: string;
  /** Omitted for a remote context, whose own Dockerfile buildx then reads. */
  file?: string;
  /** Full references, e.g. ghcr.io/o/r:sha-0123456. */
  tags: string[];
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  platforms: string[];
  cacheFrom: string[];
  cacheTo: string[];
  metadataFile: string;
  target?: string;
  /** Secret files, mounted with `RUN --mount=type=secret,id=...`; the values never reach argv. */
  secrets?: { id: string; src: string }[];
  noCache?: boolean;
  /** Attestations of the pushed image (never of the scanned local copy). */
  provenance?: string;
  sbom?: string;
}

/** `oci`: an OCI image layout directory (not a tar: Trivy's --input cannot read an OCI tar). */
export type BuildOutput = { kind: 'oci'; dest: string } | { kind: 'load' } | { kind: 'push' };

export interface BuildMetadata {
  'containerimage.digest'?: string;
  'containerimage.config.digest'?: string;
  'image.name'?: string;
  [key: string]: unknown;
}

export class BuildxError extends Error {
  override name = 'BuildxError';
}

type ExecOut = { exitCode: number; stdout: string; stderr: string };
export type Runner = (
  cmd: string,
  args: string[],
  opts?: { input?: Buffer; silent?: boolean; env?: Record<string, string>; cwd?: string },
) => Promise<ExecOut>;

/**
 * `env` adds to the step's environment (PATH, HOME, DOCKER_CONFIG, proxies): the tools need it
 * whole, and @actions/exec would otherwise replace it with only what is given.
 */
export const defaultRunner: Runner = (cmd, args, opts = {}) =>
  exec.getExecOutput(cmd, args, {
    ignoreReturnCode: true,
    silent: opts.silent ?? false,
    input: opts.input,
    env: opts.env && { ...(process.env as Record<string, string>), ...opts.env },
    cwd: opts.cwd,
  });

const lastLines = (text: string, n = 15): string => text.trim().split('\n').slice(-n).join('\n');

export class Buildx {
  constructor(
    private readonly run: Runner = defaultRunner,
    private readonly env: Record<string, string> = {},
  ) {}

  /** The builder's driver decides what can be exported: `docker` can only --load or --push. */
  async assertAvailable(): Promise<string> {
    let out: ExecOut;
    try {
      out = await this.run('docker', ['buildx', 'version'], { silent: true });
    } catch (err) {
      throw new BuildxError(
        `docker is not installed or not on PATH (${(err as Error).message}); this action needs docker buildx, as GitHub-hosted Linux runners provide it`,
      );
    }
    if (out.exitCode !== 0) {
      throw new BuildxError(
        `docker buildx is not available: \`docker buildx version\` exited ${out.exitCode}: ${lastLines(out.stderr || out.stdout, 3)}. Install the buildx plugin or run docker/setup-buildx-action first.`,
      );
    }
    return out.stdout.trim();
  }

  async driver(): Promise<string> {
    const out = await this.run('docker', ['buildx', 'inspect'], { silent: true });
    if (out.exitCode !== 0) {
      throw new BuildxError(`docker buildx inspect failed: ${lastLines(out.stderr || out.stdout, 5)}`);
    }
    const m = /^Driver:\s*(\S+)/m.exec(out.stdout);
    return m ? m[1]! : 'docker';
  }

  static buildArgs(spec: BuildSpec, output: BuildOutput): string[] {
    const args = ['buildx', 'build'];
    if (spec.file) args.push('--file', spec.file);
    for (const t of spec.tags) args.push('--tag', t);
    for (const [k, v] of Object.entries(spec.labels)) args.push('--label', `${k}=${v}`);
    for (const [k, v] of Object.entries(spec.buildArgs)) args.push('--build-arg', `${k}=${v}`);
    if (spec.platforms.length) args.push('--platform', spec.platforms.join(','));
    for (const c of spec.cacheFrom) args.push('--cache-from', c);
    for (const c of spec.cacheTo) args.push('--cache-to', c);
    if (spec.target) args.push('--target', spec.target);
    for (const s of spec.secrets ?? []) args.push('--secret', `id=${s.id},src=${s.src}`);
    if (spec.noCache) args.push('--no-cache');
    args.push('--metadata-file', spec.metadataFile);
    // The local copy exists only to be scanned: no attestation manifests in it, so the archive is
    // one plain image that any Trivy version reads. The pushed image gets the inputs' (or buildx's defaults).
    if (output.kind !== 'push') args.push('--provenance=false');
    else {
      if (spec.provenance !== undefined) args.push(`--provenance=${spec.provenance}`);
      if (spec.sbom !== undefined) args.push(`--sbom=${spec.sbom}`);
    }
    // A directory, not the default tar: Trivy's `--input` opens a docker-save tar or an OCI layout
    // directory, never an OCI layout tar ("file manifest.json not found in tar", trivy#5136).
    if (output.kind === 'oci') args.push('--output', `type=oci,dest=${output.dest},tar=false`);
    else if (output.kind === 'load') args.push('--load');
    else args.push('--push');
    args.push(spec.context);
    return args;
  }

  async build(spec: BuildSpec, output: BuildOutput): Promise<BuildMetadata> {
    const args = Buildx.buildArgs(spec, output);
    const out = await this.run('docker', args, { env: this.env });
    if (out.exitCode !== 0) {
      const what = output.kind === 'push' ? 'build and push' : 'build';
      throw new BuildxError(
        `docker buildx ${what} failed (exit ${out.exitCode}):\n${lastLines(out.stderr || out.stdout)}`,
      );
    }
    let meta: BuildMetadata;
    try {
      meta = JSON.parse(readFileSync(spec.metadataFile, 'utf8')) as BuildMetadata;
    } catch (err) {
      throw new BuildxError(
        `buildx wrote no readable metadata file ${spec.metadataFile}: ${(err as Error).message}`,
      );
    }
    const digest = meta['containerimage.digest'];
    if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
      throw new BuildxError(`buildx metadata has no containerimage.digest (got ${JSON.stringify(digest)})`);
    }
    return meta;
  }
}

export interface CacheChoice {
  /** cache-from/cache-to for a build of one platform (undefined: the builder's own). */
  for(platform?: string): { cacheFrom: string[]; cacheTo: string[] };
  note?: string;
}

/**
 * `gha` uses the GitHub Actions cache when the runner hands this action its token and URL and the
 * builder can export cache (the `docker` driver cannot). One scope per platform: each scan build
 * is single-platform, and a shared scope would be overwritten by the last one exported.
 */
export function cacheFor(
  cfg: { cache: 'gha' | 'none' | 'custom'; image: string; cacheFrom: string[]; cacheTo: string[] },
  driver: string,
  env: NodeJS.ProcessEnv,
): CacheChoice {
  if (cfg.cache !== 'gha') return { for: () => ({ cacheFrom: cfg.cacheFrom, cacheTo: cfg.cacheTo }) };
  const none = { for: () => ({ cacheFrom: [], cacheTo: [] }) };
  if (!env.ACTIONS_RUNTIME_TOKEN || !(env.ACTIONS_RESULTS_URL || env.ACTIONS_CACHE_URL)) {
    return {
      ...none,
      note: 'GitHub Actions cache is not available here (no ACTIONS_RUNTIME_TOKEN/cache URL): building without it',
    };
  }
  if (driver === 'buildah') {
    return { ...none, note: 'GitHub Actions cache skipped: buildah keeps its layers in its own storage' };
  }
  if (driver === 'docker') {
    return {
      ...none,
      note: 'GitHub Actions cache skipped: the `docker` buildx driver cannot export cache (use docker/setup-buildx-action)',
    };
  }
  const scope = (p?: string): string => `build-scan-push-${cfg.image}${p ? `-${p}` : ''}`;
  return {
    for: (p) => ({
      cacheFrom: [`type=gha,scope=${scope(p)}`],
      cacheTo: [`type=gha,mode=max,scope=${scope(p)}`],
    }),
  };
}
