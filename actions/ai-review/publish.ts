/**
 * Posts the result: one review with event COMMENT (the only event this action ever sends)
 * carrying the inline comments, and the summary comment edited in place with the reviewed sha
 * in a hidden marker. If GitHub still refuses the inline comments, they move into the summary.
 */
import * as core from '@actions/core';
import { redact } from '../shared/gemini/index.js';
import { neutralize } from '../shared/markdown.js';
import type { Octokit, Repo } from '../shared/github.js';
import { writeMarkedComment } from '../shared/sticky-comment.js';
import type { Analysis } from './analyse.js';
import { codePath, commentBody, summaryLine, type Placement } from './placement.js';
import { shaMarker, SUMMARY_KEY, type Previous, type Scope } from './scope.js';

export const REVIEW_EVENT = 'COMMENT' as const;

export interface Posted {
  reviewId?: number;
  reviewUrl?: string;
  comments: number;
  summaryUrl: string;
}

const MAX_BODY = 60_000;
const FOOTER =
  '<sub>Advisory only: this bot comments and never approves, requests changes, labels or merges. Model output is untrusted text.</sub>';
const EARLIER = '<details><summary>Previous review</summary>';

/**
 * The previous summary (our own trusted comment, already neutralised) folded into a details
 * block, one level deep: an older "previous review" inside it is dropped to bound the size.
 */
export function earlierReview(previous: string): string | undefined {
  const start = previous.indexOf('### AI review');
  if (start < 0) return undefined;
  let body = previous.slice(start + '### AI review'.length);
  for (const cut of [EARLIER, FOOTER]) {
    const at = body.indexOf(cut);
    if (at >= 0) body = body.slice(0, at);
  }
  body = body.replace(/<!--[\s\S]*?-->/g, '').trim();
  if (!body) return undefined;
  if (body.length > 20_000) body = `${body.slice(0, 20_000)}\n\n… (cut)`;
  return `${EARLIER}\n\n${body}\n\n</details>`;
}

export function summaryBody(a: {
  analysis: Analysis;
  placement: Placement;
  scope: Scope;
  head: string;
  skipped: Array<{ filename: string; why: string }>;
  reviewUrl?: string;
  secrets: string[];
  /** The summary comment being replaced: on an incremental review its findings stay visible. */
  previousBody?: string;
}): string {
  const { analysis, placement, scope, head } = a;
  const lines: string[] = ['### AI review'];
  lines.push(
    analysis.aiUsed
      ? `Reviewed by Gemini (\`${neutralize(analysis.model ?? '')}\`) and rule checks.`
      : analysis.notes.length
        ? `**Gemini review unavailable**: ${neutralize(analysis.notes[0]!)}. This is a deterministic summary.`
        : 'Nothing for Gemini to review.',
  );
  lines.push(
    scope.since
      ? `Scope: ${scope.newCommits ?? 'new'} commit(s) since the last review, \`${scope.since.slice(0, 7)}..${head.slice(0, 7)}\` (${scope.files.length} file(s)).`
      : `Scope: all changes up to \`${head.slice(0, 7)}\` (${scope.files.length} file(s)).`,
  );
  if (scope.note) lines.push(`_${neutralize(scope.note)}_`);
  lines.push('', neutralize(analysis.summary), '');
  const inline = placement.inline.length;
  if (inline)
    lines.push(
      `**${inline} inline comment(s)** in ${a.reviewUrl ? `[the review](${a.reviewUrl})` : 'the review'}.`,
    );
  else if (!placement.elsewhere.length) lines.push('No findings.');
  if (placement.elsewhere.length) {
    lines.push('', `**Findings not posted inline (${placement.elsewhere.length}):**`);
    let size = lines.join('\n').length;
    for (const [i, f] of placement.elsewhere.entries()) {
      const line = summaryLine(f);
      if (size + line.length > MAX_BODY - 4_000) {
        lines.push(`- … and ${placement.elsewhere.length - i} more`);
        break;
      }
      lines.push(line);
      size += line.length + 1;
    }
  }
  if (a.skipped.length || analysis.notReviewed.length) {
    const all = [
      ...a.skipped,
      ...analysis.notReviewed.map((f) => ({ filename: f.filename, why: 'over the review budget' })),
    ];
    lines.push('', `<details><summary>Files not reviewed (${all.length})</summary>`, '');
    for (const s of all.slice(0, 200)) lines.push(`- ${codePath(s.filename)}: ${s.why}`);
    if (all.length > 200) lines.push(`- … and ${all.length - 200} more`);
    lines.push('', '</details>');
  }
  const notes = analysis.aiUsed ? analysis.notes : analysis.notes.slice(1);
  for (const n of notes) lines.push('', `_Note: ${neutralize(n)}_`);
  if (a.previousBody) {
    const earlier = earlierReview(a.previousBody);
    if (earlier) lines.push('', earlier);
  }
  lines.push('', FOOTER, shaMarker(head));
  return redact(lines.join('\n'), a.secrets);
}

export async function postReview(
  octokit: Octokit,
  repo: Repo,
  pull_number: number,
  head: string,
  placement: Placement,
  headline: string,
  secrets: string[],
): Promise<{ id?: number; url?: string; comments: number }> {
  if (placement.inline.length === 0) return { comments: 0 };
  const comments = placement.inline.map((f) => ({
    path: f.path,
    line: f.line,
    side: 'RIGHT' as const,
    body: redact(commentBody(f), secrets),
  }));
  try {
    const { data } = await octokit.rest.pulls.createReview({
      ...repo,
      pull_number,
      commit_id: head,
      event: REVIEW_EVENT,
      body: redact(headline, secrets),
      comments,
    });
    return { id: data.id, url: data.html_url, comments: comments.length };
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status !== 422) throw err;
    // GitHub refused the anchors (the diff changed under us, or a line we judged valid is not):
    // keep every finding by moving them all into the summary.
    core.warning(
      `GitHub rejected the inline comments (${(err as Error).message}); listing them in the summary instead`,
    );
    placement.elsewhere.unshift(
      ...placement.inline.map((f) => ({ ...f, why: 'GitHub rejected the inline comment' })),
    );
    placement.inline.length = 0;
    return { comments: 0 };
  }
}

/** The summary comment: the trusted one found at the start (`previous`) edited in place, or a new one. */
export async function upsertSummary(
  octokit: Octokit,
  where: Repo & { issue_number: number },
  previous: Previous | undefined,
  body: string,
): Promise<string> {
  return (await writeMarkedComment(octokit, where, SUMMARY_KEY, body, previous?.commentId)).url;
}
