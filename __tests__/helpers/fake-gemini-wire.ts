/**
 * What the Gemini REST API (v1beta, generativelanguage.googleapis.com) accepts and returns, for the
 * fake in fake-gemini.ts: the request messages field by field (proto JSON: lowerCamel or
 * snake_case names, unknown names refused with Google's "Invalid JSON payload received. Unknown
 * name ..." 400), the schema rules of `responseJsonSchema` (the field @google/genai sends for a
 * JSON Schema) and `responseSchema` (the OpenAPI-subset proto), and a JSON Schema of the response
 * the fake checks its own replies against. Sources: the REST reference (models.generateContent,
 * models.countTokens, GenerationConfig, UsageMetadata) and the field docs in @google/genai's
 * genai.d.ts, which quote the API's own.
 */
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

export class GoogleError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
    readonly details?: unknown[],
  ) {
    super(message);
  }
}

/** A field-shape problem, as Google's JSON transcoder words it, with a BadRequest detail. */
export function badPayload(problems: { field?: string; description: string }[]): GoogleError {
  return new GoogleError(400, 'INVALID_ARGUMENT', problems.map((p) => p.description).join('\n'), [
    {
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      fieldViolations: problems.map((p) => (p.field ? p : { description: p.description })),
    },
  ]);
}

export const invalid = (message: string): GoogleError => new GoogleError(400, 'INVALID_ARGUMENT', message);

type Prim = 'string' | 'int' | 'number' | 'bool' | 'any';
interface ListOf {
  list: Field;
}
interface MapOf {
  map: Field;
}
type Message = { [name: string]: Field };
type Field = Prim | ListOf | MapOf | Message | (() => Message);

const list = (f: Field): ListOf => ({ list: f });

const PART: Message = {
  text: 'string',
  inlineData: { mimeType: 'string', data: 'string' },
  fileData: { mimeType: 'string', fileUri: 'string' },
  functionCall: 'any',
  functionResponse: 'any',
  executableCode: 'any',
  codeExecutionResult: 'any',
  videoMetadata: 'any',
  thought: 'bool',
  thoughtSignature: 'string',
  partMetadata: 'any',
};
export const CONTENT: Message = { parts: list(PART), role: 'string' };

/** genai.d.ts `Schema` (the proto behind `responseSchema`): an OpenAPI 3.0 subset. */
const SCHEMA: () => Message = () => ({
  type: 'string',
  format: 'string',
  title: 'string',
  description: 'string',
  nullable: 'bool',
  enum: list('string'),
  maxItems: 'int',
  minItems: 'int',
  properties: { map: SCHEMA },
  required: list('string'),
  minProperties: 'int',
  maxProperties: 'int',
  minLength: 'int',
  maxLength: 'int',
  pattern: 'string',
  example: 'any',
  anyOf: list(SCHEMA),
  propertyOrdering: list('string'),
  default: 'any',
  items: SCHEMA,
  minimum: 'number',
  maximum: 'number',
});

const GENERATION_CONFIG: Message = {
  stopSequences: list('string'),
  responseMimeType: 'string',
  responseSchema: SCHEMA,
  responseJsonSchema: 'any',
  _responseJsonSchema: 'any',
  responseModalities: list('string'),
  candidateCount: 'int',
  maxOutputTokens: 'int',
  temperature: 'number',
  topP: 'number',
  topK: 'int',
  seed: 'int',
  presencePenalty: 'number',
  frequencyPenalty: 'number',
  responseLogprobs: 'bool',
  logprobs: 'int',
  enableEnhancedCivicAnswers: 'bool',
  speechConfig: 'any',
  thinkingConfig: { includeThoughts: 'bool', thinkingBudget: 'int', thinkingLevel: 'string' },
  imageConfig: 'any',
  mediaResolution: 'string',
};

export const GENERATE_CONTENT_REQUEST: Message = {
  model: 'string',
  contents: list(CONTENT),
  tools: list('any'),
  toolConfig: 'any',
  safetySettings: list({ category: 'string', threshold: 'string' }),
  systemInstruction: CONTENT,
  generationConfig: GENERATION_CONFIG,
  cachedContent: 'string',
  // Sent by @google/genai 2.x to the Developer API when set (generateContentConfigToMldev).
  serviceTier: 'string',
  store: 'bool',
};

