#!/usr/bin/env node
// Rebuilds every bundle in dist/ from actions/<name>/main.ts (and services' entry points) with ncc.
// `node scripts/build.mjs [outDir]`: the dist check builds into a temp dir and compares.
import { execFileSync } from 'node:child_process';
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
for (const name of entries) {
  const dir = join(out, name);
  // Build beside the bundle and swap it in, so an interrupted build never leaves dist/ without one.
  const next = `${dir}.next`;
  rmSync(next, { recursive: true, force: true });
  execFileSync(
    ncc,
    ['build', join('actions', name, 'main.ts'), '-o', next, '--license', 'licenses.txt', '-q'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(next, dir);
  console.log(`built ${name}`);
}
