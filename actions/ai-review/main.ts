/** ai-review: a Gemini review of a pull request, posted as one COMMENT review plus a summary comment kept up to date. */
import * as core from '@actions/core';
import * as github from '@actions/github';
import { InputError } from '../shared/errors.js';
import { Gemini } from '../shared/gemini/index.js';
import { createOctokit, parseRepo } from '../shared/github.js';
import * as input from '../shared/inputs.js';
import { run } from '../shared/run.js';
import { analyse } from './analyse.js';
import { commentableLines } from './diff.js';
import { selectFiles } from './paths.js';
import { place } from './placement.js';
import { postReview, summaryBody, upsertSummary } from './publish.js';
import { listPullFiles, previousReview, reviewScope } from './scope.js';
import { skipReason } from './skip.js';

await run(async () => {
  const token = input.required('github-token');
  const geminiKey = input.secret('gemini-api-key');
  const model = input.string('model', 'gemini-2.5-flash-lite');
  const fallbackModels = input.list('fallback-models');
  const include = input.list('include', { commas: false });
  const exclude = input.list('exclude', { commas: false });
  const maxComments = input.number('max-comments', 10, { min: 0, max: 100, integer: true });
  const maxInputTokens = input.number('max-input-tokens', 30_000, {
    min: 2_000,
    max: 1_000_000,
    integer: true,
  });
  const timeoutMs = input.duration('request-timeout', 60_000);
  const reviewDrafts = input.boolean('review-drafts', false);
  const reviewForks = input.boolean('review-forks', false);
  const incremental = input.boolean('incremental', true);
  const repo = parseRepo(undefined);

  const fromEvent = (github.context.payload.pull_request as { number?: number } | undefined)?.number;
  const pull_number = input.number('pull-number', fromEvent ?? 0, { min: 1, integer: true });
  if (!pull_number) {
    throw new InputError(
      'pull-number',
      `a pull request number (the ${github.context.eventName} event carries none)`,
    );
  }

  const octokit = createOctokit(token);
  const { data: pr } = await octokit.rest.pulls.get({ ...repo, pull_number });
  const head = pr.head.sha;
  const setOutputs = (o: {
    reviewId?: number;
    comments: number;
    url: string;
    sha: string;
    ai: boolean;
    model?: string;
    skipped?: string;
  }): void => {
    core.setOutput('review-id', o.reviewId === undefined ? '' : String(o.reviewId));
    core.setOutput('comments', String(o.comments));
    core.setOutput('summary-comment-url', o.url);
    core.setOutput('reviewed-sha', o.sha);
    core.setOutput('ai-used', String(o.ai));
    core.setOutput('model', o.model ?? '');
    core.setOutput('skipped', o.skipped ?? '');
  };

  const skip = skipReason(pr, { reviewDrafts, reviewForks });
  if (skip) {
    core.notice(`ai-review skipped pull request #${pull_number}: ${skip}`);
    setOutputs({ comments: 0, url: '', sha: '', ai: false, skipped: skip });
    return;
  }

  const where = { ...repo, issue_number: pull_number };
  const previous = await previousReview(octokit, where);
  if (previous?.sha === head && incremental) {
    core.info(`Commit ${head} was already reviewed; nothing new to review.`);
    setOutputs({ comments: 0, url: previous.url, sha: head, ai: false, skipped: 'already reviewed' });
    return;
  }

  const prFiles = await listPullFiles(octokit, repo, pull_number);
  const scope = await reviewScope(octokit, repo, prFiles, head, incremental ? previous?.sha : undefined);
  const { review: files, skipped } = selectFiles(scope.files, include, exclude);
  core.info(
    `Reviewing ${files.length} file(s)${scope.since ? ` changed since ${scope.since}` : ''}; ${skipped.length} skipped.`,
  );

  const gemini = new Gemini({ apiKey: geminiKey, model, fallbackModels, maxInputTokens, timeoutMs });
  const analysis = await analyse(
    gemini,
    files,
    {
      number: pull_number,
      title: pr.title,
      body: pr.body ?? '',
      repo: `${repo.owner}/${repo.repo}`,
      incremental: !!scope.since,
    },
    maxInputTokens,
  );

  const diff = new Map(prFiles.map((f) => [f.filename, commentableLines(f.patch)]));
  const placement = place(analysis.findings, diff, maxComments);
  const secrets = [token, geminiKey ?? ''];
  const headline = analysis.aiUsed
    ? `Gemini review of \`${head.slice(0, 7)}\`: ${placement.inline.length} inline comment(s). The summary is in the pull request conversation.`
    : `Rule checks of \`${head.slice(0, 7)}\` (Gemini unavailable): ${placement.inline.length} inline comment(s).`;
  const posted = await postReview(octokit, repo, pull_number, head, placement, headline, secrets);
  const body = summaryBody({
    analysis,
    placement,
    scope,
    head,
    skipped,
    reviewUrl: posted.url,
    secrets,
    previousBody: scope.since ? previous?.body : undefined,
  });
  const url = await upsertSummary(octokit, where, previous, body);

  setOutputs({
    reviewId: posted.id,
    comments: posted.comments,
    url,
    sha: head,
    ai: analysis.aiUsed,
    model: analysis.model,
  });
  await core.summary
    .addHeading('AI review', 3)
    .addRaw(
      `${analysis.aiUsed ? `Gemini \`${analysis.model}\`` : 'Gemini unavailable: rule checks only'}; ${files.length} file(s) reviewed, ${posted.comments} inline comment(s), ${placement.elsewhere.length} in the summary. [Summary comment](${url})`,
      true,
    )
    .write();
});
