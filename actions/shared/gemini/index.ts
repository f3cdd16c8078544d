/**
 * The one Gemini client of the suite: plain generateContent, no tools, a system instruction,
 * JSON constrained by a schema and validated locally, a timeout per call, bounded retries that
 * honour Gemini's RetryInfo, fallback models for retired ones, and a token budget per call.
 * It never throws for a model or network problem: callers get `{ ok: false, reason }` and fall
 * back to a deterministic summary, saying so.
 */
import * as core from '@actions/core';
import { GoogleGenAI, type GenerateContentResponse } from '@google/genai';
import { classify, type Failure } from './failures.js';
import { retry, sleep } from '../retry.js';
import { DEFAULT_MODEL } from './defaults.js';
import { fenceUntrusted, newBoundary, redact, UNTRUSTED_POLICY } from './fence.js';
import { readReply } from './reply.js';
import { validatorFor } from './schema.js';
import { fitCounted, type Counter } from './tokens.js';

export { fenceUntrusted, redact, safeLabel, UNTRUSTED_POLICY } from './fence.js';
export { checkSchema, type JsonSchema } from './schema.js';
export { estimateTokens, fitToBudget, CHARS_PER_TOKEN } from './budget.js';

export { DEFAULT_MODEL } from './defaults.js';

export interface GeminiOptions {
  apiKey?: string;
  /** Default DEFAULT_MODEL (defaults.ts). */
  model?: string;
  /** Tried in order when a model is not found (retired) or keeps failing. */
  fallbackModels?: string[];
  /**
   * Default: Google's endpoint. Each action's getInputs() passes $GOOGLE_GEMINI_BASE_URL (the
   * variable @google/genai documents) here; tests point it at a fake.
   */
  baseUrl?: string;
  /** Per attempt. Default 60 s. */
  timeoutMs?: number;
  /** Attempts per model, the first included. Default 3. */
  attempts?: number;
  /** Budget for the whole prompt (system instruction and response schema included), by Gemini's count. Default 30,000. */
  maxInputTokens?: number;
  /** Default 8,192. */
  maxOutputTokens?: number;
  temperature?: number;
  /** First backoff when the server gives no RetryInfo; doubled per retry, jittered. Default 1 s. */
  baseDelayMs?: number;
  /** A longer RetryInfo.retryDelay than this means the quota is spent: stop retrying that model. Default 60 s. */
  maxRetryDelayMs?: number;
  /** For tests: observe or skip waits. */
  sleep?: (ms: number) => Promise<void>;
}

export interface PromptPart {
  label: string;
  text: string;
  /** PR or alert text: fenced as data, and trimmed first when over budget. */
  untrusted?: boolean;
}

export interface JsonRequest<T> {
  system: string;
  parts: PromptPart[];
  /** JSON Schema, sent as responseJsonSchema and checked locally (Ajv). */
  schema: object;
  /** Extra checks beyond the schema (e.g. cross-field rules). */
  validate?: (v: unknown) => v is T;
}

export type StructuredResult<T> =
  | { ok: true; value: T; model: string; note?: string }
  | {
      ok: false;
      reason: string;
      note?: string;
      /** Further calls in this run would fail the same way (no key, rejected key, service down): stop calling. */
      unavailable?: boolean;
    };

/** The text of the single user turn: trusted parts as headed sections, untrusted ones fenced. */
export function renderParts(parts: PromptPart[], boundary = newBoundary()): string {
  return parts
    .map((p) => (p.untrusted ? fenceUntrusted(p.label, p.text, boundary) : `## ${p.label}\n${p.text}`))
    .join('\n\n');
}

/** One model's answer, or why it failed in the end. */
type Call = { res: GenerateContentResponse; failure?: undefined } | { failure: Failure; res?: undefined };

export class Gemini {
  private readonly ai?: GoogleGenAI;
  private readonly apiKey?: string;
  readonly models: string[];
  private readonly o: Required<Omit<GeminiOptions, 'apiKey' | 'baseUrl' | 'fallbackModels' | 'model'>>;

  constructor(opts: GeminiOptions = {}) {
    this.apiKey = opts.apiKey?.trim() || undefined;
    if (this.apiKey) core.setSecret(this.apiKey);
    this.models = [...new Set([opts.model?.trim() || DEFAULT_MODEL, ...(opts.fallbackModels ?? [])])];
    this.o = {
      timeoutMs: opts.timeoutMs ?? 60_000,
      attempts: Math.max(1, opts.attempts ?? 3),
      maxInputTokens: opts.maxInputTokens ?? 30_000,
      maxOutputTokens: opts.maxOutputTokens ?? 8_192,
      temperature: opts.temperature ?? 0.2,
      baseDelayMs: opts.baseDelayMs ?? 1_000,
      maxRetryDelayMs: opts.maxRetryDelayMs ?? 60_000,
      sleep: opts.sleep ?? sleep,
    };
    if (this.apiKey) {
      const baseUrl = opts.baseUrl?.trim();
      this.ai = new GoogleGenAI({
        apiKey: this.apiKey,
        vertexai: false,
        // No SDK retries: ours honour RetryInfo and move on to fallback models.
        httpOptions: { ...(baseUrl ? { baseUrl } : {}), timeout: this.o.timeoutMs },
      });
    }
  }

  get enabled(): boolean {
    return this.ai !== undefined;
  }

