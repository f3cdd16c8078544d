/**
 * The issue's summary: what is wrong, likely causes, impact, next steps. Gemini writes it from
 * the alerts (fenced as untrusted data) and the gathered context; without a key, or when Gemini
 * fails, a deterministic summary is built from the same data and says so.
 */
import { classDeltas } from '../shared/analysis/index.js';
import { redact, type Gemini, type PromptPart } from '../shared/gemini/index.js';
import { gitopsWhere, SHOWN_COMMITS, type Context, type ModelContext } from './context.js';
import type { Notification } from './webhook.js';

export interface SummaryText {
  what: string;
  causes: string[];
  impact: string;
  nextSteps: string[];
}

export interface Summary extends SummaryText {
  source: 'gemini' | 'deterministic';
  model?: string;
  /** Why the summary is deterministic, or what Gemini's input left out. */
  note?: string;
}

export const SUMMARY_SCHEMA = {
  type: 'object',
  properties: {
    what: {
      type: 'string',
      description: 'One or two sentences: what is wrong, in plain words.',
      maxLength: 800,
    },
    causes: {
      type: 'array',
      description: 'Likely causes, most likely first, grounded in the alerts and context.',
      items: { type: 'string', maxLength: 400 },
      minItems: 1,
      maxItems: 5,
    },
    impact: { type: 'string', description: 'Who or what is affected and how badly.', maxLength: 800 },
    nextSteps: {
      type: 'array',
      description: 'Concrete next steps for the on-call engineer, in order.',
      items: { type: 'string', maxLength: 400 },
      minItems: 1,
      maxItems: 6,
    },
  },
  required: ['what', 'causes', 'impact', 'nextSteps'],
  additionalProperties: false,
} as const;

export const SYSTEM = [
  'You are an SRE assistant for a machine-learning platform (models trained and registered in MLflow,',
  'deployed by GitOps with ArgoCD, monitored by Prometheus and Alertmanager).',
  'Summarise an alert notification for the GitHub issue that tracks it: what is wrong, the likely causes,',
  'the impact, and the next steps. Base every statement on the alerts and the context given; say when',
  'something is a guess. Relate the alert to the live model version and the recent GitOps changes when',
  'the timing or the labels make that plausible. Do not mention people, do not use slash commands, do not',
  'propose labels, and write plain sentences without markdown links or HTML.',
  'When a comparison of the live version with its predecessor is given, say whether the live version',
  'was weaker than its predecessor on the affected class; when its baseline is the previous champion, the',
  'predecessor is the version deployed before it, and an open rollback pull request restores that one.',
  'Answer with JSON matching the schema.',
].join(' ');

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

export function isSummaryText(v: unknown): v is SummaryText {
  const o = v as Partial<SummaryText> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.what === 'string' &&
    o.what.trim() !== '' &&
    typeof o.impact === 'string' &&
    isStrings(o.causes) &&
    isStrings(o.nextSteps)
  );
}

/** The alerts as data for the model: only the fields that matter, no relay metadata. */
export function alertsForModel(n: Notification): string {
  return JSON.stringify(
    {
      status: n.status,
      groupLabels: n.groupLabels,
      commonLabels: n.commonLabels,
      commonAnnotations: n.commonAnnotations,
      truncatedAlerts: n.truncatedAlerts ?? 0,
      alerts: n.alerts.slice(0, 50).map((a) => ({
        status: a.status,
        labels: a.labels,
        annotations: a.annotations,
        startsAt: a.startsAt,
        endsAt: a.endsAt,
      })),
    },
    null,
    1,
  );
}

/** Trailer values are commit text: only a plain name reaches the trusted part. */
const plain = (v: string | undefined): string | undefined => (v && /^[\w.-]{1,40}$/.test(v) ? v : undefined);

function modelForModel(m: ModelContext): string {
  const metrics = m.metrics && Object.keys(m.metrics).length ? `; metrics ${JSON.stringify(m.metrics)}` : '';
  if (m.deploy) {
    const d = m.deploy;
    const env = plain(d.commit.environment);
    return (
      `Model ${m.name}: GitOps commit ${d.commit.sha.slice(0, 12)} deploys version ${m.version}${env ? ` to ${env}` : ''}${metrics}` +
      (d.previous
        ? `; the previous champion (deployed before it by ${d.previous.sha.slice(0, 12)}) is version ${d.previous.version}`
        : '; no earlier deploy of another version') +
      (d.rollback ? `; rollback pull request #${d.rollback.number} is open.` : '.') +
      (m.error ? ' The MLflow lookup failed.' : '')
    );
  }
  if (m.error) return `Model ${m.name}: MLflow lookup failed.`;
  return m.version
    ? `Model ${m.name}: alias "${m.alias}" points to version ${m.version}${metrics}`
    : `Model ${m.name}: no version has the alias "${m.alias}".`;
}

export function contextForModel(ctx: Context): { trusted: string; commits?: string } {
  const models = ctx.models.map(modelForModel);
  const commits = ctx.commits?.items.length
    ? ctx.commits.items
        .slice(0, SHOWN_COMMITS)
        .map((c) => `${c.sha.slice(0, 7)} ${c.date ?? ''} ${c.author}: ${c.message.split('\n')[0]}`)
        .join('\n')
    : undefined;
  return {
    trusted: models.length
      ? models.join('\n')
      : 'No model is named in the alert labels, or MLflow is not configured.',
    commits,
  };
}

