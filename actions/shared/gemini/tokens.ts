/**
 * Fits a prompt to the input budget by Gemini's own count (models.countTokens) instead of the
 * 3-characters-per-token guess: prose that fits is no longer trimmed, and dense text (code, CJK)
 * that the guess would let through is trimmed until it fits. The guess stays as the offline
 * fallback, used whenever the count is not available.
 */
import { fitToBudget, type BudgetPart, type Fitted } from './budget.js';

/** Tokens of these texts sent together, or undefined when the count could not be had. */
export type Counter = (texts: string[]) => Promise<number | undefined>;

export interface CountedFit extends Fitted {
  /** Gemini's count of what will be sent (absent when the estimate was used). */
  tokens?: number;
}

/** Refits after a count this many times at most; each round tightens the margin. */
const ROUNDS = 3;

export async function fitCounted(a: {
  system: string;
  parts: BudgetPart[];
  /** The response schema counts as input too. */
  schema: object;
  maxTokens: number;
  render: (parts: BudgetPart[]) => string;
  count?: Counter;
}): Promise<CountedFit> {
  const estimate = (): Fitted => fitToBudget(a.system, a.parts, a.maxTokens);
  const schemaText = JSON.stringify(a.schema);
  const chars = (parts: BudgetPart[]): number => a.system.length + a.render(parts).length + schemaText.length;
  // A token is at least a character: a prompt with fewer characters than the budget fits.
  if (!a.count || chars(a.parts) <= a.maxTokens) return estimate();
  let fitted: Fitted = { parts: a.parts, cuts: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const text = a.render(fitted.parts);
    const tokens = await a.count([a.system, text, schemaText]);
    if (tokens === undefined) return estimate();
    if (tokens <= a.maxTokens) return { ...fitted, tokens };
    if (round === ROUNDS) break;
    // Refit at the density just measured, with a margin that grows each round (cuts are not uniform).
    const density = ((a.system.length + text.length + schemaText.length) / tokens) * 0.95 ** round;
    const schemaTokens = Math.ceil(schemaText.length / density);
    fitted = fitToBudget(a.system, a.parts, a.maxTokens - schemaTokens, density);
    if (fitted.overflow) return fitted;
  }
  return {
    ...fitted,
    overflow: `the prompt is still over ${a.maxTokens} tokens by Gemini's count after trimming`,
  };
}
