/**
 * MLflow's TLS variables, honoured by the client for API calls (fetch) and streamed artifact
 * uploads (node:https): an https server with a certificate from a CA made here with openssl, which
 * also asks for a client certificate. Without settings the certificate is refused, as it should be.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MlflowClient } from '../actions/shared/mlflow/index.js';
import { mlflowSettings } from '../actions/shared/mlflow/inputs.js';
import { makeCertificates } from './helpers/tls-certs.js';

const certs = makeCertificates();
const pem = (name: string): string => join(certs.dir, name);

interface Seen {
  method: string;
  url: string;
  /** The CN of the client certificate, when one was presented and the CA signed it. */
  client?: string;
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer(
    {
      key: readFileSync(pem('server.key')),
      cert: readFileSync(pem('server.pem')),
      ca: readFileSync(pem('ca.pem')),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const socket = req.socket as TLSSocket;
        const client = socket.authorized ? String(socket.getPeerCertificate().subject.CN) : undefined;
        seen.push({ method: req.method!, url: req.url!, client, body: Buffer.concat(chunks).toString() });
        res.setHeader('content-type', 'application/json');
        if (req.url!.startsWith('/api/2.0/mlflow/runs/get')) {
          res.end(
            JSON.stringify({
              run: {
                info: {
                  run_id: 'r1',
                  experiment_id: '1',
                  status: 'RUNNING',
                  artifact_uri: 'mlflow-artifacts:/1/r1/artifacts',
                },
              },
            }),
          );
        } else res.end('{}');
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const client = (env: NodeJS.ProcessEnv): MlflowClient =>
  new MlflowClient({ ...mlflowSettings(env, base), attempts: 1 });

/** An API call (fetch) and an artifact upload (node:https), the two ways the client talks. */
async function callAndUpload(c: MlflowClient): Promise<void> {
  await c.tracking.setTag('r1', 'k', 'v');
  const file = pem('artifact.txt');
  writeFileSync(file, 'over tls');
  await c.artifacts.logArtifact('r1', file);
}

describe('TLS settings from MLflow variables', () => {
  test('with none, a certificate from an unknown CA is refused', async () => {
    seen.length = 0;
    await expect(client({}).tracking.setTag('r1', 'k', 'v')).rejects.toThrow(
      /cannot reach MLflow at https:\/\/127\.0\.0\.1:\d+: .*(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify)/i,
    );
    expect(seen).toEqual([]);
  });

  test('MLFLOW_TRACKING_INSECURE_TLS=true accepts it, for API calls and uploads alike', async () => {
    seen.length = 0;
    await callAndUpload(client({ MLFLOW_TRACKING_INSECURE_TLS: 'true' }));
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /api/2.0/mlflow/runs/set-tag',
      'GET /api/2.0/mlflow/runs/get?run_id=r1',
      'PUT /api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/artifact.txt',
    ]);
    expect(seen[2]!.body).toBe('over tls');
    expect(seen.every((s) => s.client === undefined)).toBe(true);
  });

  test('MLFLOW_TRACKING_SERVER_CERT_PATH trusts that CA; MLFLOW_TRACKING_CLIENT_CERT_PATH presents the certificate', async () => {
    seen.length = 0;
    await callAndUpload(client({ MLFLOW_TRACKING_SERVER_CERT_PATH: pem('ca.pem') }));
    expect(seen).toHaveLength(3);
    expect(seen.every((s) => s.client === undefined)).toBe(true);

    seen.length = 0;
    await callAndUpload(
      client({
        MLFLOW_TRACKING_SERVER_CERT_PATH: pem('ca.pem'),
        MLFLOW_TRACKING_CLIENT_CERT_PATH: pem('client-bundle.pem'),
      }),
    );
    expect(seen.map((s) => s.client)).toEqual(['ci-client', 'ci-client', 'ci-client']);
  });

  test('a CA bundle that does not sign the server is refused; bad settings fail when resolved', async () => {
    await expect(
      client({ MLFLOW_TRACKING_SERVER_CERT_PATH: pem('client.pem') }).tracking.setTag('r1', 'k', 'v'),
    ).rejects.toThrow(/cannot reach MLflow/);
    expect(() =>
      mlflowSettings(
        { MLFLOW_TRACKING_INSECURE_TLS: 'true', MLFLOW_TRACKING_SERVER_CERT_PATH: pem('ca.pem') },
        base,
      ),
    ).toThrow(/MLFLOW_TRACKING_SERVER_CERT_PATH.*only one of them/);
    expect(() => mlflowSettings({ MLFLOW_TRACKING_INSECURE_TLS: 'yes' }, base)).toThrow(
      /MLFLOW_TRACKING_INSECURE_TLS.*true, false, 1 or 0/,
    );
    expect(() => mlflowSettings({ MLFLOW_TRACKING_CLIENT_CERT_PATH: pem('missing.pem') }, base)).toThrow(
      /MLFLOW_TRACKING_CLIENT_CERT_PATH.*ENOENT/,
    );
    expect(mlflowSettings({ MLFLOW_TRACKING_INSECURE_TLS: 'false' }, base).tls).toBeUndefined();
  });
});
