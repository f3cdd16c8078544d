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

/** The action.yml defaults, used when an input is empty (see shared/inputs.ts). */
export const DEFAULTS = {
  model: DEFAULT_MODEL,
  'max-comments': '10',
  'max-input-tokens': '30000',
  'request-timeout': '60s',
  'review-drafts': 'false',
  'review-forks': 'false',
  incremental: 'true',
} as const satisfies input.Defaults;

type EventContext = Pick<typeof github.context, 'eventName' | 'payload'>;

export function getInputs(context: EventContext = github.context): Inputs {
  const token = input.required('github-token');
  // Masked here, before anything else runs that could print it.
  const geminiKey = input.secret('gemini-api-key');
  const values = {
    token,
    geminiKey,
    geminiBaseUrl: input.geminiBaseUrl(),
    model: input.string('model', DEFAULTS.model),
    fallbackModels: input.list('fallback-models'),
    include: input.list('include', { commas: false }),
    exclude: input.list('exclude', { commas: false }),
    maxComments: input.number('max-comments', DEFAULTS['max-comments'], { min: 0, max: 100, integer: true }),
    maxInputTokens: input.number('max-input-tokens', DEFAULTS['max-input-tokens'], {
      min: 2_000,
      max: 1_000_000,
      integer: true,
    }),
    timeoutMs: input.duration('request-timeout', DEFAULTS['request-timeout']),
    reviewDrafts: input.boolean('review-drafts', DEFAULTS['review-drafts']),
    reviewForks: input.boolean('review-forks', DEFAULTS['review-forks']),
    incremental: input.boolean('incremental', DEFAULTS.incremental),
    repo: parseRepo(undefined),
  };
  const fromEvent = (context.payload.pull_request as { number?: number } | undefined)?.number;
  // No action.yml default: the event's pull request, checked below when there is none.
  const pullNumber =
    input.optional('pull-number') === undefined
      ? (fromEvent ?? 0)
      : input.number('pull-number', '', { min: 1, integer: true });
  if (!pullNumber) {
    throw new InputError(
      'pull-number',
      `a pull request number (the ${context.eventName} event carries none)`,
    );
  }
  return { ...values, pullNumber };
}
