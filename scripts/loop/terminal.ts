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
      // Emphasis only at word edges, as GitHub reads it: snake_case stays as it is.
      .replace(/(^|[^\w\\])[_*](?=\S)((?:\\.|[^_*\n])*?\S)[_*](?!\w)/g, '$1$2')
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

/** Columns a terminal gives `text`: emoji shown as emoji take two, selectors and joiners none. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    // Zero-width space and joiners, text and emoji variation selectors.
    if (['\u200b', '\u200c', '\u200d', '\ufe0e', '\ufe0f'].includes(ch)) continue;
    width += /\p{Emoji_Presentation}/u.test(ch) ? 2 : 1;
  }
  return width;
}

const pad = (text: string, width: number): string =>
  text + ' '.repeat(Math.max(0, width - displayWidth(text)));

/**
 * A Markdown table as aligned columns when it fits in `width`, else one record per row (the
 * alerts table carries links and label lists no terminal line holds).
 */
function table(rows: string[], bold: (s: string) => string, width: number): string[] {
  const body = rows.filter((r, i) => i !== 1 || !/^\|?[\s:-]+(\|[\s:-]*)+\|?$/.test(r));
  const [head, ...grid] = body.map((r) => cells(r).map((c) => inlineText(c, (s) => s)));
  const all = [head!, ...grid];
  const widths = head!.map((_, i) => Math.max(...all.map((r) => displayWidth(r[i] ?? ''))));
  if (widths.reduce((a, w) => a + w + 2, 2) <= width)
    return all.map((r, n) => {
      const line = r
        .map((c, i) => pad(c, widths[i]!))
        .join('  ')
        .trimEnd();
      return `  ${n === 0 ? bold(line) : line}`;
    });
  // Records: the first two cells as a title line, the others as `name: value` under it.
  const nameWidth = Math.max(...head!.slice(2).map((h) => displayWidth(h))) + 1;
  return grid.flatMap((r) => [
    `  • ${bold(r.slice(0, 2).filter(Boolean).join(' '))}`,
    ...head!
      .slice(2)
      .map((h, i) => (r[i + 2] ? `      ${pad(`${h}:`, nameWidth)} ${r[i + 2]}` : ''))
      .filter(Boolean),
  ]);
}

export function markdownForTerminal(markdown: string, opts: { tty?: boolean; width?: number } = {}): string {
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
      out.push(...table(rows, bold, opts.width ?? 100));
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
    .replace(/^\n+|\n+$/g, '');
}
