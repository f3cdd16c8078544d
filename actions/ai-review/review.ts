/**
 * ai-review's logic as a function of its inputs and of the clients it talks to, so that tests
 * can call it in-process; main.ts only reads the inputs and hands the outputs to the runner.
 */
import * as core from '@actions/core';
import { Gemini, type GeminiOptions } from '../shared/gemini/index.js';
import { createOctokit, type Octokit } from '../shared/github.js';
import { analyse, type Analysis } from './analyse.js';
import { commentableLines, type ChangedFile } from './diff.js';
import type { Inputs } from './inputs.js';
import { selectFiles } from './paths.js';
import { place } from './placement.js';
import { postReview, summaryBody, upsertSummary } from './publish.js';
import { listPullFiles, previousReview, reviewScope } from './scope.js';
import { skipReason } from './skip.js';

export interface Deps {
  octokit: (token: string) => Octokit;
  gemini: (options: GeminiOptions) => Gemini;
}

export const defaultDeps: Deps = {
  octokit: (token) => createOctokit(token),
  gemini: (options) => new Gemini(options),
};

export interface Outputs {
  reviewId?: number;
  comments: number;
  url: string;
  sha: string;
  ai: boolean;
  model?: string;
  skipped?: string;
}

export interface Result {
  outputs: Outputs;
  /** Markdown line for the step summary (under an "AI review" heading); absent when skipped. */
  stepSummary?: string;
}

export async function main(inputs: Inputs, deps: Deps = defaultDeps): Promise<Result> {
  const { repo, pullNumber: pull_number } = inputs;
  const octokit = deps.octokit(inputs.token);
  const { data: pr } = await octokit.rest.pulls.get({ ...repo, pull_number });
  const head = pr.head.sha;

  const skip = skipReason(pr, inputs);
  if (skip) {
    core.notice(`ai-review skipped pull request #${pull_number}: ${skip}`);
    return { outputs: { comments: 0, url: '', sha: '', ai: false, skipped: skip } };
  }

  const where = { ...repo, issue_number: pull_number };
  const previous = await previousReview(octokit, where);
  if (previous?.sha === head && inputs.incremental) {
    core.info(`Commit ${head} was already reviewed; nothing new to review.`);
    return {
      outputs: { comments: 0, url: previous.url, sha: head, ai: false, skipped: 'already reviewed' },
    };
  }

  const prFiles = await listPullFiles(octokit, repo, pull_number);
  const since = inputs.incremental ? previous?.sha : undefined;
  const { scope, files, skipped } = await filesToReview(octokit, inputs, prFiles, head, since);

  const analysis = await analyse(
    deps.gemini(geminiOptions(inputs)),
    files,
    {
      number: pull_number,
      title: pr.title,
      body: pr.body ?? '',
      repo: `${repo.owner}/${repo.repo}`,
      incremental: !!scope.since,
    },
    inputs.maxInputTokens,
  );

  const placement = place(analysis.findings, diffLines(prFiles), inputs.maxComments);
  const secrets = [inputs.token, inputs.geminiKey ?? ''];
  const posted = await postReview(
    octokit,
    repo,
    pull_number,
    head,
    placement,
    headline(analysis, head, placement.inline.length),
    secrets,
  );
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

  return {
    outputs: {
      reviewId: posted.id,
      comments: posted.comments,
      url,
      sha: head,
      ai: analysis.aiUsed,
      model: analysis.model,
    },
    stepSummary: `${analysis.aiUsed ? `Gemini \`${analysis.model}\`` : 'Gemini unavailable: rule checks only'}; ${files.length} file(s) reviewed, ${posted.comments} inline comment(s), ${placement.elsewhere.length} in the summary. [Summary comment](${url})`,
  };
}

/** The files of this review: the PR's (or those changed since the last reviewed commit), filtered. */
async function filesToReview(
  octokit: Octokit,
  inputs: Inputs,
  prFiles: Awaited<ReturnType<typeof listPullFiles>>,
  head: string,
  since: string | undefined,
) {
  const scope = await reviewScope(octokit, inputs.repo, prFiles, head, since);
  const { review: files, skipped } = selectFiles(scope.files, inputs.include, inputs.exclude);
  core.info(
    `Reviewing ${files.length} file(s)${scope.since ? ` changed since ${scope.since}` : ''}; ${skipped.length} skipped.`,
  );
  return { scope, files, skipped };
}

const geminiOptions = (inputs: Inputs): GeminiOptions => ({
  apiKey: inputs.geminiKey,
  baseUrl: inputs.geminiBaseUrl,
  model: inputs.model,
  fallbackModels: inputs.fallbackModels,
  maxInputTokens: inputs.maxInputTokens,
  timeoutMs: inputs.timeoutMs,
});

/** Every file of the PR (not only the reviewed ones): a finding may cite any line GitHub accepts. */
const diffLines = (prFiles: ChangedFile[]): Map<string, Set<number>> =>
  new Map(prFiles.map((f) => [f.filename, commentableLines(f.patch)]));

function headline(analysis: Analysis, head: string, inline: number): string {
  return analysis.aiUsed
    ? `Gemini review of \`${head.slice(0, 7)}\`: ${inline} inline comment(s). The summary is in the pull request conversation.`
    : `Rule checks of \`${head.slice(0, 7)}\` (Gemini unavailable): ${inline} inline comment(s).`;
}

/** The outputs and step summary, as the runner reads them. */
export async function writeResult({ outputs: o, stepSummary }: Result): Promise<void> {
  core.setOutput('review-id', o.reviewId === undefined ? '' : String(o.reviewId));
  core.setOutput('comments', String(o.comments));
  core.setOutput('summary-comment-url', o.url);
  core.setOutput('reviewed-sha', o.sha);
  core.setOutput('ai-used', String(o.ai));
  core.setOutput('model', o.model ?? '');
  core.setOutput('skipped', o.skipped ?? '');
  if (stepSummary !== undefined)
    await core.summary.addHeading('AI review', 3).addRaw(stepSummary, true).write();
}
