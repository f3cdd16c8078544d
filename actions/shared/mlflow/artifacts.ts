/**
 * Artifacts through the tracking server's proxy (`mlflow server --serve-artifacts`): an artifact
 * root `mlflow-artifacts:/<path>` (or `mlflow-artifacts://host:port/<path>`) maps to
 * `<tracking uri>/api/2.0/mlflow-artifacts/artifacts/<path>`, as MlflowArtifactsRepository.resolve_uri does.
 * Files are piped from disk over node:http (bounded memory), with Content-Length, and a fresh stream per retry.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { MlflowError, type Transport } from './transport.js';
import type { FileInfo } from './types.js';

const PROXY = '/api/2.0/mlflow-artifacts/artifacts';

/** Assume at least this throughput when giving an upload or download time to finish. */
const MIN_BYTES_PER_SECOND = 1024 * 1024;

/** The proxy URL of an artifact root, or a clear error when the server does not proxy it. */
export function proxyUrl(transport: Transport, artifactUri: string): string {
  if (artifactUri.startsWith('mlflow-artifacts:')) {
    const u = new URL(artifactUri);
    const base = new URL(transport.baseUrl);
    const origin = u.host ? `${base.protocol}//${u.host}` : base.origin;
    const prefix = u.host ? '' : base.pathname.replace(/\/+$/, '');
    return `${origin}${prefix}${PROXY}/${trimSlashes(u.pathname)}`.replace(/\/+$/, '');
  }
  if (/^https?:/.test(artifactUri) && artifactUri.includes(PROXY)) return artifactUri.replace(/\/+$/, '');
  throw new MlflowError(
    `artifact location '${artifactUri}' is not served through the tracking server; ` +
      `start it with 'mlflow server --serve-artifacts' (artifact roots 'mlflow-artifacts:/...') so artifacts can be uploaded over HTTP`,
  );
}

export function joinArtifactPath(...parts: (string | undefined)[]): string {
  return parts
    .filter((p): p is string => !!p)
    .map(trimSlashes)
    .filter(Boolean)
    .join('/');
}

/**
 * The server refuses these (mlflow.utils.uri.validate_path_is_safe); saying so up front names the
 * file and avoids a half-uploaded tree.
 */
export function assertUploadablePath(path: string, localFile: string): void {
  if (path.includes('#') || path.split('/').includes('..')) {
    throw new MlflowError(
      `cannot upload '${localFile}' as artifact '${path}': MLflow rejects artifact paths containing '#' or '..'`,
    );
  }
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

function transferTimeout(transport: Transport, bytes: number): number {
  return Math.max(transport.timeoutMs, Math.ceil((bytes / MIN_BYTES_PER_SECOND) * 1000));
}

export async function uploadFile(
  transport: Transport,
  rootUrl: string,
  localFile: string,
  artifactPath: string,
): Promise<void> {
  assertUploadablePath(artifactPath, localFile);
  const { size } = await stat(localFile);
  await uploadBody(transport, rootUrl, artifactPath, size, () => createReadStream(localFile));
}

export async function uploadBytes(
  transport: Transport,
  rootUrl: string,
  artifactPath: string,
  data: Buffer | string,
): Promise<void> {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  await uploadBody(transport, rootUrl, artifactPath, buf.length, () => buf);
}

async function uploadBody(
  transport: Transport,
  rootUrl: string,
  artifactPath: string,
  size: number,
  body: () => Readable | Buffer,
): Promise<void> {
  const url = `${rootUrl}/${encodePath(artifactPath)}`;
  await transport.put(
    url,
    transport.headers({
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    }),
    body,
    { timeoutMs: transferTimeout(transport, size) },
  );
}

/** Every regular file under `dir` (symlinked files followed, symlinked directories not, to avoid cycles). */
export async function listLocalFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(full);
      else if (e.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isFile()) out.push(full);
    }
  };
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new MlflowError(`'${dir}' is not a directory`);
  await walk(dir);
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight; the first failure stops new work and is thrown. */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

export async function uploadDir(
  transport: Transport,
  rootUrl: string,
  localDir: string,
  artifactDir: string | undefined,
  opts: { concurrency?: number; replace?: (relPath: string) => Buffer | undefined } = {},
): Promise<number> {
  const files = (await listLocalFiles(localDir)).map((file) => {
    const dest = joinArtifactPath(artifactDir, relative(localDir, file).split(sep).join('/'));
    assertUploadablePath(dest, file);
    return { file, rel: relative(localDir, file).split(sep).join('/'), dest };
  });
  await mapLimit(files, opts.concurrency ?? transport.uploadConcurrency, async ({ file, rel, dest }) => {
    const replacement = opts.replace?.(rel);
    if (replacement) await uploadBytes(transport, rootUrl, dest, replacement);
    else await uploadFile(transport, rootUrl, file, dest);
  });
  return files.length;
}

export function artifactFileName(localFile: string): string {
  return basename(localFile);
}

export async function download(
  transport: Transport,
  rootUrl: string,
  artifactPath: string,
): Promise<Response> {
  // Size is unknown up front: give downloads ten times the call timeout.
  return transport.send(
    `${rootUrl}/${encodePath(trimSlashes(artifactPath))}`,
    { method: 'GET', headers: transport.headers() },
    { timeoutMs: transport.timeoutMs * 10 },
  );
}

export interface ListedFiles {
  files?: { path: string; is_dir?: boolean; file_size?: number | string }[];
  next_page_token?: string;
}

export function toFileInfo(f: { path: string; is_dir?: boolean; file_size?: number | string }): FileInfo {
  const info: FileInfo = { path: f.path, is_dir: !!f.is_dir };
  if (f.file_size !== undefined) info.file_size = Number(f.file_size);
  return info;
}
