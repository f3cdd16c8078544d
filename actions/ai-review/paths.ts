/**
 * Which changed files are worth a model's attention. Lockfiles, build output, vendored and
 * generated code and binaries are skipped by default (a file named by an explicit `include`
 * pattern is reviewed anyway); `exclude` always wins.
 */
import { minimatch } from 'minimatch';
import type { ChangedFile } from './diff.js';

export const DEFAULT_SKIPS = [
  '**/package-lock.json',
  '**/npm-shrinkwrap.json',
  '**/yarn.lock',
  '**/pnpm-lock.yaml',
  '**/bun.lockb',
  '**/poetry.lock',
  '**/Pipfile.lock',
  '**/uv.lock',
  '**/pdm.lock',
  '**/Cargo.lock',
  '**/go.sum',
  '**/composer.lock',
  '**/Gemfile.lock',
  '**/*.lock',
  'dist/**',
  '**/dist/**',
  '**/build/**',
  '**/vendor/**',
  '**/node_modules/**',
  '**/__generated__/**',
  '**/generated/**',
  '**/*.min.js',
  '**/*.min.css',
  '**/*.map',
  '**/*.snap',
  '**/*.pb.go',
  '**/*_pb2.py',
  '**/*_pb2_grpc.py',
  '**/*.generated.*',
  '**/*.g.dart',
  '**/*.{png,jpg,jpeg,gif,webp,ico,bmp,pdf,zip,gz,tgz,bz2,xz,7z,jar,whl,so,dylib,dll,exe,bin,pkl,pickle,joblib,pt,pth,onnx,h5,keras,safetensors,parquet,feather,arrow,npy,npz,tfrecord,ckpt,mlmodel,woff,woff2,ttf,otf,mp4,mp3,wav}',
];

export interface Selection {
  review: ChangedFile[];
  skipped: Array<{ filename: string; why: string }>;
}

const match = (path: string, patterns: string[]): boolean =>
  patterns.some((p) => minimatch(path, p, { dot: true, nocase: false, matchBase: !p.includes('/') }));

export function selectFiles(files: ChangedFile[], include: string[], exclude: string[]): Selection {
  const review: ChangedFile[] = [];
  const skipped: Selection['skipped'] = [];
  for (const f of files) {
    const explicit = include.length > 0 && match(f.filename, include);
    if (include.length > 0 && !explicit)
      skipped.push({ filename: f.filename, why: 'not matched by include' });
    else if (match(f.filename, exclude)) skipped.push({ filename: f.filename, why: 'excluded' });
    else if (f.status === 'removed') skipped.push({ filename: f.filename, why: 'deleted' });
    else if (!explicit && match(f.filename, DEFAULT_SKIPS))
      skipped.push({ filename: f.filename, why: 'lockfile, build output, generated or binary' });
    else if (f.patch === undefined || f.patch === '')
      // The API omits the patch for binaries and for diffs too large to show.
      skipped.push({
        filename: f.filename,
        why: f.changes === 0 ? 'no content change' : 'binary or diff too large',
      });
    else review.push(f);
  }
  return { review, skipped };
}
