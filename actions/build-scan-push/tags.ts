/**
 * Image tags from rules, with docker/metadata-action's semantics: its rule syntax
 * (`type=sha`, `type=ref,event=branch|tag|pr`, `type=semver,pattern={{version}}`,
 * `type=raw,value=...`, with `prefix`, `suffix`, `enable`, `priority`; a bare value is a raw tag),
 * its `flavor` (`latest=auto|true|false`, `prefix`, `suffix`, `onlatest`), and this action's short
 * rules, which are spellings of the same: `sha`, `ref` (all three ref events), `semver[:pattern]`,
 * `raw:<value>`. Rules are evaluated by priority; the first tag made names the version.
 */
import semver from 'semver';
import { InputError } from '../shared/errors.js';
import { isTag } from '../shared/image-ref.js';

export interface GitContext {
  /** GITHUB_REF, e.g. refs/heads/main, refs/tags/v1.2.3, refs/pull/7/merge. */
  ref: string;
  /** The commit the image is built from (the PR head on pull_request events). */
  sha: string;
  /** The repository's default branch, for `{{is_default_branch}}`. */
  defaultBranch?: string;
}

type RuleType = 'sha' | 'ref' | 'semver' | 'raw';
export interface ImageTag {
  tag: string;
  rule: RuleType | 'latest';
}

interface Rule {
  type: RuleType;
  attrs: Record<string, string>;
  source: string;
}

export interface Flavor {
  latest: 'auto' | 'true' | 'false';
  prefix: string;
  prefixLatest: boolean;
  suffix: string;
  suffixLatest: boolean;
}

export const DEFAULT_FLAVOR: Flavor = {
  latest: 'auto',
  prefix: '',
  prefixLatest: false,
  suffix: '',
  suffixLatest: false,
};

const PRIORITY: Record<RuleType, number> = { semver: 900, ref: 600, raw: 200, sha: 100 };
const EVENTS = ['branch', 'tag', 'pr'];
const UNSUPPORTED = ['schedule', 'match', 'edge', 'pep440'];

/** As metadata-action does: invalid runs become `-`; then leading `.`/`-` dropped, 128 chars at most. */
export function sanitizeTag(value: string): string {
  return value
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
}

/** A strict semantic version, with or without a leading `v` (`v01.2.3` is not one). */
export function parseSemver(value: string): semver.SemVer | undefined {
  return semver.parse(value) ?? undefined;
}

/** `key=value` fields of one rule; a field without `=` is the value, as in metadata-action. */
function fields(line: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const field of line.split(',')) {
    const at = field.indexOf('=');
    if (at < 0) attrs.value = field.trim();
    else attrs[field.slice(0, at).trim().toLowerCase()] = field.slice(at + 1).trim();
  }
  return attrs;
}

/** This action's short spelling of a rule, or undefined when `line` is not one. */
function shortRule(line: string): Rule[] | undefined {
  const m = /^(sha|ref|semver|raw)(?::(.*))?$/i.exec(line);
  if (!m || line.includes('=')) return undefined;
  const kind = m[1]!.toLowerCase();
  const arg = m[2]?.trim() ?? '';
  if (kind === 'ref') return EVENTS.map((event) => ({ type: 'ref', attrs: { event }, source: line }));
  if (kind === 'sha') return [{ type: 'sha', attrs: {}, source: line }];
  if (kind === 'semver') return [{ type: 'semver', attrs: { pattern: arg || '{{version}}' }, source: line }];
  return [{ type: 'raw', attrs: { value: arg, strict: 'true' }, source: line }];
}

/** One line of `tags` as rules, with metadata-action's defaults and checks. */
export function parseRule(line: string, input = 'tags'): Rule[] {
  const rules = shortRule(line) ?? [docker(line, input)];
  for (const { type, attrs } of rules) {
    if (type === 'ref' && attrs.event === 'pr') attrs.prefix ??= 'pr-';
    if (type === 'sha') attrs.prefix ??= 'sha-';
    if (type === 'sha') attrs.format ??= 'short';
  }
  return rules;
}

