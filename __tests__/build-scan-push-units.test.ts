/** The pure parts of build-scan-push, on their own: tag rules, the gate, ignore files, checksums. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Buildx, cacheFor } from '../actions/build-scan-push/buildx.js';
import {
  applyPolicy,
  countBySeverity,
  evaluateGate,
  extractFindings,
  mergeReports,
  parseReport,
  parseSeverities,
  parseTrivyignore,
  rank,
} from '../actions/build-scan-push/gate.js';
import { githubRegistry } from '../actions/build-scan-push/inputs.js';
import { isLoopbackRegistry, registryOf, resolveCredentials } from '../actions/build-scan-push/registry.js';
import { renderSummary } from '../actions/build-scan-push/summary.js';
import { computeTags, parseFlavor, parseSemver, sanitizeTag } from '../actions/build-scan-push/tags.js';
import { assetName, checksumFor, PINNED_SHA256, Trivy } from '../actions/build-scan-push/trivy.js';
import { TRIVY_FIXTURE } from './helpers/fake-tools/index.js';

const sha = '0123456789abcdef0123456789abcdef01234567';
const fixture = parseReport(readFileSync(TRIVY_FIXTURE, 'utf8'), 'fixture');

describe('tags', () => {
  it('follows metadata-action for refs, PRs and semver', () => {
    const tags = (
      ref: string,
      rules = ['sha', 'ref', 'semver', 'semver:{{major}}.{{minor}}', 'semver:{{major}}'],
    ) => computeTags(rules, { ref, sha }).map((t) => t.tag);
    expect(tags('refs/heads/main')).toEqual(['main', 'sha-0123456']);
    expect(tags('refs/heads/release/2026.11')).toEqual(['release-2026.11', 'sha-0123456']);
    expect(tags('refs/pull/42/merge')).toEqual(['pr-42', 'sha-0123456']);
    // latest=auto (metadata-action's default flavor): a release, and a git tag, also get `latest`.
    expect(tags('refs/tags/v1.2.3')).toEqual(['1.2.3', '1.2', '1', 'v1.2.3', 'sha-0123456', 'latest']);
    expect(tags('refs/tags/v1.2.3-rc.1')).toEqual(['1.2.3-rc.1', 'v1.2.3-rc.1', 'sha-0123456']);
    // Not a semver tag: semver yields nothing, ref still tags it.
    expect(tags('refs/tags/nightly')).toEqual(['nightly', 'sha-0123456', 'latest']);
  });

  it('sanitizes and validates', () => {
    expect(sanitizeTag('-feature/ABC#1')).toBe('feature-ABC-1');
    expect(sanitizeTag('x'.repeat(200))).toHaveLength(128);
    expect(parseSemver('v01.2.3')).toBeUndefined();
    // A bare value is a raw tag, as in metadata-action; types it has but this action lacks are errors.
    expect(computeTags(['latest'], { ref: 'refs/heads/main', sha }).map((t) => t.tag)).toEqual(['latest']);
    expect(() => computeTags(['type=schedule'], { ref: 'refs/heads/main', sha })).toThrow(
      /Input 'tags': expected tag types build-scan-push supports/,
    );
    expect(() => computeTags(['raw:-bad'], { ref: 'refs/heads/main', sha })).toThrow(/valid Docker tag/);
  });
});

describe('tags: metadata-action rule syntax', () => {
  const at = (ref: string, rules: string[], flavor: string[] = []) =>
    computeTags(rules, { ref, sha }, parseFlavor(flavor)).map((t) => t.tag);

  it('priority orders the rules; format=long, prefix and suffix; onlatest applies the flavor to latest', () => {
    expect(at('refs/heads/main', ['type=sha,format=long', 'type=raw,value=x,priority=50'])).toEqual([
      `sha-${sha}`,
      'x',
    ]);
    expect(at('refs/heads/main', ['type=sha,prefix=,suffix=-amd64'])).toEqual(['0123456-amd64']);
    expect(at('refs/tags/v3.1.0', ['type=semver,pattern={{raw}}'], ['prefix=app-,onlatest=true'])).toEqual([
      'app-v3.1.0',
      'app-latest',
    ]);
    expect(at('refs/heads/main', ['type=raw,value={{branch}}-{{sha}}'], ['latest=true'])).toEqual([
      'main-0123456',
      'latest',
    ]);
  });

  it('rejects what metadata-action rejects', () => {
    for (const rule of [
      'type=ref',
      'type=ref,event=push',
      'type=semver',
      'type=raw',
      'type=sha,format=tiny',
    ]) {
      expect(() => at('refs/heads/main', [rule])).toThrow(/Input 'tags'/);
    }
    expect(() => parseFlavor(['latest=maybe'])).toThrow(/Input 'flavor'/);
    expect(() => at('refs/heads/main', ['type=raw,value={{date}}'])).toThrow(/expressions among/);
  });
});

describe('gate over the recorded alpine-310 report', () => {
  const findings = extractFindings(fixture);

  it('reads the 4 findings with package, installed and fixed versions', () => {
    expect(findings.map((f) => `${f.id} ${f.pkg} ${f.installed} -> ${f.fixed} ${f.severity}`).sort()).toEqual(
      [
        'CVE-2019-1549 libcrypto1.1 1.1.1c-r0 -> 1.1.1d-r0 MEDIUM',
        'CVE-2019-1549 libssl1.1 1.1.1c-r0 -> 1.1.1d-r0 MEDIUM',
        'CVE-2019-1551 libcrypto1.1 1.1.1c-r0 -> 1.1.1d-r2 MEDIUM',
        'CVE-2019-1551 libssl1.1 1.1.1c-r0 -> 1.1.1d-r2 MEDIUM',
      ],
    );
    expect(countBySeverity(findings)).toEqual({ CRITICAL: 0, HIGH: 0, MEDIUM: 4, LOW: 0, UNKNOWN: 0 });
  });

  it.each([
    ['CRITICAL', 0],
    ['HIGH', 0],
    ['MEDIUM', 4],
    ['LOW', 0],
    ['UNKNOWN', 0],
    ['CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN', 4],
  ])('severity %s fails on %i findings', (sev, n) => {
    const verdict = evaluateGate(findings, parseSeverities(sev));
    expect(verdict.failing).toHaveLength(n);
    expect(verdict.passed).toBe(n === 0);
  });

  it('ranks worst first by severity, then CVSS', () => {
    // CVE-2019-1551 (5.3 in nvd) and CVE-2019-1549 (5.3): ties broken by ID then package.
    expect(rank(findings).map((f) => `${f.id}/${f.pkg}`)).toEqual([
      'CVE-2019-1549/libcrypto1.1',
      'CVE-2019-1549/libssl1.1',
      'CVE-2019-1551/libcrypto1.1',
      'CVE-2019-1551/libssl1.1',
    ]);
  });

  it('.trivyignore with comments and expiry; ignore-unfixed by status', () => {
    const now = new Date('2026-11-26T00:00:00Z');
    const ids = parseTrivyignore(
      '# why\nCVE-2019-1549 # inline\n\nCVE-2019-1551 exp:2026-11-25\nCVE-X exp:2027-01-01\n',
      now,
    );
    expect([...ids]).toEqual(['CVE-2019-1549', 'CVE-X']);
    const p = applyPolicy(findings, { ignoreUnfixed: false, ignoreIds: ids });
    expect(p.kept.map((f) => f.id)).toEqual(['CVE-2019-1551', 'CVE-2019-1551']);
    const unfixed = findings.map((f, i) => (i === 0 ? { ...f, status: 'affected', fixed: undefined } : f));
    expect(applyPolicy(unfixed, { ignoreUnfixed: true, ignoreIds: new Set() }).ignoredUnfixed).toHaveLength(
      1,
    );
  });

  it('refuses an expiry date that Trivy cannot parse (Trivy would drop the entry with a warning)', () => {
    const now = new Date('2026-11-26T00:00:00Z');
    for (const bad of ['2026-13-01', '2026-02-30', '2026-2-3', '31.12.2026', 'never']) {
      expect(() => parseTrivyignore(`CVE-1\nCVE-2 exp:${bad}\n`, now, 'sec/ignore')).toThrow(
        `sec/ignore:2: expiry 'exp:${bad}' is not a date Trivy can read; expected exp:YYYY-MM-DD (e.g. exp:2027-01-31)`,
      );
    }
    expect([...parseTrivyignore('CVE-2 exp:2028-02-29\n', now)]).toEqual(['CVE-2']);
  });

  it('counts secrets as Trivy reports them; ignore-unfixed never hides one', () => {
    const report = {
      SchemaVersion: 2,
      Results: [
        {
          Target: '/app/.env',
          Class: 'secret',
          Secrets: [
            { RuleID: 'aws-access-key-id', Severity: 'CRITICAL', Title: 'AWS Access Key ID', StartLine: 2 },
          ],
        },
      ],
    };
    const found = extractFindings(report);
    expect(found).toEqual([
      expect.objectContaining({
        kind: 'secret',
        id: 'aws-access-key-id',
        pkg: '/app/.env',
        severity: 'CRITICAL',
      }),
    ]);
    expect(applyPolicy(found, { ignoreUnfixed: true, ignoreIds: new Set() }).kept).toHaveLength(1);
    expect(evaluateGate(found, ['CRITICAL']).passed).toBe(false);
  });

  it('rejects unknown severities and non-v2 reports', () => {
    expect(() => parseSeverities('HIGH,SEVERE')).toThrow(
      "Input 'severity': expected severities among CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN, got 'SEVERE'.",
    );
    expect(() => parseSeverities(' , ')).toThrow(/Input 'severity'/);
    expect(() => parseReport('{"SchemaVersion":1}', 'r.json')).toThrow(/SchemaVersion 1; expected 2/);
  });
});

describe('summary', () => {
  it('escapes table cells from the vulnerability database', () => {
    const findings = extractFindings(fixture).map((f) => ({ ...f, title: 'a | b <script>x</script>\nnext' }));
    const md = renderSummary({
      image: 'ghcr.io/o/r',
      tags: ['main'],
      counts: countBySeverity(findings),
      verdict: evaluateGate(findings, ['MEDIUM']),
      failOnVulnerabilities: true,
      findings,
      ignoredListed: 0,
      ignoredUnfixed: 0,
      pushed: false,
      pushRequested: true,
      trivyVersion: '0.74.0',
    });
    // The shared escaper: the title renders as itself (HTML as entities), on one line.
    expect(md).toContain('a \\| b &lt;script&gt;x&lt;/script&gt; next');
    expect(md).not.toContain('<script>');
    expect(md).toMatch(/Gate failed.*4 vulnerabilities at MEDIUM/);
  });
});

describe('registry and install helpers', () => {
  it("finds the registry and applies the token default only to the GitHub instance's registry", () => {
    expect(registryOf('ghcr.io/o/r')).toBe('ghcr.io');
    expect(registryOf('localhost:5000/r')).toBe('localhost:5000');
    expect(registryOf('library/python')).toBe('docker.io');
    expect(resolveCredentials({ registry: 'ghcr.io', githubToken: 't', actor: 'me' })).toEqual({
      registry: 'ghcr.io',
      username: 'me',
      password: 't',
    });
    expect(resolveCredentials({ registry: 'quay.io', githubToken: 't', actor: 'me' })).toBeUndefined();
    // On GHES the token goes to the instance's registry, and no longer to ghcr.io.
    const ghes = { githubRegistry: 'containers.ghe.example.com', githubToken: 't', actor: 'me' };
    expect(resolveCredentials({ ...ghes, registry: 'containers.ghe.example.com' })).toMatchObject({
      username: 'me',
      password: 't',
    });
    expect(resolveCredentials({ ...ghes, registry: 'ghcr.io' })).toBeUndefined();
    expect(githubRegistry(undefined)).toBe('ghcr.io');
    expect(githubRegistry('https://github.com')).toBe('ghcr.io');
    expect(githubRegistry('https://GHE.Example.com/')).toBe('containers.ghe.example.com');
    expect(() => githubRegistry('ghe.example.com')).toThrow(/GITHUB_SERVER_URL is not a URL/);
    expect(() => resolveCredentials({ registry: 'quay.io', password: 'p' })).toThrow(
      /Input 'registry-username'/,
    );
  });

  it('tells loopback registries (plain http allowed, as docker does) from the others', () => {
    for (const r of ['localhost:5001', 'localhost', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000', '[::1]'])
      expect([r, isLoopbackRegistry(r)]).toEqual([r, true]);
    for (const r of [
      'ghcr.io',
      'localhost.example.com:5000',
      '128.0.0.1:5000',
      '127.0.0.1.nip.io',
      '10.0.0.1',
    ])
      expect([r, isLoopbackRegistry(r)]).toEqual([r, false]);
  });

  it('reads goreleaser checksums files and names assets like the releases', () => {
    const sums = `${'a'.repeat(64)}  trivy_0.75.0_Linux-ARM64.tar.gz\n${'B'.repeat(64)} *trivy_0.75.0_Linux-64bit.tar.gz\n`;
    expect(checksumFor(sums, 'trivy_0.75.0_Linux-64bit.tar.gz')).toBe('b'.repeat(64));
    expect(checksumFor(sums, 'trivy_0.75.0_Linux-64bit.deb')).toBeUndefined();
    expect(assetName('0.75.0', 'linux', 'x64')).toBe('trivy_0.75.0_Linux-64bit.tar.gz');
    expect(assetName('0.75.0', 'darwin', 'arm64')).toBe('trivy_0.75.0_macOS-ARM64.tar.gz');
    expect(() => assetName('0.75.0', 'win32', 'x64')).toThrow(/no archive for win32\/x64/);
    for (const [v, assets] of Object.entries(PINNED_SHA256)) {
      for (const [asset, digest] of Object.entries(assets)) {
        expect(asset).toMatch(
          new RegExp(`^trivy_${v.replace(/\./g, '\\.')}_Linux-(64bit|ARM64)\\.tar\\.gz$`),
        );
        expect(digest).toMatch(/^[0-9a-f]{64}$/);
      }
    }
  });

  it('builds buildx and trivy argument lists', () => {
    const spec = {
      context: '/ws',
      file: '/ws/Dockerfile',
      tags: ['r:a', 'r:b'],
      labels: { k: 'v=w' },
      buildArgs: { A: '1' },
      platforms: [],
      cacheFrom: [],
      cacheTo: [],
      metadataFile: '/t/m.json',
    };
    expect(Buildx.buildArgs(spec, { kind: 'push' })).toEqual([
      'buildx',
      'build',
      '--file',
      '/ws/Dockerfile',
      '--tag',
      'r:a',
      '--tag',
      'r:b',
      '--label',
      'k=v=w',
      '--build-arg',
      'A=1',
      '--metadata-file',
      '/t/m.json',
      '--push',
      '/ws',
    ]);
    expect(Buildx.buildArgs(spec, { kind: 'load' }).slice(-3)).toEqual([
      '--provenance=false',
      '--load',
      '/ws',
    ]);
    expect(
      Trivy.scanArgs({
        target: { image: 'r:a' },
        output: '/t/o.json',
        cacheDir: '/c',
        ignoreUnfixed: true,
        ignorefile: '/ws/.trivyignore',
      }),
    ).toEqual([
      'image',
      // No --scanners: Trivy's default (vuln and secret) unless the `scanners` input says otherwise.
      '--format',
      'json',
      '--output',
      '/t/o.json',
      '--cache-dir',
      '/c',
      '--exit-code',
      '0',
      '--no-progress',
      '--skip-version-check',
      '--disable-telemetry',
      '--ignore-unfixed',
      '--ignorefile',
      '/ws/.trivyignore',
      'r:a',
    ]);
  });
});

describe('cache choice and report merge', () => {
  const cfg = { cache: 'gha' as const, image: 'ghcr.io/o/r', cacheFrom: [], cacheTo: [] };
  const gha = { ACTIONS_RUNTIME_TOKEN: 't', ACTIONS_RESULTS_URL: 'https://results' };

  it('uses gha only with a token, a URL and a driver that exports cache', () => {
    expect(cacheFor(cfg, 'docker-container', gha).for('linux/arm64')).toEqual({
      cacheFrom: ['type=gha,scope=build-scan-push-ghcr.io/o/r-linux/arm64'],
      cacheTo: ['type=gha,mode=max,scope=build-scan-push-ghcr.io/o/r-linux/arm64'],
    });
    expect(cacheFor(cfg, 'docker-container', { ACTIONS_RUNTIME_TOKEN: 't' }).note).toMatch(/not available/);
    expect(cacheFor(cfg, 'docker', gha).note).toMatch(/`docker` buildx driver cannot export/);
    expect(cacheFor(cfg, 'docker', gha).for()).toEqual({ cacheFrom: [], cacheTo: [] });
    const custom = { ...cfg, cache: 'custom' as const, cacheFrom: ['type=local,src=/c'] };
    expect(cacheFor(custom, 'docker', {}).for('linux/amd64').cacheFrom).toEqual(['type=local,src=/c']);
  });

  it('suffixes each target with its platform when several are merged', () => {
    expect(mergeReports([fixture], [undefined])).toBe(fixture);
    const merged = mergeReports([fixture, fixture], ['linux/amd64', 'linux/arm64']);
    expect(merged.Results!.map((r) => r.Target)).toEqual([
      'testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2) (linux/amd64)',
      'testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2) (linux/arm64)',
    ]);
    expect(countBySeverity(extractFindings(merged)).MEDIUM).toBe(8);
  });
});
