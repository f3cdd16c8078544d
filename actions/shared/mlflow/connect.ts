/** A client for the tracking server an action was given, checked before the action does anything. */
import { errorMessage } from '../errors.js';
import { MlflowClient } from './client.js';

/**
 * A client from MLflow's environment variables (credentials, timeouts) on `trackingUri`, after one
 * bounded round trip: an unreachable server or refused credentials fail here, naming the input.
 */
export async function connectTracking(
  trackingUri: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<MlflowClient> {
  try {
    const client = MlflowClient.fromEnv(env, { trackingUri });
    await client.ping();
    return client;
  } catch (err) {
    throw new Error(
      `Input 'tracking-uri': the MLflow tracking server at ${trackingUri} cannot be used: ${errorMessage(err)}. ` +
        `Check tracking-uri (or MLFLOW_TRACKING_URI) and that the server is up.`,
    );
  }
}
