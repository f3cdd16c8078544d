/**
 * The metrics and params files the training command writes: JSON objects, flat or nested. Nested
 * keys are joined with `.` and array items get their index, so `{"recall": {"setosa": 1}}` is the
 * metric `recall.setosa`. Errors name the input and the offending key.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { InputError } from '../shared/errors.js';

/** MLflow's own limits (mlflow/utils/validation.py). */
export const MAX_KEY_LENGTH = 250;
export const MAX_PARAM_VALUE_LENGTH = 6000;
/** Names MLflow accepts for metrics and params: letters, digits, `_ - . / :` and spaces. */
const VALID_NAME = /^[/\p{L}\p{N}_.\- :]+$/u;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function flatten(value: Json, prefix = '', out: [string, Json][] = []): [string, Json][] {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, value]);
  }
  return out;
}

const NON_FINITE = '\u0000non-finite:';

/**
 * JSON.parse, plus the NaN, Infinity and -Infinity that Python's json.dump writes by default (a
 * diverged loss is NaN, and MLflow stores it). They are matched only outside strings.
 */
export function parsePythonJson(text: string): unknown {
  const marked = text.replace(
    /"(?:[^"\\]|\\.)*"|(-?)\b(NaN|Infinity)\b/g,
    (match, sign: string, word?: string) => (word ? JSON.stringify(`${NON_FINITE}${sign}${word}`) : match),
  );
  return JSON.parse(marked, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(NON_FINITE)
      ? Number(value.slice(NON_FINITE.length))
      : value,
  );
}

function readJsonObject(path: string, input: string): Record<string, Json> {
  if (!existsSync(path)) {
    throw new InputError(input, 'a JSON file written by the command', `${path} does not exist`);
  }
  if (!statSync(path).isFile()) throw new InputError(input, 'a JSON file', `${path} is not a file`);
  const text = readFileSync(path, 'utf8');
  let data: unknown;
  try {
    data = parsePythonJson(text);
  } catch (err) {
    throw new InputError(input, 'a JSON file', `${path} is not valid JSON (${(err as Error).message})`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const kind = Array.isArray(data) ? 'an array' : data === null ? 'null' : typeof data;
    throw new InputError(input, 'a JSON object of names to values', `${path} holds ${kind}`);
  }
  return data as Record<string, Json>;
}

/**
 * Why MLflow would refuse `key` as a metric or param name, or undefined when it accepts it. As
 * mlflow.utils.validation: the allowed characters, at most MAX_KEY_LENGTH characters as Python
 * counts them (code points, not UTF-16 units), and a path that posixpath.normpath leaves unchanged
 * and that does not start with `/` or `..` (so `/acc`, `a//b`, `a/../b` and `a/` are refused).
 */
export function nameProblem(key: string): string | undefined {
  const length = [...key].length;
  if (length > MAX_KEY_LENGTH) return `it has ${length} characters`;
  if (!VALID_NAME.test(key)) return 'it has a character other than these';
  if (key.startsWith('..') || key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    return "it is not a normalized path (no leading '/', '//', '.' or '..' parts, or trailing '/')";
  }
  return undefined;
}

export const NAME_RULE = `names of at most ${MAX_KEY_LENGTH} letters, digits, spaces or _ - . / :, each a normalized relative path (as MLflow accepts)`;

function checkName(key: string, input: string, path: string): void {
  const problem = nameProblem(key);
  if (problem) throw new InputError(input, NAME_RULE, `'${key.slice(0, 300)}' in ${path}: ${problem}`);
}

/** Nested keys can flatten onto one name (`{"a.b": 1, "a": {"b": 2}}`): refuse rather than keep one. */
function checkUnique(seen: Set<string>, key: string, input: string, path: string): void {
  if (seen.has(key)) {
    throw new InputError(
      input,
      'names that stay distinct once nested keys are joined with `.`',
      `'${key}' twice in ${path}`,
    );
  }
  seen.add(key);
}

const describe = (v: Json): string =>
  typeof v === 'string' ? `the string "${v.slice(0, 40)}"` : JSON.stringify(v);

/** Flat `{name: number}`; every value must be a number (NaN and infinities included, as MLflow takes them). */
export function readMetrics(path: string, input = 'metrics-file'): Record<string, number> {
  const out: Record<string, number> = {};
  const seen = new Set<string>();
  for (const [key, value] of flatten(readJsonObject(path, input))) {
    if (key === '') continue;
    checkName(key, input, path);
    checkUnique(seen, key, input, path);
    if (typeof value !== 'number') {
      throw new InputError(
        input,
        'numeric metric values',
        `metric '${key}' is ${describe(value)} in ${path}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** Flat `{name: string}`: params are strings in MLflow; numbers and booleans are written as JSON writes them. */
export function readParams(path: string, input = 'params-file'): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [key, value] of flatten(readJsonObject(path, input))) {
    if (key === '') continue;
    checkName(key, input, path);
    checkUnique(seen, key, input, path);
    const text =
      typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value);
    const length = [...text].length; // characters, as MLflow (Python) counts them
    if (length > MAX_PARAM_VALUE_LENGTH) {
      throw new InputError(
        input,
        `param values of at most ${MAX_PARAM_VALUE_LENGTH} characters`,
        `'${key}' has ${length} in ${path}`,
      );
    }
    out[key] = text;
  }
  return out;
}
