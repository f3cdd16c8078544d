/**
 * Decides where each finding goes. GitHub rejects a whole review if one comment's line is not
 * in the diff, so a finding becomes an inline comment only when its path is in the PR and its
 * line is a RIGHT-side line of that file's hunks; the rest, and any beyond max-comments, go into
 * the summary. Every piece of text is neutralised: the model and the PR are both untrusted.
 */
import { safeLabel } from '../shared/gemini/index.js';
import { neutralize } from '../shared/markdown.js';
import type { Finding } from './prompt.js';

export interface Sourced extends Finding {
  source: 'ai' | 'rule';
}

export interface Placement {
  inline: Sourced[];
  elsewhere: Array<Sourced & { why: string }>;
}

const RANK = { high: 0, medium: 1, low: 2 } as const;

export function place(findings: Sourced[], diff: Map<string, Set<number>>, maxComments: number): Placement {
  const byLabel = new Map([...diff.keys()].map((p) => [safeLabel(p), p]));
  const seen = new Set<string>();
  const sorted = findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => RANK[a.f.severity] - RANK[b.f.severity] || a.i - b.i)
    .map(({ f }) => ({ ...f, path: diff.has(f.path) ? f.path : (byLabel.get(f.path) ?? f.path) }));
  const inline: Sourced[] = [];
  const elsewhere: Placement['elsewhere'] = [];
  for (const f of sorted) {
    // One comment per line: the model and the rules often agree, and the model's wording wins.
    const key = `${f.path}\n${f.line}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const lines = diff.get(f.path);
    if (!lines) elsewhere.push({ ...f, why: 'file not in the pull request diff' });
    else if (!lines.has(f.line)) elsewhere.push({ ...f, why: 'line not part of the diff' });
    else if (inline.length >= maxComments) elsewhere.push({ ...f, why: 'over max-comments' });
    else inline.push(f);
  }
  return { inline, elsewhere };
}

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** A path shown as inline code, whatever characters the PR put in it. */
export const codePath = (p: string): string => `\`${neutralize(p.replace(/[`\n\r]/g, '_'))}\``;

export function commentBody(f: Sourced): string {
  const origin = f.source === 'rule' ? 'rule check' : 'Gemini';
  return `**${f.severity}** · ${f.category} · ${origin}: **${neutralize(clip(f.title.replace(/\s+/g, ' '), 120))}**\n\n${neutralize(clip(f.body.trim(), 1500))}`;
}

export function summaryLine(f: Sourced & { why?: string }): string {
  const why = f.why ? ` _(${f.why})_` : '';
  return `- **${f.severity}** ${codePath(`${f.path}:${f.line}`)} ${neutralize(clip(f.title.replace(/\s+/g, ' '), 120))}: ${neutralize(clip(f.body.replace(/\s+/g, ' ').trim(), 400))}${why}`;
}
