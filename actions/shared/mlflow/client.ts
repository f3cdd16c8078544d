/** The MLflow REST client the actions share: a thin facade over the modules in this folder. */
import { basename } from 'node:path';
import * as artifacts from './artifacts.js';
import * as lm from './logged-models.js';
import * as registry from './registry.js';
import * as tracking from './tracking.js';
import { MlflowError, Transport, type CallOptions, type MlflowClientOptions } from './transport.js';
import type {
  DatasetInput,
  Experiment,
  FileInfo,
  LoggedMetric,
  LoggedModel,
  Metric,
  ModelVersion,
  Param,
  RegisteredModel,
  Run,
  RunInfo,
  RunStatus,
  Tag,
} from './types.js';

export class MlflowClient {
  private readonly t: Transport;
  private loggedModels?: Promise<boolean>;
  private readonly artifactRoots = new Map<string, string>();

  constructor(opts: MlflowClientOptions) {
    this.t = new Transport(opts);
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

  // Experiments and runs

  getExperimentByName(name: string): Promise<Experiment | undefined> {
    return tracking.getExperimentByName(this.t, name);
  }
  getOrCreateExperiment(name: string): Promise<Experiment> {
    return tracking.getOrCreateExperiment(this.t, name);
  }
  async createRun(a: {
    experimentId: string;
    runName?: string;
    tags?: Record<string, string>;
    startTime?: number;
  }): Promise<RunInfo> {
    const info = await tracking.createRun(this.t, a);
    this.artifactRoots.set(info.run_id, info.artifact_uri);
    return info;
  }
  updateRun(runId: string, a: { status?: RunStatus; endTime?: number; runName?: string }): Promise<void> {
    return tracking.updateRun(this.t, runId, a);
  }
  /**
   * Sets the run's final status, by default with the long retry budget (endRunRetries) so a short
   * outage does not leave it RUNNING; `budget` replaces it (a cancelled job has seconds, not minutes).
   */
  endRun(
    runId: string,
    status: Exclude<RunStatus, 'RUNNING' | 'SCHEDULED'>,
    budget: CallOptions = this.t.endRun,
  ): Promise<void> {
    return tracking.updateRun(this.t, runId, { status, endTime: Date.now() }, budget);
  }
  async getRun(runId: string): Promise<Run> {
    const run = await tracking.getRun(this.t, runId);
    this.artifactRoots.set(runId, run.info.artifact_uri);
    return run;
  }
  searchRuns(a: {
    experimentIds: string[];
    filter?: string;
    orderBy?: string[];
    maxResults?: number;
  }): Promise<Run[]> {
    return tracking.searchRuns(this.t, a);
  }
  logBatch(runId: string, a: { metrics?: Metric[]; params?: Param[]; tags?: Tag[] }): Promise<void> {
    return tracking.logBatch(this.t, runId, a);
  }
  setTag(runId: string, key: string, value: string): Promise<void> {
    return tracking.setTag(this.t, runId, key, value);
  }
  logInputs(runId: string, datasets: DatasetInput[]): Promise<void> {
    return tracking.logInputs(this.t, runId, datasets);
  }
  /** Every value of one metric, in the order the server stored them. */
  getMetricHistory(runId: string, key: string): Promise<LoggedMetric[]> {
    return tracking.getMetricHistory(this.t, runId, key);
  }

  // Artifacts

  private async runArtifactRoot(runId: string): Promise<string> {
    let uri = this.artifactRoots.get(runId);
    if (!uri) uri = (await this.getRun(runId)).info.artifact_uri;
    return artifacts.proxyUrl(this.t, uri);
  }

  /** Throws the "start it with --serve-artifacts" error now when the run's artifacts cannot be uploaded over HTTP. */
  async checkArtifactUploads(runId: string): Promise<void> {
    await this.runArtifactRoot(runId);
  }

  async logArtifact(runId: string, localFile: string, artifactDir?: string): Promise<void> {
    const root = await this.runArtifactRoot(runId);
    await artifacts.uploadFile(
      this.t,
      root,
      localFile,
      artifacts.joinArtifactPath(artifactDir, basename(localFile)),
    );
  }

  /** Uploads every file under `localDir`; returns how many. */
  async logArtifacts(runId: string, localDir: string, artifactDir?: string): Promise<number> {
    return artifacts.uploadDir(this.t, await this.runArtifactRoot(runId), localDir, artifactDir);
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
    const res = await artifacts.download(this.t, await this.runArtifactRoot(runId), path);
    return Buffer.from(await res.arrayBuffer());
  }

  // LoggedModels

  /** Whether the server has MLflow 3's LoggedModel API; asked once, in an experiment the caller uses. */
  supportsLoggedModels(experimentId: string): Promise<boolean> {
    this.loggedModels ??= lm.probeLoggedModels(this.t, experimentId).catch((err: unknown) => {
      this.loggedModels = undefined;
      throw err;
    });
    return this.loggedModels;
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
    return lm.logModelDir(this.t, supported, async () => await this.runArtifactRootUri(a.runId), a);
  }

  private async runArtifactRootUri(runId: string): Promise<string> {
    return this.artifactRoots.get(runId) ?? (await this.getRun(runId)).info.artifact_uri;
  }

  // Registry

  /** The registered model, or undefined when there is none of that name. */
  getRegisteredModel(name: string): Promise<RegisteredModel | undefined> {
    return registry.getRegisteredModel(this.t, name);
  }
  getOrCreateRegisteredModel(name: string, tags?: Record<string, string>): Promise<RegisteredModel> {
    return registry.getOrCreateRegisteredModel(this.t, name, tags);
  }
  createModelVersion(a: {
    name: string;
    source: string;
    runId?: string;
    modelId?: string;
    tags?: Record<string, string>;
    description?: string;
  }): Promise<ModelVersion> {
    return registry.createModelVersion(this.t, a);
  }
  waitForModelVersionReady(name: string, version: string, timeoutMs?: number): Promise<ModelVersion> {
    return registry.waitForModelVersionReady(this.t, name, version, timeoutMs);
  }
  getModelVersion(name: string, version: string): Promise<ModelVersion> {
    return registry.getModelVersion(this.t, name, version);
  }
  getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion | undefined> {
    return registry.getModelVersionByAlias(this.t, name, alias);
  }
  setAlias(name: string, alias: string, version: string): Promise<void> {
    return registry.setAlias(this.t, name, alias, version);
  }
  deleteAlias(name: string, alias: string): Promise<void> {
    return registry.deleteAlias(this.t, name, alias);
  }
  setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    return registry.setModelVersionTag(this.t, name, version, key, value);
  }

  // UI links

  runUrl(experimentId: string, runId: string): string {
    return `${this.t.baseUrl}/#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
  }
  modelVersionUrl(name: string, version: string): string {
    return `${this.t.baseUrl}/#/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
  }
}
