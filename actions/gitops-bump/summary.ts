/** The job summary: the image values changed per file, where the change went, and the sync result. */
import { cell } from '../shared/markdown.js';
import { formatImageRef, shortDigest, type ImageRef } from './image-ref.js';
import type { Location } from './edit/index.js';
import type { SyncResult } from './argocd.js';

const show = (ref: ImageRef): string =>
  `\`${formatImageRef({ ...ref, ...(ref.digest && { digest: shortDigest(ref.digest) }) })}\``;

export interface SummaryInput {
  image: string;
  locations: Location[];
  commitUrl?: string;
  commitSha?: string;
  pullRequestUrl?: string;
  branch: string;
  changed: boolean;
  sync?: SyncResult;
}

export function renderSummary(s: SummaryInput): string {
  const lines: string[] = [`## gitops-bump: \`${s.image}\``, ''];
  if (!s.changed) lines.push(`Already at this image on \`${s.branch}\`: nothing to commit.`, '');
  const byFile = new Map<string, Location[]>();
  for (const l of s.locations) byFile.set(l.file, [...(byFile.get(l.file) ?? []), l]);
  for (const [file, locations] of byFile) {
    lines.push(`### \`${file}\``, '', '| where | line | before | after |', '| --- | --- | --- | --- |');
    for (const l of locations) {
      const after = l.changed ? show(l.after) : 'unchanged';
      lines.push(`| ${cell(l.where)} (${l.format}) | ${l.line} | ${show(l.before)} | ${after} |`);
    }
    lines.push('');
    const notes = locations.flatMap((l) => (l.notes ?? []).map((n) => `- ${cell(l.where)}: ${n}`));
    if (notes.length) lines.push(...notes, '');
  }
  if (s.pullRequestUrl) lines.push(`Pull request: ${s.pullRequestUrl}`, '');
  if (s.commitSha) {
    const short = s.commitSha.slice(0, 7);
    lines.push(
      `Commit: ${s.commitUrl ? `[\`${short}\`](${s.commitUrl})` : `\`${short}\``} on \`${s.branch}\``,
      '',
    );
  }
  if (s.sync) {
    const verdict = s.sync.ok ? 'Synced and Healthy' : `**failed**: ${s.sync.reason}`;
    lines.push(
      `ArgoCD: ${verdict} (last status: ${s.sync.last}; ${Math.round(s.sync.elapsedMs / 1000)}s)`,
      '',
    );
  }
  return lines.join('\n');
}