/** The live versions against their predecessors, per class, for the model. */
export function comparisonForModel(models: Context['models']): string {
  return JSON.stringify(
    models.map((m) => ({
      model: m.name,
      live: m.version,
      predecessor: m.predecessor?.version,
      ...(m.baseline && { baseline: m.baseline }),
      affectedClass: m.affectedClass,
      perClass: classDeltas(m.metrics ?? {}, m.predecessor?.metrics ?? {})
        .filter((d) => !m.affectedClass || d.cls.toLowerCase() === m.affectedClass.toLowerCase())
        .slice(0, 20),
      verdict: m.classComparison,
    })),
  );
}

/** What serves, as the deploy commit (or else the alias) says. */
function servingCause(m: ModelContext): string {
  const d = m.deploy;
  if (!d)
    return `Model ${m.name} version ${m.version} (${m.alias}) is the one serving; check whether it changed recently.`;
  const before = d.previous ? `; the previous champion was version ${d.previous.version}` : '';
  return `Model ${m.name} version ${m.version} is the one deployed, by GitOps commit ${d.commit.sha.slice(0, 7)}${before}.`;
}

export function deterministicSummary(
  n: Notification,
  ctx: Context,
  note: string,
  severityLabel = 'severity',
): Summary {
  const firing = n.alerts.filter((a) => a.status === 'firing');
  const name =
    n.groupLabels.alertname ?? n.commonLabels.alertname ?? n.alerts[0]?.labels.alertname ?? 'An alert';
  const text = (a: { annotations: Record<string, string> }): string | undefined =>
    a.annotations.summary ?? a.annotations.description;
  const first = text({ annotations: n.commonAnnotations }) ?? (firing[0] ? text(firing[0]) : undefined);
  const what =
    n.status === 'firing'
      ? `${name} is firing for ${firing.length} alert${firing.length === 1 ? '' : 's'}${first ? `: ${first}` : '.'}`
      : `${name} has resolved (${n.alerts.length} alert${n.alerts.length === 1 ? '' : 's'}).`;
  const causes: string[] = [];
  const live = ctx.models.filter((m) => m.version);
  // A class the live version got worse at is the most specific lead there is.
  for (const m of live) if (m.classComparison) causes.push(m.classComparison);
  for (const m of live) causes.push(servingCause(m));
  const last = ctx.commits?.items[0];
  if (last) {
    causes.push(
      `The last GitOps change under ${gitopsWhere(ctx.commits!)} was ${last.sha.slice(0, 7)} (${last.message.split('\n')[0]}${last.date ? `, ${last.date}` : ''}); a recent deployment may be related.`,
    );
  }
  if (causes.length === 0)
    causes.push('Not determined automatically: see the alert expressions and dashboards.');
  const severity =
    n.commonLabels[severityLabel] ?? n.alerts.find((a) => a.labels[severityLabel])?.labels[severityLabel];
  const impact = severity
    ? `Severity ${severity}; ${firing.length} of ${n.alerts.length} alerts firing.`
    : `${firing.length} of ${n.alerts.length} alerts firing.`;
  const nextSteps: string[] = [];
  const runbook =
    n.commonAnnotations.runbook_url ??
    n.alerts.find((a) => a.annotations.runbook_url)?.annotations.runbook_url;
  if (runbook) nextSteps.push(`Follow the runbook: ${runbook}`);
  nextSteps.push('Open the alert source (links in the table) and confirm the condition still holds.');
  const rollbacks = live.filter((m) => m.deploy?.rollback);
  for (const m of rollbacks) {
    const d = m.deploy!;
    nextSteps.push(
      `If version ${m.version} of ${m.name} is the cause, review and merge rollback pull request #${d.rollback!.number}${d.previous ? ` (it puts back version ${d.previous.version})` : ''}.`,
    );
  }
  if (last && rollbacks.length === 0)
    nextSteps.push(
      `Compare with the state before ${last.sha.slice(0, 7)}; roll back through GitOps if it is the cause.`,
    );
  if (live.length)
    nextSteps.push('Check the live model version and its metrics in MLflow (link in Context).');
  return { what, causes, impact, nextSteps, source: 'deterministic', note };
}

export async function summarize(
  gemini: Pick<Gemini, 'generateJson' | 'enabled'>,
  n: Notification,
  ctx: Context,
  secrets: Array<string | undefined> = [],
  severityLabel = 'severity',
): Promise<Summary> {
  if (!gemini.enabled) return deterministicSummary(n, ctx, 'no Gemini API key was given', severityLabel);
  const c = contextForModel(ctx);
  const parts: PromptPart[] = [
    { label: 'Context from MLflow (trusted)', text: c.trusted },
    { label: 'alertmanager-notification', text: alertsForModel(n), untrusted: true },
  ];
  // Metric names come from the training script: the comparison is data too.
  const compared = ctx.models.filter((m) => m.predecessor);
  if (compared.length)
    parts.push({ label: 'mlflow-live-vs-predecessor', text: comparisonForModel(compared), untrusted: true });
  // Commit messages are written by anyone with push access: data, not instructions.
  if (c.commits)
    parts.push({ label: `gitops-commits ${ctx.commits!.path}`, text: c.commits, untrusted: true });
  const res = await gemini.generateJson<SummaryText>({
    system: SYSTEM,
    parts,
    schema: SUMMARY_SCHEMA,
    validate: isSummaryText,
  });
  if (!res.ok) return deterministicSummary(n, ctx, `Gemini failed: ${res.reason}`, severityLabel);
  // The model never sees a secret, but a reply is posted publicly: strip any that appear anyway.
  const clean = (t: string): string => redact(t, secrets);
  return {
    what: clean(res.value.what),
    causes: res.value.causes.map(clean),
    impact: clean(res.value.impact),
    nextSteps: res.value.nextSteps.map(clean),
    source: 'gemini',
    model: res.model,
    note: res.note,
  };
}
