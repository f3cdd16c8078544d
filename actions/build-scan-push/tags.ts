/**
 * Image tags from rules, with docker/metadata-action's semantics for the rules it shares:
 * `sha` -> `sha-<7 hex>`, `ref` -> branch name / git tag / `pr-<n>`, `semver` -> `1.2.3` from a
 * `v1.2.3` tag (or `semver:{{major}}.{{minor}}`), `raw:<value>` -> the value as is.
 */
import { InputError } from '../shared/errors.js';
import { isTag } from '../shared/image-ref.js';

export interface GitContext {
  /** GITHUB_REF, e.g. refs/heads/main, refs/tags/v1.2.3, refs/pull/7/merge. */
  ref: string;
  sha: string;
}

export interface ImageTag {
  tag: string;
  /** Which rule made it; the highest priority tag names the image version (as metadata-action does). */
  rule: 'semver' | 'ref' | 'raw' | 'sha';
}

const PRIORITY: Record<ImageTag['rule'], number> = { semver: 900, ref: 600, raw: 200, sha: 100 };

/** As metadata-action does: invalid runs become `-`, leading `.`/`-` dropped, 128 chars at most. */
export function sanitizeTag(value: string): string {
  return value
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
}

interface SemVer {
  major: string;
  minor: string;
  patch: string;
  prerelease?: string;
  version: string;
}

const SEMVER_RE =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export function parseSemver(value: string): SemVer | undefined {
  const m = SEMVER_RE.exec(value);
  if (!m) return undefined;
  const [, major, minor, patch, prerelease] = m;
  const version = `${major}.${minor}.${patch}${prerelease ? `-${prerelease}` : ''}`;
  return { major: major!, minor: minor!, patch: patch!, prerelease, version };
}

function refTag(ctx: GitContext): string | undefined {
  const pr = /^refs\/pull\/(\d+)\//.exec(ctx.ref);
  if (pr) return `pr-${pr[1]}`;
  const m = /^refs\/(?:heads|tags)\/(.+)$/.exec(ctx.ref);
  return m ? sanitizeTag(m[1]!) : undefined;
}

function semverTags(ctx: GitContext, pattern: string): string[] {
  // Only a `v*` git tag is a release; branches and PRs yield nothing for this rule.
  const m = /^refs\/tags\/(v.+)$/.exec(ctx.ref);
  if (!m) return [];
  const v = parseSemver(m[1]!);
  if (!v) return [];
  // metadata-action: pre-releases only ever get the full version, never a floating major/minor.
  if (v.prerelease && !pattern.includes('{{version}}')) return [v.version];
  return [
    pattern
      .replace(/\{\{\s*version\s*\}\}/g, v.version)
      .replace(/\{\{\s*major\s*\}\}/g, v.major)
      .replace(/\{\{\s*minor\s*\}\}/g, v.minor)
      .replace(/\{\{\s*patch\s*\}\}/g, v.patch),
  ];
}

/** Evaluates every rule for this event; rules that do not apply (semver on a branch) yield nothing. */
export function computeTags(rules: string[], ctx: GitContext, input = 'tags'): ImageTag[] {
  const out: ImageTag[] = [];
  for (const rule of rules) {
    const [kind, ...rest] = rule.split(':');
    const arg = rest.join(':').trim();
    switch (kind!.trim().toLowerCase()) {
      case 'sha': {
        if (!/^[0-9a-f]{7,64}$/i.test(ctx.sha)) {
          throw new InputError(input, 'a commit SHA in GITHUB_SHA for the `sha` rule', ctx.sha);
        }
        out.push({ tag: `sha-${ctx.sha.slice(0, 7).toLowerCase()}`, rule: 'sha' });
        break;
      }
      case 'ref': {
        const t = refTag(ctx);
        if (t) out.push({ tag: t, rule: 'ref' });
        break;
      }
      case 'semver': {
        for (const t of semverTags(ctx, arg || '{{version}}')) out.push({ tag: t, rule: 'semver' });
        break;
      }
      case 'raw': {
        if (!isTag(arg)) throw new InputError(input, `a valid Docker tag after raw: in '${rule}'`, arg);
        out.push({ tag: arg, rule: 'raw' });
        break;
      }
      default:
        throw new InputError(input, 'rules among sha, ref, semver, semver:<pattern>, raw:<value>', rule);
    }
  }
  for (const t of out) {
    if (!isTag(t.tag)) throw new InputError(input, 'rules that produce valid Docker tags', t.tag);
  }
  const unique = [...new Map(out.map((t) => [t.tag, t])).values()];
  // Stable sort by priority: the first tag is the image version, as with metadata-action.
  return unique.sort((a, b) => PRIORITY[b.rule] - PRIORITY[a.rule]);
}
