/**
 * One issue per alert group, found without the Search API (rate limited and eventually
 * consistent): the issues list filtered by the group label, and at the same time the newest
 * issues unfiltered, since the label filter can lag behind a write by seconds (an issue created
 * a moment ago is among the newest, not yet among the labelled).
 *
 * Each notification is recorded once per issue, by GitHub itself rather than by a body that
 * concurrent runs would overwrite: the issue's body records the notification that opened it (it
 * is written once), and every later notification is a comment that starts with a hidden marker
 * holding its fingerprint. A run lists the comments and stops if its notification is there (a
 * redelivery); otherwise it posts its comment and lists again, and if a comment with the same
 * fingerprint and a lower id exists (comment ids only grow), another run got there first: it
 * deletes its own and does nothing more. So of any number of concurrent copies of a notification
 * exactly one keeps its comment and only that one closes or reopens the issue.
 *
 * Calls per run (a list is the two listings above, made at once, counted as one here): a
 * redelivery of the notification that opened the issue = list (1), of a later
 * one = list + comments (2); firing on an open issue = list + comments + comment + comments (4);
 * resolved or reopened = the same + update (5); a new issue = list + create + list again (3), with
 * one more to read the comments of the group's closed issue if there is one, and one commit
 * listing when `gitops-path` is set. Comment listings page through issues with over 100 comments.
 *
 * Creation races: deliveries of one group running at once may each create an issue. After
 * creating, each run lists again; the lowest-numbered issue created after the ones it saw first
 * wins, and every other run closes its own issue as a duplicate (removing the group label so that
 * no later lookup sees it) and records its notification on the winner as above. Issue numbers
 * only grow, so every loser sees the winner and the winner sees no lower one.
 *
 * Lost answers: a create that GitHub made but answered with a 5xx (or no answer) is found again
 * by its hidden write id and not sent twice (createOctokit, shared/lost-writes.ts), so a run's
 * `mine` is always its own issue or comment, as the two rules above need.
 */
import type { Octokit, Repo } from '../shared/github.js';
import type { GroupId } from './group.js';
import { readNotificationMarker, readState, type IssueState } from './render.js';
import type { Notification } from './webhook.js';

export type Action = 'created' | 'commented' | 'closed' | 'reopened' | 'skipped';

export interface Outcome {
  action: Action;
  number?: number;
  url?: string;
  /** One sentence for the log and the step summary. */
  reason: string;
  /** The labels GitHub put on the issue this run opened. */
  labels?: string[];
}

export interface GroupIssue {
  number: number;
  state: string;
  state_reason?: string | null;
  closed_at: string | null;
  body?: string | null;
  html_url: string;
}

export interface ReconcileOptions {
  octokit: Octokit;
  repo: Repo;
  n: Notification;
  group: GroupId;
  fingerprint: string;
  title: string;
  labels: string[];
  closeOnResolve: boolean;
  reopenWindowMs: number;
  /** Built only when an issue is created: gathering context and asking Gemini is not free. */
  body: (state: IssueState, previous?: number) => Promise<string>;
  comment: (note?: string) => string;
  now?: () => number;
}

/** An alert rule can keep its issue open after it resolves, e.g. for a post-mortem. */
export const OPT_OUT_ANNOTATION = 'close_on_resolve';

export function optedOut(n: Notification): boolean {
  const no = (v: string | undefined): boolean => v !== undefined && /^(false|no|off|0)$/i.test(v.trim());
  return (
    no(n.commonAnnotations[OPT_OUT_ANNOTATION]) || n.alerts.some((a) => no(a.annotations[OPT_OUT_ANNOTATION]))
  );
}

