/**
 * Build locally and scan what was built, then judge the scans: the half of the run that happens
 * before anything may reach the registry.
 */
import * as core from '@actions/core';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BuildMetadata, BuildOutput, BuildSpec, Buildx, CacheChoice } from './buildx.js';
import type { DbCachePlan } from './dbcache.js';
import {
  applyPolicy,
  countBySeverity,
  evaluateGate,
  extractFindings,
  mergeReports,
  type Counts,
  type PolicyResult,
  type TrivyReport,
  type Verdict,
} from './gate.js';
import type { Config } from './inputs.js';
import type { Trivy } from './trivy.js';

export type Builder = Pick<Buildx, 'assertAvailable' | 'driver' | 'build'>;
export type Scanner = Pick<Trivy, 'scan' | 'convert'>;

export interface ScanSetup {
  cfg: Config;
  builder: Builder;
  trivy: Scanner;
  driver: string;
  cache: CacheChoice;
  db: DbCachePlan;
  /** The build of every step, given its metadata file. */
  spec: (metadataFile: string) => BuildSpec;
  /** Private work directory, removed at the end of the run. */
  work: string;
}

export interface Scanned {
  /** One per scanned build: undefined for the builder's own platform. */
  targets: (string | undefined)[];
  reports: TrivyReport[];
  /** buildx metadata of each local build. */
  metadata: BuildMetadata[];
}

/** Trivy takes one --ignorefile: several (trivy-action's `trivyignores`) are merged, as it does. */
function ignorefileFor(cfg: Config, work: string): string | undefined {
  const files = cfg.trivy.ignorefiles;
  if (files.length <= 1) return files[0];
  const merged = join(work, 'trivyignore');
  writeFileSync(merged, files.map((f) => readFileSync(f, 'utf8')).join('\n'));
  return merged;
}

/**
 * One local build per platform, each a single-platform archive: Trivy then scans exactly the
 * image it is given, whatever its support for picking a platform out of an index.
 */
export async function buildAndScan(s: ScanSetup): Promise<Scanned> {
  const { cfg, work } = s;
  const targets: (string | undefined)[] =
    s.driver === 'docker' || cfg.platforms.length === 0 ? [undefined] : cfg.platforms;
  const ignorefile = ignorefileFor(cfg, work);
  const scanned: Scanned = { targets, reports: [], metadata: [] };
  for (const [i, platform] of targets.entries()) {
    const local: BuildOutput =
      s.driver === 'docker' ? { kind: 'load' } : { kind: 'oci', dest: join(work, `image-${i}`) };
    const label = platform ? ` ${platform}` : '';
    const spec = s.spec(join(work, `build-metadata-${i}.json`));
    const built = await core.group(`Build${label}`, () =>
      s.builder.build(
        { ...spec, ...s.cache.for(platform), platforms: platform ? [platform] : cfg.platforms },
        local,
      ),
    );
    scanned.metadata.push(built);
    core.info(`Built${label}: ${built['containerimage.digest']}`);
    const report = await core.group(`Scan${label}`, () =>
      s.trivy.scan({
        target: local.kind === 'oci' ? { input: local.dest } : { image: spec.tags[0]! },
        output: join(work, `trivy-${i}.json`),
        cacheDir: s.db.cacheDir,
        skipFlags: s.db.skipFlags,
        ignoreUnfixed: cfg.ignoreUnfixed,
        ignorefile,
        scanners: cfg.trivy.scanners,
        timeout: cfg.trivy.timeout,
        config: cfg.trivy.config,
      }),
    );
    scanned.reports.push(report);
  }
  await s.db.save();
  return scanned;
}

export interface Judgement {
  policy: PolicyResult;
  counts: Counts;
  verdict: Verdict;
}

/** The merged report written as SARIF (and the extra report), then the gate's verdict on it. */
export async function judge(s: ScanSetup, scanned: Scanned): Promise<Judgement> {
  const { cfg } = s;
  const report = mergeReports(scanned.reports, scanned.targets);
  const reportPath = join(s.work, 'trivy.json');
  writeFileSync(reportPath, JSON.stringify(report, null, 2));
  mkdirSync(dirname(cfg.sarifFile), { recursive: true });
  await s.trivy.convert(reportPath, 'sarif', cfg.sarifFile);
  const extra = cfg.trivy.extraReport;
  if (extra) {
    mkdirSync(dirname(extra.output), { recursive: true });
    await s.trivy.convert(reportPath, extra.format, extra.output);
  }
  const policy = applyPolicy(extractFindings(report), {
    ignoreUnfixed: cfg.ignoreUnfixed,
    ignoreIds: cfg.trivy.ignoreIds,
  });
  return { policy, counts: countBySeverity(policy.kept), verdict: evaluateGate(policy.kept, cfg.severities) };
}
