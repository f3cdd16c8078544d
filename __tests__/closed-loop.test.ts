/**
 * The README's main command as an end-to-end test: the same runLoop() that `bash scripts/demo`
 * runs (scripts/loop/loop.ts), with the fake GitHub and, as the demo without GEMINI_API_KEY, no
 * Gemini. Real MLflow, the bundled train-and-log (a candidate, a worse one the gate refuses, a
 * faulty one it lets through), download-model, gitops-bump (deploys pushed to a local bare GitOps
 * origin, the rollback mode's pull request on the fake, the deployed mode after the merge), promote, the inference server on the model
 * the GitOps commit pins, Prometheus and Alertmanager with platform/'s configs, the relay bundle
 * and the bundled alert-to-issue.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { FAKE_REPOSITORY, FAKE_TOKEN, startFakeGitHub } from '../scripts/loop/fakes.js';
import { GITOPS_FILE } from '../scripts/loop/gitops.js';
import { IMAGE } from '../scripts/loop/images.js';
import { FAULT_ALERT, metricLabels, runLoop, type Live, type LoopResult } from '../scripts/loop/loop.js';
import { freePort, Procs, RUN_VAR } from '../scripts/loop/procs.js';
import { markdownForTerminal } from '../scripts/loop/terminal.js';
import type { FakeGitHub } from './helpers/fake-github/server.js';
import { ROOT } from './helpers/run-action.js';

let github: FakeGitHub;
const output: string[] = [];
const stateDir = mkdtempSync(join(tmpdir(), 'closed-loop-'));

/** What the server and the registry reported while a stage's result was live. */
interface Observed {
  champion?: string;
  ready?: Record<string, unknown>;
  info?: Record<string, string>;
}
const seen: Record<string, Observed> & { promAlert?: { state: string; labels: Record<string, string> } } = {};
let live: Live = {};
let result: LoopResult | undefined;
let failure: Error | undefined;

const championOf = async (mlflowUrl: string): Promise<string> => {
  const q = new URLSearchParams({ name: 'iris', alias: 'champion' });
  const res = await fetch(`${mlflowUrl}/api/2.0/mlflow/registered-models/alias?${q}`);
  return ((await res.json()) as { model_version: { version: string } }).model_version.version;
};

async function observe(l: Live): Promise<Observed> {
  const ready = ((await (await fetch(`${l.serverUrl}/readyz`)).json()) as { model: Record<string, unknown> })
    .model;
  const info = metricLabels(await (await fetch(`${l.serverUrl}/metrics`)).text(), 'iris_model_info');
  return { champion: await championOf(l.mlflowUrl!), ready, info };
}

const originGit = (...args: string[]): string =>
  execFileSync('git', ['--git-dir', result!.gitopsOrigin, ...args], { encoding: 'utf8' }).trim();

/** The commit's trailers as git parses them. */
const trailers = (sha: string): Record<string, string> =>
  Object.fromEntries(
    originGit('log', '-1', '--format=%(trailers:only,unfold)', sha)
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );

beforeAll(async () => {
  github = await startFakeGitHub();
  const procs = new Procs();
  try {
    result = await runLoop({
      procs,
      stateDir,
      // Not the demo's default port 5055: a demo may be running on this machine.
      mlflowPort: await freePort(),
      trainArgs: ['--n-estimators', '20'],
      github: { apiUrl: github.url, token: FAKE_TOKEN, repository: FAKE_REPOSITORY, fake: true },
      gitopsHost: github,
      out: (l) => output.push(l),
      // Observed from outside the loop, while each part is live.
      onStage: async (stage, l) => {
        live = l;
        if (['deploy', 'refused', 'deploy-faulty', 'recover'].includes(stage)) seen[stage] = await observe(l);
        if (stage === 'alert') {
          const res = await fetch(`${l.prometheusUrl}/api/v1/alerts`);
          const { data } = (await res.json()) as {
            data: { alerts: { state: string; labels: Record<string, string> }[] };
          };
          seen.promAlert = data.alerts.find((a) => a.labels.alertname === FAULT_ALERT);
        }
      },
    });
  } catch (err) {
    failure = err as Error;
  }
}, 480_000);

afterAll(async () => {
  await github?.stop();
});