export async function listGroup(octokit: Octokit, repo: Repo, group: GroupId): Promise<GroupIssue[]> {
  const query = { ...repo, state: 'all', sort: 'created', direction: 'desc', per_page: 100 } as const;
  // The label filter can lag behind a write by seconds (an issue created or labelled a moment ago
  // is missing from it); the newest issues, unfiltered, do not: both lists, read at once, miss
  // neither an old issue of the group nor a new one.
  const [labelled, newest] = await Promise.all([
    octokit.rest.issues.listForRepo({ ...query, labels: group.label }),
    octokit.rest.issues.listForRepo(query),
  ]);
  const data = [...new Map([...labelled.data, ...newest.data].map((i) => [i.number, i])).values()];
  // The short label could in theory collide, and anyone can add a label by hand: the full id
  // in the body's marker decides.
  return data
    .filter((i) => !i.pull_request && readState(i.body)?.group === group.id)
    .map((i) => ({
      number: i.number,
      state: i.state,
      state_reason: i.state_reason,
      closed_at: i.closed_at,
      body: i.body,
      html_url: i.html_url,
    }));
}

const byNumber = (a: GroupIssue, b: GroupIssue): number => a.number - b.number;

interface CommentRecord {
  id: number;
  fp: string;
}

/** The notifications recorded in the issue's comments (their hidden markers), in id order. */
async function commentRecords(octokit: Octokit, repo: Repo, issue: number): Promise<CommentRecord[]> {
  const comments = await octokit.paginate(octokit.rest.issues.listComments, {
    ...repo,
    issue_number: issue,
    per_page: 100,
  });
  return comments
    .map((c) => ({ id: c.id, fp: readNotificationMarker(c.body) }))
    .filter((r): r is CommentRecord => r.fp !== undefined)
    .sort((a, b) => a.id - b.id);
}

/** Whether the issue records the notification already: in its body (written once) or a comment. */
async function recorded(o: ReconcileOptions, issue: GroupIssue): Promise<boolean> {
  if (readState(issue.body)?.seen.includes(o.fingerprint)) return true;
  const records = await commentRecords(o.octokit, o.repo, issue.number);
  return records.some((r) => r.fp === o.fingerprint);
}

/**
 * Posts the notification's comment on an issue that did not record it when last listed, and
 * returns whether this run's comment is the record. If a concurrent run's comment with the same
 * fingerprint has a lower id, that one is the record: this run deletes its own and returns false.
 */
async function recordOnce(o: ReconcileOptions, issue: number, note?: string): Promise<boolean> {
  const { octokit, repo, fingerprint: fp } = o;
  const { data: mine } = await octokit.rest.issues.createComment({
    ...repo,
    issue_number: issue,
    body: o.comment(note),
  });
  const records = await commentRecords(octokit, repo, issue);
  if (!records.some((r) => r.fp === fp && r.id < mine.id)) return true;
  try {
    await octokit.rest.issues.deleteComment({ ...repo, comment_id: mine.id });
  } catch (err) {
    // Already gone (deleted by hand) is what this call wanted.
    if ((err as { status?: number }).status !== 404) throw err;
  }
  return false;
}

const already = (o: ReconcileOptions, issue: GroupIssue, why: string): Outcome => ({
  action: 'skipped',
  number: issue.number,
  url: issue.html_url,
  reason: `notification ${o.fingerprint} is already recorded on #${issue.number} (${why})`,
});

export async function reconcile(o: ReconcileOptions): Promise<Outcome> {
  const { n } = o;
  const now = o.now ?? Date.now;
  const issues = await listGroup(o.octokit, o.repo, o.group);
  const current = issues.filter((i) => i.state === 'open').sort(byNumber)[0];
  const lastClosed = issues
    .filter((i) => i.state === 'closed' && i.state_reason !== 'duplicate')
    .sort(byNumber)
    .at(-1);

  if (n.status === 'resolved' && !current) {
    return {
      action: 'skipped',
      number: lastClosed?.number,
      url: lastClosed?.html_url,
      reason: lastClosed
        ? `the group's issue #${lastClosed.number} is already closed`
        : 'no issue exists for this alert group (its firing notification never reached the action)',
    };
  }
  const target = current ?? lastClosed;
  if (target && (await recorded(o, target))) return already(o, target, 'a redelivery');

  if (current && n.status === 'resolved') return resolve(o, current);
  if (current) {
    if (!(await recordOnce(o, current.number))) return already(o, current, 'by a concurrent run');
    return {
      action: 'commented',
      number: current.number,
      url: current.html_url,
      reason: 'the group is still firing',
    };
  }
  if (lastClosed?.closed_at && now() - Date.parse(lastClosed.closed_at) <= o.reopenWindowMs) {
    const note = 'Firing again within the reopen window: reopened.';
    if (!(await recordOnce(o, lastClosed.number, note))) return already(o, lastClosed, 'by a concurrent run');
    await o.octokit.rest.issues.update({
      ...o.repo,
      issue_number: lastClosed.number,
      state: 'open',
      state_reason: 'reopened',
    });
    return {
      action: 'reopened',
      number: lastClosed.number,
      url: lastClosed.html_url,
      reason: `firing again within the reopen window of #${lastClosed.number}`,
    };
  }
  return create(o, issues, lastClosed);
}

