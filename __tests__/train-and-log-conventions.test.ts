/**
 * train-and-log, bundled, configured only the way MLflow's own clients are: MLFLOW_TRACKING_URI of
 * an https server (a proxy with an openssl-made certificate in front of a real `mlflow server`),
 * MLFLOW_TRACKING_SERVER_CERT_PATH / MLFLOW_TRACKING_CLIENT_CERT_PATH or
 * MLFLOW_TRACKING_INSECURE_TLS, MLFLOW_EXPERIMENT_NAME, and a command that only calls
 * mlflow.autolog() with `metrics-file: ''`. The action and the command's MLflow both go through TLS.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { PYTHON, startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { runAction } from './helpers/run-action.js';
import { makeCertificates, type TestCertificates } from './helpers/tls-certs.js';

let mlflow: MlflowServer;
let rest: MlflowRest;
let certs: TestCertificates;
let proxy: Server;
let httpsUrl: string;
/** The client certificate's CN of each proxied request ('' when none was presented). */
const clients: string[] = [];

beforeAll(async () => {
  certs = makeCertificates();
  mlflow = await startMlflow();
  rest = new MlflowRest(mlflow.url);
  const upstream = new URL(mlflow.url);
  proxy = createServer(
    {
      key: readFileSync(certs.serverKey),
      cert: readFileSync(certs.serverCert),
      ca: readFileSync(certs.ca),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      clients.push(socket.authorized ? String(socket.getPeerCertificate().subject.CN) : '');
      const out = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    },
  );
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  httpsUrl = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  proxy?.closeAllConnections();
  await Promise.all([
    mlflow?.stop(),
    new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve())),
  ]);
});

const AUTOLOG = [
  'import mlflow',
  'from sklearn.datasets import load_iris',
  'from sklearn.linear_model import LogisticRegression',
  'mlflow.autolog(log_input_examples=False, log_model_signatures=False, silent=True)',
  'X, y = load_iris(return_X_y=True)',
  'LogisticRegression(max_iter=300).fit(X, y)',
  '',
].join('\n');

describe('train-and-log with MLflow environment conventions', () => {
  it('CA bundle and client certificate, MLFLOW_EXPERIMENT_NAME, autolog only with metrics-file empty', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tal-conv-'));
    writeFileSync(join(cwd, 'train.py'), AUTOLOG);
    clients.length = 0;
    const result = await runAction('train-and-log', {
      cwd,
      env: {
        MLFLOW_TRACKING_URI: httpsUrl,
        MLFLOW_TRACKING_SERVER_CERT_PATH: certs.ca,
        MLFLOW_TRACKING_CLIENT_CERT_PATH: certs.clientBundle,
        MLFLOW_EXPERIMENT_NAME: 'conventions-autolog',
        PYTHONWARNINGS: 'ignore',
      },
      inputs: {
        command: `${PYTHON} train.py`,
        'metrics-file': '',
        'registered-model': 'conventions-model',
        'gate-metric': 'training_accuracy_score',
        'github-token': '',
      },
      timeoutMs: 120_000,
    });
    expect(result.errors).toEqual([]);
    expect(result.code).toBe(0);
    const runId = result.outputs['run-id']!;
    const runs = await rest.runsOf('conventions-autolog');
    expect(runs.map((r) => r.info.run_id)).toEqual([runId]);
    expect(runs[0]!.info.status).toBe('FINISHED');
    expect(JSON.parse(result.outputs.metrics!)).toMatchObject({
      training_accuracy_score: expect.any(Number),
    });
    expect(result.outputs['gate-passed']).toBe('true');
    expect(await rest.alias('conventions-model', 'candidate')).toBe(result.outputs['model-version']);
    // Every request, the action's and the Python command's, came through TLS with the certificate.
    expect(clients.length).toBeGreaterThan(10);
    expect(new Set(clients)).toEqual(new Set(['ci-client']));
  });

  it('MLFLOW_TRACKING_INSECURE_TLS=true accepts the unknown certificate; without it the action refuses it', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tal-conv-'));
    const inputs = {
      command: `echo '{"accuracy": 0.9}' > metrics.json`,
      experiment: 'conventions-insecure',
      'github-token': '',
    };
    const ok = await runAction('train-and-log', {
      cwd,
      env: { MLFLOW_TRACKING_URI: httpsUrl, MLFLOW_TRACKING_INSECURE_TLS: 'true' },
      inputs,
      timeoutMs: 60_000,
    });
    expect(ok.errors).toEqual([]);
    expect(JSON.parse(ok.outputs.metrics!)).toEqual({ accuracy: 0.9 });

    const refused = await runAction('train-and-log', {
      cwd,
      env: { MLFLOW_TRACKING_URI: httpsUrl },
      inputs,
      timeoutMs: 60_000,
    });
    expect(refused.code).not.toBe(0);
    expect(refused.errors.join('\n')).toMatch(
      /Input 'tracking-uri'.*cannot be used.*SELF_SIGNED_CERT_IN_CHAIN.*set MLFLOW_TRACKING_SERVER_CERT_PATH/,
    );
    expect((await rest.runsOf('conventions-insecure')).length).toBe(1);
  });
});
