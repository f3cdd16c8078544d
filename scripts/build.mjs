#!/usr/bin/env node
// Rebuilds every bundle in dist/ from actions/<name>/main.ts (and services' entry points) with ncc.
// `node scripts/build.mjs [outDir]`: the dist check builds into a temp dir and compares.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { existsSync, readdirSync, renameSync, rmSync, mkdirSync } from 'node:fs';
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
  await run(ncc, ['build', join('actions', name, 'main.ts'), '-o', next, '--license', 'licenses.txt', '-q'], {
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

// ncc is mostly one core per bundle: build as many at once as there are cores.
const queue = [...entries];
const worker = async () => {
  for (let name = queue.shift(); name; name = queue.shift()) await build(name);
};
await Promise.all(Array.from({ length: Math.min(availableParallelism(), entries.length) }, worker));
