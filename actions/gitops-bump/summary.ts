/**
 * The job summary: the image values changed per file, where the change went (the commit linked on
 * GitHub, the remote named otherwise), the ArgoCD Application (linked when its UI URL is given)
 * and the sync result.
 */
import { cell, code } from '../shared/markdown.js';
import { formatImageRef, shortDigest, type ImageRef } from '../shared/image-ref.js';
import type { Location } from './edit/index.js';
import type { SyncResult } from './argocd.js';

const show = (ref: ImageRef): string =>
  `\`${formatImageRef({ ...ref, ...(ref.digest && { digest: shortDigest(ref.digest) }) })}\``;

export interface SummaryInput {
  image: string;
  /** What rollback and deployed modes read from the deploy commits (Markdown). */
  story?: string;
  locations: Location[];
  commitUrl?: string;
  commitSha?: string;
  pullRequestUrl?: string;
  branch: string;
  changed: boolean;
  /** The remote, shown without credentials, when it is not a GitHub repository (no commit page to link). */
  remote?: string;
  argocd?: { namespace: string; name: string; url?: string };
  sync?: SyncResult;
}

/** A remote URL as shown: without user or password. */
export function shownRemote(remoteUrl: string): string {
  try {
    const url = new URL(remoteUrl);
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return remoteUrl;
  }
}

function commitLine(s: SummaryInput, sha: string): string {
  const short = sha.slice(0, 7);
  const commit = s.commitUrl ? `[\`${short}\`](${s.commitUrl})` : `\`${short}\``;
  const of = !s.commitUrl && s.remote ? ` of ${code(s.remote)}` : '';
  return `Commit: ${commit} on ${code(s.branch)}${of}`;
}

function argocdLines(s: SummaryInput): string[] {
  const lines: string[] = [];
  if (s.argocd) {
    const { namespace, name, url } = s.argocd;
    const app = `${namespace}/${name}`;
    const target = url
      ? `${url}/applications/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`
      : '';
    lines.push(`ArgoCD application: ${url ? `[${app}](${target})` : code(app)}`, '');
  }
  if (s.sync) {
    const verdict = s.sync.ok ? 'Synced and Healthy' : `**failed**: ${cell(s.sync.reason)}`;
    lines.push(
      `ArgoCD: ${verdict} (last status: ${cell(s.sync.last)}; ${Math.round(s.sync.elapsedMs / 1000)}s)`,
      '',
    );
  }
  return lines;
}

export function renderSummary(s: SummaryInput): string {
  const lines: string[] = [`## gitops-bump: \`${s.image}\``, ''];
  if (s.story) lines.push(s.story, '');
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
  if (s.commitSha) lines.push(commitLine(s, s.commitSha), '');
  lines.push(...argocdLines(s));
  return lines.join('\n');
}
