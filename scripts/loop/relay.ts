/**
 * The relay bundle as the platform runs it, in front of a tap on the GitHub API (so the loop sees
 * each repository_dispatch it sends), with a fresh bearer token for Alertmanager's
 * credentials_file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './actions.js';
import type { LoopContext } from './context.js';
import { GitHubTap } from './github-tap.js';
import { freePort, waitFor, type Proc } from './procs.js';

export interface Relay {
  url: string;
  proc: Proc;
  tap: GitHubTap;
  /** The bearer token, for Alertmanager's credentials_file; removed at teardown. */
  tokenFile: string;
}

export async function startRelay(ctx: LoopContext): Promise<Relay> {
  const { github: gh, teardown } = ctx;
  const secrets = mkdtempSync(join(ctx.state, 'secrets-'));
  teardown.defer('relay token', () => rmSync(secrets, { recursive: true, force: true }));
  const tokenFile = join(secrets, 'relay-token');
  writeFileSync(tokenFile, `demo-${crypto.randomUUID()}`, { mode: 0o600 });
  const tap = new GitHubTap(gh.apiUrl);
  await tap.start();
  teardown.defer('GitHub tap', () => tap.stop());
  ctx.live.tap = tap;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = ctx.procs.spawn('relay', process.execPath, [join(ROOT, 'dist', 'relay', 'index.js')], {
    logFile: join(ctx.logs, 'relay.log'),
    env: {
      PATH: process.env.PATH,
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: String(port),
      RELAY_BEARER_TOKEN_FILE: tokenFile,
      GITHUB_REPOSITORY: gh.repository,
      GITHUB_TOKEN: gh.token,
      GITHUB_API_URL: tap.url,
    },
  });
  teardown.defer('relay', () => proc.stop());
  await waitFor('relay', `${url}/healthz`, { proc, timeoutMs: 20_000 });
  ctx.live.relayUrl = url;
  ctx.stages.link('relay', `${url} -> ${gh.fake ? 'fake GitHub' : gh.apiUrl} (${gh.repository})`);
  return { url, proc, tap, tokenFile };
}
