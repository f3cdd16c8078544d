/** Experiments and runs: /api/2.0/mlflow/experiments/*, runs/*, metrics/get-history. */
import { planBatches, readValue } from './batch.js';
import { MlflowError, type CallOptions, type Transport } from './transport.js';
import type {
  DatasetInput,
  Experiment,
  LoggedMetric,
  Metric,
  Param,
  Run,
  RunInfo,
  RunStatus,
  Tag,
} from './types.js';

interface WireRun {
  info: RunInfo;
  data?: {
    metrics?: (Omit<LoggedMetric, 'value'> & { value: number | string })[];
    params?: Param[];
    tags?: Tag[];
  };
  inputs?: Run['inputs'];
  outputs?: Run['outputs'];
}

/** Empty lists are omitted on the wire; callers get them as []. NaN and infinities come back as numbers. */
export function normalizeRun(r: WireRun): Run {
  const run: Run = {
    info: r.info,
    data: {
      metrics: (r.data?.metrics ?? []).map((m) => ({ ...m, value: readValue(m.value) })),
      params: r.data?.params ?? [],
      tags: r.data?.tags ?? [],
    },
  };
  if (r.inputs) run.inputs = r.inputs;
  if (r.outputs) run.outputs = r.outputs;
  return run;
}

/** The server's page size cap for runs/search (SEARCH_MAX_RESULTS_THRESHOLD). */
const SEARCH_PAGE = 1000;

/** Experiments and runs, over the client's one Transport. */
export class Tracking {
  constructor(
    private readonly t: Transport,
    /** Each run's artifact_uri as the server last gave it (shared with the artifacts part). */
    private readonly artifactRoots: Map<string, string>,
  ) {}

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    try {
      const res = await this.t.call<{ experiment: Experiment }>('GET', '/experiments/get-by-name', {
        experiment_name: name,
      });
      return res.experiment;
    } catch (err) {
      if (err instanceof MlflowError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw err;
    }
  }

  async getOrCreateExperiment(name: string): Promise<Experiment> {
    const existing = await this.getExperimentByName(name);
    if (existing) {
      if (existing.lifecycle_stage === 'deleted') {
        throw new MlflowError(
          `experiment '${name}' is deleted; restore it in MLflow or pick another name (a deleted experiment's name stays taken)`,
        );
      }
      return existing;
    }
    try {
      await this.t.call<{ experiment_id: string }>('POST', '/experiments/create', { name });
    } catch (err) {
      // Another job created it between our get and create.
      if (!(err instanceof MlflowError && err.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw err;
    }
    const created = await this.getExperimentByName(name);
    if (!created) throw new MlflowError(`experiment '${name}' was created but cannot be read back`);
    return created;
  }

  async createRun(a: {
    experimentId: string;
    runName?: string;
    tags?: Record<string, string>;
    startTime?: number;
  }): Promise<RunInfo> {
    const tags = Object.entries(a.tags ?? {}).map(([key, value]) => ({ key, value: String(value) }));
    const res = await this.t.call<{ run: WireRun }>('POST', '/runs/create', {
      experiment_id: a.experimentId,
      run_name: a.runName,
      start_time: a.startTime ?? Date.now(),
      tags,
    });
    this.artifactRoots.set(res.run.info.run_id, res.run.info.artifact_uri);
    return res.run.info;
  }

  async updateRun(
    runId: string,
    a: { status?: RunStatus; endTime?: number; runName?: string },
    opts?: CallOptions,
  ): Promise<void> {
    await this.t.call(
      'POST',
      '/runs/update',
      {
        run_id: runId,
        run_uuid: runId,
        status: a.status,
        end_time: a.endTime ?? (a.status && a.status !== 'RUNNING' ? Date.now() : undefined),
        run_name: a.runName,
      },
      opts,
    );
  }

  /** `opts`: this call's own timeout and attempts (a report's reads are short), else the client's. */
  async getRun(runId: string, opts?: CallOptions): Promise<Run> {
    const res = await this.t.call<{ run: WireRun }>('GET', '/runs/get', { run_id: runId }, opts);
    this.artifactRoots.set(runId, res.run.info.artifact_uri);
    return normalizeRun(res.run);
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
    return this.updateRun(runId, { status, endTime: Date.now() }, budget);
  }

  /** The run's page in the MLflow UI. */
  runUrl(experimentId: string, runId: string): string {
    return `${this.t.baseUrl}/#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
  }

  async searchRuns(a: {
    experimentIds: string[];
    filter?: string;
    orderBy?: string[];
    maxResults?: number;
  }): Promise<Run[]> {
    const runs: Run[] = [];
    let pageToken: string | undefined;
    do {
      const want =
        a.maxResults === undefined ? SEARCH_PAGE : Math.min(SEARCH_PAGE, a.maxResults - runs.length);
      const res = await this.t.call<{ runs?: WireRun[]; next_page_token?: string }>('POST', '/runs/search', {
        experiment_ids: a.experimentIds,
        filter: a.filter,
        order_by: a.orderBy,
        max_results: want,
        page_token: pageToken,
      });
      runs.push(...(res.runs ?? []).map(normalizeRun));
      pageToken = res.next_page_token || undefined;
    } while (pageToken && (a.maxResults === undefined || runs.length < a.maxResults));
    return runs;
  }

  /**
   * Splits to MLflow's limits and sends (planBatches). A metric key's values all travel in one
   * stream, in order, so its steps are stored in the order given; streams for different keys run
   * side by side, which the server absorbs faster than one long sequence (its per-request time is
   * mostly its own work).
   */
  async logBatch(runId: string, a: { metrics?: Metric[]; params?: Param[]; tags?: Tag[] }): Promise<void> {
    await Promise.all(
      planBatches(runId, a, this.t.logBatchStreams).map(async (reqs) => {
        for (const req of reqs) await this.t.call('POST', '/runs/log-batch', { ...req });
      }),
    );
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.t.call('POST', '/runs/set-tag', { run_id: runId, run_uuid: runId, key, value });
  }

  async logInputs(runId: string, datasets: DatasetInput[]): Promise<void> {
    if (datasets.length === 0) return;
    await this.t.call('POST', '/runs/log-inputs', { run_id: runId, datasets });
  }

  async getMetricHistory(runId: string, key: string, opts?: CallOptions): Promise<LoggedMetric[]> {
    const out: LoggedMetric[] = [];
    let pageToken: string | undefined;
    do {
      const res = await this.t.call<{
        metrics?: (Omit<LoggedMetric, 'value'> & { value: number | string })[];
        next_page_token?: string;
      }>('GET', '/metrics/get-history', { run_id: runId, metric_key: key, page_token: pageToken }, opts);
      out.push(...(res.metrics ?? []).map((m) => ({ ...m, value: readValue(m.value) })));
      pageToken = res.next_page_token || undefined;
    } while (pageToken);
    return out;
  }
}
