/**
 * Certificates for TLS tests, made with openssl: a CA, a server certificate for 127.0.0.1 and a
 * client certificate (CN `ci-client`), both signed by the CA, and the client's certificate and key
 * in one PEM, the form MLflow (requests) takes for MLFLOW_TRACKING_CLIENT_CERT_PATH.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  dir: string;
  /** Paths. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientBundle: string;
}

export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'tls-certs-'));
  const openssl = (...args: string[]): void =>
    void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const rsa = ['-newkey', 'rsa:2048', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...rsa,
    '-days',
    '2',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, cn] of [
    ['server', '127.0.0.1'],
    ['client', 'ci-client'],
  ] as const) {
    openssl('req', ...rsa, '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    const ext = name === 'server' ? ['-extfile', 'san.ext'] : [];
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      ...ext,
    );
  }
  const path = (f: string): string => join(dir, f);
  writeFileSync(
    path('client-bundle.pem'),
    readFileSync(path('client.pem'), 'utf8') + readFileSync(path('client.key'), 'utf8'),
  );
  return {
    dir,
    ca: path('ca.pem'),
    serverCert: path('server.pem'),
    serverKey: path('server.key'),
    clientCert: path('client.pem'),
    clientBundle: path('client-bundle.pem'),
  };
}
