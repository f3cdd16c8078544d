/**
 * gitops-bump's kustomize and YAML-anchor edge cases (issue 9), run as the bundle against a local
 * bare origin. Where kustomize has an answer, the result is compared with the real tool: the same
 * file edited by `kustomize edit set image` must render the same images in `kustomize build`.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runAction } from './helpers/run-action.js';
import { cloneFresh, makeOrigin, readFrom } from './helpers/gitops-repo.js';

const IMAGE = 'ghcr.io/octo-org/iris';
const A = 'sha256:' + 'a'.repeat(64);

/** A base the overlays render, in the style of argocd-example-apps' kustomize-guestbook. */
const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: iris
spec:
  selector:
    matchLabels: {app: iris}
  template:
    metadata:
      labels: {app: iris}
    spec:
      containers:
        - name: server
          image: ${IMAGE}:0.1.0
        - name: batch
          image: ghcr.io/octo-org/iris-batch:0.1.0
`;

const kustomize = (dir: string, args: string[]) => {
  const r = spawnSync('kustomize', args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`kustomize ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** The container images `kustomize build` renders for a directory. */
const renderedImages = (dir: string): string[] =>
  parseAllDocuments(kustomize(dir, ['build', '.']))
    .flatMap((d) => (d.toJS().spec?.template?.spec?.containers ?? []) as { image: string }[])
    .map((c) => c.image)
    .sort();

/** What the real tool makes of the same kustomization.yaml and `name=newref`. */
function kustomizeSetImage(kustomization: string, arg: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'kustomize-ref-'));
  writeFileSync(join(dir, 'kustomization.yaml'), kustomization);
  writeFileSync(join(dir, 'deployment.yaml'), DEPLOYMENT);
  kustomize(dir, ['edit', 'set', 'image', arg]);
  return renderedImages(dir);
}

function bumpKustomization(kustomization: string, inputs: Record<string, string>) {
  const origin = makeOrigin({ 'app/kustomization.yaml': kustomization, 'app/deployment.yaml': DEPLOYMENT });
  return runAction('gitops-bump', {
    inputs: { repository: origin.bare, files: 'app/kustomization.yaml', image: IMAGE, ...inputs },
    env: { GITHUB_TOKEN: 'ghs_secret_value_123' },
  }).then((res) => {
    const dir = cloneFresh(origin);
    const out = mkdtempSync(join(tmpdir(), 'bumped-'));
    cpSync(join(dir, 'app'), out, { recursive: true });
    return { res, text: readFrom(dir, 'app/kustomization.yaml'), images: renderedImages(out) };
  });
}

describe('gitops-bump kustomize entries, compared with kustomize edit set image', () => {
  it('switches an entry whose digest is its last key to a tag (no overlapping edits)', async () => {
    const k = `resources:\n  - deployment.yaml\nimages:\n  - name: ${IMAGE}\n    digest: ${A}\n`;
    const { res, text, images } = await bumpKustomization(k, { tag: '2.0.0' });
    expect(res.errors).toEqual([]);
    expect(text).toBe(`resources:\n  - deployment.yaml\nimages:\n  - name: ${IMAGE}\n    newTag: 2.0.0\n`);
    expect(images).toEqual(kustomizeSetImage(k, `${IMAGE}=${IMAGE}:2.0.0`));
    expect(images).toContain(`${IMAGE}:2.0.0`);
  });

  it('matches an entry on its name even when newName renames it, as kustomize does', async () => {
    // kustomize's own tests write entries like this: name is what the base says, newName what ships.
    const k = `resources:\n- deployment.yaml\nimages:\n- name: ${IMAGE}\n  newName: registry.example/iris\n  newTag: 1.0.0\n`;
    const { res, text, images } = await bumpKustomization(k, { tag: '1.1.0' });
    expect(res.errors).toEqual([]);
    expect(res.outputs.changed).toBe('true');
    expect(text).toContain('newTag: 1.1.0');
    expect(text).toContain('newName: registry.example/iris');
    expect(images).toContain('registry.example/iris:1.1.0');
  });

  it('adds an entry for an image the list does not name yet, in the list style, rendering as kustomize', async () => {
    const k = `resources:\n- deployment.yaml\nimages:\n- name: ghcr.io/octo-org/iris-batch\n  newTag: 0.2.0\n`;
    const { res, text, images } = await bumpKustomization(k, { digest: A });
    expect(res.errors).toEqual([]);
    expect(res.outputs.changed).toBe('true');
    expect(text).toBe(`${k}- name: ${IMAGE}\n  digest: ${A}\n`);
    expect(images).toEqual(kustomizeSetImage(k, `${IMAGE}@${A}`));
    expect(res.summary).toContain(
      'added the images entry for ghcr.io/octo-org/iris, as `kustomize edit set image` does',
    );
  });

  it('adds an images: key to a kustomization that has none', async () => {
    const k = `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n`;
    const { res, text, images } = await bumpKustomization(k, { tag: '3.0.0' });
    expect(res.errors).toEqual([]);
    expect(text.startsWith(k)).toBe(true);
    expect(images).toEqual(kustomizeSetImage(k, `${IMAGE}=${IMAGE}:3.0.0`));
  });
});

describe('gitops-bump and YAML anchors shared by images', () => {
  const K = `resources:\n  - deployment.yaml\nimages:\n  - name: ${IMAGE}\n    newTag: &v "1.0.0"\n  - name: ghcr.io/octo-org/iris-batch\n    newTag: *v\n`;

  it('bumping the alias user gives it its own value and leaves the anchor owner alone, saying so', async () => {
    const origin = makeOrigin({ 'app/kustomization.yaml': K, 'app/deployment.yaml': DEPLOYMENT });
    const res = await runAction('gitops-bump', {
      inputs: {
        repository: origin.bare,
        files: 'app/kustomization.yaml',
        image: 'ghcr.io/octo-org/iris-batch',
        tag: '2.0.0',
      },
      env: { GITHUB_TOKEN: 'ghs_secret_value_123' },
    });
    expect(res.errors).toEqual([]);
    const dir = cloneFresh(origin);
    const out = mkdtempSync(join(tmpdir(), 'bumped-'));
    cpSync(join(dir, 'app'), out, { recursive: true });
    expect(renderedImages(out)).toEqual(['ghcr.io/octo-org/iris-batch:2.0.0', `${IMAGE}:1.0.0`]);
    expect(res.summary).toContain('*v was replaced by its own value, so the other uses of &v keep "1.0.0"');
  });

  it('bumping the anchor owner writes the old value out for the other image, saying so', async () => {
    const origin = makeOrigin({ 'app/kustomization.yaml': K, 'app/deployment.yaml': DEPLOYMENT });
    const res = await runAction('gitops-bump', {
      inputs: { repository: origin.bare, files: 'app/kustomization.yaml', image: IMAGE, tag: '2.0.0' },
      env: { GITHUB_TOKEN: 'ghs_secret_value_123' },
    });
    expect(res.errors).toEqual([]);
    const dir = cloneFresh(origin);
    const out = mkdtempSync(join(tmpdir(), 'bumped-'));
    cpSync(join(dir, 'app'), out, { recursive: true });
    expect(renderedImages(out)).toEqual(['ghcr.io/octo-org/iris-batch:1.0.0', `${IMAGE}:2.0.0`]);
    expect(res.summary).toContain('&v was shared: 1 other use keeps "1.0.0", written out instead of *v');
  });
});
