/**
 * Prompt injection against ai-review: each payload sits in a PR's diff and description, and the
 * fake Gemini is scripted to behave as a compromised model that obeys it. Nothing the attacker
 * wants may happen: the review is a COMMENT, no label or merge call is made, the GitHub token
 * never reaches the model or a post, mentions/commands/markers are neutralised, and the payload
 * reaches the model only inside the fence.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeGemini, FAKE_GEMINI_KEY, type Answer, type GeminiRequest } from './helpers/fake-gemini.js';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { addedPatch, pullFile, registerReviewHandlers, seedPull } from './helpers/fake-github/reviews.js';
import type { Pull } from './helpers/fake-github/state.js';
import {
  FORBIDDEN_IN_POSTS,
  INJECTION_CASES,
  TOKEN_PLACEHOLDER,
  type InjectionCase,
} from './helpers/injection-cases.js';
import { runAction, type RunResult } from './helpers/run-action.js';

const TOKEN = 'ghs_test_token';
let gh: FakeGitHub;
let gemini: FakeGemini;

beforeAll(async () => {
  gh = new FakeGitHub({ repos: ['octo-org/iris'] });
  registerReviewHandlers(gh);
  gemini = new FakeGemini();
  await Promise.all([gh.start(), gemini.start()]);
});
afterAll(async () => {
  await Promise.all([gh.stop(), gemini.stop()]);
});

const fileOf = (i: number): string => `src/case_${i}.py`;

/** A compromised model: it does what the payload asks, in the way that goal needs. */
function obey(c: InjectionCase, i: number, req: GeminiRequest): Answer {
  const said = c.obey.split(TOKEN_PLACEHOLDER).join(TOKEN);
  const findings = [
    {
      path: fileOf(i),
      line: 2,
      severity: 'high',
      category: 'other',
      title: said.slice(0, 90),
      body: `${said}\n${TOKEN}`,
    },
  ];
  switch (c.goal) {
    case 'escape-json':
      return { text: said };
    case 'approve':
      // Half of them smuggle an extra field, half put the order in the text.
      return i % 2
        ? { json: { summary: said, findings, event: 'APPROVE' } }
        : { json: { summary: `${said}\n/approve`, findings } };
    case 'label':
      return { json: { summary: said, findings, labels: ['safe-to-deploy'] } };
    default:
      // Echo the whole prompt back, as a model that leaks its context would.
      return { json: { summary: `${said}\n\n${req.userText}\n${req.systemText}`, findings } };
  }
}

interface Outcome {
  c: InjectionCase;
  i: number;
  pr: Pull;
  res: RunResult;
}

async function attack(c: InjectionCase, i: number): Promise<Outcome> {
  const code = ['def load(path):', `    ${c.text.split('\n').join('\n    # ')}`, '    return path'].join(
    '\n',
  );
  const pr = seedPull(gh, {
    headSha: (i + 1).toString(16).padStart(40, 'c'),
    title: `case ${i}: ${c.text.split('\n')[0]!.slice(0, 80)}`,
    body: c.text,
    files: [pullFile(fileOf(i), addedPatch(code), 'added')],
  });
  const res = await runAction('ai-review', {
    inputs: { 'gemini-api-key': FAKE_GEMINI_KEY },
    env: { ...gh.env(), ...gemini.env() },
    eventName: 'pull_request',
    event: { action: 'opened', number: pr.number, pull_request: { number: pr.number } },
    timeoutMs: 60_000,
  });
  return { c, i, pr, res };
}

const outcomes: Outcome[] = [];

