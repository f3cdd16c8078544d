/**
 * A pass-through in front of the GitHub API for the relay: every request goes on unchanged to
 * GitHub (or the local fake), and each repository_dispatch that GitHub accepted is kept, exactly
 * as sent, so the loop can hand that payload to alert-to-issue as the runner would. GitHub offers
 * no API to read a dispatch back, so this is how the demo sees it, with the real API too.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface TappedDispatch {
  repository: string;
  event_type: string;
  client_payload: Record<string, unknown>;
  /** GitHub's status for it (204 when accepted). */
  status: number;
  at: number;
}

export class GitHubTap {
  readonly dispatches: TappedDispatch[] = [];
  private server?: Server;
  private readonly waiters = new Set<() => void>();
  url = '';

  constructor(private readonly upstream: string) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.forward(req).then(
        ({ status, headers, body }) => {
          res.writeHead(status, headers).end(body);
        },
        (err: Error) => {
          res
            .writeHead(502, { 'content-type': 'application/json' })
            .end(JSON.stringify({ message: `tap: ${err.message}` }));
        },
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** The first accepted dispatch, after index `from`, that matches. */
  async waitFor(
    match: (d: TappedDispatch) => boolean,
    opts: { from?: number; timeoutMs: number; describe?: () => string },
  ): Promise<{ dispatch: TappedDispatch; index: number }> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const index = this.dispatches.findIndex((d, i) => i >= (opts.from ?? 0) && d.status < 300 && match(d));
      if (index >= 0) return { dispatch: this.dispatches[index]!, index };
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching repository_dispatch within ${opts.timeoutMs} ms${opts.describe ? `\n${opts.describe()}` : ''}`,
        );
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 1000));
        this.waiters.add(wake);
      });
    }
  }

  private async forward(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (
        v === undefined ||
        ['host', 'connection', 'content-length', 'keep-alive', 'transfer-encoding'].includes(k)
      )
        continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const target = new URL(req.url ?? '/', 'http://tap');
    const base = this.upstream.replace(/\/+$/, '');
    const res = await fetch(`${base}${target.pathname}${target.search}`, {
      method: req.method,
      headers,
      body: body.length ? body : undefined,
      signal: AbortSignal.timeout(30_000),
    });
    const answer = Buffer.from(await res.arrayBuffer());
    const dispatch = /^\/repos\/([^/]+)\/([^/]+)\/dispatches$/.exec(target.pathname);
    if (dispatch && req.method === 'POST') {
      try {
        const sent = JSON.parse(body.toString('utf8')) as {
          event_type: string;
          client_payload?: Record<string, unknown>;
        };
        this.dispatches.push({
          repository: `${decodeURIComponent(dispatch[1]!)}/${decodeURIComponent(dispatch[2]!)}`,
          event_type: sent.event_type,
          client_payload: sent.client_payload ?? {},
          status: res.status,
          at: Date.now(),
        });
        for (const wake of [...this.waiters]) wake();
      } catch {
        /* not JSON: GitHub rejected it, nothing to keep */
      }
    }
    const out: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      // fetch already decoded the body.
      if (!['content-encoding', 'content-length', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
    });
    return { status: res.status, headers: out, body: answer };
  }
}
