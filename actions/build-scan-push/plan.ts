/**
 * What is built, derived from the inputs before any tool runs: the references to tag, the labels
 * and the build arguments. Rules that yield no tag for this event are an input error here, not a
 * build that pushes nothing.
 */
import { InputError } from '../shared/errors.js';
import type { Inputs } from './inputs.js';
import { defaultLabels, mergeLabels } from './labels.js';
import { computeTags, type ImageTag } from './tags.js';

export interface ImagePlan {
  tags: ImageTag[];
  /** Full references, `image:tag`, the first one naming the version. */
  refs: string[];
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  /** SOURCE_DATE_EPOCH for both builds, so the scanned and the pushed image configs match. */
  epoch: number;
}

export function planImage({ config: cfg, context: ctx }: Inputs): ImagePlan {
  const tags = computeTags(cfg.tagRules, { ref: ctx.ref, sha: ctx.sha });
  if (tags.length === 0) {
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
      version: tags[0]!.tag,
      mlflowRunId: cfg.mlflowRunId,
      modelVersion: cfg.modelVersion,
    }),
    cfg.labels,
  );
  const buildArgs: Record<string, string> = {};
  if (cfg.mlflowRunId) buildArgs.MLFLOW_RUN_ID = cfg.mlflowRunId;
  if (cfg.modelVersion) buildArgs.MODEL_VERSION = cfg.modelVersion;
  Object.assign(buildArgs, cfg.buildArgs);
  return { tags, refs: tags.map((t) => `${cfg.image}:${t.tag}`), labels, buildArgs, epoch };
}
