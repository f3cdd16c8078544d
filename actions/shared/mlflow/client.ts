/**
 * The MLflow REST client the actions share, made of parts over one Transport (one set of
 * credentials, timeouts and request count): `tracking` (experiments, runs), `artifacts` (through
 * the server's proxy), `models` (MLflow 3 LoggedModels) and `registry` (versions, aliases).
 */
import { basename } from 'node:path';
import * as artifacts from './artifacts.js';
import { downloadModelVersion, type DownloadedModel } from './download.js';
import * as lm from './logged-models.js';
import { Registry } from './registry.js';
import { Tracking } from './tracking.js';
import { MlflowError, Transport, type MlflowClientOptions } from './transport.js';
import type { FileInfo, LoggedModel } from './types.js';

/** Run artifacts through the tracking server's proxy (`mlflow server --serve-artifacts`). */
export class Artifacts {
  constructor(
    private readonly t: Transport,
    private readonly tracking: Tracking,
    private readonly roots: Map<string, string>,
    private readonly registry: Registry,
  ) {}

  /** The run's artifact_uri, as createRun or getRun last saw it (else asked for). */
  async rootUri(runId: string): Promise<string> {
    return this.roots.get(runId) ?? (await this.tracking.getRun(runId)).info.artifact_uri;
  }

  private async proxyRoot(runId: string): Promise<string> {
    return artifacts.proxyUrl(this.t, await this.rootUri(runId));
  }

  /** Throws the "start it with --serve-artifacts" error now when the run's artifacts cannot be uploaded over HTTP. */
  async checkArtifactUploads(runId: string): Promise<void> {
    await this.proxyRoot(runId);
  }

  async logArtifact(runId: string, localFile: string, artifactDir?: string): Promise<void> {
    const path = artifacts.joinArtifactPath(artifactDir, basename(localFile));
    await artifacts.uploadFile(this.t, await this.proxyRoot(runId), localFile, path);
  }

  /** Uploads every file under `localDir`; returns how many. */
  async logArtifacts(runId: string, localDir: string, artifactDir?: string): Promise<number> {
    return artifacts.uploadDir(this.t, await this.proxyRoot(runId), localDir, artifactDir);
  }

  async listArtifacts(runId: string, path?: string): Promise<FileInfo[]> {
    const out: FileInfo[] = [];
    let pageToken: string | undefined;
    do {
      const res = await this.t.call<artifacts.ListedFiles>('GET', '/artifacts/list', {
        run_id: runId,
        path,
        page_token: pageToken,
      });
      out.push(...(res.files ?? []).map(artifacts.toFileInfo));
      pageToken = res.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  async downloadArtifact(runId: string, path: string): Promise<Buffer> {
    const res = await artifacts.download(this.t, await this.proxyRoot(runId), path);
    return Buffer.from(await res.arrayBuffer());
  }

  /** A registered model version's files into `dest`, replacing an earlier download, with their digest. */
  downloadModelVersion(a: { name: string; version: string; dest: string }): Promise<DownloadedModel> {
    return downloadModelVersion(this.t, this.registry, a);
  }
}

/** MLflow 3 LoggedModels, and logging a local model directory as log_model would. */
export class Models {
  private supported?: Promise<boolean>;

  constructor(
    private readonly t: Transport,
    private readonly artifacts: Artifacts,
  ) {}

  /** Whether the server has MLflow 3's LoggedModel API; asked once, in an experiment the caller uses. */
  supportsLoggedModels(experimentId: string): Promise<boolean> {
    this.supported ??= lm.probeLoggedModels(this.t, experimentId).catch((err: unknown) => {
      this.supported = undefined;
      throw err;
    });
    return this.supported;
  }

  async findLoggedModel(a: {
    experimentId: string;
    runId: string;
    name?: string;
  }): Promise<LoggedModel | undefined> {
    if (!(await this.supportsLoggedModels(a.experimentId))) return undefined;
    return lm.findLoggedModel(this.t, a);
  }

  async logModelDir(a: {
    runId: string;
    experimentId: string;
    localDir: string;
    name: string;
  }): Promise<{ modelUri: string; source: string; modelId?: string }> {
    const supported = await this.supportsLoggedModels(a.experimentId);
    return lm.logModelDir(this.t, supported, () => this.artifacts.rootUri(a.runId), a);
  }
}

export class MlflowClient {
  readonly tracking: Tracking;
  readonly artifacts: Artifacts;
  readonly models: Models;
  readonly registry: Registry;
  private readonly t: Transport;

  constructor(opts: MlflowClientOptions) {
    this.t = new Transport(opts);
    const roots = new Map<string, string>();
    this.tracking = new Tracking(this.t, roots);
    this.registry = new Registry(this.t);
    this.artifacts = new Artifacts(this.t, this.tracking, roots, this.registry);
    this.models = new Models(this.t, this.artifacts);
  }

  get trackingUri(): string {
    return this.t.baseUrl;
  }

  /** HTTP requests made so far, retries included. */
  get requestCount(): number {
    return this.t.requestCount;
  }
  set requestCount(n: number) {
    this.t.requestCount = n;
  }

  /** Reachability and credentials, in bounded time (a few short attempts). */
  async ping(): Promise<void> {
    const timeoutMs = Math.min(this.t.timeoutMs, 10_000);
    try {
      await this.t.call(
        'GET',
        '/experiments/search',
        { max_results: 1 },
        { timeoutMs, attempts: Math.min(this.t.attempts, 3) },
      );
    } catch (err) {
      if (!(err instanceof MlflowError)) throw err;
      if (err.status === 401 || err.status === 403) {
        throw new MlflowError(
          `MLflow at ${this.t.baseUrl} rejected the credentials (HTTP ${err.status}): ${this.t.credentialHint(err.status)}`,
          err.status,
          err.errorCode,
        );
      }
      if (err.status === undefined) throw err; // already "cannot reach MLflow at <uri>: ..."
      throw new MlflowError(
        `cannot reach MLflow at ${this.t.baseUrl}: ${err.message}`,
        err.status,
        err.errorCode,
      );
    }
  }
}
