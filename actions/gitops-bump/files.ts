/** The `files` input against the clone: exact paths must exist, globs must match something. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { minimatch } from 'minimatch';
import { InputError } from '../shared/errors.js';
import type { Git } from './git.js';
import {
  addToKustomization,
  editFile,
  isKustomizationFile,
  type EditOptions,
  type Location,
} from './edit/index.js';

const GLOB = /[*?[\]{}!]/;

export async function resolveFiles(git: Git, patterns: string[]): Promise<string[]> {
  const tracked = (await git.exec(['ls-files', '-z'])).stdout.split('\0').filter(Boolean);
  const out = new Set<string>();
  for (const raw of patterns) {
    const pattern = raw.replace(/^\.\//, '');
    if (pattern.startsWith('/') || pattern.split('/').includes('..')) {
      throw new InputError('files', 'paths relative to the repository root, without ..', raw);
    }
    const hits = GLOB.test(pattern)
      ? tracked.filter((f) => minimatch(f, pattern, { dot: true }))
      : tracked.filter((f) => f === pattern);
    if (hits.length === 0) {
      throw new InputError(
        'files',
        GLOB.test(pattern) ? 'globs that match tracked files' : 'files that exist in the repository',
        raw,
      );
    }
    hits.forEach((f) => out.add(f));
  }
  return [...out].sort();
}

export interface TreeEdit {
  changedFiles: string[];
  locations: Location[];
}

/**
 * Edits the files in the work tree; writes only those whose text changed. When no file names the
 * image and exactly one of them is a kustomization, the image is added to its `images:` (with
 * several, which one is meant is the user's call: the bump fails with "not referenced").
 */
export async function editTree(dir: string, files: string[], options: EditOptions): Promise<TreeEdit> {
  const changedFiles: string[] = [];
  const locations: Location[] = [];
  const texts = new Map<string, string>();
  for (const file of files) {
    const path = join(dir, file);
    const text = await readFile(path, 'utf8');
    texts.set(file, text);
    const result = editFile(file, text, options);
    locations.push(...result.locations);
    if (result.changed) {
      await writeFile(path, result.text);
      changedFiles.push(file);
    }
  }
  const kustomizations =
    locations.length === 0 ? files.filter((f) => isKustomizationFile(f, texts.get(f)!)) : [];
  if (kustomizations.length === 1) {
    const file = kustomizations[0]!;
    const result = addToKustomization(file, texts.get(file)!, options);
    await writeFile(join(dir, file), result.text);
    return { changedFiles: [file], locations: result.locations };
  }
  return { changedFiles, locations };
}
