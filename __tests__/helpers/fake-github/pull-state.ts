/**
 * The rule for a pull request's change of state, shared by pulls/update and issues/update: a pull
 * request is also an issue, and GitHub refuses the same reopen through either API.
 */
import { invalid, type HttpStatus } from './server.js';
import type { Pull, RepoState } from './state.js';

const validation = (message: string, field?: string): HttpStatus =>
  invalid({ resource: 'PullRequest', code: 'custom', ...(field ? { field } : {}), message });

/**
 * What GitHub refuses on a change of state (422, and then nothing of the update is applied): a
 * merged pull request stays closed ("state cannot be changed. The pull request cannot be
 * reopened.", as GitHub words it), and a reopen may not make a second open PR for head and base.
 */
export function checkStateChange(repo: RepoState, pr: Pull, state: 'open' | 'closed'): void {
  if (state !== 'open' || pr.state === 'open') return;
  if (pr.merged) throw validation('state cannot be changed. The pull request cannot be reopened.', 'state');
  const clash = [...repo.pulls.values()].find(
    (p) => p !== pr && p.state === 'open' && p.head.ref === pr.head.ref && p.base.ref === pr.base.ref,
  );
  if (clash) throw validation(`A pull request already exists for ${repo.owner}:${pr.head.ref}.`);
}
