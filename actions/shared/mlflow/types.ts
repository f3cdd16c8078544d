/** Entities as MLflow's REST API returns them (snake_case kept, so they match the API docs one to one). */

export interface Tag {
  key: string;
  value: string;
}
export type Param = Tag;

export interface Metric {
  key: string;
  value: number;
  /** Milliseconds since the epoch; defaults to now. */
  timestamp?: number;
  /** Defaults to 0. */
  step?: number;
}

/** A metric as the server reports it: timestamp and step always present. */
export type LoggedMetric = Required<Metric>;

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage?: string;
  creation_time?: number;
  last_update_time?: number;
  tags?: Tag[];
}

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface RunInfo {
  run_id: string;
  run_uuid?: string;
  run_name?: string;
  experiment_id: string;
  user_id?: string;
  status: RunStatus;
  start_time?: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage?: string;
}

export interface RunData {
  metrics: LoggedMetric[];
  params: Param[];
  tags: Tag[];
}

export interface DatasetInput {
  tags?: Tag[];
  dataset: {
    name: string;
    digest: string;
    source_type: string;
    source: string;
    schema?: string;
    profile?: string;
  };
}

export interface Run {
  info: RunInfo;
  data: RunData;
  inputs?: { dataset_inputs?: DatasetInput[]; model_inputs?: { model_id: string }[] };
  outputs?: { model_outputs?: { model_id: string; step: number }[] };
}

export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

export type LoggedModelStatus =
  | 'LOGGED_MODEL_STATUS_UNSPECIFIED'
  | 'LOGGED_MODEL_PENDING'
  | 'LOGGED_MODEL_READY'
  | 'LOGGED_MODEL_UPLOAD_FAILED';

export interface LoggedModel {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    artifact_uri: string;
    status: LoggedModelStatus;
    source_run_id?: string;
    model_type?: string;
    creation_timestamp_ms?: number;
    last_updated_timestamp_ms?: number;
    tags?: Tag[];
  };
  data?: { params?: Param[]; metrics?: LoggedMetric[] };
}

export interface RegisteredModel {
  name: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  description?: string;
  tags?: Tag[];
  aliases?: { alias: string; version: string }[];
}

export type ModelVersionStatus = 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION' | 'READY';

export interface ModelVersion {
  name: string;
  version: string;
  source: string;
  run_id?: string;
  model_id?: string;
  status: ModelVersionStatus;
  status_message?: string;
  description?: string;
  tags?: Tag[];
  aliases?: string[];
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  current_stage?: string;
}

declare const checkedTrackingUri: unique symbol;
/**
 * A tracking server's URL as parseTrackingUri (inputs.ts) checked it, once: http(s), no
 * credentials, query, fragment or trailing slash. Only that function makes one.
 */
export type TrackingUri = string & { readonly [checkedTrackingUri]: true };
