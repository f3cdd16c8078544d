/**
 * The one place text is made safe for GitHub Markdown (issues, comments, job summaries).
 *
 * - `escapeMarkdown`: text that must render as itself. Markdown punctuation is backslash-escaped,
 *   HTML is written as entities, and mentions and #references get a zero-width space: GitHub
 *   resolves those on the rendered text, where a backslash would not stop them.
 * - `neutralize`: Markdown that is kept as Markdown (a model's review) but cannot ping anyone,
 *   run a bot's /command, forge a hidden marker or load an image.
 * - `inert`: untrusted plain text (alert annotations, a model's words in an issue): both.
 * - `code`: a value shown as an inline code span (a path, a branch, a URL).
 */

const ZWSP = '\u200b';
// C0 controls except tab and newline, DEL, and the bidi overrides that reorder text on screen.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F\u202A-\u202E\u2066-\u2069]/g;
const PUNCTUATION = /[\\`*_{}[\]()#|~!$]/g;

/** Control characters and bidi overrides removed: what is shown is what is stored. */
export const stripControls = (text: string): string => text.replace(CONTROL, '');

/** A zero-width space after every @ (fullwidth too) and #: no mention, team ping or issue reference. */
export const breakReferences = (text: string): string => text.replace(/[@＠#]/g, `$&${ZWSP}`);

/** At most `max` characters (code points), with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : text;
}

/** Text that renders as itself: no emphasis, link, image, HTML, table break, mention or reference. */
export function escapeMarkdown(text: string): string {
  return breakReferences(
    stripControls(text)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(PUNCTUATION, '\\$&'),
  );
}

/** One table cell or inline value: white space (line breaks included) folded to single spaces, escaped. */
export function cell(text: string): string {
  return escapeMarkdown(text.replace(/\s+/g, ' ').trim());
}

/**
 * An inline code span that no backtick in the value can close (each becomes '), on one line.
 * Backslash escapes mean nothing inside code, so nothing else is escaped, except `|` when the span
 * is in a table cell (`{ inTable: true }`): GFM splits cells before it reads code, and reads `\|`.
 */
export function code(text: string, { inTable = false }: { inTable?: boolean } = {}): string {
  const one = stripControls(text).replace(/\s+/g, ' ').trim().replace(/`/g, "'");
  return `\`${inTable ? one.replace(/\|/g, '\\|') : one}\``;
}

/**
 * Markdown made safe to post: `@user` and `@org/team` mentions are broken with a zero-width space
 * (e-mail addresses are not mentions and stay), leading `/command`s used by bots are escaped, HTML
 * comments (our sticky-comment markers) cannot be forged, and images do not load.
 */
export function neutralize(text: string): string {
  return (
    text
      // Mentions: an @ that starts a word (GitHub does not treat e-mail addresses as mentions).
      .replace(/(^|[^\w])@(?=[A-Za-z0-9])/g, `$1@${ZWSP}`)
      // Slash commands at the start of a line (e.g. /approve, /merge, /label).
      .replace(/^(\s*)\/(?=[A-Za-z])/gm, `$1\\/`)
      .replace(/<!--/g, '&lt;!--')
      .replace(/-->/g, '--&gt;')
      // Images are fetched when the comment is viewed: no beacons or exfiltration URLs.
      .replace(/!\[/g, '\\![')
      .replace(/<(img|picture|source|video|audio|iframe|object|embed)\b/gi, '&lt;$1')
  );
}

/**
 * Untrusted plain text, escaped and neutralised. A line that starts with `/` or `::` gets a
 * zero-width space first: bots read the raw text, and the runner reads `::` lines as commands
 * when a summary is echoed to the log.
 */
export function inert(text: string): string {
  return neutralize(escapeMarkdown(text).replace(/(^|\n)([ \t]*)(\/|::)/g, `$1$2${ZWSP}$3`));
}
