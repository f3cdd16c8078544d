/**
 * The closed loop, locally, with real parts (see scripts/loop/loop.ts): MLflow on embedded
 * defaults, the bundled train-and-log, the champion alias, the inference server, Prometheus and
 * Alertmanager from platform/, a fault, the relay, repository_dispatch, the bundled
 * alert-to-issue, the issue opened and closed. Run through `bash scripts/demo`, which installs
 * what is needed first.
 *
 *   bash scripts/demo                          the whole loop, then stop everything
 *   bash scripts/demo --keep                   leave it all running to browse the links (Ctrl-C stops)
 *   bash scripts/demo -- --n-estimators 20     arguments after -- go to model/train.py
 *
 * GitHub and Gemini are local fakes unless GITHUB_TOKEN + GITHUB_REPOSITORY (and GITHUB_API_URL
 * for GHES) or GEMINI_API_KEY are set. MLOPS_DEMO_PORT picks MLflow's port (default 5055, or any
 * free one when taken), MLOPS_STATE_DIR the folder for MLflow's data, logs and rendered configs
 * (default .mlops/).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { cancelRunningActions, ROOT } from './loop/actions.js';
import { FAKE_GEMINI_KEY, FAKE_REPOSITORY, startFakes, type Fakes } from './loop/fakes.js';
import { runLoop, type LoopOptions } from './loop/loop.js';
import { mlflowServerArgs } from './loop/mlflow.js';
import { Procs } from './loop/procs.js';
import { seconds } from './loop/stages.js';

/** Set once a signal asked to stop: the exit waits for it, whatever the loop does meanwhile. */
let shutdown: Promise<unknown> | undefined;

const USAGE = 'usage: bash scripts/demo [--keep] [-- <model/train.py arguments>]';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const dashes = args.indexOf('--');
  const own = dashes < 0 ? args : args.slice(0, dashes);
  const trainArgs = dashes < 0 ? [] : args.slice(dashes + 1);
  if (own.includes('--help') || own.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  // --keep-server: the name of the option when the demo only trained.
  const keep = own.includes('--keep') || own.includes('--keep-server');
  const unknown = own.filter((a) => !['--keep', '--keep-server'].includes(a));
  if (unknown.length) {
    console.error(`${USAGE}; unknown: ${unknown.join(' ')}`);
    return 2;
  }
  for (const name of ['train-and-log', 'alert-to-issue', 'relay']) {
    if (!existsSync(join(ROOT, 'dist', name, 'index.js'))) {
      console.error(`dist/${name}/index.js is missing: run npm run build`);
      return 1;
    }
  }
  const tty = Boolean(process.stdout.isTTY);
  const stateDir = resolve(process.env.MLOPS_STATE_DIR ?? join(ROOT, '.mlops'));
  // Alertmanager's notification log and Prometheus' TSDB are per run: an old "already sent" must
  // not swallow this run's notifications. MLflow's store is kept (versions accumulate).
  for (const d of ['prometheus', 'alertmanager', 'logs', 'train'])
    rmSync(join(stateDir, d), { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });

  const realGitHub = Boolean(process.env.GITHUB_TOKEN && process.env.GITHUB_REPOSITORY);
  const realGemini = Boolean(process.env.GEMINI_API_KEY);
  let fakes: Fakes | undefined;
  if (!realGitHub || !realGemini) fakes = await startFakes();
  const github: LoopOptions['github'] = realGitHub
    ? {
        apiUrl: process.env.GITHUB_API_URL ?? 'https://api.github.com',
        token: process.env.GITHUB_TOKEN!,
        repository: process.env.GITHUB_REPOSITORY!,
        fake: false,
      }
    : { apiUrl: fakes!.github.url, token: 'ghs_test_token', repository: FAKE_REPOSITORY, fake: true };
  const gemini: LoopOptions['gemini'] = realGemini
    ? { apiKey: process.env.GEMINI_API_KEY!, fake: false }
    : { apiKey: FAKE_GEMINI_KEY, env: fakes!.gemini.env(), fake: true };

  const procs = new Procs();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (shutdown) return;
    console.log(`\n${sig}: stopping every process the demo started`);
    shutdown = Promise.race([cancelRunningActions(), new Promise((r) => setTimeout(r, 10_000))])
      .then(() => procs.stopAll())
      .finally(() => fakes?.stop());
    // The loop may be waiting on something that never comes now (or forever, with --keep).
    void shutdown.then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => procs.killAllNow());

  const rel = relative(process.cwd(), stateDir);
  const where = rel === '' ? '.' : rel.startsWith('..') ? stateDir : rel;
  console.log(
    `demo: the closed loop on this machine; GitHub: ${github.fake ? 'local fake' : `${github.apiUrl} (${github.repository})`}, ` +
      `Gemini: ${gemini.fake ? 'local fake' : 'Gemini API'}; data and logs in ${where}/`,
  );
  try {
    const result = await runLoop({
      procs,
      stateDir,
      trainArgs,
      github,
      gemini,
      tty,
      mlflowPort: process.env.MLOPS_DEMO_PORT ? Number(process.env.MLOPS_DEMO_PORT) : undefined,
      onStage: keep
        ? async (stage, live) => {
            if (stage !== 'resolve') return;
            console.log('\ndemo: everything keeps running; Ctrl-C stops it');
            console.log(`  MLflow:         ${live.mlflowUrl}/#/models/iris`);
            console.log(`  server:         ${live.serverUrl}/metrics`);
            console.log(`  Prometheus:     ${live.prometheusUrl}/alerts`);
            console.log(`  Alertmanager:   ${live.alertmanagerUrl}/#/alerts`);
            await new Promise(() => undefined);
          }
        : undefined,
    });
    console.log('');
    console.log('demo: the loop closed');
    console.log(`  MLflow run:     ${result.runUrl}`);
    console.log(`  model version:  iris v${result.modelVersion}  ${result.versionUrl}`);
    console.log(`  gate:           ${result.gate}`);
    console.log(
      `  champion:       iris v${result.championVersion}${result.gatePassed ? '' : ' (unchanged: the new version failed the gate)'}`,
    );
    console.log(
      `  served:         ${result.serverUrl} (iris_model_info version ${result.modelInfo.version})`,
    );
    console.log(`  alert:          ${result.alert.name}: ${result.alert.annotations.summary ?? ''}`);
    console.log(`  issue:          ${result.issueUrl} (opened, then closed on resolve)`);
    console.log(
      `  traffic:        ${result.traffic.ok} answered, ${result.traffic.rejected} rejected (the fault), ${result.traffic.failed} failed`,
    );
    if (fakes && github.fake) {
      const issue = fakes.github.state
        .repo(...(FAKE_REPOSITORY.split('/') as [string, string]))
        ?.issue(Number(result.issueNumber));
      if (issue) {
        console.log(`\n--- the issue (fake GitHub): ${issue.title} [${issue.state}]\n${issue.body}\n---`);
      }
    }
    const width = Math.max(...result.timings.map((t) => t.name.length));
    console.log('\ntimings:');
    for (const t of result.timings) console.log(`  ${t.name.padEnd(width)}  ${seconds(t.ms).padStart(7)}`);
    console.log(`  ${'total'.padEnd(width)}  ${seconds(result.totalMs).padStart(7)}`);
    const browse = ['.venv/bin/mlflow', ...mlflowServerArgs(stateDir, 5055)]
      .map((a) => a.replace(`${ROOT}/`, ''))
      .join(' ');
    console.log(`\ndemo: every process is stopped; to browse MLflow later: ${browse}`);
    return 0;
  } finally {
    await fakes?.stop();
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
