#!/usr/bin/env node
// Tags a release as actions/* do: `vX.Y.Z` on HEAD, and the major tag `vX` moved to it, so users
// pinned to `@v1` get the release and users pinned to `@v1.2.3` or a SHA keep what they had.
// `node scripts/release.mjs <X.Y.Z> [--remote origin] [--dry-run]`. It refuses, before tagging,
// when the version is not a new, higher semantic version, when package.json or CHANGELOG.md do
// not name it, when a reusable workflow's actions-ref default is not the major tag it moves, or
// when the working tree is not clean (dist/ freshness is the workflow's step
// before this one: `npm run build && git diff --exit-code -- dist`).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { parse } from 'yaml';

const root = process.cwd();

function git(...args) {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function fail(message) {
  console.error(`release: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { remote: 'origin', dryRun: false, version: '' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--remote') opts.remote = argv[++i] ?? fail('--remote needs a name');
    else if (argv[i] === '--dry-run') opts.dryRun = true;
    else if (!opts.version) opts.version = argv[i].replace(/^v/, '');
    else fail(`unexpected argument "${argv[i]}"`);
  }
  if (!opts.version) fail('usage: release.mjs <X.Y.Z> [--remote origin] [--dry-run]');
  return opts;
}

// The reusable workflows check the suite out at `actions-ref`: its default must be the major tag
// this release moves, or a caller of `…/ml-pipeline.yml@v2` would run the actions of v1.
function checkActionsRef(major) {
  const dir = join(root, '.github', 'workflows');
  if (!existsSync(dir)) return;
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    const workflow = parse(readFileSync(join(dir, file), 'utf8'));
    const ref = workflow?.on?.workflow_call?.inputs?.['actions-ref']?.default;
    if (ref !== undefined && ref !== major)
      fail(`.github/workflows/${file}: actions-ref defaults to ${ref}; set it to ${major} first`);
  }
}

// Every check runs before the first tag is written, so a refused release changes nothing.
function check(version, remote) {
  if (semver.valid(version) !== version) fail(`version "${version}" is not a semantic version X.Y.Z`);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (pkg.version !== version) fail(`package.json says version ${pkg.version}; set it to ${version} first`);
  const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8');
  const heading = new RegExp(`^## \\[?v?${version.replace(/\./g, '\\.')}\\]?(\\s|$)`, 'm');
  if (!heading.test(changelog)) fail(`CHANGELOG.md has no "## ${version}" section`);
  // A prerelease moves no major tag, so it may come before the defaults do.
  if (semver.prerelease(version) === null) checkActionsRef(`v${semver.major(version)}`);
  if (git('status', '--porcelain')) fail('the working tree has uncommitted changes');
  // Tags from the remote too: a tag someone else pushed must not be overwritten.
  const remoteTags = git('ls-remote', '--tags', remote)
    .split('\n')
    .map((line) => line.split('refs/tags/')[1])
    .filter(Boolean);
  const tags = new Set([...git('tag', '--list').split('\n'), ...remoteTags].filter(Boolean));
  if (tags.has(`v${version}`)) fail(`tag v${version} exists already`);
  const released = [...tags].map((t) => semver.valid(t.replace(/^v/, ''))).filter(Boolean);
  const latest = semver.maxSatisfying(released, '*');
  if (latest && !semver.gt(version, latest))
    fail(`version ${version} is not higher than the latest release ${latest}`);
  return { latest, prerelease: semver.prerelease(version) !== null };
}

const { version, remote, dryRun } = parseArgs(process.argv.slice(2));
const { latest, prerelease } = check(version, remote);
const major = `v${semver.major(version)}`;
const commit = git('rev-parse', 'HEAD');
// A prerelease is tagged but never moves the major tag that users pin to.
const moves = prerelease ? [] : [major];
console.log(`release: v${version} at ${commit.slice(0, 12)} (previous: ${latest ?? 'none'})`);
if (dryRun) {
  console.log(`release: dry run, would tag v${version}${moves.length ? ` and move ${major}` : ''}`);
  process.exit(0);
}
git('tag', '-a', `v${version}`, '-m', `v${version}`, commit);
for (const tag of moves) git('tag', '-f', '-a', tag, '-m', `${tag} -> v${version}`, commit);
git('push', remote, `refs/tags/v${version}`);
for (const tag of moves) git('push', '--force', remote, `refs/tags/${tag}`);
console.log(`release: pushed v${version}${moves.length ? ` and moved ${major}` : ''}`);
