/**
 * Trivy: installed from its GitHub release with @actions/tool-cache at a pinned version, the
 * archive's SHA-256 checked against the release's checksums file AND, for versions listed below,
 * against a digest pinned in this source. The second check matters: in March 2026 Trivy's release
 * automation was hijacked (GHSA-69fq-xp46-6x23) and v0.69.4 was published with its own, matching,
 * checksums file. A checksum fetched from the same place as the archive only proves integrity.
 */
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { createHash } from 'node:crypto';
import * as io from '@actions/io';
import { accessSync, constants, createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRunner, type Runner } from './buildx.js';
import { parseReport, type TrivyReport } from './gate.js';

/** A version users and this project's tests can both get (0.75.0 is not served by every mirror). */
export const DEFAULT_TRIVY_VERSION = '0.74.0';

/**
 * SHA-256 of release archives, each cross-checked in several independent public pins of the same
 * release and in its trivy_<v>_checksums.txt. Bumping the default means adding its digests here.
 */
export const PINNED_SHA256: Record<string, Record<string, string>> = {
  '0.75.0': {
    'trivy_0.75.0_Linux-64bit.tar.gz': 'c6e65abddb348e25f10549df887045629cf28cc72453cd1c63acb717316b3f3f',
    'trivy_0.75.0_Linux-ARM64.tar.gz': 'a1ee9f6ffb7d112b64ff726a2a0717c21175c1114361391f4a132956751a13b3',
  },
  '0.74.0': {
    'trivy_0.74.0_Linux-64bit.tar.gz': '2ae6fe3ee734b7fdf11335663e18c75ea12dccc76062f09f164a3b0f8be4371a',
    'trivy_0.74.0_Linux-ARM64.tar.gz': 'b94ce1976bbf3c15b514b605ee88be7c6d94a29be2302847ff01cb794d47aad5',
  },
  '0.69.3': {
    'trivy_0.69.3_Linux-64bit.tar.gz': '1816b632dfe529869c740c0913e36bd1629cb7688bd5634f4a858c1d57c88b75',
    'trivy_0.69.3_Linux-ARM64.tar.gz': '7e3924a974e912e57b4a99f65ece7931f8079584dae12eb7845024f97087bdfd',
  },
};

/** Published by the attacker during the March 2026 compromise; never install these. */
export const COMPROMISED_VERSIONS = new Set(['0.69.4', '0.69.5', '0.69.6']);

const DEFAULT_DOWNLOAD_BASE = 'https://github.com/aquasecurity/trivy/releases/download';

export class TrivyInstallError extends Error {
  override name = 'TrivyInstallError';
}
export class TrivyScanError extends Error {
  override name = 'TrivyScanError';
}

export function assetName(version: string, platform = process.platform, arch = process.arch): string {
  const os = { linux: 'Linux', darwin: 'macOS' }[platform as 'linux' | 'darwin'];
  const cpu = { x64: '64bit', arm64: 'ARM64' }[arch as 'x64' | 'arm64'];
  if (!os || !cpu) {
    throw new TrivyInstallError(
      `Trivy releases have no archive for ${platform}/${arch} that this action installs`,
    );
  }
  return `trivy_${version}_${os}-${cpu}.tar.gz`;
}

/** `<sha256>  <file>` lines as goreleaser writes them. */
export function checksumFor(checksums: string, asset: string): string | undefined {
  for (const line of checksums.split(/\r?\n/)) {
    const m = /^([0-9a-f]{64})\s+\*?(.+)$/i.exec(line.trim());
    if (m && m[2]!.trim() === asset) return m[1]!.toLowerCase();
  }
  return undefined;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (c) => hash.update(c))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

async function download(url: string, what: string): Promise<string> {
  try {
    return await tc.downloadTool(url);
  } catch (err) {
    throw new TrivyInstallError(
      `Downloading the Trivy ${what} from ${url} failed: ${(err as Error).message}`,
    );
  }
}

/**
 * The trivy binary for `version`, from the runner's tool cache when a previous run installed it.
 * `downloadBase` (MLOPS_TRIVY_DOWNLOAD_BASE) replaces the GitHub releases URL, for mirrors and tests.
 */