export const COUNT_TOKENS_REQUEST: Message = {
  contents: list(CONTENT),
  generateContentRequest: GENERATE_CONTENT_REQUEST,
};

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

const PROTO_TYPE: Record<Exclude<Prim, 'any'>, string> = {
  string: 'TYPE_STRING',
  int: 'TYPE_INT32',
  number: 'TYPE_FLOAT',
  bool: 'TYPE_BOOL',
};

/**
 * Checks a JSON value against a message, as Google's transcoder does before the service sees it,
 * and returns the value with every field name in lowerCamel form.
 */
export function decode(value: unknown, message: Message, at = ''): { value: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  const out = walk(value, message, at, problems);
  return { value: out, problems };
}

type Problem = { field?: string; description: string };

function walk(value: unknown, field: Field, at: string, problems: Problem[]): unknown {
  if (typeof field === 'function') return walk(value, field(), at, problems);
  if (field === 'any') return value;
  if (typeof field === 'string') {
    const ok =
      field === 'string'
        ? typeof value === 'string'
        : field === 'bool'
          ? typeof value === 'boolean'
          : field === 'int'
            ? (typeof value === 'number' && Number.isInteger(value)) ||
              (typeof value === 'string' && /^-?\d+$/.test(value))
            : typeof value === 'number' || value === 'NaN' || value === 'Infinity';
    if (!ok) {
      const description = `Invalid value at '${at}' (${PROTO_TYPE[field]}), ${JSON.stringify(value)}`;
      problems.push({ field: at, description });
    }
    return field === 'int' && typeof value === 'string' ? Number(value) : value;
  }
  if ('list' in field) {
    if (!Array.isArray(value)) {
      if (value !== null && typeof value === 'object' && typeof field.list !== 'string') {
        // A single message where a list is declared: the transcoder accepts it as a one-item list.
        return [walk(value, field.list, `${at}[0]`, problems)];
      }
      problems.push({ field: at, description: `Invalid value at '${at}', ${JSON.stringify(value)}` });
      return value;
    }
    return value.map((v, i) => walk(v, field.list, `${at}[${i}]`, problems));
  }
  if ('map' in field && typeof field.map !== 'string' && Object.keys(field).length === 1) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ field: at, description: `Invalid value at '${at}', ${JSON.stringify(value)}` });
      return value;
    }
    return Object.fromEntries(
      Object.entries(value).map(([k, v], i) => [k, walk(v, field.map, `${at}[${i}].value`, problems)]),
    );
  }
  return walkMessage(value, field as Message, at, problems);
}

function walkMessage(value: unknown, message: Message, at: string, problems: Problem[]): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    const description = at
      ? `Invalid value at '${at}', ${JSON.stringify(value)?.slice(0, 80)}`
      : 'Invalid JSON payload received. Expected an object.';
    problems.push({ ...(at ? { field: at } : {}), description });
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) {
    const key = name in message ? name : camel(name);
    const sub = message[key];
    const where = `${at ? `${at}.` : ''}${snake(key)}`;
    if (sub === undefined) {
      const description = `Invalid JSON payload received. Unknown name ${JSON.stringify(name)}${at ? ` at '${at}'` : ''}: Cannot find field.`;
      problems.push({ ...(at ? { field: at } : {}), description });
      continue;
    }
    const repeated = typeof sub === 'object' && 'list' in sub;
    if (Array.isArray(v) && sub !== 'any' && !repeated) {
      const description = `Invalid JSON payload received. Unknown name ${JSON.stringify(name)}${at ? ` at '${at}'` : ''}: Proto field is not repeating, cannot start list.`;
      problems.push({ ...(at ? { field: at } : {}), description });
      continue;
    }
    out[key] = v === null ? v : walk(v, sub, where, problems);
  }
  return out;
}

