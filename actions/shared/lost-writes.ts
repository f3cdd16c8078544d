/**
 * Creates whose answer is lost. GitHub can commit a write and still answer 5xx (its front end gave
 * up on a backend that went on to finish), or the connection can close before the answer. Sent
 * again, as @octokit/plugin-retry sends every method, such a create makes a second issue, comment
 * or review. So each create below carries a hidden write id in its body, is never retried by the
 * retry plugin, and after a lost answer (5xx or no answer) the client waits, looks for an item
 * with that id where GitHub lists it at once (issues sorted by creation, without a label filter
 * that can lag; the thread's comments; the pull request's reviews; the commit's comments), answers
 * with that item if GitHub made it, and sends the create again only if it did not.
 * Rate limits are not lost answers: GitHub refused before writing, and the throttling plugin
 * waits and retries those as for any request.
 */
import { randomUUID } from 'node:crypto';
import * as core from '@actions/core';
import type { Octokit } from './github.js';
import { retry, sleep } from './retry.js';

type Params = Record<string, unknown> & {
  method: string;
  url: string;
  body?: unknown;
  request?: Record<string, unknown>;
};

interface Made {
  id: number;
  body?: string | null;
  html_url?: string;
  url?: string;
}

/** The item a create made, found by the write id in its body. */
type Find = (octokit: Octokit, p: Params, writeId: string) => Promise<Made | undefined>;

const carries =
  (writeId: string) =>
  (item: { body?: string | null }): boolean =>
    (item.body ?? '').includes(writeId);

const where = (p: Params): { owner: string; repo: string } => ({
  owner: String(p.owner),
  repo: String(p.repo),
});

/** Where a made item is looked for: a thread's comments, a pull request's reviews, a commit's comments. */
type List =
  | Octokit['rest']['issues']['listComments']
  | Octokit['rest']['pulls']['listReviews']
  | Octokit['rest']['repos']['listCommentsForCommit'];

/** Every page of one list of the item's parent, searched for the write id. */
async function findIn<L extends List>(
  octokit: Octokit,
  list: L,
  params: Parameters<L>[0],
  writeId: string,
): Promise<Made | undefined> {
  // paginate types each list's items from the method, and `params` is checked against that list.
  const all: Made[] = await octokit.paginate(list, { ...params, per_page: 100 });
  return all.find(carries(writeId));
}

const CREATES: Record<string, { what: string; find: Find }> = {
  'POST /repos/{owner}/{repo}/issues': {
    what: 'issue',
    // An issue made during the request is among the newest few: one page is enough.
    find: async (octokit, p, writeId) =>
      (
        await octokit.rest.issues.listForRepo({
          ...where(p),
          state: 'all',
          sort: 'created',
          direction: 'desc',
          per_page: 100,
        })
      ).data.find(carries(writeId)),
  },
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': {
    what: 'comment',
    find: (octokit, p, writeId) =>
      findIn(
        octokit,
        octokit.rest.issues.listComments,
        { ...where(p), issue_number: Number(p.issue_number) },
        writeId,
      ),
  },
  'POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews': {
    what: 'review',
    find: (octokit, p, writeId) =>
      findIn(
        octokit,
        octokit.rest.pulls.listReviews,
        { ...where(p), pull_number: Number(p.pull_number) },
        writeId,
      ),
  },
  'POST /repos/{owner}/{repo}/commits/{commit_sha}/comments': {
    what: 'commit comment',
    find: (octokit, p, writeId) =>
      findIn(
        octokit,
        octokit.rest.repos.listCommentsForCommit,
        { ...where(p), commit_sha: String(p.commit_sha) },
        writeId,
      ),
  },
};

/** No answer (a network error, which octokit reports as 500) or a server error. */
const lost = (err: unknown): boolean => {
  const status = (err as { status?: unknown }).status;
  return typeof status !== 'number' || status >= 500;
};

const article = (what: string): string => `${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what}`;

/** The hidden write id, on its own line at the end (every marker the actions read is at the start). */
export const writeIdMarker = (id: string): string => `<!-- mlops-actions:write ${id} -->`;

/**
 * Makes the creates above safe to retry on `octokit`: up to `retries` more attempts, each after
 * a wait of 1, 4, 9… s (the retry plugin's schedule) and a look for the item the last one made.
 */
export function guardCreates(octokit: Octokit, retries: number, wait = sleep): void {
  octokit.hook.wrap('request', async (request, options) => {
    const p = options as unknown as Params;
    const create = CREATES[`${p.method} ${p.url}`];
    if (!create) return request(options);
    const writeId = randomUUID();
    const text = typeof p.body === 'string' && p.body !== '' ? `${p.body}\n\n` : '';
    // In place: every hook of the chain is bound to this one options object (before-after-hook),
    // so an altered copy would not reach the request. `request` is a defaults object shared by
    // every call, so it is replaced, not changed.
    p.body = `${text}${writeIdMarker(writeId)}`;
    p.request = { ...p.request, retries: 0 };
    type Answer = Awaited<ReturnType<typeof request>>;
    // Octokit reports a dropped connection as status 500 with no response: say which it was.
    const answerOf = (failure: unknown): string => {
      const e = failure as { status?: number; response?: unknown };
      return e.response ? `answered ${e.status}` : 'gave no answer';
    };
    // One attempt is a send and, when its answer is lost, a wait and a look for what it made: the
    // wait gives a backend that outlived its front end time to commit. Nothing found, the create
    // goes again at once. Errors that are no lost answer, and failed looks, are not retried.
    const outcome = await retry<{ answer: Answer } | { lost: unknown }>(
      async (attempt) => {
        try {
          return { answer: await request(options) };
        } catch (err) {
          if (!lost(err)) throw err;
          await wait(attempt ** 2 * 1000);
          const made = await create.find(octokit, p, writeId);
          if (!made) return { lost: err };
          core.warning(
            `GitHub ${answerOf(err)} to creating ${article(create.what)} but had created it (${made.html_url ?? made.id}); using it`,
          );
          return { answer: { status: 201, url: made.url ?? '', headers: {}, data: made } as Answer };
        }
      },
      {
        attempts: retries + 1,
        retryOn: (o) => 'lost' in o,
        retryable: () => false,
        delayMs: () => 0,
        // Only lost answers come back for another attempt.
        onRetry: ({ failure }) =>
          core.warning(
            `GitHub ${answerOf((failure.value as { lost: unknown }).lost)} to creating ${article(create.what)} and did not create it; sending it again`,
          ),
      },
    );
    if ('lost' in outcome) throw outcome.lost;
    return outcome.answer;
  });
}