export async function installTrivy(version: string, downloadBase?: string): Promise<string> {
  const v = version.replace(/^v/, '');
  if (COMPROMISED_VERSIONS.has(v)) {
    throw new TrivyInstallError(
      `Trivy ${v} was published by an attacker during the March 2026 compromise (GHSA-69fq-xp46-6x23); pick another trivy-version`,
    );
  }
  const cached = tc.find('trivy', v);
  if (cached) {
    core.info(`Trivy ${v} from the tool cache: ${cached}`);
    return join(cached, 'trivy');
  }
  const base = (downloadBase || DEFAULT_DOWNLOAD_BASE).replace(/\/+$/, '');
  const asset = assetName(v);
  const sumsName = `trivy_${v}_checksums.txt`;
  const sumsPath = await download(`${base}/v${v}/${sumsName}`, 'checksums file');
  const published = checksumFor(readFileSync(sumsPath, 'utf8'), asset);
  if (!published) throw new TrivyInstallError(`${sumsName} lists no checksum for ${asset}`);
  const pinned = PINNED_SHA256[v]?.[asset];
  if (pinned && pinned !== published) {
    throw new TrivyInstallError(
      `${sumsName} says ${asset} is ${published}, but this action pins ${pinned}: refusing a release that changed after it was pinned`,
    );
  }
  if (!pinned) {
    core.warning(
      `No digest is pinned in this action for Trivy ${v}; ${asset} is verified against ${sumsName} from the same release only`,
    );
  }
  const archive = await download(`${base}/v${v}/${asset}`, 'archive');
  const actual = await sha256File(archive);
  if (actual !== published) {
    throw new TrivyInstallError(
      `Checksum mismatch for ${asset}: downloaded ${actual}, expected ${published} (${pinned ? 'pinned and ' : ''}from ${sumsName}); not installing it`,
    );
  }
  const dir = await tc.extractTar(archive);
  if (!existsSync(join(dir, 'trivy'))) throw new TrivyInstallError(`${asset} contains no trivy binary`);
  const cachedDir = await tc.cacheDir(dir, 'trivy', v);
  core.info(`Installed Trivy ${v} (${asset}, sha256 ${actual}) into the tool cache`);
  return join(cachedDir, 'trivy');
}

export interface ScanOptions {
  /** An OCI layout directory or docker archive (`--input`), or an image in the local docker engine. */
  target: { input: string } | { image: string };
  output: string;
  cacheDir: string;
  ignoreUnfixed: boolean;
  ignorefile?: string;
  platform?: string;
  /** `--skip-db-update` and the like, when the cache dir already holds a DB from the tool cache. */
  skipFlags?: string[];
  /** Undefined: Trivy's own default (vuln and secret). */
  scanners?: string[];
  /** A Go duration such as 10m, passed as --timeout. */
  timeout?: string;
  /** trivy.yaml named by the `trivy-config` input; never one Trivy happens to find. */
  config?: string;
}

/**
 * Nothing but what the user configured: no version check, no telemetry. Env vars rather than
 * flags because `trivy convert` has neither flag (they exist on the scan commands only).
 */
export const TRIVY_ENV = { TRIVY_SKIP_VERSION_CHECK: 'true', TRIVY_DISABLE_TELEMETRY: 'true' };

export class Trivy {
  /**
   * @param cwd a private, empty directory: Trivy reads trivy.yaml, .trivyignore and
   *   trivy-secret.yaml from its working directory by default, so stray files in the workspace
   *   must never be there. Paths passed to it are absolute.
   */
  constructor(
    readonly bin: string,
    private readonly run: Runner = defaultRunner,
    private readonly cwd?: string,
  ) {}

  private exec(args: string[], silent = false) {
    return this.run(this.bin, args, { silent, env: TRIVY_ENV, cwd: this.cwd });
  }

  /** What `trivy --version` reports, or an error naming the binary. */
  async version(): Promise<string> {
    const out = await this.exec(['--version'], true);
    const got = /^Version:\s*v?(\S+)/m.exec(out.stdout)?.[1];
    if (out.exitCode !== 0 || !got) {
      throw new TrivyInstallError(
        `${this.bin} does not run as Trivy: \`trivy --version\` exited ${out.exitCode}: '${(out.stdout + out.stderr).trim().slice(0, 200)}'`,
      );
    }
    return got;
  }

