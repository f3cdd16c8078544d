/**
 * A per-call token budget. The client asks Gemini's tokenizer (models.countTokens) how big a
 * prompt is and passes the characters-per-token it measured here; without an answer (offline,
 * countTokens failing) the size is estimated conservatively at 3 characters per token (English
 * prose is ~4, code is denser). Trusted parts are kept whole; untrusted parts share what is left
 * fairly, smallest first, and each cut is recorded so the caller can say what the model did not see.
 */
export const CHARS_PER_TOKEN = 3;

export const estimateTokens = (text: string): number => Math.ceil(text.length / CHARS_PER_TOKEN);

export interface BudgetPart {
  label: string;
  text: string;
  untrusted?: boolean;
}

export interface Fitted {
  parts: BudgetPart[];
  /** One entry per trimmed or dropped part. */
  cuts: string[];
  /** Set when even the trusted parts do not fit. */
  overflow?: string;
}

/** Below this a trimmed part says too little to be worth sending. */
const MIN_USEFUL_CHARS = 200;
/** Fence lines and headings around each part. */
const PART_OVERHEAD_CHARS = 120;

function cut(text: string, maxChars: number): string {
  const head = text.slice(0, maxChars);
  // End at a line boundary when there is one in the last quarter: half a diff line misleads.
  const nl = head.lastIndexOf('\n');
  return nl > maxChars * 0.75 ? head.slice(0, nl) : head;
}

export function fitToBudget(
  system: string,
  parts: BudgetPart[],
  maxTokens: number,
  charsPerToken: number = CHARS_PER_TOKEN,
): Fitted {
  const budgetChars = Math.floor(maxTokens * charsPerToken);
  const fixed =
    system.length +
    parts.filter((p) => !p.untrusted).reduce((n, p) => n + p.text.length + PART_OVERHEAD_CHARS, 0);
  const untrusted = parts.map((p, i) => ({ p, i })).filter(({ p }) => p.untrusted);
  let left = budgetChars - fixed - untrusted.length * PART_OVERHEAD_CHARS;
  if (left < 0 && fixed > budgetChars) {
    return {
      parts,
      cuts: [],
      overflow: `the instructions alone need ~${Math.ceil(fixed / charsPerToken)} tokens, over the budget of ${maxTokens}`,
    };
  }
  const allowed = new Map<number, number>();
  // Water-filling: small parts fit whole, large ones split what remains.
  const bySize = [...untrusted].sort((a, b) => a.p.text.length - b.p.text.length);
  bySize.forEach(({ p, i }, k) => {
    const share = Math.max(0, Math.floor(left / (bySize.length - k)));
    const take = Math.min(p.text.length, share);
    allowed.set(i, take);
    left -= take;
  });
  const cuts: string[] = [];
  const out: BudgetPart[] = [];
  parts.forEach((p, i) => {
    if (!p.untrusted) return out.push(p);
    const take = allowed.get(i) ?? 0;
    if (take >= p.text.length) return out.push(p);
    if (take < MIN_USEFUL_CHARS) {
      cuts.push(`${p.label}: left out (${p.text.length} characters)`);
      return;
    }
    const kept = cut(p.text, take);
    const lines = p.text.split('\n').length;
    const keptLines = kept.split('\n').length;
    cuts.push(`${p.label}: trimmed, ${lines - keptLines} of ${lines} lines left out`);
    out.push({
      ...p,
      text: `${kept}\n[... ${p.text.length - kept.length} characters left out to fit the token budget]`,
    });
  });
  return { parts: out, cuts };
}
