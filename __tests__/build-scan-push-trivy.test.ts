/**
 * build-scan-push against the real Trivy (0.74.0, built by scripts/setup into .tools/bin): a real
 * image built by buildah (playing buildx, fake-tools/buildah/docker) FROM scratch with a Debian 12
 * dpkg status listing old packages and a planted AWS access key, exported as the action exports it
 * (an OCI layout directory) and scanned by the bundle with its own flags. The vulnerability DB is
 * a small real one (helpers/trivy-db.ts) served from a loopback registry via TRIVY_DB_REPOSITORY,
 * as a user with a mirror would. The fixture DB marks, for bookworm:
 *   CVE-2099-1001 openssl (libssl3)  MEDIUM, fixed in 3.0.13-1
 *   CVE-2099-1002 tar                HIGH,   no fix
 *   CVE-2099-1003 zlib (zlib1g)      LOW,    fixed in 1:1.3.dfsg-1
 * and Trivy's secret scanner finds the key (aws-access-key-id, CRITICAL). Some tests add what the
 * serving image holds (issue 9): the registered model in /app/model and its Python dependencies
 * installed in site-packages, with a GitHub advisory in the DB for one of them:
 *   CVE-2099-2001 joblib (pip)       HIGH,   fixed in 1.3.0 (GHSA-2099-mlop-0001)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from './helpers/net.js';
import { ROOT, runAction, type RunOptions } from './helpers/run-action.js';
import { FAKE_TOOLS_DIR, fakeEnv, type FakeEnv } from './helpers/fake-tools/index.js';
import { buildTrivyDb, packTrivyDb, pushTrivyDb, realTrivyAvailable, TRIVY_BIN } from './helpers/trivy-db.js';

const available =
  realTrivyAvailable() &&
  spawnSync('buildah', ['--version']).status === 0 &&
  existsSync('/usr/bin/docker-registry');
if (!available)
  console.warn('real trivy/trivy-db, buildah or docker-registry missing (scripts/setup): skipping');

// Assembled here, never committed whole: a key-shaped string in the repository trips scanners.
const AWS_KEY = ['AKIA', 'Q3EGRBMW', '5NZ7XK4T'].join('');

// A token that ended up in the model's metadata, as a logged param can put it there.
const GH_TOKEN = ['ghp_', 'a1B2c3D4e5F6g7H8', 'i9J0k1L2m3N4o5P6q7R8'].join('');
const SITE = 'rootfs/usr/local/lib/python3.11/site-packages';
/** What the serving image adds: the model MLflow downloaded, and pip's installed packages. */
const MODEL_IMAGE: Record<string, string> = {
  [`${SITE}/joblib-1.2.0.dist-info/METADATA`]: 'Metadata-Version: 2.1\nName: joblib\nVersion: 1.2.0\n',
  [`${SITE}/scikit_learn-1.5.0.dist-info/METADATA`]:
    'Metadata-Version: 2.1\nName: scikit-learn\nVersion: 1.5.0\n',
  'rootfs/app/model/MLmodel': [
    'artifact_path: model',
    'flavors:',
    '  sklearn:',
    '    pickled_model: model.pkl',
    '    serialization_format: cloudpickle',
    '    sklearn_version: 1.5.0',
    'metadata:',
    `  github_token: ${GH_TOKEN}`,
    'model_uuid: 6f1c2d3e4f5a4b6c8d9e0f1a2b3c4d5e',
    '',
  ].join('\n'),
  'rootfs/app/model/requirements.txt': 'mlflow==2.14.0\nscikit-learn==1.5.0\njoblib==1.2.0\n',
  'rootfs/app/model/model.pkl': 'not a real pickle: Trivy reads no model weights\n',
};

const DPKG_STATUS = [
  ['base-files', '', '12.4+deb12u5'],
  ['libssl3', 'openssl', '3.0.11-1~deb12u1'],
  ['tar', '', '1.34+dfsg-1.2+deb12u1'],
  ['zlib1g', 'zlib', '1:1.2.13.dfsg-1'],
]
  .map(([pkg, src, ver]) =>
    [
      `Package: ${pkg}`,
      'Status: install ok installed',
      'Priority: required',
      'Architecture: amd64',
      ...(src ? [`Source: ${src}`] : []),
      `Version: ${ver}`,
      'Description: test fixture',
      '',
    ].join('\n'),
  )
  .join('\n');

