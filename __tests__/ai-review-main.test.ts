/**
 * ai-review's main(inputs, deps) called in-process, against the fake GitHub and the fake Gemini:
 * the logic without the runner. ai-review.test.ts runs the bundle end to end.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import * as github from '@actions/github';
import { getInputs, type Inputs } from '../actions/ai-review/inputs.js';
import { defaultDeps, main, type Deps } from '../actions/ai-review/review.js';
import { DEFAULT_MODEL } from '../actions/shared/gemini/defaults.js';
import type { GeminiOptions } from '../actions/shared/gemini/index.js';
import { FakeGemini, FAKE_GEMINI_KEY } from './helpers/fake-gemini.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { addedPatch, pullFile, registerReviewHandlers, seedPull } from './helpers/fake-github/reviews.js';

let gh: FakeGitHub;
let gemini: FakeGemini;
let shaSeq = 0;
const sha = (): string => (++shaSeq).toString(16).padStart(40, 'c');

beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  registerReviewHandlers(gh);
  gemini = new FakeGemini();
  await Promise.all([gh.start(), gemini.start()]);
});
beforeEach(() => gemini.reset());
afterAll(async () => {
  await Promise.all([gh.stop(), gemini.stop()]);
});

const TRAIN = 'import numpy as np\nX = StandardScaler().fit_transform(X)\nmodel.fit(X, y)';

const inputs = (over: Partial<Inputs> = {}): Inputs => ({
  token: 'ghs_test_token',
  geminiKey: FAKE_GEMINI_KEY,
  geminiBaseUrl: gemini.url,
  model: DEFAULT_MODEL,
  fallbackModels: [],
  include: [],
  exclude: [],
  maxComments: 10,
  maxInputTokens: 30_000,
  timeoutMs: 20_000,
  reviewDrafts: false,
  reviewForks: false,
  incremental: true,
  repo: { owner: 'octo-org', repo: 'iris' },
  pullNumber: 0,
  ...over,
});

/** The real clients, pointed at the fakes, recording what main asked of them. */
function deps(): Deps & { geminiOptions: GeminiOptions[]; tokens: string[] } {
  const geminiOptions: GeminiOptions[] = [];
  const tokens: string[] = [];
  return {
    geminiOptions,
    tokens,
    octokit: (token) => {
      tokens.push(token);
      return github.getOctokit(token, { baseUrl: gh.url });
    },
    gemini: (options) => {
      geminiOptions.push(options);
      return defaultDeps.gemini(options);
    },
  };
}

const seed = (draft = false) =>
  seedPull(gh, {
    headSha: sha(),
    draft,
    title: 'Scale features',
    files: [pullFile('train.py', addedPatch(TRAIN), 'added')],
  });

describe('ai-review main(inputs, deps)', () => {
  it('reviews a pull request and returns the outputs and the step summary line', async () => {
    const pr = seed();
    gemini.script({
      json: {
        summary: 'Scaling before the split.',
        findings: [
          {
            path: 'train.py',
            line: 2,
            severity: 'high',
            category: 'data-leakage',
            title: 'Scaler fitted on all data',
            body: 'Fit it on the training split only.',
          },
        ],
      },
    });
    const d = deps();
    const { outputs, stepSummary } = await main(
      inputs({ pullNumber: pr.number, fallbackModels: ['gemini-2.5-flash'] }),
      d,
    );

    expect(d.tokens).toEqual(['ghs_test_token']);
    expect(d.geminiOptions).toEqual([
      {
        apiKey: FAKE_GEMINI_KEY,
        baseUrl: gemini.url,
        model: DEFAULT_MODEL,
        fallbackModels: ['gemini-2.5-flash'],
        maxInputTokens: 30_000,
        timeoutMs: 20_000,
      },
    ]);
    expect(gemini.requests.map((r) => r.model)).toEqual([DEFAULT_MODEL]);
    const reviews = gh.state.repo('octo-org', 'iris')!.reviews.filter((r) => r.pull_number === pr.number);
    expect(reviews).toHaveLength(1);
    expect(reviews[0]!.event).toBe('COMMENT');
    const [summary, ...more] = gh.state
      .repo('octo-org', 'iris')!
      .comments.filter((c) => c.issue_number === pr.number);
    expect(more).toEqual([]);
    expect(summary!.body).toContain('Scaling before the split.');
    expect(outputs).toEqual({
      reviewId: reviews[0]!.id,
      comments: reviews[0]!.comments.length,
      url: summary!.html_url,
      sha: pr.head.sha,
      ai: true,
      model: DEFAULT_MODEL,
    });
    expect(reviews[0]!.comments.map((c) => c.line)).toContain(2);
    expect(stepSummary).toBe(
      `Gemini \`${DEFAULT_MODEL}\`; 1 file(s) reviewed, ${outputs.comments} inline comment(s), 0 in the summary. [Summary comment](${summary!.html_url})`,
    );

    // The same head again: nothing new, no Gemini call, the summary left as it was.
    const before = gemini.requests.length;
    const again = await main(inputs({ pullNumber: pr.number }), d);
    expect(again).toEqual({
      outputs: {
        comments: 0,
        url: summary!.html_url,
        sha: pr.head.sha,
        ai: false,
        skipped: 'already reviewed',
      },
    });
    expect(gemini.requests.length).toBe(before);
    expect(d.geminiOptions).toHaveLength(1);
  });

  it('skips a draft after reading the pull request only, and reviews it when review-drafts is set', async () => {
    const pr = seed(true);
    const d = deps();
    const calls = gh.calls().length;
    const res = await main(inputs({ pullNumber: pr.number }), d);
    expect(res.outputs.skipped).toMatch(/^draft pull request/);
    expect(res.stepSummary).toBeUndefined();
    expect(
      gh
        .calls()
        .slice(calls)
        .map((c) => c.operationId),
    ).toEqual(['pulls/get']);
    expect(d.geminiOptions).toEqual([]);

    gemini.script({ json: { summary: 'Fine.', findings: [] } });
    const drafted = await main(inputs({ pullNumber: pr.number, reviewDrafts: true }), d);
    expect(drafted.outputs).toMatchObject({ ai: true, sha: pr.head.sha });
    expect(drafted.outputs.skipped).toBeUndefined();
  });

  it('without a Gemini key posts the rule checks and never calls Gemini', async () => {
    const pr = seed();
    const res = await main(inputs({ pullNumber: pr.number, geminiKey: undefined }), deps());
    expect(res.outputs.ai).toBe(false);
    expect(res.outputs.model).toBeUndefined();
    expect(res.stepSummary).toMatch(/^Gemini unavailable: rule checks only; 1 file\(s\) reviewed/);
    expect(gemini.requests).toEqual([]);
  });
});

