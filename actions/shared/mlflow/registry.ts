/** Model registry: /api/2.0/mlflow/registered-models/*, model-versions/*. */
import { sleep } from '../http.js';
import { MlflowError, type Transport } from './transport.js';
import type { ModelVersion, RegisteredModel } from './types.js';

const toTags = (tags?: Record<string, string>): { key: string; value: string }[] =>
  Object.entries(tags ?? {}).map(([key, value]) => ({ key, value: String(value) }));

/** The model registry, over the client's one Transport. */
export class Registry {
  constructor(private readonly t: Transport) {}

  async getRegisteredModel(name: string): Promise<RegisteredModel | undefined> {
    try {
      const res = await this.t.call<{ registered_model: RegisteredModel }>('GET', '/registered-models/get', {
        name,
      });
      return res.registered_model;
    } catch (err) {
      if (err instanceof MlflowError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw err;
    }
  }

  async getOrCreateRegisteredModel(name: string, tags?: Record<string, string>): Promise<RegisteredModel> {
    try {
      const res = await this.t.call<{ registered_model: RegisteredModel }>(
        'POST',
        '/registered-models/create',
        {
          name,
          tags: toTags(tags),
        },
      );
      return res.registered_model;
    } catch (err) {
      if (!(err instanceof MlflowError && err.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw err;
    }
    const existing = await this.getRegisteredModel(name);
    if (!existing) throw new MlflowError(`registered model '${name}' exists but cannot be read`);
    return existing;
  }

  async createModelVersion(a: {
    name: string;
    source: string;
    runId?: string;
    modelId?: string;
    tags?: Record<string, string>;
    description?: string;
  }): Promise<ModelVersion> {
    const res = await this.t.call<{ model_version: ModelVersion }>('POST', '/model-versions/create', {
      name: a.name,
      source: a.source,
      run_id: a.runId,
      model_id: a.modelId,
      tags: toTags(a.tags),
      description: a.description,
    });
    return res.model_version;
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const res = await this.t.call<{ model_version: ModelVersion }>('GET', '/model-versions/get', {
      name,
      version,
    });
    return res.model_version;
  }

  async waitForModelVersionReady(name: string, version: string, timeoutMs = 300_000): Promise<ModelVersion> {
    const deadline = Date.now() + timeoutMs;
    let delay = 200;
    for (;;) {
      const mv = await this.getModelVersion(name, version);
      if (mv.status === 'READY') return mv;
      if (mv.status === 'FAILED_REGISTRATION') {
        throw new MlflowError(
          `model version ${name}/${version} failed registration${mv.status_message ? `: ${mv.status_message}` : ''}`,
        );
      }
      if (Date.now() + delay > deadline) {
        throw new MlflowError(
          `model version ${name}/${version} still ${mv.status} after ${Math.round(timeoutMs / 1000)} s`,
        );
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 2000);
    }
  }

  /** MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE and a missing model with 404. */
  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion | undefined> {
    try {
      const res = await this.t.call<{ model_version: ModelVersion }>('GET', '/registered-models/alias', {
        name,
        alias,
      });
      return res.model_version;
    } catch (err) {
      if (
        err instanceof MlflowError &&
        ((err.status === 400 && err.errorCode === 'INVALID_PARAMETER_VALUE') ||
          (err.status === 404 && err.errorCode === 'RESOURCE_DOES_NOT_EXIST'))
      ) {
        return undefined;
      }
      throw err;
    }
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.t.call('POST', '/registered-models/alias', { name, alias, version });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    // The handler reads DELETE parameters from the JSON body, as MLflow's RestStore sends them.
    await this.t.call('DELETE', '/registered-models/alias', { name, alias });
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.t.call('POST', '/model-versions/set-tag', { name, version, key, value });
  }

  /** The version's page in the MLflow UI. */
  modelVersionUrl(name: string, version: string): string {
    return `${this.t.baseUrl}/#/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
  }
}
