/**
 * The MLflow client's HTTP behaviour where a real server cannot show it: the headers it sends,
 * retries, timeouts, dead servers, error bodies that are not MLflow's, paging, and log-batch splitting.
 * A small local HTTP server stands in for MLflow and records every request.
 */
import { afterAll, afterEach, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOG_BATCH_LIMITS, MlflowClient, MlflowError, splitBatch } from '../actions/shared/mlflow/index.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { freePort } from './helpers/net.js';

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Handler = (req: Recorded, res: ServerResponse) => void;

let srv: Server;
let base: string;
let requests: Recorded[] = [];
let handler: Handler = (_req, res) => json(res, 200, {});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

beforeAll(async () => {
  srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(rec);
      handler(rec, res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
});

afterEach(() => {
  requests = [];
  handler = (_req, res) => json(res, 200, {});
});

const tmpDirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlflow-http-'));
  tmpDirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
  srv.closeAllConnections();
  await new Promise((r) => srv.close(r));
});

const runBody = (runId: string) => ({
  run: {
    info: {
      run_id: runId,
      experiment_id: '1',
      status: 'RUNNING',
      artifact_uri: `mlflow-artifacts:/1/${runId}/artifacts`,
    },
    data: {},
  },
});

describe('auth', () => {
  test('the secrets are masked once, where the settings are resolved', () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      mlflowSettings({ MLFLOW_TRACKING_TOKEN: 'tok-123456' }, 'http://u:pw-in-url@127.0.0.1:1');
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toContain('::add-mask::tok-123456');
    expect(written.join('')).toContain('::add-mask::pw-in-url');
  });

  test('MLFLOW_TRACKING_TOKEN is sent as Bearer on API calls and artifact uploads', async () => {
    handler = (req, res) =>
      req.url.startsWith('/api/2.0/mlflow/runs/get') ? json(res, 200, runBody('r1')) : json(res, 200, {});
    const client = new MlflowClient(
      mlflowSettings({ MLFLOW_TRACKING_URI: base, MLFLOW_TRACKING_TOKEN: 's3cret-token' }),
    );
    await client.tracking.setTag('r1', 'k', 'v');
    const file = join(tmp(), 'a.txt');
    writeFileSync(file, 'hello');
    await client.artifacts.logArtifact('r1', file, 'dir');
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /api/2.0/mlflow/runs/set-tag',
      'GET /api/2.0/mlflow/runs/get?run_id=r1',
      'PUT /api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/dir/a.txt',
    ]);
    for (const r of requests) expect(r.headers.authorization).toBe('Bearer s3cret-token');
    expect(JSON.parse(requests[0]!.body.toString())).toEqual({
      run_id: 'r1',
      run_uuid: 'r1',
      key: 'k',
      value: 'v',
    });
    expect(requests[0]!.headers['content-type']).toBe('application/json');
    expect(requests[2]!.body.toString()).toBe('hello');
    expect(requests[2]!.headers['content-length']).toBe('5');
  });

  test('MLFLOW_TRACKING_USERNAME/PASSWORD are sent as Basic, and win over a token as in MLflow', async () => {
    const client = new MlflowClient(
      mlflowSettings({
        MLFLOW_TRACKING_URI: `${base}/`,
        MLFLOW_TRACKING_USERNAME: 'ci-bot',
        MLFLOW_TRACKING_PASSWORD: 'p@ss:word',
        MLFLOW_TRACKING_TOKEN: 'ignored',
      }),
    );
    await client.registry.setAlias('m', 'champion', '3');
    expect(requests[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from('ci-bot:p@ss:word').toString('base64')}`,
    );
    expect(requests[0]!.url).toBe('/api/2.0/mlflow/registered-models/alias');
    expect(client.trackingUri).toBe(base);
  });

  test('no credentials, no Authorization header; credentials in the URL become Basic and leave messages', async () => {
    await new MlflowClient(mlflowSettings({}, base)).tracking.setTag('r', 'k', 'v');
    expect(requests[0]!.headers.authorization).toBeUndefined();
    const withUserInfo = new MlflowClient(mlflowSettings({}, base.replace('http://', 'http://u:pw@')));
    expect(withUserInfo.trackingUri).toBe(base);
    handler = (_req, res) => json(res, 403, { error_code: 'PERMISSION_DENIED', message: 'no' });
    const err = await withUserInfo.ping().catch((e: unknown) => e);
    expect(requests[1]!.headers.authorization).toBe(`Basic ${Buffer.from('u:pw').toString('base64')}`);
    expect((err as Error).message).toContain('rejected the credentials (HTTP 403)');
    expect((err as Error).message).not.toContain('pw');
  });

  test('mlflowSettings needs a tracking URI, checks it once and reads MLflow timeout and retry settings', async () => {
    expect(() => mlflowSettings({})).toThrow(/Input 'tracking-uri'.*MLFLOW_TRACKING_URI/);
    expect(() => mlflowSettings({}, 'file:///tmp/mlruns')).toThrow(/tracking-uri.*http\(s\):\/\/ URL/);
    expect(() => mlflowSettings({ MLFLOW_TRACKING_URI: 'not a url' })).toThrow(/tracking-uri.*http\(s\)/);
    // The input wins over the environment; a URL's query, fragment and trailing slash are dropped.
    expect(mlflowSettings({ MLFLOW_TRACKING_URI: 'http://other:1' }, `${base}/p/?x=1#y`).trackingUri).toBe(
      `${base}/p`,
    );
    expect(
      mlflowSettings({
        MLFLOW_TRACKING_URI: base,
        MLFLOW_HTTP_REQUEST_TIMEOUT: '7',
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0',
      }),
    ).toMatchObject({ timeoutMs: 7000, endRunBackoffFactorMs: 0 });
    // A URL that is refused is not echoed with the password it may carry.
    const refused = (() => {
      try {
        mlflowSettings({}, 'ftp://u:hunter2-secret@host/x');
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(refused).toMatch(/ftp:\/\/host\/x/);
    expect(refused).not.toContain('hunter2');
    handler = (_req, res) => json(res, 503, { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'busy' });
    const client = new MlflowClient(
      mlflowSettings({ MLFLOW_TRACKING_URI: base, MLFLOW_HTTP_REQUEST_MAX_RETRIES: '1' }),
    );
    await expect(client.tracking.setTag('r', 'k', 'v')).rejects.toThrow(
      /HTTP 503 TEMPORARILY_UNAVAILABLE: busy/,
    );
    expect(requests).toHaveLength(2);
  });
});

describe('retries, timeouts and failures', () => {
  test('503 twice, then success: the call succeeds and every attempt is counted', async () => {
    let n = 0;
    handler = (_req, res) =>
      ++n <= 2
        ? json(res, 503, { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'busy' })
        : json(res, 200, { experiment: { experiment_id: '7', name: 'e' } });
    const client = new MlflowClient({ ...mlflowSettings({}, base), baseDelayMs: 1 });
    expect(await client.tracking.getExperimentByName('e')).toEqual({ experiment_id: '7', name: 'e' });
    expect(requests).toHaveLength(3);
    expect(client.requestCount).toBe(3);
  });

  test('429 with Retry-After is retried', async () => {
    let n = 0;
    handler = (_req, res) => {
      if (++n === 1) {
        res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error_code: 'REQUEST_LIMIT_EXCEEDED', message: 'slow down' }));
      } else json(res, 200, {});
    };
    await new MlflowClient(mlflowSettings({}, base)).tracking.setTag('r', 'k', 'v');
    expect(requests).toHaveLength(2);
  });

  test('a streamed upload that meets a 502 is re-sent whole from a fresh stream', async () => {
    let puts = 0;
    handler = (req, res) => {
      if (req.method === 'GET') return json(res, 200, runBody('r2'));
      if (++puts === 1) {
        res.writeHead(502, { 'content-type': 'text/html' });
        return res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      }
      json(res, 200, {});
    };
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = join(tmp(), 'model.bin');
    writeFileSync(file, data);
    await new MlflowClient({ ...mlflowSettings({}, base), baseDelayMs: 1 }).artifacts.logArtifact('r2', file);
    const uploads = requests.filter((r) => r.method === 'PUT');
    expect(uploads).toHaveLength(2);
    expect(uploads[1]!.body.equals(data)).toBe(true);
  });

  test('4xx is not retried, and a non-JSON error body still gives status, code and text', async () => {
    handler = (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>404 Not Found</title><p>The requested URL was not found</p>');
    };
    const err = (await new MlflowClient(mlflowSettings({}, base)).registry
      .getModelVersion('m', '1')
      .catch((e: unknown) => e)) as MlflowError;
    expect(requests).toHaveLength(1);
    expect(err.status).toBe(404);
    expect(err.errorCode).toBe('ENDPOINT_NOT_FOUND');
    expect(err.message).toBe(
      'MLflow GET /api/2.0/mlflow/model-versions/get?name=m&version=1 failed: HTTP 404 ENDPOINT_NOT_FOUND: 404 Not Found The requested URL was not found',
    );
  });

  test('a dead port fails after bounded attempts with "cannot reach MLflow at <uri>"', async () => {
    const port = await freePort();
    const client = new MlflowClient({
      ...mlflowSettings({}, `http://127.0.0.1:${port}`),
      attempts: 3,
      baseDelayMs: 1,
    });
    const err = (await client.ping().catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(MlflowError);
    expect(err.message).toMatch(
      new RegExp(
        `^cannot reach MLflow at http://127\\.0\\.0\\.1:${port}: GET /api/2\\.0/mlflow/experiments/search\\?max_results=1 failed after 3 attempts: ECONNREFUSED$`,
      ),
    );
  });

  test('a server that accepts but never answers is given up on after the timeout', async () => {
    handler = () => undefined; // never responds
    const client = new MlflowClient({
      ...mlflowSettings({}, base),
      timeoutMs: 200,
      attempts: 2,
      baseDelayMs: 1,
    });
    const err = (await client.tracking.getRun('r').catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /^cannot reach MLflow at http:\/\/127\.0\.0\.1:\d+: GET \/api\/2\.0\/mlflow\/runs\/get\?run_id=r failed after 2 attempts: no answer within 200 ms$/,
    );
    expect(requests).toHaveLength(2);
  });

  test("a read's own options (the report's short budget) replace the client's for that call only", async () => {
    handler = () => undefined; // never responds
    const client = new MlflowClient({
      ...mlflowSettings({}, base),
      timeoutMs: 60_000,
      attempts: 5,
      baseDelayMs: 1,
    });
    const short = { timeoutMs: 200, attempts: 2 };
    const run = (await client.tracking.getRun('r', short).catch((e: unknown) => e)) as Error;
    expect(run.message).toMatch(/runs\/get\?run_id=r failed after 2 attempts: no answer within 200 ms$/);
    const history = (await client.tracking
      .getMetricHistory('r', 'loss', short)
      .catch((e: unknown) => e)) as Error;
    expect(history.message).toMatch(
      /get-history\?run_id=r&metric_key=loss failed after 2 attempts: no answer within 200 ms$/,
    );
    expect(requests).toHaveLength(4);
  });

  test('ping surfaces a server error clearly', async () => {
    handler = (_req, res) => json(res, 500, { error_code: 'INTERNAL_ERROR', message: 'database is locked' });
    const err = (await new MlflowClient({ ...mlflowSettings({}, base), attempts: 1 })
      .ping()
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^cannot reach MLflow at .*HTTP 500 INTERNAL_ERROR: database is locked$/);
  });
});

