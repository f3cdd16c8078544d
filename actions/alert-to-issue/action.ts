/**
 * alert-to-issue's logic as a function of its inputs and of the clients it talks to, so that tests
 * can call it in-process; main.ts only reads the inputs and hands the result to the runner.
 */
import * as core from '@actions/core';
import { Gemini, type GeminiOptions } from '../shared/gemini/index.js';
import { createOctokit, type Octokit, type Repo } from '../shared/github.js';
import { oneLine } from '../shared/log-safe.js';
import { cell } from '../shared/markdown.js';
import { attachRollbacks, gitopsCommits, historyEnough, modelContext, type Context } from './context.js';
import { groupId, notificationFingerprint, type GroupId } from './group.js';
import type { Inputs } from './inputs.js';
import { reconcile, type Outcome } from './issues.js';
import { allowedLabels, unique } from './labels.js';
import { issueBody, issueTitle, notificationComment } from './render.js';
import { summarize } from './summary.js';
import type { Notification } from './webhook.js';

export interface Deps {
  octokit: (token: string) => Octokit;
  gemini: (options: GeminiOptions) => Pick<Gemini, 'generateJson' | 'enabled'>;
  /** The live model versions named in the alert labels, from the deploy commits and MLflow. */
  models: typeof modelContext;
}

export const defaultDeps: Deps = {
  octokit: (token) => createOctokit(token),
  gemini: (options) => new Gemini(options),
  models: modelContext,
};

export interface Outputs {
  action: Outcome['action'];
  'issue-number'?: string;
  'issue-url'?: string;
}

export interface Result {
  outputs: Outputs;
  /** Markdown for the job summary; absent when the event was not one to act on. */
  stepSummary?: string;
}

const fullName = (r: Repo): string => `${r.owner}/${r.repo}`.toLowerCase();

/** The issue body, built only when an issue is opened: context and Gemini are not free. */
function bodyBuilder(
  inputs: Inputs,
  deps: Deps,
  octokit: Octokit,
  n: Notification,
  group: GroupId,
  /** Told who wrote the summary, for the job summary. */
  onSummary: (written: string) => void,
) {
  const { gitopsPath, severityLabel, gitops, modelLabel } = inputs;
  const gemini = deps.gemini(inputs.gemini);
  // The GitOps repository is often another one, read with its own token (GITHUB_TOKEN sees one repository).
  const gitopsOctokit = gitops.token === inputs.token ? octokit : deps.octokit(gitops.token);
  const elsewhere = fullName(gitops.repo) !== fullName(inputs.repo);
  return async (state: Parameters<typeof issueBody>[0]['state'], previous?: number): Promise<string> => {
    // The deploy commits say what runs, so the history is read before the models are looked up.
    const commits = gitopsPath
      ? await gitopsCommits(gitopsOctokit, gitops.repo, gitopsPath, {
          enough: historyEnough(n, modelLabel),
          tokenInput: gitops.tokenInput,
        })
      : undefined;
    if (commits && elsewhere) commits.repository = `${gitops.repo.owner}/${gitops.repo.repo}`;
    const { mlflow, alias } = inputs;
    const models = await deps.models(n, { mlflow, modelLabel, alias, ...(commits && { commits }) });
    await attachRollbacks(gitopsOctokit, gitops.repo, models, gitops.tokenInput);
    const context: Context = { models, ...(commits ? { commits } : {}) };
    const secrets = [inputs.token, gitops.token, inputs.gemini.apiKey];
    const summary = await summarize(gemini, n, context, secrets, severityLabel);
    const written =
      summary.source === 'deterministic'
        ? `deterministic (${summary.note ?? 'no reason given'})`
        : `by Gemini (${summary.model ?? 'unknown model'})`;
    core.info(`Summary ${oneLine(written)}`);
    onSummary(written);
    return issueBody({ n, group, state, summary, context, severityLabel, previous, runLink: inputs.runLink });
  };
}

const DONE: Record<Outcome['action'], string> = {
  created: 'Opened',
  commented: 'Commented on',
  closed: 'Commented on and closed',
  reopened: 'Commented on and reopened',
  skipped: 'Left unchanged',
};

/** The job summary: the issue linked, what this run did to it, and with what. */
export function renderSummary(outcome: Outcome, n: Notification, group: GroupId, written?: string): string {
  const issue = outcome.number !== undefined ? `#${outcome.number}` : undefined;
  const linked = issue && outcome.url ? `[${issue}](${outcome.url})` : issue;
  const head = linked
    ? `**${DONE[outcome.action]}** ${linked}: ${cell(outcome.reason)}.`
    : `**Nothing to do**: ${cell(outcome.reason)}.`;
  const alerts = `${n.alerts.length} alert${n.alerts.length === 1 ? '' : 's'}`;
  const lines = ['### alert-to-issue', '', head, '', `- Action: \`${outcome.action}\``];
  if (outcome.labels?.length) lines.push(`- Labels: ${outcome.labels.map(cell).join(', ')}`);
  lines.push(`- Group: ${cell(group.label)}, ${n.status}, ${alerts}`);
  if (written) lines.push(`- Summary: ${cell(written)}`);
  return [...lines, ''].join('\n');
}

export async function main(inputs: Inputs, deps: Deps = defaultDeps): Promise<Result> {
  if (!inputs.notification) {
    core.notice(inputs.skipped ?? 'no notification: nothing to do');
    return { outputs: { action: 'skipped' } };
  }
  const { notification: n, form, relay } = inputs.notification;
  const group = groupId(n);
  const fp = notificationFingerprint(n, group);
  core.info(
    `${n.status} notification (${form} form${relay?.id ? `, relay id ${oneLine(relay.id)}` : ''}) with ${n.alerts.length} alerts; group ${oneLine(group.label)} from ${oneLine(group.basis)}; notification ${oneLine(fp)}`,
  );
  const octokit = deps.octokit(inputs.token);
  const { severityLabel, runLink } = inputs;
  let written: string | undefined;
  const outcome = await reconcile({
    octokit,
    repo: inputs.repo,
    n,
    group,
    fingerprint: fp,
    title: issueTitle(n, group),
    labels: unique([...inputs.staticLabels, ...allowedLabels(n, inputs.allowlist), group.label]),
    closeOnResolve: inputs.closeOnResolve,
    reopenWindowMs: inputs.reopenWindowMs,
    comment: (note) => notificationComment(n, fp, { severityLabel, note, runLink }),
    body: bodyBuilder(inputs, deps, octokit, n, group, (w) => (written = w)),
  });
  core.info(`${outcome.action}: ${oneLine(outcome.reason)}`);
  return {
    outputs: {
      action: outcome.action,
      ...(outcome.number !== undefined && { 'issue-number': String(outcome.number) }),
      ...(outcome.url && { 'issue-url': outcome.url }),
    },
    stepSummary: renderSummary(outcome, n, group, written),
  };
}

export async function writeResult({ outputs, stepSummary }: Result): Promise<void> {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value);
  if (stepSummary !== undefined) await core.summary.addRaw(stepSummary, true).write();
}
