/**
 * Issue titles, bodies and comments. Every alert-derived string goes through sanitize.ts; the
 * only raw HTML is the action's own hidden markers, which alert text cannot forge because `<`
 * is always escaped in it.
 */
import { alertKey } from './group.js';
import type { GroupId } from './group.js';
import { block, inline, link, title as safeTitle } from './sanitize.js';
import type { Alert, Notification } from './webhook.js';
import {
  gitopsWhere,
  SHOWN_COMMITS,
  type Context,
  type DeployedContext,
  type ModelContext,
} from './context.js';
import type { Deploy } from '../shared/deploys.js';
import type { Summary } from './summary.js';

const STATE_MARKER = /<!-- alert-to-issue:state (\{[^\n]*?\}) -->/;
const MAX_SEEN = 50;
const MAX_ROWS = 40;
/** GitHub rejects bodies over 65,536 characters; stay clear of it. */
export const MAX_BODY = 60_000;

export interface IssueState {
  v: 1;
  group: string;
  /**
   * Fingerprints of the notifications this body records: the one that opened the issue (issues
   * opened by earlier versions list more). Written once, at creation, and never rewritten, so
   * concurrent runs cannot overwrite each other's entries; later notifications are recorded by
   * their comments (see issues.ts).
   */
  seen: string[];
}

export function readState(body: string | null | undefined): IssueState | undefined {
  const m = STATE_MARKER.exec(body ?? '');
  if (!m) return undefined;
  try {
    const s = JSON.parse(m[1]!) as Partial<IssueState>;
    if (typeof s.group !== 'string' || !Array.isArray(s.seen)) return undefined;
    return { v: 1, group: s.group, seen: s.seen.filter((x): x is string => typeof x === 'string') };
  } catch {
    return undefined;
  }
}

export function stateMarker(state: IssueState): string {
  const seen = state.seen.slice(-MAX_SEEN);
  return `<!-- alert-to-issue:state ${JSON.stringify({ v: 1, group: state.group, seen })} -->`;
}

export const notificationMarker = (fp: string): string => `<!-- alert-to-issue:notification ${fp} -->`;

/**
 * The notification fingerprint a comment records, from the marker that starts every comment the
 * action posts (alert text cannot forge it: `<` is always escaped in alert text).
 */
export function readNotificationMarker(body: string | null | undefined): string | undefined {
  return /^<!-- alert-to-issue:notification ([0-9a-f]{16}) -->/.exec(body ?? '')?.[1];
}

export function alertName(n: Notification): string {
  return n.groupLabels.alertname ?? n.commonLabels.alertname ?? n.alerts[0]?.labels.alertname ?? 'Alert';
}

export function issueTitle(n: Notification, group: GroupId): string {
  const others = Object.entries(n.groupLabels)
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const name = alertName(n);
  const text = others
    ? `${name} (${others})`
    : name === 'Alert'
      ? `Alert group ${group.label.split(':')[1]}`
      : name;
  return safeTitle(`[alert] ${text}`);
}

const when = (iso: string | undefined): string => {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? ''
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
};

function severityOf(n: Notification, severityLabel: string): string | undefined {
  return (
    n.commonLabels[severityLabel] ?? n.alerts.find((a) => a.labels[severityLabel])?.labels[severityLabel]
  );
}

export function headline(n: Notification, severityLabel: string): string {
  const firing = n.alerts.filter((a) => a.status === 'firing').length;
  const resolved = n.alerts.length - firing;
  const counts = [firing ? `${firing} firing` : '', resolved ? `${resolved} resolved` : '']
    .filter(Boolean)
    .join(', ');
  const sev = severityOf(n, severityLabel);
  const truncated = n.truncatedAlerts ? ` (+${n.truncatedAlerts} not shown: truncated before delivery)` : '';
  return [
    n.status === 'firing' ? '**🔥 Firing**' : '**✅ Resolved**',
    sev ? `severity **${inline(sev, 40)}**` : '',
    `${counts}${truncated}`,
  ]
    .filter(Boolean)
    .join(' · ');
}