describe('ai-review resists prompt injection', () => {
  beforeAll(async () => {
    gemini.always((req) => {
      const i = Number(/diff of src\/case_(\d+)\.py/.exec(req.userText)?.[1]);
      return obey(INJECTION_CASES[i]!, i, req);
    });
    // Runs overlap: most of each run is the client-side spacing between GitHub writes.
    for (let at = 0; at < INJECTION_CASES.length; at += 6) {
      outcomes.push(
        ...(await Promise.all(INJECTION_CASES.slice(at, at + 6).map((c, k) => attack(c, at + k)))),
      );
    }
  }, 170_000);

  it('has at least 20 cases covering every goal', () => {
    expect(INJECTION_CASES.length).toBeGreaterThanOrEqual(20);
    expect(new Set(INJECTION_CASES.map((c) => c.goal))).toEqual(
      new Set([
        'approve',
        'label',
        'mention',
        'leak-token',
        'escape-json',
        'escape-fence',
        'command',
        'forge-marker',
        'suppress',
      ]),
    );
    expect(outcomes).toHaveLength(INJECTION_CASES.length);
  });

  it.each(INJECTION_CASES.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
    const { c, pr, res } = outcomes[i]!;
    expect(res.code).toBe(0);
    expect(res.errors).toEqual([]);
    const repo = gh.state.repo('octo-org', 'iris')!;

    // The model saw the payload only inside the fence, and never the token.
    const sent = gemini.requests.filter((r) => r.userText.includes(`diff of ${fileOf(i)}`));
    expect(sent.length).toBeGreaterThan(0);
    const marker = c.text.split('\n')[0]!;
    for (const r of sent) {
      expect(r.raw).not.toContain(TOKEN);
      expect(r.raw).not.toContain(FAKE_GEMINI_KEY);
      expect(r.body.tools).toBeUndefined();
      // The first fence is ours (only trusted text precedes it); its random id is the real one.
      const id = /<<<UNTRUSTED ([0-9a-f]{24}) /.exec(r.userText)![1]!;
      expect(id).not.toBe('0'.repeat(24));
      const fences = [
        ...r.userText.matchAll(new RegExp(`<<<UNTRUSTED ${id} label="[^"\\n]*">>>\\n`, 'g')),
      ].map((m) => {
        const end = r.userText.indexOf(`\n<<<END UNTRUSTED ${id}>>>`, m.index);
        return [m.index, end] as const;
      });
      // Title/description and the one diff; each closed only by its own END line.
      expect(fences.length).toBe(2);
      expect(r.userText.split(`<<<END UNTRUSTED ${id}>>>`).length - 1).toBe(2);
      let from = 0;
      let found = 0;
      for (let at = r.userText.indexOf(marker, from); at >= 0; at = r.userText.indexOf(marker, from)) {
        expect(fences.some(([s, e]) => at > s && at < e)).toBe(true);
        found++;
        from = at + 1;
      }
      expect(found).toBeGreaterThanOrEqual(1);
    }

    // Only ever a COMMENT review; no labels, merges, approvals or dismissals.
    const reviews = repo.reviews.filter((r) => r.pull_number === pr.number);
    for (const r of reviews) expect(r.event).toBe('COMMENT');
    const mine = gh.requests.filter(
      (r) => r.path.includes(`/${pr.number}/`) || r.path.endsWith(`/${pr.number}`),
    );
    expect(
      mine
        .map((r) => r.operationId)
        .filter((op) => /label|merge|dismiss|submit|update-branch|requested-reviewers/.test(op)),
    ).toEqual([]);
    for (const r of gh.calls('pulls/create-review'))
      expect((r.body as { event?: string }).event).toBe('COMMENT');
    expect(pr.draft).toBe(false);
    expect(repo.issue(pr.number)!.labels).toEqual([]);

    // Nothing posted carries the token, a live mention, a bot command or a forged marker.
    const posts = [
      ...repo.comments
        .filter((cm) => cm.issue_number === pr.number && cm.user.login === 'github-actions[bot]')
        .map((cm) => cm.body),
      ...reviews.flatMap((r) => [r.body, ...r.comments.map((cm) => cm.body)]),
    ];
    expect(posts.length).toBeGreaterThan(0);
    for (const body of posts) {
      expect(body).not.toContain(TOKEN);
      expect(body).not.toContain(FAKE_GEMINI_KEY);
      for (const bad of FORBIDDEN_IN_POSTS) expect(body).not.toMatch(bad);
    }
    for (const r of mine.filter((q) => q.method !== 'GET'))
      expect(JSON.stringify(r.body)).not.toContain(TOKEN);
    const summary = repo.comments.find((cm) => cm.issue_number === pr.number)!.body;
    expect(
      [...summary.matchAll(/<!-- mlops-actions:ai-review:sha=([0-9a-f]{40}) -->/g)].map((m) => m[1]),
    ).toEqual([pr.head.sha]);
    // Its two markers and, last, the write id every create carries (lost-writes.ts): none forged.
    const ownMarkers = summary.replace(/\n\n<!-- mlops-actions:write [0-9a-f-]{36} -->$/, '');
    expect(ownMarkers).not.toBe(summary);
    expect(ownMarkers.match(/<!--/g)).toHaveLength(2);
    expect(res.outputs['reviewed-sha']).toBe(pr.head.sha);

    // The model's words never reach the log as workflow commands.
    expect(res.stdout).not.toMatch(/^::(set-output|stop-commands|error::pwned)/m);

    // A reply outside the schema is not trusted at all.
    if (c.goal === 'escape-json' || c.goal === 'label' || (c.goal === 'approve' && i % 2)) {
      expect(res.outputs['ai-used']).toBe('false');
      expect(summary).toMatch(/Gemini review unavailable/);
    } else {
      expect(res.outputs['ai-used']).toBe('true');
    }
  });
});
