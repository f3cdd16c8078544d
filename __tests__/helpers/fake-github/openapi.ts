/**
 * Request validation against GitHub's official OpenAPI description (@octokit/openapi):
 * the route must exist for the method, path and query parameters must match their schemas,
 * and a JSON body must satisfy the operation's requestBody schema. What GitHub would reject
 * with 404/422, the fake rejects too.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const require = createRequire(import.meta.url);

type Json = Record<string, unknown>;
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Json;
}
export interface Operation {
  operationId: string;
  method: string;
  template: string;
  regex: RegExp;
  pathNames: string[];
  parameters: Parameter[];
  body?: { required: boolean; schema?: Json; mediaTypes: string[] };
  /** Documented responses by status ('200', '4XX', 'default'): the JSON body's schema, or null for none. */
  responses: Record<string, Json | null>;
  /** The description's own examples of JSON response bodies (recorded from GitHub), by status. */
  examples: { status: number; name: string; value: unknown }[];
}

export interface MatchedRequest {
  op: Operation;
  params: Record<string, string>;
}

export class ValidationError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: unknown[] = [],
  ) {
    super(message);
  }
}

const cached = new Map<string, OpenApi>();

/** OpenAPI 3.0's `nullable: true` is not JSON Schema: turn it into a null type alternative. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json))
    out[k] = k === 'example' || k === 'examples' ? undefined : toJsonSchema(v);
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
    } else return { anyOf: [out, { type: 'null' }] };
  } else delete out.nullable;
  return out;
}

export class OpenApi {
  private readonly spec: Json;
  private readonly operations: Operation[] = [];
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();

  /** A description from @octokit/openapi: `api.github.com` (default) or a GHES one such as `ghes-3.19`. */
  static load(description = 'api.github.com'): OpenApi {
    let api = cached.get(description);
    if (!api) {
      const file = require.resolve(`@octokit/openapi/generated/${description}.json`);
      api = new OpenApi(JSON.parse(readFileSync(file, 'utf8')) as Json);
      cached.set(description, api);
    }
    return api;
  }

  private constructor(spec: Json) {
    this.spec = spec;
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    // GitHub's own format for `owner/name` (pull requests' head_repo); unknown, ajv warns on stderr.
    this.ajv.addFormat('repo.nwo', /^[^/\s]+\/[^/\s]+$/);
    // Components are one schema so that `#/components/...` refs resolve inside ajv.
    this.ajv.addSchema({ $id: 'gh', components: toJsonSchema(spec.components ?? {}) as Json });
    const paths = spec.paths as Record<string, Record<string, Json>>;
    for (const [template, item] of Object.entries(paths)) {
      const shared = (item.parameters as unknown as Parameter[] | undefined) ?? [];
      for (const [method, raw] of Object.entries(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete', 'head'].includes(method)) continue;
        const pathNames: string[] = [];
        // Static segments are literal; `{name}` matches one segment.
        const pattern = template
          .split('/')
          .map((seg) =>
            seg.replace(/\{([^}]+)\}|([^{]+)/g, (_m, name: string | undefined, lit: string | undefined) => {
              if (name) {
                pathNames.push(name);
                return '([^/]+)';
              }
              return lit!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            }),
          )
          .join('/');
        const parameters = [...shared, ...((raw.parameters as Parameter[] | undefined) ?? [])].map((p) =>
          this.deref<Parameter>(p),
        );
        const requestBody = raw.requestBody ? this.deref<Json>(raw.requestBody as Json) : undefined;
        const content = (requestBody?.content ?? {}) as Record<string, { schema?: Json }>;
        const responses: Record<string, Json | null> = {};
        const examples: Operation['examples'] = [];
        for (const [status, r] of Object.entries((raw.responses ?? {}) as Record<string, Json>)) {
          const res = this.deref<Json>(r);
          const json = (res.content as Record<string, { schema?: Json; examples?: Json }> | undefined)?.[
            'application/json'
          ];
          responses[status] = json?.schema ?? null;
          for (const [name, ex] of Object.entries(json?.examples ?? {})) {
            const value = this.deref<Json>(ex).value as Json | undefined;
            // An example's value may itself point at a shared example (`{ value: ... }`).
            const shared = typeof value?.$ref === 'string' ? this.deref<Json>(value).value : value;
            examples.push({ status: Number(status), name, value: shared });
          }
        }
        this.operations.push({
          operationId: raw.operationId as string,
          method: method.toUpperCase(),
          template,
          regex: new RegExp(`^${pattern}$`),
          pathNames,
          parameters,
          responses,
          examples,
          body: requestBody
            ? {
                required: requestBody.required === true,
                schema: content['application/json']?.schema,
                mediaTypes: Object.keys(content),
              }
            : undefined,
        });
      }
    }
    // Literal segments beat parameters: `/repos/{o}/{r}/pulls/comments` must not match `/pulls/{pull_number}`.
    const weight = (t: string): number => t.split('/').filter((s) => s.startsWith('{')).length;
    this.operations.sort((a, b) => weight(a.template) - weight(b.template));
  }

  private deref<T>(node: unknown): T {
    let current = node as Json;
    while (current && typeof current.$ref === 'string') {
      const path = (current.$ref as string).replace(/^#\//, '').split('/');
      current = path.reduce<Json>((acc, key) => acc[key] as Json, this.spec);
    }
    return current as T;
  }

  operation(operationId: string): Operation | undefined {
    return this.operations.find((o) => o.operationId === operationId);
  }

  match(method: string, pathname: string): MatchedRequest {
    let methodMismatch = false;
    for (const op of this.operations) {
      const m = op.regex.exec(pathname);
      if (!m) continue;
      if (op.method !== method && !(method === 'HEAD' && op.method === 'GET')) {
        methodMismatch = true;
        continue;
      }
      const params: Record<string, string> = {};
      op.pathNames.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
      return { op, params };
    }
    throw new ValidationError(
      methodMismatch ? 405 : 404,
      methodMismatch
        ? `${method} is not allowed on ${pathname}`
        : `Not Found: no route for ${method} ${pathname}`,
    );
  }

  private compile(key: string, schema: Json): ValidateFunction {
    let fn = this.validators.get(key);
    if (!fn) {
      // Rewrite refs to the shared components schema registered as `gh`.
      const rewritten = JSON.parse(
        JSON.stringify(toJsonSchema(schema)).replace(/"#\/components\//g, '"gh#/components/'),
      ) as Json;
      fn = this.ajv.compile(rewritten);
      this.validators.set(key, fn);
    }
    return fn;
  }

  private coerce(value: string, schema: Json | undefined): unknown {
    const type = schema?.type;
    if (type === 'integer' || type === 'number') return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    if (type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
    if (type === 'array') return value.split(',');
    return value;
  }

  /**
   * What is wrong with a response the fake is about to send, measured against the operation's
   * documented response (empty when nothing). An undocumented 2xx is wrong; an undocumented error
   * status (a 500, 502, 401 the description does not list) is held to GitHub's error shape.
   */
  checkResponse(op: Operation, status: number, body: unknown): string[] {
    const where = `${op.operationId} ${status}`;
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in op.responses);
    const empty = body === undefined || body === '';
    if (status === 204 || status === 304) return empty ? [] : [`${where}: a ${status} has no body`];
    const problems: string[] = [];
    if (status >= 400) {
      const b = body as { message?: unknown; documentation_url?: unknown } | undefined;
      if (typeof b?.message !== 'string' || typeof b.documentation_url !== 'string')
        problems.push(`${where}: GitHub's errors carry 'message' and 'documentation_url'`);
    }
    if (key === undefined) {
      return status < 300 ? [`${where}: status not documented for this operation`] : problems;
    }
    const schema = op.responses[key];
    if (schema === null) return empty ? problems : [...problems, `${where}: documented without a body`];
    if (typeof body === 'string') return problems; // diff/patch media types
    const fn = this.compile(`${op.operationId}:response:${key}`, schema!);
    if (!fn(body)) {
      const errs = (fn.errors ?? []).slice(0, 8).map((e) => `${e.instancePath || '/'} ${e.message}`);
      problems.push(`${where}: ${errs.join('; ')}${(fn.errors?.length ?? 0) > 8 ? '; …' : ''}`);
    }
    return problems;
  }

  /** Throws ValidationError (404/422/415) for what GitHub would reject. */
  validate(
    matched: MatchedRequest,
    query: URLSearchParams,
    contentType: string | undefined,
    body: unknown,
    rawBody: string,
  ): void {
    const { op, params } = matched;
    const problems: string[] = [];
    for (const p of op.parameters) {
      if (p.in !== 'path' && p.in !== 'query') continue;
      const raw = p.in === 'path' ? params[p.name] : (query.get(p.name) ?? undefined);
      if (raw === undefined) {
        if (p.required) problems.push(`missing required ${p.in} parameter '${p.name}'`);
        continue;
      }
      if (!p.schema) continue;
      const fn = this.compile(`${op.operationId}:${p.in}:${p.name}`, p.schema);
      if (!fn(this.coerce(raw, p.schema))) {
        problems.push(`${p.in} parameter '${p.name}'='${raw}': ${this.ajv.errorsText(fn.errors)}`);
      }
    }
    const known = new Set(op.parameters.filter((p) => p.in === 'query').map((p) => p.name));
    for (const name of query.keys()) {
      if (!known.has(name)) problems.push(`unknown query parameter '${name}' for ${op.operationId}`);
    }
    if (problems.length)
      throw new ValidationError(op.method === 'GET' ? 422 : 422, problems.join('; '), problems);

    if (!op.body) {
      if (rawBody.trim() !== '' && !['GET', 'HEAD', 'DELETE'].includes(op.method)) {
        // GitHub ignores bodies on operations without one; nothing to check.
      }
      return;
    }
    if (rawBody.trim() === '') {
      if (op.body.required) throw new ValidationError(422, `${op.operationId}: request body is required`);
      return;
    }
    if (op.body.schema) {
      if (contentType && !/json/.test(contentType)) {
        throw new ValidationError(415, `${op.operationId}: expected a JSON body, got ${contentType}`);
      }
      if (body === undefined) throw new ValidationError(400, 'Problems parsing JSON');
      const fn = this.compile(`${op.operationId}:body`, op.body.schema);
      if (!fn(body)) {
        throw new ValidationError(
          422,
          `Invalid request for ${op.operationId}: ${this.ajv.errorsText(fn.errors, { dataVar: 'body' })}`,
          fn.errors ?? [],
        );
      }
    }
  }
}
