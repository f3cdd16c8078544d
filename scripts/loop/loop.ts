/**
 * The closed loop on one machine, with real parts: MLflow, the bundled train-and-log, a worse
 * candidate the gate refuses, deploys as the pipeline makes them (download-model into the image,
 * gitops-bump pushing the deploy commit to a local GitOps origin, the server on what that commit
 * pins, promote moving the champion alias), Prometheus and Alertmanager from platform/ (rendered
 * for loopback), a faulty version deployed, its alert, the relay, repository_dispatch, the bundled
 * alert-to-issue on that exact dispatch, the rollback pull request (gitops-bump), its merge, the
 * previous version serving again, the resolve and the close. `bash scripts/demo` runs it with
 * links and timings; __tests__/closed-loop.test.ts runs the same function against the fakes.
 * Each stage is a function of its own module that registers what it starts with the loop's
 * teardown, so other compositions reuse them.
 */
import type { ActionRun } from './actions.js';
import { alertFires, notificationOf, openIssue, resolveAndClose } from './alerts.js';
import {
  CHAMPION,
  FAULT_ALERT,
  loopContext,
  MODEL_NAME,
  type LoopContext,
  type LoopOptions,
} from './context.js';
import { deployVersion, recover, type Deployed, type Recovered } from './deploy.js';
import { FAKE_REPOSITORY, FAKE_TOKEN } from './fakes.js';
import type { TappedDispatch } from './github-tap.js';
import { GITOPS_PATH, openRollbackPr, startGitOps, type GitOps, type RollbackPr } from './gitops.js';
import { saveIssue, type IssueSnapshot } from './issue.js';
import { startLoopMlflow, type Mlflow } from './mlflow.js';
import { loopRules, monitoringReady, startLoopMonitoring, type Monitoring } from './monitoring.js';
import { startRelay } from './relay.js';
import { startTraffic } from './serve.js';
import { Service } from './service.js';
import type { Traffic } from './traffic.js';
import { FAULTY_ARGS, refuseWorse, toDeploy, trainCandidate, WORSE_ARGS, type Candidate } from './train.js';

export { CHAMPION, FAULT_ALERT, MODEL_NAME };
export { metricLabels } from './serve.js';
export type { GitHubTarget, Live, LoopOptions, StageName } from './context.js';

