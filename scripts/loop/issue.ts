/**
 * The issue as GitHub has it once the loop closed it: read back over the REST API (the fake's or
 * GitHub's), kept in the reports folder as Markdown a user can open.
 */
import { writeReport, type GitHubTarget, type LoopContext } from './context.js';

export interface IssueSnapshot {
  number: number;
  title: string;
  state: string;
  url: string;
  body: string;
  comments: { author: string; body: string }[];
  /** The Markdown file in the reports folder. */
  file: string;
}

async function api<T>(gh: GitHubTarget, path: string): Promise<T> {
  const res = await fetch(`${gh.apiUrl.replace(/\/+$/, '')}/repos/${gh.repository}${path}`, {
    headers: {
      authorization: `Bearer ${gh.token}`,
      accept: 'application/vnd.github+json',
      'user-agent': 'mlops-actions-loop',
      'x-github-api-version': '2022-11-28',
    },
    signal: AbortSignal.timeout(15_000),
  });
  if (!res.ok) throw new Error(`GitHub ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return (await res.json()) as T;
}

interface RestIssue {
  title: string;
  state: string;
  html_url: string;
  body?: string | null;
}
interface RestComment {
  user?: { login: string } | null;
  body?: string;
}

/** The whole issue as one Markdown document: title, state, body, then each comment. */
export function issueMarkdown(i: Omit<IssueSnapshot, 'file'>): string {
  const comments = i.comments.map((c) => `---\n\n**Comment by ${c.author}**\n\n${c.body}`);
  return [`# ${i.title} (#${i.number}, ${i.state})`, '', i.url, '', i.body, '', ...comments].join('\n');
}

/** Reads issue `number` with its comments and writes it to the reports folder. */
export async function saveIssue(ctx: LoopContext, number: number): Promise<IssueSnapshot> {
  const gh = ctx.github;
  const issue = await api<RestIssue>(gh, `/issues/${number}`);
  // 100 is the most one page holds; the loop's issue has two or three.
  const comments = await api<RestComment[]>(gh, `/issues/${number}/comments?per_page=100`);
  const snapshot = {
    number,
    title: issue.title,
    state: issue.state,
    url: issue.html_url,
    body: issue.body ?? '',
    comments: comments.map((c) => ({ author: c.user?.login ?? 'ghost', body: c.body ?? '' })),
  };
  const file = writeReport(ctx, 'issue file', `issue-${number}.md`, issueMarkdown(snapshot));
  return { ...snapshot, file };
}
