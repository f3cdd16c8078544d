/**
 * 20 gitops-bump processes started at once against one origin, several of them editing the same
 * file and bumping the same image: every bump lands as its own commit, none is lost, and each
 * image ends at the value of the last commit that bumped it.
 */
import { describe, expect, it } from '@jest/globals';
import { runAction } from './helpers/run-action.js';
import { cloneFresh, commitCount, git, makeOrigin, readFrom } from './helpers/gitops-repo.js';

const images = Array.from({ length: 10 }, (_, i) => `ghcr.io/octo-org/model-${i}`);

const kustomization = [
  'apiVersion: kustomize.config.k8s.io/v1beta1',
  'kind: Kustomization',
  'images:',
  ...images.slice(0, 5).flatMap((name) => [`  - name: ${name}`, '    newTag: "seed"']),
  '',
].join('\n');
const values = [
  'api:',
  '  image:',
  `    repository: ${images[5]}`,
  '    tag: seed',
  'worker:',
  '  image:',
  `    repository: ${images[6]}`,
  '    tag: seed',
  '',
].join('\n');
const deployment = [
  'apiVersion: apps/v1',
  'kind: Deployment',
  'metadata:',
  '  name: models',
  'spec:',
  '  template:',
  '    spec:',
  '      containers:',
  ...images.slice(7).flatMap((name, i) => [`        - name: c${i}`, `          image: ${name}:seed`]),
  '',
].join('\n');

/** The tag each image has in the final files. */
function finalTags(dir: string): Map<string, string> {
  const tags = new Map<string, string>();
  const k = readFrom(dir, 'env/kustomization.yaml');
  for (const m of k.matchAll(/- name: (\S+)\n\s+newTag: "([^"]+)"/g)) tags.set(m[1]!, m[2]!);
  const v = readFrom(dir, 'env/values.yaml');
  for (const m of v.matchAll(/repository: (\S+)\n\s+tag: (\S+)/g)) tags.set(m[1]!, m[2]!);
  const d = readFrom(dir, 'env/deployment.yaml');
  for (const m of d.matchAll(/image: ([^:\s]+):(\S+)/g)) tags.set(m[1]!, m[2]!);
  return tags;
}

describe('gitops-bump under contention', () => {
  it('lands 20 concurrent bumps from separate processes, losing none', async () => {
    const origin = makeOrigin({
      'env/kustomization.yaml': kustomization,
      'env/values.yaml': values,
      'env/deployment.yaml': deployment,
    });
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runAction('gitops-bump', {
          inputs: {
            repository: origin.bare,
            files: 'env/*.yaml',
            image: images[i % 10],
            tag: `v${i}`,
            'helm-key-path': '*.image',
            'commit-message': 'bump {image} from {old} to {new}',
          },
          env: { GITHUB_TOKEN: 'ghs_test_token' },
          timeoutMs: 170_000,
        }),
      ),
    );
    for (const run of runs) {
      expect(run.errors).toEqual([]);
      expect(run.code).toBe(0);
      expect(run.outputs.changed).toBe('true');
    }
    // The seed commit plus one commit per run, each of them on main.
    expect(commitCount(origin)).toBe(21);
    const dir = cloneFresh(origin);
    const shas = runs.map((r) => r.outputs['commit-sha']!);
    expect(new Set(shas).size).toBe(20);
    for (const sha of shas) expect(git(dir, ['merge-base', '--is-ancestor', sha, 'HEAD'])).toBe('');

    // Replay history: each commit's "from" is the value the previous commit of that image left.
    const log = git(dir, ['log', '--reverse', '--format=%s', 'HEAD~20..HEAD']).split('\n');
    const expected = new Map(images.map((name) => [name, 'seed']));
    for (const subject of log) {
      const m = /^bump (\S+) from (\S+) to (\S+)$/.exec(subject);
      expect(m).not.toBeNull();
      const [, image, from, to] = m!;
      expect(from).toBe(expected.get(image!));
      expected.set(image!, to!);
    }
    expect(finalTags(dir)).toEqual(expected);
    for (const run of runs) {
      const image = images[runs.indexOf(run) % 10]!;
      expect(run.outputs['previous-image']).toMatch(
        new RegExp(`^${image.replace(/\./g, '\\.')}:(seed|v\\d+)$`),
      );
    }
  }, 180_000);
});