/** metadata-action's `type=...,key=value` syntax. */
function docker(line: string, input: string): Rule {
  const attrs = fields(line);
  const type = (attrs.type ?? 'raw').toLowerCase();
  delete attrs.type;
  const bad = (expected: string): never => {
    throw new InputError(input, expected, line);
  };
  if (UNSUPPORTED.includes(type))
    bad(`tag types build-scan-push supports (sha, ref, semver, raw), not ${type}`);
  if (!(type in PRIORITY)) bad('type=sha, type=ref, type=semver or type=raw');
  if (type === 'ref' && !EVENTS.includes(attrs.event ?? '')) bad('type=ref with event=branch, tag or pr');
  if (type === 'semver' && attrs.pattern === undefined) bad('type=semver with a pattern, e.g. {{version}}');
  if (type === 'raw' && !attrs.value) bad('type=raw with a value');
  if (type === 'sha' && !['short', 'long', undefined].includes(attrs.format)) {
    bad('type=sha with format=short or format=long');
  }
  if (attrs.priority !== undefined && !/^-?\d+$/.test(attrs.priority)) bad('a numeric priority');
  return { type: type as RuleType, attrs, source: line };
}

/** metadata-action's `flavor` lines. */
export function parseFlavor(lines: string[], input = 'flavor'): Flavor {
  const flavor = { ...DEFAULT_FLAVOR };
  for (const line of lines) {
    let last: 'prefix' | 'suffix' | undefined;
    for (const field of line.split(',')) {
      const at = field.indexOf('=');
      const key = field.slice(0, at).trim().toLowerCase();
      const value = field.slice(at + 1).trim();
      if (at < 0) throw new InputError(input, 'key=value entries (latest, prefix, suffix, onlatest)', line);
      if (key === 'latest' && ['auto', 'true', 'false'].includes(value))
        flavor.latest = value as Flavor['latest'];
      else if (key === 'prefix' || key === 'suffix') [flavor[key], last] = [value, key];
      else if (key === 'onlatest' && last && ['true', 'false'].includes(value))
        flavor[last === 'prefix' ? 'prefixLatest' : 'suffixLatest'] = value === 'true';
      else
        throw new InputError(input, 'latest=auto|true|false, prefix=, suffix=, onlatest=true|false', field);
    }
  }
  return flavor;
}

/** `{{branch}}`, `{{tag}}`, `{{sha}}`, `{{base_ref}}`-free templates of metadata-action's global expressions. */
function expand(value: string, ctx: GitContext, rule: Rule, input: string): string {
  return value.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (all, name: string) => {
    const branch = /^refs\/heads\/(.+)$/.exec(ctx.ref)?.[1];
    switch (name) {
      case 'branch':
        return branch ?? '';
      case 'tag':
        return /^refs\/tags\/(.+)$/.exec(ctx.ref)?.[1] ?? '';
      case 'sha':
        return ctx.sha.slice(0, 7);
      case 'is_default_branch':
        return String(branch !== undefined && branch === ctx.defaultBranch);
      default:
        throw new InputError(
          input,
          'expressions among {{branch}}, {{tag}}, {{sha}}, {{is_default_branch}}',
          `${all} in ${rule.source}`,
        );
    }
  });
}

/** `{{version}}`, `{{major}}`, `{{minor}}`, `{{patch}}`, `{{raw}}` of a semver pattern. */
function renderSemver(pattern: string, v: semver.SemVer, rule: Rule, input: string): string {
  return pattern.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (all, name: string) => {
    const parts: Record<string, string> = {
      version: v.version,
      major: String(v.major),
      minor: String(v.minor),
      patch: String(v.patch),
      raw: v.raw,
    };
    if (parts[name] === undefined) {
      throw new InputError(
        input,
        'semver patterns of {{version}}, {{major}}, {{minor}}, {{patch}}, {{raw}}',
        rule.source,
      );
    }
    return parts[name];
  });
}

