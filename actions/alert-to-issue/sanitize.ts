/**
 * Alert text (labels, annotations, URLs) and the model's answer are untrusted: whoever can write
 * an alert rule or influence a metric label can put anything there. Before it reaches an issue
 * it is made inert: no @mention, no #reference, no /command at a line start, no HTML (so no fake
 * hidden marker), no markdown link, image or table break. Labels never come from it (see labels.ts).
 */

import { breakReferences, clip, inert, stripControls } from '../shared/markdown.js';

/** One line of inert text, e.g. a table cell or a value after a bold name. */
export function inline(text: string, max = 300): string {
  return inert(clip(text.replace(/\s+/g, ' ').trim(), max));
}

/** Several lines of inert text, quoted so that no line starts a block of its own. */
export function block(text: string, max = 2000): string {
  const lines = clip(text.replace(/\r\n?/g, '\n').trim(), max).split('\n');
  return lines.map((l) => `> ${inert(l)}`).join('\n');
}

/** Issue titles render as plain text, but mentions and references must still not resolve. */
export function title(text: string, max = 200): string {
  return clip(breakReferences(stripControls(text).replace(/\s+/g, ' ').trim()), max);
}

/** A link target only when it is an absolute http(s) URL; anything else is shown as text. */
export function safeUrl(text: string | undefined): string | undefined {
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password) return undefined;
  // Parentheses and spaces would end a markdown link target early.
  return url.href.replace(
    /[()\s<>]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/** `[text](url)` with inert text, or the inert text alone when the URL is not safe. */
export function link(text: string, url: string | undefined): string {
  const target = safeUrl(url);
  return target ? `[${inline(text, 120)}](${target})` : inline(text, 120);
}
