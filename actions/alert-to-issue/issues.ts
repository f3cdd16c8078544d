/**
 * One issue per alert group, found without the Search API (rate limited and eventually
 * consistent): the issues list filtered by the group label is read from the primary store, so
 * an issue created a moment ago is already there.
 *
 * Calls per run: firing on an open issue = list + comment + update (3); resolved = list +
 * comment + close (3); redelivery = list (1); a new issue = list + create + list again (3),
 * plus one commit listing when `gitops-path` is set.
 *
 * Races: deliveries of one group running at once may each create an issue. After creating,
 * each run lists again; the lowest-numbered issue created after the ones it saw first wins,
 * and every other run closes its own issue as a duplicate (removing the group label so that no
 * later lookup sees it) and adds its notification to the winner unless it is already there.
 * Issue numbers only grow, so every loser sees the winner and the winner sees no lower one.
 */
import type { Octokit, Repo } from '../shared/github.js';
import type { GroupId } from './group.js';
import { readState, record, withState, type IssueState } from './render.js';
import type { Notification } from './webhook.js';

export type Action = 'created' | 'commented' | 'closed' | 'reopened' | 'skipped';

export interface Outcome {
  action: Action;
  number?: number;
  url?: string;
  /** One sentence for the log and the step summary. */
  reason: string;
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
  const { data } = await octokit.rest.issues.listForRepo({
    ...repo,
    labels: group.label,
    state: 'all',
    sort: 'created',
    direction: 'desc',
    per_page: 100,
  });
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

export async function reconcile(o: ReconcileOptions): Promise<Outcome> {
  const { octokit, repo, n, group, fingerprint: fp } = o;
  const now = o.now ?? Date.now;
  const issues = await listGroup(octokit, repo, group);
  const open = issues.filter((i) => i.state === 'open').sort(byNumber);
  const current = open[0];
  const lastClosed = issues
    .filter((i) => i.state === 'closed' && i.state_reason !== 'duplicate')
    .sort(byNumber)
    .at(-1);

  const target = current ?? lastClosed;
  const targetState = target ? readState(target.body) : undefined;
  if (target && targetState?.seen.includes(fp)) {
    return {
      action: 'skipped',
      number: target.number,
      url: target.html_url,
      reason: `notification ${fp} is already recorded on #${target.number} (a redelivery)`,
    };
  }

  const commentThenUpdate = async (
    issue: GroupIssue,
    state: IssueState,
    patch: { state?: 'open' | 'closed'; state_reason?: 'completed' | 'reopened' },
    note?: string,
  ): Promise<void> => {
    // Comment first: if the update then fails, a retry comments again rather than losing it.
    await octokit.rest.issues.createComment({ ...repo, issue_number: issue.number, body: o.comment(note) });
    await octokit.rest.issues.update({
      ...repo,
      issue_number: issue.number,
      body: withState(issue.body, record(state, fp)),
      ...patch,
    });
  };
  const stateOf = (issue: GroupIssue): IssueState =>
    readState(issue.body) ?? { v: 1, group: group.id, seen: [] };

  if (n.status === 'resolved') {
    if (!current) {
      return {
        action: 'skipped',
        number: lastClosed?.number,
        url: lastClosed?.html_url,
        reason: lastClosed
          ? `the group's issue #${lastClosed.number} is already closed`
          : 'no issue exists for this alert group (its firing notification never reached the action)',
      };
    }
    const keep = !o.closeOnResolve || optedOut(n);
    const note = keep
      ? o.closeOnResolve
        ? `Kept open: an alert has the annotation \`${OPT_OUT_ANNOTATION}: "false"\`.`
        : 'Kept open (`close-on-resolve` is false).'
      : undefined;
    await commentThenUpdate(
      current,
      stateOf(current),
      keep ? {} : { state: 'closed', state_reason: 'completed' },
      note,
    );
    return keep
      ? {
          action: 'commented',
          number: current.number,
          url: current.html_url,
          reason: 'resolved; the issue stays open',
        }
      : {
          action: 'closed',
          number: current.number,
          url: current.html_url,
          reason: 'resolved; closed the issue',
        };
  }

  if (current) {
    await commentThenUpdate(current, stateOf(current), {});
    return {
      action: 'commented',
      number: current.number,
      url: current.html_url,
      reason: 'the group is still firing',
    };
  }

  if (lastClosed?.closed_at && now() - Date.parse(lastClosed.closed_at) <= o.reopenWindowMs) {
    await commentThenUpdate(
      lastClosed,
      stateOf(lastClosed),
      { state: 'open', state_reason: 'reopened' },
      'Firing again within the reopen window: reopened.',
    );
    return {
      action: 'reopened',
      number: lastClosed.number,
      url: lastClosed.html_url,
      reason: `firing again within the reopen window of #${lastClosed.number}`,
    };
  }

  return create(o, issues, lastClosed);
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
  if (readState(kept.body)?.seen.includes(fp)) {
    return {
      action: 'skipped',
      number: winner,
      url: kept.html_url,
      reason: `another run opened #${winner} for the same notification at the same time; closed #${mine.number} as its duplicate`,
    };
  }
  await octokit.rest.issues.createComment({ ...repo, issue_number: winner, body: o.comment() });
  return {
    action: 'commented',
    number: winner,
    url: kept.html_url,
    reason: `another run opened #${winner} at the same time; closed #${mine.number} as its duplicate and commented`,
  };
}