/** The rule's value for this event (undefined: the rule does not apply) and whether it makes `latest` under auto. */
function evaluate(rule: Rule, ctx: GitContext, input: string): { value?: string; latest: boolean } {
  const { attrs } = rule;
  const refName = (prefix: string): string | undefined =>
    ctx.ref.startsWith(prefix) ? ctx.ref.slice(prefix.length) : undefined;
  switch (rule.type) {
    case 'sha': {
      if (!/^[0-9a-f]{7,64}$/i.test(ctx.sha)) {
        throw new InputError(input, 'a commit SHA in GITHUB_SHA for the `sha` rule', ctx.sha);
      }
      const sha = ctx.sha.toLowerCase();
      return { value: attrs.format === 'long' ? sha : sha.slice(0, 7), latest: false };
    }
    case 'ref': {
      if (attrs.event === 'branch') return { value: refName('refs/heads/'), latest: false };
      if (attrs.event === 'tag') return { value: refName('refs/tags/'), latest: true };
      return { value: refName('refs/pull/')?.replace(/\/merge$|\/head$/, ''), latest: false };
    }
    case 'semver': {
      const raw = attrs.value
        ? expand(attrs.value, ctx, rule, input)
        : refName('refs/tags/')?.replace(/\//g, '-');
      const v = raw ? parseSemver(raw) : undefined;
      if (!v) return { latest: false };
      // A pre-release only ever gets its full version (or {{raw}}), never a floating major/minor.
      if (v.prerelease.length) {
        const rawOnly = /^\{\{\s*raw\s*\}\}$/.test(attrs.pattern!);
        return { value: rawOnly ? v.raw : v.version, latest: false };
      }
      return { value: renderSemver(attrs.pattern!, v, rule, input), latest: true };
    }
    case 'raw':
      return { value: expand(attrs.value!, ctx, rule, input), latest: false };
  }
}

/** The rule's prefix/suffix, else the flavor's (a rule's own, even empty, wins: metadata-action). */
function affix(rule: Rule, value: string, flavor: Flavor, ctx: GitContext, input: string): string {
  const pre = rule.attrs.prefix ?? flavor.prefix;
  const suf = rule.attrs.suffix ?? flavor.suffix;
  return `${expand(pre, ctx, rule, input)}${value}${expand(suf, ctx, rule, input)}`;
}

const enabled = (rule: Rule, ctx: GitContext, input: string): boolean => {
  const on = expand(rule.attrs.enable ?? 'true', ctx, rule, input);
  if (on !== 'true' && on !== 'false')
    throw new InputError(input, 'enable=true or enable=false', rule.source);
  return on === 'true';
};

/** Evaluates every rule for this event; rules that do not apply (semver on a branch) yield nothing. */
export function computeTags(
  lines: string[],
  ctx: GitContext,
  flavor: Flavor = DEFAULT_FLAVOR,
  input = 'tags',
): ImageTag[] {
  const priority = (r: Rule): number => (r.attrs.priority ? Number(r.attrs.priority) : PRIORITY[r.type]);
  // Stable sort by priority, as metadata-action: the first tag made is the image version.
  const rules = lines.flatMap((l) => parseRule(l, input)).sort((a, b) => priority(b) - priority(a));
  const out: ImageTag[] = [];
  let latest: boolean | undefined;
  for (const rule of rules) {
    if (!enabled(rule, ctx, input)) continue;
    const { value, latest: auto } = evaluate(rule, ctx, input);
    if (!value) continue;
    const full = affix(rule, value, flavor, ctx, input);
    if (rule.attrs.strict && !isTag(full)) {
      throw new InputError(input, `a valid Docker tag after raw: in '${rule.source}'`, full);
    }
    const tag = sanitizeTag(full);
    if (!isTag(tag)) throw new InputError(input, 'rules that produce valid Docker tags', full);
    latest ??= flavor.latest === 'auto' ? auto : flavor.latest === 'true';
    if (!out.some((t) => t.tag === tag)) out.push({ tag, rule: rule.type });
  }
  if (latest) {
    const tag = sanitizeTag(
      `${flavor.prefixLatest ? flavor.prefix : ''}latest${flavor.suffixLatest ? flavor.suffix : ''}`,
    );
    if (!out.some((t) => t.tag === tag)) out.push({ tag, rule: 'latest' });
  }
  return out;
}
