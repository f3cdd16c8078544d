/**
 * Self-test of the fake Kubernetes/ArgoCD: the statuses it serves are checked against the
 * Application CRD's own schema (argo-cd v3.5.1), so real-shaped statuses pass and invented ones
 * fail; BOOKMARK events reach only watches that ask for them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import { argoStatus, FakeKubernetes, statusErrors } from './helpers/fake-k8s.js';

const SHA = 'a'.repeat(40);
const CHART = 'b'.repeat(40);

describe('fake Kubernetes: Application.status as ArgoCD writes it', () => {
  it.each([
    [
      'single source, synced',
      argoStatus({ sync: 'Synced', revision: SHA, health: 'Healthy', phase: 'Succeeded' }),
    ],
    ['multi-source revisions', argoStatus({ sync: 'Synced', revisions: [CHART, SHA], health: 'Healthy' })],
    [
      'PostSync hook running (ArgoCD 3: no health.message)',
      argoStatus({
        sync: 'Synced',
        revision: SHA,
        health: 'Healthy',
        phase: 'Running',
        message: 'waiting for completion of hook batch/Job/smoke-test',
        hooks: [{ name: 'smoke-test', hookType: 'PostSync', hookPhase: 'Running' }],
      }),
    ],
    [
      'comparison error',
      argoStatus({
        sync: 'Unknown',
        health: 'Healthy',
        conditions: [
          { type: 'ComparisonError', message: 'Failed to load target state: kustomize build failed' },
        ],
      }),
    ],
    [
      'degraded resources',
      argoStatus({
        sync: 'Synced',
        revision: SHA,
        health: 'Degraded',
        resources: [
          {
            group: 'apps',
            kind: 'Deployment',
            name: 'iris',
            health: 'Degraded',
            message: 'deadline exceeded',
          },
        ],
      }),
    ],
  ])('accepts %s', (_, status) => {
    expect(statusErrors(status)).toEqual([]);
  });

  const base = argoStatus({ sync: 'Synced', revision: SHA, health: 'Healthy', phase: 'Succeeded' });
  it.each([
    [
      'a health code ArgoCD has not',
      { ...base, health: { status: 'Ready' } },
      /health\.status must be equal to one of/,
    ],
    [
      'a field the CRD does not name',
      { ...base, health: { status: 'Healthy', reason: 'x' } },
      /additional properties 'reason'/,
    ],
    [
      'revisions as a string',
      { ...base, sync: { status: 'Synced', revisions: SHA } },
      /sync\.revisions must be array/,
    ],
    [
      'an operationState without startedAt',
      { ...base, operationState: { operation: {}, phase: 'Running' } },
      /must have required property 'startedAt'/,
    ],
    [
      'an invented condition type',
      { ...base, conditions: [{ type: 'BuildFailed', message: 'x' }] },
      /conditions\.0\.type/,
    ],
  ])('rejects %s', (_, status, error) => {
    expect(statusErrors(status).join('; ')).toMatch(error);
  });

  it('refuses to serve an invented status', async () => {
    const k8s = new FakeKubernetes();
    expect(() => k8s.put('argocd', 'iris', { health: { status: 'Fine' } })).toThrow(
      /not an Application status/,
    );
  });
});

describe('fake Kubernetes: watch bookmarks', () => {
  const k8s = new FakeKubernetes();
  beforeAll(async () => {
    await k8s.start();
    k8s.put('argocd', 'iris', argoStatus({ sync: 'Synced', revision: SHA, health: 'Healthy' }));
  });
  afterAll(() => k8s.stop());

  const watch = (
    bookmarks: boolean,
  ): Promise<{ type: string; object: { metadata: { resourceVersion: string } } }[]> =>
    new Promise((resolve, reject) => {
      const events: string[] = [];
      const q = `watch=true&timeoutSeconds=1${bookmarks ? '&allowWatchBookmarks=true' : ''}`;
      request(`${k8s.url}/apis/argoproj.io/v1alpha1/namespaces/argocd/applications?${q}`, {
        headers: { authorization: 'Bearer fake-k8s-token' },
      })
        .on('response', (res) => {
          res.setEncoding('utf8');
          res.on('data', (d: string) => events.push(d));
          res.on('end', () =>
            resolve(
              events
                .join('')
                .trim()
                .split('\n')
                .map((l) => JSON.parse(l)),
            ),
          );
        })
        .on('error', reject)
        .end();
    });

  it('sends BOOKMARK events with the current resourceVersion only when allowWatchBookmarks is set', async () => {
    const [withBookmarks, without] = await Promise.all([watch(true), watch(false)]);
    const rv = k8s.get('argocd', 'iris')!.metadata.resourceVersion;
    const marks = withBookmarks.filter((e) => e.type === 'BOOKMARK');
    expect(marks.length).toBeGreaterThan(0);
    expect(marks[0]!.object).toEqual({
      kind: 'Application',
      apiVersion: 'argoproj.io/v1alpha1',
      metadata: { resourceVersion: rv },
    });
    expect(without.map((e) => e.type)).toEqual(['ADDED']);
  });
});
