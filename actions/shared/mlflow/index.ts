export { MlflowClient } from './client.js';
export { MlflowError, type CallOptions, type MlflowClientOptions } from './transport.js';
export { LIMITS as LOG_BATCH_LIMITS, planBatches, splitBatch } from './batch.js';
export type * from './types.js';
