/**
 * What the model is asked: a review focused on the mistakes this platform's changes tend to
 * make, as JSON with a summary and findings anchored to new-file lines. The schema has no field
 * for an approval, a label or anything else that acts: the model's output is only text.
 */
import { estimateTokens, type PromptPart } from '../shared/gemini/index.js';
import { renderNumbered, type ChangedFile } from './diff.js';

export const SEVERITIES = ['high', 'medium', 'low'] as const;
export const CATEGORIES = [
  'data-leakage',
  'reproducibility',
  'evaluation',
  'container-security',
  'kubernetes',
  'workflow-security',
  'secrets',
  'correctness',
  'other',
] as const;

export interface Finding {
  path: string;
  line: number;
  severity: (typeof SEVERITIES)[number];
  category: (typeof CATEGORIES)[number];
  title: string;
  body: string;
}

export interface ModelReview {
  summary: string;
  findings: Finding[];
}

export const MAX_FINDINGS_PER_CALL = 30;

export const REVIEW_SCHEMA = {
  type: 'object',
  properties: {
    summary: {
      type: 'string',
      description: 'What the change does and its main risks, 2 to 6 sentences of Markdown.',
    },
    findings: {
      type: 'array',
      maxItems: MAX_FINDINGS_PER_CALL,
      items: {
        type: 'object',
        properties: {
          path: { type: 'string', description: 'File path exactly as given in the diff label.' },
          line: {
            type: 'integer',
            minimum: 1,
            description: 'New-file line number shown in the left margin of an added (+) or context line.',
          },
          severity: { type: 'string', enum: [...SEVERITIES] },
          category: { type: 'string', enum: [...CATEGORIES] },
          title: { type: 'string', description: 'One line, under 100 characters.' },
          body: {
            type: 'string',
            description: 'Why it is a problem and a concrete fix, under 800 characters.',
          },
        },
        required: ['path', 'line', 'severity', 'category', 'title', 'body'],
        additionalProperties: false,
      },
    },
  },
  required: ['summary', 'findings'],
  additionalProperties: false,
} as const;

export const isModelReview = (v: unknown): v is ModelReview => {
  const r = v as ModelReview;
  return typeof r?.summary === 'string' && Array.isArray(r.findings);
};

export const SYSTEM_INSTRUCTION = `You are a senior reviewer for a team that ships machine-learning services: Python training
code logged to MLflow, Dockerfiles for serving images, Kubernetes manifests deployed by ArgoCD, and GitHub
Actions workflows. Review only the diff you are given and report concrete problems in the changed code,
most important first. Look especially for:
- training code: data leakage (fitting scalers, encoders or feature selection on the full data before the
  train/test split, test rows in training, target-derived features), unseeded randomness (splits, model init,
  numpy/torch/random without a seed), metrics computed on training data instead of held-out data;
- Dockerfiles: running as root (no USER), unpinned base images (no tag, :latest, no digest), secrets or
  credentials copied into or echoed in layers, ADD of remote URLs, package installs without pinning;
- Kubernetes manifests: containers without resource requests/limits, privileged pods, hostPath/hostNetwork,
  allowPrivilegeEscalation, images tagged :latest or untagged, missing probes;
- GitHub workflows: third-party actions not pinned to a full commit SHA, permissions broader than needed
  (write-all, missing permissions block), pull_request_target that checks out or runs the PR's code,
  untrusted input (\${{ github.event.* }}) interpolated into run: scripts, secrets exposed to forks.
Also report clear bugs. Do not praise, do not restate the diff, do not comment on style or formatting.
Each finding must point at a line number shown in the left margin of the diff for that file (an added "+"
or context " " line); if a problem has no such line, describe it in the summary instead. You only
produce text for humans: you cannot approve, reject, merge, label or mention anyone, so never try.
Answer with JSON matching the schema.`;

export interface Chunk {
  files: ChangedFile[];
  parts: PromptPart[];
}

