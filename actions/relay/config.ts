/** The relay's configuration, from the environment only (a container reads its Secret as env or files). */
import { readFileSync } from 'node:fs';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
    got?: string,
  ) {
    super(`${variable}: expected ${expected}${got === undefined ? '' : `, got '${got}'`}`);
    this.name = 'ConfigError';
  }
}

export type GitHubAuth =
  | { kind: 'token'; token: string }
  | { kind: 'app'; appId: string; privateKey: string; installationId: number };

export interface RelayConfig {
  host: string;
  port: number;
  /** What Alertmanager must send as `Authorization: Bearer <token>`. */
  bearerToken: string;
  owner: string;
  repo: string;
  apiUrl: string;
  auth: GitHubAuth;
  eventType: string;
  /** Budget for client_payload; GitHub rejects 64 KB and more. */
  maxPayloadBytes: number;
  /** Largest request body accepted from Alertmanager. */
  maxBodyBytes: number;
  /** Attempts per dispatch, the first included. */
  attempts: number;
  /** Longest a delivery may spend retrying before Alertmanager is told to retry instead. */
  retryBudgetMs: number;
  /** Per GitHub request. */
  requestTimeoutMs: number;
  /** How long SIGTERM waits for in-flight deliveries. */
  shutdownTimeoutMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Documented in --help and platform/relay/README.md; keep the three in step. */
export const ENV_DOC: [string, string][] = [
  [
    'RELAY_BEARER_TOKEN | RELAY_BEARER_TOKEN_FILE',
    'token Alertmanager sends as Authorization: Bearer (required, >= 16 chars)',
  ],
  ['GITHUB_REPOSITORY', 'owner/name that receives the repository_dispatch events (required)'],
  ['GITHUB_TOKEN | GITHUB_TOKEN_FILE', 'token with contents: write on that repository, or:'],
  [
    'GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID, GITHUB_APP_PRIVATE_KEY | GITHUB_APP_PRIVATE_KEY_FILE',
    'GitHub App credentials',
  ],
  ['GITHUB_API_URL', 'API base URL (default https://api.github.com; GHES: https://HOST/api/v3)'],
  ['RELAY_HOST, RELAY_PORT', 'listen address (default 0.0.0.0:8080)'],
  ['RELAY_EVENT_TYPE', 'repository_dispatch event_type (default alertmanager)'],
  [
    'RELAY_MAX_PAYLOAD_BYTES',
    'client_payload budget; alerts beyond it are trimmed (default 60000, max 65000)',
  ],
  ['RELAY_MAX_BODY_BYTES', 'largest Alertmanager body accepted (default 5242880)'],
  ['RELAY_DISPATCH_ATTEMPTS', 'attempts per dispatch (default 5)'],
  ['RELAY_RETRY_BUDGET', 'time one delivery may spend retrying, e.g. 20s (default 20s)'],
  ['RELAY_GITHUB_TIMEOUT', 'timeout per GitHub request (default 10s)'],
  ['RELAY_SHUTDOWN_TIMEOUT', 'wait for in-flight deliveries on SIGTERM (default 25s)'],
  ['LOG_LEVEL', 'debug, info, warn or error (default info)'],
];

type Env = Record<string, string | undefined>;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** NAME or the contents of the file named by NAME_FILE (how Kubernetes mounts Secrets). */
function secret(env: Env, name: string): string | undefined {
  const direct = value(env, name);
  const file = value(env, `${name}_FILE`);
  if (direct && file) throw new ConfigError(name, `either ${name} or ${name}_FILE, not both`);
  if (direct) return direct;
  if (!file) return undefined;
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (!text) throw new ConfigError(`${name}_FILE`, 'a non-empty file', file);
    return text;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      `${name}_FILE`,
      'a readable file',
      `${file}: ${(err as NodeJS.ErrnoException).code ?? ''}`,
    );
  }
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(name, `an integer from ${min} to ${max}`, raw);
  return n;
}

