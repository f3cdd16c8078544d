/**
 * A local GitHub REST fake. Every request is checked against the official OpenAPI description
 * (see openapi.ts) and must carry a token the fake knows; then a handler keyed by operationId
 * answers from in-memory state shaped like GitHub's. An operation with no handler answers 501,
 * so a test never passes on a call the fake does not model.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { OpenApi, ValidationError, type Operation } from './openapi.js';
import { State, type RepoState } from './state.js';
import { registerDefaultHandlers } from './handlers.js';
import { basicError, validationFailed, type FieldError } from './resources.js';

export interface RecordedRequest {
  method: string;
  path: string;
  operationId: string;
  query: Record<string, string>;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
  /** The answer's status; 0 when the connection was closed without one (`failAfterWrite({ drop })`). */
  status: number;
}

export interface HandlerContext {
  params: Record<string, string>;
  query: URLSearchParams;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: IncomingMessage['headers'];
  login: string;
  state: State;
  baseUrl: string;
  op: Operation;
  url: URL;
}

export interface HandlerResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (ctx: HandlerContext) => HandlerResult | Promise<HandlerResult>;

export interface Fault {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests to fail; default 1. */
  times?: number;
  /** Only requests with this operationId; default any. */
  operationId?: string;
  /**
   * Let the handler do the write first, then answer with the fault (or, `drop`, close the
   * connection with no answer): the write GitHub commits while the client sees a failure.
   */
  afterWrite?: boolean;
  /** With `afterWrite`: no answer at all, the connection closes (`status` is then only recorded). */
  drop?: boolean;
}

/** Which requests a fault hits: `times` of them (default 1), of one operation (default any). */
export interface FaultScope {
  times?: number;
  operationId?: string;
}

/** The newest GHES release @octokit/openapi describes. */
const GHES_DEFAULT = 'ghes-3.19';

/** The server errors GitHub answers during incidents. */
export type ServerErrorStatus = 500 | 502 | 503 | 504;

/** The body GitHub sends with each (its headers are the fake's usual ones, request id included). */
function serverErrorBody(status: ServerErrorStatus): Record<string, unknown> {
  const message = {
    500: 'Internal Server Error',
    502: 'Server Error',
    503: 'Service Unavailable',
    504: "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
  }[status];
  return basicError(status, message);
}

const RATE_DOCS = 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api';

export interface FakeGitHubOptions {
  /**
   * Serve as GitHub Enterprise Server does: the API under `/api/v3` of the host (GITHUB_API_URL
   * `http://host/api/v3`, GITHUB_SERVER_URL `http://host`), checked against that release's
   * description (`ghes-3.19`).
   */
  ghes?: boolean | string;
  /** Repositories that exist (`owner/name`); any other answers 404 as on GitHub. More: `createRepo`. */
  repos?: string[];
}

/** What a token may do, as an installation token (GITHUB_TOKEN) is limited to its repositories. */
export interface Grant {
  /** The only repositories it may use (`owner/name`); default all. */
  repos?: string[];
  /** May it write (`contents`/`issues`/`pull-requests: write`)? Default true. */
  write?: boolean;
  /**
   * Permissions it has none of, as a job's `permissions:` leaves them (`pull-requests` absent
   * from the list): their operations are refused, reads too unless the repository is public.
   */
  none?: Permission[];
}

export type Permission = 'contents' | 'issues' | 'pull-requests';

/** The permission an operation needs, from its operationId (GitHub's "permissions for GitHub Apps"). */
function permissionOf(operationId: string): Permission | undefined {
  if (operationId.startsWith('pulls/')) return 'pull-requests';
  if (operationId.startsWith('issues/')) return 'issues';
  if (
    operationId.startsWith('git/') ||
    /^repos\/(.*-commits?|.*-content|.*-contents|.*-branch(es)?)$/.test(operationId)
  )
    return 'contents';
  return undefined;
}

export class FakeGitHub {
  readonly state = new State();
  readonly requests: RecordedRequest[] = [];
  /** Tokens accepted, with the login each authenticates as. */
  readonly tokens = new Map<string, string>([['ghs_test_token', 'github-actions[bot]']]);
  /** Limits of a token, if any (see `grant`). */
  readonly grants = new Map<string, Grant>();
  private readonly handlers = new Map<string, Handler>();
  private readonly faults: Fault[] = [];
  private readonly api: OpenApi;
  /** The API's path under the host: '' on github.com, '/api/v3' on GHES. */
  private readonly prefix: string;
  /** The web root (GITHUB_SERVER_URL): github.com, or the GHES host. */
  serverUrl = 'https://github.com';
  /** Responses that broke GitHub's OpenAPI description; `stop()` throws when there are any. */
  readonly violations: string[] = [];
  private server?: Server;
  url = '';

