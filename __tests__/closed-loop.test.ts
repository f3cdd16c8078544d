/**
 * The README's main command as an end-to-end test: the same runLoop() that `bash scripts/demo`
 * runs (scripts/loop/loop.ts), with the fake GitHub and, as the demo without GEMINI_API_KEY, no
 * Gemini. Real MLflow, the bundled train-and-log (twice: a candidate and a worse one the gate
 * refuses), the inference server, Prometheus and Alertmanager with platform/'s configs, the relay
 * bundle and the bundled alert-to-issue.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { FAKE_REPOSITORY, FAKE_TOKEN, startFakeGitHub } from '../scripts/loop/fakes.js';
import { FAULT_ALERT, metricLabels, runLoop, type Live, type LoopResult } from '../scripts/loop/loop.js';
import { freePort, Procs, RUN_VAR } from '../scripts/loop/procs.js';
import { markdownForTerminal } from '../scripts/loop/terminal.js';
import type { FakeGitHub } from './helpers/fake-github/server.js';
import { ROOT } from './helpers/run-action.js';

let github: FakeGitHub;
const output: string[] = [];
const stateDir = mkdtempSync(join(tmpdir(), 'closed-loop-'));
const seen: {
  champion?: string;
  championAfterRefused?: string;
  modelInfo?: Record<string, string>;
  promAlert?: { state: string; labels: Record<string, string> };
} = {};
let live: Live = {};
let result: LoopResult | undefined;
let failure: Error | undefined;

const championOf = async (mlflowUrl: string): Promise<string> => {
  const q = new URLSearchParams({ name: 'iris', alias: 'champion' });
  const res = await fetch(`${mlflowUrl}/api/2.0/mlflow/registered-models/alias?${q}`);
  return ((await res.json()) as { model_version: { version: string } }).model_version.version;
};

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
      out: (l) => output.push(l),
      // Observed from outside the loop, while each part is live.
      onStage: async (stage, l) => {
        live = l;
        if (stage === 'champion') seen.champion = await championOf(l.mlflowUrl!);
        if (stage === 'refused') seen.championAfterRefused = await championOf(l.mlflowUrl!);
        if (stage === 'serve') {
          seen.modelInfo = metricLabels(
            await (await fetch(`${l.serverUrl}/metrics`)).text(),
            'iris_model_info',
          );
        }
        if (stage === 'fault') {
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
}, 420_000);

afterAll(async () => {
  await github?.stop();
});

describe('the closed loop (bash scripts/demo) with the fake GitHub and no Gemini key', () => {
  it('completes every stage', () => {
    expect({ error: failure?.message, output: failure ? output.join('\n') : '' }).toEqual({
      error: undefined,
      output: '',
    });
    expect(result!.timings.map((t) => t.name)).toHaveLength(9);
  });

  it('registers a model version and makes it champion', () => {
    expect(result!.modelVersion).toMatch(/^\d+$/);
    // A fresh registry: no champion to beat, so the gate passes and the new version is promoted.
    expect(result!.gatePassed).toBe(true);
    expect(result!.championVersion).toBe(result!.modelVersion);
    expect(seen.champion).toBe(result!.modelVersion);
    expect(result!.runUrl).toMatch(/\/#\/experiments\/\d+\/runs\/[0-9a-f]{32}$/);
  });

  it('serves the champion: iris_model_info carries its version', () => {
    expect(seen.modelInfo).toMatchObject({ name: 'iris', version: result!.modelVersion });
    expect(result!.traffic.ok).toBeGreaterThan(0);
  });

  it('fires the alert the fault drives, in Prometheus and through Alertmanager', () => {
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

  it('opens an issue whose summary names the champion version, and closes it on resolve', () => {
    const repo = github.state.repo('octo-org', 'iris')!;
    expect(result!.created.outputs.action).toBe('created');
    const issue = repo.issue(Number(result!.issueNumber))!;
    expect(issue.title).toBe(`[alert] ${FAULT_ALERT} (model=iris)`);
    const body = issue.body ?? '';
    const summary = body.slice(body.indexOf('### Summary'), body.indexOf('### Alerts'));
    // The version reached the summary from MLflow, through alert-to-issue's context.
    expect(summary).toContain(`iris version ${result!.modelVersion}`);
    expect(body).toContain(`/#/models/iris/versions/${result!.modelVersion}`);
    expect(result!.closed.outputs).toMatchObject({ action: 'closed', 'issue-number': result!.issueNumber });
    expect(issue.state).toBe('closed');
  });

  it('labels the summary as deterministic: no claim that Gemini wrote it without a key', () => {
    const body = github.state.repo('octo-org', 'iris')!.issue(Number(result!.issueNumber))!.body ?? '';
    expect(body).toContain('Deterministic summary built from the alerts');
    expect(body).not.toMatch(/Written by|gemini-/i);
  });

  it('refuses a worse candidate at the gate and keeps the champion', () => {
    const refused = result!.refused;
    expect(refused.version).toBe(String(Number(result!.modelVersion) + 1));
    expect(refused.passed).toBe(false);
    expect(refused.gate).toMatch(/Gate failed/);
    expect(seen.championAfterRefused).toBe(result!.modelVersion);
    expect(result!.championVersion).toBe(result!.modelVersion);
    // The stage says so in the output, with the version it refused.
    expect(output.join('\n')).toMatch(
      new RegExp(
        `refused: +v${refused.version} is not deployed; models:/iris@champion stays version ${result!.modelVersion}`,
      ),
    );
  });

  it('writes every job summary and the issue into the state folder', () => {
    const n = result!.issueNumber;
    expect(result!.reports.map((f) => basename(f)).sort()).toEqual(
      [
        'alert-to-issue-firing.md',
        'alert-to-issue-resolved.md',
        `issue-${n}.md`,
        'train-and-log-candidate.md',
        'train-and-log-worse.md',
      ].sort(),
    );
    for (const f of result!.reports) expect(f.startsWith(join(stateDir, 'reports'))).toBe(true);
    const read = (name: string): string => readFileSync(join(stateDir, 'reports', name), 'utf8');
    expect(read('train-and-log-candidate.md')).toContain(`/versions/${result!.modelVersion}`);
    expect(read('train-and-log-worse.md')).toContain('Gate failed');
    expect(read('train-and-log-worse.md')).toContain(`/versions/${result!.refused.version}`);
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
    expect(text).toContain(`Model iris version ${result!.modelVersion} (champion)`);
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
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      ['scripts/demo.ts', '--', '--n-estimators', '20'],
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
    // Once the inference server is starting, MLflow, the relay and the server are all running.
    const deadline = Date.now() + 150_000;
    while (!/\[\d+\] inference server/.test(out) && demo.exitCode === null && Date.now() < deadline)
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
