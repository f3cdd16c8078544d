/**
 * The relay authenticating as a GitHub App: it signs a JWT with the App's private key, exchanges
 * it for an installation token (POST /app/installations/{id}/access_tokens), caches that token,
 * and gets a new one when GitHub rejects it. A small gateway in front of the fake GitHub plays
 * the token endpoint (verifying the JWT's RS256 signature and claims with the App's public key)
 * and forwards everything else to the fake.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createVerify, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { startRelay, type RelayProcess } from './helpers/relay-process.js';
import { notification } from './helpers/alert-fixtures.js';

const APP_ID = '123456';
const INSTALLATION = '7890';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

let gh: FakeGitHub;
let gateway: Server;
let gatewayUrl = '';
let relay: RelayProcess;
const issued: { jwt: Record<string, unknown>; token: string }[] = [];
const tokens = ['ghs_app_installation_token_1', 'ghs_app_installation_token_2'];

function verifyJwt(jwt: string): Record<string, unknown> | undefined {
  const [h, p, s] = jwt.split('.');
  if (!h || !p || !s) return undefined;
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
  if (header.alg !== 'RS256') return undefined;
  const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(publicKey, Buffer.from(s, 'base64url'));
  return ok ? (JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>) : undefined;
}

beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  await gh.start();
  gh.tokens.set(tokens[0]!, 'mlops-relay[bot]');
  gh.tokens.set(tokens[1]!, 'mlops-relay[bot]');
  gateway = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method === 'POST' && req.url === `/app/installations/${INSTALLATION}/access_tokens`) {
          const claims = verifyJwt(/^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
          const now = Math.floor(Date.now() / 1000);
          if (
            !claims ||
            String(claims.iss) !== APP_ID ||
            Number(claims.exp) <= now ||
            Number(claims.exp) - Number(claims.iat) > 660
          ) {
            res
              .writeHead(401, { 'content-type': 'application/json' })
              .end(JSON.stringify({ message: 'A JSON web token could not be decoded' }));
            return;
          }
          const token = tokens[Math.min(issued.length, tokens.length - 1)]!;
          issued.push({ jwt: claims, token });
          res.writeHead(201, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              token,
              expires_at: new Date(Date.now() + 3600_000).toISOString(),
              permissions: { contents: 'write' },
              repository_selection: 'selected',
            }),
          );
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers))
          if (typeof v === 'string' && k !== 'host') headers[k] = v;
        const upstream = await fetch(`${gh.url}${req.url}`, {
          method: req.method,
          headers,
          body: chunks.length ? Buffer.concat(chunks) : undefined,
        });
        const body = Buffer.from(await upstream.arrayBuffer());
        res.writeHead(upstream.status, Object.fromEntries(upstream.headers)).end(body);
      })();
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'relay-app-'));
  const keyFile = join(dir, 'app.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
  relay = await startRelay({
    GITHUB_API_URL: gatewayUrl,
    GITHUB_APP_ID: APP_ID,
    GITHUB_APP_INSTALLATION_ID: INSTALLATION,
    GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
  });
});

afterAll(async () => {
  await relay?.stop('SIGKILL');
  gateway?.closeAllConnections();
  await new Promise<void>((resolve) => (gateway ? gateway.close(() => resolve()) : resolve()));
  await gh?.stop();
});

describe('relay as a GitHub App', () => {
  it('exchanges a signed JWT for an installation token, reuses it, and renews it when revoked', async () => {
    const first = await relay.post(notification());
    if (first.status !== 200) throw new Error(`${first.status} ${await first.text()}\n${relay.output()}`);
    expect(issued).toHaveLength(1);
    expect(issued[0]!.jwt.iss).toBe(APP_ID);
    const dispatches = gh.calls('repos/create-dispatch-event');
    expect(dispatches[0]!.headers.authorization).toBe(`Bearer ${tokens[0]}`);

    expect((await relay.post(notification({ groupLabels: { alertname: 'Second' } }))).status).toBe(200);
    expect(issued).toHaveLength(1); // cached

    // GitHub stops accepting the token (revoked): one 401, a new token, and the delivery succeeds.
    gh.tokens.delete(tokens[0]!);
    expect((await relay.post(notification({ groupLabels: { alertname: 'Third' } }))).status).toBe(200);
    expect(issued).toHaveLength(2);
    const last = gh.calls('repos/create-dispatch-event').at(-1)!;
    expect(last.headers.authorization).toBe(`Bearer ${tokens[1]}`);
    expect(gh.state.repo('octo-org', 'iris')!.dispatches).toHaveLength(3);
    // The key and the tokens never reach the log.
    const out = relay.output();
    for (const t of tokens) expect(out).not.toContain(t);
    expect(out).not.toContain('PRIVATE KEY');
    expect(relay.logs().find((l) => l.msg === 'listening')).toMatchObject({ auth: 'app' });
  });

  it('answers 502 without retrying when the App key is not the one GitHub knows', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const dir = mkdtempSync(join(tmpdir(), 'relay-app-'));
    writeFileSync(join(dir, 'wrong.pem'), other.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    const wrong = await startRelay({
      GITHUB_API_URL: gatewayUrl,
      GITHUB_APP_ID: APP_ID,
      GITHUB_APP_INSTALLATION_ID: INSTALLATION,
      GITHUB_APP_PRIVATE_KEY_FILE: join(dir, 'wrong.pem'),
    });
    try {
      const before = issued.length;
      const res = await wrong.post(notification({ groupLabels: { alertname: 'WrongKey' } }));
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: string }).error).toMatch(
        /^GitHub App token request answered 401/,
      );
      expect(issued).toHaveLength(before);
      expect(wrong.logs().filter((l) => l.msg === 'dispatch failed, retrying')).toEqual([]);
    } finally {
      await wrong.stop('SIGKILL');
    }
  });
});
