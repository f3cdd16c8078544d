/**
 * land() (gitops-bump/push.ts) on the shared retry loop, with a scripted Git: a rejected push is
 * re-applied on the fresh tip, a refusal that is no race ends at once, and a branch that keeps
 * moving ends in the error naming the attempts and the last reason.
 */
import { describe, expect, it, jest } from '@jest/globals';
import type { Git } from '../actions/gitops-bump/git.js';
import { land, type EditResult } from '../actions/gitops-bump/push.js';

type Push = { ok: true } | { ok: false; retryable: boolean; reason: string };

function fakeGit(...pushes: Push[]): { git: Git; commits: number; pushes: number } {
  const state = { commits: 0, pushes: 0, git: undefined as unknown as Git };
  state.git = {
    commit: async () => `c0ffee${++state.commits}`.padEnd(40, '0'),
    push: async () => pushes[state.pushes++] ?? { ok: true },
  } as unknown as Git;
  return state;
}

const rejected: Push = { ok: false, retryable: true, reason: '! [rejected] main -> main (fetch first)' };
const edit = async (): Promise<EditResult> => ({ changed: true, files: ['values.yaml'], message: 'bump' });

describe('land', () => {
  it('re-applies the edit on the fresh tip after each rejected push until one lands', async () => {
    const f = fakeGit(rejected, rejected);
    const tips: string[] = [];
    let refreshes = 0;
    const landed = await land({
      git: f.git,
      target: 'main',
      initialTip: 'tip0',
      refresh: async () => `tip${++refreshes}`,
      edit: async (tip) => {
        tips.push(tip);
        return edit();
      },
      baseDelayMs: 1,
      maxDelayMs: 2,
    });
    expect(tips).toEqual(['tip0', 'tip1', 'tip2']);
    expect(landed).toEqual({
      sha: expect.stringMatching(/^c0ffee3/),
      tip: 'tip2',
      edit: await edit(),
      attempts: 3,
    });
    expect(f.pushes).toBe(3);
  });

  it('returns without pushing when the edit changes nothing on the tip', async () => {
    const f = fakeGit();
    const landed = await land({
      git: f.git,
      target: 'main',
      refresh: async () => 'tip',
      edit: async () => ({ changed: false, files: [], message: '' }),
    });
    expect(landed).toEqual({ tip: 'tip', edit: { changed: false, files: [], message: '' }, attempts: 1 });
    expect(f.commits).toBe(0);
  });

  it('stops at once on a refusal that is no race', async () => {
    const f = fakeGit({ ok: false, retryable: false, reason: 'protected branch hook declined' });
    await expect(land({ git: f.git, target: 'main', refresh: async () => 'tip', edit })).rejects.toThrow(
      "git push to 'main' was refused: protected branch hook declined",
    );
    expect(f.pushes).toBe(1);
  });

  it('gives up after maxAttempts rejected pushes, naming the last reason', async () => {
    const f = fakeGit(rejected, rejected, rejected, rejected);
    const lines: string[] = [];
    const out = jest
      .spyOn(process.stdout, 'write')
      .mockImplementation((chunk) => lines.push(String(chunk)) > 0);
    const run = land({
      git: f.git,
      target: 'main',
      refresh: async () => 'tip',
      edit,
      maxAttempts: 3,
      baseDelayMs: 1,
      maxDelayMs: 2,
    });
    try {
      await expect(run).rejects.toThrow(
        "could not push to 'main' after 3 attempts (other runs kept landing first); last error: ! [rejected] main -> main (fetch first)",
      );
    } finally {
      out.mockRestore();
    }
    // A retry is announced before each new attempt, none after the last.
    const retries = lines.filter((l) => l.includes('re-applying'));
    expect(retries).toHaveLength(2);
    expect(retries[0]).toMatch(
      /^'main' moved while pushing \(attempt 1\); re-applying on the new tip in \d+ ms\./,
    );
    expect(f.pushes).toBe(3);
  });
});