async function resolve(o: ReconcileOptions, current: GroupIssue): Promise<Outcome> {
  const keep = !o.closeOnResolve || optedOut(o.n);
  const note = keep
    ? o.closeOnResolve
      ? `Kept open: an alert has the annotation \`${OPT_OUT_ANNOTATION}: "false"\`.`
      : 'Kept open (`close-on-resolve` is false).'
    : undefined;
  // Comment first: the comment decides which of concurrent copies closes the issue.
  if (!(await recordOnce(o, current.number, note))) return already(o, current, 'by a concurrent run');
  const done = { number: current.number, url: current.html_url };
  if (keep) return { action: 'commented', ...done, reason: 'resolved; the issue stays open' };
  await o.octokit.rest.issues.update({
    ...o.repo,
    issue_number: current.number,
    state: 'closed',
    state_reason: 'completed',
  });
  return { action: 'closed', ...done, reason: 'resolved; closed the issue' };
}

async function create(o: ReconcileOptions, before: GroupIssue[], previous?: GroupIssue): Promise<Outcome> {
  const { octokit, repo, group, fingerprint: fp } = o;
  const state: IssueState = { v: 1, group: group.id, seen: [fp] };
  const body = await o.body(state, previous?.number);
  const { data: mine } = await octokit.rest.issues.create({
    ...repo,
    title: o.title,
    body,
    labels: o.labels,
  });
  const names = mine.labels.map((l) => (typeof l === 'string' ? l : l.name));
  if (!names.includes(group.label)) {
    // GitHub silently drops labels for tokens without push access; without the label the next
    // run could not find this issue and would open another one.
    throw new Error(
      `GitHub created #${mine.number} without the label '${group.label}': the token needs push access and issues: write`,
    );
  }

  const floor = Math.max(0, ...before.map((i) => i.number));
  const after = await listGroup(octokit, repo, group);
  const contenders = after
    .filter((i) => i.number > floor && i.state_reason !== 'duplicate')
    .map((i) => i.number);
  const winner = Math.min(mine.number, ...contenders);
  if (winner === mine.number) {
    return {
      action: 'created',
      number: mine.number,
      url: mine.html_url,
      labels: names.filter((l): l is string => l !== undefined),
      reason: previous
        ? `opened a new issue after #${previous.number} (outside the reopen window)`
        : 'opened the issue',
    };
  }

  const kept = after.find((i) => i.number === winner)!;
  await octokit.rest.issues.update({
    ...repo,
    issue_number: mine.number,
    state: 'closed',
    state_reason: 'duplicate',
    labels: [],
    body: `Duplicate of #${winner}, opened at the same time by another delivery of the same alert group.`,
  });
  const why = `another run opened #${winner} at the same time; closed #${mine.number} as its duplicate`;
  if ((await recorded(o, kept)) || !(await recordOnce(o, winner)))
    return {
      action: 'skipped',
      number: winner,
      url: kept.html_url,
      reason: `${why} (it records this notification)`,
    };
  return { action: 'commented', number: winner, url: kept.html_url, reason: `${why} and commented` };
}