function duration(env: Env, name: string, fallbackMs: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw);
  if (!m) throw new ConfigError(name, 'a duration such as 500ms, 20s or 1m', raw);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm'];
}

export function loadConfig(env: Env): RelayConfig {
  const bearerToken = secret(env, 'RELAY_BEARER_TOKEN');
  if (!bearerToken) throw new ConfigError('RELAY_BEARER_TOKEN', 'a token (or RELAY_BEARER_TOKEN_FILE)');
  if (bearerToken.length < 16) throw new ConfigError('RELAY_BEARER_TOKEN', 'at least 16 characters');

  const full = value(env, 'GITHUB_REPOSITORY') ?? '';
  const m = /^([A-Za-z0-9-_.]+)\/([A-Za-z0-9-_.]+)$/.exec(full);
  if (!m) throw new ConfigError('GITHUB_REPOSITORY', 'owner/name', full);

  const token = secret(env, 'GITHUB_TOKEN');
  const appId = value(env, 'GITHUB_APP_ID');
  let auth: GitHubAuth;
  if (token && appId)
    throw new ConfigError('GITHUB_TOKEN', 'either a token or GitHub App credentials, not both');
  if (token) auth = { kind: 'token', token };
  else if (appId) {
    const privateKey = secret(env, 'GITHUB_APP_PRIVATE_KEY');
    if (!privateKey)
      throw new ConfigError(
        'GITHUB_APP_PRIVATE_KEY',
        'the App private key (PEM), or GITHUB_APP_PRIVATE_KEY_FILE',
      );
    if (!/^[0-9]+$/.test(appId) && !/^Iv[0-9A-Za-z.]+$/.test(appId)) {
      throw new ConfigError('GITHUB_APP_ID', 'the numeric App ID or client ID', appId);
    }
    if (!value(env, 'GITHUB_APP_INSTALLATION_ID')) {
      throw new ConfigError('GITHUB_APP_INSTALLATION_ID', 'the installation ID of the App on the repository');
    }
    const installationId = int(env, 'GITHUB_APP_INSTALLATION_ID', 0, 1, Number.MAX_SAFE_INTEGER);
    auth = { kind: 'app', appId, privateKey, installationId };
  } else
    throw new ConfigError('GITHUB_TOKEN', 'a token (or GITHUB_TOKEN_FILE, or GITHUB_APP_ID with its key)');

  const apiUrl = (value(env, 'GITHUB_API_URL') ?? 'https://api.github.com').replace(/\/+$/, '');
  try {
    const u = new URL(apiUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error();
  } catch {
    throw new ConfigError('GITHUB_API_URL', 'an http(s) URL', apiUrl);
  }
  const eventType = value(env, 'RELAY_EVENT_TYPE') ?? 'alertmanager';
  if (eventType.length > 100) throw new ConfigError('RELAY_EVENT_TYPE', 'at most 100 characters', eventType);
  const level = (value(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new ConfigError('LOG_LEVEL', 'debug, info, warn or error', level);
  }

  return {
    host: value(env, 'RELAY_HOST') ?? '0.0.0.0',
    port: int(env, 'RELAY_PORT', 8080, 0, 65535),
    bearerToken,
    owner: m[1]!,
    repo: m[2]!,
    apiUrl,
    auth,
    eventType,
    maxPayloadBytes: int(env, 'RELAY_MAX_PAYLOAD_BYTES', 60_000, 4096, 65_000),
    maxBodyBytes: int(env, 'RELAY_MAX_BODY_BYTES', 5 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    attempts: int(env, 'RELAY_DISPATCH_ATTEMPTS', 5, 1, 20),
    retryBudgetMs: duration(env, 'RELAY_RETRY_BUDGET', 20_000),
    requestTimeoutMs: duration(env, 'RELAY_GITHUB_TIMEOUT', 10_000),
    shutdownTimeoutMs: duration(env, 'RELAY_SHUTDOWN_TIMEOUT', 25_000),
    logLevel: level as RelayConfig['logLevel'],
  };
}
