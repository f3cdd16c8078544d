/** A client for the tracking server an action was given, checked before the action does anything. */
import { errorMessage } from '../errors.js';
import { MlflowClient } from './client.js';
import type { MlflowSettings } from './inputs.js';

/**
 * A client on the resolved settings (mlflowInputs), after one bounded round trip: an unreachable
 * server or refused credentials fail here, naming the input.
 */
export async function connectTracking(settings: MlflowSettings): Promise<MlflowClient> {
  try {
    const client = new MlflowClient(settings);
    await client.ping();
    return client;
  } catch (err) {
    throw new Error(
      `Input 'tracking-uri': the MLflow tracking server at ${settings.trackingUri} cannot be used: ${errorMessage(err)}. ` +
        `Check tracking-uri (or MLFLOW_TRACKING_URI) and that the server is up.`,
    );
  }
}
