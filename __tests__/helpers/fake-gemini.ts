/**
 * A local stand-in for the Gemini API (generativelanguage.googleapis.com) that speaks
 * `POST /v1beta/models/{model}:generateContent` and `:countTokens` as Gemini does, for the SDK's
 * `httpOptions.baseUrl` / $GOOGLE_GEMINI_BASE_URL. It checks requests the way Gemini does (API key
 * header, known models, every field name and type of the request messages, generationConfig
 * values, the response schema; fake-gemini-wire.ts) and answers from a script: JSON replies, 429
 * with RetryInfo, 5xx, a hang, SAFETY, MAX_TOKENS, a blocked prompt, JSON that breaks the schema,
 * or a function of the request (a "compromised" model). Replies carry usageMetadata as Gemini
 * counts it (thinking models report thoughtsTokenCount, and thoughts use up maxOutputTokens), and
 * every reply is checked against the REST reference's response shape before it is sent.
 * generateContent requests are recorded in `requests`, countTokens requests in `tokenCounts`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  badPayload,
  COUNT_TOKENS_REQUEST,
  decode,
  GENERATE_CONTENT_REQUEST,
  GoogleError,
  invalid,
  jsonSchemaProblems,
  protoSchemaProblems,
  responseProblems,
} from './fake-gemini-wire.js';

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

const MIME_TYPES = new Set([
  'text/plain',
  'application/json',
  'application/xml',
  'application/yaml',
  'text/x.enum',
]);

/**
 * The fake's tokenizer: about four characters a token, as Gemini's is for English and code, but a
 * token per character from U+3000 up (CJK, emoji), which a subword vocabulary splits that finely:
 * text the 3-characters-per-token estimate under-counts, as Gemini's own count shows for it.
 */
export function fakeTokens(text: string): number {
  let dense = 0;
  let latin = 0;
  for (const ch of text) {
    if (ch.codePointAt(0)! >= 0x3000) dense++;
    else latin += ch.length;
  }
  return dense + Math.ceil(latin / 4);
}

/** How each model thinks (Gemini 2.5: pro always, flash by default, flash-lite only when asked). */
const THINKING: Record<string, 'always' | 'default' | 'optional'> = {
  'gemini-2.5-pro': 'always',
  'gemini-2.5-flash': 'default',
  'gemini-2.5-flash-lite': 'optional',
};
const INPUT_TOKEN_LIMIT = 1_048_576;

export interface CountTokensRecord {
  model: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  totalTokens?: number;
  status: number;
}

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

type Content = { role?: string; parts?: { text?: string; thought?: boolean }[] };

function texts(c: Content | undefined): string[] {
  return (c?.parts ?? []).map((p) => (typeof p.text === 'string' ? p.text : ''));
}

/** Content rules the service applies once the payload has the right shape. */
function checkContents(contents: Content[] | undefined, at: string): void {
  if (!contents?.length) throw invalid(`* ${at}.contents: contents is not specified\n`);
  contents.forEach((c, i) => {
    if (c.role !== undefined && c.role !== 'user' && c.role !== 'model')
      throw invalid('Please use a valid role: user, model.');
    if (!c.parts?.length) throw invalid(`* ${at}.contents[${i}].parts: contents.parts must not be empty.\n`);
  });
}

export class FakeGemini {
  readonly requests: GeminiRequest[] = [];
  readonly tokenCounts: CountTokensRecord[] = [];
  /** When set, countTokens answers this error (e.g. 500, 429) instead of counting. */
  countTokensFault?: number;
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
    this.tokenCounts.length = 0;
    this.countTokensFault = undefined;
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

