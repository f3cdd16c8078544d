/**
 * build-scan-push's main(inputs, deps) in-process, with fake buildx, Trivy, registry and DB cache
 * that record what they are asked: the order of the run and what reaches the registry, without
 * the runner. The bundle tests (build-scan-push*.test.ts) stay the end-to-end proof.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildMetadata, BuildOutput, BuildSpec } from '../actions/build-scan-push/buildx.js';
import type { DbCachePlan } from '../actions/build-scan-push/dbcache.js';
import { parseReport, type Severity } from '../actions/build-scan-push/gate.js';
import type { Config, Inputs } from '../actions/build-scan-push/inputs.js';
import { main, type Deps } from '../actions/build-scan-push/pipeline.js';
import type { Credentials } from '../actions/build-scan-push/registry.js';
import { DEFAULT_FLAVOR } from '../actions/build-scan-push/tags.js';
import type { ScanOptions } from '../actions/build-scan-push/trivy.js';
import { TRIVY_FIXTURE } from './helpers/fake-tools/index.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

type Event =
  | { kind: 'login'; creds: Credentials }
  | { kind: 'logout'; registry: string }
  | { kind: 'build'; spec: BuildSpec; output: BuildOutput; env: Record<string, string> }
  | { kind: 'scan'; opts: ScanOptions }
  | { kind: 'convert'; format: string; output: string }
  | { kind: 'db-save' };

/** Fakes that answer as the tools do and refuse what they refuse. */
function fakes(opts: { driver?: string; failBuild?: boolean } = {}) {
  const events: Event[] = [];
  const driver = opts.driver ?? 'docker-container';
  const deps: Deps = {
    buildx: (env) => ({
      assertAvailable: async () => 'github.com/docker/buildx v0.30.1',
      driver: async () => driver,
      build: async (spec, output): Promise<BuildMetadata> => {
        events.push({ kind: 'build', spec, output, env });
        if (output.kind === 'oci' && driver === 'docker') throw new Error('OCI exporter is not supported');
        if (opts.failBuild) throw new Error('docker buildx build failed (exit 1)');
        // Same inputs, same image: the cache-served push of one platform has the scan's digest.
        const what = JSON.stringify([spec.labels, spec.buildArgs, spec.platforms, env.SOURCE_DATE_EPOCH]);
        const digest = `sha256:${createHash('sha256').update(what).digest('hex')}`;
        const config = `sha256:${createHash('sha256').update(`config:${what}`).digest('hex')}`;
        return {
          'containerimage.digest': digest,
          'containerimage.config.digest': config,
          'image.name': spec.tags.join(','),
        };
      },
    }),
    trivy: async () => ({
      version: '0.74.0',
      trivy: {
        scan: async (o) => {
          events.push({ kind: 'scan', opts: o });
          return parseReport(readFileSync(TRIVY_FIXTURE, 'utf8'), TRIVY_FIXTURE);
        },
        convert: async (report, format, output) => {
          events.push({ kind: 'convert', format, output });
          writeFileSync(output, readFileSync(report));
        },
      },
    }),
    registry: {
      login: async (creds) => void events.push({ kind: 'login', creds }),
      logout: async (registry) => void events.push({ kind: 'logout', registry }),
    },
    dbCache: (o): DbCachePlan => ({
      cacheDir: mkdtempSync(join(o.tempRoot, 'db-')),
      skipFlags: [],
      source: 'download',
      note: 'Trivy DB: downloaded by Trivy',
      save: async () => void events.push({ kind: 'db-save' }),
    }),
  };
  const builds = () => events.flatMap((e) => (e.kind === 'build' ? [e] : []));
  return { deps, events, builds, pushes: () => builds().filter((b) => b.output.kind === 'push') };
}

function inputs(over: Partial<Config> = {}, ref = 'refs/heads/main'): Inputs {
  const dir = mkdtempSync(join(tmpdir(), 'bsp-main-'));
  dirs.push(dir);
  const config: Config = {
    workspace: dir,
    context: dir,
    file: join(dir, 'Dockerfile'),
    image: 'ghcr.io/octo-org/iris',
    images: ['ghcr.io/octo-org/iris'],
    tagRules: ['sha', 'ref'],
    references: [],
    builder: 'buildx',
    flavor: DEFAULT_FLAVOR,
    labels: {},
    buildArgs: {},
    platforms: [],
    secrets: {},
    noCache: false,
    push: true,
    githubRegistry: 'ghcr.io',
    githubToken: 'ghs_fakeWorkflowToken0123456789',
    cache: 'none',
    cacheFrom: [],
    cacheTo: [],
    trivyVersion: '0.74.0',
    trivyDbCache: true,
    severities: ['CRITICAL', 'HIGH'] as Severity[],
    ignoreUnfixed: false,
    failOnVulnerabilities: true,
    sarifFile: join(dir, 'trivy-results.sarif'),
    trivy: { ignorefiles: [], ignoreIds: new Set() },
    ...over,
  };
  return {
    config,
    context: {
      ref,
      sha: SHA,
      serverUrl: 'https://github.com',
      repository: 'octo-org/iris',
      actor: 'octocat',
      tempDir: dir,
      sourceDateEpoch: 1764000000,
      cacheEnv: {},
    },
  };
}

