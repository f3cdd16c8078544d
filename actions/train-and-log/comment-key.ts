/**
 * The `comment-key` input: what tells one job's report from another's when several jobs (a matrix)
 * train the same model. Its default is `${{ toJSON(matrix) }}`, which the runner evaluates in action
 * input defaults (the runner has no environment variable for the matrix); outside a matrix that is
 * `null`. A JSON object becomes `key=value, …` in key order, so the same matrix leg always finds its
 * own comment, and the label is readable in the report's heading.
 */

/** Characters of the label; a matrix of long values still needs a short, stable key. */
const MAX_KEY = 200;

export function commentLabel(raw: string): string | undefined {
  const text = raw.trim();
  if (text === '' || text === 'null' || text === '{}') return undefined;
  let label = text;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      label = Object.entries(parsed as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', ');
    } else if (typeof parsed === 'string') label = parsed;
  } catch {
    // Not JSON: a key the caller wrote by hand, used as it is.
  }
  label = label.replace(/\s+/g, ' ').trim();
  if (label === '') return undefined;
  return label.length > MAX_KEY ? label.slice(0, MAX_KEY) : label;
}
