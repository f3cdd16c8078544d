/**
 * The serving image, locally: what build-scan-push builds in the pipeline is, here, the model
 * directory the bundled download-model wrote (the image's /app/model) with the labels the image
 * would carry, stored under the sha256 of that manifest. So, as with the real image, the digest a
 * GitOps commit pins names exactly one registered version and its files, and the server started
 * from it never asks MLflow anything. No container runtime is needed for the demo.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBundledAction } from './actions.js';
import { MODEL_NAME, writeReport, type LoopContext } from './context.js';

/** The image name the platform/ overlay deploys (its `images:` entry). */
export const IMAGE = 'ghcr.io/example-org/iris-classifier';

export interface ImageLabels {
  'io.mlflow.model-name': string;
  'io.mlflow.model-version': string;
  'io.mlflow.run-id': string;
  'io.mlflow.model-digest': string;
}

export interface LocalImage {
  /** name@sha256:<hex>, what the GitOps commit pins. */
  ref: string;
  digest: string;
  labels: ImageLabels;
  /** The model directory (the image's /app/model). */
  modelDir: string;
}

const store = (ctx: LoopContext): string => join(ctx.state, 'images');
const dirOf = (ctx: LoopContext, digest: string): string => join(store(ctx), digest.replace(':', '-'));

/** download-model (bundled) puts `version` into a build context; the image is stored by its digest. */
export async function buildImage(ctx: LoopContext, mlflowUrl: string, version: string): Promise<LocalImage> {
  const context = join(store(ctx), `build-v${version}`);
  rmSync(context, { recursive: true, force: true });
  mkdirSync(context, { recursive: true });
  const run = await runBundledAction(
    'download-model',
    { 'tracking-uri': mlflowUrl, 'registered-model': MODEL_NAME, version, path: join(context, 'model') },
    { print: ctx.detail },
  );
  const o = run.outputs;
  if (run.code !== 0 || !o.digest)
    throw new Error(`download-model failed (exit ${run.code}): ${run.errors.join('; ')}`);
  writeReport(ctx, 'job summary', `download-model-v${version}.md`, run.summary);
  const labels: ImageLabels = {
    'io.mlflow.model-name': MODEL_NAME,
    'io.mlflow.model-version': o.version!,
    'io.mlflow.run-id': o['run-id'] ?? '',
    'io.mlflow.model-digest': o.digest,
  };
  writeFileSync(join(context, 'labels.json'), `${JSON.stringify(labels, null, 2)}\n`);
  // The model's digest covers its files, the labels say which version: together, the image.
  const digest = `sha256:${createHash('sha256').update(JSON.stringify(labels)).digest('hex')}`;
  const dir = dirOf(ctx, digest);
  rmSync(dir, { recursive: true, force: true });
  renameSync(context, dir);
  const image = { ref: `${IMAGE}@${digest}`, digest, labels, modelDir: join(dir, 'model') };
  ctx.stages.link(
    'image',
    `${image.ref}  (${MODEL_NAME} v${labels['io.mlflow.model-version']}, model ${o.digest})`,
  );
  return image;
}

/** The stored image a pinned digest names, as a node pulls it; unknown digests fail as a pull does. */
export function pullImage(ctx: LoopContext, digest: string): LocalImage {
  const dir = dirOf(ctx, digest);
  if (!existsSync(join(dir, 'labels.json'))) throw new Error(`${IMAGE}@${digest}: manifest unknown`);
  const labels = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')) as ImageLabels;
  return { ref: `${IMAGE}@${digest}`, digest, labels, modelDir: join(dir, 'model') };
}