describe('build-scan-push main(inputs, deps)', () => {
  it('logs in, builds, scans, converts, pushes the same build, logs out; outputs name the push', async () => {
    const f = fakes();
    const res = await main(inputs({ mlflowRunId: 'a1b2c3d4e5f6' }), f.deps);
    expect(f.events.map((e) => e.kind)).toEqual([
      'login',
      'build',
      'scan',
      'db-save',
      'convert',
      'build',
      'logout',
    ]);
    const [scanBuild, push] = f.builds();
    expect(scanBuild!.output.kind).toBe('oci');
    expect(push!.output.kind).toBe('push');
    expect(push!.spec.tags).toEqual(['ghcr.io/octo-org/iris:main', 'ghcr.io/octo-org/iris:sha-0123456']);
    expect(push!.spec.labels).toEqual(scanBuild!.spec.labels);
    expect(push!.spec.labels['io.mlflow.run-id']).toBe('a1b2c3d4e5f6');
    expect(push!.spec.buildArgs).toEqual({ MLFLOW_RUN_ID: 'a1b2c3d4e5f6' });
    expect(push!.env).toEqual({ SOURCE_DATE_EPOCH: '1764000000' });
    const scan = f.events.find((e) => e.kind === 'scan')!;
    expect(scan.kind === 'scan' && scan.opts.target).toEqual({
      input: (scanBuild!.output as { dest: string }).dest,
    });
    expect(f.events[0]).toEqual({
      kind: 'login',
      creds: { registry: 'ghcr.io', username: 'octocat', password: 'ghs_fakeWorkflowToken0123456789' },
    });

    expect(res.failure).toBeUndefined();
    expect(res.outputs['scan-passed']).toBe('true');
    expect(res.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.outputs['image-ref']).toBe(`ghcr.io/octo-org/iris@${res.outputs.digest}`);
    expect(res.outputs.imageid).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.parse(res.outputs.metadata!)).toEqual({
      'containerimage.digest': res.outputs.digest,
      'containerimage.config.digest': res.outputs.imageid,
      'image.name': 'ghcr.io/octo-org/iris:main,ghcr.io/octo-org/iris:sha-0123456',
    });
    expect(res.outputs.tags).toBe('ghcr.io/octo-org/iris:main\nghcr.io/octo-org/iris:sha-0123456');
    expect(JSON.parse(res.outputs.vulnerabilities!)).toMatchObject({ MEDIUM: 4, HIGH: 0 });
    expect(res.summary).toContain(`Pushed \`ghcr.io/octo-org/iris@${res.outputs.digest}\``);
  });

  it('a refused gate pushes nothing, fails with the findings, and still logs out and cleans up', async () => {
    const f = fakes();
    const inp = inputs({ severities: ['MEDIUM'] });
    const res = await main(inp, f.deps);
    expect(f.pushes()).toEqual([]);
    expect(f.builds()).toHaveLength(1);
    expect(res.failure).toMatch(
      /^Scan gate failed: 4 vulnerabilities at MEDIUM in ghcr.io\/octo-org\/iris: /,
    );
    expect(res.failure).toMatch(/nothing was pushed\.$/);
    expect(res.outputs['scan-passed']).toBe('false');
    expect(res.outputs['image-ref']).toBeUndefined();
    expect(res.summary).toContain('**Nothing was pushed.**');
    expect(f.events.at(-1)).toEqual({ kind: 'logout', registry: 'ghcr.io' });
    // The work directory (OCI layout, reports) is gone; only the SARIF asked for is left.
    expect(readdirSync(inp.context.tempDir)).toEqual(['trivy-results.sarif']);
  });

  it('fail-on-vulnerabilities: false warns and pushes', async () => {
    const f = fakes();
    const res = await main(inputs({ severities: ['MEDIUM'], failOnVulnerabilities: false }), f.deps);
    expect(f.pushes()).toHaveLength(1);
    expect(res.failure).toBeUndefined();
    expect(res.warning).toMatch(/^Scan found 4 vulnerabilities .*\(fail-on-vulnerabilities is false\)\.$/);
    expect(res.outputs['image-ref']).toBe(`ghcr.io/octo-org/iris@${res.outputs.digest}`);
  });

  it('push: false logs in nowhere, pushes nothing, and outputs the built digest', async () => {
    const f = fakes();
    const res = await main(inputs({ push: false }), f.deps);
    expect(f.events.some((e) => e.kind === 'login' || e.kind === 'logout')).toBe(false);
    expect(f.pushes()).toEqual([]);
    expect(res.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.outputs['image-ref']).toBeUndefined();
  });

  it('builds and scans each platform apart, then pushes them as one build', async () => {
    const f = fakes();
    const res = await main(inputs({ platforms: ['linux/amd64', 'linux/arm64'] }), f.deps);
    const builds = f.builds();
    expect(builds.map((b) => [b.output.kind, b.spec.platforms])).toEqual([
      ['oci', ['linux/amd64']],
      ['oci', ['linux/arm64']],
      ['push', ['linux/amd64', 'linux/arm64']],
    ]);
    expect(f.events.filter((e) => e.kind === 'scan')).toHaveLength(2);
    expect(res.outputs.digest).not.toBe('');
  });

  it('the docker driver loads and scans by name, and refuses several platforms before building', async () => {
    const f = fakes({ driver: 'docker' });
    await main(inputs({ push: false }), f.deps);
    expect(f.builds()[0]!.output).toEqual({ kind: 'load' });
    const scan = f.events.find((e) => e.kind === 'scan');
    expect(scan?.kind === 'scan' && scan.opts.target).toEqual({ image: 'ghcr.io/octo-org/iris:main' });

    const g = fakes({ driver: 'docker' });
    await expect(main(inputs({ platforms: ['linux/amd64', 'linux/arm64'] }), g.deps)).rejects.toThrow(
      /Input 'platforms'/,
    );
    expect(g.events).toEqual([]);
  });

  it('a failed build logs out, removes the work directory and pushes nothing', async () => {
    const f = fakes({ failBuild: true });
    const inp = inputs();
    await expect(main(inp, f.deps)).rejects.toThrow(/buildx build failed/);
    expect(f.pushes()).toEqual([]);
    expect(f.events.at(-1)).toEqual({ kind: 'logout', registry: 'ghcr.io' });
    expect(readdirSync(inp.context.tempDir)).toEqual([]);
  });

  it('rules that yield no tag for the event name the input before any tool runs', async () => {
    const f = fakes();
    await expect(main(inputs({ tagRules: ['semver'] }), f.deps)).rejects.toThrow(/Input 'tags'/);
    expect(f.events).toEqual([]);
  });
});

