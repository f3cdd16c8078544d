/**
 * GitHub-flavoured Markdown made readable in a terminal, for the issue the demo shows: what
 * GitHub hides (HTML comments such as alert-to-issue's state markers) is dropped, what it renders
 * (tags, escapes, entities, links, tables) is rendered as plain text. Enough for the Markdown the
 * project's actions write; not a general renderer.
 */

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: ' ' };

/** Text as GitHub shows it: escapes and entities resolved, zero-width spaces gone. */
function plain(text: string): string {
  return text
    .replace(/\\([!-/:-@[-`{-~])/g, '$1')
    .replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (_, e: string) => ENTITIES[e]!)
    .replace(/\u200b/g, '');
}

/** One line's inline Markdown: links as `text (url)`, emphasis as bold (tty) or nothing. */
function inlineText(line: string, bold: (s: string) => string): string {
  return plain(
    line
      .replace(/<\/?(sub|sup|b|i|em|strong|code|span|summary|details|p|div)\b[^>]*>/gi, '')
      .replace(/<br\s*\/?>/gi, ' ')
      .replace(/!\[((?:\\.|[^\]])*)\]\([^)]*\)/g, '$1')
      .replace(/\[((?:\\.|[^\]])*)\]\(([^)\s]+)\)/g, (_, t: string, u: string) =>
        plain(t) === u ? u : `${t} (${u})`,
      )
      .replace(/\*\*((?:\\.|[^*])+)\*\*/g, (_, t: string) => bold(t))
      .replace(/(^|[^\\])`([^`]*)`/g, '$1$2'),
  );
}

/** The cells of a `| a | b |` row; `\|` stays inside its cell. */
const cells = (row: string): string[] =>
  row
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());

/** A Markdown table as aligned columns (width in characters, as a terminal counts most text). */
function table(rows: string[], bold: (s: string) => string): string[] {
  const body = rows.filter((r, i) => i !== 1 || !/^\|?[\s:-]+(\|[\s:-]*)+\|?$/.test(r));
  const grid = body.map((r) => cells(r).map((c) => inlineText(c, (s) => s)));
  const widths = grid[0]!.map((_, i) => Math.max(...grid.map((r) => [...(r[i] ?? '')].length)));
  return grid.map((r, n) => {
    const line = r
      .map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - [...c].length)))
      .join('  ')
      .trimEnd();
    return `  ${n === 0 ? bold(line) : line}`;
  });
}

export function markdownForTerminal(markdown: string, opts: { tty?: boolean } = {}): string {
  const bold = (s: string): string => (opts.tty ? `\x1b[1m${s}\x1b[0m` : s);
  const lines = markdown
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/\r\n?/g, '\n')
    .split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*\|/.test(line)) {
      const rows: string[] = [];
      while (i < lines.length && /^\s*\|/.test(lines[i]!)) rows.push(lines[i++]!);
      i--;
      out.push(...table(rows, bold));
      continue;
    }
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) out.push(bold(inlineText(heading[1]!, (s) => s)));
    else if (/^\s*```/.test(line)) continue;
    else if (/^---+\s*$/.test(line)) out.push('─'.repeat(40));
    else {
      // Block markers first: the text after them may hold an escaped `>` or `-`.
      const [, quote, indent, bullet, rest] = /^(>\s?)?(\s*)([-*] )?(.*)$/.exec(line)!;
      out.push(`${quote ? '  │ ' : ''}${indent}${bullet ? '  • ' : ''}${inlineText(rest!, bold)}`);
    }
  }
  // HTML-only lines leave blanks behind: at most one blank line in a row.
  return out
    .join('\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
