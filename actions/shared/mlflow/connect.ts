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
    const message = errorMessage(err);
    // Node's codes for a certificate it cannot verify: say which of MLflow's variables fix it.
    const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(message)
      ? ' For a private CA set MLFLOW_TRACKING_SERVER_CERT_PATH to its certificate (or MLFLOW_TRACKING_INSECURE_TLS=true to skip the check).'
      : '';
    throw new Error(
      `Input 'tracking-uri': the MLflow tracking server at ${settings.trackingUri} cannot be used: ${message}. ` +
        `Check tracking-uri (or MLFLOW_TRACKING_URI) and that the server is up.${tls}`,
    );
  }
}
