/**
 * Git trailers (`Key: value` lines at the end of a commit message) read as `git interpret-trailers
 * --parse` reads them, for commit messages that come through the GitHub API rather than `git log
 * --format=%(trailers)`. The deploy commits of ml-pipeline.yml say what they deploy this way
 * (Model, Model-Version, Image, Environment, Run-Id; Rollback-Of for a rollback).
 */

export interface Trailer {
  key: string;
  value: string;
}

// git's find_separator(): a token of letters, digits and `-`, optional blanks, then the separator.
const TRAILER = /^([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$/;
// Lines git itself writes; with one of them a block may also hold other lines (git's 25% rule).
const RECOGNIZED = /^(Signed-off-by:|\(cherry picked from commit )/;

/**
 * The trailers of a commit message, in order, as git parses them: the last paragraph (never the
 * title paragraph) is a trailer block when all of its lines are trailers (indented lines continue
 * the one above), or when it holds a line git writes itself and at least a quarter are trailers.
 */
export function parseTrailers(message: string): Trailer[] {
  const lines = message.replace(/\r\n?/g, '\n').split('\n');
  while (lines.length && (lines.at(-1)!.trim() === '' || lines.at(-1)!.startsWith('#'))) lines.pop();
  // The title paragraph (up to the first blank line) is never a trailer block.
  const firstBlank = lines.findIndex((l) => l.trim() === '');
  if (firstBlank < 0) return [];
  let start = lines.length;
  while (start > firstBlank + 1 && lines[start - 1]!.trim() !== '') start--;
  const block = lines.slice(start).filter((l) => !l.startsWith('#'));
  const trailers: Trailer[] = [];
  let others = 0;
  let recognized = false;
  let continues = false;
  for (const line of block) {
    const m = TRAILER.exec(line);
    const indented = /^[ \t]/.test(line);
    const last = trailers.at(-1);
    if (indented && continues && last) last.value = `${last.value} ${line.trim()}`.trim();
    else if (m) trailers.push({ key: m[1]!, value: m[2]!.trim() });
    else others++;
    // An indented line continues a trailer (and the lines continuing it), nothing else.
    continues = !!m || (continues && indented);
    if (RECOGNIZED.test(line)) recognized = true;
  }
  const isBlock = trailers.length > 0 && (others === 0 || (recognized && trailers.length * 3 >= others));
  return isBlock ? trailers : [];
}

/** Trailers by lower-cased key (git's keys are case-insensitive); the first value of each. */
export function trailerMap(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of parseTrailers(message)) {
    const key = t.key.toLowerCase();
    if (!(key in out)) out[key] = t.value;
  }
  return out;
}
