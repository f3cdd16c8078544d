/** gitops-bump: sets an image's tag/digest in GitOps files, lands it (push or PR), optionally waits for ArgoCD. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import { run } from '../shared/run.js';
import { readInputs } from './inputs.js';
import { Git } from './git.js';
import { bump } from './bump.js';
import type { SyncResult } from './argocd.js';
import { writeSummary } from './summary.js';

await run(async () => {
  const inputs = readInputs();
  // The Kubernetes client is most of the bundle: load it only when a sync is awaited.
  const argocd = inputs.waitForSync ? await import('./argocd.js') : undefined;
  const kc = argocd?.loadKubeConfig(inputs.kubeconfig);
  const temp = process.env.RUNNER_TEMP || tmpdir();
  await mkdir(temp, { recursive: true });
  const dir = await mkdtemp(join(temp, 'gitops-bump-'));
  try {
    const git = new Git(join(dir, 'repo'), {
      token: inputs.token,
      remoteUrl: inputs.remoteUrl,
      author: inputs.author,
      timeoutMs: inputs.timeoutMs,
    });
    // Octokit is only needed for pull requests; push mode starts faster without loading it.
    const octokit =
      inputs.mode === 'pull-request' && inputs.repo
        ? (await import('../shared/github.js')).createOctokit(inputs.token ?? process.env.GITHUB_TOKEN ?? '')
        : undefined;
    const result = await bump(git, inputs, octokit);

    core.setOutput('changed', String(result.changed));
    core.setOutput('commit-sha', result.sha ?? '');
    core.setOutput('pull-request-url', result.pullRequestUrl ?? '');
    core.setOutput('changed-files', JSON.stringify(result.changedFiles));
    core.setOutput('previous-image', result.previousImage);

    let sync: SyncResult | undefined;
    if (argocd && kc) {
      if (inputs.mode === 'pull-request') {
        core.warning(
          'wait-for-sync is skipped in pull-request mode: nothing is deployed until the PR merges.',
        );
      } else {
        const revision = result.sha ?? result.tip;
        sync = await argocd.waitForSync({
          kc,
          namespace: inputs.argocdNamespace,
          name: inputs.argocdApp!,
          revision,
          timeoutMs: inputs.timeoutMs,
          refresh: inputs.argocdRefresh,
          contains: (later) => git.contains(revision, later, result.branch),
        });
        core.info(sync.ok ? `ArgoCD synced ${revision.slice(0, 12)}: ${sync.last}` : sync.reason);
      }
    }
    await writeSummary({
      image: inputs.image,
      locations: result.locations,
      commitSha: result.sha,
      commitUrl: result.commitUrl,
      pullRequestUrl: result.pullRequestUrl,
      branch: result.branch,
      changed: result.changed,
      sync,
    });
    if (sync && !sync.ok) throw new Error(`${sync.reason} (last status: ${sync.last})`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