  async generateJson<T>(req: JsonRequest<T>): Promise<StructuredResult<T>> {
    if (!this.ai) return { ok: false, reason: 'no Gemini API key was given', unavailable: true };
    try {
      validatorFor(req.schema);
    } catch (err) {
      return { ok: false, reason: `the response schema is not valid JSON Schema: ${(err as Error).message}` };
    }
    const system = `${req.system.trim()}\n\n${UNTRUSTED_POLICY}`;
    const fitted = await fitCounted({
      system,
      parts: req.parts,
      schema: req.schema,
      maxTokens: this.o.maxInputTokens,
      render: (parts) => renderParts(parts),
      count: this.counter(this.models[0]!),
    });
    if (fitted.overflow) return { ok: false, reason: `max input tokens: ${fitted.overflow}` };
    const note = fitted.cuts.length
      ? `inputs trimmed to fit ${this.o.maxInputTokens} input tokens: ${fitted.cuts.join('; ')}`
      : undefined;
    const text = renderParts(fitted.parts);
    const tried: string[] = [];

    for (const model of this.models) {
      const call = await this.call(this.ai, model, text, system, req.schema);
      const f = call.failure;
      if (f) {
        const reason = this.clean(f.reason);
        if (f.kind === 'stop') return { ok: false, reason: `${model}: ${reason}`, note, unavailable: true };
        if (f.kind === 'next-model') {
          core.info(`Gemini model ${model} is not available (${reason}); trying the next model`);
          tried.push(`${model}: ${reason}`);
        } else if (this.tooLong(f)) {
          tried.push(`${model}: ${reason} (server asked to wait ${f.retryDelayMs} ms)`);
        } else {
          tried.push(`${model}: ${reason} after ${this.o.attempts} attempts`);
        }
        continue;
      }
      const reading = readReply(call.res, req.schema);
      if (!reading.ok) return { ok: false, reason: `${model}: ${reading.reason}`, note };
      if (req.validate && !req.validate(reading.value)) {
        return { ok: false, reason: `${model}: the reply failed validation`, note };
      }
      return { ok: true, value: reading.value as T, model, ...(note ? { note } : {}) };
    }
    return { ok: false, reason: `gave up: ${tried.join('; ')}`, note, unavailable: true };
  }

  /**
   * One model's generateContent with its retries: 429, 5xx and timeouts again after RetryInfo's
   * delay or a jittered backoff, unless the server asks for a wait past maxRetryDelayMs (its quota
   * is spent). The last failure is returned, classified, for generateJson to move on or stop.
   */
  private call(ai: GoogleGenAI, model: string, text: string, system: string, schema: object): Promise<Call> {
    return retry<Call>(
      async () => {
        try {
          const res = await ai.models.generateContent({
            model,
            contents: [{ role: 'user', parts: [{ text }] }],
            config: {
              systemInstruction: system,
              responseMimeType: 'application/json',
              responseJsonSchema: schema,
              maxOutputTokens: this.o.maxOutputTokens,
              temperature: this.o.temperature,
              candidateCount: 1,
            },
          });
          return { res };
        } catch (err) {
          return { failure: classify(err, this.o.timeoutMs) };
        }
      },
      {
        attempts: this.o.attempts,
        retryOn: ({ failure }) => failure?.kind === 'retry' && !this.tooLong(failure),
        delayMs: ({ value }, attempt) => {
          const backoff = Math.min(this.o.maxRetryDelayMs, this.o.baseDelayMs * 2 ** (attempt - 1));
          return value?.failure?.retryDelayMs ?? Math.round(backoff * (0.5 + Math.random() / 2));
        },
        onRetry: ({ attempt, delayMs, failure }) => {
          const reason = this.clean(failure.value?.failure?.reason ?? '');
          core.info(`Gemini ${model} attempt ${attempt} failed (${reason}); retrying in ${delayMs} ms`);
        },
        sleep: this.o.sleep,
      },
    );
  }

  /** The server asked for a longer wait than we would retry after: its quota is spent for now. */
  private tooLong(f: Failure): boolean {
    return f.retryDelayMs !== undefined && f.retryDelayMs > this.o.maxRetryDelayMs;
  }

  /**
   * Gemini's count of the prompt generateJson would send for `req` untrimmed (instruction, parts and
   * schema); undefined without a key or when the count fails, for callers that split work by it.
   */
  countPrompt(req: Omit<JsonRequest<unknown>, 'validate'>): Promise<number | undefined> {
    const count = this.counter(this.models[0]!);
    if (!count) return Promise.resolve(undefined);
    const system = `${req.system.trim()}\n\n${UNTRUSTED_POLICY}`;
    return count([system, renderParts(req.parts), JSON.stringify(req.schema)]);
  }

  /** Gemini's tokenizer through models.countTokens; a failure means "use the estimate". */
  private counter(model: string): Counter | undefined {
    const ai = this.ai;
    if (!ai) return undefined;
    return async (texts) => {
      try {
        // The Developer API's countTokens takes no systemInstruction (the SDK refuses one), so the
        // instruction and the schema go in as parts: the same text, the same tokens.
        const res = await ai.models.countTokens({
          model,
          contents: [{ role: 'user', parts: texts.filter(Boolean).map((text) => ({ text })) }],
          // A count is cheap: do not let a slow one hold up the call it is for.
          config: { httpOptions: { timeout: Math.min(this.o.timeoutMs, 15_000) } },
        });
        return typeof res.totalTokens === 'number' ? res.totalTokens : undefined;
      } catch (err) {
        const why = this.clean(classify(err, Math.min(this.o.timeoutMs, 15_000)).reason);
        core.info(`Gemini countTokens failed (${why}); estimating the prompt size instead`);
        return undefined;
      }
    };
  }

  private clean(text: string): string {
    return redact(text, [this.apiKey]);
  }
}
