/**
 * The GitHub Actions cache service as @actions/cache speaks to it over ACTIONS_CACHE_URL (the v1
 * REST protocol GHES and act serve): look up by key and version, reserve, upload in ranged chunks,
 * commit, download. It refuses what the service refuses: a missing or wrong bearer token (401), a
 * second reservation of the same key and version (409), a commit whose size is not what was
 * uploaded (400), an entry not committed yet (a miss).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Entry {
  key: string;
  version: string;
  chunks: Map<number, Buffer>;
  committed?: Buffer;
}

export class FakeActionsCache {
  readonly token = 'fake-actions-runtime-token';
  readonly entries: Entry[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }

  /** The environment a runner with the cache service gives a step. */
  env(): Record<string, string> {
    return { ACTIONS_CACHE_URL: this.url, ACTIONS_RUNTIME_TOKEN: this.token };
  }

  /** Committed entries' keys, in the order they were saved. */
  keys(): string[] {
    return this.entries.filter((e) => e.committed).map((e) => e.key);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await new Promise<Buffer>((r) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c)).on('end', () => r(Buffer.concat(parts)));
    });
    const url = new URL(req.url ?? '/', this.url);
    const json = (status: number, value?: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(value && JSON.stringify(value));
    };
    const archive = /^\/archive\/(\d+)$/.exec(url.pathname);
    if (archive && req.method === 'GET') {
      const data = this.entries[Number(archive[1])]?.committed;
      if (!data) return json(404);
      res.writeHead(200, { 'content-length': data.length }).end(data);
      return;
    }
    if (req.headers.authorization !== `Bearer ${this.token}`) return json(401, { message: 'Unauthorized' });
    const api = url.pathname.replace(/^\/_apis\/artifactcache\//, '');
    if (api === 'cache' && req.method === 'GET') return this.lookup(url, json);
    if (api === 'caches' && req.method === 'POST') {
      const { key, version } = JSON.parse(body.toString()) as { key: string; version: string };
      if (this.entries.some((e) => e.key === key && e.version === version)) {
        return json(409, { message: `Cache already exists. Scope: refs/heads/main, Key: ${key}` });
      }
      this.entries.push({ key, version, chunks: new Map() });
      // Ids start at 1, as the service's do (@actions/cache takes 0 for no id).
      return json(201, { cacheId: this.entries.length });
    }
    const id = /^caches\/(\d+)$/.exec(api)?.[1];
    const entry = id === undefined ? undefined : this.entries[Number(id) - 1];
    if (!entry || entry.committed) return json(404, { message: 'no such cache reservation' });
    if (req.method === 'PATCH') {
      const start = /^bytes (\d+)-(\d+)\/\*$/.exec(req.headers['content-range'] ?? '');
      if (!start) return json(400, { message: 'Content-Range required' });
      entry.chunks.set(Number(start[1]), body);
      return json(204);
    }
    if (req.method === 'POST') {
      const { size } = JSON.parse(body.toString()) as { size: number };
      const data = Buffer.concat([...entry.chunks.entries()].sort(([a], [b]) => a - b).map(([, c]) => c));
      if (data.length !== size) return json(400, { message: `size ${size} != uploaded ${data.length}` });
      entry.committed = data;
      return json(204);
    }
    json(405);
  }

  private lookup(url: URL, json: (status: number, value?: unknown) => void): void {
    const keys = (url.searchParams.get('keys') ?? '').split(',');
    const version = url.searchParams.get('version');
    const done = this.entries.filter((e) => e.committed && e.version === version);
    // The first key matches exactly; later ones (restore-keys) by prefix, newest first.
    for (const [i, key] of keys.entries()) {
      const hit = [...done].reverse().find((e) => (i === 0 ? e.key === key : e.key.startsWith(key)));
      if (hit) {
        const at = this.entries.indexOf(hit);
        return json(200, {
          cacheKey: hit.key,
          scope: 'refs/heads/main',
          archiveLocation: `${this.url}archive/${at}`,
        });
      }
    }
    json(204);
  }
}
