/**
 * The trailer parser against git itself: each message is also given to `git interpret-trailers
 * --parse`, and both must find the same trailers (deploy commits reach alert-to-issue through the
 * GitHub API, where `git log --format=%(trailers)` is not available). Then the deploy commits and
 * the rollback PR match built on it.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { rollbackPullFor } from '../actions/alert-to-issue/rollback-pull.js';
import { deployedAndPrevious, deploysOf } from '../actions/shared/deploys.js';
import { parseTrailers, trailerMap } from '../actions/shared/git-trailers.js';

const DEPLOY = [
  'deploy(prod): iris v3 as sha256:cc',
  '',
  'Model: iris',
  'Model-Version: 3',
  `Image: ghcr.io/o/iris@sha256:${'c'.repeat(64)}`,
  'Environment: prod',
  'Run-Id: 0123abcd',
].join('\n');

const CASES: Array<[string, string]> = [
  ['a deploy commit', DEPLOY],
  ['trailing blank lines and a comment', `${DEPLOY}\n\n# a comment\n\n`],
  ['a squash merge with a co-author', `${DEPLOY}\n\nCo-authored-by: A <a@example.com>`],
  ['a body paragraph after the trailers', `${DEPLOY}\n\nSome words after.`],
  ['a title that looks like a trailer', 'Model-Version: 3'],
  ['a title and one paragraph that looks like one', 'deploy\n\nModel-Version: 3'],
  ['a folded value', 'deploy\n\nImage: ghcr.io/o/iris\n  @sha256:abc\nModel: iris'],
  ['a mixed paragraph', 'deploy\n\nNot a trailer line\nModel: iris'],
  [
    'a mixed paragraph with a sign-off (git’s 25% rule)',
    'deploy\n\nline one\nline two\nSigned-off-by: A <a@example.com>\nModel: iris',
  ],
  ['blanks before the separator', 'deploy\n\nModel  : iris\nModel-Version:3'],
  ['CRLF line ends', DEPLOY.replace(/\n/g, '\r\n')],
];

/** What git finds: `key: value` lines of `interpret-trailers --parse`. */
function gitTrailers(message: string): Array<{ key: string; value: string }> {
  const out = execFileSync('git', ['interpret-trailers', '--parse'], { input: message, encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf(':');
      return { key: l.slice(0, i), value: l.slice(i + 1).trim() };
    });
}

describe('parseTrailers', () => {
  it.each(CASES)('finds what git finds: %s', (_name, message) => {
    expect(parseTrailers(message)).toEqual(gitTrailers(message));
  });

  it('gives the keys case-insensitively, first value of each', () => {
    expect(trailerMap('t\n\nmodel-version: 3\nMODEL-VERSION: 4\nModel: iris')).toEqual({
      'model-version': '3',
      model: 'iris',
    });
  });
});

describe('deploy commits', () => {
  const commit = (sha: string, version: string, more: string[] = []) => ({
    sha: sha.repeat(40),
    // `more` first: the first value of a key is the one read.
    message: [
      'deploy',
      '',
      ...more,
      'Model: iris',
      `Model-Version: ${version}`,
      `Image: o/iris@sha256:${sha.repeat(64)}`,
    ].join('\n'),
  });

  it('takes the newest for the model and environment, and the newest earlier one of another version', () => {
    const list = deploysOf(
      [
        commit('e', '9', ['Environment: staging']),
        commit('d', '4', ['Model: penguins']),
        commit('c', '3', ['Environment: prod']),
        commit('b', '3'),
        { sha: 'f'.repeat(40), message: 'docs: no trailers' },
        commit('a', '1', ['Environment: prod']),
      ],
      { model: 'iris', environment: 'prod' },
    );
    // A trailer that is absent does not exclude (b has no Environment); another model's value does.
    expect(list.map((d) => d.version)).toEqual(['3', '3', '1']);
    const { deployed, previous } = deployedAndPrevious(list);
    expect([deployed?.sha[0], previous?.sha[0], previous?.version]).toEqual(['c', 'a', '1']);
    expect(deployedAndPrevious(list.slice(0, 2)).previous).toBeUndefined();
  });

  it('counts no commit whose Model-Version is not a number or whose Image has no digest', () => {
    const list = deploysOf(
      [
        commit('d', '4) [x](https://evil.example)'),
        commit('c', '3', ['Image: o/iris:latest']),
        commit('b', '2', ['Image: o/iris@sha512:abc']),
        { sha: 'e'.repeat(40), message: 'deploy\n\nModel: iris\nModel-Version: 5' },
        commit('a', '1'),
      ],
      { model: 'iris' },
    );
    expect(list.map((d) => [d.sha[0], d.version, d.digest])).toEqual([
      ['a', '1', `sha256:${'a'.repeat(64)}`],
    ]);
  });

  it('skips as previous champion a version a rollback undid, as gitops-bump does', () => {
    const rollback = (sha: string, version: string, of: string) =>
      commit(sha, version, [`Rollback-Of: ${of.repeat(40)}`]);
    // v1, v2, v3, then v3 rolled back to v2: an alert on v2 compares with v1, not v3.
    const undone = deploysOf(
      [rollback('d', '2', 'c'), commit('c', '3'), commit('b', '2'), commit('a', '1')],
      {},
    );
    expect(deployedAndPrevious(undone).previous?.sha[0]).toBe('a');
    // v1, v2, v2 rolled back to v1, v3: v1 (the rollback's deploy of it); then v3 rolled back too: none.
    const twice = [rollback('c', '1', 'b'), commit('b', '2'), commit('a', '1')];
    expect(deployedAndPrevious(deploysOf([commit('d', '3'), ...twice], {})).previous?.sha[0]).toBe('c');
    const again = deploysOf([rollback('e', '1', 'd'), commit('d', '3'), ...twice], {});
    expect(deployedAndPrevious(again)).toEqual({ deployed: again[0] });
  });

  it('finds the rollback PR by its Rollback-Of trailer, else by a rollback title naming the version', () => {
    const [deployed] = deploysOf([commit('c', '3', [`Image: o/iris@sha256:${'c'.repeat(64)}`])], {
      model: 'iris',
    });
    const pr = (number: number, title: string, body = '') => ({ number, url: `u${number}`, title, body });
    const bump = pr(1, 'deploy(prod): iris v3 -> v4', 'v3 -> v4');
    const other = pr(2, 'rollback(prod): iris v5 -> v4', `Rollback-Of: ${'9'.repeat(40)}`);
    expect(rollbackPullFor([bump, other], deployed!)).toBeUndefined();
    expect(
      rollbackPullFor([bump, pr(3, 'Revert', `Rollback-Of: ${'c'.repeat(12)}`)], deployed!)?.number,
    ).toBe(3);
    expect(rollbackPullFor([other, pr(4, 'rollback(prod): iris v3 -> v1')], deployed!)?.number).toBe(4);
    expect(
      rollbackPullFor([pr(5, 'Roll back iris', `was \`o/iris@sha256:${'c'.repeat(64)}\``)], deployed!)
        ?.number,
    ).toBe(5);
  });
});
