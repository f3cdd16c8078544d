/**
 * Unified-diff hunks as the files API returns them (`patch`, hunks only). Two jobs: the set of
 * new-file lines a review comment may target (RIGHT side: added and context lines in a hunk;
 * GitHub rejects the whole review for one line outside), and a rendering with those line
 * numbers in the margin so the model cites lines that exist.
 */
export interface ChangedFile {
  filename: string;
  status: string;
  additions: number;
  deletions: number;
  changes?: number;
  patch?: string;
  previous_filename?: string;
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

/** The right-side lines of a patch (added `+` and context ` `) with their new-file numbers. */
function* rightSideLines(
  patch: string | undefined,
): Generator<{ line: number; text: string; added: boolean }> {
  let n = 0;
  let inHunk = false;
  for (const line of (patch ?? '').split('\n')) {
    const h = HUNK.exec(line);
    if (h) {
      n = Number(h[2]);
      inHunk = true;
      continue;
    }
    if (!inHunk || line.startsWith('\\')) continue;
    if (line.startsWith('+') || line.startsWith(' '))
      yield { line: n++, text: line.slice(1), added: line[0] === '+' };
  }
}

/** Lines GitHub accepts a review comment on (side RIGHT): those in the patch's hunks. */
export function commentableLines(patch: string | undefined): Set<number> {
  return new Set([...rightSideLines(patch)].map((l) => l.line));
}

/** `  12 + code` for new-file lines, `     - code` for removed ones; hunk headers kept. */
export function renderNumbered(patch: string): string {
  const out: string[] = [];
  let n = 0;
  for (const line of patch.split('\n')) {
    const h = HUNK.exec(line);
    if (h) {
      n = Number(h[2]);
      out.push(line);
      continue;
    }
    if (line.startsWith('+') || line.startsWith(' ')) {
      out.push(`${String(n++).padStart(5)} ${line[0]} ${line.slice(1)}`);
    } else if (line.startsWith('-')) {
      out.push(`      - ${line.slice(1)}`);
    } else if (line !== '') out.push(line);
  }
  return out.join('\n');
}

/** Added lines with their new-file numbers, for the rule checks. */
export function addedLines(patch: string | undefined): Array<{ line: number; text: string }> {
  return [...rightSideLines(patch)].filter((l) => l.added).map(({ line, text }) => ({ line, text }));
}
