/** alert-to-issue: an Alertmanager notification in, one GitHub issue per alert group out. */
import { readFileSync } from 'node:fs';
import * as core from '@actions/core';
import { InputError } from '../shared/errors.js';
import { Gemini } from '../shared/gemini/index.js';
import { createOctokit, parseRepo, runUrl } from '../shared/github.js';
import * as inputs from '../shared/inputs.js';
import { oneLine } from '../shared/log-safe.js';
import { run } from '../shared/run.js';
import { gitopsCommits, modelContext, type Context } from './context.js';
import { groupId, notificationFingerprint } from './group.js';
import { reconcile } from './issues.js';
import { allowedLabels, parseAllowlist, parseStaticLabels, unique } from './labels.js';
import { issueBody, issueTitle, notificationComment } from './render.js';
import { summarize } from './summary.js';
import { extractNotification, PayloadError, type Extracted } from './webhook.js';

function readPayload(eventType: string): Extracted | undefined {
  const direct = inputs.optional('payload');
  const file = inputs.optional('payload-file');
  const parse = (text: string, input: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new InputError(
        input,
        'an Alertmanager webhook body as JSON',
        `${text.slice(0, 60)}: ${(err as Error).message}`,
      );
    }
  };
  const extract = (raw: unknown, source: string, input?: string): Extracted => {
    try {
      return extractNotification(raw, source);
    } catch (err) {
      if (err instanceof PayloadError && input)
        throw new InputError(input, `a valid Alertmanager notification (${err.message})`);
      if (err instanceof PayloadError)
        throw new Error(
          `The repository_dispatch payload is not a valid Alertmanager notification: ${err.message}`,
        );
      throw err;
    }
  };
  if (direct) return extract(parse(direct, 'payload'), 'payload', 'payload');
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new InputError(
        'payload-file',
        'a readable file',
        `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    return extract(parse(text, 'payload-file'), 'payload-file', 'payload-file');
  }
  const eventName = process.env.GITHUB_EVENT_NAME;
  if (eventName !== 'repository_dispatch') {
    throw new InputError(
      'payload',
      `a notification: set payload or payload-file, or run on repository_dispatch (this run is ${eventName ?? 'unknown'})`,
    );
  }
  const path = process.env.GITHUB_EVENT_PATH;
  if (!path) throw new Error('GITHUB_EVENT_PATH is not set; cannot read the repository_dispatch event');
  const event = JSON.parse(readFileSync(path, 'utf8')) as { action?: string; client_payload?: unknown };
  if (event.action !== eventType) {
    core.notice(
      `repository_dispatch event type '${oneLine(event.action)}' is not '${eventType}' (input event-type): nothing to do`,
    );
    return undefined;
  }
  if (event.client_payload === undefined)
    throw new Error('The repository_dispatch event has no client_payload');
  return extract({ client_payload: event.client_payload }, 'event');
}

async function main(): Promise<void> {
  const token = inputs.secret('github-token');
  if (!token) throw new InputError('github-token', 'a token with issues: write (default: github.token)', '');
  const repo = parseRepo(inputs.optional('repository'));
  const eventType = inputs.string('event-type', 'alertmanager');
  const staticLabels = parseStaticLabels(inputs.list('labels'));
  const allowlist = parseAllowlist(inputs.list('label-allowlist'));
  const severityLabel = inputs.string('severity-label', 'severity');
  const closeOnResolve = inputs.boolean('close-on-resolve', true);
  const reopenWindowMs = inputs.duration('reopen-window', 24 * 3_600_000);
  const gitopsPath = inputs.optional('gitops-path');
  const trackingUri = inputs.optional('tracking-uri');
  const modelLabel = inputs.string('model-label', 'model');
  const alias = inputs.string('champion-alias', 'champion');
  const geminiKey = inputs.secret('gemini-api-key');
  const gemini = new Gemini({
    apiKey: geminiKey,
    model: inputs.optional('model'),
    fallbackModels: inputs.list('fallback-models'),
    timeoutMs: 45_000,
  });

  const extracted = readPayload(eventType);
  if (!extracted) {
    core.setOutput('action', 'skipped');
    return;
  }
  const { notification: n, form, relay } = extracted;
  const group = groupId(n);
  const fp = notificationFingerprint(n, group);
  core.info(
    `${n.status} notification (${form} form${relay?.id ? `, relay id ${oneLine(relay.id)}` : ''}) with ${n.alerts.length} alerts; group ${oneLine(group.label)} from ${oneLine(group.basis)}; notification ${oneLine(fp)}`,
  );

  const octokit = createOctokit(token);
  const link = runUrl();
  const outcome = await reconcile({
    octokit,
    repo,
    n,
    group,
    fingerprint: fp,
    title: issueTitle(n, group),
    labels: unique([...staticLabels, ...allowedLabels(n, allowlist), group.label]),
    closeOnResolve,
    reopenWindowMs,
    comment: (note) => notificationComment(n, fp, { severityLabel, note, runLink: link }),
    body: async (state, previous) => {
      const [models, commits] = await Promise.all([
        modelContext(n, { trackingUri, modelLabel, alias }),
        gitopsPath ? gitopsCommits(octokit, repo, gitopsPath) : Promise.resolve(undefined),
      ]);
      const context: Context = { models, ...(commits ? { commits } : {}) };
      const summary = await summarize(gemini, n, context, [token, geminiKey], severityLabel);
      if (summary.source === 'deterministic') core.info(`Deterministic summary: ${oneLine(summary.note)}`);
      else core.info(`Summary by ${oneLine(summary.model)}`);
      return issueBody({ n, group, state, summary, context, severityLabel, previous, runLink: link });
    },
  });

  core.info(`${outcome.action}: ${oneLine(outcome.reason)}`);
  core.setOutput('action', outcome.action);
  if (outcome.number !== undefined) core.setOutput('issue-number', String(outcome.number));
  if (outcome.url) core.setOutput('issue-url', outcome.url);
  await core.summary
    .addHeading('alert-to-issue', 3)
    .addRaw(
      `${outcome.action}${outcome.number ? ` #${outcome.number}` : ''}: ${outcome.reason}. Group \`${group.label}\`, ${n.status}, ${n.alerts.length} alert${n.alerts.length === 1 ? '' : 's'}.`,
      true,
    )
    .write();
}

await run(main);
