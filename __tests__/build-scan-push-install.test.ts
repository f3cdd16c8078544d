/**
 * Trivy's install through @actions/tool-cache, against a local HTTP server laid out like a GitHub
 * release (MLOPS_TRIVY_DOWNLOAD_BASE): a real tar.gz holding a `trivy` executable, and the
 * release's checksums file. The checksum is verified, the install is cached, and tampering fails.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAction } from './helpers/run-action.js';
import { FAKE_TOOLS_DIR, fakeEnv, trivyWrapper, type FakeEnv } from './helpers/fake-tools/index.js';

let server: Server;
let base: string;
const files = new Map<string, Buffer>();
const requests: string[] = [];
let work: string;

function tarball(version: string): Buffer {
  const dir = join(work, `src-${version}-${files.size}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'trivy'), trivyWrapper());
  chmodSync(join(dir, 'trivy'), 0o755);
  for (const extra of ['LICENSE', 'README.md'])
    writeFileSync(join(dir, extra), `${extra} of trivy ${version}\n`);
  const out = join(work, `trivy_${version}.tar.gz`);
  execFileSync('tar', ['-czf', out, '-C', dir, 'trivy', 'LICENSE', 'README.md']);
  return readFileSync(out);
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Publishes a "release": the archive plus a goreleaser-style checksums file listing several assets. */
function publish(
  version: string,
  { checksum }: { checksum?: string } = {},
): { archive: Buffer; sum: string } {
  const archive = tarball(version);
  const sum = checksum ?? sha256(archive);
  files.set(`/v${version}/trivy_${version}_Linux-64bit.tar.gz`, archive);
  files.set(
    `/v${version}/trivy_${version}_checksums.txt`,
    Buffer.from(
      [
        `${sha256(Buffer.from('arm64'))}  trivy_${version}_Linux-ARM64.tar.gz`,
        `${sum}  trivy_${version}_Linux-64bit.tar.gz`,
        `${sha256(Buffer.from('deb'))}  trivy_${version}_Linux-64bit.deb`,
        '',
      ].join('\n'),
    ),
  );
  return { archive, sum };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bsp-release-'));
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
      .end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(work, { recursive: true, force: true });
});

let envs: FakeEnv[] = [];
afterEach(() => {
  for (const e of envs) e.cleanup();
  envs = [];
  requests.length = 0;
});

function setup(): FakeEnv {
  // No trivy on PATH either: an installed one of the pinned version would be used instead.
  const f = fakeEnv({ seedTrivy: false, trivyOnPath: false });
  envs.push(f);
  return f;
}

const run = (f: FakeEnv, version: string, toolCache = f.toolCache) =>
  runAction('build-scan-push', {
    inputs: { 'trivy-version': version },
    env: {
      ...f.env,
      MLOPS_TRIVY_DOWNLOAD_BASE: base,
      RUNNER_TOOL_CACHE: toolCache,
      FAKE_TRIVY_VERSION: version,
    },
    cwd: f.workspace,
  });

