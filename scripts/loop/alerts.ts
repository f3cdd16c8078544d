/**
 * The alert half of the loop: the faulty deploy's alert firing and reaching GitHub as a
 * repository_dispatch, the bundled alert-to-issue on that exact dispatch (what
 * .github/workflows/alert-triage.yml runs), and the resolve that closes the issue.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBundledAction, type ActionRun } from './actions.js';
import { FAULT_ALERT, writeReport, type LoopContext } from './context.js';
import type { TappedDispatch } from './github-tap.js';
import type { Monitoring } from './monitoring.js';
import { sleep } from './procs.js';
import type { Relay } from './relay.js';
import type { Traffic } from './traffic.js';

interface Notification {
  status: 'firing' | 'resolved';
  groupKey: string;
  groupLabels: Record<string, string>;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

export const notificationOf = (d: TappedDispatch): Notification | undefined =>
  d.client_payload.alertmanager as Notification | undefined;

const isFault = (d: TappedDispatch, status: string): boolean => {
  const n = notificationOf(d);
  return d.event_type === 'alertmanager' && n?.status === status && n.groupLabels.alertname === FAULT_ALERT;
};

function readTail(file: string, chars = 1500): string {
  try {
    return readFileSync(file, 'utf8').slice(-chars);
  } catch {
    return '';
  }
}

/** What a test failure needs when no dispatch came: the relay's and Alertmanager's last words. */
const describe = (ctx: LoopContext, relay: Relay) => (): string =>
  `--- relay (${relay.proc.logFile})\n${relay.proc.tail(1500)}\n--- alertmanager\n${readTail(join(ctx.logs, 'alertmanager.log'))}`;

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

const since = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

async function waitForPromFiring(
  ctx: LoopContext,
  m: Monitoring,
  traffic: Traffic,
  t0: number,
): Promise<void> {
  let seen = '';
  const deadline = Date.now() + 90_000;
  for (;;) {
    const res = await fetch(`${m.promUrl}/api/v1/alerts`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`${m.promUrl}/api/v1/alerts: HTTP ${res.status}`);
    const { data } = (await res.json()) as { data: { alerts: PromAlert[] } };
    const a = data.alerts.find((x) => x.labels.alertname === FAULT_ALERT);
    if (a && a.state !== seen) {
      seen = a.state;
      ctx.stages.note(`${since(t0)}: ${FAULT_ALERT} ${a.state} in Prometheus`);
    }
    if (a?.state === 'firing') return;
    if (Date.now() > deadline)
      throw new Error(`${FAULT_ALERT} did not fire within 90 s (traffic ${JSON.stringify(traffic.counts)})`);
    await sleep(250);
  }
}

/** The faulty version rejects the clients' requests until the alert reaches GitHub. */
export async function alertFires(
  ctx: LoopContext,
  m: Monitoring,
  relay: Relay,
  traffic: Traffic,
): Promise<TappedDispatch> {
  const t0 = Date.now();
  await waitForPromFiring(ctx, m, traffic, t0);
  const { dispatch } = await relay.tap.waitFor((d) => isFault(d, 'firing'), {
    timeoutMs: 60_000,
    describe: describe(ctx, relay),
  });
  ctx.stages.note(
    `${since(t0)}: Alertmanager -> relay -> repository_dispatch (${dispatch.status}) to ${dispatch.repository}`,
  );
  ctx.stages.link('alert', `${m.promUrl}/alerts?search=${FAULT_ALERT}`);
  ctx.stages.link('summary', notificationOf(dispatch)!.alerts[0]?.annotations.summary ?? '');
  return dispatch;
}

/** The bundled alert-to-issue on `d`, its job summary kept as `alert-to-issue-<status>.md`. */
async function alertToIssue(ctx: LoopContext, mlflowUrl: string, d: TappedDispatch): Promise<ActionRun> {
  const gh = ctx.github;
  const run = await runBundledAction(
    'alert-to-issue',
    {
      'github-token': gh.token,
      repository: gh.repository,
      'gemini-api-key': ctx.gemini?.apiKey ?? '',
      'tracking-uri': mlflowUrl,
      // The deploy commits, when the GitOps manifests live in the issues' repository.
      'gitops-path': ctx.gitopsPath ?? '',
    },
    {
      env: {
        GITHUB_API_URL: gh.apiUrl,
        GITHUB_REPOSITORY: gh.repository,
        GITHUB_WORKFLOW: 'alert-triage',
        ...ctx.gemini?.env,
      },
      event: {
        name: 'repository_dispatch',
        payload: {
          action: d.event_type,
          client_payload: d.client_payload,
          repository: { full_name: gh.repository },
        },
      },
      print: ctx.detail,
    },
  );
  writeReport(
    ctx,
    'job summary',
    `alert-to-issue-${notificationOf(d)?.status ?? 'dispatch'}.md`,
    run.summary,
  );
  return run;
}

/**
 * On a real repository its own alert-triage workflow receives the same dispatch and may handle
 * it first; alert-to-issue then recognises the notification and skips it. With the fake, the
 * loop is the only consumer and must do the work itself.
 */
const raced = (ctx: LoopContext): string[] => (ctx.github.fake ? [] : ['skipped']);

function expectAction(run: ActionRun, what: string, actions: string[]): void {
  if (run.code !== 0 || !actions.includes(run.outputs.action ?? ''))
    throw new Error(
      `alert-to-issue did not ${what} the issue (exit ${run.code}, action ${run.outputs.action}): ${run.errors.join('; ')}`,
    );
}

export async function openIssue(
  ctx: LoopContext,
  mlflowUrl: string,
  firing: TappedDispatch,
): Promise<ActionRun> {
  const run = await alertToIssue(ctx, mlflowUrl, firing);
  expectAction(run, 'open', ['created', 'reopened', 'commented', ...raced(ctx)]);
  ctx.stages.link(
    'issue',
    `${run.outputs['issue-url']} (${run.outputs.action}${ctx.github.fake ? ', fake GitHub' : ''})`,
  );
  return run;
}

/** The rollback is live: the alert resolves and the issue is closed the same way. */
export async function resolveAndClose(
  ctx: LoopContext,
  mlflowUrl: string,
  relay: Relay,
): Promise<{ resolved: TappedDispatch; closed: ActionRun }> {
  const t0 = Date.now();
  const { dispatch } = await relay.tap.waitFor((d) => isFault(d, 'resolved'), {
    timeoutMs: 90_000,
    describe: describe(ctx, relay),
  });
  ctx.stages.note(`${since(t0)}: resolved notification dispatched (${dispatch.status})`);
  const run = await alertToIssue(ctx, mlflowUrl, dispatch);
  expectAction(run, 'close', ['closed', ...raced(ctx)]);
  ctx.stages.link('issue', `${run.outputs['issue-url']} (${run.outputs.action})`);
  // Any other rule that fired on the way reached GitHub the same way; say so rather than hide it.
  const others = new Set(
    relay.tap.dispatches
      .map((d) => notificationOf(d))
      .filter((x) => x && x.groupLabels.alertname !== FAULT_ALERT)
      .map((x) => `${x!.groupLabels.alertname} (${x!.status})`),
  );
  if (others.size) ctx.stages.note(`other notifications dispatched: ${[...others].join(', ')}`);
  return { resolved: dispatch, closed: run };
}