  constructor(options: FakeGitHubOptions = {}) {
    const ghes = options.ghes === true ? GHES_DEFAULT : options.ghes || undefined;
    this.api = OpenApi.load(ghes ?? 'api.github.com');
    this.prefix = ghes ? '/api/v3' : '';
    registerDefaultHandlers(this);
    for (const repo of options.repos ?? []) this.createRepo(repo);
  }

  /** Adds a token that authenticates as `login`, limited as `grant` says. */
  grant(token: string, login: string, grant: Grant = {}): this {
    this.tokens.set(token, login);
    this.grants.set(token, grant);
    return this;
  }

  /**
   * GitHub's answer when a token may not do this (undefined when it may): a repository outside an
   * installation token's list is 404 when private (its existence is not disclosed) and read-only
   * when public; a write without write permission is 403.
   */
  private refusal(
    token: string,
    params: Record<string, string>,
    method: string,
    operationId: string,
  ): HandlerResult | undefined {
    const grant = this.grants.get(token);
    if (!grant || params.owner === undefined || params.repo === undefined) return undefined;
    const repo = this.state.repo(params.owner, params.repo);
    const listed =
      !grant.repos ||
      grant.repos.some((r) => r.toLowerCase() === `${params.owner}/${params.repo}`.toLowerCase());
    const reading = method === 'GET' || method === 'HEAD';
    if (!listed && (!repo || repo.private)) return { status: 404, body: basicError(404, 'Not Found') };
    if ((!listed || grant.write === false) && !reading)
      return { status: 403, body: basicError(403, 'Resource not accessible by integration') };
    // Without the permission only what anyone may read is readable: a public repository's.
    const needs = permissionOf(operationId);
    if (needs && grant.none?.includes(needs) && (!reading || !repo || repo.private))
      return { status: 403, body: basicError(403, 'Resource not accessible by integration') };
    return undefined;
  }

  /** Creates a repository (`owner/name`), or returns it if it exists. */
  createRepo(fullName: string, options: { private?: boolean; defaultBranch?: string } = {}): RepoState {
    const [owner, name] = fullName.split('/') as [string, string];
    const repo = this.state.addRepo(owner, name);
    if (options.private !== undefined) repo.private = options.private;
    if (options.defaultBranch) repo.default_branch = options.defaultBranch;
    return repo;
  }

  /** Registers or replaces the handler of one operationId (which must exist in the OpenAPI description). */
  on(operationId: string, handler: Handler): this {
    if (!this.api.operation(operationId))
      throw new Error(`no operation '${operationId}' in GitHub's OpenAPI`);
    this.handlers.set(operationId, handler);
    return this;
  }

  /**
   * Issue create drops its labels, as GitHub does silently for a token without push access
   * ("Only users with push access can set labels for new issues").
   */
  dropLabelsOnCreate = false;
  /** Read-after-write lag: an issue appears in `GET /issues?labels=` this many ms after it was labelled. */
  listLagMs = 0;

  /** The primary rate limit: 403 with `x-ratelimit-remaining: 0` and the reset `resetIn` s from now. */
  rateLimit({ resetIn = 1, ...scope }: FaultScope & { resetIn?: number } = {}): this {
    const reset = Math.ceil(Date.now() / 1000) + resetIn;
    return this.fail({
      status: 403,
      ...scope,
      body: basicError(403, 'API rate limit exceeded for installation ID 4242.', RATE_DOCS),
      headers: {
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(reset),
        'x-ratelimit-used': '5000',
      },
    });
  }

  /** A secondary rate limit: 403 (or 429) with `retry-after` seconds. */
  secondaryRateLimit({
    status = 403,
    retryAfter = 1,
    ...scope
  }: FaultScope & { status?: 403 | 429; retryAfter?: number } = {}): this {
    return this.fail({
      status,
      ...scope,
      body: basicError(
        status,
        'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
        `${RATE_DOCS}#about-secondary-rate-limits`,
      ),
      headers: { 'retry-after': String(retryAfter) },
    });
  }

  /** A burst of server errors (default 3 × 502), as GitHub has them during incidents. */
  serverErrors({
    status = 502,
    times = 3,
    operationId,
  }: FaultScope & { status?: ServerErrorStatus } = {}): this {
    return this.fail({ status, times, operationId, body: serverErrorBody(status) });
  }

