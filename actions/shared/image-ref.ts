/**
 * Container image references as the distribution spec writes them: `name[:tag][@digest]`, where the
 * name may carry a registry with a port (`registry:5000/team/app`), so the tag is the part after the
 * last colon of the last path component only. The one grammar of the suite: gitops-bump reads and
 * rewrites references with it, build-scan-push checks the names and tags it builds with it.
 */
export interface ImageRef {
  name: string;
  tag?: string;
  digest?: string;
}

// Only the algorithms registries serve, each with its exact length in lowercase hex: a
// `sha512:` with 64 digits is a typo that no registry can resolve, so it is refused here.
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;
export const DIGEST_EXPECTED = 'sha256:<64>, sha384:<96> or sha512:<128> lowercase hex digits';
const TAG = /^[\w][\w.-]{0,127}$/;
const NAME = /^[a-zA-Z0-9]([a-zA-Z0-9._\-/:]*[a-zA-Z0-9])?$/;

/**
 * What a registry accepts as a repository to push to: lowercase path components joined by `.`,
 * `_`, `__` or dashes, after an optional `host[:port]/` (the distribution spec's name grammar).
 */
const PUSHABLE =
  /^(?:(?:[a-z0-9]+(?:[.-][a-z0-9]+)*|localhost)(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

export const isDigest = (value: string): boolean => DIGEST.test(value);
export const isTag = (value: string): boolean => TAG.test(value);
/** Any name a manifest may hold (mixed case, as some charts write them). */
export const isName = (value: string): boolean => NAME.test(value) && !value.includes('//');
/** A name this suite may push to. */
export const isPushableName = (value: string): boolean => PUSHABLE.test(value);

/** Docker's rule for the registry of a name: a first component with `.` or `:`, or `localhost`. */
export function registryOf(name: string): string {
  const parts = name.split('/');
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return first.toLowerCase();
  }
  return 'docker.io';
}

export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

export function formatImageRef(ref: ImageRef): string {
  return `${ref.name}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/**
 * Docker Hub names have several spellings (`nginx`, `library/nginx`, `docker.io/library/nginx`,
 * `index.docker.io/library/nginx`); they are one image and must match each other. Registries
 * are case-insensitive, repository paths are not.
 */
export function normalizeName(name: string): string {
  const parts = name.split('/');
  let registry = registryOf(name);
  const hasRegistry = parts.length > 1 && registry === parts[0]!.toLowerCase();
  const path = hasRegistry ? parts.slice(1) : parts;
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && path.length === 1) path.unshift('library');
  return `${registry}/${path.join('/')}`;
}

export const sameImage = (a: string, b: string): boolean => normalizeName(a) === normalizeName(b);

/** What the bump sets: a tag, a digest, or both (`tag@digest`). */
export interface Target {
  name: string;
  tag?: string;
  digest?: string;
}

/** The new reference for an existing one: keeps its spelling of the name, replaces tag and digest. */
export function retarget(current: ImageRef, target: Target): ImageRef {
  return {
    name: current.name,
    ...(target.tag !== undefined && { tag: target.tag }),
    ...(target.digest !== undefined && { digest: target.digest }),
  };
}

/** The version part for messages: `1.2.3`, `sha256:…` or `1.2.3@sha256:…`. */
export function versionOf(ref: { tag?: string; digest?: string }): string {
  if (ref.tag && ref.digest) return `${ref.tag}@${ref.digest}`;
  return ref.tag ?? ref.digest ?? '';
}

export function shortDigest(digest: string): string {
  const [algo, hex] = digest.split(':');
  return hex ? `${algo}:${hex.slice(0, 12)}` : digest;
}
