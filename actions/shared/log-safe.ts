/**
 * The one way an untrusted value (a payload field, a relay id, a model's reply) reaches the
 * Actions log. The runner reads every line of stdout that starts with `::` (or the legacy `##[`)
 * as a workflow command, so a value with a newline and `::error ...` or `::add-mask::` could
 * raise annotations or hide text. Line breaks and other control characters are written as
 * escapes, and a value that starts with a command marker is prefixed, so the value stays one
 * visible piece of text inside the line that quotes it.
 */
export function oneLine(value: unknown, max = 500): string {
  const text = typeof value === 'string' ? value : String(value);
  // eslint-disable-next-line no-control-regex
  let out = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (out.length > max) out = `${out.slice(0, max)}…`;
  return /^(::|##\[)/.test(out) ? `'${out}` : out;
}
