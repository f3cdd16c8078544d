/**
 * The closed loop, locally, with real parts (see scripts/loop/loop.ts): MLflow on embedded
 * defaults, the bundled train-and-log, a worse candidate the gate refuses, deploys through a local
 * GitOps origin (download-model, gitops-bump, the server on the model the commit pins, promote),
 * Prometheus and Alertmanager from platform/, a faulty version deployed and its alert, the relay,
 * repository_dispatch, the bundled alert-to-issue, the rollback pull request, its merge, the
 * previous version serving again, the issue closed. Every job summary and the issue are written
 * to <state>/reports/. Run through `bash scripts/demo`, which installs what is needed first.
 *
 *   bash scripts/demo                          the whole loop, then stop everything
 *   bash scripts/demo --keep                   leave it all running to browse the links (Ctrl-C stops)
 *   bash scripts/demo -- --n-estimators 20     arguments after -- go to model/train.py
 *
 * GitHub is a local fake unless GITHUB_TOKEN + GITHUB_REPOSITORY (and GITHUB_API_URL for GHES)
 * are set (the GitOps repository and its rollback pull request always are); without GEMINI_API_KEY alert-to-issue writes its deterministic summary. MLOPS_DEMO_PORT
 * picks MLflow's port (default 5055, or any free one when taken), MLOPS_STATE_DIR the folder for
 * MLflow's data, logs, rendered configs and reports (default .mlops/).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { cancelRunningActions, ROOT } from './loop/actions.js';
import { FAKE_REPOSITORY, FAKE_TOKEN, startFakeGitHub } from './loop/fakes.js';
import { runLoop, type GitHubTarget, type LoopOptions, type LoopResult } from './loop/loop.js';
import { mlflowServerArgs } from './loop/mlflow.js';
import { Procs } from './loop/procs.js';
import { seconds } from './loop/stages.js';
import { markdownForTerminal } from './loop/terminal.js';

/** Set once a signal asked to stop: the exit waits for it, whatever the loop does meanwhile. */
let shutdown: Promise<unknown> | undefined;

const USAGE = 'usage: bash scripts/demo [--keep] [-- <model/train.py arguments>]';

interface DemoArgs {
  keep: boolean;
  trainArgs: string[];
}

