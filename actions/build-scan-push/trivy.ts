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
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRunner, type Runner } from './buildx.js';
import { parseReport, type TrivyReport } from './gate.js';

export const DEFAULT_TRIVY_VERSION = '0.75.0';

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
 * MLOPS_TRIVY_DOWNLOAD_BASE replaces the GitHub releases URL, for mirrors and tests.
 */
export async function installTrivy(version: string): Promise<string> {
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
  const base = (process.env.MLOPS_TRIVY_DOWNLOAD_BASE || DEFAULT_DOWNLOAD_BASE).replace(/\/+$/, '');
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
  /** An OCI/docker archive (`--input`) or an image reference in the local docker engine. */
  target: { input: string } | { image: string };
  output: string;
  cacheDir: string;
  ignoreUnfixed: boolean;
  ignorefile?: string;
  platform?: string;
  /** `--skip-db-update` and the like, when the cache dir already holds a DB from the tool cache. */
  skipFlags?: string[];
}

export class Trivy {
  constructor(
    readonly bin: string,
    private readonly run: Runner = defaultRunner,
  ) {}

  /** The binary must say it is the version that was pinned (a stale or swapped tool cache entry fails here). */
  async assertVersion(expected: string): Promise<void> {
    const out = await this.run(this.bin, ['--version'], { silent: true });
    const got = /^Version:\s*v?(\S+)/m.exec(out.stdout)?.[1];
    if (out.exitCode !== 0 || got !== expected) {
      throw new TrivyInstallError(
        `${this.bin} does not run as Trivy ${expected}: \`trivy --version\` exited ${out.exitCode} reporting ${got ?? `'${(out.stdout + out.stderr).trim().slice(0, 200)}'`}`,
      );
    }
    core.info(`Trivy ${got} (${this.bin})`);
  }

  static scanArgs(o: ScanOptions): string[] {
    const args = ['image'];
    if ('input' in o.target) args.push('--input', o.target.input);
    // Every severity is reported; the gate picks the ones that fail, so the summary shows them all.
    args.push('--scanners', 'vuln', '--format', 'json', '--output', o.output, '--cache-dir', o.cacheDir);
    args.push('--exit-code', '0', '--no-progress');
    args.push(...(o.skipFlags ?? []));
    if (o.ignoreUnfixed) args.push('--ignore-unfixed');
    if (o.ignorefile) args.push('--ignorefile', o.ignorefile);
    if (o.platform) args.push('--platform', o.platform);
    if ('image' in o.target) args.push(o.target.image);
    return args;
  }

  static sarifArgs(report: string, sarif: string): string[] {
    return ['convert', '--format', 'sarif', '--output', sarif, report];
  }

  async scan(o: ScanOptions): Promise<TrivyReport> {
    const out = await this.run(this.bin, Trivy.scanArgs(o));
    if (out.exitCode !== 0) {
      throw new TrivyScanError(
        `Trivy scan failed (exit ${out.exitCode}): ${(out.stderr || out.stdout).trim().split('\n').slice(-5).join('\n')}`,
      );
    }
    if (!existsSync(o.output)) throw new TrivyScanError(`Trivy exited 0 but wrote no report to ${o.output}`);
    return parseReport(readFileSync(o.output, 'utf8'), o.output);
  }

  async sarif(report: string, sarif: string): Promise<void> {
    const out = await this.run(this.bin, Trivy.sarifArgs(report, sarif));
    if (out.exitCode !== 0 || !existsSync(sarif)) {
      throw new TrivyScanError(`trivy convert to SARIF failed (exit ${out.exitCode}): ${out.stderr.trim()}`);
    }
  }
}
