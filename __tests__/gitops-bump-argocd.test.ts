/**
 * wait-for-sync against a local fake Kubernetes API serving ArgoCD Applications: the test plays
 * the ArgoCD controller, reacting to the refresh annotation by reading the origin's branch tip,
 * as ArgoCD would, and writing status the way the controller does.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { argoOperation, argoStatus, FakeKubernetes } from './helpers/fake-k8s.js';
import { runAction } from './helpers/run-action.js';
import { commitDirect, head, makeOrigin, type Origin } from './helpers/gitops-repo.js';

const IMAGE = 'ghcr.io/octo-org/iris';
let k8s: FakeKubernetes;
let origin: Origin;
let kubeconfigPath: string;

beforeAll(async () => {
  k8s = new FakeKubernetes();
  await k8s.start();
  origin = makeOrigin({
    'apps/iris/kustomization.yaml': `images:\n  - name: ${IMAGE}\n    newTag: "1.0.0"\n`,
  });
  kubeconfigPath = join(origin.root, 'kubeconfig');
  writeFileSync(kubeconfigPath, k8s.kubeconfig());
});
afterAll(() => k8s.stop());

let tag = 0;
const bump = (inputs: Record<string, string>, env: Record<string, string> = {}) =>
  runAction('gitops-bump', {
    inputs: {
      repository: origin.bare,
      files: 'apps/iris/kustomization.yaml',
      image: IMAGE,
      tag: `1.0.${++tag}`,
      'wait-for-sync': 'true',
      'argocd-app': 'iris',
      kubeconfig: kubeconfigPath,
      timeout: '30s',
      ...inputs,
    },
    env: { GITHUB_TOKEN: 'ghs_test_token', ...env },
  });

/** After a refresh request, the controller goes through OutOfSync and a running sync to `final`. */
function controller(final: (revision: string) => Parameters<typeof argoStatus>[0]): void {
  k8s.onPatch = (app, patch) => {
    const annotations = (patch as { metadata?: { annotations?: Record<string, string> } }).metadata
      ?.annotations;
    if (annotations?.['argocd.argoproj.io/refresh'] !== 'normal') return;
    const revision = head(origin);
    const { namespace, name } = app.metadata;
    setTimeout(() => {
      k8s.update(namespace, name, (a) => {
        delete a.metadata.annotations?.['argocd.argoproj.io/refresh'];
        a.status = argoStatus({
          sync: 'OutOfSync',
          revision,
          health: 'Healthy',
          phase: 'Running',
          message: 'waiting for healthy state',
        });
      });
      setTimeout(() => k8s.update(namespace, name, (a) => (a.status = argoStatus(final(revision)))), 300);
    }, 300);
  };
}

const seedApp = (): void => {
  k8s.put(
    'argocd',
    'iris',
    argoStatus({ sync: 'Synced', revision: head(origin), health: 'Healthy', phase: 'Succeeded' }),
  );
};

