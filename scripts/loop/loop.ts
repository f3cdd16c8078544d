/**
 * The closed loop on one machine, with real parts: MLflow, the bundled train-and-log, the
 * champion alias, the inference server, Prometheus and Alertmanager from platform/ (rendered for
 * loopback), a fault, the relay, repository_dispatch, the bundled alert-to-issue on that exact
 * dispatch, the issue, the resolve and the close. `bash scripts/demo` runs it with links and
 * timings; __tests__/closed-loop.test.ts runs the same function against the fakes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localGithubEnv, ROOT, runBundledAction, verdictOf, type ActionRun } from './actions.js';
import { GitHubTap, type TappedDispatch } from './github-tap.js';
import { setAlias, startMlflow, versionByAlias, type Mlflow } from './mlflow.js';
import { cleanEnv, freePort, sleep, waitFor, type Proc, type Procs } from './procs.js';
import { startMonitoring, waitForScrape, type Monitoring } from './monitoring.js';
import { compress, renderRules } from './render.js';
import { Stages } from './stages.js';
import { irisRows, Traffic } from './traffic.js';

/** The rule the fault drives: a client's burst of bad requests (4xx ratio above 50%). */
export const FAULT_ALERT = 'IrisClassifierHighClientErrorRatio';
export const MODEL_NAME = 'iris';
export const CHAMPION = 'champion';

export interface LoopOptions {
  procs: Procs;
  /** MLflow's sqlite and artifacts, logs of every process, rendered configs. */
  stateDir: string;
  venv?: string;
  mlflowPort?: number;
  /** Extra arguments for model/train.py. */
  trainArgs?: string[];
  github: {
    /** Where the relay and alert-to-issue send API calls: https://api.github.com or the fake. */
    apiUrl: string;
    token: string;
    /** owner/name that receives the dispatches and the issues. */
    repository: string;
    fake: boolean;
  };
  /** Without a key alert-to-issue writes its deterministic summary. */
  gemini?: { apiKey: string; env?: Record<string, string>; fake: boolean };
  /** Stage lines (default: console.log). */
  out?: (line: string) => void;
  /** The actions' and the loop's detail lines (default: indented to `out`). */
  detail?: (line: string) => void;
  tty?: boolean;
  /** How many times faster than production the rules run (default 60). */
  timeCompression?: number;
  /** Called after each stage with what is live, e.g. for a test to look at it. */
  onStage?: (stage: StageName, live: Live) => Promise<void> | void;
}

export type StageName =
  'mlflow' | 'train' | 'champion' | 'serve' | 'monitoring' | 'fault' | 'issue' | 'resolve';

export interface Live {
  mlflowUrl?: string;
  modelVersion?: string;
  championVersion?: string;
  serverUrl?: string;
  prometheusUrl?: string;
  alertmanagerUrl?: string;
  relayUrl?: string;
  tap?: GitHubTap;
}

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
  traffic: { ok: number; rejected: number; failed: number };
  timings: { name: string; ms: number }[];
  totalMs: number;
}

interface Notification {
  status: 'firing' | 'resolved';
  groupKey: string;
  groupLabels: Record<string, string>;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

const notificationOf = (d: TappedDispatch): Notification | undefined =>
  d.client_payload.alertmanager as Notification | undefined;

/** `name{a="b",...} value` lines of a Prometheus text exposition. */
export function metricLabels(text: string, name: string): Record<string, string> | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  if (!line) return undefined;
  const labels: Record<string, string> = {};
  for (const m of line.slice(name.length + 1, line.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  }
  return labels;
}

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt?: string;
}

