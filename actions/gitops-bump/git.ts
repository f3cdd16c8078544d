/**
 * The git CLI, driven as a runner's checkout does it. The token travels in an `http.extraheader`
 * passed through GIT_CONFIG_* environment variables: it never appears in a URL, an argument list,
 * a config file on disk or the log.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import { InputError } from '../shared/errors.js';

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Killed (with its process group) after the `timeout` input's time. */
  timedOut?: boolean;
}

const lastLine = (text: string): string => text.trim().split('\n').slice(-1)[0] ?? '';

export class GitError extends Error {
  constructor(
    readonly args: string[],
    readonly result: GitResult,
  ) {
    super(
      `git ${args[0]} failed (exit ${result.code}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
    this.name = 'GitError';
  }
}

export interface Author {
  name: string;
  email: string;
}

export interface GitOptions {
  /** Sent as HTTP basic auth to the remote's origin only. */
  token?: string;
  remoteUrl: string;
  author: Author;
  /** Bounds every git command (input 'timeout'). */
  timeoutMs: number;
}

/** Process groups of the git commands still running (each is started in its own group), by owner. */
const live = new Map<number, Git>();

/** Kills the git commands still running (of `owner`, or all), with their helpers; how many. */
export function killLiveGit(owner?: Git): number {
  let n = 0;
  for (const [pid, git] of live) {
    if (owner && git !== owner) continue;
    n++;
    live.delete(pid);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return n;
}

/**
 * A cancelled job (the runner sends SIGINT, then SIGTERM) must not leave a push running in its
 * own process group: the group outlives us, and the push may land after the run says it failed.
 */
export function stopGitOnCancel(onStop: (signal: NodeJS.Signals, killed: number) => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => onStop(signal, killLiveGit()));
}

export class Git {
  private readonly env: NodeJS.ProcessEnv;
  /** The remote URL as logged: without its user and password. */
  private readonly shownUrl?: string;

  constructor(
    readonly dir: string,
    private readonly options: GitOptions,
  ) {
    // Inputs (the token among them) are the action's business, not git's.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_')),
    );
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      // Fail instead of prompting when the remote wants credentials we did not give.
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: options.author.name,
      GIT_AUTHOR_EMAIL: options.author.email,
      GIT_COMMITTER_NAME: options.author.name,
      GIT_COMMITTER_EMAIL: options.author.email,
      LC_ALL: 'C',
    };
    const url = new URL(options.remoteUrl);
    // Credentials written into the remote URL (MLOPS_GIT_REMOTE_URL) are secrets like the token.
    for (const part of [url.username, url.password].filter((p) => p.length > 3)) {
      core.setSecret(part);
      core.setSecret(decodeURIComponent(part));
    }
    if (url.username || url.password) {
      url.username = '';
      url.password = '';
      this.shownUrl = url.href;
    }
    if (options.token && url.protocol.startsWith('http')) {
      const basic = Buffer.from(`x-access-token:${options.token}`).toString('base64');
      core.setSecret(basic);
      env.GIT_CONFIG_COUNT = '1';
      env.GIT_CONFIG_KEY_0 = `http.${url.origin}/.extraheader`;
      env.GIT_CONFIG_VALUE_0 = `AUTHORIZATION: basic ${basic}`;
    }
    this.env = env;
  }

  async exec(args: string[], { allowFail = false, cwd = this.dir } = {}): Promise<GitResult> {
    const shown = this.shownUrl ? args.map((a) => (a === this.options.remoteUrl ? this.shownUrl : a)) : args;
    core.debug(`git ${shown.join(' ')}`);
    const result = await new Promise<GitResult>((resolve, reject) => {
      // Its own process group: on a timeout git's helpers (remote-http, hooks' children) die with
      // it, instead of holding the pipes open until they finish on their own.
      const child = spawn('git', args, {
        cwd,
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const pid = child.pid;
      if (pid !== undefined) live.set(pid, this);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const limit = this.options.timeoutMs;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, limit);
      child.on('error', (err) => {
        clearTimeout(timer);
        if (pid !== undefined) live.delete(pid);
        reject(new Error(`cannot run git: ${err.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        // The pipes close when the last process holding them (helpers too) is gone.
        if (pid !== undefined) live.delete(pid);
        if (timedOut)
          stderr += `\ngit ${args[0]} timed out after ${Math.round(limit / 1000)}s (input 'timeout')`;
        resolve({ code: code ?? 128, stdout, stderr, timedOut });
      });
    });
    if (result.code !== 0 && !allowFail) throw new GitError(args, result);
    return result;
  }

  /**
   * Single-branch clone; `branch` undefined means the remote's default branch. Shallow, unless the
   * branch's history is wanted (rollback's deploy commits): then every commit and tree, but only
   * the checked-out files' contents (a server that cannot filter sends them all).
   */
  async clone(branch: string | undefined, { history = false } = {}): Promise<string> {
    const cloned = await this.exec(
      [
        'clone',
        history ? '--filter=blob:none' : '--depth=1',
        '--single-branch',
        '--no-tags',
        ...(branch ? ['--branch', branch] : []),
        this.options.remoteUrl,
        this.dir,
      ],
      { cwd: process.cwd(), allowFail: true },
    );
    if (cloned.code !== 0) {
      const text = cloned.stderr;
      if (branch && /Remote branch .* not found/.test(text)) {
        throw new InputError('branch', 'a branch that exists in the repository', branch);
      }
      if (
        /Authentication failed|returned error: 40[13]|could not read (?:Username|Password)|Permission denied/i.test(
          text,
        )
      ) {
        throw new InputError(
          'token',
          `a token that may read and push the repository (git clone: ${lastLine(text)})`,
        );
      }
      throw new GitError(['clone'], cloned);
    }
    const checkedOut = (await this.exec(['rev-parse', '--abbrev-ref', 'HEAD'])).stdout.trim();
    if (checkedOut === 'HEAD') {
      // The remote's HEAD is detached: it has no default branch, and pushing "HEAD" would create one.
      throw new InputError(
        'branch',
        "a branch name (the remote's HEAD is detached, so it has no default branch)",
        '',
      );
    }
    return checkedOut;
  }

  /**
   * HEAD's commit. Under contention every git process counts (each retry runs several), so the
   * loose ref that a commit just wrote is read directly; rev-parse is the fallback.
   */
  async head(): Promise<string> {
    try {
      const ref = (await readFile(join(this.dir, '.git', 'HEAD'), 'utf8')).trim();
      const sha = ref.startsWith('ref: ')
        ? (await readFile(join(this.dir, '.git', ref.slice(5)), 'utf8')).trim()
        : ref;
      if (/^[0-9a-f]{40}$/.test(sha)) return sha;
    } catch {
      // packed or unusual ref: ask git
    }
    return this.revParse('HEAD');
  }

  /** The commit a remote branch points at, or undefined when it does not exist. */
  async remoteHead(branch: string): Promise<string | undefined> {
    const { stdout } = await this.exec(['ls-remote', '--heads', 'origin', `refs/heads/${branch}`]);
    return stdout.split(/\s+/)[0] || undefined;
  }

  /** Fetches one branch tip (shallow) and returns its commit. */
  async fetch(branch: string): Promise<string> {
    await this.exec([
      'fetch',
      '--depth=1',
      '--no-tags',
      'origin',
      `+refs/heads/${branch}:refs/remotes/origin/${branch}`,
    ]);
    return this.revParse(`refs/remotes/origin/${branch}`);
  }

  async fetchCommit(sha: string): Promise<void> {
    await this.exec(['fetch', '--depth=1', '--no-tags', 'origin', sha]);
  }

  /**
   * Whether `later` descends from `commit` on `branch`. The clone is shallow, so the branch's
   * history back to a day before `commit` is fetched first (bounded, unlike --unshallow).
   */
  async contains(commit: string, later: string, branch: string): Promise<boolean> {
    if (commit === later) return true;
    const { stdout } = await this.exec(['show', '-s', '--format=%ct', commit]);
    const since = Number(stdout.trim()) - 86_400;
    await this.exec(
      [
        'fetch',
        '--no-tags',
        `--shallow-since=${since}`,
        'origin',
        `+refs/heads/${branch}:refs/remotes/origin/${branch}`,
      ],
      {
        allowFail: true,
      },
    );
    const result = await this.exec(['merge-base', '--is-ancestor', commit, later], { allowFail: true });
    return result.code === 0;
  }

  /** Makes the work tree exactly `ref`, discarding any local commit or edit (ours, in our own clone). */
  async resetHard(ref: string): Promise<void> {
    // Only tracked files are ever edited, so a hard reset alone restores a clean tree.
    await this.exec(['reset', '--hard', '--quiet', ref]);
  }

  async revParse(ref: string): Promise<string> {
    return (await this.exec(['rev-parse', '--verify', `${ref}^{commit}`])).stdout.trim();
  }

  async commit(paths: string[], message: string): Promise<string> {
    await this.exec(['commit', '--quiet', '--no-verify', '-m', message, '--', ...paths]);
    return this.head();
  }

  /**
   * A commit whose tree is HEAD's and whose parents are HEAD and `other`, so that a branch at
   * `other` moves to it by fast-forward (no force) while its content is exactly HEAD's.
   */
  async adopt(other: string, message: string): Promise<string> {
    const sha = (
      await this.exec(['commit-tree', 'HEAD^{tree}', '-p', 'HEAD', '-p', other, '-m', message])
    ).stdout.trim();
    await this.exec(['reset', '--quiet', sha]);
    return sha;
  }

  /** Pushes HEAD to a branch without force; `rejected` when someone else moved it first. */
  async push(branch: string): Promise<{ ok: true } | { ok: false; retryable: boolean; reason: string }> {
    const result = await this.exec(['push', '--porcelain', 'origin', `HEAD:refs/heads/${branch}`], {
      allowFail: true,
    });
    if (result.code === 0) return { ok: true };
    if (result.timedOut) {
      // The push may have landed before the remote's hooks finished: the remote decides.
      const [local, remote] = [await this.head(), await this.remoteHead(branch).catch(() => undefined)];
      if (remote === local) return { ok: true };
      return { ok: false, retryable: false, reason: result.stderr.trim().split('\n').slice(-1)[0]! };
    }
    const text = `${result.stdout}\n${result.stderr}`;
    const lines = text.trim().split('\n').filter(Boolean);
    // The remote's own words (a protected-branch GH006, a hook's message) say why; keep them all.
    const remoteLines = lines.filter(
      (l) => /^remote: \S/.test(l) && !/^remote: (Resolving|Processing)/.test(l),
    );
    const reason = [...new Set([...remoteLines, ...lines.slice(-2)])].join(' | ');
    const retryable =
      /\[rejected\]|non-fast-forward|fetch first|failed to update ref|cannot lock ref|stale info|incorrect old value|unable to create .*\.lock|Internal Server Error|returned error: 5\d\d|Could not resolve host|Connection (?:reset|timed out|refused)|early EOF|remote end hung up/i.test(
        text,
      );
    return { ok: false, retryable, reason };
  }
}