  /**
   * A write that GitHub commits while the client sees a failure: the handler runs (the issue,
   * comment, review or dispatch exists), then the answer is the same 5xx as `serverErrors` sends,
   * or with `drop` the connection closes with no answer, as when GitHub's front end gives up on
   * a backend that goes on to finish. A client that retries blindly writes twice.
   */
  failAfterWrite({
    status = 502,
    times = 1,
    operationId,
    drop = false,
  }: FaultScope & { status?: ServerErrorStatus; drop?: boolean } = {}): this {
    return this.fail({ status, times, operationId, afterWrite: true, drop, body: serverErrorBody(status) });
  }

  /** The operationIds this fake answers. */
  operations(): string[] {
    return [...this.handlers.keys()];
  }

  /** Makes the next matching request(s) fail, e.g. 500, or 403 with rate-limit headers. */
  fail(fault: Fault): this {
    this.faults.push({ times: 1, ...fault });
    return this;
  }

  calls(operationId?: string): RecordedRequest[] {
    return operationId ? this.requests.filter((r) => r.operationId === operationId) : this.requests;
  }

  /** Starts on `port` (default any free one); returns the API URL. */
  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        send(res, 500, basicError(500, `fake-github crashed: ${err.stack ?? err.message}`));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    const host = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    this.url = `${host}${this.prefix}`;
    this.state.apiUrl = this.url;
    if (this.prefix) this.serverUrl = this.state.webUrl = host;
    return this.url;
  }

  /** Stops the server; throws if any response broke the OpenAPI description, failing the test. */
  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
    const sent = this.takeViolations();
    if (sent.length)
      throw new Error(`fake-github sent ${sent.length} response(s) GitHub would not:\n${sent.join('\n')}`);
  }

  /** The violations so far, forgotten (for a self-test that provokes them on purpose). */
  takeViolations(): string[] {
    return this.violations.splice(0);
  }

  /** Environment that points @actions/github at this fake. */
  env(token = 'ghs_test_token'): Record<string, string> {
    const env: Record<string, string> = { GITHUB_API_URL: this.url, GITHUB_TOKEN: token };
    if (this.prefix) {
      env.GITHUB_SERVER_URL = this.serverUrl;
      env.GITHUB_GRAPHQL_URL = `${this.serverUrl}/api/graphql`;
    }
    return env;
  }

  /** One request: read and recorded, authenticated, then routed; every answer checked on its way out. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const inc = await readRequest(req, this.url);
    this.requests.push(inc.record);
    const reply: Reply = ({ status, body, headers }) => {
      inc.record.status = status;
      const problems = inc.op ? this.api.checkResponse(inc.op, status, body) : [];
      for (const p of problems) this.violations.push(`${inc.method} ${inc.url.pathname}: ${p}`);
      send(res, status, body, headers);
    };
    const who = this.authenticate(req);
    if ('status' in who) return reply(who);
    try {
      await this.route(inc, who, reply, res);
    } catch (err) {
      // GitHub's schema rejections carry only the message ("Invalid request. ...").
      if (err instanceof ValidationError)
        return reply({ status: err.status, body: basicError(err.status, err.message) });
      if (err instanceof HttpStatus)
        return reply({ status: err.status, body: err.body ?? basicError(err.status, err.message) });
      throw err;
    }
  }

  /** The token's login, or GitHub's answer to a request without a known token or a User-Agent. */
  private authenticate(req: IncomingMessage): { token: string; login: string } | HandlerResult {
    const auth = req.headers.authorization ?? '';
    const token = /^(?:token|bearer)\s+(.+)$/i.exec(auth)?.[1];
    const login = token ? this.tokens.get(token) : undefined;
    if (!token || !login)
      return { status: 401, body: basicError(401, token ? 'Bad credentials' : 'Requires authentication') };
    if (!req.headers['user-agent'])
      return {
        status: 403,
        body: basicError(
          403,
          'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.',
        ),
      };
    return { token, login };
  }

  /**
   * Matches the operation, validates the request, then answers: a refusal for the token, a fault
   * played before the handler, the handler's answer, or a fault played after its write.
   */
  private async route(
    inc: Incoming,
    who: { token: string; login: string },
    reply: Reply,
    res: ServerResponse,
  ): Promise<void> {
    if (!inc.url.pathname.startsWith(`${this.prefix}/`))
      throw new ValidationError(404, `Not Found: the API is under ${this.prefix}/ on this host`);
    const matched = this.api.match(inc.method, inc.url.pathname.slice(this.prefix.length));
    const { operationId } = matched.op;
    inc.op = matched.op;
    inc.record.operationId = operationId;
    this.api.validate(matched, inc.url.searchParams, inc.contentType, inc.body, inc.rawBody);
    const refused = this.refusal(who.token, matched.params, inc.method, operationId);
    if (refused) return reply(refused);
    const before = this.takeFault(operationId, false);
    if (before) return reply(faultAnswer(before));
    const handler = this.handlers.get(operationId);
    if (!handler) {
      inc.op = undefined; // not GitHub's answer: the fake's own, to make the test fail
      return reply({ status: 501, body: basicError(501, `fake-github has no handler for ${operationId}`) });
    }
    const result = await handler({
      params: matched.params,
      query: inc.url.searchParams,
      body: inc.body,
      headers: inc.headers,
      login: who.login,
      state: this.state,
      baseUrl: this.url,
      op: matched.op,
      url: inc.url,
    });
    // Taken only once the write is done: a request the handler refused wrote nothing to lose.
    const after = this.takeFault(operationId, true);
    if (!after) return reply(result);
    if (!after.drop) return reply(faultAnswer(after));
    inc.record.status = 0;
    res.destroy();
  }

  /** The first fault for this operation that plays before (or after) the handler, counted down. */
  private takeFault(operationId: string, afterWrite: boolean): Fault | undefined {
    const at = this.faults.findIndex(
      (f) => (!f.operationId || f.operationId === operationId) && Boolean(f.afterWrite) === afterWrite,
    );
    const fault = this.faults[at];
    if (fault && --fault.times! <= 0) this.faults.splice(at, 1);
    return fault;
  }
}

