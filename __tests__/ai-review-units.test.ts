/** ai-review's library modules, and the fake GitHub's review rules they rely on. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { addedLines, commentableLines, renderNumbered } from '../actions/ai-review/diff.js';
import { selectFiles } from '../actions/ai-review/paths.js';
import { place, type Sourced } from '../actions/ai-review/placement.js';
import { chunkFiles } from '../actions/ai-review/prompt.js';
import { areaOf, ruleFindings } from '../actions/ai-review/rules.js';
import { skipReason } from '../actions/ai-review/skip.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import {
  addedPatch,
  diffLines,
  pullFile,
  registerReviewHandlers,
  seedPull,
} from './helpers/fake-github/reviews.js';

const PATCH = [
  '@@ -1,4 +1,5 @@',
  ' import os',
  '-import sys',
  '+import sys, json',
  '+import random',
  ' ',
  ' def main():',
  '@@ -20,3 +21,2 @@ def main():',
  '     x = 1',
  '-    y = 2',
  '     return x',
  '\\ No newline at end of file',
].join('\n');

describe('diff', () => {
  it('knows which new-file lines a comment may target', () => {
    expect([...commentableLines(PATCH)]).toEqual([1, 2, 3, 4, 5, 21, 22]);
    expect([...commentableLines(undefined)]).toEqual([]);
    // The fake computes the same set independently.
    expect([...diffLines(PATCH).RIGHT]).toEqual([1, 2, 3, 4, 5, 21, 22]);
    expect([...diffLines(PATCH).LEFT]).toEqual([1, 2, 3, 4, 20, 21, 22]);
  });

  it('numbers the lines the model sees and lists added lines', () => {
    expect(renderNumbered(PATCH).split('\n').slice(0, 4)).toEqual([
      '@@ -1,4 +1,5 @@',
      '    1   import os',
      '      - import sys',
      '    2 + import sys, json',
    ]);
    expect(addedLines(PATCH)).toEqual([
      { line: 2, text: 'import sys, json' },
      { line: 3, text: 'import random' },
    ]);
  });

  it('counts a blank context line whose leading space was stripped, so later lines keep their numbers', () => {
    // Editors and some tools strip the lone space of an empty context line; git still applies it.
    const stripped = ['@@ -1,3 +1,3 @@', ' a', '', '-c', '+d'].join('\n');
    expect([...commentableLines(stripped)]).toEqual([1, 2, 3]);
    expect(addedLines(stripped)).toEqual([{ line: 3, text: 'd' }]);
    expect(renderNumbered(stripped).split('\n')).toEqual([
      '@@ -1,3 +1,3 @@',
      '    1   a',
      '    2   ',
      '      - c',
      '    3 + d',
    ]);
  });
});

describe('paths', () => {
  const f = (filename: string, patch: string | null = '@@ -0,0 +1 @@\n+x', status = 'modified') => ({
    filename,
    status,
    additions: 1,
    deletions: 0,
    changes: 1,
    ...(patch === null ? {} : { patch }),
  });
  it('skips lockfiles, build output, generated files, binaries and deletions by default', () => {
    const files = [
      f('train.py'),
      f('web/package-lock.json'),
      f('poetry.lock'),
      f('dist/index.js'),
      f('api/gen_pb2.py'),
      f('model.onnx', null),
      f('big.csv', null),
      f('old.py', '@@ -1 +0,0 @@\n-x', 'removed'),
      f('.github/workflows/ci.yml'),
    ];
    const { review, skipped } = selectFiles(files, [], []);
    expect(review.map((x) => x.filename)).toEqual(['train.py', '.github/workflows/ci.yml']);
    expect(Object.fromEntries(skipped.map((s) => [s.filename, s.why]))).toEqual({
      'web/package-lock.json': 'lockfile, build output, generated or binary',
      'poetry.lock': 'lockfile, build output, generated or binary',
      'dist/index.js': 'lockfile, build output, generated or binary',
      'api/gen_pb2.py': 'lockfile, build output, generated or binary',
      'model.onnx': 'lockfile, build output, generated or binary',
      'big.csv': 'binary or diff too large',
      'old.py': 'deleted',
    });
  });

  it('applies include and exclude, and an explicit include overrides the default skips', () => {
    const files = [f('src/a.py'), f('src/b.ts'), f('docs/x.md'), f('dist/app.js')];
    expect(selectFiles(files, ['src/**', 'dist/**'], ['**/*.ts']).review.map((x) => x.filename)).toEqual([
      'src/a.py',
      'dist/app.js',
    ]);
    expect(selectFiles(files, [], ['*.md']).review.map((x) => x.filename)).toEqual(['src/a.py', 'src/b.ts']);
  });
});

