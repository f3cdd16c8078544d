/**
 * Downloads one registered model version's files, as `mlflow.artifacts.download_artifacts` does
 * for `models:/<name>/<version>`: the registry's download URI (the LoggedModel's or the run's
 * artifact location), listed and fetched through the tracking server's artifact proxy. Files are
 * written into a fresh folder beside the destination and moved into place at the end, so a
 * failed download never leaves half a model where a build would copy it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { download, listLocalFiles, mapLimit, proxyUrl, type ListedFiles } from './artifacts.js';
import type { Registry } from './registry.js';
import { MlflowError, type Transport } from './transport.js';
import type { ModelVersion } from './types.js';

const PROXY = '/api/2.0/mlflow-artifacts/artifacts';

export interface DownloadedModel {
  version: ModelVersion;
  /** Where the registry says the files are (mlflow-artifacts:/...). */
  artifactUri: string;
  /** Absolute path of the model directory. */
  dir: string;
  /** Paths relative to `dir`, `/`-separated, in digest order. */
  files: string[];
  bytes: number;
  /** `sha256:<hex>`: see modelDigest. */
  digest: string;
}

/** Paths in byte order of their UTF-8 form, as `LC_ALL=C sort` and Python's sorted(bytes) order them. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * The model's own digest, the one model/iris_server/digest.py computes and the image label
 * carries: sha256 over the `sha256sum` lines (`<hex>  <relative path>\n`) of every file, in byte
 * order of the paths. So `find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum
 * | sha256sum` in the directory gives the same hex.
 */
export async function modelDigest(dir: string): Promise<{ digest: string; files: string[] }> {
  const files = (await listLocalFiles(dir)).map((f) => relative(dir, f).split(sep).join('/')).sort(byteOrder);
  if (files.length === 0) throw new MlflowError(`'${dir}' has no files to digest`);
  const outer = createHash('sha256');
  for (const rel of files) outer.update(`${await sha256File(join(dir, rel))}  ${rel}\n`);
  return { digest: `sha256:${outer.digest('hex')}`, files };
}

interface Remote {
  path: string;
  size?: number;
}

/** Every file under the artifact root, recursively, through the proxy's list endpoint. */
async function listRemote(t: Transport, root: string): Promise<Remote[]> {
  const at = root.indexOf(PROXY);
  const endpoint = root.slice(0, at + PROXY.length);
  const rootPath = decodeURIComponent(root.slice(at + PROXY.length + 1));
  const out: Remote[] = [];
  const walk = async (sub: string): Promise<void> => {
    const path = sub ? `${rootPath}/${sub}` : rootPath;
    const res = await t.send(`${endpoint}?${new URLSearchParams({ path })}`, {
      method: 'GET',
      headers: t.headers(),
    });
    const listed = (await res.json()) as ListedFiles;
    for (const f of listed.files ?? []) {
      // The proxy names entries by their base name; anything else would write outside `dir`.
      if (!f.path || f.path.includes('/') || f.path === '.' || f.path === '..') {
        throw new MlflowError(`MLflow listed an artifact named '${f.path}' under '${path}': refusing it`);
      }
      const rel = sub ? `${sub}/${f.path}` : f.path;
      if (f.is_dir) await walk(rel);
      else out.push({ path: rel, size: f.file_size === undefined ? undefined : Number(f.file_size) });
    }
  };
  await walk('');
  return out;
}

async function fetchFile(t: Transport, root: string, file: Remote, into: string): Promise<number> {
  const local = join(into, ...file.path.split('/'));
  await mkdir(dirname(local), { recursive: true });
  const res = await download(t, root, file.path);
  if (!res.body) throw new MlflowError(`MLflow sent no body for artifact '${file.path}'`);
  await pipeline(Readable.fromWeb(res.body as ReadableStream<Uint8Array>), createWriteStream(local));
  const { size } = await stat(local);
  if (file.size !== undefined && size !== file.size) {
    throw new MlflowError(`artifact '${file.path}': MLflow listed ${file.size} bytes, ${size} arrived`);
  }
  return size;
}

/**
 * `dest` must be missing, empty, or an earlier download (it has an MLmodel file), which is
 * replaced; anything else is someone's folder and is left alone.
 */
async function checkDestination(dest: string): Promise<boolean> {
  const entries = await readdir(dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (entries === undefined || entries.length === 0) return entries !== undefined;
  if (!entries.includes('MLmodel')) {
    throw new MlflowError(`'${dest}' exists and is not an MLflow model directory: not replacing it`);
  }
  return true;
}

/** Through the client's transport and registry part (client.artifacts.downloadModelVersion). */
export async function downloadModelVersion(
  t: Transport,
  registry: Pick<Registry, 'getModelVersion'>,
  a: { name: string; version: string; dest: string },
): Promise<DownloadedModel> {
  const mv = await registry.getModelVersion(a.name, a.version);
  if (mv.status !== 'READY') {
    throw new MlflowError(`model version ${a.name}/${a.version} is ${mv.status}, not READY`);
  }
  const { artifact_uri: artifactUri } = await t.call<{ artifact_uri: string }>(
    'GET',
    '/model-versions/get-download-uri',
    { name: a.name, version: a.version },
  );
  const root = proxyUrl(t, artifactUri);
  const remote = await listRemote(t, root);
  if (!remote.some((f) => f.path === 'MLmodel')) {
    throw new MlflowError(`${artifactUri} (${a.name} version ${a.version}) has no MLmodel file`);
  }
  const dest = resolve(a.dest);
  const replace = await checkDestination(dest);
  await mkdir(dirname(dest), { recursive: true });
  const staging = await mkdtemp(join(dirname(dest), '.download-'));
  let bytes = 0;
  try {
    await mapLimit(remote, t.uploadConcurrency, async (file) => {
      bytes += await fetchFile(t, root, file, staging);
    });
    if (replace) await rm(dest, { recursive: true, force: true });
    await rename(staging, dest);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  const { digest, files } = await modelDigest(dest);
  return { version: mv, artifactUri, dir: dest, files, bytes, digest };
}
