/**
 * Sets up a run of build-scan-push against the fake `docker` and `trivy` in this folder: a
 * workspace with a Dockerfile, a PATH with the fakes first, a tool cache that already holds
 * "trivy" (as a previous run would have left it), and the log of every invocation.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from '../run-action.js';

export const FAKE_TOOLS_DIR = resolve(ROOT, '__tests__', 'helpers', 'fake-tools');
/** In ../shared beside the checkout; from a git worktree (wt/<name>), one level further up. */
export const TRIVY_FIXTURE =
  [resolve(ROOT, '..'), resolve(ROOT, '..', '..')]
    .map((d) => join(d, 'shared', 'fixtures', 'trivy', 'alpine-310.json'))
    .find((f) => existsSync(f)) ?? resolve(ROOT, '..', 'shared', 'fixtures', 'trivy', 'alpine-310.json');

export interface Call {
  tool: 'docker' | 'trivy';
  argv: string[];
  stdin?: string;
  via?: string;
  /** SOURCE_DATE_EPOCH as the fake docker saw it. */
  epoch?: string;
  /** TRIVY_SKIP_VERSION_CHECK / TRIVY_DISABLE_TELEMETRY as the fake trivy saw them. */
  offline?: { skipVersionCheck?: string; disableTelemetry?: string };
  cwd: string;
}

/** A `trivy` that runs the fake, marking which copy ran (FAKE_TRIVY_VIA). */
export function trivyWrapper(): string {
  return `#!/bin/sh\nFAKE_TRIVY_VIA="$0" exec node "${join(FAKE_TOOLS_DIR, 'trivy')}" "$@"\n`;
}

/** Puts "trivy" into a tool cache the way @actions/tool-cache lays it out. */
export function seedToolCache(toolCache: string, version: string): string {
  const dir = join(toolCache, 'trivy', version, 'x64');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'trivy'), trivyWrapper());
  chmodSync(join(dir, 'trivy'), 0o755);
  writeFileSync(`${dir}.complete`, '');
  return dir;
}

export interface FakeEnv {
  dir: string;
  workspace: string;
  toolCache: string;
  log: string;
  env: Record<string, string>;
  calls(): Call[];
  cleanup(): void;
}

export const DOCKERFILE = `FROM python:3.12.8-slim-bookworm\nUSER 10001\nCMD ["python", "-c", "print(1)"]\n`;

/** `trivyOnPath: false`: only the fake docker on PATH, so no installed trivy is found there. */
export function fakeEnv({
  seedTrivy = '0.74.0',
  trivyOnPath = true,
}: { seedTrivy?: string | false; trivyOnPath?: boolean } = {}): FakeEnv {
  const dir = mkdtempSync(join(tmpdir(), 'bsp-'));
  const workspace = join(dir, 'ws');
  const toolCache = join(dir, 'tool-cache');
  mkdirSync(workspace, { recursive: true });
  mkdirSync(join(dir, 'runner-temp'), { recursive: true });
  writeFileSync(join(workspace, 'Dockerfile'), DOCKERFILE);
  if (seedTrivy) seedToolCache(toolCache, seedTrivy);
  const dockerOnly = join(dir, 'docker-only');
  mkdirSync(dockerOnly);
  symlinkSync(join(FAKE_TOOLS_DIR, 'docker'), join(dockerOnly, 'docker'));
  const log = join(dir, 'calls.jsonl');
  return {
    dir,
    workspace,
    toolCache,
    log,
    env: {
      PATH: `${trivyOnPath ? FAKE_TOOLS_DIR : dockerOnly}:${process.env.PATH}`,
      FAKE_TOOLS_LOG: log,
      GITHUB_WORKSPACE: workspace,
      RUNNER_TOOL_CACHE: toolCache,
      RUNNER_TEMP: join(dir, 'runner-temp'),
      GITHUB_TOKEN: 'ghs_fakeWorkflowToken0123456789',
      // The runner's trivy DB cache lives under HOME; keep it inside the test directory.
      TRIVY_CACHE_DIR: join(dir, 'trivy-cache'),
    },
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Call)
        : [],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The value after `name` in an argument list. */
export function argOf(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
}

export function allArgsOf(argv: string[], name: string): string[] {
  return argv.flatMap((a, i) => (a === name ? [argv[i + 1]!] : []));
}
