/**
 * The `artifacts` input: files, directories and globs, uploaded to the run at their path relative
 * to the working directory (so `reports/roc.png` stays `reports/roc.png`). A plain path that does
 * not exist is an input error; a glob that matches nothing is only a warning, as in upload-artifact.
 */
import * as core from '@actions/core';
import * as glob from '@actions/glob';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { InputError } from '../shared/errors.js';

export interface Upload {
  local: string;
  /** Directory in the run's artifacts ('' for the root). */
  artifactDir: string;
  kind: 'file' | 'dir';
}

const isGlob = (p: string): boolean => /[*?[\]{}]/.test(p);

/** Where a path goes in the run: its place under the working directory, or the root when outside it. */
function artifactDirOf(workdir: string, path: string): string {
  const rel = relative(workdir, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return '';
  const dir = dirname(rel);
  return dir === '.' ? '' : dir.split(sep).join('/');
}

export async function resolveArtifacts(patterns: string[], workdir: string): Promise<Upload[]> {
  const uploads = new Map<string, Upload>();
  for (const pattern of patterns) {
    const absolute = isAbsolute(pattern) ? pattern : resolve(workdir, pattern);
    if (!isGlob(pattern)) {
      if (!existsSync(absolute)) {
        throw new InputError(
          'artifacts',
          'files, directories or globs that exist after the command',
          `${pattern} does not exist`,
        );
      }
      const kind = statSync(absolute).isDirectory() ? 'dir' : 'file';
      const rel = relative(workdir, absolute);
      const artifactDir =
        kind === 'dir'
          ? rel === '' || rel.startsWith('..') || isAbsolute(rel)
            ? basename(absolute)
            : rel.split(sep).join('/')
          : artifactDirOf(workdir, absolute);
      uploads.set(absolute, { local: absolute, artifactDir, kind });
      continue;
    }
    const globber = await glob.create(absolute, { matchDirectories: false, implicitDescendants: true });
    const files = await globber.glob();
    if (files.length === 0) core.warning(`artifacts: '${pattern}' matched no files`);
    for (const file of files)
      uploads.set(file, { local: file, artifactDir: artifactDirOf(workdir, file), kind: 'file' });
  }
  return [...uploads.values()];
}
