/**
 * Reads a generateContent reply without trusting it: a blocked prompt, every non-STOP
 * finishReason, an empty or non-JSON text and a value outside the schema are all failures
 * with a reason a person can act on, never an exception.
 */
import type { GenerateContentResponse } from '@google/genai';
import { checkSchema, type JsonSchema } from './schema.js';

export type Reading = { ok: true; value: unknown } | { ok: false; reason: string };

const FINISH_REASONS: Record<string, string> = {
  MAX_TOKENS: 'the reply was cut off at the output token limit (MAX_TOKENS)',
  SAFETY: 'the reply was withheld by safety filters (SAFETY)',
  RECITATION: 'the reply was withheld for reciting sources (RECITATION)',
  LANGUAGE: 'the reply was withheld for an unsupported language (LANGUAGE)',
  BLOCKLIST: 'the reply contained blocked terms (BLOCKLIST)',
  PROHIBITED_CONTENT: 'the reply was withheld as prohibited content (PROHIBITED_CONTENT)',
  SPII: 'the reply was withheld for containing personal data (SPII)',
  MALFORMED_FUNCTION_CALL: 'the model attempted a malformed function call (MALFORMED_FUNCTION_CALL)',
  UNEXPECTED_TOOL_CALL: 'the model attempted a tool call, and no tools are offered (UNEXPECTED_TOOL_CALL)',
  TOO_MANY_TOOL_CALLS: 'the model attempted tool calls, and no tools are offered (TOO_MANY_TOOL_CALLS)',
  OTHER: 'the model stopped for an unspecified reason (OTHER)',
};

export function readReply(res: GenerateContentResponse, schema: object): Reading {
  const block = res.promptFeedback?.blockReason;
  if (block) {
    const msg = res.promptFeedback?.blockReasonMessage;
    return { ok: false, reason: `the prompt was blocked (${block}${msg ? `: ${msg}` : ''})` };
  }
  const candidate = res.candidates?.[0];
  if (!candidate) return { ok: false, reason: 'the reply had no candidates' };
  const finish = candidate.finishReason as string | undefined;
  if (finish && finish !== 'STOP') {
    return {
      ok: false,
      reason: FINISH_REASONS[finish] ?? `the model stopped with finishReason ${String(finish).slice(0, 60)}`,
    };
  }
  const parts = candidate.content?.parts ?? [];
  if (parts.some((p) => p.functionCall)) {
    return { ok: false, reason: 'the model attempted a function call, and no tools are offered' };
  }
  const text = parts
    .filter((p) => typeof p.text === 'string' && !p.thought)
    .map((p) => p.text)
    .join('');
  if (text.trim() === '') return { ok: false, reason: 'the reply was empty' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'the reply was not valid JSON' };
  }
  const problems = checkSchema(schema as JsonSchema, value);
  if (problems.length) {
    return {
      ok: false,
      reason: `the reply did not match the schema (${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; ...' : ''})`,
    };
  }
  return { ok: true, value };
}