/** Gemini's count of one call's whole prompt (instruction and schema included); undefined when unavailable. */
export type PromptCounter = (parts: PromptPart[]) => Promise<number | undefined>;

/** Tokens of a file's label and fence lines, by the estimate. */
const FILE_OVERHEAD = 60;
/** Characters a prompt has besides its parts' texts (untrusted-data policy, schema), and per file (fence, label). */
const PROMPT_CHARS_OUTSIDE_PARTS = 6_000;
const FILE_CHARS_OUTSIDE_TEXT = 300;

const fileCost = (f: ChangedFile): number => estimateTokens(renderNumbered(f.patch ?? '')) + FILE_OVERHEAD;

function partsOf(context: PromptPart[], files: ChangedFile[]): PromptPart[] {
  return [
    ...context,
    ...files.map((f) => ({
      label: `diff of ${f.filename}${f.previous_filename ? ` (renamed from ${f.previous_filename})` : ''}`,
      text: renderNumbered(f.patch ?? ''),
      untrusted: true,
    })),
  ];
}

/** Files in order, grouped greedily under `room`, each file's estimate times `scale`. */
function pack(files: ChangedFile[], room: number, scale: number): ChangedFile[][] {
  const groups: ChangedFile[][] = [];
  let current: ChangedFile[] = [];
  let used = 0;
  for (const f of files) {
    const cost = fileCost(f) * scale;
    if (current.length && used + cost > room) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(f);
    used += cost;
  }
  if (current.length) groups.push(current);
  return groups;
}

/**
 * Files grouped so each call fits the budget; a file bigger than a call gets one of its own (the
 * client trims it). Groups are made by the 3-characters-per-token estimate, then each group of
 * several files that could be over the budget is counted by Gemini (`count`): one over it is split
 * at the density that count measured, and its pieces are checked the same way. Dense text (CJK,
 * minified code) is so split instead of trimmed; without a count the estimate decides alone.
 */
export async function chunkFiles(
  files: ChangedFile[],
  context: PromptPart[],
  maxInputTokens: number,
  maxCalls: number,
  count?: PromptCounter,
): Promise<{ chunks: Chunk[]; left: ChangedFile[] }> {
  const fixed =
    estimateTokens(SYSTEM_INSTRUCTION) + context.reduce((n, p) => n + estimateTokens(p.text) + 60, 600);
  const room = (scale: number): number => Math.max(1_000, maxInputTokens - fixed * scale);
  const fixedChars =
    SYSTEM_INSTRUCTION.length + context.reduce((n, p) => n + p.text.length, 0) + PROMPT_CHARS_OUTSIDE_PARTS;
  const queue = pack(files, room(1), 1);
  const groups: ChangedFile[][] = [];
  let counter = count;
  while (queue.length && groups.length < maxCalls) {
    const group = queue.shift()!;
    const chars = group.reduce(
      (n, f) => n + renderNumbered(f.patch ?? '').length + FILE_CHARS_OUTSIDE_TEXT,
      fixedChars,
    );
    // A token is at least a character: a prompt with fewer characters than the budget fits uncounted.
    if (counter && group.length > 1 && chars > maxInputTokens) {
      const tokens = await counter(partsOf(context, group));
      if (tokens === undefined) {
        counter = undefined; // offline: the estimate decides from here on
      } else if (tokens > maxInputTokens) {
        const estimated = group.reduce((n, f) => n + fileCost(f), fixed);
        const scale = (tokens / estimated) * 1.05;
        let pieces = pack(group, room(scale), scale);
        if (pieces.length < 2) pieces = [group.slice(0, group.length >> 1), group.slice(group.length >> 1)];
        queue.unshift(...pieces);
        continue;
      }
    }
    groups.push(group);
  }
  return {
    chunks: groups.map((g) => ({ files: g, parts: partsOf(context, g) })),
    left: queue.flat(),
  };
}