describe('artifact locations', () => {
  const withArtifactUri = (uri: string) => (req: Recorded, res: ServerResponse) =>
    req.url.includes('/runs/get')
      ? json(res, 200, {
          run: { ...runBody('r3').run, info: { ...runBody('r3').run.info, artifact_uri: uri } },
        })
      : json(res, 200, {});

  test('a tracking URI with a path prefix keeps it for API calls and the artifact proxy', async () => {
    handler = withArtifactUri('mlflow-artifacts:/5/r3/artifacts');
    const file = join(tmp(), 'f 1.txt');
    writeFileSync(file, 'x');
    await new MlflowClient(mlflowSettings({}, `${base}/mlflow/`)).artifacts.logArtifact('r3', file, 'a/b');
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /mlflow/api/2.0/mlflow/runs/get?run_id=r3',
      'PUT /mlflow/api/2.0/mlflow-artifacts/artifacts/5/r3/artifacts/a/b/f%201.txt',
    ]);
  });

  test('an mlflow-artifacts URI naming its own host is sent there', async () => {
    const port = new URL(base).port;
    handler = withArtifactUri(`mlflow-artifacts://127.0.0.1:${port}/9/r3/artifacts`);
    const file = join(tmp(), 'g.txt');
    writeFileSync(file, 'y');
    // Same server under two names: the Host header shows which one each request went to.
    const client = new MlflowClient(mlflowSettings({}, `http://localhost:${port}/prefix`));
    await client.tracking.getRun('r3');
    await client.artifacts.logArtifact('r3', file);
    expect(requests.map((r) => `${r.method} ${r.headers.host} ${r.url}`)).toEqual([
      `GET localhost:${port} /prefix/api/2.0/mlflow/runs/get?run_id=r3`,
      `PUT 127.0.0.1:${port} /api/2.0/mlflow-artifacts/artifacts/9/r3/artifacts/g.txt`,
    ]);
  });

  test('an artifact store the server does not proxy is refused with what to do', async () => {
    handler = withArtifactUri('s3://bucket/1/r3/artifacts');
    const err = await new MlflowClient(mlflowSettings({}, base)).artifacts
      .logArtifacts('r3', tmp())
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /'s3:\/\/bucket\/1\/r3\/artifacts' is not served through the tracking server; start it with 'mlflow server --serve-artifacts'/,
    );
  });

  test('a missing artifact is an MlflowError naming the path', async () => {
    handler = (req, res) =>
      req.method === 'GET' && req.url.includes('/runs/get')
        ? json(res, 200, runBody('r4'))
        : json(res, 404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'File not found' });
    const err = (await new MlflowClient(mlflowSettings({}, base)).artifacts
      .downloadArtifact('r4', 'nope/x.bin')
      .catch((e: unknown) => e)) as MlflowError;
    expect(err.errorCode).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(err.message).toBe(
      'MLflow GET /api/2.0/mlflow-artifacts/artifacts/1/r4/artifacts/nope/x.bin failed: HTTP 404 RESOURCE_DOES_NOT_EXIST: File not found',
    );
  });
});