describe('build-scan-push: installing Trivy with the tool cache', () => {
  it('downloads, verifies against the checksums file, caches, and reuses the cache on the next run', async () => {
    const { sum } = publish('0.99.1');
    const f = setup();
    const first = await run(f, '0.99.1');
    expect(first.errors).toEqual([]);
    expect(first.code).toBe(0);
    expect(requests.sort()).toEqual([
      '/v0.99.1/trivy_0.99.1_Linux-64bit.tar.gz',
      '/v0.99.1/trivy_0.99.1_checksums.txt',
    ]);
    expect(first.stdout).toContain(`sha256 ${sum}`);
    // Not a pinned version: said plainly, not silently trusted.
    expect(first.warnings.join()).toMatch(/No digest is pinned in this action for Trivy 0\.99\.1/);
    const installed = join(f.toolCache, 'trivy', '0.99.1', 'x64');
    expect(existsSync(join(installed, 'trivy'))).toBe(true);
    expect(existsSync(`${installed}.complete`)).toBe(true);
    // The scan ran the installed copy.
    const scan = f.calls().find((c) => c.tool === 'trivy' && c.argv[0] === 'image')!;
    expect(scan.via).toBe(join(installed, 'trivy'));

    requests.length = 0;
    const second = await run(f, '0.99.1');
    expect(second.code).toBe(0);
    expect(requests).toEqual([]);
    expect(second.stdout).toContain(`Trivy 0.99.1 from the tool cache: ${installed}`);

    // A cache entry whose binary is not that version (stale, swapped) is refused before building.
    const buildsBefore = f.calls().filter((c) => c.argv[1] === 'build').length;
    const swapped = await runAction('build-scan-push', {
      inputs: { 'trivy-version': '0.99.1' },
      env: { ...f.env, MLOPS_TRIVY_DOWNLOAD_BASE: base, FAKE_TRIVY_VERSION: '0.50.0' },
      cwd: f.workspace,
    });
    expect(swapped.code).toBe(1);
    expect(swapped.errors.join()).toMatch(
      /does not run as Trivy 0\.99\.1: `trivy --version` reports 0\.50\.0/,
    );
    expect(f.calls().filter((c) => c.argv[1] === 'build')).toHaveLength(buildsBefore);
  });

  it('fails clearly on a checksum mismatch and installs and builds nothing', async () => {
    publish('0.99.2', { checksum: 'f'.repeat(64) });
    const f = setup();
    const res = await run(f, '0.99.2');
    expect(res.code).toBe(1);
    expect(res.errors.join()).toMatch(
      /^Checksum mismatch for trivy_0\.99\.2_Linux-64bit\.tar\.gz: downloaded [0-9a-f]{64}, expected f{64} \(from trivy_0\.99\.2_checksums\.txt\); not installing it$/,
    );
    expect(existsSync(join(f.toolCache, 'trivy', '0.99.2'))).toBe(false);
    expect(f.calls().filter((c) => c.argv[1] === 'build')).toEqual([]);
  });

  it('refuses a pinned version whose release (archive and checksums alike) no longer matches the pin', async () => {
    // What a hijacked release looks like: a consistent archive + checksums file, but different bytes.
    publish('0.75.0');
    const f = setup();
    const res = await run(f, '0.75.0');
    expect(res.code).toBe(1);
    expect(res.errors.join()).toMatch(
      /trivy_0\.75\.0_checksums\.txt says trivy_0\.75\.0_Linux-64bit\.tar\.gz is [0-9a-f]{64}, but this action pins c6e65abddb348e25f10549df887045629cf28cc72453cd1c63acb717316b3f3f/,
    );
    // It stopped at the checksums file: the tampered archive was never even downloaded.
    expect(requests).toEqual(['/v0.75.0/trivy_0.75.0_checksums.txt']);
  });

  it('a missing release is a clear download error; a compromised version is refused outright', async () => {
    const f = setup();
    const missing = await run(f, '0.98.0');
    expect(missing.code).toBe(1);
    expect(missing.errors.join()).toMatch(
      new RegExp(
        `^Downloading the Trivy checksums file from ${base}/v0\\.98\\.0/trivy_0\\.98\\.0_checksums\\.txt failed: .*404`,
      ),
    );

    requests.length = 0;
    const bad = await run(f, '0.69.4');
    expect(bad.code).toBe(1);
    expect(bad.errors.join()).toMatch(/Trivy 0\.69\.4 was published by an attacker .*GHSA-69fq-xp46-6x23/);
    expect(requests).toEqual([]);
  });

  it('uses a trivy already on PATH when it is the pinned version, and trivy-path as given', async () => {
    const f = fakeEnv({ seedTrivy: false });
    envs.push(f);
    const onPath = await run(f, '0.74.0');
    expect(onPath.errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(onPath.stdout).toContain(`Trivy 0.74.0 already installed: ${join(FAKE_TOOLS_DIR, 'trivy')}`);
    expect(existsSync(join(f.toolCache, 'trivy'))).toBe(false);

    // A trivy of another version on PATH is not the pinned one: the pinned one is installed.
    publish('0.99.3');
    const other = await runAction('build-scan-push', {
      inputs: { 'trivy-version': '0.99.3' },
      env: {
        ...f.env,
        MLOPS_TRIVY_DOWNLOAD_BASE: base,
        FAKE_TRIVY_VERSION: '0.99.3',
        FAKE_TRIVY_PATH_VERSION: '0.60.0',
      },
      cwd: f.workspace,
    });
    expect(other.errors).toEqual([]);
    expect(other.stdout).toContain(
      `${join(FAKE_TOOLS_DIR, 'trivy')} is Trivy 0.60.0, not 0.99.3: installing 0.99.3`,
    );
    expect(requests).toContain('/v0.99.3/trivy_0.99.3_Linux-64bit.tar.gz');

    // trivy-path: that binary, whatever its version; nothing downloaded, the summary names its version.
    requests.length = 0;
    const own = join(f.workspace, 'tools', 'trivy');
    mkdirSync(join(f.workspace, 'tools'));
    writeFileSync(own, trivyWrapper());
    chmodSync(own, 0o755);
    const given = await runAction('build-scan-push', {
      inputs: { 'trivy-path': 'tools/trivy' },
      env: { ...f.env, MLOPS_TRIVY_DOWNLOAD_BASE: base, FAKE_TRIVY_VERSION: '0.70.1' },
      cwd: f.workspace,
    });
    expect(given.errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(
      f
        .calls()
        .filter((c) => c.tool === 'trivy' && c.argv[0] === 'image')
        .at(-1)!.via,
    ).toBe(own);
    expect(given.summary).toContain('Scanned with Trivy 0.70.1.');

    const missing = await runAction('build-scan-push', {
      inputs: { 'trivy-path': 'tools/nope' },
      env: f.env,
      cwd: f.workspace,
    });
    expect(missing.errors).toEqual(["Input 'trivy-path': expected a file that exists, got 'tools/nope'."]);
  });

  it('rejects a version range: the version is pinned', async () => {
    const f = setup();
    const res = await run(f, '^0.75');
    expect(res.errors).toEqual([
      "Input 'trivy-version': expected an exact version such as 0.74.0 (no ranges: it is pinned), got '^0.75'.",
    ]);
  });
});