  private send(res: ServerResponse, status: number, body: unknown, record?: { status: number }): void {
    if (record) record.status = status;
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'x-gemini-fake': '1' });
    res.end(JSON.stringify(body));
  }

  private sendError(res: ServerResponse, e: GoogleError, record?: { status: number }): void {
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
    const m = /^\/v1beta\/models\/([^/:]+):(generateContent|countTokens)$/.exec(url.pathname);
    if (!m || req.method !== 'POST') {
      return this.sendError(
        res,
        new GoogleError(404, 'NOT_FOUND', `fake-gemini: no route ${req.method} ${url.pathname}`),
      );
    }
    const model = decodeURIComponent(m[1]!);
    if (m[2] === 'countTokens') return this.countTokens(req, res, url, model, raw);
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
    let promptTokens: number;
    try {
      this.authorize(req, url);
      record.body = this.parse(raw, GENERATE_CONTENT_REQUEST);
      promptTokens = this.checkGenerate(record);
      this.checkModel(model, 'generateContent');
    } catch (err) {
      if (err instanceof GoogleError) return this.sendError(res, err, record);
      throw err;
    }
    let answer = this.queue.shift() ?? this.fallback;
    while (typeof answer === 'function') answer = answer(record);
    this.answer(res, record, answer, promptTokens);
  }

  private authorize(req: IncomingMessage, url: URL): void {
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
  }

  /** JSON, then every field name and type against the request message (names come back lowerCamel). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private parse(raw: string, message: typeof GENERATE_CONTENT_REQUEST): Record<string, any> {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw invalid('Invalid JSON payload received. Unexpected token.');
    }
    const decoded = decode(body, message);
    if (decoded.problems.length) throw badPayload(decoded.problems);
    return decoded.value as Record<string, unknown>;
  }

  private checkModel(model: string, method: string): void {
    if (!this.models.has(model)) {
      throw new GoogleError(
        404,
        'NOT_FOUND',
        `models/${model} is not found for API version v1beta, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
      );
    }
  }

  /** The service's own checks of a well-formed request; returns the prompt's token count. */
  private checkGenerate(record: GeminiRequest): number {
    const body = record.body as {
      contents?: Content[];
      systemInstruction?: Content;
      generationConfig?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    checkContents(body.contents, 'GenerateContentRequest');
    record.userText = body
      .contents!.filter((c) => c.role !== 'model')
      .flatMap(texts)
      .join('\n');
    record.systemText = texts(body.systemInstruction).join('\n');
    if (body.systemInstruction && !body.systemInstruction.parts?.length)
      throw invalid('* GenerateContentRequest.system_instruction.parts: contents.parts must not be empty.\n');
    const gc = body.generationConfig ?? {};
    const at = '* GenerateContentRequest.generation_config';
    if (gc.responseMimeType !== undefined && !MIME_TYPES.has(String(gc.responseMimeType))) {
      throw invalid(
        `${at}.response_mime_type: allowed mimetypes are \`text/plain\`, \`application/json\`, \`application/xml\`, \`application/yaml\` and \`text/x.enum\`.`,
      );
    }
    const schema = gc.responseJsonSchema ?? gc._responseJsonSchema ?? gc.responseSchema;
    if (gc.responseSchema !== undefined && (gc.responseJsonSchema ?? gc._responseJsonSchema) !== undefined)
      throw invalid(`${at}: response_schema and response_json_schema cannot both be set.`);
    if (
      schema !== undefined &&
      gc.responseMimeType !== 'application/json' &&
      gc.responseMimeType !== 'text/x.enum'
    )
      throw invalid(
        `${at}.response_mime_type: a response schema requires response_mime_type application/json.`,
      );
    const schemaProblems =
      gc.responseSchema !== undefined
        ? protoSchemaProblems(gc.responseSchema)
        : jsonSchemaProblems(schema ?? {});
    if (schema !== undefined && schemaProblems.length) throw invalid(schemaProblems.join('\n'));
    if (gc.maxOutputTokens !== undefined && !(gc.maxOutputTokens > 0))
      throw invalid(`${at}.max_output_tokens: must be a positive integer`);
    if (gc.temperature !== undefined && !(gc.temperature >= 0 && gc.temperature <= 2))
      throw invalid(`${at}.temperature: temperature must be in [0.0, 2.0]`);
    if (gc.candidateCount !== undefined && !(gc.candidateCount >= 1 && gc.candidateCount <= 8))
      throw invalid(`${at}.candidate_count: must be in [1, 8]`);
    if (THINKING[record.model] === 'always' && gc.thinkingConfig?.thinkingBudget === 0)
      throw invalid('Budget 0 is invalid. This model only works in thinking mode.');
    // The response schema counts as input, as the structured-output guide says.
    const tokens =
      [...body.contents!.flatMap(texts), ...texts(body.systemInstruction)].reduce(
        (n, t) => n + fakeTokens(t),
        0,
      ) + (schema !== undefined ? fakeTokens(JSON.stringify(schema)) : 0);
    if (tokens > INPUT_TOKEN_LIMIT)
      throw invalid(
        `The input token count (${tokens}) exceeds the maximum number of tokens allowed (${INPUT_TOKEN_LIMIT}).`,
      );
    return tokens;
  }

  private countTokens(req: IncomingMessage, res: ServerResponse, url: URL, model: string, raw: string): void {
    const record: CountTokensRecord = { model, body: undefined, status: 0 };
    this.tokenCounts.push(record);
    try {
      this.authorize(req, url);
      record.body = this.parse(raw, COUNT_TOKENS_REQUEST);
      const body = record.body as { contents?: Content[]; generateContentRequest?: { contents?: Content[] } };
      if (body.contents !== undefined && body.generateContentRequest !== undefined)
        throw invalid('* CountTokensRequest: contents and generate_content_request are mutually exclusive.');
      const inner = body.generateContentRequest;
      checkContents(
        inner?.contents ?? body.contents,
        inner ? 'CountTokensRequest.generate_content_request' : 'CountTokensRequest',
      );
      this.checkModel(model, 'countTokens');
      if (this.countTokensFault !== undefined) {
        const [status, message] = STATUS_NAMES[this.countTokensFault] ?? ['UNKNOWN', 'Unknown error'];
        throw new GoogleError(this.countTokensFault, status, message);
      }
      let total: number;
      if (inner) {
        const probe = { ...record, body: inner, userText: '', systemText: '' } as unknown as GeminiRequest;
        total = this.checkGenerate(probe);
      } else total = body.contents!.flatMap(texts).reduce((n, t) => n + fakeTokens(t), 0);
      record.totalTokens = total;
      this.send(
        res,
        200,
        { totalTokens: total, promptTokensDetails: [{ modality: 'TEXT', tokenCount: total }] },
        record,
      );
    } catch (err) {
      if (err instanceof GoogleError) return this.sendError(res, err, record);
      throw err;
    }
  }

  /** Sends a 200 reply after checking it has the shape Gemini's replies have. */
  private reply(res: ServerResponse, body: unknown, record: GeminiRequest): void {
    const problems = responseProblems(body);
    if (problems.length)
      throw new Error(`fake-gemini would send a reply Gemini never sends: ${problems.join('; ')}`);
    this.send(res, 200, body, record);
  }

  private answer(
    res: ServerResponse,
    record: GeminiRequest,
    a: Exclude<Answer, (r: GeminiRequest) => Answer>,
    promptTokens: number,
  ): void {
    const base = { modelVersion: record.model, responseId: randomBytes(17).toString('base64url') };
    if ('hang' in a) {
      record.status = -1;
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if ('status' in a) {
      const [status, message] = STATUS_NAMES[a.status] ?? ['UNKNOWN', 'Unknown error'];
      const details = a.retryDelay !== undefined ? quotaDetails(record.model, a.retryDelay) : undefined;
      return this.sendError(res, new GoogleError(a.status, status, a.message ?? message, details), record);
    }
    if ('blockReason' in a) {
      const body = {
        promptFeedback: {
          blockReason: a.blockReason,
          safetyRatings: [
            { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
          ],
        },
        usageMetadata: usage(promptTokens, 0, 0),
        ...base,
      };
      return this.reply(res, body, record);
    }
    this.reply(res, { ...this.candidate(record, a, promptTokens), ...base }, record);
  }

  /**
   * One candidate as Gemini builds it: thinking models spend thought tokens first, and thoughts
   * and text together stop at maxOutputTokens (MAX_TOKENS, the text cut where the limit fell).
   */
  private candidate(
    record: GeminiRequest,
    a: { json: unknown } | { text?: string; finishReason?: string },
    promptTokens: number,
  ): Record<string, unknown> {
    const gc = (record.body?.generationConfig ?? {}) as {
      maxOutputTokens?: number;
      thinkingConfig?: { thinkingBudget?: number; includeThoughts?: boolean };
    };
    const budget = gc.thinkingConfig?.thinkingBudget;
    const mode = THINKING[record.model];
    const thinks =
      mode === 'always' ||
      (mode === 'default' && budget !== 0) ||
      (mode === 'optional' && budget !== undefined && budget !== 0);
    const maxOut = gc.maxOutputTokens ?? 65_536;
    const wanted = 48 + Math.ceil(promptTokens / 20);
    const thoughts = thinks
      ? Math.min(maxOut, budget !== undefined && budget > 0 ? Math.min(budget, wanted) : wanted)
      : 0;
    let text = 'json' in a ? JSON.stringify(a.json) : a.text;
    let finishReason = ('finishReason' in a ? a.finishReason : undefined) ?? 'STOP';
    if (text !== undefined && thoughts + fakeTokens(text) > maxOut) {
      text = text.slice(0, (maxOut - thoughts) * 4);
      finishReason = 'MAX_TOKENS';
    }
    const parts: { text: string; thought?: true }[] = [];
    if (thinks && gc.thinkingConfig?.includeThoughts)
      parts.push({ text: '**Reading the request**\n\nI look at what was asked.', thought: true });
    if (text) parts.push({ text });
    const candidate: Record<string, unknown> = {
      content: parts.length ? { parts, role: 'model' } : { role: 'model' },
      finishReason,
      index: 0,
    };
    if (finishReason === 'SAFETY') {
      delete candidate.content;
      candidate.safetyRatings = [
        { category: 'HARM_CATEGORY_HARASSMENT', probability: 'HIGH', blocked: true },
      ];
    }
    return { candidates: [candidate], usageMetadata: usage(promptTokens, fakeTokens(text ?? ''), thoughts) };
  }
}

/** usageMetadata as Gemini sends it: zero counts left out, the total the sum of the others. */
function usage(prompt: number, candidates: number, thoughts: number): Record<string, unknown> {
  return {
    promptTokenCount: prompt,
    ...(candidates ? { candidatesTokenCount: candidates } : {}),
    totalTokenCount: prompt + candidates + thoughts,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
  };
}

function quotaDetails(model: string, retryDelay: string): unknown[] {
  return [
    {
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [
        {
          quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
          quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
          quotaDimensions: { location: 'global', model },
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
    { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
  ];
}
