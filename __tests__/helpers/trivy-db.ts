/**
 * A small, real Trivy vulnerability DB for offline tests: built by `trivy-db build --only-update
 * debian --only-update ghsa --only-update nvd` (Debian's tracker for OS packages, GitHub's
 * advisories for pip packages, NVD's CVSS, CWE, references and dates for one of the CVEs, as the
 * real DB has them for most; the trivy-db version Trivy 0.74.0's go.mod requires, built by
 * scripts/setup) over the hand-made vuln-list in __tests__/fixtures/trivy-db, packed as the OCI
 * artifact Trivy downloads (one `db.tar.gz` layer of media type
 * application/vnd.aquasec.trivy.db.layer.v1.tar+gzip), and pushed to a registry with the
 * distribution API, as `oras push` would. A user with a mirror does the same and points
 * TRIVY_DB_REPOSITORY at it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './run-action.js';

export const TRIVY_BIN = join(ROOT, '.tools', 'bin', 'trivy');
export const TRIVY_DB_BIN = join(ROOT, '.tools', 'bin', 'trivy-db');
export const VULN_LIST = join(ROOT, '__tests__', 'fixtures', 'trivy-db', 'vuln-list');
export const DB_LAYER_MEDIA_TYPE = 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip';
const CONFIG_MEDIA_TYPE = 'application/vnd.aquasec.trivy.config.v1+json';

export const realTrivyAvailable = (): boolean => existsSync(TRIVY_BIN) && existsSync(TRIVY_DB_BIN);

/** Builds trivy.db + metadata.json into `<work>/out`; returns that directory. */
export function buildTrivyDb(work: string): string {
  const cache = join(work, 'vuln-list');
  cpSync(VULN_LIST, cache, { recursive: true });
  // trivy-db walks these even when empty; git keeps no empty directories.
  for (const d of ['CVE', 'DLA', 'DSA'])
    mkdirSync(join(cache, 'vuln-list-debian', 'tracker', d), { recursive: true });
  // The ghsa source maps Swift advisories through CocoaPods specs and fails without the directory.
  mkdirSync(join(cache, 'cocoapods-specs', 'Specs'), { recursive: true });
  const out = join(work, 'out');
  execFileSync(
    TRIVY_DB_BIN,
    [
      'build',
      ...['--only-update', 'debian', '--only-update', 'ghsa', '--only-update', 'nvd'],
      ...['--cache-dir', cache, '--output-dir', out],
    ],
    {
      cwd: work,
      stdio: 'pipe',
    },
  );
  return out;
}

/** The DB directory as Trivy's OCI artifact layer: db.tar.gz holding trivy.db and metadata.json. */
export function packTrivyDb(dbDir: string, work: string): string {
  const archive = join(work, 'db.tar.gz');
  execFileSync('tar', ['-czf', archive, '-C', dbDir, 'trivy.db', 'metadata.json']);
  return archive;
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushBlob(registryUrl: string, repo: string, blob: Buffer): Promise<string> {
  const digest = digestOf(blob);
  const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status}`);
  const location = new URL(start.headers.get('location')!, registryUrl);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: blob,
  });
  if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status} ${await put.text()}`);
  return digest;
}

/** Pushes the packed DB as `<repo>:<tag>` (Trivy asks for tag 2, its DB schema version). */
export async function pushTrivyDb(
  registryUrl: string,
  repo: string,
  archive: string,
  tag = '2',
): Promise<string> {
  const layer = readFileSync(archive);
  const config = Buffer.from('{}');
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: CONFIG_MEDIA_TYPE,
      digest: await pushBlob(registryUrl, repo, config),
      size: config.length,
    },
    layers: [
      {
        mediaType: DB_LAYER_MEDIA_TYPE,
        digest: await pushBlob(registryUrl, repo, layer),
        size: layer.length,
        annotations: { 'org.opencontainers.image.title': 'db.tar.gz' },
      },
    ],
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': manifest.mediaType },
    body,
  });
  if (res.status !== 201) throw new Error(`manifest push: HTTP ${res.status} ${await res.text()}`);
  return digestOf(body);
}