/** The demo's own options, or the exit code when there is nothing to run. */
function parseArgs(args: string[]): DemoArgs | number {
  const dashes = args.indexOf('--');
  const own = dashes < 0 ? args : args.slice(0, dashes);
  if (own.includes('--help') || own.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  // --keep-server: the name of the option when the demo only trained.
  const keep = ['--keep', '--keep-server'];
  const unknown = own.filter((a) => !keep.includes(a));
  if (unknown.length) {
    console.error(`${USAGE}; unknown: ${unknown.join(' ')}`);
    return 2;
  }
  return { keep: own.some((a) => keep.includes(a)), trainArgs: dashes < 0 ? [] : args.slice(dashes + 1) };
}

/** The state folder without what belongs to one run. */
function prepareStateDir(): string {
  const stateDir = resolve(process.env.MLOPS_STATE_DIR ?? join(ROOT, '.mlops'));
  // Per run: Alertmanager's notification log (an old "already sent" must not swallow this run's
  // notifications), Prometheus' TSDB, logs and reports. MLflow's store is kept (versions accumulate).
  for (const d of ['prometheus', 'alertmanager', 'logs', 'train', 'reports', 'gitops', 'images'])
    rmSync(join(stateDir, d), { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  // A relay token left by a run that Ctrl-C ended (it exits without the loop's teardown).
  for (const d of readdirSync(stateDir).filter((e) => e.startsWith('secrets-')))
    rmSync(join(stateDir, d), { recursive: true, force: true });
  return stateDir;
}

interface Services {
  github: GitHubTarget;
  gemini: LoopOptions['gemini'];
  gitopsHost: LoopOptions['gitopsHost'];
  stop(): Promise<void>;
}

/**
 * The real GitHub and Gemini when their credentials are set, else the fake GitHub and no Gemini.
 * The GitOps repository is always local (a bare origin on the fake), so a rollback PR is never
 * opened on a real repository; with the fake, it is the issues' repository too.
 */
async function services(): Promise<Services> {
  const gemini = process.env.GEMINI_API_KEY ? { apiKey: process.env.GEMINI_API_KEY } : undefined;
  const fake = await startFakeGitHub();
  const stop = (): Promise<void> => fake.stop();
  if (process.env.GITHUB_TOKEN && process.env.GITHUB_REPOSITORY) {
    const github = {
      apiUrl: process.env.GITHUB_API_URL ?? 'https://api.github.com',
      token: process.env.GITHUB_TOKEN,
      repository: process.env.GITHUB_REPOSITORY,
      fake: false,
    };
    return { github, gemini, gitopsHost: fake, stop };
  }
  const github = { apiUrl: fake.url, token: FAKE_TOKEN, repository: FAKE_REPOSITORY, fake: true };
  return { github, gemini, gitopsHost: fake, stop };
}

/** Ctrl-C stops what the demo started, as the runner cancels a job, then exits 130. */
function stopOnSignals(procs: Procs, svc: Services): void {
  const onSignal = (sig: NodeJS.Signals): void => {
    if (shutdown) return;
    console.log(`\n${sig}: stopping every process the demo started`);
    shutdown = Promise.race([cancelRunningActions(), new Promise((r) => setTimeout(r, 10_000))])
      .then(() => procs.stopAll())
      .finally(() => svc.stop());
    // The loop may be waiting on something that never comes now (or forever, with --keep).
    void shutdown.then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => procs.killAllNow());
}

/** With --keep: after the last stage, everything stays up until Ctrl-C. */
const keepRunning: LoopOptions['onStage'] = async (stage, live) => {
  if (stage !== 'resolve') return;
  console.log('\ndemo: everything keeps running; Ctrl-C stops it');
  console.log(`  MLflow:         ${live.mlflowUrl}/#/models/iris`);
  console.log(`  server:         ${live.serverUrl}/metrics`);
  console.log(`  GitOps origin:  git --git-dir ${live.gitopsOrigin} log --format='%h %s%n%(trailers)'`);
  console.log(`  Prometheus:     ${live.prometheusUrl}/alerts`);
  console.log(`  Alertmanager:   ${live.alertmanagerUrl}/#/alerts`);
  await new Promise(() => undefined);
};

const where = (dir: string): string => {
  const rel = relative(process.cwd(), dir);
  return rel === '' ? '.' : rel.startsWith('..') ? dir : rel;
};

function printResult(r: LoopResult): void {
  const good = r.good.deploy;
  const bad = r.bad.deploy;
  const short = (sha: string): string => sha.slice(0, 12);
  const kept = r.gatePassed ? '' : ` (v${r.modelVersion} failed the gate: the champion was deployed)`;
  console.log('\ndemo: the loop closed');
  console.log(`  MLflow run:     ${r.runUrl}`);
  console.log(`  model version:  iris v${r.modelVersion}  ${r.versionUrl}`);
  console.log(`  gate:           ${r.gate}`);
  console.log(`  deployed:       iris v${good.version} by ${short(good.sha)} (${good.image.ref})${kept}`);
  console.log(`  refused:        iris v${r.refused.version}: ${r.refused.gate}`);
  console.log(`  faulty:         iris v${bad.version} by ${short(bad.sha)}: ${r.faulty.gate}`);
  console.log(`  alert:          ${r.alert.name}: ${r.alert.annotations.summary ?? ''}`);
  console.log(`  issue:          ${r.issueUrl} (opened, then closed on resolve)`);
  console.log(`  rollback PR:    ${r.rollback.url} (merged: main at ${short(r.recovered.mergedSha)})`);
  console.log(
    `  served:         ${r.serverUrl} (iris_model_info version ${r.recovered.server.info.version})`,
  );
  console.log(`  GitOps origin:  ${where(r.gitopsOrigin)}`);
  console.log(
    `  traffic:        ${r.traffic.ok} answered, ${r.traffic.rejected} rejected (v${bad.version}), ${r.traffic.failed} failed`,
  );
  console.log('\nreports (job summaries and the issue, Markdown):');
  for (const file of r.reports) console.log(`  ${where(file)}`);
}

function printIssue(r: LoopResult, tty: boolean): void {
  if (!r.issue) return;
  const width = Math.min(process.stdout.columns || 100, 120);
  const show = (md: string): string => markdownForTerminal(md, { tty, width });
  const rule = '─'.repeat(Math.min(width, 72));
  const { number, title, state, url } = r.issue;
  console.log(`\nthe issue, as GitHub has it (${where(r.issue.file)}):\n${rule}`);
  console.log(`${show(`**#${number} ${title}** (${state})`)}\n${url}\n`);
  console.log(show(r.issue.body));
  for (const c of r.issue.comments) console.log(`${rule}\ncomment by ${c.author}:\n${show(c.body)}`);
  console.log(rule);
}

function printTimings(r: LoopResult, stateDir: string): void {
  const width = Math.max(...r.timings.map((t) => t.name.length));
  console.log('\ntimings:');
  for (const t of r.timings) console.log(`  ${t.name.padEnd(width)}  ${seconds(t.ms).padStart(7)}`);
  console.log(`  ${'total'.padEnd(width)}  ${seconds(r.totalMs).padStart(7)}`);
  const browse = ['.venv/bin/mlflow', ...mlflowServerArgs(stateDir, 5055)]
    .map((a) => a.replace(`${ROOT}/`, ''))
    .join(' ');
  console.log(`\ndemo: every process is stopped; to browse MLflow later: ${browse}`);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (typeof args === 'number') return args;
  for (const name of [
    'train-and-log',
    'download-model',
    'gitops-bump',
    'promote',
    'alert-to-issue',
    'relay',
  ]) {
    if (!existsSync(join(ROOT, 'dist', name, 'index.js'))) {
      console.error(`dist/${name}/index.js is missing: run npm run build`);
      return 1;
    }
  }
  const tty = Boolean(process.stdout.isTTY);
  const stateDir = prepareStateDir();
  const svc = await services();
  const procs = new Procs();
  stopOnSignals(procs, svc);
  const gh = svc.github.fake ? 'local fake' : `${svc.github.apiUrl} (${svc.github.repository})`;
  const gemini = svc.gemini ? 'Gemini API' : 'none (no GEMINI_API_KEY: the deterministic summary)';
  console.log(
    `demo: the closed loop on this machine; GitHub: ${gh}, Gemini: ${gemini}; data in ${where(stateDir)}/`,
  );
  try {
    const result = await runLoop({
      procs,
      stateDir,
      trainArgs: args.trainArgs,
      github: svc.github,
      gemini: svc.gemini,
      gitopsHost: svc.gitopsHost,
      tty,
      mlflowPort: process.env.MLOPS_DEMO_PORT ? Number(process.env.MLOPS_DEMO_PORT) : undefined,
      onStage: args.keep ? keepRunning : undefined,
    });
    printResult(result);
    printIssue(result, tty);
    printTimings(result, stateDir);
    return 0;
  } finally {
    await svc.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const exit = async (code: number): Promise<never> => {
    if (shutdown) {
      await shutdown;
      process.exit(130);
    }
    process.exit(code);
  };
  main().then(exit, (err: unknown) => {
    if (!shutdown) console.error(`demo failed: ${(err as Error).message}`);
    return exit(1);
  });
}
