/** Real git fixtures for gitops-bump: a bare repository as `origin`, seeded with files, and fresh clones. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const env = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Seed',
  GIT_AUTHOR_EMAIL: 'seed@example.com',
  GIT_COMMITTER_NAME: 'Seed',
  GIT_COMMITTER_EMAIL: 'seed@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: 'pipe' }).trim();
}

export interface Origin {
  bare: string;
  root: string;
}

/** A bare repository whose `main` holds `files` (written byte for byte, CRLF included). */
export function makeOrigin(files: Record<string, string>, branch = 'main'): Origin {
  const root = mkdtempSync(join(tmpdir(), 'gitops-origin-'));
  const seed = join(root, 'seed');
  const bare = join(root, 'origin.git');
  mkdirSync(seed);
  git(seed, ['init', '-q', '-b', branch]);
  git(seed, ['config', 'core.autocrlf', 'false']);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(seed, path)), { recursive: true });
    writeFileSync(join(seed, path), text);
  }
  git(seed, ['add', '-A']);
  git(seed, ['commit', '-q', '-m', 'seed']);
  git(root, ['init', '-q', '--bare', '-b', branch, bare]);
  git(seed, ['push', '-q', bare, `${branch}:${branch}`]);
  return { bare, root };
}

/** A new clone of the origin, to check what really landed. */
export function cloneFresh(origin: Origin, branch = 'main'): string {
  const dir = mkdtempSync(join(origin.root, 'check-'));
  git(origin.root, ['clone', '-q', '--branch', branch, origin.bare, dir]);
  return dir;
}

export function readFrom(dir: string, path: string): string {
  return readFileSync(join(dir, path), 'utf8');
}

export function commitCount(origin: Origin, ref = 'main'): number {
  return Number(git(origin.root, ['--git-dir', origin.bare, 'rev-list', '--count', ref]));
}

export function head(origin: Origin, ref = 'main'): string {
  return git(origin.root, ['--git-dir', origin.bare, 'rev-parse', ref]);
}

/**
 * A prod deploy commit's message as ml-pipeline.yml's bump writes it (workflows.test.ts checks
 * that message): the subject and the trailers rollback and deployed read, then `extra` lines.
 */
export function deployMessage(
  {
    image,
    version,
    digest,
    runId = `run${version}`,
  }: { image: string; version: string; digest: string; runId?: string },
  extra: string[] = [],
): string {
  return [
    `deploy(prod): iris v${version} as ${digest}`,
    '',
    'Model: iris',
    `Model-Version: ${version}`,
    `Image: ${image}@${digest}`,
    'Environment: prod',
    `Run-Id: ${runId}`,
    ...extra,
  ].join('\n');
}

/** Commits one more change directly on the origin (another actor moving the branch). */
export function commitDirect(
  origin: Origin,
  path: string,
  text: string,
  message: string,
  branch = 'main',
): string {
  const dir = cloneFresh(origin, branch);
  git(dir, ['config', 'core.autocrlf', 'false']);
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '-m', message]);
  git(dir, ['push', '-q', 'origin', `HEAD:${branch}`]);
  return git(dir, ['rev-parse', 'HEAD']);
}