describe('rules', () => {
  it('classifies paths by area', () => {
    expect(
      [
        '.github/workflows/ci.yml',
        'serve/Dockerfile',
        'platform/apps/iris/deployment.yaml',
        'model/train.py',
        'README.md',
      ].map(areaOf),
    ).toEqual(['workflow', 'docker', 'kubernetes', 'training', 'other']);
  });

  it('flags the platform mistakes on added lines only, with their lines', () => {
    const found = (path: string, content: string) =>
      ruleFindings([
        { filename: path, status: 'added', additions: 1, deletions: 0, patch: addedPatch(content) },
      ]).map((x) => `${x.line}:${x.title}`);
    expect(
      found(
        'Dockerfile',
        'FROM python:3.12-slim AS build\nFROM build\nFROM ubuntu\nFROM node:latest\nFROM alpine@sha256:abc\nUSER root\nENV API_TOKEN=abc\nUSER 10001',
      ),
    ).toEqual([
      '3:Base image is not pinned',
      '4:Base image is not pinned',
      '6:Container runs as root',
      '7:Secret baked into an image layer',
    ]);
    expect(
      found(
        'k8s/deploy.yaml',
        'image: ghcr.io/o/iris:latest\nimage: ghcr.io/o/iris:1.2.3\nimage: nginx\nprivileged: true\nhostNetwork: true',
      ),
    ).toEqual([
      '1:Image uses the latest tag or no tag',
      '3:Image uses the latest tag or no tag',
      '4:Privileged container',
      '5:Pod weakens isolation from the node',
    ]);
    expect(
      found(
        '.github/workflows/ci.yml',
        `on: pull_request_target\npermissions: write-all\n- uses: actions/checkout@v4\n- uses: some/action@v1\n- uses: some/action@${'a'.repeat(40)}`,
      ),
    ).toEqual([
      '1:pull_request_target runs with secrets on PR events',
      '2:Workflow grants write-all permissions',
      '4:Third-party action not pinned to a commit SHA',
    ]);
    expect(
      found(
        'train.py',
        'a, b = train_test_split(X, y)\nc, d = train_test_split(X, y, random_state=SEED)\nprint(f1_score(y_train, p))',
      ),
    ).toEqual(['1:Split without a seed', '3:Metric computed on the training data']);
  });
});

describe('placement', () => {
  const mk = (
    path: string,
    line: number,
    severity: Sourced['severity'],
    source: Sourced['source'] = 'ai',
  ): Sourced => ({
    path,
    line,
    severity,
    category: 'other',
    title: `${path}:${line}`,
    body: 'b',
    source,
  });
  it('keeps in-diff lines inline up to the cap, most severe first, one per line', () => {
    const diff = new Map([['a.py', new Set([1, 2, 3])]]);
    const p = place(
      [
        mk('a.py', 1, 'low'),
        mk('a.py', 2, 'high'),
        mk('a.py', 2, 'high', 'rule'),
        mk('a.py', 9, 'high'),
        mk('b.py', 1, 'medium'),
        mk('a.py', 3, 'medium'),
      ],
      diff,
      2,
    );
    expect(p.inline.map((f) => f.title)).toEqual(['a.py:2', 'a.py:3']);
    expect(p.inline[0]!.source).toBe('ai');
    expect(p.elsewhere.map((f) => `${f.title} ${f.why}`)).toEqual([
      'a.py:9 line not part of the diff',
      'b.py:1 file not in the pull request diff',
      'a.py:1 over max-comments',
    ]);
  });
});

