/**
 * A local stand-in for the Gemini API (generativelanguage.googleapis.com) that speaks
 * `POST /v1beta/models/{model}:generateContent` as Gemini does, for the SDK's
 * `httpOptions.baseUrl` / $GOOGLE_GEMINI_BASE_URL. It checks the request the way Gemini does
 * (API key header, known models, request fields, generationConfig) and answers from a script:
 * JSON replies, 429 with RetryInfo, 5xx, a hang, SAFETY, MAX_TOKENS, a blocked prompt, JSON
 * that breaks the schema, or a function of the request (a "compromised" model).
 * Every request is recorded so tests can assert what was sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface GeminiRequest {
  model: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body, as sent. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  raw: string;
  /** Text of all user parts, joined. */
  userText: string;
  /** Text of the system instruction. */
  systemText: string;
  status: number;
}

export type Answer =
  /** A normal reply whose text is this value as JSON (finishReason STOP). */
  | { json: unknown }
  /** A normal reply with this exact text (e.g. not JSON at all). */
  | { text: string; finishReason?: string }
  /** An error as Gemini sends it; 429 carries RetryInfo when `retryDelay` is set (e.g. "1s"). */
  | { status: number; retryDelay?: string; message?: string }
  /** Never answer (the client's timeout must fire). */
  | { hang: true }
  /** A candidate that stopped for this reason, with no content unless `text` is given. */
  | { finishReason: string; text?: string }
  /** The prompt itself blocked: promptFeedback.blockReason and no candidates. */
  | { blockReason: string }
  | ((req: GeminiRequest) => Answer);

export const FAKE_GEMINI_KEY = 'AIzaFAKE-test-key-0123456789abcdef';

const KNOWN_TOP_LEVEL = new Set([
  'contents',
  'tools',
  'toolConfig',
  'safetySettings',
  'systemInstruction',
  'generationConfig',
  'cachedContent',
]);
const KNOWN_GENERATION_CONFIG = new Set([
  'stopSequences',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  '_responseJsonSchema',
  'responseModalities',
  'candidateCount',
  'maxOutputTokens',
  'temperature',
  'topP',
  'topK',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseLogprobs',
  'logprobs',
  'thinkingConfig',
  'mediaResolution',
  'speechConfig',
]);
const MIME_TYPES = new Set(['text/plain', 'application/json', 'text/x.enum']);

class GoogleError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
    readonly details?: unknown[],
  ) {
    super(message);
  }
}

const invalid = (message: string): GoogleError => new GoogleError(400, 'INVALID_ARGUMENT', message);

const STATUS_NAMES: Record<number, [string, string]> = {
  400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
  403: ['PERMISSION_DENIED', 'The caller does not have permission'],
  404: ['NOT_FOUND', 'Requested entity was not found.'],
  429: [
    'RESOURCE_EXHAUSTED',
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
  ],
  500: ['INTERNAL', 'An internal error has occurred. Please retry or try a different model.'],
  503: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
  504: ['DEADLINE_EXCEEDED', 'The request timed out. Please try again.'],
};

function checkParts(parts: unknown, where: string): string[] {
  if (!Array.isArray(parts) || parts.length === 0)
    throw invalid(`* ${where}.parts: contents.parts must not be empty.`);
  return parts.map((p, i) => {
    if (!p || typeof p !== 'object') throw invalid(`* ${where}.parts[${i}]: must be an object`);
    const part = p as Record<string, unknown>;
    if (part.text !== undefined && typeof part.text !== 'string')
      throw invalid(`Invalid value at '${where}.parts[${i}].text' (TYPE_STRING)`);
    return typeof part.text === 'string' ? part.text : '';
  });
}

export class FakeGemini {
  readonly requests: GeminiRequest[] = [];
  key = FAKE_GEMINI_KEY;
  /** Models that exist; others answer 404 like a retired model. */
  readonly models = new Set([
    'gemini-2.5-flash-lite',
    'gemini-2.5-flash',
    'gemini-2.5-pro',
    'gemini-2.0-flash',
    'gemini-2.0-flash-lite',
  ]);
  private readonly queue: Answer[] = [];
  /** Used when the script is empty. */
  fallback: Answer = { status: 500, message: 'fake-gemini: no answer scripted' };
  private server?: Server;
  private readonly hanging = new Set<ServerResponse>();
  url = '';

  /** Queues answers, one per request, in order. */
  script(...answers: Answer[]): this {
    this.queue.push(...answers);
    return this;
  }

  /** Answers every request not covered by the script. */
  always(answer: Answer): this {
    this.fallback = answer;
    return this;
  }

