/**
 * The closed loop on one machine, with real parts: MLflow, the bundled train-and-log, the
 * champion alias, a worse candidate the gate refuses, the inference server, Prometheus and
 * Alertmanager from platform/ (rendered for loopback), a fault, the relay, repository_dispatch,
 * the bundled alert-to-issue on that exact dispatch, the issue, the resolve and the close.
 * `bash scripts/demo` runs it with links and timings; __tests__/closed-loop.test.ts runs the same
 * function against the fakes. Each stage is a function of its own module that registers what it
 * starts with the loop's teardown, so other compositions (a rollback stage) reuse them.
 */
import type { ActionRun } from './actions.js';
import { openIssue, fault, notificationOf, resolveAndClose } from './alerts.js';
import {
  CHAMPION,
  FAULT_ALERT,
  loopContext,
  MODEL_NAME,
  type LoopContext,
  type LoopOptions,
} from './context.js';
import type { TappedDispatch } from './github-tap.js';
import { saveIssue, type IssueSnapshot } from './issue.js';
import { startLoopMlflow, type Mlflow } from './mlflow.js';
import { loopRules, monitoringReady, startLoopMonitoring, type Monitoring } from './monitoring.js';
import { startRelay } from './relay.js';
import { startServer, startTraffic, type Server } from './serve.js';
import type { Traffic } from './traffic.js';
import { crown, refuseWorse, trainCandidate, WORSE_ARGS, type Candidate } from './train.js';

export { CHAMPION, FAULT_ALERT, MODEL_NAME };
export { metricLabels } from './serve.js';
export type { GitHubTarget, Live, LoopOptions, StageName } from './context.js';

export interface LoopResult {
  mlflowUrl: string;
  runUrl: string;
  /** The version train-and-log registered. */
  modelVersion: string;
  /** The version serving: the new one when its gate passed, else the previous champion. */
  championVersion: string;
  gatePassed: boolean;
  versionUrl: string;
  gate: string;
  /** The worse candidate the gate refused. */
  refused: Candidate;
  serverUrl: string;
  /** Labels of iris_model_info as the server reported them. */
  modelInfo: Record<string, string>;
  alert: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  firing: TappedDispatch;
  resolved: TappedDispatch;
  created: ActionRun;
  closed: ActionRun;
  issueUrl: string;
  issueNumber: string;
  /** The issue as GitHub has it after the close (absent when the repository's own workflow took it). */
  issue?: IssueSnapshot;
  /** Every file written to the reports folder: the job summaries and the issue. */
  reports: string[];
  traffic: { ok: number; rejected: number; failed: number };
  timings: { name: string; ms: number }[];
  totalMs: number;
}

export async function runLoop(opts: LoopOptions): Promise<LoopResult> {
  const ctx = loopContext(opts);
  const { stage, teardown, live } = ctx;
  try {
    const [mlflow, relay] = await stage(
      'mlflow',
      'MLflow (sqlite and artifacts in the state folder) and the relay',
      () => Promise.all([startLoopMlflow(ctx, opts.mlflowPort), startRelay(ctx)]),
    );
    const train = await stage('train', 'train-and-log (bundled action) on model/train.py', () =>
      trainCandidate(ctx, mlflow.url, 'candidate', ctx.trainArgs),
    );
    live.modelVersion = train.version;
    const champion = await stage(
      'champion',
      train.passed
        ? `make v${train.version} the champion`
        : `keep the champion (the gate failed v${train.version})`,
      () => crown(ctx, mlflow.url, train),
    );
    live.championVersion = champion;
    const refused = await stage(
      'refused',
      `train-and-log on a worse candidate (${WORSE_ARGS.join(' ')}): the gate must refuse it`,
      () => refuseWorse(ctx, mlflow.url, champion),
    );
    const factor = opts.timeCompression ?? 60;
    const rules = loopRules(factor);
    let monitoring: Promise<Monitoring> | undefined;
    const server = await stage('serve', `inference server on models:/${MODEL_NAME}@${CHAMPION}`, async () => {
      // Prometheus' first target sync takes ~5 s: time the model load can use.
      const s = await startServer(ctx, mlflow.url, champion, (addr) => {
        monitoring = startLoopMonitoring(ctx, relay, addr, rules);
      });
      return { ...s, traffic: startTraffic(ctx, s.url) };
    });
    const m = await stage(
      'monitoring',
      'Prometheus and Alertmanager (platform/ configs, rendered for loopback)',
      () => monitoringReady(ctx, monitoring!, factor),
    );
    const firing = await stage('fault', `fault: a client sends bad requests until ${FAULT_ALERT} fires`, () =>
      fault(ctx, m, relay, server.traffic),
    );
    const created = await stage('issue', 'alert-to-issue (bundled action) on the firing dispatch', () =>
      openIssue(ctx, mlflow.url, firing),
    );
    const { resolved, closed, issue } = await stage(
      'resolve',
      'fault stopped: resolve and close',
      async () => {
        const r = await resolveAndClose(ctx, mlflow.url, relay);
        const number = Number(created.outputs['issue-number']);
        return { ...r, issue: number ? await saveIssue(ctx, number) : undefined };
      },
    );
    const parts = { mlflow, train, champion, refused, server, firing, resolved, created, closed, issue };
    return loopResult(ctx, parts);
  } finally {
    await teardown.run();
  }
}

interface Parts {
  mlflow: Mlflow;
  train: Candidate;
  champion: string;
  refused: Candidate;
  server: Server & { traffic: Traffic };
  firing: TappedDispatch;
  resolved: TappedDispatch;
  created: ActionRun;
  closed: ActionRun;
  issue?: IssueSnapshot;
}

function loopResult(ctx: LoopContext, p: Parts): LoopResult {
  const a = notificationOf(p.firing)!.alerts[0];
  return {
    mlflowUrl: p.mlflow.url,
    runUrl: p.train.runUrl,
    modelVersion: p.train.version,
    championVersion: p.champion,
    gatePassed: p.train.passed,
    versionUrl: p.train.versionUrl,
    gate: p.train.gate,
    refused: p.refused,
    serverUrl: p.server.url,
    modelInfo: p.server.info,
    alert: { name: FAULT_ALERT, labels: a?.labels ?? {}, annotations: a?.annotations ?? {} },
    firing: p.firing,
    resolved: p.resolved,
    created: p.created,
    closed: p.closed,
    issueUrl: p.created.outputs['issue-url'] ?? '',
    issueNumber: p.created.outputs['issue-number'] ?? '',
    issue: p.issue,
    reports: ctx.reportsWritten,
    traffic: { ...p.server.traffic.counts },
    timings: ctx.stages.timings,
    totalMs: ctx.stages.elapsedMs(),
  };
}
