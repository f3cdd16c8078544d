/**
 * build-scan-push: build the image, scan what was built with Trivy, push only if the gate passes.
 * Nothing vulnerable reaches the registry: the push is a separate, cache-served build that runs
 * after the verdict.
 */
import * as core from '@actions/core';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from '../shared/run.js';
import { InputError } from '../shared/errors.js';
import { Buildx, cacheFor, type BuildOutput, type BuildSpec } from './buildx.js';
import {
  applyPolicy,
  countBySeverity,
  evaluateGate,
  extractFindings,
  mergeReports,
  rank,
  type TrivyReport,
} from './gate.js';
import { getInputs } from './inputs.js';
import { defaultLabels, mergeLabels } from './labels.js';
import { login, logout, registryOf, resolveCredentials } from './registry.js';
import { renderSummary } from './summary.js';
import { computeTags } from './tags.js';
import { planDbCache } from './dbcache.js';
import { locateTrivy } from './trivy.js';

await run(async () => {
  const { config: cfg, context: ctx } = getInputs();
  const tags = computeTags(cfg.tagRules, { ref: ctx.ref, sha: ctx.sha });
  if (tags.length === 0) {
    throw new InputError(
      'tags',
      'rules that yield at least one tag for this event (semver applies to v* git tags only)',
      cfg.tagRules.join(', '),
    );
  }
  const refs = tags.map((t) => `${cfg.image}:${t.tag}`);
  const epoch = ctx.sourceDateEpoch;
  const labels = mergeLabels(
    defaultLabels({
      serverUrl: ctx.serverUrl,
      repository: ctx.repository,
      sha: ctx.sha,
      created: new Date(epoch * 1000),
      version: tags[0]!.tag,
      mlflowRunId: cfg.mlflowRunId,
      modelVersion: cfg.modelVersion,
    }),
    cfg.labels,
  );
  const buildArgs: Record<string, string> = {};
  if (cfg.mlflowRunId) buildArgs.MLFLOW_RUN_ID = cfg.mlflowRunId;
  if (cfg.modelVersion) buildArgs.MODEL_VERSION = cfg.modelVersion;
  Object.assign(buildArgs, cfg.buildArgs);

  const buildx = new Buildx(undefined, { SOURCE_DATE_EPOCH: String(epoch) });
  core.info(await buildx.assertAvailable());
  const driver = await buildx.driver();
  core.info(`Image ${cfg.image}, tags ${tags.map((t) => t.tag).join(', ')}; buildx driver ${driver}`);
  if (driver === 'docker' && cfg.platforms.length > 1) {
    throw new InputError(
      'platforms',
      'a single platform with the `docker` buildx driver (run docker/setup-buildx-action for multi-platform builds)',
      cfg.platforms.join(','),
    );
  }

  const cache = cacheFor(cfg, driver, ctx.cacheEnv);
  if (cache.note) core.info(cache.note);

  const work = mkdtempSync(join(ctx.tempDir, 'build-scan-push-'));
  // Trivy runs in an empty directory: it must not pick up a trivy.yaml or .trivyignore lying there.
  const trivyCwd = join(work, 'trivy-cwd');
  mkdirSync(trivyCwd);
  // Trivy first: a broken or tampered download should fail before minutes of building.
  const { trivy, version: trivyVersion } = await locateTrivy({
    path: cfg.trivy.path,
    version: cfg.trivyVersion,
    cwd: trivyCwd,
  }).catch((err: unknown) => {
    rmSync(work, { recursive: true, force: true });
    throw err;
  });

  const registry = registryOf(cfg.image);
  const creds = cfg.push
    ? resolveCredentials({
        registry,
        username: cfg.registryUsername,
        password: cfg.registryPassword,
        githubToken: cfg.githubToken,
        actor: ctx.actor,
      })
    : undefined;
  if (cfg.push && !creds) {
    core.info(`No credentials for ${registry}: pushing with the docker credentials already on the runner`);
  }

  try {
    if (creds) await login(creds);
    const spec = (metadataFile: string): BuildSpec => ({
      context: cfg.context,
      file: cfg.file,
      tags: refs,
      labels,
      buildArgs,
      platforms: cfg.platforms,
      ...cache.for(),
      metadataFile,
    });

    // One local build per platform, each a single-platform archive: Trivy then scans exactly the
    // image it is given, whatever its support for picking a platform out of an index.
    const targets: (string | undefined)[] =
      driver === 'docker' || cfg.platforms.length === 0 ? [undefined] : cfg.platforms;
    const db = planDbCache({ enabled: cfg.trivyDbCache, tempRoot: work });
    core.info(db.note);
    const reports: TrivyReport[] = [];
    // Trivy takes one --ignorefile: several (trivy-action's `trivyignores`) are merged, as it does.
    const ignorefile =
      cfg.trivy.ignorefiles.length > 1 ? join(work, 'trivyignore') : cfg.trivy.ignorefiles[0];
    if (ignorefile && cfg.trivy.ignorefiles.length > 1) {
      writeFileSync(ignorefile, cfg.trivy.ignorefiles.map((f) => readFileSync(f, 'utf8')).join('\n'));
    }
    const localDigests: string[] = [];
    for (const [i, platform] of targets.entries()) {
      const local: BuildOutput =
        driver === 'docker' ? { kind: 'load' } : { kind: 'oci', dest: join(work, `image-${i}`) };
      const label = platform ? ` ${platform}` : '';
      const built = await core.group(`Build${label}`, () =>
        buildx.build(
          {
            ...spec(join(work, `build-metadata-${i}.json`)),
            ...cache.for(platform),
            platforms: platform ? [platform] : cfg.platforms,
          },
          local,
        ),
      );
      localDigests.push(built['containerimage.digest']!);
      core.info(`Built${label}: ${built['containerimage.digest']}`);
      reports.push(
        await core.group(`Scan${label}`, () =>
          trivy.scan({
            target: local.kind === 'oci' ? { input: local.dest } : { image: refs[0]! },
            output: join(work, `trivy-${i}.json`),
            cacheDir: db.cacheDir,
            skipFlags: db.skipFlags,
            ignoreUnfixed: cfg.ignoreUnfixed,
            ignorefile,
            scanners: cfg.trivy.scanners,
            timeout: cfg.trivy.timeout,
            config: cfg.trivy.config,
          }),
        ),
      );
    }
    await db.save();
    const report = mergeReports(reports, targets);
    const reportPath = join(work, 'trivy.json');
    writeFileSync(reportPath, JSON.stringify(report, null, 2));
    mkdirSync(dirname(cfg.sarifFile), { recursive: true });
    await trivy.convert(reportPath, 'sarif', cfg.sarifFile);
    const extra = cfg.trivy.extraReport;
    if (extra) {
      mkdirSync(dirname(extra.output), { recursive: true });
      await trivy.convert(reportPath, extra.format, extra.output);
    }

    const policy = applyPolicy(extractFindings(report), {
      ignoreUnfixed: cfg.ignoreUnfixed,
      ignoreIds: cfg.trivy.ignoreIds,
    });
    const counts = countBySeverity(policy.kept);
    const verdict = evaluateGate(policy.kept, cfg.severities);
    core.setOutput('vulnerabilities', JSON.stringify(counts));
    core.setOutput('scan-passed', String(verdict.passed));
    core.setOutput('sarif-file', cfg.sarifFile);
    core.setOutput('tags', refs.join('\n'));

    const mayPush = verdict.passed || !cfg.failOnVulnerabilities;
    // Unpushed, a multi-platform build has no single digest: each platform was built on its own.
    let digest = localDigests.length === 1 ? localDigests[0]! : '';
    let pushed = false;
    if (cfg.push && mayPush) {
      // Multi-platform: the cache-served push rebuilds each platform scanned above into one index.
      const pushedMeta = await core.group('Push', () =>
        buildx.build(
          {
            ...spec(join(work, 'push-metadata.json')),
            // Read what the scan builds exported; they already wrote the cache.
            cacheFrom: [...new Set(targets.flatMap((p) => cache.for(p).cacheFrom))],
            cacheTo: [],
          },
          { kind: 'push' },
        ),
      );
      digest = pushedMeta['containerimage.digest']!;
      pushed = true;
      core.setOutput('image-ref', `${cfg.image}@${digest}`);
      core.info(`Pushed ${cfg.image}@${digest}`);
    }
    core.setOutput('digest', digest);

    await core.summary
      .addRaw(
        renderSummary({
          image: cfg.image,
          tags: tags.map((t) => t.tag),
          counts,
          verdict,
          failOnVulnerabilities: cfg.failOnVulnerabilities,
          findings: policy.kept,
          ignoredListed: policy.ignoredListed.length,
          ignoredUnfixed: policy.ignoredUnfixed.length,
          pushed,
          pushRequested: cfg.push,
          digest: digest || undefined,
          trivyVersion,
          trivyDb: db.note,
        }),
      )
      .write();

    if (!verdict.passed) {
      const worst = rank(verdict.failing)
        .slice(0, 3)
        .map((f) => `${f.id} ${f.pkg} ${f.installed}${f.fixed ? ` (fixed in ${f.fixed})` : ''}`);
      const more = verdict.failing.length > worst.length ? ', ...' : '';
      const n = verdict.failing.length;
      const noun = verdict.failing.every((f) => f.kind === 'vulnerability')
        ? `vulnerabilit${n === 1 ? 'y' : 'ies'}`
        : `finding${n === 1 ? '' : 's'} (vulnerabilities and secrets)`;
      const what = `${n} ${noun} at ${cfg.severities.join(',')} in ${cfg.image}: ${worst.join(', ')}${more}`;
      if (cfg.failOnVulnerabilities) throw new Error(`Scan gate failed: ${what}; nothing was pushed.`);
      core.warning(`Scan found ${what} (fail-on-vulnerabilities is false).`);
    }
  } finally {
    if (creds) await logout(registry);
    rmSync(work, { recursive: true, force: true });
  }
});