describe('gitops-bump wait-for-sync', () => {
  it('passes once the Application is Synced and Healthy on the pushed commit, after a refresh', async () => {
    seedApp();
    controller((revision) => ({ sync: 'Synced', revision, health: 'Healthy', phase: 'Succeeded' }));
    const before = k8s.requests.length;
    const res = await bump({ 'argocd-url': 'https://argocd.example.com/' });
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    const sha = res.outputs['commit-sha']!;
    expect(sha).toBe(head(origin));
    const mine = k8s.requests.slice(before);
    const patch = mine.find((r) => r.method === 'PATCH')!;
    expect(patch.path).toBe('/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/iris');
    expect(patch.contentType).toMatch(/^application\/merge-patch\+json/);
    expect(patch.body).toEqual({ metadata: { annotations: { 'argocd.argoproj.io/refresh': 'normal' } } });
    // It saw the result through a watch, not by polling.
    expect(mine.some((r) => r.query.watch === 'true' && r.query.fieldSelector === 'metadata.name=iris')).toBe(
      true,
    );
    expect(res.summary).toMatch(/ArgoCD: Synced and Healthy/);
    expect(res.summary).toContain(sha.slice(0, 12));
    // The Application linked in ArgoCD's UI (the trailing slash of the input dropped).
    expect(res.summary).toContain(
      'ArgoCD application: [argocd/iris](https://argocd.example.com/applications/argocd/iris)',
    );
  });

  it('fails fast with ArgoCD’s message when the new revision is Degraded', async () => {
    seedApp();
    controller((revision) => ({
      sync: 'Synced',
      revision,
      health: 'Degraded',
      healthMessage: 'Deployment "iris" exceeded its progress deadline',
      phase: 'Succeeded',
    }));
    const started = Date.now();
    const res = await bump({ timeout: '60s' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/Degraded: Deployment "iris" exceeded its progress deadline/);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(res.summary).toMatch(/ArgoCD: \*\*failed\*\*/);
    // The commit still landed; only the rollout failed.
    expect(res.outputs['commit-sha']).toBe(head(origin));
  });

  it('fails fast on a sync operation that Failed, with its message', async () => {
    seedApp();
    controller((revision) => ({
      sync: 'OutOfSync',
      revision,
      health: 'Healthy',
      phase: 'Failed',
      message: 'one or more objects failed to apply, reason: admission webhook denied the request',
    }));
    const res = await bump({ timeout: '60s' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(
      /sync operation Failed: one or more objects failed to apply, reason: admission webhook/,
    );
  });

  it('times out with the last status when ArgoCD stays on an older revision', async () => {
    seedApp();
    const stale = head(origin);
    k8s.onPatch = undefined;
    const res = await bump({ timeout: '3s', 'argocd-refresh': 'false' });
    expect(res.code).toBe(1);
    const error = res.errors.join('\n');
    expect(error).toMatch(/timed out after 3s/);
    expect(error).toContain(`revision ${stale.slice(0, 12)}`);
    expect(error).toMatch(/sync Synced.*health Healthy/);
    expect(k8s.requests.filter((r) => r.method === 'PATCH' && r.status === 200).length).toBeGreaterThan(0);
  });

  it('re-lists and resumes after 410 Gone, with an inline kubeconfig', async () => {
    seedApp();
    controller((revision) => ({ sync: 'Synced', revision, health: 'Healthy', phase: 'Succeeded' }));
    k8s.expireNextWatch = true;
    const before = k8s.requests.length;
    const res = await bump({ kubeconfig: k8s.kubeconfig() });
    expect(res.errors).toEqual([]);
    const lists = k8s.requests.slice(before).filter((r) => r.method === 'GET' && r.query.watch === undefined);
    expect(lists.length).toBeGreaterThanOrEqual(2);
    // The inline kubeconfig's token is registered as a secret and printed nowhere else.
    expect(res.stdout).toContain('::add-mask::fake-k8s-token');
    expect(res.stdout.replace('::add-mask::fake-k8s-token', '')).not.toContain('fake-k8s-token');
  });

  it('accepts a later commit that contains the pushed one (another run pushed right after)', async () => {
    seedApp();
    let later = '';
    k8s.onPatch = (app, patch) => {
      if (!(patch as { metadata?: { annotations?: object } }).metadata?.annotations) return;
      // Someone else lands a commit before ArgoCD looks; ArgoCD then syncs the newest tip.
      later = commitDirect(origin, 'apps/other/values.yaml', `replicas: ${tag}\n`, 'another run');
      const { namespace, name } = app.metadata;
      setTimeout(
        () =>
          k8s.update(namespace, name, (a) => {
            a.status = argoStatus({ sync: 'Synced', revision: later, health: 'Healthy', phase: 'Succeeded' });
          }),
        200,
      );
    };
    const res = await bump({});
    expect(res.errors).toEqual([]);
    expect(later).not.toBe(res.outputs['commit-sha']);
    expect(res.stdout).toContain(`a later commit that contains ${res.outputs['commit-sha']!.slice(0, 12)}`);
  });

  it('is not failed by an older failed operation, only by one on the pushed commit', async () => {
    k8s.put(
      'argocd',
      'iris',
      argoStatus({
        sync: 'OutOfSync',
        revision: head(origin),
        health: 'Healthy',
        phase: 'Failed',
        message: 'an old failure',
      }),
    );
    controller((revision) => ({ sync: 'Synced', revision, health: 'Healthy', phase: 'Succeeded' }));
    // ArgoCD first compares the new commit while the last operation is still the old failed one.
    const original = k8s.onPatch!;
    k8s.onPatch = (app, patch) => {
      k8s.update(app.metadata.namespace, app.metadata.name, (a) => {
        (a.status!.sync as { revision: string }).revision = head(origin);
      });
      original(app, patch);
    };
    const res = await bump({});
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
  });

  it('is not done while a PostSync hook runs on Synced+Healthy, and fails with the hook’s message', async () => {
    seedApp();
    k8s.onPatch = (app, patch) => {
      if (!(patch as { metadata?: { annotations?: object } }).metadata?.annotations) return;
      const revision = head(origin);
      const { namespace, name } = app.metadata;
      const hooks = (hookPhase: 'Running' | 'Failed', message?: string) => [
        { name: 'smoke-test', hookType: 'PostSync' as const, hookPhase, message },
      ];
      setTimeout(() => {
        k8s.update(namespace, name, (a) => {
          delete a.metadata.annotations?.['argocd.argoproj.io/refresh'];
          a.status = argoStatus({
            sync: 'Synced',
            revision,
            health: 'Healthy',
            phase: 'Running',
            message: 'waiting for completion of hook batch/Job/smoke-test',
            hooks: hooks('Running'),
          });
        });
        setTimeout(
          () =>
            k8s.update(namespace, name, (a) => {
              a.status = argoStatus({
                sync: 'Synced',
                revision,
                health: 'Healthy',
                phase: 'Failed',
                message: 'one or more synchronization tasks completed unsuccessfully',
                hooks: hooks('Failed', 'Job has reached the specified backoff limit'),
              });
            }),
          800,
        );
      }, 200);
    };
    const res = await bump({});
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(
      /sync operation Failed: Job\/iris\/smoke-test \(PostSync hook\): Job has reached the specified backoff limit/,
    );
    expect(res.stdout).toMatch(/operation Running: waiting for completion of hook/);
  });

  /**
   * On the refresh: `first` (with the previous and the pushed commit), then, 800 ms later, `final`.
   * With `requested`, `first` comes with a sync of the pushed commit requested (`operation`, as
   * auto-sync or a person sets it) that `final` has run.
   */
  function twoStep(
    first: (previous: string, revision: string) => Parameters<typeof argoStatus>[0],
    final?: (revision: string) => Parameters<typeof argoStatus>[0],
    requested = false,
  ): void {
    const previous = head(origin);
    k8s.onPatch = (app, patch) => {
      if (!(patch as { metadata?: { annotations?: object } }).metadata?.annotations) return;
      const revision = head(origin);
      const { namespace, name } = app.metadata;
      setTimeout(() => {
        k8s.update(namespace, name, (a) => {
          delete a.metadata.annotations?.['argocd.argoproj.io/refresh'];
          a.status = argoStatus(first(previous, revision));
          if (requested) a.operation = argoOperation(a, revision);
        });
        if (final)
          setTimeout(
            () =>
              k8s.update(namespace, name, (a) => {
                delete a.operation;
                a.status = argoStatus(final(revision));
              }),
            800,
          );
      }, 200);
    };
  }

  it('is not done on Synced+Healthy while a sync is requested and the last operation is on the previous commit', async () => {
    seedApp();
    const previous = head(origin);
    twoStep(
      (prev, revision) => ({
        sync: 'Synced',
        revision,
        health: 'Healthy',
        phase: 'Succeeded',
        opRevision: prev,
      }),
      (revision) => ({ sync: 'Synced', revision, health: 'Healthy', phase: 'Succeeded' }),
      true,
    );
    const res = await bump({});
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    const sha = res.outputs['commit-sha']!;
    // It logged that state as one to wait through, not as the end.
    expect(res.stdout).toContain(
      `revision ${sha.slice(0, 12)}, health Healthy, operation Succeeded on ${previous.slice(0, 12)}: successfully synced (all tasks run), sync requested`,
    );
    expect(res.stdout).not.toContain('nothing to sync');
  });

  it('is not done on Synced+Healthy without an operation in a status reconciled before the wait began', async () => {
    seedApp();
    // A reconciledAt older than the wait (a stale status, or a cluster clock behind the runner's)
    // does not show that ArgoCD compared the pushed commit and found nothing to sync.
    twoStep((_, revision) => ({
      sync: 'Synced',
      revision,
      health: 'Healthy',
      reconciledAt: new Date(Date.now() - 120_000),
    }));
    const res = await bump({ timeout: '3s' });
    expect(res.code).toBe(1);
    const error = res.errors.join('\n');
    expect(error).toMatch(/timed out after 3s/);
    expect(error).toContain(
      `revision ${res.outputs['commit-sha']!.slice(0, 12)}, health Healthy, no sync operation`,
    );
  });

  it('passes once the requested sync of the pushed commit appears after a status without one', async () => {
    seedApp();
    twoStep(
      (_, revision) => ({ sync: 'Synced', revision, health: 'Healthy' }),
      (revision) => ({ sync: 'Synced', revision, health: 'Healthy', phase: 'Succeeded' }),
      true,
    );
    const res = await bump({});
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(
      `revision ${res.outputs['commit-sha']!.slice(0, 12)}, health Healthy, no sync operation`,
    );
  });

  it.each([
    ['an app the bump did not touch (monorepo)', 'web', (sha: string): string | string[] => sha],
    ['a multi-source Application', 'iris', (sha: string): string | string[] => ['c'.repeat(40), sha]],
  ])(
    'passes when ArgoCD reconciles the pushed commit as Synced without an operation: %s',
    async (_, app, revisions) => {
      // The last operation is an older commit's: the pushed commit renders what is live, so
      // auto-sync skips it and never writes an operation for it.
      const previous = head(origin);
      const was = revisions(previous);
      const at = Array.isArray(was) ? { revisions: was } : { revision: was };
      k8s.put('argocd', app, argoStatus({ sync: 'Synced', ...at, health: 'Healthy', phase: 'Succeeded' }));
      k8s.onPatch = (a, patch) => {
        if (!(patch as { metadata?: { annotations?: object } }).metadata?.annotations) return;
        const { namespace, name } = a.metadata;
        setTimeout(() => k8s.reconcileUnchanged(namespace, name, revisions(head(origin))), 200);
      };
      const res = await bump({ 'argocd-app': app, timeout: '20s' });
      expect(res.errors).toEqual([]);
      expect(res.code).toBe(0);
      const sha = res.outputs['commit-sha']!;
      expect(res.stdout).toContain('ArgoCD found nothing to sync');
      expect(res.summary).toMatch(/ArgoCD: Synced and Healthy/);
      expect(res.summary).toMatch(new RegExp(`operation Succeeded on (c{12},)?${previous.slice(0, 12)}`));
      expect(res.summary).toContain(sha.slice(0, 12));
      expect(k8s.get('argocd', app)!.operation).toBeUndefined();
    },
  );

  it.each([
    ['a sync of it is requested', { requested: true, health: 'Healthy' as const }, /timed out after 3s/],
    ['it is Progressing', { requested: false, health: 'Progressing' as const }, /timed out after 3s/],
    ['it is Degraded', { requested: false, health: 'Degraded' as const }, /Application is Degraded/],
  ])(
    'is not passed by a reconcile of the pushed commit without an operation when %s',
    async (_, { requested, health }, error) => {
      k8s.put(
        'argocd',
        'iris',
        argoStatus({ sync: 'Synced', revision: head(origin), health, phase: 'Succeeded' }),
      );
      k8s.onPatch = (a, patch) => {
        if (!(patch as { metadata?: { annotations?: object } }).metadata?.annotations) return;
        const { namespace, name } = a.metadata;
        const revision = head(origin);
        setTimeout(() => {
          if (requested) k8s.update(namespace, name, (x) => (x.operation = argoOperation(x, revision)));
          k8s.reconcileUnchanged(namespace, name, revision);
        }, 200);
      };
      const res = await bump({ timeout: '3s' });
      expect(res.code).toBe(1);
      expect(res.errors.join('\n')).toMatch(error);
      expect(res.stdout).not.toContain('nothing to sync');
    },
  );

  it('fails fast on a ComparisonError that ArgoCD reports on the previous commit after the refresh', async () => {
    seedApp();
    const message =
      'Failed to load target state: kustomize build: invalid Kustomization: json: unknown field "imagez"';
    twoStep((prev) => ({
      sync: 'Unknown',
      revision: prev,
      health: 'Healthy',
      conditions: [{ type: 'ComparisonError', message }],
    }));
    const res = await bump({ timeout: '60s' });
    expect(res.code).toBe(1);
    const error = res.errors.join('\n');
    expect(error).toContain(`cannot compare the Application: ComparisonError: ${message}`);
    expect(error).not.toMatch(/timed out/);
  });

  it('is not failed by a ComparisonError on the previous commit from before the refresh', async () => {
    // A passing repo-server outage left its error; the refresh then renders the new commit.
    k8s.put(
      'argocd',
      'iris',
      argoStatus({
        sync: 'Unknown',
        revision: head(origin),
        health: 'Healthy',
        conditions: [
          {
            type: 'ComparisonError',
            message: 'rpc error: code = Unavailable desc = connection error: connection refused',
          },
        ],
      }),
    );
    controller((revision) => ({ sync: 'Synced', revision, health: 'Healthy', phase: 'Succeeded' }));
    const res = await bump({});
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
  });

  it('waits through Progressing and passes on a multi-source Application (revisions, no revision)', async () => {
    seedApp();
    const chart = 'c'.repeat(40);
    controller((revision) => ({
      sync: 'Synced',
      revisions: [chart, revision],
      health: 'Healthy',
      phase: 'Succeeded',
    }));
    const original = k8s.onPatch!;
    const bookmarks = k8s.bookmarksSent;
    // ArgoCD's work starts only once a BOOKMARK has reached the watch, so that the assertion below
    // does not depend on how fast this machine is; its states then come in their order.
    const polls: NodeJS.Timeout[] = [];
    const whenBookmarked = (then: () => void): void => {
      const poll = setInterval(() => {
        if (k8s.bookmarksSent <= bookmarks) return;
        clearInterval(poll);
        then();
      }, 50);
      polls.push(poll);
    };
    k8s.onPatch = (app, patch) =>
      whenBookmarked(() => {
        original(app, patch);
        // Before the end state: synced on our commit, the Deployment still rolling out.
        setTimeout(
          () =>
            k8s.update(app.metadata.namespace, app.metadata.name, (a) => {
              a.status = argoStatus({
                sync: 'Synced',
                revisions: [chart, head(origin)],
                health: 'Progressing',
                phase: 'Succeeded',
                resources: [
                  {
                    group: 'apps',
                    kind: 'Deployment',
                    name: 'iris',
                    health: 'Progressing',
                    message: 'Waiting for rollout to finish: 1 of 2 updated replicas are available...',
                  },
                ],
              });
            }),
          450,
        );
      });
    // Without a bookmark the wait times out, and nothing is left polling after it.
    const res = await bump({}).finally(() => polls.forEach(clearInterval));
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/health Progressing/);
    expect(res.stdout).toContain(`revision ${chart.slice(0, 12)},${res.outputs['commit-sha']!.slice(0, 12)}`);
    // The watch asked for bookmarks (ArgoCD's states above start only after one), and they did not
    // disturb it.
  });

  it('takes the failure message from the resources when health.message is empty (ArgoCD 3)', async () => {
    seedApp();
    controller((revision) => ({
      sync: 'Synced',
      revision,
      health: 'Degraded',
      phase: 'Succeeded',
      resources: [
        {
          group: 'apps',
          kind: 'Deployment',
          name: 'iris',
          health: 'Degraded',
          message: 'Deployment "iris" exceeded its progress deadline',
        },
        { kind: 'Service', name: 'iris', health: 'Healthy' },
      ],
    }));
    const res = await bump({ timeout: '60s' });
    expect(res.code).toBe(1);
    const error = res.errors.join('\n');
    expect(error).toMatch(
      /Degraded: Deployment\/iris\/iris is Degraded: Deployment "iris" exceeded its progress deadline/,
    );
    expect(error).not.toMatch(/Service/);
  });

  it.each([
    [
      'Unknown with a ComparisonError',
      (revision: string) => ({
        sync: 'Unknown' as const,
        revision,
        health: 'Healthy' as const,
        conditions: [
          {
            type: 'ComparisonError',
            message: 'Failed to load target state: kustomize build: accumulating resources',
          },
        ],
      }),
      /cannot compare the Application: ComparisonError: Failed to load target state: kustomize build/,
    ],
    [
      'Suspended',
      (revision: string) => ({
        sync: 'Synced' as const,
        revision,
        health: 'Suspended' as const,
        phase: 'Succeeded' as const,
        resources: [
          {
            group: 'argoproj.io',
            kind: 'Rollout',
            name: 'iris',
            health: 'Suspended' as const,
            message: 'Rollout is paused',
          },
        ],
      }),
      /Application is Suspended .*Rollout\/iris\/iris is Suspended: Rollout is paused/,
    ],
    [
      'Missing',
      (revision: string) => ({
        sync: 'Synced' as const,
        revision,
        health: 'Missing' as const,
        phase: 'Succeeded' as const,
        resources: [{ group: 'apps', kind: 'Deployment', name: 'iris', health: 'Missing' as const }],
      }),
      /Application is Missing its resources .*Deployment\/iris\/iris is Missing/,
    ],
  ])('fails fast on %s, with its message', async (_, final, error) => {
    seedApp();
    controller(final);
    const res = await bump({ timeout: '20s' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(error);
    expect(res.errors.join('\n')).not.toMatch(/timed out/);
  });

  it('fails clearly when the Application does not exist', async () => {
    const res = await bump({ 'argocd-app': 'nope', 'argocd-refresh': 'false' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/Application argocd\/nope not found/);
  });

  it('fails before any push when no kubeconfig is given anywhere, naming the input', async () => {
    seedApp();
    const before = head(origin);
    const home = mkdtempSync(join(origin.root, 'home-'));
    const res = await bump({ kubeconfig: '' }, { HOME: home, KUBECONFIG: '' });
    expect(res.code).toBe(1);
    const error = res.errors.join('\n');
    expect(error).toMatch(/Input 'kubeconfig'.*no kubeconfig given/);
    expect(error).not.toMatch(/HTTP protocol|localhost:8080/);
    expect(head(origin)).toBe(before);
  });

  it('rejects an argocd-url that is not an http(s) URL without credentials, before any push', async () => {
    const before = head(origin);
    const res = await bump({ 'argocd-url': 'https://admin:pw@argocd.example.com' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/Input 'argocd-url'/);
    expect(res.stdout + res.errors.join('\n')).not.toContain('admin:pw');
    expect(head(origin)).toBe(before);
  });

  it('rejects a kubeconfig that is neither a file nor content', async () => {
    const res = await bump({ kubeconfig: '/no/such/kubeconfig' });
    expect(res.code).toBe(1);
    expect(res.errors.join('\n')).toMatch(/Input 'kubeconfig'/);
  });
});
