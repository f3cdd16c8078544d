/**
 * Unified-diff hunks as the files API returns them (`patch`, hunks only), parsed by parse-diff.
 * Two jobs: the set of new-file lines a review comment may target (RIGHT side: added and context
 * lines in a hunk; GitHub rejects the whole review for one line outside), and a rendering with
 * those line numbers in the margin so the model cites lines that exist.
 */
import parseDiff from 'parse-diff';

export interface ChangedFile {
  filename: string;
  status: string;
  additions: number;
  deletions: number;
  changes?: number;
  patch?: string;
  previous_filename?: string;
}

type Chunk = parseDiff.Chunk;
type Change = parseDiff.Change;

/** parse-diff repeats the previous change for a `\ No newline at end of file` marker: not a line. */
const isMarker = (c: Change): boolean => c.content.startsWith('\\');

function chunks(patch: string | undefined): Chunk[] {
  return parseDiff(patch ?? '').flatMap((f) => f.chunks);
}

/** The right-side lines of a patch (added `+` and context ` `) with their new-file numbers. */
function* rightSideLines(
  patch: string | undefined,
): Generator<{ line: number; text: string; added: boolean }> {
  for (const chunk of chunks(patch)) {
    for (const c of chunk.changes) {
      if (isMarker(c) || c.type === 'del') continue;
      yield { line: c.type === 'add' ? c.ln : c.ln2, text: c.content.slice(1), added: c.type === 'add' };
    }
  }
}

/** Lines GitHub accepts a review comment on (side RIGHT): those in the patch's hunks. */
export function commentableLines(patch: string | undefined): Set<number> {
  return new Set([...rightSideLines(patch)].map((l) => l.line));
}

/** `  12 + code` for new-file lines, `     - code` for removed ones; hunk headers kept. */
export function renderNumbered(patch: string): string {
  const out: string[] = [];
  for (const chunk of chunks(patch)) {
    out.push(chunk.content);
    for (const c of chunk.changes) {
      if (isMarker(c)) out.push(c.content);
      else if (c.type === 'del') out.push(`      - ${c.content.slice(1)}`);
      else {
        const n = c.type === 'add' ? c.ln : c.ln2;
        out.push(`${String(n).padStart(5)} ${c.content[0] ?? ' '} ${c.content.slice(1)}`);
      }
    }
  }
  return out.join('\n');
}

/** Added lines with their new-file numbers, for the rule checks. */
export function addedLines(patch: string | undefined): Array<{ line: number; text: string }> {
  return [...rightSideLines(patch)].filter((l) => l.added).map(({ line, text }) => ({ line, text }));
}
