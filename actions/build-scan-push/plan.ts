/**
 * What is built, derived from the inputs before any tool runs: the references to tag, the labels
 * and the build arguments. Rules that yield no tag for this event are an input error here, not a
 * build that pushes nothing.
 */
import { InputError } from '../shared/errors.js';
import { parseImageRef } from '../shared/image-ref.js';
import type { Inputs } from './inputs.js';
import { defaultLabels, mergeLabels } from './labels.js';
import { computeTags, type ImageTag } from './tags.js';

export interface ImagePlan {
  /** Tags the rules made, for every image. */
  tags: ImageTag[];
  /** The distinct tags of `refs`, for messages. */
  tagNames: string[];
  /** Full references: each image with each tag, then the references given; the first names the version. */
  refs: string[];
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  /** SOURCE_DATE_EPOCH for both builds, so the scanned and the pushed image configs match. */
  epoch: number;
}

export function planImage({ config: cfg, context: ctx }: Inputs): ImagePlan {
  const git = { ref: ctx.ref, sha: ctx.sha, defaultBranch: ctx.defaultBranch };
  const tags = computeTags(cfg.tagRules, git, cfg.flavor);
  const refs = [
    ...cfg.images.flatMap((image) => tags.map((t) => `${image}:${t.tag}`)),
    ...cfg.references.filter((r) => !tags.some((t) => cfg.images.some((i) => r === `${i}:${t.tag}`))),
  ];
  if (refs.length === 0) {
    throw new InputError(
      'tags',
      'rules that yield at least one tag for this event (semver applies to v* git tags only)',
      cfg.tagRules.join(', '),
    );
  }
  const epoch = ctx.sourceDateEpoch;
  const labels = mergeLabels(
    defaultLabels({
      serverUrl: ctx.serverUrl,
      repository: ctx.repository,
      sha: ctx.sha,
      created: new Date(epoch * 1000),
      // The first rule's tag, else the first given reference's (metadata-action's version).
      version: tags[0]?.tag ?? parseImageRef(refs[0]!).tag!,
      mlflowRunId: cfg.mlflowRunId,
      modelVersion: cfg.modelVersion,
    }),
    cfg.labels,
  );
  const buildArgs: Record<string, string> = {};
  if (cfg.mlflowRunId) buildArgs.MLFLOW_RUN_ID = cfg.mlflowRunId;
  if (cfg.modelVersion) buildArgs.MODEL_VERSION = cfg.modelVersion;
  Object.assign(buildArgs, cfg.buildArgs);
  const tagNames = [...new Set(refs.map((r) => parseImageRef(r).tag!))];
  return { tags, tagNames, refs, labels, buildArgs, epoch };
}
