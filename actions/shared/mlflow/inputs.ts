/**
 * Inputs every MLflow-facing action reads the same way: the tracking server (input, else
 * MLFLOW_TRACKING_URI, with the credentials MLflow's own clients read masked at once) and aliases
 * (the names MLflow accepts). One parser, so train-and-log and promote cannot drift apart.
 */
import * as core from '@actions/core';
import { InputError } from '../errors.js';
import * as inputs from '../inputs.js';

/** The `tracking-uri` input (or MLFLOW_TRACKING_URI), an http(s) URL without a trailing slash. */
export function trackingUriInput(env: NodeJS.ProcessEnv = process.env): string {
  const trackingUri = inputs.optional('tracking-uri') ?? env.MLFLOW_TRACKING_URI?.trim();
  if (!trackingUri) {
    throw new InputError(
      'tracking-uri',
      'the URL of an MLflow tracking server (or MLFLOW_TRACKING_URI in the environment)',
      '',
    );
  }
  if (!/^https?:\/\//i.test(trackingUri)) {
    throw new InputError('tracking-uri', 'an http(s):// URL of an MLflow tracking server', trackingUri);
  }
  // MLflow's clients read these from the environment, and so do we (and train-and-log's command):
  // mask them in case they did not come from `secrets` (which the runner masks already).
  for (const name of ['MLFLOW_TRACKING_TOKEN', 'MLFLOW_TRACKING_PASSWORD']) {
    if (env[name]) core.setSecret(env[name]);
  }
  return trackingUri.replace(/\/+$/, '');
}

const ALIAS = /^[A-Za-z0-9_-]{1,255}$/;

/** `value` if MLflow would take it as an alias, else an InputError naming `input`. */
export function checkAlias(input: string, value: string): string {
  // MLflow rejects `latest` and `v<digits>`: they already name versions.
  if (!ALIAS.test(value) || /^v\d+$/i.test(value) || value.toLowerCase() === 'latest') {
    throw new InputError(
      input,
      'an alias of letters, digits, `_` or `-` (not `latest` or `v<number>`)',
      value,
    );
  }
  return value;
}

/** One alias input, with a default. */
export function aliasInput(name: string, fallback: string): string {
  return checkAlias(name, inputs.string(name, fallback));
}