type Reply = (answer: HandlerResult) => void;

/** A request as read off the wire, with the record that `requests` keeps of it. */
interface Incoming {
  url: URL;
  method: string;
  headers: IncomingMessage['headers'];
  contentType: string | undefined;
  body: unknown;
  rawBody: string;
  record: RecordedRequest;
  /** The operation once matched: its answers are checked against the description. */
  op?: Operation;
}

async function readRequest(req: IncomingMessage, apiUrl: string): Promise<Incoming> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const rawBody = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url ?? '/', apiUrl);
  const method = (req.method ?? 'GET').toUpperCase();
  let body: unknown;
  if (rawBody.trim() !== '') {
    try {
      body = JSON.parse(rawBody);
    } catch {
      body = undefined;
    }
  }
  const record: RecordedRequest = {
    method,
    path: url.pathname,
    operationId: '',
    query: Object.fromEntries(url.searchParams),
    body: body ?? (rawBody === '' ? undefined : rawBody),
    headers: req.headers,
    status: 0,
  };
  const contentType = req.headers['content-type'];
  return { url, method, headers: req.headers, contentType, body, rawBody, record };
}

/** A fault's answer: a test's error body gets the fields GitHub always sends (documentation_url, status). */
function faultAnswer(fault: Fault): HandlerResult {
  const injected = basicError(fault.status, `injected ${fault.status}`);
  const body =
    fault.body && typeof fault.body === 'object' ? { ...injected, ...fault.body } : (fault.body ?? injected);
  return { status: fault.status, body, headers: fault.headers };
}

/** Thrown by handlers for GitHub's own errors (404 Not Found, 422 Validation Failed…). */
export class HttpStatus extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The error body, when more than `{message, documentation_url, status}` (a 422's `errors`). */
    readonly body?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** GitHub's 422 for one or more fields: `{message, errors: [{resource, field, code}], ...}`. */
export function invalid(...errors: FieldError[]): HttpStatus {
  return new HttpStatus(422, 'Validation Failed', validationFailed(errors));
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type':
      typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'x-github-request-id': `FAKE:${Math.random().toString(16).slice(2, 10)}`,
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': '4999',
    'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
    ...headers,
  });
  res.end(status === 204 || status === 304 ? undefined : text);
}

/** GitHub's pagination: `per_page` (max 100) and `page`, with a Link header to the next page. */
export function paginate<T>(items: T[], ctx: HandlerContext): HandlerResult {
  const perPage = Math.min(100, Number(ctx.query.get('per_page') ?? 30));
  const page = Number(ctx.query.get('page') ?? 1);
  const slice = items.slice((page - 1) * perPage, page * perPage);
  const headers: Record<string, string> = {};
  const links: string[] = [];
  if (page * perPage < items.length) {
    const next = new URL(ctx.url);
    next.searchParams.set('page', String(page + 1));
    next.searchParams.set('per_page', String(perPage));
    links.push(`<${next.toString()}>; rel="next"`);
    const last = new URL(ctx.url);
    last.searchParams.set('page', String(Math.ceil(items.length / perPage)));
    last.searchParams.set('per_page', String(perPage));
    links.push(`<${last.toString()}>; rel="last"`);
  }
  if (links.length) headers.link = links.join(', ');
  return { status: 200, body: slice, headers };
}