let registry: ChildProcess;
let host: string;
let work: string;

beforeAll(async () => {
  if (!available) return;
  work = mkdtempSync(join(tmpdir(), 'bsp-trivy-'));
  const port = await freePort();
  host = `localhost:${port}`;
  writeFileSync(
    join(work, 'config.yml'),
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  registry = spawn('/usr/bin/docker-registry', ['serve', join(work, 'config.yml')], { stdio: 'ignore' });
  await waitForHttp(`http://127.0.0.1:${port}/v2/`, 20_000);
  const db = buildTrivyDb(join(work, 'db'));
  await pushTrivyDb(`http://127.0.0.1:${port}`, 'mirror/trivy-db', packTrivyDb(db, work));
}, 120_000);

afterAll(() => {
  registry?.kill();
  if (work) rmSync(work, { recursive: true, force: true });
});

function setup(
  files: Record<string, string> = {},
  image: Record<string, string> = {},
): FakeEnv & { env: Record<string, string> } {
  const f = fakeEnv({ seedTrivy: false, trivyOnPath: false });
  const ctx = join(f.workspace, 'image');
  const put = (path: string, text: string) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  };
  put(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\n');
  put(
    join(ctx, 'rootfs/etc/os-release'),
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
  );
  put(join(ctx, 'rootfs/etc/debian_version'), '12.5\n');
  put(join(ctx, 'rootfs/var/lib/dpkg/status'), DPKG_STATUS);
  put(join(ctx, 'rootfs/app/deploy.env'), `REGION=eu-west-1\nAWS_ACCESS_KEY_ID=${AWS_KEY}\n`);
  for (const [path, text] of Object.entries(image)) put(join(ctx, path), text);
  for (const [path, text] of Object.entries(files)) put(join(f.workspace, path), text);
  return {
    ...f,
    env: {
      ...f.env,
      // The real trivy is found on PATH (it reports the pinned 0.74.0), after buildah playing buildx.
      PATH: `${join(FAKE_TOOLS_DIR, 'buildah')}:${join(ROOT, '.tools', 'bin')}:${f.env.PATH}`,
      BUILDAH_SHIM_DIR: join(f.dir, 'buildah'),
      TRIVY_DB_REPOSITORY: `${host}/mirror/trivy-db`,
    },
  };
}

const envs: FakeEnv[] = [];
afterAll(() => envs.forEach((e) => e.cleanup()));

async function scan(
  inputs: RunOptions['inputs'] = {},
  files: Record<string, string> = {},
  image: Record<string, string> = {},
) {
  const f = setup(files, image);
  envs.push(f);
  const res = await runAction('build-scan-push', {
    inputs: { context: 'image', image: `${host}/octo-org/scanned`, push: 'false', ...inputs },
    env: f.env,
    cwd: f.workspace,
    timeoutMs: 180_000,
  });
  return {
    res,
    f,
    counts: res.outputs.vulnerabilities ? JSON.parse(res.outputs.vulnerabilities) : undefined,
  };
}

function sarifValidator() {
  // OASIS's schema (sarif-spec, sarif-2.1/schema) is draft-04; with `id` as `$id` it reads the same
  // under Ajv's draft-07 (it uses no draft-04-only keyword such as boolean exclusiveMinimum).
  const {
    id,
    $schema: _draft,
    ...schema
  } = JSON.parse(
    readFileSync(join(ROOT, '__tests__', 'fixtures', 'sarif', 'sarif-schema-2.1.0.json'), 'utf8'),
  ) as Record<string, unknown>;
  const ajv = new Ajv({ strict: false, allErrors: true });
  (addFormatsModule as unknown as (a: Ajv) => Ajv)(ajv);
  return ajv.compile({ ...schema, $id: id as string });
}

type Sarif = {
  version: string;
  runs: {
    tool: {
      driver: {
        name: string;
        version: string;
        rules?: { id: string; properties: Record<string, unknown> }[];
      };
    };
    results: { ruleId: string }[];
  }[];
};

(available ? describe : describe.skip)('build-scan-push with the real Trivy', () => {
  let jsonReport: string;
  let realSarif: Sarif;

  it('fails on the HIGH and the planted key; SARIF 2.1.0 holds every counted finding; stray workspace files change nothing', async () => {
    const { res, f, counts } = await scan(
      { format: 'json', output: 'reports/trivy.json' },
      {
        // Each would change the result if Trivy read it: only files the inputs name may count.
        'trivy.yaml': 'scan:\n  scanners:\n    - vuln\nseverity:\n  - LOW\n',
        '.trivyignore': 'CVE-2099-1002\naws-access-key-id\n',
        'trivy-secret.yaml': 'disable-rules:\n  - aws-access-key-id\n',
      },
    );
    expect(res.errors).toEqual([
      expect.stringMatching(
        /^Scan gate failed: 2 findings \(vulnerabilities and secrets\) at CRITICAL,HIGH in .*: aws-access-key-id \/app\/deploy\.env line 2, CVE-2099-1002 tar 1\.34\+dfsg-1\.2\+deb12u1; nothing was pushed\.$/,
      ),
    ]);
    expect(counts).toEqual({ CRITICAL: 1, HIGH: 1, MEDIUM: 1, LOW: 1, UNKNOWN: 0 });
    expect(res.outputs['scan-passed']).toBe('false');
    expect(res.summary).toMatch(
      /\| HIGH \| \[CVE-2099-1002\]\(https:\/\/[^)]+\) \| tar \| 1\.34\+dfsg-1\.2\+deb12u1 \| — \|/,
    );
    expect(res.summary).toMatch(
      /\| MEDIUM \| \[CVE-2099-1001\]\([^)]+\) \| libssl3 \| 3\.0\.11-1\\~deb12u1 \| 3\.0\.13-1 \|/,
    );
    expect(res.summary).toContain('Scanned with Trivy 0.74.0.');
    // The DB came from the mirror, not from ghcr.io.
    expect(existsSync(join(f.env.TRIVY_CACHE_DIR!, 'db', 'trivy.db'))).toBe(true);
    for (const text of [res.stdout, res.summary]) expect(text).not.toContain(AWS_KEY);

    const sarifText = readFileSync(res.outputs['sarif-file']!, 'utf8');
    realSarif = JSON.parse(sarifText) as Sarif;
    const validate = sarifValidator();
    expect(validate.errors ?? (validate(realSarif) ? [] : validate.errors)).toEqual([]);
    expect(realSarif.version).toBe('2.1.0');
    expect(realSarif.runs[0]!.tool.driver).toMatchObject({ name: 'Trivy', version: '0.74.0' });
    expect(realSarif.runs[0]!.results.map((r) => r.ruleId).sort()).toEqual([
      'CVE-2099-1001',
      'CVE-2099-1002',
      'CVE-2099-1003',
      'aws-access-key-id',
    ]);
    expect(sarifText).not.toContain(AWS_KEY);

    // format/output: the extra report is the JSON the gate read.
    jsonReport = readFileSync(join(f.workspace, 'reports', 'trivy.json'), 'utf8');
    const report = JSON.parse(jsonReport) as { Results: { Class: string }[] };
    expect(report.Results.map((r) => r.Class).sort()).toEqual(['os-pkgs', 'secret']);
  }, 200_000);

  it('scanners, ignore-unfixed and severity change the verdict', async () => {
    const vulnOnly = await scan({ scanners: 'vuln' });
    expect(vulnOnly.res.errors).toEqual([
      expect.stringMatching(/^Scan gate failed: 1 vulnerability at CRITICAL,HIGH.*CVE-2099-1002 tar/),
    ]);
    expect(vulnOnly.counts).toEqual({ CRITICAL: 0, HIGH: 1, MEDIUM: 1, LOW: 1, UNKNOWN: 0 });

    const unfixed = await scan({ scanners: 'vuln', 'ignore-unfixed': 'true' });
    expect(unfixed.res.errors).toEqual([]);
    expect(unfixed.res.code).toBe(0);
    expect(unfixed.counts).toEqual({ CRITICAL: 0, HIGH: 0, MEDIUM: 1, LOW: 1, UNKNOWN: 0 });

    const medium = await scan({ scanners: 'vuln', 'ignore-unfixed': 'true', severity: 'MEDIUM' });
    expect(medium.res.errors).toEqual([
      expect.stringMatching(
        /^Scan gate failed: 1 vulnerability at MEDIUM.*CVE-2099-1001 libssl3 3\.0\.11-1~deb12u1 \(fixed in 3\.0\.13-1\)/,
      ),
    ]);
  }, 400_000);

  it('trivyignores silences a CVE and a secret rule; an expiry Trivy cannot parse is a clear error', async () => {
    const ok = await scan(
      { trivyignores: 'security/accepted, security/secrets' },
      {
        'security/accepted': '# no fix upstream yet\nCVE-2099-1002 exp:2099-12-31\n',
        'security/secrets': 'aws-access-key-id\n',
      },
    );
    expect(ok.res.errors).toEqual([]);
    expect(ok.res.code).toBe(0);
    expect(ok.counts).toEqual({ CRITICAL: 0, HIGH: 0, MEDIUM: 1, LOW: 1, UNKNOWN: 0 });

    const bad = await scan(
      { trivyignores: 'security/accepted' },
      { 'security/accepted': 'CVE-2099-1002 exp:2099-31-12\n' },
    );
    expect(bad.res.errors).toEqual([
      "Input 'trivyignores': expected ignore files Trivy can read, got 'security/accepted:1: expiry 'exp:2099-31-12' is not a date Trivy can read; expected exp:YYYY-MM-DD (e.g. exp:2027-01-31)'.",
    ]);
    expect(bad.f.calls().filter((c) => c.argv[1] === 'build')).toEqual([]);
  }, 400_000);

  it('sees the model and its Python dependencies in the image: the pip package inventory, its advisory, a token in the model', async () => {
    const { res, f, counts } = await scan({ format: 'json', output: 'reports/trivy.json' }, {}, MODEL_IMAGE);
    // The message names the first three; the fourth, joblib's, is in the summary's table.
    expect(res.errors).toEqual([
      expect.stringMatching(
        /^Scan gate failed: 4 findings \(vulnerabilities and secrets\) at CRITICAL,HIGH in .*: aws-access-key-id \/app\/deploy\.env line 2, github-pat \/app\/model\/MLmodel line 8, CVE-2099-1002 tar 1\.34\+dfsg-1\.2\+deb12u1, \.\.\.; nothing was pushed\.$/,
      ),
    ]);
    expect(counts).toEqual({ CRITICAL: 2, HIGH: 2, MEDIUM: 1, LOW: 1, UNKNOWN: 0 });
    expect(res.summary).toMatch(/\| HIGH \| \[CVE-2099-2001\]\([^)]+\) \| joblib \| 1\.2\.0 \| 1\.3\.0 \|/);
    for (const text of [res.stdout, res.summary]) expect(text).not.toContain(GH_TOKEN);

    type Result = {
      Target: string;
      Class: string;
      Type?: string;
      Packages?: { Name: string; Version: string; FilePath?: string }[];
      Vulnerabilities?: { VulnerabilityID: string; PkgPath?: string }[];
      Secrets?: { RuleID: string; StartLine: number }[];
    };
    const report = JSON.parse(readFileSync(join(f.workspace, 'reports', 'trivy.json'), 'utf8')) as {
      Results: Result[];
    };
    // python-pkg reads the dist-info pip wrote; the model's requirements.txt is not an inventory
    // Trivy reads in an image (a lock file, not what is installed).
    const python = report.Results.filter((r) => r.Type === 'python-pkg');
    expect(python.map((r) => [r.Target, r.Class])).toEqual([['Python', 'lang-pkgs']]);
    expect(python[0]!.Packages!.map((p) => [p.Name, p.Version, p.FilePath]).sort()).toEqual([
      ['joblib', '1.2.0', 'usr/local/lib/python3.11/site-packages/joblib-1.2.0.dist-info/METADATA'],
      [
        'scikit-learn',
        '1.5.0',
        'usr/local/lib/python3.11/site-packages/scikit_learn-1.5.0.dist-info/METADATA',
      ],
    ]);
    expect(python[0]!.Vulnerabilities!.map((v) => v.VulnerabilityID)).toEqual(['CVE-2099-2001']);
    const secrets = report.Results.filter((r) => r.Class === 'secret');
    expect(secrets.map((r) => [r.Target, r.Secrets!.map((s) => [s.RuleID, s.StartLine])]).sort()).toEqual([
      ['/app/deploy.env', [['aws-access-key-id', 2]]],
      ['/app/model/MLmodel', [['github-pat', 8]]],
    ]);

    const sarifText = readFileSync(res.outputs['sarif-file']!, 'utf8');
    const sarif = JSON.parse(sarifText) as Sarif;
    expect(sarif.runs[0]!.results.map((r) => r.ruleId).sort()).toEqual([
      'CVE-2099-1001',
      'CVE-2099-1002',
      'CVE-2099-1003',
      'CVE-2099-2001',
      'aws-access-key-id',
      'github-pat',
    ]);
    expect(sarifText).not.toContain(GH_TOKEN);
  }, 200_000);

  it('trivy-config: its severity and skip-files reach the scan, so the gate and the SARIF see only what is left', async () => {
    const { res, counts } = await scan(
      { 'trivy-config': 'security/trivy.yaml' },
      {
        'security/trivy.yaml': [
          'severity:',
          '  - HIGH',
          '  - CRITICAL',
          'scan:',
          '  skip-files:',
          '    - /app/deploy.env',
          '',
        ].join('\n'),
      },
    );
    expect(res.errors).toEqual([
      expect.stringMatching(
        /^Scan gate failed: 1 vulnerability at CRITICAL,HIGH in .*: CVE-2099-1002 tar 1\.34\+dfsg-1\.2\+deb12u1; nothing was pushed\.$/,
      ),
    ]);
    // MEDIUM and LOW were never reported: Trivy filtered them, not the gate.
    expect(counts).toEqual({ CRITICAL: 0, HIGH: 1, MEDIUM: 0, LOW: 0, UNKNOWN: 0 });
    const sarif = JSON.parse(readFileSync(res.outputs['sarif-file']!, 'utf8')) as Sarif;
    expect(sarif.runs[0]!.results.map((r) => r.ruleId)).toEqual(['CVE-2099-1002']);

    const missing = await scan({ 'trivy-config': 'security/absent.yaml' });
    expect(missing.res.errors).toEqual([
      expect.stringMatching(/^Input 'trivy-config': .*security\/absent\.yaml/),
    ]);
    expect(missing.f.calls().filter((c) => c.argv[1] === 'build')).toEqual([]);
  }, 400_000);

  it('timeout reaches Trivy: one it cannot meet fails the step with its message; one Go cannot parse names the input', async () => {
    const short = await scan({ timeout: '1ms' });
    expect(short.res.code).not.toBe(0);
    expect(short.res.errors).toEqual([
      expect.stringMatching(/^Trivy scan failed \(exit 1\): [\s\S]*context deadline exceeded/),
    ]);
    // Trivy's own hint, kept in the message: it bounds the whole run, the DB download included.
    expect(short.res.errors[0]).toContain('Provide a higher timeout value');
    expect(short.res.outputs['scan-passed']).toBeUndefined();

    const bad = await scan({ timeout: '10' });
    expect(bad.res.errors).toEqual([
      "Input 'timeout': expected a duration such as 10m, 90s or 1h30m, got '10'.",
    ]);
    expect(bad.f.calls().filter((c) => c.argv[1] === 'build')).toEqual([]);
  }, 400_000);

  it("the fake trivy's report and SARIF have the real one's shape", () => {
    expect(jsonReport).toBeDefined();
    const real = JSON.parse(jsonReport) as Record<string, unknown>;
    const realShape = reportShape(real);
    // What the fake `trivy image` writes when the action scans an OCI layout directory with it.
    const fakeDir = mkdtempSync(join(tmpdir(), 'bsp-fake-report-'));
    let fakeShape: Map<string, string>;
    try {
      const out = join(fakeDir, 'report.json');
      const args = ['image', '--format', 'json', '--output', out, '--input', fakeDir];
      execFileSync(join(FAKE_TOOLS_DIR, 'trivy'), args);
      fakeShape = reportShape(JSON.parse(readFileSync(out, 'utf8')));
    } finally {
      rmSync(fakeDir, { recursive: true, force: true });
    }
    // Every field the fake writes, the real one writes, with the same type. Trivy leaves out
    // Metadata.OS.EOSL (omitempty) but for an end-of-life OS, which the fake's alpine 3.10 is.
    const SOMETIMES = ['Metadata.OS.EOSL'];
    expect([...fakeShape].filter(([p, type]) => realShape.get(p) !== type && !SOMETIMES.includes(p))).toEqual(
      [],
    );
    // Every field the action reads (gate.ts, TrivyReport), the real one writes and the fake too,
    // with the same type. The fake's recorded image holds no secret, so the secrets' fields are
    // checked on the real report alone.
    const READ = [
      'SchemaVersion',
      'ArtifactName',
      'Results[].Target',
      'Results[].Class',
      'Results[].Type',
      'Results[].Vulnerabilities[].VulnerabilityID',
      'Results[].Vulnerabilities[].PkgName',
      'Results[].Vulnerabilities[].InstalledVersion',
      'Results[].Vulnerabilities[].FixedVersion',
      'Results[].Vulnerabilities[].Severity',
      'Results[].Vulnerabilities[].Status',
      'Results[].Vulnerabilities[].PrimaryURL',
      'Results[].Vulnerabilities[].Title',
      'Results[].Vulnerabilities[].CVSS.*.V3Score',
      'Results[].Vulnerabilities[].CVSS.*.V2Score',
    ];
    const SECRETS_READ = ['RuleID', 'Category', 'Severity', 'Title', 'StartLine'].map(
      (k) => `Results[].Secrets[].${k}`,
    );
    for (const p of READ)
      expect([p, fakeShape.get(p)]).toEqual([p, realShape.get(p) ?? 'not in the real report']);
    for (const p of SECRETS_READ) expect([p, realShape.has(p)]).toEqual([p, true]);

    // The fake's SARIF writer, run on the real report, writes what the real `trivy convert` writes.
    const { fake: fakeSarif, real: realVuln } = convertWithBoth(jsonReport);
    // The fake converts vulnerabilities only: compare on those.
    const vulns = (s: Sarif) => ({
      ...s,
      runs: s.runs.map((r) => ({ ...r, results: r.results.filter((x) => x.ruleId.startsWith('CVE-')) })),
    });
    expect([...shape(vulns(fakeSarif))].sort()).toEqual(
      [...shape(vulns(realVuln))]
        .filter(([p]) => [...shape(vulns(fakeSarif)).keys()].includes(p) || !p.includes('rules[]'))
        .sort(),
    );
    // And the values Trivy computes rather than copies: security-severity (CVE-2099-1001 has NVD's
    // CVSS 5.3, but its severity is Debian's, so Trivy scores it 5.5) and the CVSS properties.
    expect(ruleProperties(fakeSarif)).toEqual(ruleProperties(realVuln));
    expect(Object.keys(ruleProperties(realVuln)).sort()).toEqual([
      'CVE-2099-1001',
      'CVE-2099-1002',
      'CVE-2099-1003',
    ]);
  });

  it("the fake trivy's SARIF scores each rule as the real one: the severity source's CVSS v3, else a score per severity", () => {
    // Findings the fixture DB has no example of, through both `trivy convert`s: a severity from
    // NVD with NVD's CVSS (v2, v3 and v4.0), a vendor's severity beside NVD's CVSS, only a v2
    // score, no CVSS, UNKNOWN, and one ID on two packages (its rule shows the last).
    const vuln = (id: string, pkg: string, severity: string, more: Record<string, unknown> = {}) => ({
      VulnerabilityID: id,
      PkgName: pkg,
      InstalledVersion: '1.0-1',
      Severity: severity,
      ...more,
    });
    const report = {
      SchemaVersion: 2,
      ArtifactName: 'scored',
      ArtifactType: 'container_image',
      Results: [
        {
          Target: 'scored (debian 12.5)',
          Class: 'os-pkgs',
          Type: 'debian',
          Vulnerabilities: [
            vuln('CVE-2099-0001', 'a', 'MEDIUM', {
              SeveritySource: 'debian',
              CVSS: { nvd: { V3Vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', V3Score: 9.8 } },
            }),
            vuln('CVE-2099-0002', 'b', 'HIGH', {
              SeveritySource: 'nvd',
              CVSS: {
                nvd: {
                  V2Vector: 'AV:N/AC:L/Au:N/C:P/I:N/A:N',
                  V2Score: 5,
                  V3Vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H',
                  V3Score: 8.8,
                  V40Vector: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N',
                  V40Score: 8.6,
                },
                redhat: { V3Score: 9.1 },
              },
            }),
            vuln('CVE-2099-0003', 'c', 'CRITICAL'),
            vuln('CVE-2099-0004', 'd', 'UNKNOWN'),
            vuln('CVE-2099-0005', 'e', 'LOW', { SeveritySource: 'nvd', CVSS: { nvd: { V2Score: 2.1 } } }),
            vuln('CVE-2099-0003', 'f', 'LOW'),
          ],
        },
      ],
    };
    const { fake, real } = convertWithBoth(JSON.stringify(report));
    expect(ruleProperties(fake)).toEqual(ruleProperties(real));
    const score = (s: Sarif) =>
      Object.fromEntries(Object.entries(ruleProperties(s)).map(([id, p]) => [id, p['security-severity']]));
    // What the real one wrote, so that the comparison above cannot pass on two empty runs.
    expect(score(real)).toEqual({
      'CVE-2099-0001': '5.5',
      'CVE-2099-0002': '8.8',
      'CVE-2099-0003': '2.0',
      'CVE-2099-0004': '0.0',
      'CVE-2099-0005': '2.0',
    });
  });
});