function labelsCell(a: Alert, hide: Set<string>): string {
  const pairs = Object.entries(a.labels)
    .filter(([k]) => !hide.has(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return pairs ? inline(pairs, 200) : '';
}

export function alertsTable(n: Notification): string {
  const hide = new Set(['alertname', ...Object.keys(n.groupLabels)]);
  const alerts = [...n.alerts].sort((a, b) =>
    a.status === b.status ? (alertKey(a) < alertKey(b) ? -1 : 1) : a.status === 'firing' ? -1 : 1,
  );
  const rows = alerts.slice(0, MAX_ROWS).map((a) => {
    const state = a.status === 'firing' ? '🔥 firing' : '✅ resolved';
    const name = link(a.labels.alertname ?? 'alert', a.generatorURL);
    const summary = a.annotations.summary ?? a.annotations.description ?? a.annotations.message ?? '';
    const time =
      a.status === 'resolved' && a.endsAt ? `ended ${when(a.endsAt)}` : `since ${when(a.startsAt)}`;
    return `| ${state} | ${name} | ${labelsCell(a, hide)} | ${time} | ${inline(summary, 200)} |`;
  });
  const more = alerts.length > MAX_ROWS ? `\n\n…and ${alerts.length - MAX_ROWS} more alerts.` : '';
  return (
    ['| status | alert | labels | time | summary |', '| --- | --- | --- | --- | --- |', ...rows].join('\n') +
    more
  );
}

function runbooks(n: Notification): string {
  const urls = new Set<string>();
  for (const a of n.alerts) {
    const u = a.annotations.runbook_url ?? a.annotations.runbook;
    if (u) urls.add(u);
  }
  if (n.commonAnnotations.runbook_url) urls.add(n.commonAnnotations.runbook_url);
  return [...urls]
    .slice(0, 5)
    .map((u) => `- ${link('Runbook', u)} ${inline(u, 120)}`)
    .join('\n');
}

export function renderSummary(s: Summary): string {
  const list = (items: string[]): string => items.map((i) => `- ${inline(i, 500)}`).join('\n');
  const source =
    s.source === 'gemini'
      ? `<sub>Written by ${inline(s.model ?? 'Gemini', 60)} from the alerts and the context below; the alert text was given to it as data. Check before acting.${s.note ? ` ${inline(s.note, 200)}` : ''}</sub>`
      : `<sub>Deterministic summary built from the alerts and the context below (no Gemini: ${inline(s.note ?? 'not configured', 200)}).</sub>`;
  return [
    `**What is wrong:** ${inline(s.what, 800)}`,
    '',
    '**Likely causes**',
    list(s.causes),
    '',
    `**Impact:** ${inline(s.impact, 800)}`,
    '',
    '**Next steps**',
    list(s.nextSteps),
    '',
    source,
  ].join('\n');
}

const MAX_METRIC_ROWS = 12;
const num = (v: number): string => (Number.isInteger(v) ? String(v) : v.toPrecision(4));
/** Four significant digits without trailing zeros, for the table's columns. */
const short = (v: number): string => String(Number(v.toPrecision(4)));
const signed = (v: number): string => (v > 0 ? `+${short(v)}` : short(v));

/** The deployed version's metrics against the previous champion's, as a table under the list item. */
export function metricsTable(m: ModelContext): string[] {
  const before = m.predecessor?.metrics ?? {};
  const now = m.metrics ?? {};
  const keys = [...new Set([...Object.keys(now), ...Object.keys(before)])].sort();
  if (!m.predecessor || keys.length === 0) return [];
  const rows = keys.slice(0, MAX_METRIC_ROWS).map((k) => {
    const [a, b] = [now[k], before[k]];
    const delta = a !== undefined && b !== undefined ? signed(a - b) : '';
    return `  | ${inline(k, 60)} | ${a === undefined ? '–' : short(a)} | ${b === undefined ? '–' : short(b)} | ${delta} |`;
  });
  const more = keys.length > MAX_METRIC_ROWS ? [`  …and ${keys.length - MAX_METRIC_ROWS} more metrics.`] : [];
  return [
    '',
    `  | metric | deployed v${inline(m.version ?? '', 20)} | previous champion v${inline(m.predecessor.version, 20)} | Δ |`,
    '  | --- | ---: | ---: | ---: |',
    ...rows,
    ...more,
    '',
  ];
}

const shortSha = (c: Deploy): string => link(c.sha.slice(0, 7), c.url);

/** A model whose deploy commit says what runs: version, commit, previous champion, rollback PR. */
function renderDeployed(m: ModelContext, d: DeployedContext): string[] {
  const name = inline(m.name, 80);
  const version = m.versionUrl
    ? link(`version ${m.version}`, m.versionUrl)
    : `version ${inline(m.version ?? '', 20)}`;
  const where = d.commit.environment ? ` in ${inline(d.commit.environment, 40)}` : '';
  const date = when(d.commit.date);
  const run = m.runUrl ? ` · ${link('run', m.runUrl)}` : '';
  const lines = [
    `- **Model ${name}:** deployed${where} is ${version}, by GitOps commit ${shortSha(d.commit)}${date ? ` (${date})` : ''}${run}`,
  ];
  if (d.commit.rollbackOf)
    lines.push(`  - That commit rolls back ${inline(d.commit.rollbackOf.slice(0, 12), 12)}.`);
  if (d.previous) {
    const prev = d.previousUrl
      ? link(`version ${d.previous.version}`, d.previousUrl)
      : `version ${inline(d.previous.version, 20)}`;
    lines.push(`  - Previous champion: ${prev}, deployed by ${shortSha(d.previous)}.`);
  } else {
    const among = d.searched
      ? ` among the ${d.searched.commits} commits read under ${inline(d.searched.where, 200)}`
      : '';
    lines.push(`  - No earlier deploy of another version was found${among}: nothing to compare with.`);
  }
  if (m.error) lines.push(`  - Could not read MLflow (${inline(m.error, 200)}).`);
  if (m.classComparison) lines.push(`  - ${inline(m.classComparison, 400)}`);
  if (d.rollback)
    lines.push(
      `  - Rollback ready: ${link(`#${d.rollback.number}`, d.rollback.url)} ${inline(d.rollback.title, 120)}`,
    );
  else if (d.rollbackNote) lines.push(`  - Rollback: ${inline(d.rollbackNote, 300)}.`);
  return [...lines, ...metricsTable(m)];
}

/** A model looked up by its alias (no deploy commit names it). */
function renderAliased(m: ModelContext): string[] {
  const name = inline(m.name, 80);
  const note = m.note ? [`  - ${inline(m.note, 300)}.`] : [];
  if (m.error) return [`- **Model ${name}:** could not read MLflow (${inline(m.error, 200)}).`, ...note];
  if (!m.version)
    return [`- **Model ${name}:** no version has the alias ${inline(m.alias, 40)} in MLflow.`, ...note];
  const metrics = Object.entries(m.metrics ?? {})
    .slice(0, 8)
    .map(([k, v]) => `${k}=${num(v)}`)
    .join(', ');
  const run = m.runUrl ? ` · ${link('run', m.runUrl)}` : '';
  const version = m.versionUrl
    ? link(`version ${m.version}`, m.versionUrl)
    : `version ${inline(m.version, 20)}`;
  return [
    `- **Model ${name}:** ${inline(m.alias, 40)} is ${version}${run}${metrics ? ` · ${inline(metrics, 300)}` : ''}`,
    ...(m.classComparison ? [`  - ${inline(m.classComparison, 400)}`] : []),
    ...note,
  ];
}

export function renderContext(ctx: Context): string {
  const parts: string[] = [];
  for (const m of ctx.models) parts.push(...(m.deploy ? renderDeployed(m, m.deploy) : renderAliased(m)));
  if (ctx.commits) {
    const c = ctx.commits;
    const where = inline(gitopsWhere(c), 200);
    if (c.error)
      parts.push(`- **GitOps changes under ${where}:** could not list commits (${inline(c.error, 200)}).`);
    else if (c.items.length === 0) parts.push(`- **GitOps changes under ${where}:** no commits found.`);
    else {
      parts.push(`- **Last GitOps changes under ${where}:**`);
      for (const k of c.items.slice(0, SHOWN_COMMITS)) {
        parts.push(
          `  - ${link(k.sha.slice(0, 7), k.url)} ${inline(k.message.split('\n')[0] ?? '', 100)} (${inline(k.author, 40)}, ${when(k.date)})`,
        );
      }
    }
  }
  return parts.join('\n');
}

export interface BodyInput {
  n: Notification;
  group: GroupId;
  state: IssueState;
  summary: Summary;
  context: Context;
  severityLabel: string;
  previous?: number;
  runLink?: string;
}

export function issueBody(i: BodyInput): string {
  const { n, group } = i;
  const description = n.commonAnnotations.description ?? n.commonAnnotations.summary;
  const context = renderContext(i.context);
  const books = runbooks(n);
  const groupLines = [
    `- Group: ${group.basis === 'groupKey' ? `key ${inline(n.groupKey ?? '', 200)}` : `receiver ${inline(n.receiver, 80)}, group labels ${inline(JSON.stringify(n.groupLabels), 200)}`}`,
    `- Label: \`${group.label}\` (the action finds this issue by it: keep it)`,
    n.externalURL ? `- ${link('Alertmanager', n.externalURL)}` : '',
    i.previous ? `- Follows #${i.previous}, closed earlier for the same alert group.` : '',
  ].filter(Boolean);
  const body = [
    stateMarker(i.state),
    headline(n, i.severityLabel),
    description ? `\n${block(description, 1500)}` : '',
    '',
    '### Summary',
    '',
    renderSummary(i.summary),
    '',
    '### Alerts',
    '',
    alertsTable(n),
    books ? `\n${books}` : '',
    context ? `\n### Context\n\n${context}` : '',
    '',
    '### Alert group',
    '',
    ...groupLines,
    '',
    `<sub>Opened by alert-to-issue${i.runLink ? ` in ${link('this run', i.runLink)}` : ''}. Later notifications of this group are added as comments; a resolved notification closes it.</sub>`,
  ].join('\n');
  return body.length > MAX_BODY ? `${body.slice(0, MAX_BODY)}\n\n…(truncated)` : body;
}

export function notificationComment(
  n: Notification,
  fp: string,
  opts: { severityLabel: string; note?: string; runLink?: string },
): string {
  const text = [
    notificationMarker(fp),
    headline(n, opts.severityLabel),
    opts.note ? `\n${opts.note}` : '',
    '',
    alertsTable(n),
    opts.runLink ? `\n<sub>${link('alert-to-issue run', opts.runLink)}</sub>` : '',
  ].join('\n');
  return text.length > MAX_BODY ? `${text.slice(0, MAX_BODY)}\n\n…(truncated)` : text;
}