export interface LoopResult {
  mlflowUrl: string;
  runUrl: string;
  /** The version train-and-log registered first. */
  modelVersion: string;
  gatePassed: boolean;
  versionUrl: string;
  gate: string;
  /** The worse candidate the gate refused. */
  refused: Candidate;
  /** The faulty candidate: its gate passed, and it was deployed. */
  faulty: Candidate;
  /** The first deploy (the good version) and the faulty one. */
  good: Deployed;
  bad: Deployed;
  rollback: RollbackPr;
  recovered: Recovered;
  /** The Service in front of the inference server. */
  serverUrl: string;
  gitopsOrigin: string;
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

interface Setup {
  mlflow: Mlflow;
  relay: Awaited<ReturnType<typeof startRelay>>;
  gitops: GitOps;
  service: Service;
}

async function setUp(ctx: LoopContext, opts: LoopOptions): Promise<Setup> {
  const [mlflow, relay] = await Promise.all([startLoopMlflow(ctx, opts.mlflowPort), startRelay(ctx)]);
  const gitops = startGitOps(ctx, opts.gitopsHost, FAKE_REPOSITORY, FAKE_TOKEN);
  ctx.live.gitopsOrigin = gitops.origin;
  // The GitOps manifests in the issues' repository, as the pipeline's default: the issue can list them.
  if (opts.github.fake && opts.github.apiUrl === opts.gitopsHost.url) ctx.gitopsPath = GITOPS_PATH;
  const service = await new Service().start();
  ctx.teardown.defer('service', () => service.stop());
  return { mlflow, relay, gitops, service };
}

export async function runLoop(opts: LoopOptions): Promise<LoopResult> {
  const ctx = loopContext(opts);
  const { stage, teardown, live } = ctx;
  try {
    const s = await stage(
      'mlflow',
      'MLflow, the relay and the GitOps origin (platform/iris-classifier)',
      () => setUp(ctx, opts),
    );
    const { mlflow, relay, gitops, service } = s;
    const train = await stage('train', 'train-and-log (bundled action) on model/train.py', () =>
      trainCandidate(ctx, mlflow.url, 'candidate', ctx.trainArgs),
    );
    live.modelVersion = train.version;
    const factor = opts.timeCompression ?? 60;
    const rules = loopRules(factor);
    let monitoring: Promise<Monitoring> | undefined;
    const good = await stage(
      'deploy',
      'deploy: image with the model, deploy commit, inference server on what it pins',
      async () => {
        const version = await toDeploy(mlflow.url, train);
        // Prometheus' first target sync takes ~5 s: time the model load can use.
        return deployVersion(ctx, { mlflowUrl: mlflow.url, gitops, service, version }, (addr) => {
          monitoring = startLoopMonitoring(ctx, relay, addr, rules);
        });
      },
    );
    const traffic = startTraffic(ctx, service.url);
    const refused = await stage(
      'refused',
      `train-and-log on a worse candidate (${WORSE_ARGS.join(' ')}): the gate must refuse it`,
      () => refuseWorse(ctx, mlflow.url, good.deploy.version),
    );
    const m = await stage(
      'monitoring',
      'Prometheus and Alertmanager (platform/ configs, rendered for loopback)',
      () => monitoringReady(ctx, monitoring!, factor),
    );
    const rest = await faultAndRecovery(ctx, { ...s, m, traffic, good });
    return loopResult(ctx, { ...s, train, refused, good, traffic, ...rest });
  } finally {
    await teardown.run();
  }
}

interface Recovery {
  faulty: Candidate;
  bad: Deployed;
  firing: TappedDispatch;
  created: ActionRun;
  rollback: RollbackPr;
  recovered: Recovered;
  resolved: TappedDispatch;
  closed: ActionRun;
  issue?: IssueSnapshot;
}

/** The faulty version deployed, its alert and issue, the rollback PR, its merge, the recovery. */
async function faultAndRecovery(
  ctx: LoopContext,
  p: Setup & { m: Monitoring; traffic: Traffic; good: Deployed },
): Promise<Recovery> {
  const { stage } = ctx;
  const { mlflow, relay, gitops, service, good } = p;
  const faulty = await stage(
    'faulty',
    `train-and-log on a faulty candidate (${FAULTY_ARGS[0]}): its gate passes`,
    async () => {
      const c = await trainCandidate(ctx, mlflow.url, 'faulty', [...ctx.trainArgs, ...FAULTY_ARGS]);
      if (!c.passed) throw new Error(`the gate refused the faulty candidate v${c.version}: ${c.gate}`);
      return c;
    },
  );
  const bad = await stage('deploy-faulty', `deploy v${faulty.version} the same way`, () =>
    deployVersion(ctx, {
      mlflowUrl: mlflow.url,
      gitops,
      service,
      version: faulty.version,
      previous: good.server,
    }),
  );
  const firing = await stage(
    'alert',
    `v${faulty.version} refuses the clients' requests until ${FAULT_ALERT} fires`,
    () => alertFires(ctx, p.m, relay, p.traffic),
  );
  const created = await stage('issue', 'alert-to-issue (bundled action) on the firing dispatch', () =>
    openIssue(ctx, mlflow.url, firing),
  );
  const rollback = await stage(
    'rollback',
    `rollback pull request (gitops-bump rollback mode): v${good.deploy.version}'s image back`,
    async () => {
      // Commented on the alert's issue when both live on the same (fake) GitHub.
      const issue = ctx.gitopsPath ? Number(created.outputs['issue-number']) || undefined : undefined;
      const pr = await openRollbackPr(ctx, gitops, { trackingUri: mlflow.url, issue });
      if (pr.rolledBack !== bad.deploy.sha || pr.restored !== good.deploy.sha)
        throw new Error(
          `the rollback reverts ${pr.rolledBack} to ${pr.restored}, not ${bad.deploy.sha} to ${good.deploy.sha}`,
        );
      return pr;
    },
  );
  const recovered = await stage(
    'recover',
    `merge it; the server runs what main pins: v${good.deploy.version}`,
    () =>
      recover(ctx, {
        mlflowUrl: mlflow.url,
        gitops,
        service,
        pr: rollback,
        previous: bad.server,
        target: good.deploy,
      }),
  );
  const { resolved, closed, issue } = await stage(
    'resolve',
    'alert resolved: the issue is closed',
    async () => {
      const r = await resolveAndClose(ctx, mlflow.url, relay);
      const number = Number(created.outputs['issue-number']);
      return { ...r, issue: number ? await saveIssue(ctx, number) : undefined };
    },
  );
  return { faulty, bad, firing, created, rollback, recovered, resolved, closed, issue };
}

type Parts = Setup & Recovery & { train: Candidate; refused: Candidate; good: Deployed; traffic: Traffic };

function loopResult(ctx: LoopContext, p: Parts): LoopResult {
  const a = notificationOf(p.firing)!.alerts[0];
  return {
    mlflowUrl: p.mlflow.url,
    runUrl: p.train.runUrl,
    modelVersion: p.train.version,
    gatePassed: p.train.passed,
    versionUrl: p.train.versionUrl,
    gate: p.train.gate,
    refused: p.refused,
    faulty: p.faulty,
    good: p.good,
    bad: p.bad,
    rollback: p.rollback,
    recovered: p.recovered,
    serverUrl: p.service.url,
    gitopsOrigin: p.gitops.origin,
    alert: { name: FAULT_ALERT, labels: a?.labels ?? {}, annotations: a?.annotations ?? {} },
    firing: p.firing,
    resolved: p.resolved,
    created: p.created,
    closed: p.closed,
    issueUrl: p.created.outputs['issue-url'] ?? '',
    issueNumber: p.created.outputs['issue-number'] ?? '',
    issue: p.issue,
    reports: ctx.reportsWritten,
    traffic: { ...p.traffic.counts },
    timings: ctx.stages.timings,
    totalMs: ctx.stages.elapsedMs(),
  };
}
