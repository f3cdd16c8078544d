/**
 * Starting and stopping the fake GitHub and fake Gemini, one way for every test file. The stop is
 * where the fake GitHub reports any response that broke GitHub's OpenAPI description (it rejects),
 * so every path here awaits it: per test in withGitHub, per file through stopFakes in afterAll or
 * afterEach, whose rejection fails the file or the test.
 */
import { beforeAll } from '@jest/globals';
import { FakeGemini, FAKE_GEMINI_KEY } from './fake-gemini.js';
import { addedPatch, pullFile, seedPull } from './fake-github/reviews.js';
import { FakeGitHub, type FakeGitHubOptions } from './fake-github/server.js';
import type { Pull } from './fake-github/state.js';
import { freePort } from './net.js';
import { runAction, type RunResult } from './run-action.js';

/** The fake's options and the handler sets (reviews, commits, pulls…) to register on it. */
export type GitHubSetup = FakeGitHubOptions & { handlers?: ((gh: FakeGitHub) => unknown)[] };

/** A fake GitHub as `setup` says, started on `port` (any free one by default). */
export async function startGitHub({ handlers = [], ...options }: GitHubSetup, port = 0): Promise<FakeGitHub> {
  const gh = new FakeGitHub(options);
  for (const register of handlers) register(gh);
  await gh.start(port);
  return gh;
}

/** A fake Gemini, started on any free port. */
export async function startGemini(): Promise<FakeGemini> {
  const gemini = new FakeGemini();
  await gemini.start();
  return gemini;
}

/**
 * Stops every fake (those a failed beforeAll never made are skipped), all of them even when one
 * fails, then throws the first failure: the fake GitHub's violations, in afterAll/afterEach.
 */
export async function stopFakes(...fakes: ({ stop(): Promise<unknown> } | undefined)[]): Promise<void> {
  const stopped = await Promise.allSettled(fakes.map((f) => f?.stop()));
  const failed = stopped.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Runs `body` against a fake GitHub of its own (on `port`, else any free port), stopped at the
 * end: the stop fails the test if any response broke GitHub's OpenAPI description.
 */
export async function withGitHub<T>(
  setup: GitHubSetup,
  body: (gh: FakeGitHub) => Promise<T>,
  port = 0,
): Promise<T> {
  const gh = await startGitHub(setup, port);
  let result: T;
  try {
    result = await body(gh);
  } catch (err) {
    await gh.stop().catch(() => undefined); // the test's own failure is the one to report
    throw err;
  }
  await gh.stop();
  return result;
}

/** withGitHub and a fake Gemini of its own, stopped at the end. */
export function withGitHubAndGemini<T>(
  setup: GitHubSetup,
  body: (gh: FakeGitHub, gemini: FakeGemini) => Promise<T>,
): Promise<T> {
  return withGitHub(setup, async (gh) => {
    const gemini = await startGemini();
    try {
      return await body(gh, gemini);
    } finally {
      await gemini.stop();
    }
  });
}

export interface InProcessOctokit {
  createOctokit: typeof import('../../actions/shared/github.js').createOctokit;
  onImportedPort: <T>(body: (gh: FakeGitHub) => Promise<T>) => Promise<T>;
}

/**
 * createOctokit in this process. @actions/github reads GITHUB_API_URL when it is imported, so a
 * beforeAll registered here imports it once, pointed at a free port; `onImportedPort` runs each
 * body against a fake of its own on that port, one test at a time (the bundles are child
 * processes, each given its own fake's URL). Call it at the top of a test file.
 */
export function inProcessOctokit(setup: GitHubSetup): InProcessOctokit {
  let imported: InProcessOctokit | undefined;
  beforeAll(async () => {
    const port = await freePort();
    process.env.GITHUB_API_URL = `http://127.0.0.1:${port}`;
    const { createOctokit } = await import('../../actions/shared/github.js');
    let turns: Promise<unknown> = Promise.resolve();
    const onImportedPort = <T>(body: (gh: FakeGitHub) => Promise<T>): Promise<T> => {
      const turn = turns.then(() => withGitHub(setup, body, port));
      turns = turn.catch(() => undefined);
      return turn;
    };
    imported = { createOctokit, onImportedPort };
  });
  const ready = (): InProcessOctokit => {
    if (!imported) throw new Error('inProcessOctokit: used outside a test (before its beforeAll ran)');
    return imported;
  };
  return {
    createOctokit: (...args) => ready().createOctokit(...args),
    onImportedPort: (body) => ready().onImportedPort(body),
  };
}

/**
 * A pull request adding a train.py that prints the environment, and the Gemini review of it that
 * ai-review will get: one high secrets finding on line 2.
 */
export function seedEnvironmentPull(
  gh: FakeGitHub,
  gemini: FakeGemini,
  spec: { headSha: string; owner?: string; repo?: string },
): Pull {
  const pr = seedPull(gh, {
    ...spec,
    files: [pullFile('train.py', addedPatch('import os\nprint(os.environ)\n'), 'added')],
  });
  gemini.script({
    json: {
      summary: 'Prints the environment.',
      findings: [
        {
          path: 'train.py',
          line: 2,
          severity: 'high',
          category: 'secrets',
          title: 'Environment printed',
          body: 'It may hold secrets.',
        },
      ],
    },
  });
  return pr;
}

/** The bundled ai-review on `pr`'s pull_request event (`action`), against these fakes. */
export function reviewPull(
  gh: FakeGitHub,
  gemini: FakeGemini,
  pr: Pull,
  {
    action = 'synchronize',
    env = {},
    timeoutMs = 90_000,
  }: { action?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  return runAction('ai-review', {
    inputs: { 'gemini-api-key': FAKE_GEMINI_KEY, 'request-timeout': '20s' },
    env: { ...gh.env(), ...gemini.env(), ...env },
    eventName: 'pull_request',
    event: {
      action,
      number: pr.number,
      pull_request: {
        number: pr.number,
        draft: false,
        head: { sha: pr.head.sha, repo: pr.head.repo },
        base: { sha: pr.base.sha, repo: pr.base.repo },
      },
    },
    timeoutMs,
  });
}