describe('the builder input', () => {
  /** buildx that is not there, and a buildah that answers as the fakes' buildx does. */
  function withoutBuildx(f: ReturnType<typeof fakes>, buildah = true): Deps {
    const real = f.deps.buildx;
    return {
      ...f.deps,
      buildx: (env) => ({
        ...real(env),
        assertAvailable: async () => {
          throw new Error('docker buildx is not available');
        },
      }),
      buildah: (env) => ({
        ...real(env),
        assertAvailable: async () => {
          if (!buildah) throw new Error('buildah is not installed or not on PATH');
          return 'buildah version 1.28.2';
        },
        driver: async () => 'buildah',
      }),
    };
  }

  it('auto without docker buildx builds and pushes with buildah, logging in with buildah', async () => {
    const f = fakes();
    const tools: string[] = [];
    const deps = withoutBuildx(f);
    deps.registry = { login: async (_c, tool) => void tools.push(tool), logout: async () => undefined };
    const res = await main(inputs({ builder: 'auto' }), deps);
    expect(res.outputs.digest).toMatch(/^sha256:/);
    expect(f.pushes()).toHaveLength(1);
    expect(tools).toEqual(['buildah']);
  });

  it('auto with neither tool names the input and both tools before building', async () => {
    const f = fakes();
    await expect(main(inputs({ builder: 'auto' }), withoutBuildx(f, false))).rejects.toThrow(
      /builder.*docker buildx or buildah/,
    );
    expect(f.builds()).toEqual([]);
  });

  it('buildah refuses provenance, several platforms and custom cache by name, before building', async () => {
    for (const over of [
      { provenance: 'mode=max' },
      { platforms: ['linux/amd64', 'linux/arm64'] },
      { cache: 'custom' as const, cacheFrom: ['type=registry,ref=x'] },
    ]) {
      const f = fakes();
      const name = Object.keys(over)[0]!;
      await expect(main(inputs({ builder: 'buildah', ...over }), withoutBuildx(f))).rejects.toThrow(
        new RegExp(name),
      );
      expect(f.builds()).toEqual([]);
    }
  });
});
