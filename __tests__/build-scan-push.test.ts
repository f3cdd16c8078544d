/**
 * build-scan-push, bundled, against fake `docker` (buildx) and `trivy` that record their argument
 * lists and answer in the real tools' formats; the Trivy report is the recorded alpine-310 fixture
 * (4 MEDIUM findings, all with a fix: CVE-2019-1549 and CVE-2019-1551 in libcrypto1.1 and libssl1.1).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAction, type RunOptions } from './helpers/run-action.js';
import {
  allArgsOf,
  argOf,
  fakeEnv,
  TRIVY_FIXTURE,
  type Call,
  type FakeEnv,
} from './helpers/fake-tools/index.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
let envs: FakeEnv[] = [];
afterEach(() => {
  for (const e of envs) e.cleanup();
  envs = [];
});

async function run(
  inputs: RunOptions['inputs'] = {},
  env: Record<string, string> | ((f: FakeEnv) => Record<string, string>) = {},
  opts: { seedTrivy?: string | false; setup?: (f: FakeEnv) => void } = {},
) {
  const f = fakeEnv({ seedTrivy: opts.seedTrivy });
  envs.push(f);
  opts.setup?.(f);
  const extra = typeof env === 'function' ? env(f) : env;
  const res = await runAction('build-scan-push', { inputs, env: { ...f.env, ...extra }, cwd: f.workspace });
  const calls = f.calls();
  return { res, calls, f };
}

const builds = (calls: Call[]) =>
  calls.filter((c) => c.tool === 'docker' && c.argv[0] === 'buildx' && c.argv[1] === 'build');
const pushes = (calls: Call[]) => builds(calls).filter((c) => c.argv.includes('--push'));
const scans = (calls: Call[]) => calls.filter((c) => c.tool === 'trivy' && c.argv[0] === 'image');
const index = (calls: Call[], pred: (c: Call) => boolean) => calls.findIndex(pred);

describe('build-scan-push: build, scan, push', () => {
  it('logs in, builds to an OCI archive, scans that archive, pushes the same build, logs out', async () => {
    const { res, calls, f } = await run({ 'mlflow-run-id': 'a1b2c3d4e5f6', 'model-version': '7' });
    expect(res.errors).toEqual([]);
    expect(res.code).toBe(0);

    const order = [
      index(calls, (c) => c.argv[0] === 'login'),
      index(calls, (c) => c.argv[1] === 'build' && !c.argv.includes('--push')),
      index(calls, (c) => c.tool === 'trivy' && c.argv[0] === 'image'),
      index(calls, (c) => c.tool === 'trivy' && c.argv[0] === 'convert'),
      index(calls, (c) => c.argv.includes('--push')),
      index(calls, (c) => c.argv[0] === 'logout'),
    ];
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);

    const loginCall = calls.find((c) => c.argv[0] === 'login')!;
    expect(loginCall.argv).toEqual(['login', 'ghcr.io', '--username', 'octocat', '--password-stdin']);
    expect(loginCall.stdin).toBe(f.env.GITHUB_TOKEN);

    const [build, push] = builds(calls);
    // metadata-action's priority: ref before sha; the first one names the version.
    const tags = ['ghcr.io/octo-org/iris:main', 'ghcr.io/octo-org/iris:sha-0123456'];
    expect(allArgsOf(build!.argv, '--tag')).toEqual(tags);
    expect(argOf(build!.argv, '--file')).toBe(join(f.workspace, 'Dockerfile'));
    expect(build!.argv.at(-1)).toBe(f.workspace);
    const oci = argOf(build!.argv, '--output')!;
    // An OCI layout directory: Trivy's --input cannot open an OCI layout tar (trivy#5136).
    expect(oci).toMatch(/^type=oci,dest=.+\/image-0,tar=false$/);
    expect(argOf(build!.argv, '--metadata-file')).toMatch(/build-metadata-0\.json$/);
    const labels = allArgsOf(build!.argv, '--label');
    expect(labels).toEqual(
      expect.arrayContaining([
        'org.opencontainers.image.source=https://github.com/octo-org/iris',
        `org.opencontainers.image.revision=${SHA}`,
        'org.opencontainers.image.version=main',
        'org.opencontainers.image.title=iris',
        'io.mlflow.run-id=a1b2c3d4e5f6',
        'io.mlflow.model-version=7',
      ]),
    );
    expect(labels.find((l) => l.startsWith('org.opencontainers.image.created='))).toMatch(
      /=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    );
    expect(allArgsOf(build!.argv, '--build-arg')).toEqual(['MLFLOW_RUN_ID=a1b2c3d4e5f6', 'MODEL_VERSION=7']);

    // The push is the same build (same tags, labels, args, file, context) with --push instead of an export.
    const strip = (argv: string[]) =>
      argv.filter(
        (a, i) =>
          !['--output', '--metadata-file'].includes(argv[i - 1] ?? '') &&
          !['--output', '--metadata-file', '--push', '--provenance=false'].includes(a),
      );
    expect(strip(push!.argv)).toEqual(strip(build!.argv));

    const scan = scans(calls)[0]!;
    expect(argOf(scan.argv, '--input')).toBe(oci.slice('type=oci,dest='.length, -',tar=false'.length));
    expect(argOf(scan.argv, '--format')).toBe('json');
    // Trivy's default scanners (vuln and secret): secret scanning of the layers stays on.
    expect(scan.argv).not.toContain('--scanners');
    expect(scan.argv).toEqual(expect.arrayContaining(['--skip-version-check', '--disable-telemetry']));
    // `trivy convert` (the SARIF) has neither flag: the environment says it, in every Trivy call.
    const trivyCalls = calls.filter((c) => c.tool === 'trivy');
    expect(trivyCalls.map((c) => c.argv[0])).toContain('convert');
    for (const c of trivyCalls) {
      expect([c.argv[0], c.offline]).toEqual([
        c.argv[0],
        { skipVersionCheck: 'true', disableTelemetry: 'true' },
      ]);
    }
    expect(argOf(scan.argv, '--cache-dir')).toBe(f.env.TRIVY_CACHE_DIR);
    // The archive holds one image for the builder's platform, without attestation manifests.
    expect(scan.argv).not.toContain('--platform');
    expect(build!.argv).toContain('--provenance=false');
    expect(push!.argv).not.toContain('--provenance=false');
    expect(scan.argv).not.toContain('--severity');
    expect(scan.via).toBe(join(f.toolCache, 'trivy', '0.74.0', 'x64', 'trivy'));
    // Every trivy call runs outside the workspace, where no stray trivy.yaml/.trivyignore can be found.
    for (const c of calls.filter((c) => c.tool === 'trivy')) {
      expect(c.cwd.startsWith(f.env.RUNNER_TEMP!)).toBe(true);
      expect(c.cwd.startsWith(f.workspace)).toBe(false);
    }

    expect(res.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.outputs['image-ref']).toBe(`ghcr.io/octo-org/iris@${res.outputs.digest}`);
    expect(res.outputs.tags!.split('\n')).toEqual(tags);
    expect(JSON.parse(res.outputs.vulnerabilities!)).toEqual({
      CRITICAL: 0,
      HIGH: 0,
      MEDIUM: 4,
      LOW: 0,
      UNKNOWN: 0,
    });
    expect(res.outputs['scan-passed']).toBe('true');

    expect(res.outputs['sarif-file']).toBe(join(f.workspace, 'trivy-results.sarif'));
    const sarif = JSON.parse(readFileSync(res.outputs['sarif-file']!, 'utf8')) as {
      version: string;
      runs: { tool: { driver: { name: string } }; results: { ruleId: string }[] }[];
    };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0]!.tool.driver.name).toBe('Trivy');
    expect(sarif.runs[0]!.results.map((r) => r.ruleId).sort()).toEqual([
      'CVE-2019-1549',
      'CVE-2019-1549',
      'CVE-2019-1551',
      'CVE-2019-1551',
    ]);

    expect(res.summary).toMatch(/Gate passed/);
    expect(res.summary).toMatch(/\| MEDIUM \| 4 \|/);
    expect(res.summary).toMatch(
      /\| MEDIUM \| \[CVE-2019-1551\]\(https:\/\/avd\.aquasec\.com\/nvd\/cve-2019-1551\)\s*\| libcrypto1\.1 \| 1\.1\.1c-r0 \| 1\.1\.1d-r2 \|/,
    );
    expect(res.summary).toContain(`ghcr.io/octo-org/iris@${res.outputs.digest}`);
  });

  it('never puts the registry password on a command line or in the log', async () => {
    const password = 'p4ss-w0rd-that-must-not-leak';
    const { res, calls } = await run({ 'registry-username': 'robot', 'registry-password': password });
    expect(res.code).toBe(0);
    const login = calls.find((c) => c.argv[0] === 'login')!;
    expect(login.argv).toEqual(['login', 'ghcr.io', '--username', 'robot', '--password-stdin']);
    expect(login.stdin).toBe(password);
    for (const c of calls) expect(c.argv.join(' ')).not.toContain(password);
    // The only line that may carry it is the runner's mask registration.
    const leaks = `${res.stdout}\n${res.stderr}`.split('\n').filter((l) => l.includes(password));
    expect(leaks.length).toBeGreaterThan(0);
    expect([...new Set(leaks)]).toEqual([`::add-mask::${password}`]);
  });

  it('dates the image from the pushed commit, identically in the scan and the push build', async () => {
    const f = fakeEnv();
    envs.push(f);
    const res = await runAction('build-scan-push', {
      env: f.env,
      cwd: f.workspace,
      event: { head_commit: { id: SHA, timestamp: '2026-11-20T10:00:00+01:00' } },
    });
    expect(res.code).toBe(0);
    const [build, push] = builds(f.calls());
    for (const b of [build!, push!]) {
      expect(allArgsOf(b.argv, '--label')).toContain(
        'org.opencontainers.image.created=2026-11-20T09:00:00.000Z',
      );
    }
    const epoch = String(Date.parse('2026-11-20T09:00:00Z') / 1000);
    expect([build!.epoch, push!.epoch]).toEqual([epoch, epoch]);
  });

  it('push: false builds and scans, logs in nowhere and pushes nothing', async () => {
    const { res, calls } = await run({ push: false });
    expect(res.code).toBe(0);
    expect(calls.some((c) => c.argv[0] === 'login')).toBe(false);
    expect(builds(calls)).toHaveLength(1);
    expect(pushes(calls)).toHaveLength(0);
    expect(scans(calls)).toHaveLength(1);
    expect(res.outputs.digest).toMatch(/^sha256:/);
    expect(res.outputs['image-ref']).toBeUndefined();
    expect(res.summary).toMatch(/Not pushed \(push: false\)/);
  });

  it('does not send the workflow token to a registry other than ghcr.io', async () => {
    const { res, calls } = await run({ image: 'registry.example.com:5000/team/iris' });
    expect(res.code).toBe(0);
    expect(calls.some((c) => c.argv[0] === 'login')).toBe(false);
    expect(allArgsOf(pushes(calls)[0]!.argv, '--tag')).toEqual([
      'registry.example.com:5000/team/iris:main',
      'registry.example.com:5000/team/iris:sha-0123456',
    ]);
  });
});

describe('build-scan-push: the gate', () => {
  // The fixture holds 4 MEDIUM findings and nothing else: only a gate that includes MEDIUM fails.
  it.each([
    ['CRITICAL', true],
    ['HIGH', true],
    ['MEDIUM', false],
    ['LOW', true],
    ['UNKNOWN', true],
    ['CRITICAL,HIGH', true],
    ['critical, high, medium', false],
    ['CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN', false],
  ])('severity %s -> passes: %s', async (severity, passes) => {
    const { res, calls } = await run({ severity });
    expect(res.outputs['scan-passed']).toBe(String(passes));
    expect(JSON.parse(res.outputs.vulnerabilities!).MEDIUM).toBe(4);
    if (passes) {
      expect(res.code).toBe(0);
      expect(pushes(calls)).toHaveLength(1);
    } else {
      expect(res.code).toBe(1);
      expect(res.errors.join('\n')).toMatch(
        /^Scan gate failed: 4 vulnerabilities at [A-Z,]*MEDIUM[A-Z,]* in ghcr\.io\/octo-org\/iris: CVE-2019-1549 libcrypto1\.1 1\.1\.1c-r0 \(fixed in 1\.1\.1d-r0\), CVE-2019-1549 libssl1\.1 1\.1\.1c-r0 \(fixed in 1\.1\.1d-r0\), CVE-2019-1551 libcrypto1\.1 1\.1\.1c-r0 \(fixed in 1\.1\.1d-r2\), \.\.\.; nothing was pushed\.$/,
      );
      // A failed scan pushes nothing: no --push build at all.
      expect(pushes(calls)).toHaveLength(0);
      expect(calls.filter((c) => c.argv.some((a) => a === '--push' || /push=true/.test(a)))).toEqual([]);
      expect(res.summary).toMatch(/Gate failed/);
      expect(res.summary).toMatch(/Nothing was pushed/);
      expect(res.outputs['image-ref']).toBeUndefined();
      // SARIF is still written, for upload-sarif with `if: always()`.
      expect(readFileSync(res.outputs['sarif-file']!, 'utf8')).toContain('CVE-2019-1549');
    }
  });

  it('honours the ignore files named by trivyignores (merged), and drops expired entries', async () => {
    const ignore = '# accepted until the base image moves\nCVE-2019-1549\n';
    const stray = await run(
      { severity: 'MEDIUM' },
      {},
      { setup: (f) => writeFileSync(join(f.workspace, '.trivyignore'), `${ignore}CVE-2019-1551\n`) },
    );
    // A .trivyignore that is merely in the workspace is not read: only the inputs name ignore files.
    expect(stray.res.code).toBe(1);
    expect(scans(stray.calls)[0]!.argv).not.toContain('--ignorefile');
    expect(JSON.parse(stray.res.outputs.vulnerabilities!).MEDIUM).toBe(4);

    const ok = await run(
      { severity: 'MEDIUM', trivyignores: '.trivyignore, sec/more' },
      {},
      {
        setup: (f) => {
          writeFileSync(join(f.workspace, '.trivyignore'), ignore);
          mkdirSync(join(f.workspace, 'sec'));
          writeFileSync(join(f.workspace, 'sec', 'more'), 'CVE-2019-1551 exp:2099-01-01\n');
        },
      },
    );
    expect(ok.res.code).toBe(0);
    const merged = argOf(scans(ok.calls)[0]!.argv, '--ignorefile')!;
    expect(merged.startsWith(ok.f.env.RUNNER_TEMP!)).toBe(true);
    expect(JSON.parse(ok.res.outputs.vulnerabilities!).MEDIUM).toBe(0);
    expect(ok.res.summary).toMatch(/4 ignored by \.trivyignore/);
    expect(pushes(ok.calls)).toHaveLength(1);

    const expired = 'CVE-2019-1549\nCVE-2019-1551 exp:2020-01-01\n';
    const bad = await run(
      { severity: 'MEDIUM', trivyignore: 'security/ignore.txt' },
      {},
      {
        setup: (f) => {
          mkdirSync(join(f.workspace, 'security'));
          writeFileSync(join(f.workspace, 'security', 'ignore.txt'), expired);
        },
      },
    );
    expect(bad.res.code).toBe(1);
    expect(argOf(scans(bad.calls)[0]!.argv, '--ignorefile')).toBe(
      join(bad.f.workspace, 'security', 'ignore.txt'),
    );
    expect(JSON.parse(bad.res.outputs.vulnerabilities!).MEDIUM).toBe(2);
    expect(bad.res.errors.join()).toMatch(/2 vulnerabilities at MEDIUM/);
    expect(pushes(bad.calls)).toHaveLength(0);
  });

  it('ignore-unfixed drops findings without a fix (fixture with two made unfixed)', async () => {
    const report = JSON.parse(readFileSync(TRIVY_FIXTURE, 'utf8')) as {
      Results: { Vulnerabilities: { VulnerabilityID: string; FixedVersion?: string; Status?: string }[] }[];
    };
    for (const v of report.Results[0]!.Vulnerabilities) {
      if (v.VulnerabilityID === 'CVE-2019-1551') {
        delete v.FixedVersion;
        v.Status = 'affected';
      }
    }
    const { res, calls } = await run(
      { severity: 'MEDIUM', 'ignore-unfixed': true },
      (f) => ({ FAKE_TRIVY_REPORT: join(f.dir, 'report.json') }),
      { setup: (f) => writeFileSync(join(f.dir, 'report.json'), JSON.stringify(report)) },
    );
    expect(scans(calls)[0]!.argv).toContain('--ignore-unfixed');
    expect(JSON.parse(res.outputs.vulnerabilities!).MEDIUM).toBe(2);
    expect(res.summary).toMatch(/2 without a fix \(ignore-unfixed\)/);
    expect(res.code).toBe(1);
  });

  it('fail-on-vulnerabilities: false reports, warns and still pushes', async () => {
    const { res, calls } = await run({ severity: 'MEDIUM', 'fail-on-vulnerabilities': false });
    expect(res.code).toBe(0);
    expect(res.outputs['scan-passed']).toBe('false');
    expect(res.warnings.join()).toMatch(/4 vulnerabilities at MEDIUM/);
    expect(pushes(calls)).toHaveLength(1);
    expect(res.summary).toMatch(/reported, not enforced/);
  });
});

describe('build-scan-push: tags, drivers and cache', () => {
  it('tags a v* release with semver rules and sets the version label from it', async () => {
    const { res, calls } = await run(
      { tags: 'sha\nref\nsemver\nsemver:{{major}}.{{minor}}\nraw:stable' },
      { GITHUB_REF: 'refs/tags/v1.2.3', GITHUB_REF_NAME: 'v1.2.3' },
    );
    expect(res.code).toBe(0);
    const tags = allArgsOf(pushes(calls)[0]!.argv, '--tag').map((t) => t.split(':').pop());
    expect(tags).toEqual(['1.2.3', '1.2', 'v1.2.3', 'stable', 'sha-0123456', 'latest']);
    expect(allArgsOf(builds(calls)[0]!.argv, '--label')).toContain('org.opencontainers.image.version=1.2.3');
  });

  it('a pre-release gets only its full version; a PR gets pr-<n>; branches are sanitized', async () => {
    const pre = await run({ tags: 'semver\nsemver:{{major}}' }, { GITHUB_REF: 'refs/tags/v2.0.0-rc.1' });
    expect(pre.res.outputs.tags).toBe('ghcr.io/octo-org/iris:2.0.0-rc.1');
    const pr = await run({ tags: 'ref', push: false }, { GITHUB_REF: 'refs/pull/7/merge' }, {});
    expect(pr.res.outputs.tags).toBe('ghcr.io/octo-org/iris:pr-7');
    const branch = await run({ tags: 'ref' }, { GITHUB_REF: 'refs/heads/feature/New_model' });
    expect(branch.res.outputs.tags).toBe('ghcr.io/octo-org/iris:feature-New_model');
  });

  it('with the docker driver it uses --load and scans the loaded image by name', async () => {
    const { res, calls } = await run({}, { FAKE_BUILDX_DRIVER: 'docker' });
    expect(res.code).toBe(0);
    const build = builds(calls)[0]!;
    expect(build.argv).toContain('--load');
    expect(build.argv).not.toContain('--output');
    const scan = scans(calls)[0]!;
    expect(scan.argv).not.toContain('--input');
    expect(scan.argv.at(-1)).toBe('ghcr.io/octo-org/iris:main');
  });

  it('uses the GitHub Actions cache (type=gha) when the runner provides it', async () => {
    const gha = { ACTIONS_RUNTIME_TOKEN: 'runtime-token', ACTIONS_RESULTS_URL: 'http://127.0.0.1:1/' };
    const { calls } = await run({}, gha);
    const [build, push] = builds(calls);
    expect(allArgsOf(build!.argv, '--cache-from')).toEqual([
      'type=gha,scope=build-scan-push-ghcr.io/octo-org/iris',
    ]);
    expect(allArgsOf(build!.argv, '--cache-to')).toEqual([
      'type=gha,mode=max,scope=build-scan-push-ghcr.io/octo-org/iris',
    ]);
    expect(allArgsOf(push!.argv, '--cache-to')).toEqual([]);

    const multi = await run({ platforms: 'linux/amd64,linux/arm64' }, gha);
    const scope = 'type=gha,scope=build-scan-push-ghcr.io/octo-org/iris';
    const local = builds(multi.calls).filter((b) => !b.argv.includes('--push'));
    expect(local.map((b) => allArgsOf(b.argv, '--cache-to'))).toEqual([
      ['type=gha,mode=max,scope=build-scan-push-ghcr.io/octo-org/iris-linux/amd64'],
      ['type=gha,mode=max,scope=build-scan-push-ghcr.io/octo-org/iris-linux/arm64'],
    ]);
    const multiPush = pushes(multi.calls)[0]!;
    expect(allArgsOf(multiPush.argv, '--cache-from')).toEqual([
      `${scope}-linux/amd64`,
      `${scope}-linux/arm64`,
    ]);
    expect(allArgsOf(multiPush.argv, '--cache-to')).toEqual([]);

    const none = await run({}, {});
    expect(builds(none.calls)[0]!.argv).not.toContain('--cache-from');
    const dockerDriver = await run({}, { ...gha, FAKE_BUILDX_DRIVER: 'docker' });
    expect(builds(dockerDriver.calls)[0]!.argv).not.toContain('--cache-to');
    const custom = await run({ cache: 'from:type=registry,ref=ghcr.io/octo-org/iris:buildcache' }, gha);
    expect(allArgsOf(builds(custom.calls)[0]!.argv, '--cache-from')).toEqual([
      'type=registry,ref=ghcr.io/octo-org/iris:buildcache',
    ]);
  });

  it('passes a remote (git) context through, letting buildx read its own Dockerfile', async () => {
    const context = 'https://github.com/octo-org/iris.git#main:model';
    const { res, calls } = await run({ context, push: false });
    expect(res.code).toBe(0);
    const build = builds(calls)[0]!;
    expect(build.argv).not.toContain('--file');
    expect(build.argv.at(-1)).toBe(context);
  });

  it('passes platforms, build-args and user labels (which override defaults)', async () => {
    const { res, calls } = await run({
      platforms: 'linux/amd64,linux/arm64',
      'build-args': 'PYTHON_VERSION=3.12\nEXTRA=a=b',
      labels: 'org.opencontainers.image.title=iris-serving\nteam=ml',
    });
    expect(res.code).toBe(0);
    // One single-platform archive per platform, each scanned; then one multi-platform push.
    const local = builds(calls).filter((b) => !b.argv.includes('--push'));
    expect(local.map((b) => argOf(b.argv, '--platform'))).toEqual(['linux/amd64', 'linux/arm64']);
    const archives = local.map((b) =>
      argOf(b.argv, '--output')!.replace('type=oci,dest=', '').replace(',tar=false', ''),
    );
    expect(new Set(archives).size).toBe(2);
    expect(scans(calls).map((s) => argOf(s.argv, '--input'))).toEqual(archives);
    expect(scans(calls).every((s) => !s.argv.includes('--platform'))).toBe(true);
    expect(argOf(pushes(calls)[0]!.argv, '--platform')).toBe('linux/amd64,linux/arm64');
    const build = local[0]!;
    expect(allArgsOf(build.argv, '--build-arg')).toEqual(['PYTHON_VERSION=3.12', 'EXTRA=a=b']);
    const labels = allArgsOf(build.argv, '--label');
    expect(labels).toContain('org.opencontainers.image.title=iris-serving');
    expect(labels).not.toContain('org.opencontainers.image.title=iris');
    expect(labels).toContain('team=ml');
    // Both platforms carry the fixture's 4 findings; the SARIF names the platform of each.
    expect(JSON.parse(res.outputs.vulnerabilities!).MEDIUM).toBe(8);
    const sarif = readFileSync(res.outputs['sarif-file']!, 'utf8');
    expect(sarif).toContain('(alpine 3.10.2) (linux/arm64): libssl1.1@1.1.1c-r0');
    expect(sarif).toContain('(alpine 3.10.2) (linux/amd64): libssl1.1@1.1.1c-r0');
  });
});

describe('build-scan-push: clear errors', () => {
  it('buildx asked for and missing: the real docker CLI without the plugin', async () => {
    const f = fakeEnv();
    envs.push(f);
    const bin = join(f.dir, 'bin');
    mkdirSync(bin);
    symlinkSync('/usr/local/bin/docker', join(bin, 'docker'));
    symlinkSync(process.execPath, join(bin, 'node'));
    // `builder: auto` would fall back to buildah (/usr/bin here): build-scan-push-buildah tests that.
    const res = await runAction('build-scan-push', {
      inputs: { builder: 'buildx' },
      env: { ...f.env, PATH: `${bin}:/usr/bin:/bin` },
      cwd: f.workspace,
    });
    expect(res.code).toBe(1);
    expect(res.errors.join()).toMatch(
      /docker buildx is not available: `docker buildx version` exited 1: .*unknown command/,
    );
  });

  it('a Dockerfile that does not exist names the input', async () => {
    const { res, calls } = await run({ file: 'serving/Dockerfile' });
    expect(res.code).toBe(1);
    expect(res.errors).toEqual([
      "Input 'file': expected a Dockerfile that exists, got 'serving/Dockerfile'.",
    ]);
    expect(calls).toEqual([]);
  });

  it('an unknown severity names the input', async () => {
    const { res, calls } = await run({ severity: 'CRITICAL,SEVERE' });
    expect(res.code).toBe(1);
    expect(res.errors).toEqual([
      "Input 'severity': expected severities among CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN, got 'SEVERE'.",
    ]);
    expect(calls).toEqual([]);
  });

  it('a login failure stops before building', async () => {
    const { res, calls } = await run({}, { FAKE_DOCKER_PASSWORD: 'the-right-one' });
    expect(res.code).toBe(1);
    expect(res.errors.join()).toMatch(
      /Login to ghcr\.io as octocat failed \(exit 1\): .*denied.*packages: write/,
    );
    expect(builds(calls)).toHaveLength(0);
  });

  it('a failed build and a failed scan both push nothing', async () => {
    const build = await run({}, { FAKE_BUILD_FAIL: '1' });
    expect(build.res.code).toBe(1);
    expect(build.res.errors.join()).toMatch(/docker buildx build failed \(exit 1\):[\s\S]*pip install/);
    expect(pushes(build.calls)).toHaveLength(0);

    const scan = await run({}, { FAKE_TRIVY_FAIL: '1' });
    expect(scan.res.code).toBe(1);
    expect(scan.res.errors.join()).toMatch(
      /Trivy scan failed \(exit 1\):[\s\S]*failed to download vulnerability DB/,
    );
    expect(pushes(scan.calls)).toHaveLength(0);
    // Credentials are removed even when the run fails.
    expect(scan.calls.at(-1)!.argv).toEqual(['logout', 'ghcr.io']);
  });

  it('tags that yield nothing for the event, and bad raw tags, name the input', async () => {
    const semverOnBranch = await run({ tags: 'semver' });
    expect(semverOnBranch.res.errors.join()).toMatch(
      /^Input 'tags': expected rules that yield at least one tag/,
    );
    const raw = await run({ tags: 'raw:has space' });
    expect(raw.res.errors.join()).toMatch(/^Input 'tags': expected a valid Docker tag after raw:/);
    const image = await run({ image: 'GHCR.io/Octo/Iris:latest' });
    expect(image.res.errors.join()).toMatch(/^Input 'image': expected a lowercase image name/);
  });
});

describe('build-scan-push: docker/build-push-action inputs and outputs', () => {
  const dockerfile = 'FROM python:3.12.8-slim-bookworm AS serve\nUSER 10001\nFROM serve AS debug\n';

  it('passes target, secrets (as files), no-cache and attestations to buildx where they belong', async () => {
    const secret = 'pip-t0ken-that-must-not-leak';
    const { res, calls } = await run(
      {
        target: 'serve',
        secrets: `pip_token=${secret}\nmodel_key=k=v`,
        'no-cache': true,
        provenance: 'mode=max',
        sbom: true,
      },
      {},
      { setup: (f) => writeFileSync(join(f.workspace, 'Dockerfile'), dockerfile) },
    );
    expect(res.errors).toEqual([]);
    const [build, push] = builds(calls) as (Call & { secrets?: Record<string, string> })[];
    for (const b of [build!, push!]) {
      expect(argOf(b.argv, '--target')).toBe('serve');
      expect(allArgsOf(b.argv, '--secret').map((s) => s.replace(/,src=.*$/, ''))).toEqual([
        'id=pip_token',
        'id=model_key',
      ]);
      expect(b.secrets).toEqual({ pip_token: secret, model_key: 'k=v' });
    }
    // The scanned build is fresh; the push is served from it, with the attestations asked for.
    expect(build!.argv).toContain('--no-cache');
    expect(push!.argv).not.toContain('--no-cache');
    expect(push!.argv).toEqual(expect.arrayContaining(['--provenance=mode=max', '--sbom=true']));
    expect(build!.argv).toContain('--provenance=false');
    expect(build!.argv.some((a) => a.startsWith('--sbom'))).toBe(false);
    // Secret files live in the work directory only for the run.
    const src = allArgsOf(push!.argv, '--secret')[0]!.replace(/^.*,src=/, '');
    expect(existsSync(src)).toBe(false);
    for (const c of calls) expect(c.argv.join(' ')).not.toContain(secret);
    const leaks = `${res.stdout}\n${res.stderr}`.split('\n').filter((l) => l.includes(secret));
    expect([...new Set(leaks)]).toEqual([`::add-mask::${secret}`]);
  });

  it('outputs imageid (the config digest) and metadata (buildx JSON) of the pushed build', async () => {
    const { res, calls } = await run();
    const meta = JSON.parse(res.outputs.metadata!) as Record<string, unknown>;
    expect(meta['containerimage.digest']).toBe(res.outputs.digest);
    expect(res.outputs.imageid).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.outputs.imageid).toBe(meta['containerimage.config.digest']);
    expect(meta['image.name']).toBe(allArgsOf(pushes(calls)[0]!.argv, '--tag').join(','));
  });

  it('a target the Dockerfile lacks fails in the builder; a bad attestation value names the input', async () => {
    const target = await run({ target: 'nope' });
    expect(target.res.errors.join()).toMatch(/target stage "nope" could not be found/);
    expect(pushes(target.calls)).toHaveLength(0);
    const prov = await run({ provenance: 'max mode' });
    expect(prov.res.errors.join()).toMatch(/^Input 'provenance': expected true, false or buildx attestation/);
    const secrets = await run({ secrets: 'no-equals-sign-s3cret' });
    expect(secrets.res.errors.join()).toMatch(/^Input 'secrets': expected lines of id=value/);
    expect(secrets.res.stdout + secrets.res.stderr).not.toContain('no-equals-sign-s3cret');
  });
});

describe('build-scan-push on GitHub Enterprise Server', () => {
  // What a GHES runner sets; its Container registry is containers.<host> (GHES docs, "Working with
  // the Container registry").
  const GHES = {
    GITHUB_SERVER_URL: 'https://ghe.example.com',
    GITHUB_API_URL: 'https://ghe.example.com/api/v3',
    GITHUB_GRAPHQL_URL: 'https://ghe.example.com/api/graphql',
  };

  it("defaults the image to the instance's registry and logs in there with the workflow token", async () => {
    const { res, calls, f } = await run({}, GHES);
    expect(res.errors).toEqual([]);
    const login = calls.find((c) => c.argv[0] === 'login')!;
    expect(login.argv).toEqual([
      'login',
      'containers.ghe.example.com',
      '--username',
      'octocat',
      '--password-stdin',
    ]);
    expect(login.stdin).toBe(f.env.GITHUB_TOKEN);
    const tags = [
      'containers.ghe.example.com/octo-org/iris:main',
      'containers.ghe.example.com/octo-org/iris:sha-0123456',
    ];
    expect(allArgsOf(pushes(calls)[0]!.argv, '--tag')).toEqual(tags);
    expect(allArgsOf(pushes(calls)[0]!.argv, '--label')).toContain(
      'org.opencontainers.image.source=https://ghe.example.com/octo-org/iris',
    );
    expect(res.outputs['image-ref']).toBe(`containers.ghe.example.com/octo-org/iris@${res.outputs.digest}`);
    expect(res.outputs.tags!.split('\n')).toEqual(tags);
    expect(calls.find((c) => c.argv[0] === 'logout')!.argv).toEqual(['logout', 'containers.ghe.example.com']);
  });

  it('an image on another registry overrides the default, and the GHES token is not sent there', async () => {
    const { res, calls, f } = await run({ image: 'ghcr.io/octo-org/iris' }, GHES);
    expect(res.errors).toEqual([]);
    expect(allArgsOf(pushes(calls)[0]!.argv, '--tag')[0]).toBe('ghcr.io/octo-org/iris:main');
    expect(calls.filter((c) => c.argv[0] === 'login')).toEqual([]);
    for (const c of calls) expect(`${c.argv.join(' ')} ${c.stdin ?? ''}`).not.toContain(f.env.GITHUB_TOKEN);
    expect(res.stdout).toMatch(/No credentials for ghcr\.io/);
  });
});