export async function runLoop(opts: LoopOptions): Promise<LoopResult> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const detail = opts.detail ?? ((l: string) => out(`      ${l}`));
  const stages = new Stages(out, opts.tty);
  const venv = opts.venv ?? join(ROOT, '.venv');
  const state = opts.stateDir;
  const logs = join(state, 'logs');
  mkdirSync(logs, { recursive: true });
  const live: Live = {};
  const after = async (stage: StageName): Promise<void> => {
    await opts.onStage?.(stage, live);
  };
  const { procs } = opts;
  const gh = opts.github;
  const tap = new GitHubTap(gh.apiUrl);
  live.tap = tap;
  let traffic: Traffic | undefined;
  let monitoring: Promise<Monitoring> | undefined;

  // The relay's bearer token, for Alertmanager's credentials_file; removed at the end.
  const secrets = mkdtempSync(join(state, 'secrets-'));
  try {
    // 1. MLflow, and meanwhile the parts that need nothing from it: the GitHub tap and the relay.
    const relayToken = `demo-${crypto.randomUUID()}`;
    const tokenFile = join(secrets, 'relay-token');
    writeFileSync(tokenFile, relayToken, { mode: 0o600 });
    let relay!: Proc;
    let relayUrl = '';
    const mlflow: Mlflow = await stages.run(
      'MLflow (sqlite and artifacts in the state folder) and the relay',
      async () => {
        const startRelay = async (): Promise<void> => {
          await tap.start();
          const port = await freePort();
          relayUrl = `http://127.0.0.1:${port}`;
          relay = procs.spawn('relay', process.execPath, [join(ROOT, 'dist', 'relay', 'index.js')], {
            logFile: join(logs, 'relay.log'),
            env: {
              PATH: process.env.PATH,
              RELAY_HOST: '127.0.0.1',
              RELAY_PORT: String(port),
              RELAY_BEARER_TOKEN_FILE: tokenFile,
              GITHUB_REPOSITORY: gh.repository,
              GITHUB_TOKEN: gh.token,
              GITHUB_API_URL: tap.url,
            },
          });
          await waitFor('relay', `${relayUrl}/healthz`, { proc: relay, timeoutMs: 20_000 });
        };
        const [m] = await Promise.all([
          startMlflow(procs, { stateDir: state, venv: join(venv, 'bin'), port: opts.mlflowPort }),
          startRelay(),
        ]);
        live.mlflowUrl = m.url;
        live.relayUrl = relayUrl;
        stages.link('MLflow', m.url);
        stages.link('relay', `${relayUrl} -> ${gh.fake ? 'fake GitHub' : gh.apiUrl} (${gh.repository})`);
        return m;
      },
    );
    await after('mlflow');

    // 2. The bundled train-and-log, as the pipeline's first job runs it.
    const train = await stages.run('train-and-log (bundled action) on model/train.py', async () => {
      const outDir = join(state, 'train');
      mkdirSync(outDir, { recursive: true });
      const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
      const command = [
        join(venv, 'bin', 'python'),
        'model/train.py',
        '--output-dir',
        outDir,
        ...(opts.trainArgs ?? []),
      ]
        .map(quote)
        .join(' ');
      const run = await runBundledAction(
        'train-and-log',
        {
          'tracking-uri': mlflow.url,
          experiment: 'iris-demo',
          command,
          'metrics-file': join(outDir, 'metrics.json'),
          'params-file': join(outDir, 'params.json'),
          artifacts: join(outDir, 'metrics.json'),
          'model-path': 'model',
          'registered-model': MODEL_NAME,
          'gate-metric': 'f1_macro',
          'github-token': '',
        },
        { env: localGithubEnv(), print: detail },
      );
      const o = run.outputs;
      if (run.code !== 0 || !o['model-version']) {
        throw new Error(
          `train-and-log failed (exit ${run.code}): ${run.errors.join('; ') || verdictOf(run.summary)}`,
        );
      }
      const versionUrl =
        /\((http[^)]*\/versions\/\d+)\)/.exec(run.summary)?.[1] ??
        `${mlflow.url}/#/models/${MODEL_NAME}/versions/${o['model-version']}`;
      stages.link('MLflow run', o['run-url'] ?? '');
      stages.link('model version', `${MODEL_NAME} v${o['model-version']}  ${versionUrl}`);
      stages.link('model URI', o['model-uri'] ?? '');
      stages.link('gate', verdictOf(run.summary));
      live.modelVersion = o['model-version'];
      return {
        run,
        version: o['model-version'],
        runUrl: o['run-url'] ?? '',
        versionUrl,
        gate: verdictOf(run.summary),
      };
    });
    await after('train');

    // 3. What the pipeline does once the deployment is healthy: the champion alias moves to the
    // version the gate passed. A version the gate failed is not deployed; the champion stays.
    const passed = train.run.outputs['gate-passed'] === 'true';
    const champion = await stages.run(
      passed
        ? `make v${train.version} the champion`
        : `keep the champion (the gate failed v${train.version})`,
      async () => {
        if (passed) await setAlias(mlflow.url, MODEL_NAME, CHAMPION, train.version);
        const mv = await versionByAlias(mlflow.url, MODEL_NAME, CHAMPION);
        if (passed && mv.version !== train.version)
          throw new Error(`alias ${CHAMPION} points to ${mv.version}, not ${train.version}`);
        stages.link('alias', `models:/${MODEL_NAME}@${CHAMPION} -> version ${mv.version}`);
        return mv.version;
      },
    );
    live.championVersion = champion;
    await after('champion');

    // 4. The inference server on the champion, and the clients' steady traffic. Prometheus and
    // Alertmanager start as soon as its port answers (it serves /metrics while the model loads):
    // Prometheus' first target sync takes ~5 s, time the model load can use.
    const factor = opts.timeCompression ?? 60;
    const rules = renderRules({ factor });
    const alerts = Object.values(rules).flatMap((f) => f.groups.flatMap((g) => g.rules.map((r) => r.alert)));
    if (!alerts.includes(FAULT_ALERT))
      throw new Error(`platform/prometheus/rules has no alert ${FAULT_ALERT} any more`);
    const server = await stages.run(`inference server on models:/${MODEL_NAME}@${CHAMPION}`, async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const proc = procs.spawn(
        'iris-server',
        join(venv, 'bin', 'python'),
        [join(ROOT, 'model', 'serve.py')],
        {
          logFile: join(logs, 'iris-server.log'),
          env: cleanEnv({
            MODEL_URI: `models:/${MODEL_NAME}@${CHAMPION}`,
            MLFLOW_TRACKING_URI: mlflow.url,
            HOST: '127.0.0.1',
            PORT: String(port),
            PYTHONWARNINGS: 'ignore',
          }),
        },
      );
      await waitFor('inference server', `${url}/healthz`, { proc, timeoutMs: 120_000 });
      monitoring = startMonitoring(procs, {
        stateDir: state,
        logDir: logs,
        rules,
        relayUrl,
        tokenFile,
        server: `127.0.0.1:${port}`,
      });
      // Awaited in the next stage; a failure meanwhile must not be an unhandled rejection.
      monitoring.catch(() => undefined);
      await waitFor('inference server', `${url}/readyz`, { proc, timeoutMs: 120_000 });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const info = metricLabels(metrics, 'iris_model_info');
      if (info?.version !== champion) {
        throw new Error(
          `the server reports iris_model_info ${JSON.stringify(info)}, expected version ${champion}`,
        );
      }
      traffic = new Traffic(url, irisRows(venv));
      traffic.start();
      stages.link('server', `${url}  (POST /predict, GET /readyz, GET /metrics)`);
      stages.link('serving', `${info.name} version ${info.version} (run ${info.run_id})`);
      live.serverUrl = url;
      return { url, info };
    });
    await after('serve');

    // 5. Prometheus and Alertmanager with platform/'s configuration, rendered for loopback.
    const { promUrl } = await stages.run(
      'Prometheus and Alertmanager (platform/ configs, rendered for loopback)',
      async () => {
        const m = await monitoring!;
        await waitForScrape(m, 'iris-classifier');
        stages.note('started while the model loaded; ready once the inference server is scraped');
        stages.note(
          `rules: platform/prometheus/rules with time ${factor}x compressed (for: 5m -> ${compress('5m', factor)})`,
        );
        stages.link('Prometheus', `${m.promUrl}/alerts`);
        stages.link('Alertmanager', `${m.amUrl}/#/alerts`);
        stages.link('configs', `${m.promConfig}, ${m.amConfig}`);
        live.prometheusUrl = m.promUrl;
        live.alertmanagerUrl = m.amUrl;
        return m;
      },
    );
    await after('monitoring');

    // 6. The fault: a client sends rows with renamed features until the alert reaches GitHub.
    const isFault = (d: TappedDispatch, status: string): boolean => {
      const n = notificationOf(d);
      return (
        d.event_type === 'alertmanager' && n?.status === status && n.groupLabels.alertname === FAULT_ALERT
      );
    };
    const describe = (): string =>
      `--- relay (${relay.logFile})\n${relay.tail(1500)}\n--- alertmanager\n${readTail(join(logs, 'alertmanager.log'))}`;
    const firing = await stages.run(
      `fault: a client sends bad requests until ${FAULT_ALERT} fires`,
      async () => {
        traffic!.setFault(true);
        const t0 = Date.now();
        let seen = '';
        const deadline = Date.now() + 90_000;
        for (;;) {
          const { data } = await json<{ data: { alerts: PromAlert[] } }>(`${promUrl}/api/v1/alerts`);
          const a = data.alerts.find((x) => x.labels.alertname === FAULT_ALERT);
          if (a && a.state !== seen) {
            seen = a.state;
            stages.note(
              `${((Date.now() - t0) / 1000).toFixed(1)} s: ${FAULT_ALERT} ${a.state} in Prometheus`,
            );
          }
          if (a?.state === 'firing') break;
          if (Date.now() > deadline)
            throw new Error(
              `${FAULT_ALERT} did not fire within 90 s (traffic ${JSON.stringify(traffic!.counts)})`,
            );
          await sleep(250);
        }
        const { dispatch } = await tap.waitFor((d) => isFault(d, 'firing'), { timeoutMs: 60_000, describe });
        const n = notificationOf(dispatch)!;
        stages.note(
          `${((Date.now() - t0) / 1000).toFixed(1)} s: Alertmanager -> relay -> repository_dispatch (${dispatch.status}) to ${dispatch.repository}`,
        );
        stages.link('alert', `${promUrl}/alerts?search=${FAULT_ALERT}`);
        stages.link('summary', n.alerts[0]?.annotations.summary ?? '');
        return dispatch;
      },
    );
    traffic!.setFault(false);
    await after('fault');

    // 7. What .github/workflows/alert-triage.yml runs on that dispatch: the bundled alert-to-issue.
    const alertToIssue = (d: TappedDispatch): Promise<ActionRun> =>
      runBundledAction(
        'alert-to-issue',
        {
          'github-token': gh.token,
          repository: gh.repository,
          'gemini-api-key': opts.gemini?.apiKey ?? '',
          'tracking-uri': mlflow.url,
        },
        {
          env: {
            GITHUB_API_URL: gh.apiUrl,
            GITHUB_REPOSITORY: gh.repository,
            GITHUB_WORKFLOW: 'alert-triage',
            ...opts.gemini?.env,
          },
          event: {
            name: 'repository_dispatch',
            payload: {
              action: d.event_type,
              client_payload: d.client_payload,
              repository: { full_name: gh.repository },
            },
          },
          print: detail,
        },
      );
    // On a real repository its own alert-triage workflow receives the same dispatch and may handle
    // it first; alert-to-issue then recognises the notification and skips it. With the fake, the
    // loop is the only consumer and must do the work itself.
    const raced = gh.fake ? [] : ['skipped'];
    const created = await stages.run('alert-to-issue (bundled action) on the firing dispatch', async () => {
      const run = await alertToIssue(firing);
      if (
        run.code !== 0 ||
        !['created', 'reopened', 'commented', ...raced].includes(run.outputs.action ?? '')
      ) {
        throw new Error(
          `alert-to-issue did not open the issue (exit ${run.code}, action ${run.outputs.action}): ${run.errors.join('; ')}`,
        );
      }
      stages.link(
        'issue',
        `${run.outputs['issue-url']} (${run.outputs.action}${gh.fake ? ', fake GitHub' : ''})`,
      );
      return run;
    });
    await after('issue');

    // 8. The fault has stopped: the alert resolves and the issue is closed the same way.
    const { resolved, closed } = await stages.run('fault stopped: resolve and close', async () => {
      const t0 = Date.now();
      const { dispatch } = await tap.waitFor((d) => isFault(d, 'resolved'), { timeoutMs: 90_000, describe });
      stages.note(
        `${((Date.now() - t0) / 1000).toFixed(1)} s: resolved notification dispatched (${dispatch.status})`,
      );
      const run = await alertToIssue(dispatch);
      if (run.code !== 0 || !['closed', ...raced].includes(run.outputs.action ?? '')) {
        throw new Error(
          `alert-to-issue did not close the issue (exit ${run.code}, action ${run.outputs.action}): ${run.errors.join('; ')}`,
        );
      }
      stages.link('issue', `${run.outputs['issue-url']} (${run.outputs.action})`);
      // Any other rule that fired on the way reached GitHub the same way; say so rather than hide it.
      const others = [
        ...new Set(
          tap.dispatches
            .map((d) => notificationOf(d))
            .filter((x) => x && x.groupLabels.alertname !== FAULT_ALERT)
            .map((x) => `${x!.groupLabels.alertname} (${x!.status})`),
        ),
      ];
      if (others.length) stages.note(`other notifications dispatched: ${others.join(', ')}`);
      return { resolved: dispatch, closed: run };
    });
    await after('resolve');

    const n = notificationOf(firing)!;
    return {
      mlflowUrl: mlflow.url,
      runUrl: train.runUrl,
      modelVersion: train.version,
      championVersion: champion,
      gatePassed: passed,
      versionUrl: train.versionUrl,
      gate: train.gate,
      serverUrl: server.url,
      modelInfo: server.info,
      alert: {
        name: FAULT_ALERT,
        labels: n.alerts[0]?.labels ?? {},
        annotations: n.alerts[0]?.annotations ?? {},
      },
      firing,
      resolved,
      created,
      closed,
      issueUrl: created.outputs['issue-url'] ?? '',
      issueNumber: created.outputs['issue-number'] ?? '',
      traffic: { ...traffic!.counts },
      timings: stages.timings,
      totalMs: stages.elapsedMs(),
    };
  } finally {
    await traffic?.stop();
    // Still starting when an earlier stage failed: let it finish spawning, so stopAll sees it all.
    await monitoring?.catch(() => undefined);
    await procs.stopAll();
    await tap.stop();
    rmSync(secrets, { recursive: true, force: true });
  }
}

function readTail(file: string, chars = 1500): string {
  try {
    return readFileSync(file, 'utf8').slice(-chars);
  } catch {
    return '';
  }
}
