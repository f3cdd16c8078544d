/**
 * Inputs every MLflow-facing action reads the same way: the tracking server and its settings (the
 * input, else MLflow's own environment variables: credentials masked at once, timeouts, retries),
 * and aliases (the names MLflow accepts). One resolver, so train-and-log, promote and
 * alert-to-issue cannot drift apart, and nothing after it checks or reads these again.
 */
import * as core from '@actions/core';
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import * as input from '../inputs.js';
import type { MlflowClientOptions, TlsOptions } from './transport.js';
import type { TrackingUri } from './types.js';

/** Everything a client needs, resolved and checked once. */
export type MlflowSettings = MlflowClientOptions;

/**
 * An http(s) URL of a tracking server, as TrackingUri (no credentials, query, fragment or trailing
 * slash), with the credentials it carried in its user info taken out.
 */
export function parseTrackingUri(
  value: string,
  input = 'tracking-uri',
): { uri: TrackingUri; username?: string; password?: string } {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    // Never echo what may hold a password: the scheme and host are enough to spot the mistake.
    const shown = url ? `${url.protocol}//${url.host}${url.pathname}` : value.replace(/\/\/[^@/]*@/, '//');
    throw new InputError(input, 'an http(s):// URL of an MLflow tracking server', shown);
  }
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return { uri: url.toString().replace(/\/+$/, '') as TrackingUri, username, password };
}

const positive = (v: string | undefined): number | undefined => (v && Number(v) > 0 ? Number(v) : undefined);
const nonNegative = (v: string | undefined): number | undefined =>
  v && v.trim() !== '' && Number(v) >= 0 ? Number(v) : undefined;

/**
 * The settings for `trackingUri` (else MLFLOW_TRACKING_URI) from the variables MLflow's own clients
 * read: MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD (which win over user info in the
 * URL), MLFLOW_HTTP_REQUEST_TIMEOUT/MAX_RETRIES/BACKOFF_FACTOR and the TLS ones (tlsSettings).
 * Secrets are masked here.
 */
export function mlflowSettings(
  env: NodeJS.ProcessEnv,
  trackingUri?: string,
  input = 'tracking-uri',
): MlflowSettings {
  const value = trackingUri?.trim() || env.MLFLOW_TRACKING_URI?.trim();
  if (!value) {
    throw new InputError(
      input,
      'the URL of an MLflow tracking server (or MLFLOW_TRACKING_URI in the environment)',
      '',
    );
  }
  const parsed = parseTrackingUri(value, input);
  const fromEnv = !!(env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD);
  const settings: MlflowSettings = {
    trackingUri: parsed.uri,
    token: env.MLFLOW_TRACKING_TOKEN || undefined,
    username: fromEnv ? env.MLFLOW_TRACKING_USERNAME : parsed.username,
    password: fromEnv ? env.MLFLOW_TRACKING_PASSWORD : parsed.password,
    credentialsSource: fromEnv || !parsed.username ? undefined : 'the tracking URI',
  };
  // Masked in case they did not come from `secrets` (which the runner masks already).
  for (const secret of [settings.token, settings.password]) if (secret) core.setSecret(secret);
  const seconds = positive(env.MLFLOW_HTTP_REQUEST_TIMEOUT);
  if (seconds !== undefined) settings.timeoutMs = seconds * 1000;
  const retries = nonNegative(env.MLFLOW_HTTP_REQUEST_MAX_RETRIES);
  if (retries !== undefined) {
    settings.attempts = retries + 1;
    settings.endRunRetries = retries;
  }
  const factor = nonNegative(env.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR);
  if (factor !== undefined) settings.endRunBackoffFactorMs = factor * 1000;
  const tls = tlsSettings(env);
  if (tls) settings.tls = tls;
  return settings;
}

/** A PEM file named by one of MLflow's variables, read now so a wrong path fails before any run. */
function pemFile(variable: string, path: string | undefined): string | undefined {
  if (!path?.trim()) return undefined;
  try {
    return readFileSync(path.trim(), 'utf8');
  } catch (err) {
    throw new InputError(
      variable,
      'a readable PEM file',
      `${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
}

/**
 * TLS as MLflow's clients read it: MLFLOW_TRACKING_INSECURE_TLS (true/false/1/0), else
 * MLFLOW_TRACKING_SERVER_CERT_PATH (CA bundle); MLFLOW_TRACKING_CLIENT_CERT_PATH (certificate and
 * key in one PEM). MLflow refuses insecure with a CA path set, and so do we.
 */
export function tlsSettings(env: NodeJS.ProcessEnv): TlsOptions | undefined {
  const flag = env.MLFLOW_TRACKING_INSECURE_TLS?.trim().toLowerCase() ?? '';
  if (flag && !['true', 'false', '1', '0'].includes(flag)) {
    throw new InputError('MLFLOW_TRACKING_INSECURE_TLS', 'true, false, 1 or 0', flag);
  }
  const insecure = flag === 'true' || flag === '1';
  if (insecure && env.MLFLOW_TRACKING_SERVER_CERT_PATH?.trim()) {
    throw new InputError(
      'MLFLOW_TRACKING_SERVER_CERT_PATH',
      'unset when MLFLOW_TRACKING_INSECURE_TLS is true (only one of them may be set, as in MLflow)',
      env.MLFLOW_TRACKING_SERVER_CERT_PATH,
    );
  }
  const ca = pemFile('MLFLOW_TRACKING_SERVER_CERT_PATH', env.MLFLOW_TRACKING_SERVER_CERT_PATH);
  const clientCert = pemFile('MLFLOW_TRACKING_CLIENT_CERT_PATH', env.MLFLOW_TRACKING_CLIENT_CERT_PATH);
  if (!insecure && !ca && !clientCert) return undefined;
  return { ...(insecure ? { insecure } : {}), ...(ca ? { ca } : {}), ...(clientCert ? { clientCert } : {}) };
}

/** The `tracking-uri` input (or MLFLOW_TRACKING_URI) and the rest of MLflow's settings. */
export function mlflowInputs(env: NodeJS.ProcessEnv = process.env): MlflowSettings {
  return mlflowSettings(env, input.optional('tracking-uri'));
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
  return checkAlias(name, input.string(name, fallback));
}