  /** The binary must say it is the version that was pinned (a stale or swapped tool cache entry fails here). */
  async assertVersion(expected: string): Promise<void> {
    const got = await this.version().catch(() => undefined);
    if (got !== expected) {
      throw new TrivyInstallError(
        `${this.bin} does not run as Trivy ${expected}: \`trivy --version\` reports ${got ?? 'no version'}`,
      );
    }
    core.info(`Trivy ${got} (${this.bin})`);
  }

  static scanArgs(o: ScanOptions): string[] {
    const args = ['image'];
    if ('input' in o.target) args.push('--input', o.target.input);
    // Every severity is reported; the gate picks the ones that fail, so the summary shows them all.
    args.push('--format', 'json', '--output', o.output, '--cache-dir', o.cacheDir);
    args.push('--exit-code', '0', '--no-progress', '--skip-version-check', '--disable-telemetry');
    if (o.scanners?.length) args.push('--scanners', o.scanners.join(','));
    if (o.timeout) args.push('--timeout', o.timeout);
    if (o.config) args.push('--config', o.config);
    args.push(...(o.skipFlags ?? []));
    if (o.ignoreUnfixed) args.push('--ignore-unfixed');
    if (o.ignorefile) args.push('--ignorefile', o.ignorefile);
    if (o.platform) args.push('--platform', o.platform);
    if ('image' in o.target) args.push(o.target.image);
    return args;
  }

  static convertArgs(report: string, format: string, output: string): string[] {
    return ['convert', '--format', format, '--output', output, report];
  }

  async scan(o: ScanOptions): Promise<TrivyReport> {
    const out = await this.exec(Trivy.scanArgs(o));
    if (out.exitCode !== 0) {
      throw new TrivyScanError(
        `Trivy scan failed (exit ${out.exitCode}): ${(out.stderr || out.stdout).trim().split('\n').slice(-5).join('\n')}`,
      );
    }
    if (!existsSync(o.output)) throw new TrivyScanError(`Trivy exited 0 but wrote no report to ${o.output}`);
    return parseReport(readFileSync(o.output, 'utf8'), o.output);
  }

  /** A JSON report in another format (SARIF for code scanning, or the `format` input's). */
  async convert(report: string, format: string, output: string): Promise<void> {
    const out = await this.exec(Trivy.convertArgs(report, format, output));
    if (out.exitCode !== 0 || !existsSync(output)) {
      throw new TrivyScanError(
        `trivy convert to ${format} failed (exit ${out.exitCode}): ${(out.stderr || out.stdout).trim().split('\n').slice(-5).join('\n')}`,
      );
    }
  }
}

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The Trivy to run, without downloading when one is already there: the `trivy-path` input (used
 * as is, whatever its version), the tool cache's pinned version, a `trivy` on PATH that reports the
 * pinned version, and only then the verified download.
 */
export async function locateTrivy(
  o: { path?: string; version: string; cwd?: string; downloadBase?: string },
  run: Runner = defaultRunner,
): Promise<{ trivy: Trivy; version: string }> {
  if (o.path) {
    if (!isExecutable(o.path)) {
      throw new TrivyInstallError(`trivy-path ${o.path} is not an executable file`);
    }
    const trivy = new Trivy(o.path, run, o.cwd);
    const version = await trivy.version();
    if (version !== o.version)
      core.info(`trivy-path is Trivy ${version} (trivy-version ${o.version} is not used)`);
    core.info(`Trivy ${version} from trivy-path (${o.path})`);
    return { trivy, version };
  }
  const v = o.version.replace(/^v/, '');
  if (!COMPROMISED_VERSIONS.has(v) && !tc.find('trivy', v)) {
    const onPath = await io.which('trivy', false);
    if (onPath) {
      const found = new Trivy(onPath, run, o.cwd);
      const version = await found.version().catch(() => undefined);
      if (version === v) {
        core.info(`Trivy ${v} already installed: ${onPath}`);
        return { trivy: found, version };
      }
      core.info(`${onPath} is Trivy ${version ?? '(unknown version)'}, not ${v}: installing ${v}`);
    }
  }
  const trivy = new Trivy(await installTrivy(v, o.downloadBase), run, o.cwd);
  await trivy.assertVersion(v);
  return { trivy, version: v };
}