const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
const SCHEMA_TYPES = new Set(['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'NULL']);

/** JSON Schema structure is checked by Ajv's meta-schema (draft 2020-12, what `$defs` belongs to). */
const metaAjv = new Ajv2020({ strict: false, validateFormats: false });
const metaAjv7 = new Ajv({ strict: false, validateFormats: false });

/**
 * Rules the API states for `responseJsonSchema` (genai.d.ts quotes them): a JSON Schema object;
 * `enum` only for strings and numbers; a sub-schema with `$ref` has no other properties except
 * `$`-prefixed ones; refs resolve. Keywords outside the supported list are accepted and ignored,
 * so the model may break them (the client must validate replies itself).
 */
export function jsonSchemaProblems(schema: unknown): string[] {
  const at = 'GenerateContentRequest.generation_config.response_json_schema';
  if (!schema || typeof schema !== 'object' || Array.isArray(schema))
    return [`* ${at}: must be a JSON object`];
  const problems: string[] = [];
  const meta = String((schema as { $schema?: unknown }).$schema ?? '').includes('draft-07')
    ? metaAjv7
    : metaAjv;
  if (!meta.validateSchema(schema)) {
    for (const e of meta.errors ?? [])
      problems.push(`* ${at}${e.instancePath.replace(/\//g, '.')}: ${e.message ?? 'invalid'}`);
    return problems;
  }
  const root = schema as Record<string, unknown>;
  const visit = (s: unknown, path: string): void => {
    if (!s || typeof s !== 'object' || Array.isArray(s)) return;
    const node = s as Record<string, unknown>;
    if (typeof node.$ref === 'string') {
      const others = Object.keys(node).filter((k) => !k.startsWith('$'));
      if (others.length)
        problems.push(
          `* ${at}${path}: when $ref is set, no other properties may be set (${others.join(', ')})`,
        );
      if (!resolves(root, node.$ref)) problems.push(`* ${at}${path}.$ref: cannot resolve ${node.$ref}`);
    }
    for (const t of [node.type].flat())
      if (t !== undefined && !JSON_TYPES.has(String(t)))
        problems.push(`* ${at}${path}.type: unknown type ${JSON.stringify(t)}`);
    if (Array.isArray(node.enum) && node.enum.some((v) => typeof v !== 'string' && typeof v !== 'number'))
      problems.push(`* ${at}${path}.enum: only strings and numbers are supported`);
    for (const k of ['properties', '$defs', 'patternProperties'])
      if (node[k] && typeof node[k] === 'object')
        for (const [name, sub] of Object.entries(node[k] as object)) visit(sub, `${path}.${k}.${name}`);
    for (const k of ['items', 'additionalProperties', 'not']) visit(node[k], `${path}.${k}`);
    for (const k of ['anyOf', 'oneOf', 'allOf', 'prefixItems'])
      if (Array.isArray(node[k]))
        (node[k] as unknown[]).forEach((sub, i) => visit(sub, `${path}.${k}[${i}]`));
  };
  visit(schema, '');
  return problems;
}

function resolves(root: Record<string, unknown>, ref: string): boolean {
  if (!ref.startsWith('#')) return false;
  let node: unknown = root;
  for (const seg of ref.slice(1).split('/').filter(Boolean)) {
    if (!node || typeof node !== 'object') return false;
    node = (node as Record<string, unknown>)[decodeURIComponent(seg).replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node !== undefined;
}

/** `responseSchema` is a proto: its shape was checked by decode(); here its values. */
export function protoSchemaProblems(schema: unknown, at = 'generation_config.response_schema'): string[] {
  if (!schema || typeof schema !== 'object') return [];
  const s = schema as Record<string, unknown>;
  const problems: string[] = [];
  if (s.type !== undefined && !SCHEMA_TYPES.has(String(s.type).toUpperCase()))
    problems.push(
      `Invalid value at '${at}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), ${JSON.stringify(s.type)}`,
    );
  const props = (s.properties ?? {}) as Record<string, unknown>;
  if (String(s.type).toUpperCase() === 'OBJECT' && s.properties !== undefined && !Object.keys(props).length)
    problems.push(`* GenerateContentRequest.${at}.properties: should be non-empty for OBJECT type`);
  for (const r of (s.required as string[] | undefined) ?? [])
    if (!(r in props))
      problems.push(`* GenerateContentRequest.${at}.required: property "${r}" is not defined`);
  Object.values(props).forEach((v, i) =>
    problems.push(...protoSchemaProblems(v, `${at}.properties[${i}].value`)),
  );
  if (s.items) problems.push(...protoSchemaProblems(s.items, `${at}.items`));
  return problems;
}

const MODALITY_COUNT = {
  type: 'object',
  additionalProperties: false,
  required: ['modality', 'tokenCount'],
  properties: {
    modality: { enum: ['TEXT', 'IMAGE', 'VIDEO', 'AUDIO', 'DOCUMENT'] },
    tokenCount: { type: 'integer', minimum: 1 },
  },
};
const COUNT = { type: 'integer', minimum: 1 };

/** GenerateContentResponse as the REST reference defines it; the fake checks every reply it sends. */
export const GENERATE_CONTENT_RESPONSE = {
  type: 'object',
  additionalProperties: false,
  required: ['usageMetadata', 'modelVersion', 'responseId'],
  properties: {
    candidates: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['index'],
        properties: {
          content: {
            type: 'object',
            additionalProperties: false,
            required: ['role'],
            properties: {
              role: { const: 'model' },
              parts: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    text: { type: 'string' },
                    thought: { const: true },
                    thoughtSignature: { type: 'string' },
                    functionCall: { type: 'object' },
                  },
                },
              },
            },
          },
          // Enums grow (the client must cope with values it does not know): any enum-shaped name.
          finishReason: { type: 'string', pattern: '^[A-Z][A-Z_]*$' },
          safetyRatings: { type: 'array' },
          citationMetadata: { type: 'object' },
          tokenCount: { type: 'integer' },
          avgLogprobs: { type: 'number' },
          finishMessage: { type: 'string' },
          index: { type: 'integer', minimum: 0 },
        },
      },
    },
    promptFeedback: {
      type: 'object',
      additionalProperties: false,
      properties: {
        blockReason: { type: 'string', pattern: '^[A-Z][A-Z_]*$' },
        safetyRatings: { type: 'array' },
      },
    },
    usageMetadata: {
      type: 'object',
      additionalProperties: false,
      required: ['promptTokenCount', 'totalTokenCount', 'promptTokensDetails'],
      properties: {
        promptTokenCount: COUNT,
        cachedContentTokenCount: COUNT,
        candidatesTokenCount: COUNT,
        toolUsePromptTokenCount: COUNT,
        thoughtsTokenCount: COUNT,
        totalTokenCount: COUNT,
        promptTokensDetails: { type: 'array', items: MODALITY_COUNT },
        cacheTokensDetails: { type: 'array', items: MODALITY_COUNT },
        candidatesTokensDetails: { type: 'array', items: MODALITY_COUNT },
        toolUsePromptTokensDetails: { type: 'array', items: MODALITY_COUNT },
      },
    },
    modelVersion: { type: 'string' },
    responseId: { type: 'string' },
  },
};

const responseAjv = new Ajv2020({ allErrors: true, strict: true });
const validateResponse = responseAjv.compile(GENERATE_CONTENT_RESPONSE);

/** Problems with a generateContent reply body; empty when the real API could have sent it. */
export function responseProblems(body: unknown): string[] {
  const problems = validateResponse(body)
    ? []
    : (validateResponse.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`.trim());
  const u = (body as { usageMetadata?: Record<string, number> } | undefined)?.usageMetadata;
  if (u) {
    // Google sends a zero count by leaving it out; the total is the sum of the parts.
    const sum =
      (u.promptTokenCount ?? 0) +
      (u.candidatesTokenCount ?? 0) +
      (u.thoughtsTokenCount ?? 0) +
      (u.toolUsePromptTokenCount ?? 0);
    if (u.totalTokenCount !== sum)
      problems.push(`/usageMetadata totalTokenCount ${u.totalTokenCount} != ${sum}`);
  }
  return problems;
}