  retire(model: string): this {
    this.models.delete(model);
    return this;
  }

  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
    this.fallback = { status: 500, message: 'fake-gemini: no answer scripted' };
  }

  /** Environment that points the action (the @google/genai SDK) at this fake. */
  env(): Record<string, string> {
    return { GOOGLE_GEMINI_BASE_URL: this.url };
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) =>
        this.send(res, 500, { error: { code: 500, message: err.message } }),
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private send(res: ServerResponse, status: number, body: unknown, record?: GeminiRequest): void {
    if (record) record.status = status;
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'x-gemini-fake': '1' });
    res.end(JSON.stringify(body));
  }

  private sendError(res: ServerResponse, e: GoogleError, record?: GeminiRequest): void {
    this.send(
      res,
      e.code,
      {
        error: {
          code: e.code,
          message: e.message,
          status: e.status,
          ...(e.details ? { details: e.details } : {}),
        },
      },
      record,
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const m = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(url.pathname);
    if (!m || req.method !== 'POST') {
      return this.sendError(
        res,
        new GoogleError(404, 'NOT_FOUND', `fake-gemini: no route ${req.method} ${url.pathname}`),
      );
    }
    const model = decodeURIComponent(m[1]!);
    const record: GeminiRequest = {
      model,
      path: url.pathname,
      headers: req.headers,
      body: undefined,
      raw,
      userText: '',
      systemText: '',
      status: 0,
    };
    this.requests.push(record);
    try {
      const key = req.headers['x-goog-api-key'] ?? url.searchParams.get('key') ?? undefined;
      if (key === undefined || key === '') {
        throw new GoogleError(
          403,
          'PERMISSION_DENIED',
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
      }
      if (key !== this.key) {
        throw new GoogleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
        ]);
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        throw invalid('Invalid JSON payload received. Unexpected token.');
      }
      record.body = body;
      for (const k of Object.keys(body)) {
        if (!KNOWN_TOP_LEVEL.has(k))
          throw invalid(`Invalid JSON payload received. Unknown name "${k}": Cannot find field.`);
      }
      const contents = body.contents;
      if (!Array.isArray(contents) || contents.length === 0) {
        throw invalid('* GenerateContentRequest.contents: contents is not specified\n');
      }
      const user: string[] = [];
      contents.forEach((c: { role?: string; parts?: unknown }, i) => {
        if (c.role !== undefined && c.role !== 'user' && c.role !== 'model')
          throw invalid(`Please use a valid role: user, model.`);
        const texts = checkParts(c.parts, `contents[${i}]`);
        if (c.role !== 'model') user.push(...texts);
      });
      record.userText = user.join('\n');
      if (body.systemInstruction !== undefined) {
        const si = body.systemInstruction as { parts?: unknown };
        record.systemText = checkParts(si.parts, 'system_instruction').join('\n');
      }
      const gc = (body.generationConfig ?? {}) as Record<string, unknown>;
      for (const k of Object.keys(gc)) {
        if (!KNOWN_GENERATION_CONFIG.has(k))
          throw invalid(
            `Invalid JSON payload received. Unknown name "${k}" at 'generation_config': Cannot find field.`,
          );
      }
      if (gc.responseMimeType !== undefined && !MIME_TYPES.has(String(gc.responseMimeType))) {
        throw invalid(
          `* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are \`text/plain\`, \`application/json\`, \`application/xml\`, \`application/yaml\` and \`text/x.enum\`.`,
        );
      }
      if (gc.responseSchema !== undefined && gc.responseJsonSchema !== undefined) {
        throw invalid('responseSchema and responseJsonSchema cannot both be set.');
      }
      if (
        (gc.responseSchema ?? gc.responseJsonSchema) !== undefined &&
        gc.responseMimeType !== 'application/json'
      ) {
        throw invalid(
          '* GenerateContentRequest.generation_config.response_schema: a response schema requires response_mime_type application/json.',
        );
      }
      if (
        gc.maxOutputTokens !== undefined &&
        !(Number.isInteger(gc.maxOutputTokens) && Number(gc.maxOutputTokens) > 0)
      ) {
        throw invalid(
          '* GenerateContentRequest.generation_config.max_output_tokens: must be a positive integer',
        );
      }
      if (!this.models.has(model)) {
        throw new GoogleError(
          404,
          'NOT_FOUND',
          `models/${model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`,
        );
      }
    } catch (err) {
      if (err instanceof GoogleError) return this.sendError(res, err, record);
      throw err;
    }

    let answer = this.queue.shift() ?? this.fallback;
    while (typeof answer === 'function') answer = answer(record);
    this.answer(res, record, answer);
  }

  private answer(
    res: ServerResponse,
    record: GeminiRequest,
    a: Exclude<Answer, (r: GeminiRequest) => Answer>,
  ): void {
    const usage = (out: number) => {
      const prompt = Math.ceil((record.userText.length + record.systemText.length) / 4);
      return { promptTokenCount: prompt, candidatesTokenCount: out, totalTokenCount: prompt + out };
    };
    const base = { modelVersion: record.model, responseId: `fake-${this.requests.length}` };
    if ('hang' in a) {
      record.status = -1;
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if ('status' in a) {
      const [status, message] = STATUS_NAMES[a.status] ?? ['UNKNOWN', 'Unknown error'];
      const details =
        a.retryDelay !== undefined
          ? [
              {
                '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
                violations: [
                  {
                    quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
                    quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
                    quotaDimensions: { location: 'global', model: record.model },
                    quotaValue: '15',
                  },
                ],
              },
              {
                '@type': 'type.googleapis.com/google.rpc.Help',
                links: [
                  {
                    description: 'Learn more about Gemini API quotas',
                    url: 'https://ai.google.dev/gemini-api/docs/rate-limits',
                  },
                ],
              },
              { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: a.retryDelay },
            ]
          : undefined;
      return this.sendError(res, new GoogleError(a.status, status, a.message ?? message, details), record);
    }
    if ('blockReason' in a) {
      return this.send(
        res,
        200,
        {
          promptFeedback: {
            blockReason: a.blockReason,
            safetyRatings: [
              { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
            ],
          },
          usageMetadata: usage(0),
          ...base,
        },
        record,
      );
    }
    const text = 'json' in a ? JSON.stringify(a.json) : a.text;
    const finishReason = ('finishReason' in a ? a.finishReason : undefined) ?? 'STOP';
    const candidate: Record<string, unknown> = { finishReason, index: 0 };
    if (text !== undefined) candidate.content = { parts: [{ text }], role: 'model' };
    if (finishReason === 'SAFETY') {
      candidate.safetyRatings = [
        { category: 'HARM_CATEGORY_HARASSMENT', probability: 'HIGH', blocked: true },
      ];
    }
    this.send(
      res,
      200,
      { candidates: [candidate], usageMetadata: usage(Math.ceil((text ?? '').length / 4)), ...base },
      record,
    );
  }
}
