/**
 * Typed access to action inputs. Every parser names the input in its error, so a user
 * sees "Input 'gate-direction': expected one of maximize, minimize, got 'up'".
 *
 * A fallback is the action.yml `default:` as written there ('5m', 'true', '10'), taken from the
 * action's `DEFAULTS` and parsed like the input: the runner fills defaults in, so the fallback only
 * matters when nobody did (in-process tests, a bare `node dist/index.js`), and then it must agree.
 * docs.test.ts checks every action's DEFAULTS against its action.yml.
 */
import * as core from '@actions/core';
import { InputError } from './errors.js';

export function optional(name: string): string | undefined {
  const value = core.getInput(name).trim();
  return value === '' ? undefined : value;
}

export function required(name: string): string {
  const value = optional(name);
  if (value === undefined) throw new InputError(name, 'a value (it is required)', '');
  return value;
}

export function string(name: string, fallback: string): string {
  return optional(name) ?? fallback;
}

/** A secret: masked in the log before anything else can print it. */
export function secret(name: string): string | undefined {
  const value = optional(name);
  if (value !== undefined) core.setSecret(value);
  return value;
}

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

/** An action's action.yml defaults, keyed by input name, as written there. */
export type Defaults = Readonly<Record<string, string>>;

export function boolean(name: string, fallback: string): boolean {
  const value = optional(name) ?? fallback;
  const lower = value.toLowerCase();
  if (TRUE.has(lower)) return true;
  if (FALSE.has(lower)) return false;
  throw new InputError(name, 'true or false', value);
}

export function number(
  name: string,
  fallback: string,
  {
    min = -Infinity,
    max = Infinity,
    integer = false,
  }: { min?: number; max?: number; integer?: boolean } = {},
): number {
  const value = optional(name) ?? fallback;
  const parsed = Number(value);
  const kind = integer ? 'an integer' : 'a number';
  if (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed)))
    throw new InputError(name, kind, value);
  if (parsed < min || parsed > max) {
    throw new InputError(name, `${kind} from ${min} to ${max}`, value);
  }
  return parsed;
}

export function oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const value = optional(name);
  if (value === undefined) return fallback;
  const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (match === undefined) throw new InputError(name, `one of ${allowed.join(', ')}`, value);
  return match;
}

/** Newline- or comma-separated values; blank lines and `#` comments are skipped. */
export function list(name: string, { commas = true }: { commas?: boolean } = {}): string[] {
  const raw = core.getInput(name);
  const parts = commas ? raw.split(/[\n,]/) : raw.split('\n');
  return parts.map((p) => p.trim()).filter((p) => p !== '' && !p.startsWith('#'));
}

/** A duration such as `90`, `90s`, `5m` or `1h`, returned in milliseconds. */
export function duration(name: string, fallback: string): number {
  const value = optional(name) ?? fallback;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value);
  if (!match) throw new InputError(name, 'a duration such as 90s, 5m or 1h', value);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

export function json<T = unknown>(name: string): T | undefined {
  const value = optional(name);
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as T;
  } catch (err) {
    throw new InputError(name, 'valid JSON', `${value.slice(0, 80)}: ${(err as Error).message}`);
  }
}

/** A variable of the runner or of the workflow's `env:`, trimmed; undefined when unset or blank. */
export function variable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[name]?.trim() || undefined;
}

/**
 * Where the Gemini client sends its calls: $GOOGLE_GEMINI_BASE_URL (the name @google/genai uses;
 * a proxy, or a fake in tests), else Google's endpoint. Read here, by each Gemini-using action's getInputs().
 */
export function geminiBaseUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return variable('GOOGLE_GEMINI_BASE_URL', env);
}