describe('chunking and skipping', () => {
  it('splits files into calls within the budget and reports what did not fit', async () => {
    const files = Array.from({ length: 10 }, (_, i) => ({
      filename: `f${i}.py`,
      status: 'added',
      additions: 300,
      deletions: 0,
      patch: addedPatch('x = compute_something_long(1, 2, 3)\n'.repeat(300)),
    }));
    const { chunks, left } = await chunkFiles(files, [], 8_000, 3);
    expect(chunks).toHaveLength(3);
    expect(chunks.flatMap((c) => c.files).length + left.length).toBe(10);
    expect(left.length).toBeGreaterThan(0);
  });

  it('cuts where a count says a group is over the budget, counting only groups of several files near it', async () => {
    const file = (i: number, lines: number) => ({
      filename: `g${i}.py`,
      status: 'added',
      additions: lines,
      deletions: 0,
      patch: addedPatch('y = transform(x)  # some comment here\n'.repeat(lines)),
    });
    const files = [file(0, 150), file(1, 150), file(2, 150), file(3, 2)];
    const byEstimate = await chunkFiles(files, [], 12_000, 6);
    expect(byEstimate.chunks.map((c) => c.files.length)).toEqual([4]);

    // A tokenizer twice as dense as the estimate: 1.5 characters a token.
    const seen: number[] = [];
    const dense = async (parts: { text: string }[]) => {
      seen.push(parts.length);
      return Math.ceil(parts.reduce((n, p) => n + p.text.length, 3_000) / 1.5);
    };
    const counted = await chunkFiles(files, [], 12_000, 6, dense);
    expect(counted.left).toEqual([]);
    expect(counted.chunks.flatMap((c) => c.files)).toEqual(files);
    expect(counted.chunks.length).toBeGreaterThan(1);
    for (const c of counted.chunks)
      if (c.files.length > 1) expect(await dense(c.parts)).toBeLessThanOrEqual(12_000);
    // The first count is of all four files; single-file chunks are never counted (nothing to split).
    expect(seen[0]).toBe(4);
    expect(seen.every((n) => n > 1)).toBe(true);

    // A count that fails leaves the estimate in charge, after one attempt.
    let calls = 0;
    const offline = await chunkFiles(files, [], 12_000, 6, async () => {
      calls++;
      return undefined;
    });
    expect(offline.chunks.map((c) => c.files.length)).toEqual([4]);
    expect(calls).toBe(1);
  });

  it('skips closed, draft and fork pull requests unless told', () => {
    const pr = (o: object) => ({
      state: 'open',
      draft: false,
      head: { repo: { full_name: 'o/r' } },
      base: { repo: { full_name: 'o/r' } },
      ...o,
    });
    const no = { reviewDrafts: false, reviewForks: false };
    expect(skipReason(pr({}), no)).toBeUndefined();
    expect(skipReason(pr({ state: 'closed' }), no)).toMatch(/closed/);
    expect(skipReason(pr({ draft: true }), no)).toMatch(/draft/);
    expect(skipReason(pr({ draft: true }), { ...no, reviewDrafts: true })).toBeUndefined();
    expect(skipReason(pr({ head: { repo: { full_name: 'x/r' } } }), no)).toMatch(/fork/);
    expect(skipReason(pr({ head: { repo: null } }), no)).toMatch(/fork/);
    expect(skipReason(pr({ head: { repo: null } }), { ...no, reviewForks: true })).toBeUndefined();
  });
});

describe('fake GitHub reviews', () => {
  let gh: FakeGitHub;
  beforeAll(async () => {
    gh = new FakeGitHub({ repos: ['octo-org/iris'] });
    registerReviewHandlers(gh);
    await gh.start();
  });
  afterAll(() => gh.stop());
  const post = (path: string, body: unknown) =>
    fetch(gh.url + path, {
      method: 'POST',
      headers: {
        authorization: 'token ghs_test_token',
        'user-agent': 't',
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    });

  it('rejects, like GitHub, a review comment outside the diff, an unknown commit and an empty COMMENT', async () => {
    const pr = seedPull(gh, { headSha: 'e'.repeat(40), files: [pullFile('a.py', PATCH)] });
    const url = `/repos/octo-org/iris/pulls/${pr.number}/reviews`;
    const bad = await post(url, {
      event: 'COMMENT',
      body: 'x',
      comments: [{ path: 'a.py', line: 10, side: 'RIGHT', body: 'no' }],
    });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { errors: string[] }).errors).toEqual([
      'Pull request review thread line must be part of the diff',
    ]);
    expect(
      (await post(url, { event: 'COMMENT', body: 'x', comments: [{ path: 'zzz.py', line: 1, body: 'no' }] }))
        .status,
    ).toBe(422);
    expect((await post(url, { event: 'COMMENT', commit_id: 'f'.repeat(40), body: 'x' })).status).toBe(422);
    expect((await post(url, { event: 'COMMENT' })).status).toBe(422);
    expect((await post(url, { event: 'LGTM', body: 'x' })).status).toBe(422);
    const ok = await post(url, {
      event: 'COMMENT',
      body: 'x',
      comments: [
        { path: 'a.py', line: 22, side: 'RIGHT', body: 'yes' },
        { path: 'a.py', line: 20, side: 'LEFT', body: 'old' },
      ],
    });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { state: string }).state).toBe('COMMENTED');
    expect(gh.state.repo('octo-org', 'iris')!.reviews).toHaveLength(1);
  });
});
