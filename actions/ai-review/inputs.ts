/** Every input of ai-review, parsed, defaulted and checked once, before any API call. */
import * as github from '@actions/github';
import { InputError } from '../shared/errors.js';
import { DEFAULT_MODEL } from '../shared/gemini/defaults.js';
import { parseRepo, type Repo } from '../shared/github.js';
import * as input from '../shared/inputs.js';

export interface Inputs {
  token: string;
  geminiKey?: string;
  /** Default $GOOGLE_GEMINI_BASE_URL, else Google's endpoint (the Gemini client decides). */
  geminiBaseUrl?: string;
  model: string;
  fallbackModels: string[];
  include: string[];
  exclude: string[];
  maxComments: number;
  maxInputTokens: number;
  timeoutMs: number;
  reviewDrafts: boolean;
  reviewForks: boolean;
  incremental: boolean;
  repo: Repo;
  pullNumber: number;
}

type EventContext = Pick<typeof github.context, 'eventName' | 'payload'>;

export function getInputs(context: EventContext = github.context): Inputs {
  const token = input.required('github-token');
  // Masked here, before anything else runs that could print it.
  const geminiKey = input.secret('gemini-api-key');
  const values = {
    token,
    geminiKey,
    geminiBaseUrl: input.geminiBaseUrl(),
    model: input.string('model', DEFAULT_MODEL),
    fallbackModels: input.list('fallback-models'),
    include: input.list('include', { commas: false }),
    exclude: input.list('exclude', { commas: false }),
    maxComments: input.number('max-comments', 10, { min: 0, max: 100, integer: true }),
    maxInputTokens: input.number('max-input-tokens', 30_000, { min: 2_000, max: 1_000_000, integer: true }),
    timeoutMs: input.duration('request-timeout', 60_000),
    reviewDrafts: input.boolean('review-drafts', false),
    reviewForks: input.boolean('review-forks', false),
    incremental: input.boolean('incremental', true),
    repo: parseRepo(undefined),
  };
  const fromEvent = (context.payload.pull_request as { number?: number } | undefined)?.number;
  const pullNumber = input.number('pull-number', fromEvent ?? 0, { min: 1, integer: true });
  if (!pullNumber) {
    throw new InputError(
      'pull-number',
      `a pull request number (the ${context.eventName} event carries none)`,
    );
  }
  return { ...values, pullNumber };
}