describe('ai-review getInputs()', () => {
  const saved = { ...process.env };
  const set = (env: Record<string, string>): void => {
    for (const k of Object.keys(process.env)) if (k.startsWith('INPUT_')) delete process.env[k];
    Object.assign(process.env, { GITHUB_REPOSITORY: 'octo-org/iris', 'INPUT_GITHUB-TOKEN': 't0k' }, env);
  };
  afterAll(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });
  const pullEvent = { eventName: 'pull_request', payload: { pull_request: { number: 7 } } };

  it('parses and defaults every input once', () => {
    set({ INPUT_EXCLUDE: 'docs/**\n# comment\nvendor/**', 'INPUT_FALLBACK-MODELS': 'a, b' });
    delete process.env.GOOGLE_GEMINI_BASE_URL;
    expect(getInputs(pullEvent)).toEqual({
      token: 't0k',
      geminiKey: undefined,
      geminiBaseUrl: undefined,
      model: DEFAULT_MODEL,
      fallbackModels: ['a', 'b'],
      include: [],
      exclude: ['docs/**', 'vendor/**'],
      maxComments: 10,
      maxInputTokens: 30_000,
      timeoutMs: 60_000,
      reviewDrafts: false,
      reviewForks: false,
      incremental: true,
      repo: { owner: 'octo-org', repo: 'iris' },
      pullNumber: 7,
    });
    set({
      'INPUT_PULL-NUMBER': '12',
      'INPUT_REQUEST-TIMEOUT': '2m',
      INPUT_MODEL: 'gemini-x',
      INPUT_INCREMENTAL: 'false',
      GOOGLE_GEMINI_BASE_URL: ' http://127.0.0.1:9/gemini ',
    });
    expect(getInputs(pullEvent)).toMatchObject({
      pullNumber: 12,
      timeoutMs: 120_000,
      model: 'gemini-x',
      incremental: false,
      geminiBaseUrl: 'http://127.0.0.1:9/gemini',
    });
  });

  it('names the input that is wrong', () => {
    set({ 'INPUT_MAX-COMMENTS': 'lots' });
    expect(() => getInputs(pullEvent)).toThrow("Input 'max-comments': expected an integer, got 'lots'.");
    set({ 'INPUT_REVIEW-FORKS': 'maybe' });
    expect(() => getInputs(pullEvent)).toThrow("Input 'review-forks': expected true or false, got 'maybe'.");
    set({});
    expect(() => getInputs({ eventName: 'push', payload: {} })).toThrow(
      "Input 'pull-number': expected a pull request number (the push event carries none).",
    );
    set({ 'INPUT_GITHUB-TOKEN': '' });
    expect(() => getInputs(pullEvent)).toThrow("Input 'github-token': expected a value (it is required)");
  });
});
