/**
 * The relay's and Alertmanager's deployment files: rendered with `kubectl kustomize` and checked
 * for what a reviewer would insist on (non-root, read-only root, no privilege, limits, probes,
 * secrets referenced not committed, network policies), and kept in step with the relay's config.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ENV_DOC } from '../actions/relay/config.js';
import { ROOT } from './helpers/run-action.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
function render(dir: string): any[] {
  const res = spawnSync('kubectl', ['kustomize', join(ROOT, 'platform', dir)], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`kubectl kustomize platform/${dir}: ${res.stderr}`);
  return parseAllDocuments(res.stdout).map((d) => d.toJSON());
}

const kinds = (docs: any[]): string[] => docs.map((d) => d.kind).sort();

describe.each([
  ['relay', 'alertmanager-relay'],
  ['alertmanager', 'alertmanager'],
])('platform/%s', (dir, name) => {
  const docs = render(dir);
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const pod = deployment.spec.template.spec;

  it('renders a Deployment, a Service and a NetworkPolicy, and no Secret', () => {
    expect(kinds(docs)).toEqual(
      expect.arrayContaining(['Deployment', 'NetworkPolicy', 'Service', 'ServiceAccount']),
    );
    expect(kinds(docs)).not.toContain('Secret');
    expect(deployment.metadata.name).toBe(name);
    const policy = docs.find((d) => d.kind === 'NetworkPolicy');
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
  });

  it('runs unprivileged with limits and probes', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const c of pod.containers) {
      expect(c.image).not.toMatch(/:latest$|^[^:]+$/);
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.resources.limits).toEqual(
        expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }),
      );
      expect(c.readinessProbe).toBeDefined();
      expect(c.livenessProbe).toBeDefined();
    }
  });

  it('takes secrets from the Secret alertmanager-relay, mounted as files', () => {
    const secretVolumes = pod.volumes.filter((v: any) => v.secret);
    expect(secretVolumes.map((v: any) => v.secret.secretName)).toEqual(['alertmanager-relay']);
    const env = pod.containers.flatMap((c: any) => c.env ?? []);
    expect(env.filter((e: any) => /TOKEN$|KEY$/.test(e.name) && e.value)).toEqual([]);
  });
});

describe('platform/relay specifics', () => {
  const docs = render('relay');
  const pod = docs.find((d) => d.kind === 'Deployment').spec.template.spec;
  const container = pod.containers[0];
  const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]));

  it('configures the relay only through documented variables, with files from the mounted Secret', () => {
    const documented = ENV_DOC.map(([names]) => names).join(' ');
    for (const name of Object.keys(env)) expect(documented).toContain(name);
    const mount = container.volumeMounts.find((m: any) => m.name === 'secrets').mountPath;
    expect(env.RELAY_BEARER_TOKEN_FILE).toBe(`${mount}/relay-token`);
    expect(env.GITHUB_TOKEN_FILE).toBe(`${mount}/github-token`);
  });

  it('gives in-flight deliveries time to finish on shutdown', () => {
    const drain = Number(String(env.RELAY_SHUTDOWN_TIMEOUT).replace(/s$/, ''));
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(
      drain + container.lifecycle.preStop.sleep.seconds,
    );
    expect(docs.find((d) => d.kind === 'Deployment').spec.replicas).toBeGreaterThan(1);
    expect(docs.find((d) => d.kind === 'PodDisruptionBudget').spec.minAvailable).toBe(1);
  });

  it('matches the Service the Alertmanager config posts to', () => {
    const service = docs.find((d) => d.kind === 'Service');
    const am = readFileSync(join(ROOT, 'platform', 'alertmanager', 'alertmanager.yml'), 'utf8');
    expect(am).toContain(`http://${service.metadata.name}:${service.spec.ports[0].port}/alertmanager`);
  });

  it('builds a non-root image of the bundle', () => {
    const dockerfile = readFileSync(join(ROOT, 'platform', 'relay', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    expect(dockerfile).toMatch(/^CMD \["\/app\/index\.js"\]$/m);
    expect(dockerfile).not.toMatch(/:latest\b/);
    expect(container.securityContext.runAsNonRoot).toBe(true);
  });
});