describe('the closed loop (bash scripts/demo) with the fake GitHub and no Gemini key', () => {
  it('completes every stage', () => {
    expect({ error: failure?.message, output: failure ? output.join('\n') : '' }).toEqual({
      error: undefined,
      output: '',
    });
    expect(result!.timings.map((t) => t.name)).toHaveLength(12);
  });

  it("deploys the first version through a GitOps commit with the pipeline's trailers", () => {
    const { version, sha, image } = result!.good.deploy;
    // A fresh registry: no champion to beat, so the gate passes and the new version is deployed.
    expect(result!.gatePassed).toBe(true);
    expect(version).toBe(result!.modelVersion);
    expect(result!.runUrl).toMatch(/\/#\/experiments\/\d+\/runs\/[0-9a-f]{32}$/);
    expect(image.ref).toBe(`${IMAGE}@${image.digest}`);
    expect(trailers(sha)).toEqual({
      Model: 'iris',
      'Model-Version': version,
      Image: image.ref,
      Environment: 'prod',
      'Run-Id': image.labels['io.mlflow.run-id'],
    });
    expect(originGit('log', '-1', '--format=%s', sha)).toBe(
      `deploy(prod): iris v${version} as ${image.digest}`,
    );
    expect(originGit('show', `${sha}:${GITOPS_FILE}`)).toContain(`digest: ${image.digest}`);
  });

  it("serves the model the commit pins, from the image's directory, and then moves the champion", () => {
    const { version, image } = result!.good.deploy;
    const s = seen.deploy!;
    expect(s.ready).toMatchObject({
      uri: image.modelDir,
      name: 'iris',
      version,
      digest: image.labels['io.mlflow.model-digest'],
      features: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
    });
    expect(s.info).toMatchObject({ name: 'iris', version, digest: image.labels['io.mlflow.model-digest'] });
    expect(s.champion).toBe(version);
    expect(result!.traffic.ok).toBeGreaterThan(0);
  });

  it('refuses a worse candidate at the gate and keeps the champion and the deployment', () => {
    const refused = result!.refused;
    const good = result!.good.deploy.version;
    expect(refused.version).toBe(String(Number(good) + 1));
    expect(refused.passed).toBe(false);
    expect(refused.gate).toMatch(/Gate failed/);
    expect(seen.refused).toMatchObject({ champion: good, info: { version: good } });
    expect(output.join('\n')).toMatch(
      new RegExp(
        `refused: +v${refused.version} is not deployed; models:/iris@champion stays version ${good}`,
      ),
    );
  });

  it('lets the faulty candidate through the gate and deploys it the same way', () => {
    const { faulty, bad } = result!;
    expect(faulty.passed).toBe(true);
    expect(bad.deploy.version).toBe(faulty.version);
    expect(bad.deploy.image.digest).not.toBe(result!.good.deploy.image.digest);
    expect(trailers(bad.deploy.sha)).toMatchObject({
      'Model-Version': faulty.version,
      Image: bad.deploy.image.ref,
    });
    expect(originGit('rev-parse', `${bad.deploy.sha}~1`)).toBe(result!.good.deploy.sha);
    expect(seen['deploy-faulty']).toMatchObject({
      champion: faulty.version,
      ready: {
        version: faulty.version,
        uri: bad.deploy.image.modelDir,
        features: expect.arrayContaining(['sepal length (cm)']),
      },
      info: { version: faulty.version },
    });
  });

  it('fires the alert the faulty version causes, in Prometheus and through Alertmanager', () => {
    expect(seen.promAlert).toMatchObject({
      state: 'firing',
      labels: { alertname: FAULT_ALERT, model: 'iris' },
    });
    expect(result!.traffic.rejected).toBeGreaterThan(0);
    expect(result!.alert.labels).toMatchObject({
      alertname: FAULT_ALERT,
      model: 'iris',
      service: 'iris-classifier',
    });
  });

  it('delivers the firing and the resolved notifications to GitHub as repository_dispatch', () => {
    const dispatches = github.state.repo('octo-org', 'iris')!.dispatches;
    const statuses = dispatches
      .filter((d) => d.event_type === 'alertmanager')
      .map((d) => d.client_payload.alertmanager as { status: string; groupLabels: Record<string, string> })
      .filter((n) => n.groupLabels.alertname === FAULT_ALERT)
      .map((n) => n.status);
    expect(statuses).toEqual(expect.arrayContaining(['firing', 'resolved']));
    // alert-to-issue ran on exactly what GitHub received.
    expect(dispatches.map((d) => d.client_payload)).toContainEqual(result!.firing.client_payload);
    expect(dispatches.map((d) => d.client_payload)).toContainEqual(result!.resolved.client_payload);
  });

  it('opens an issue naming the faulty version and the commit that deployed it, closed on resolve', () => {
    const repo = github.state.repo('octo-org', 'iris')!;
    const bad = result!.bad.deploy;
    expect(result!.created.outputs.action).toBe('created');
    const issue = repo.issue(Number(result!.issueNumber))!;
    expect(issue.title).toBe(`[alert] ${FAULT_ALERT} (model=iris)`);
    const body = issue.body ?? '';
    const summary = body.slice(body.indexOf('### Summary'), body.indexOf('### Alerts'));
    // The deployed version and its commit, from the deploy commits' trailers; the previous
    // champion is the earlier deploy (not the refused version in between).
    expect(markdownForTerminal(summary)).toContain(
      `Model iris version ${bad.version} is the one deployed, by GitOps commit ${bad.sha.slice(0, 7)}; the previous champion was version ${result!.good.deploy.version}.`,
    );
    expect(body).toContain(`/#/models/iris/versions/${bad.version}`);
    // The deploy commit, from the GitOps history alert-to-issue lists, as the latest change.
    expect(body).toContain(`[${bad.sha.slice(0, 7)}](https://github.com/octo-org/iris/commit/${bad.sha})`);
    expect(markdownForTerminal(summary)).toContain(
      `The last GitOps change under platform/iris-classifier/overlays/prod was ${bad.sha.slice(0, 7)} (deploy(prod): iris v${bad.version} as ${bad.image.digest}`,
    );
    expect(result!.closed.outputs).toMatchObject({ action: 'closed', 'issue-number': result!.issueNumber });
    expect(issue.state).toBe('closed');
  });

  it('labels the summary as deterministic: no claim that Gemini wrote it without a key', () => {
    const body = github.state.repo('octo-org', 'iris')!.issue(Number(result!.issueNumber))!.body ?? '';
    expect(body).toContain('Deterministic summary built from the alerts');
    expect(body).not.toMatch(/Written by|gemini-/i);
  });

  it('opens a rollback pull request that puts the previous image back, links it in the issue, merges it', () => {
    const { good, bad, rollback } = result!;
    const repo = github.state.repo('octo-org', 'iris')!;
    const pr = repo.pulls.get(rollback.number)!;
    const comments = repo.comments.filter((c) => c.issue_number === Number(result!.issueNumber));
    expect(comments.map((c) => c.body)).toContainEqual(
      expect.stringContaining(`${rollback.url} puts back iris v${good.deploy.version} in prod`),
    );
    expect(rollback.url).toBe(`https://github.com/octo-org/iris/pull/${rollback.number}`);
    expect(pr.title).toBe(`rollback(prod): iris v${bad.deploy.version} -> v${good.deploy.version}`);
    expect(pr).toMatchObject({ base: { ref: 'main' }, merged: true, state: 'closed' });
    expect(trailers(rollback.sha)).toEqual({
      Model: 'iris',
      'Model-Version': good.deploy.version,
      Image: good.deploy.image.ref,
      Environment: 'prod',
      'Run-Id': good.deploy.image.labels['io.mlflow.run-id'],
      'Rollback-Of': bad.deploy.sha,
    });
    // Merged through the API (pulls.merge) as GitHub's default method does: main is a merge commit
    // of the faulty deploy and the PR's commit, the one the answer named and the PR records.
    expect(pr.merge_commit_sha).toBe(result!.recovered.mergedSha);
    expect(originGit('rev-parse', 'main')).toBe(result!.recovered.mergedSha);
    expect(originGit('rev-parse', 'main^1', 'main^2')).toBe(`${bad.deploy.sha}\n${rollback.sha}`);
    expect(originGit('rev-parse', `${rollback.sha}~1`)).toBe(bad.deploy.sha);
    expect(github.calls('pulls/merge').map((c) => [c.status, c.body])).toEqual([
      [200, { sha: rollback.sha, merge_method: 'merge' }],
    ]);
    expect(originGit('show', `main:${GITOPS_FILE}`)).toContain(`digest: ${good.deploy.image.digest}`);
  });

  it('serves the previous version again once the merged commit is live, and moves the champion back', () => {
    const { image, version } = result!.good.deploy;
    expect(seen.recover).toMatchObject({
      champion: version,
      ready: { version, uri: image.modelDir, digest: image.labels['io.mlflow.model-digest'] },
      info: { version },
    });
    expect(result!.recovered.server.image.digest).toBe(image.digest);
  });

  it('writes every job summary and the issue into the state folder', () => {
    const n = result!.issueNumber;
    const [good, bad] = [result!.good.deploy.version, result!.bad.deploy.version];
    expect(result!.reports.map((f) => basename(f)).sort()).toEqual(
      [
        'alert-to-issue-firing.md',
        'alert-to-issue-resolved.md',
        `issue-${n}.md`,
        'train-and-log-candidate.md',
        'train-and-log-worse.md',
        'train-and-log-faulty.md',
        `download-model-v${good}.md`,
        `download-model-v${bad}.md`,
        `gitops-bump-deploy-v${good}.md`,
        `gitops-bump-deploy-v${bad}.md`,
        'gitops-bump-rollback.md',
      ].sort(),
    );
    for (const f of result!.reports) expect(f.startsWith(join(stateDir, 'reports'))).toBe(true);
    const read = (name: string): string => readFileSync(join(stateDir, 'reports', name), 'utf8');
    expect(read('train-and-log-candidate.md')).toContain(`/versions/${result!.modelVersion}`);
    expect(read('train-and-log-worse.md')).toContain('Gate failed');
    expect(read('train-and-log-worse.md')).toContain(`/versions/${result!.refused.version}`);
    expect(read('gitops-bump-rollback.md')).toContain(result!.rollback.url);
    // The issue file is the issue as GitHub has it: its body and every comment.
    const repo = github.state.repo('octo-org', 'iris')!;
    const issueFile = read(`issue-${n}.md`);
    expect(issueFile).toContain(repo.issue(Number(n))!.body!);
    const comments = repo.comments.filter((c) => c.issue_number === Number(n));
    expect(comments.length).toBeGreaterThan(0);
    for (const c of comments) expect(issueFile).toContain(c.body);
    // How the files are printed (paths, for a user to open).
    for (const f of result!.reports) expect(output.join('\n')).toContain(f);
  });

  it('renders the issue for the terminal without markers, tags or escapes', () => {
    const issue = result!.issue!;
    expect(issue.body).toMatch(/<!-- alert-to-issue:state/);
    const text = [issue.body, ...issue.comments.map((c) => c.body)]
      .map((b) => markdownForTerminal(b))
      .join('\n');
    expect(text).not.toMatch(/<!--|-->|<\/?sub>|&(lt|gt|amp);|\\[^\s]|\]\(|\u200b|\*\*|^#+ /m);
    expect(text).toContain(`What is wrong: ${FAULT_ALERT} is firing`);
    expect(text).toContain(`Model iris version ${result!.bad.deploy.version} is the one deployed`);
    expect(text).toContain(`Rollback pull request: ${result!.rollback.url}`);
  });

  it('stops every process it started', async () => {
    for (const url of [
      live.serverUrl,
      live.mlflowUrl,
      live.prometheusUrl,
      live.alertmanagerUrl,
      live.relayUrl,
    ]) {
      expect(url).toBeDefined();
      await expect(fetch(url!, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    }
  });
});

/** Pids of live processes whose environment carries `RUN_VAR=runId`. */
function processesOf(runId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`${RUN_VAR}=${runId}`)) pids.push(Number(entry));
    } catch {
      /* exited meanwhile, or not ours to read */
    }
  }
  return pids;
}

