#!/usr/bin/env node
// Rebuilds every bundle in dist/ from actions/<name>/main.ts (and services' entry points) with ncc.
// `node scripts/build.mjs [outDir]`: the dist check builds into a temp dir and compares.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = resolve(process.argv[2] ?? join(root, 'dist'));
const only = process.argv.slice(3);

export const entries = readdirSync(join(root, 'actions'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'actions', d.name, 'main.ts')))
  .map((d) => d.name)
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();

const ncc = join(root, 'node_modules', '.bin', 'ncc');
mkdirSync(out, { recursive: true });
const run = promisify(execFile);

async function build(name) {
  const dir = join(out, name);
  // Build beside the bundle and swap it in, so an interrupted build never leaves dist/ without one.
  const next = `${dir}.next`;
  rmSync(next, { recursive: true, force: true });
  // Transpile only: tsc -p tsconfig.check.json type-checks the whole tree once (scripts/test);
  // ncc checking it again per bundle was most of the build's time. actions/tsconfig.json says why
  // the emit stays ESM.
  const args = [
    'build',
    join('actions', name, 'main.ts'),
    '-o',
    next,
    '--license',
    'licenses.txt',
    '-q',
    '-t',
  ];
  await run(ncc, args, {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((err) => {
    process.stderr.write(`${err.stdout ?? ''}${err.stderr ?? ''}`);
    throw new Error(`ncc failed for ${name}`);
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(next, dir);
  console.log(`built ${name}`);
}

// ncc is mostly one core per bundle: build as many at once as there are cores, largest first
// (by the bundle's last size, chunks included: a fair guess of its build time) so no big one
// starts last.
const lastSize = (name) => {
  const dir = join(root, 'dist', name);
  if (!existsSync(dir)) return Infinity; // a new bundle: build it early, its size is unknown
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
};
const queue = [...entries].sort((a, b) => lastSize(b) - lastSize(a));
const worker = async () => {
  for (let name = queue.shift(); name; name = queue.shift()) await build(name);
};
await Promise.all(Array.from({ length: Math.min(availableParallelism(), entries.length) }, worker));
