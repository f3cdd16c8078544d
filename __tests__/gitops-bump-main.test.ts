/**
 * gitops-bump's main(inputs, deps) called in-process against a real bare repository, with a fake
 * ArgoCD (a stand-in for argocd.ts that records what it was asked) and the fake GitHub: the logic
 * without the runner. The gitops-bump*.test.ts bundle tests stay the end-to-end proof.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as github from '@actions/github';
import type { KubeConfig } from '@kubernetes/client-node';
import { main, type ArgoCD, type Deps } from '../actions/gitops-bump/action.js';
import type { SyncResult, WaitOptions } from '../actions/gitops-bump/argocd.js';
import { DEFAULT_MESSAGE, type Inputs } from '../actions/gitops-bump/inputs.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { registerPullHandlers } from './helpers/fake-github/pulls.js';
import { cloneFresh, commitCount, head, makeOrigin, readFrom, type Origin } from './helpers/gitops-repo.js';

const IMAGE = 'ghcr.io/octo-org/iris';
const FILE = 'apps/iris/kustomization.yaml';
const SERVER = 'https://ghes.example.com';

let gh: FakeGitHub;
let origin: Origin;
beforeAll(async () => {
  origin = makeOrigin({ [FILE]: `images:\n  - name: ${IMAGE}\n    newTag: "1.0.0"\n` });
  gh = new FakeGitHub({ repos: ['octo-org/gitops'] });
  registerPullHandlers(gh, { gitDir: origin.bare });
  await gh.start();
});
afterAll(() => gh.stop());

const inputs = (over: Partial<Inputs> = {}): Inputs => ({
  repo: { owner: 'octo-org', repo: 'gitops' },
  remoteUrl: pathToFileURL(origin.bare).href,
  files: [FILE],
  image: IMAGE,
  target: { name: IMAGE, tag: '1.1.0' },
  helmPaths: [['image']],
  mode: 'push',
  commitMessage: DEFAULT_MESSAGE,
  author: { name: 'Bot', email: 'bot@example.com' },
  waitForSync: false,
  argocdNamespace: 'argocd',
  argocdRefresh: true,
  timeoutMs: 30_000,
  apiToken: 'ghs_test_token',
  serverUrl: SERVER,
  tempDir: mkdtempSync(join(tmpdir(), 'gitops-main-')),
  ...over,
});

/** An ArgoCD whose wait answers `answer` (or throws it), recording every wait. */
function fakeArgo(answer: SyncResult | Error): ArgoCD & { waits: WaitOptions[]; kubeconfigs: unknown[] } {
  const waits: WaitOptions[] = [];
  const kubeconfigs: unknown[] = [];
  return {
    waits,
    kubeconfigs,
    loadKubeConfig: (value) => {
      kubeconfigs.push(value);
      if (value === 'broken') throw new Error("Input 'kubeconfig': expected a kubeconfig, got 'broken'");
      return {} as KubeConfig;
    },
    waitForSync: async (options) => {
      waits.push(options);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

function deps(argo?: ArgoCD): Deps & { tokens: string[] } {
  const tokens: string[] = [];
  return {
    tokens,
    octokit: async (token) => {
      tokens.push(token);
      return github.getOctokit(token, { baseUrl: gh.url });
    },
    argocd: async () => {
      if (!argo) throw new Error('ArgoCD loaded although wait-for-sync is false');
      return argo;
    },
  };
}

const synced: SyncResult = { ok: true, reason: '', last: 'sync Synced, health Healthy', elapsedMs: 1 };

describe('gitops-bump main', () => {
  it('pushes the bump, sets the outputs and links the commit in the summary; a second run is a no-op', async () => {
    const first = await main(inputs(), deps());
    expect(first.failure).toBeUndefined();
    expect(first.outputs.changed).toBe('true');
    expect(first.outputs['commit-sha']).toBe(head(origin));
    expect(first.outputs['previous-image']).toBe(`${IMAGE}:1.0.0`);
    expect(JSON.parse(first.outputs['changed-files'])).toEqual([FILE]);
    expect(readFrom(cloneFresh(origin), FILE)).toContain('newTag: "1.1.0"');
    const sha = first.outputs['commit-sha'];
    expect(first.stepSummary).toContain(`(${SERVER}/octo-org/gitops/commit/${sha})`);

    const commits = commitCount(origin);
    const again = await main(inputs(), deps());
    expect(again.outputs.changed).toBe('false');
    expect(again.outputs['commit-sha']).toBe('');
    expect(again.outputs['previous-image']).toBe(`${IMAGE}:1.1.0`);
    expect(commitCount(origin)).toBe(commits);
    expect(again.stepSummary).toContain('nothing to commit');
  });

  it('waits for ArgoCD on the pushed commit, and a failed sync fails the step with the outputs kept', async () => {
    const argo = fakeArgo({
      ok: false,
      reason: 'Application is Degraded: boom',
      last: 'health Degraded',
      elapsedMs: 1,
    });
    const result = await main(
      inputs({
        target: { name: IMAGE, tag: '1.2.0' },
        waitForSync: true,
        argocdApp: 'iris',
        kubeconfig: 'kc',
        argocdUrl: 'https://argocd.example.com',
      }),
      deps(argo),
    );
    expect(argo.kubeconfigs).toEqual(['kc']);
    expect(argo.waits).toHaveLength(1);
    expect(argo.waits[0]).toMatchObject({
      namespace: 'argocd',
      name: 'iris',
      revision: head(origin),
      refresh: true,
    });
    expect(result.failure).toBe('Application is Degraded: boom (last status: health Degraded)');
    expect(result.outputs['commit-sha']).toBe(head(origin));
    expect(result.outputs['previous-image']).toBe(`${IMAGE}:1.1.0`);
    expect(result.stepSummary).toContain('**failed**: Application is Degraded: boom');
    // The summary links the Application in ArgoCD's UI, and the commit on the GitHub server.
    expect(result.stepSummary).toContain(
      'ArgoCD application: [argocd/iris](https://argocd.example.com/applications/argocd/iris)',
    );
    expect(result.stepSummary).toContain(`${SERVER}/octo-org/gitops/commit/${head(origin)}`);
  });

  it('checks the deployed tip when nothing changed, and an error while waiting still returns the outputs', async () => {
    const argo = fakeArgo(new Error('Application argocd/iris not found'));
    const result = await main(
      inputs({ target: { name: IMAGE, tag: '1.2.0' }, waitForSync: true, argocdApp: 'iris' }),
      deps(argo),
    );
    expect(argo.waits[0]!.revision).toBe(head(origin));
    expect(result.outputs.changed).toBe('false');
    expect(result.outputs['previous-image']).toBe(`${IMAGE}:1.2.0`);
    expect(result.failure).toBe('Application argocd/iris not found');
    // No ArgoCD URL given: the Application is named, not linked.
    expect(result.stepSummary).toContain('ArgoCD application: `argocd/iris`');
  });

  it('names the remote instead of linking a commit when the repository is not on GitHub', async () => {
    const url = pathToFileURL(origin.bare).href;
    const result = await main(inputs({ repo: undefined, target: { name: IMAGE, tag: '1.3.0' } }), deps());
    const sha = result.outputs['commit-sha'];
    expect(sha).toBe(head(origin));
    expect(result.stepSummary).toContain(`Commit: \`${sha.slice(0, 7)}\` on \`main\` of \`${url}\``);
    expect(result.stepSummary).not.toContain('/commit/');
    expect(result.stepSummary).not.toContain('ArgoCD');
  });

  it('fails on a bad kubeconfig before anything is pushed', async () => {
    const commits = commitCount(origin);
    await expect(
      main(
        inputs({
          target: { name: IMAGE, tag: '9.9.9' },
          waitForSync: true,
          argocdApp: 'iris',
          kubeconfig: 'broken',
        }),
        deps(fakeArgo(synced)),
      ),
    ).rejects.toThrow("Input 'kubeconfig'");
    expect(commitCount(origin)).toBe(commits);
  });

  it('opens a pull request with the API token and does not wait for ArgoCD in pull-request mode', async () => {
    const argo = fakeArgo(synced);
    const d = deps(argo);
    const before = head(origin);
    const result = await main(
      inputs({
        mode: 'pull-request',
        target: { name: IMAGE, tag: '2.0.0' },
        waitForSync: true,
        argocdApp: 'iris',
      }),
      d,
    );
    expect(d.tokens).toEqual(['ghs_test_token']);
    expect(argo.waits).toEqual([]);
    expect(head(origin)).toBe(before);
    expect(result.outputs['pull-request-url']).toMatch(/\/octo-org\/gitops\/pull\/\d+$/);
    const pulls = [...gh.state.repo('octo-org', 'gitops')!.pulls.values()];
    expect(pulls).toHaveLength(1);
    expect(head(origin, pulls[0]!.head.ref)).toBe(result.outputs['commit-sha']);
    expect(result.stepSummary).toContain(`Pull request: ${result.outputs['pull-request-url']}`);
  });

  it('refuses pull-request mode without owner/name, naming the input', async () => {
    await expect(
      main(inputs({ mode: 'pull-request', repo: undefined, target: { name: IMAGE, tag: '3.0.0' } }), deps()),
    ).rejects.toThrow("Input 'repository'");
  });
});