/** A Trivy JSON report through the fake's `trivy convert --format sarif` and the real one's. */
function convertWithBoth(reportJson: string): { fake: Sarif; real: Sarif } {
  const dir = mkdtempSync(join(tmpdir(), 'bsp-sarif-'));
  try {
    writeFileSync(join(dir, 'r.json'), reportJson);
    execFileSync(
      join(FAKE_TOOLS_DIR, 'trivy'),
      ['convert', '--format', 'sarif', '--output', join(dir, 'fake.sarif'), join(dir, 'r.json')],
      { env: { ...process.env, FAKE_TRIVY_VERSION: '0.74.0' } },
    );
    execFileSync(
      TRIVY_BIN,
      ['convert', '--format', 'sarif', '--output', join(dir, 'real.sarif'), join(dir, 'r.json')],
      {
        cwd: dir,
        env: { ...process.env, TRIVY_SKIP_VERSION_CHECK: 'true', TRIVY_DISABLE_TELEMETRY: 'true' },
      },
    );
    const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Sarif;
    return { fake: read('fake.sarif'), real: read('real.sarif') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The vulnerability rules' properties by rule ID (the secrets' rules are the real one's only). */
function ruleProperties(sarif: Sarif): Record<string, Record<string, unknown>> {
  const rules = sarif.runs[0]!.tool.driver.rules ?? [];
  return Object.fromEntries(rules.filter((r) => r.id.startsWith('CVE-')).map((r) => [r.id, r.properties]));
}

/**
 * A Trivy report's shape, without what is data rather than Trivy's format: the image's own config
 * (Metadata.ImageConfig, copied from the image) and the names of the data sources keying CVSS and
 * VendorSeverity (nvd, debian, redhat…), which are another DB's in the fake's recorded report.
 */
function reportShape(report: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, type] of shape(report)) {
    if (p.startsWith('Metadata.ImageConfig.')) continue;
    out.set(p.replace(/\.(CVSS|VendorSeverity)\.[^.]+/, '.$1.*'), type);
  }
  return out;
}

/** Every key path (arrays as []) with the JSON type found there. */
function shape(value: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    for (const v of value) shape(v, `${path}[]`, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) shape(v, path ? `${path}.${k}` : k, out);
  } else if (path) {
    out.set(path, value === null ? 'null' : typeof value);
  }
  return out;
}