describe('Ctrl-C of the demo', () => {
  it('stops every process it started, in every process group, and exits 130', async () => {
    const runId = `closed-loop-test-${process.pid}-${Date.now()}`;
    // Detached: its own process group, signalled as a whole the way a terminal's Ctrl-C is.
    const demo = spawn(
      // As scripts/demo runs it: one node process with tsx as its loader.
      join(ROOT, 'node_modules', '.bin', 'node'),
      ['--import', 'tsx', 'scripts/demo.ts', '--', '--n-estimators', '20'],
      {
        cwd: ROOT,
        detached: true,
        env: {
          ...process.env,
          // The fakes, whatever credentials the CI job has in its environment.
          GITHUB_TOKEN: '',
          GEMINI_API_KEY: '',
          [RUN_VAR]: runId,
          MLOPS_STATE_DIR: mkdtempSync(join(tmpdir(), 'closed-loop-sigint-')),
          MLOPS_DEMO_PORT: String(await freePort()),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    demo.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    demo.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)));
    // Once the worse candidate trains, MLflow, the relay, the server and monitoring are all running.
    const deadline = Date.now() + 150_000;
    while (!/\[\d+\] train-and-log on a worse/.test(out) && demo.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    const before = processesOf(runId).filter((p) => p !== demo.pid);
    process.kill(-demo.pid!, 'SIGINT');
    const code = await exited;
    await new Promise((r) => setTimeout(r, 500));
    const after = processesOf(runId);
    if (after.length) for (const pid of after) process.kill(pid, 'SIGKILL');
    expect({ code, out: code === 130 ? '' : out.slice(-3000) }).toEqual({ code: 130, out: '' });
    expect(out).toContain('SIGINT: stopping every process the demo started');
    // MLflow (and its uvicorn worker), the relay, the inference server at least.
    expect(before.length).toBeGreaterThanOrEqual(4);
    expect(after).toEqual([]);
  }, 200_000);
});
