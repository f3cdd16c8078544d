/**
 * buildah as the builder, for runners without a Docker engine (Debian's buildah, rootless or in a
 * container). Same interface as Buildx: the scan build exports an OCI layout directory for Trivy,
 * and the push sends the very image that was scanned from buildah's local storage (no rebuild).
 *
 * Storage and isolation are buildah's own business: it reads STORAGE_DRIVER,
 * CONTAINERS_STORAGE_CONF, BUILDAH_ISOLATION, REGISTRY_AUTH_FILE and CONTAINERS_REGISTRIES_CONF
 * from the environment, so the action passes none of them and the runner's setup decides; except
 * that a loopback registry is reached as docker reaches it, plain http allowed (isLoopbackRegistry).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildMetadata, BuildOutput, BuildSpec, Runner } from './buildx.js';
import { BuildxError, defaultRunner } from './buildx.js';
import { isLoopbackRegistry, registryOf } from './registry.js';

/** buildah's transport for a registry destination. */
const DOCKER = 'docker://';

export class BuildahError extends BuildxError {
  override name = 'BuildahError';
}

const lastLines = (text: string, n = 15): string => text.trim().split('\n').slice(-n).join('\n');

export class Buildah {
  /** Image ID built for each tag set, so that the push sends what was scanned. */
  private readonly built = new Map<string, string>();

  constructor(
    private readonly run: Runner = defaultRunner,
    private readonly env: Record<string, string> = {},
  ) {}

  async assertAvailable(): Promise<string> {
    let out;
    try {
      out = await this.run('buildah', ['--version'], { silent: true });
    } catch (err) {
      throw new BuildahError(`buildah is not installed or not on PATH (${(err as Error).message})`);
    }
    if (out.exitCode !== 0) {
      throw new BuildahError(
        `\`buildah --version\` exited ${out.exitCode}: ${lastLines(out.stderr || out.stdout, 3)}`,
      );
    }
    return out.stdout.trim();
  }

  /** Not a buildx driver: it exports OCI layouts like `docker-container`, but has no gha cache. */
  driver(): Promise<string> {
    return Promise.resolve('buildah');
  }

  /**
   * `buildah build` arguments. buildx's cache-from/cache-to and attestations have no meaning here
   * (the pipeline refuses provenance/sbom for buildah); SOURCE_DATE_EPOCH becomes --timestamp, as
   * BuildKit applies it to the image config and layer times.
   */
  static buildArgs(spec: BuildSpec, iidfile: string, epoch?: string): string[] {
    const args = ['build', '--format', 'oci', '--iidfile', iidfile];
    if (spec.file) args.push('--file', spec.file);
    for (const t of spec.tags) args.push('--tag', t);
    for (const [k, v] of Object.entries(spec.labels)) args.push('--label', `${k}=${v}`);
    for (const [k, v] of Object.entries(spec.buildArgs)) args.push('--build-arg', `${k}=${v}`);
    if (spec.platforms.length) args.push('--platform', spec.platforms.join(','));
    if (spec.target) args.push('--target', spec.target);
    for (const s of spec.secrets ?? []) args.push('--secret', `id=${s.id},src=${s.src}`);
    if (spec.noCache) args.push('--no-cache');
    if (epoch) args.push('--timestamp', epoch);
    args.push(spec.context);
    return args;
  }

  async build(spec: BuildSpec, output: BuildOutput): Promise<BuildMetadata> {
    if (output.kind === 'load') throw new BuildahError('buildah cannot --load into a Docker engine');
    const tmp = mkdtempSync(join(tmpdir(), 'buildah-'));
    try {
      const key = spec.tags.join('\n');
      let id = output.kind === 'push' ? this.built.get(key) : undefined;
      if (!id) {
        id = await this.buildImage(spec, join(tmp, 'iid'));
        this.built.set(key, id);
      }
      const digestfile = join(tmp, 'digest');
      const dests =
        output.kind === 'oci'
          ? [`oci:${output.dest}:${spec.tags[0]}`]
          : spec.tags.map((t) => `${DOCKER}${t}`);
      for (const dest of dests) await this.push(id, dest, digestfile);
      const digest = readFileSync(digestfile, 'utf8').trim();
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
        throw new BuildahError(`buildah push wrote no digest (got ${JSON.stringify(digest)})`);
      }
      // The same keys buildx's metadata file has: buildah's image ID is the config digest.
      return {
        'containerimage.digest': digest,
        'containerimage.config.digest': id,
        'image.name': spec.tags.join(','),
      };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  private async buildImage(spec: BuildSpec, iidfile: string): Promise<string> {
    const out = await this.run('buildah', Buildah.buildArgs(spec, iidfile, this.env.SOURCE_DATE_EPOCH), {
      env: this.env,
    });
    if (out.exitCode !== 0) {
      throw new BuildahError(
        `buildah build failed (exit ${out.exitCode}):\n${lastLines(out.stderr || out.stdout)}`,
      );
    }
    const raw = readFileSync(iidfile, 'utf8').trim();
    return raw.startsWith('sha256:') ? raw : `sha256:${raw}`;
  }

  private async push(id: string, dest: string, digestfile: string): Promise<void> {
    const loopback = dest.startsWith(DOCKER) && isLoopbackRegistry(registryOf(dest.slice(DOCKER.length)));
    const tls = loopback ? ['--tls-verify=false'] : [];
    const out = await this.run('buildah', ['push', ...tls, '--digestfile', digestfile, id, dest], {
      env: this.env,
    });
    if (out.exitCode !== 0) {
      throw new BuildahError(
        `buildah push to ${dest} failed (exit ${out.exitCode}):\n${lastLines(out.stderr || out.stdout)}`,
      );
    }
  }
}