describe('paging and probing', () => {
  test('searchRuns follows next_page_token until the server stops, and honours maxResults', async () => {
    handler = (req, res) => {
      const body = JSON.parse(req.body.toString()) as { page_token?: string };
      const page = Number(body.page_token ?? 0);
      json(res, 200, {
        runs: [runBody(`r${page * 2}`).run, runBody(`r${page * 2 + 1}`).run],
        ...(page < 2 ? { next_page_token: String(page + 1) } : {}),
      });
    };
    const client = new MlflowClient(mlflowSettings({}, base));
    const all = await client.tracking.searchRuns({
      experimentIds: ['1'],
      filter: "tags.x = 'y'",
      orderBy: ['start_time DESC'],
    });
    expect(all.map((r) => r.info.run_id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    expect(all[0]!.data).toEqual({ metrics: [], params: [], tags: [] });
    expect(JSON.parse(requests[0]!.body.toString())).toEqual({
      experiment_ids: ['1'],
      filter: "tags.x = 'y'",
      order_by: ['start_time DESC'],
      max_results: 1000,
    });
    expect(JSON.parse(requests[2]!.body.toString()).page_token).toBe('2');
    requests = [];
    const some = await client.tracking.searchRuns({ experimentIds: ['1'], maxResults: 3 });
    expect(some.map((r) => r.info.run_id)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(requests.map((r) => JSON.parse(r.body.toString()).max_results)).toEqual([3, 1]);
  });

  test('supportsLoggedModels is false on a server without the routes, and asked once', async () => {
    handler = (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<title>404 Not Found</title>');
    };
    const client = new MlflowClient(mlflowSettings({}, base));
    expect(await client.models.supportsLoggedModels('1')).toBe(false);
    expect(await client.models.supportsLoggedModels('1')).toBe(false);
    expect(await client.models.findLoggedModel({ experimentId: '1', runId: 'r' })).toBeUndefined();
    expect(requests).toHaveLength(1);
  });

  test("a LoggedModel whose upload fails is finalized UPLOAD_FAILED, and the error is the upload's", async () => {
    handler = (req, res) => {
      if (req.method === 'GET' && req.url.startsWith('/api/2.0/mlflow/logged-models/')) {
        return json(res, 404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no such model' });
      }
      if (req.method === 'POST' && req.url === '/api/2.0/mlflow/logged-models') {
        return json(res, 200, {
          model: {
            info: {
              model_id: 'm-1',
              experiment_id: '1',
              name: 'model',
              artifact_uri: 'mlflow-artifacts:/1/models/m-1/artifacts',
              status: 'LOGGED_MODEL_PENDING',
            },
          },
        });
      }
      if (req.method === 'PUT') return json(res, 507, { error_code: 'INTERNAL_ERROR', message: 'disk full' });
      json(res, 200, { model: {} });
    };
    const dir = tmp();
    writeFileSync(join(dir, 'MLmodel'), 'flavors:\n  python_function: {}\nrun_id: null\n');
    writeFileSync(join(dir, 'model.pkl'), 'bytes');
    const err = await new MlflowClient({ ...mlflowSettings({}, base), attempts: 1 }).models
      .logModelDir({ runId: 'r9', experimentId: '1', localDir: dir, name: 'model' })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /PUT \/api\/2\.0\/mlflow-artifacts\/artifacts\/1\/models\/m-1\/artifacts\/(MLmodel|model\.pkl) failed: HTTP 507 INTERNAL_ERROR: disk full/,
    );
    const create = requests.find((r) => r.method === 'POST' && r.url === '/api/2.0/mlflow/logged-models')!;
    expect(JSON.parse(create.body.toString())).toMatchObject({
      experiment_id: '1',
      name: 'model',
      source_run_id: 'r9',
    });
    const patches = requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => [r.url, JSON.parse(r.body.toString())])).toEqual([
      ['/api/2.0/mlflow/logged-models/m-1', { model_id: 'm-1', status: 'LOGGED_MODEL_UPLOAD_FAILED' }],
    ]);
    expect(requests.some((r) => r.url === '/api/2.0/mlflow/runs/outputs')).toBe(false);
  });

  test('waitForModelVersionReady reports FAILED_REGISTRATION with its message', async () => {
    let n = 0;
    handler = (_req, res) =>
      json(res, 200, {
        model_version: {
          name: 'm',
          version: '4',
          source: 's',
          status: ++n < 2 ? 'PENDING_REGISTRATION' : 'FAILED_REGISTRATION',
          status_message: 'copy failed',
        },
      });
    const err = await new MlflowClient(mlflowSettings({}, base)).registry
      .waitForModelVersionReady('m', '4')
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('model version m/4 failed registration: copy failed');
  });
});

describe('log-batch splitting', () => {
  const sizeOf = (r: unknown): number => Buffer.byteLength(JSON.stringify(r));

  test('every request is within MLflow limits, and each kind keeps its order', () => {
    const metrics = Array.from({ length: 2500 }, (_, i) => ({
      key: `m${i % 7}`,
      value: i,
      step: i,
      timestamp: 1,
    }));
    const params = Array.from({ length: 230 }, (_, i) => ({ key: `p${i}`, value: 'v'.repeat(3000) }));
    const tags = Array.from({ length: 120 }, (_, i) => ({ key: `t${i}`, value: `${i}` }));
    const reqs = splitBatch('run', { metrics, params, tags });
    for (const r of reqs) {
      expect(r.metrics.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.metrics);
      expect(r.params.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.params);
      expect(r.tags.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.tags);
      expect(r.metrics.length + r.params.length + r.tags.length).toBeLessThanOrEqual(
        LOG_BATCH_LIMITS.entities,
      );
      expect(sizeOf(r)).toBeLessThanOrEqual(LOG_BATCH_LIMITS.bytes);
      expect(r.run_id).toBe('run');
    }
    expect(reqs.flatMap((r) => r.metrics).map((m) => m.value)).toEqual(metrics.map((m) => m.value));
    expect(reqs.flatMap((r) => r.params).map((p) => p.key)).toEqual(params.map((p) => p.key));
    expect(reqs.flatMap((r) => r.tags).map((t) => t.key)).toEqual(tags.map((t) => t.key));
    // 230 params of 3 kB need at least 3 requests by count and by size; metrics fill the space left.
    expect(reqs.length).toBeLessThanOrEqual(4);
  });

  test('the byte limit alone splits a batch of few but large entities', () => {
    const tags = Array.from({ length: 90 }, (_, i) => ({ key: `t${i}`, value: 'x'.repeat(30_000) }));
    const reqs = splitBatch('run', { tags });
    expect(reqs.length).toBe(3);
    for (const r of reqs) expect(sizeOf(r)).toBeLessThanOrEqual(LOG_BATCH_LIMITS.bytes);
    expect(reqs.flatMap((r) => r.tags)).toHaveLength(90);
  });

  test('defaults, special values and bad input', () => {
    const [req] = splitBatch(
      'run',
      {
        metrics: [
          { key: 'a', value: NaN },
          { key: 'b', value: -Infinity, step: 3.0 },
        ],
      },
      42,
    );
    expect(req!.metrics).toEqual([
      { key: 'a', value: 'NaN', timestamp: 42, step: 0 },
      { key: 'b', value: '-Infinity', timestamp: 42, step: 3 },
    ]);
    expect(splitBatch('run', {})).toEqual([]);
    expect(() => splitBatch('run', { metrics: [{ key: 'a', value: '1' as unknown as number }] })).toThrow(
      /metric 'a' has a non-numeric value: "1"/,
    );
    expect(() => splitBatch('run', { tags: [{ key: 'huge', value: 'x'.repeat(1_100_000) }] })).toThrow(
      /tag 'huge' alone is \d+ bytes, over MLflow's 1000000-byte request limit/,
    );
  });

  test('logBatch sends one metric key in order, one request after another', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    handler = (_req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        json(res, 200, {});
      }, 5);
    };
    const metrics = Array.from({ length: 3500 }, (_, i) => ({ key: 'loss', value: i, step: i }));
    await new MlflowClient(mlflowSettings({}, base)).tracking.logBatch('r', { metrics });
    expect(maxInFlight).toBe(1);
    const steps = requests.flatMap((r) =>
      (JSON.parse(r.body.toString()) as { metrics: { step: number }[] }).metrics.map((m) => m.step),
    );
    expect(steps).toEqual(metrics.map((m) => m.step));
    expect(requests).toHaveLength(4);
  });

  test("logBatch groups each key's values so a request carries few keys; a batch that fits goes as one request", async () => {
    handler = (_req, res) => json(res, 200, {});
    // A training loop's log, step-major: 100 metrics x 100 steps, one timestamp, and 50 params.
    const metrics = [];
    for (let step = 0; step < 100; step++) {
      for (let k = 0; k < 100; k++) metrics.push({ key: `m${k}`, value: k + step / 100, step, timestamp: 7 });
    }
    const params = Array.from({ length: 50 }, (_, i) => ({ key: `p${i}`, value: `v${i}` }));
    await new MlflowClient(mlflowSettings({}, base)).tracking.logBatch('r', { metrics, params });
    const bodies = requests.map(
      (r) =>
        JSON.parse(r.body.toString()) as {
          metrics: { key: string; step: number; value: number }[];
          params: unknown[];
        },
    );
    // 10,050 entities need 11 requests; four streams of whole keys cost one more at most.
    expect(bodies.length).toBeLessThanOrEqual(12);
    // Step-major order would put 25 or more keys in every request.
    for (const b of bodies) expect(new Set(b.metrics.map((m) => m.key)).size).toBeLessThanOrEqual(11);
    const sent = bodies.flatMap((b) => b.metrics);
    expect(sent).toHaveLength(10_000);
    for (let k = 0; k < 100; k++) {
      const mine = sent.filter((m) => m.key === `m${k}`);
      expect(mine.map((m) => m.step)).toEqual(Array.from({ length: 100 }, (_, s) => s));
      expect(mine.map((m) => m.value)).toEqual(Array.from({ length: 100 }, (_, s) => k + s / 100));
    }
    expect(bodies.flatMap((b) => b.params)).toEqual(params);

    requests.length = 0;
    const few = [0, 1, 2].flatMap((step) =>
      ['a', 'b', 'c', 'd', 'e'].map((key) => ({ key, value: step, step })),
    );
    await new MlflowClient(mlflowSettings({}, base)).tracking.logBatch('r', { metrics: few, params });
    expect(requests).toHaveLength(1);
  });

  test('logBatch runs a few key-disjoint streams side by side, each key still in step order', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    handler = (_req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        json(res, 200, {});
      }, 5);
    };
    const metrics = [];
    for (let step = 0; step < 300; step++) {
      for (let k = 0; k < 20; k++) metrics.push({ key: `m${k}`, value: step, step });
    }
    const params = [{ key: 'lr', value: '0.1' }];
    await new MlflowClient(mlflowSettings({}, base)).tracking.logBatch('r', { metrics, params });
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(4);
    const bodies = requests.map(
      (r) => JSON.parse(r.body.toString()) as { metrics: { key: string; step: number }[]; params: unknown[] },
    );
    for (let k = 0; k < 20; k++) {
      const steps = bodies.flatMap((b) => b.metrics.filter((m) => m.key === `m${k}`).map((m) => m.step));
      expect(steps).toEqual(Array.from({ length: 300 }, (_, s) => s));
    }
    expect(bodies.flatMap((b) => b.params)).toEqual(params);
    const timestamps = new Set(
      bodies.flatMap((b) => b.metrics.map((m) => (m as unknown as { timestamp: number }).timestamp)),
    );
    expect(timestamps.size).toBe(1);
  });
});
