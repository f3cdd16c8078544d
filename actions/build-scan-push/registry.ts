/**
 * Registry login with `docker login --password-stdin`: the password never appears in an argument
 * list (visible in `ps`) nor in the log (masked before anything runs). Logout at the end of the run
 * so the credentials do not outlive the step on self-hosted runners, as docker/login-action does.
 */
import * as core from '@actions/core';
import { isIPv4 } from 'node:net';
import { InputError } from '../shared/errors.js';
import { isPushableName, registryOf } from '../shared/image-ref.js';
import { defaultRunner, type Runner } from './buildx.js';

export { registryOf };

/** Lowercase `host[:port]/path` as an OCI distribution name, no tag or digest (tags come from `tags`). */
export function validateImage(image: string, input = 'image'): string {
  if (!isPushableName(image)) {
    throw new InputError(input, 'a lowercase image name such as ghcr.io/owner/repo, without tag', image);
  }
  return image;
}

export interface Credentials {
  registry: string;
  username: string;
  password: string;
}

/**
 * Explicit credentials win; the actor + github-token default applies only to the GitHub instance's
 * own container registry (ghcr.io, or `containers.<host>` on GHES), so the workflow token is never
 * sent to another registry.
 */
export function resolveCredentials(opts: {
  registry: string;
  /** Default ghcr.io. */
  githubRegistry?: string;
  username?: string;
  password?: string;
  githubToken?: string;
  actor?: string;
}): Credentials | undefined {
  const ghcr = opts.registry === (opts.githubRegistry ?? 'ghcr.io');
  const username = opts.username ?? (ghcr ? opts.actor : undefined);
  const password = opts.password ?? (ghcr ? opts.githubToken : undefined);
  if (!password) return undefined;
  if (!username) {
    throw new InputError('registry-username', `a username for ${opts.registry} (set with registry-password)`);
  }
  return { registry: opts.registry, username, password };
}

/**
 * A registry on this machine's loopback (`localhost`, 127.0.0.0/8, `[::1]`, any port). Docker's
 * daemon lets these speak plain http by default (its insecure-registries start with 127.0.0.0/8),
 * buildah does not, and buildah 1.28's `login` ignores registries.conf's `insecure` flag. So buildah
 * gets `--tls-verify=false` for them, as docker behaves: the traffic never leaves the host.
 */
export function isLoopbackRegistry(registry: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(registry);
  const host = bracketed ? bracketed[1]! : registry.replace(/:\d+$/, '');
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

export class RegistryLoginError extends Error {
  override name = 'RegistryLoginError';
}

/** `tool`: docker or buildah, whichever builds; both read the password from stdin. */
export type LoginTool = 'docker' | 'buildah';

export async function login(
  creds: Credentials,
  run: Runner = defaultRunner,
  tool: LoginTool = 'docker',
): Promise<void> {
  core.setSecret(creds.password);
  // buildah (Cobra, strict) wants the flags before the registry; docker takes either order.
  const tls = isLoopbackRegistry(creds.registry) ? ['--tls-verify=false'] : [];
  const args =
    tool === 'buildah'
      ? ['login', ...tls, '--username', creds.username, '--password-stdin', creds.registry]
      : ['login', creds.registry, '--username', creds.username, '--password-stdin'];
  const out = await run(tool, args, { input: Buffer.from(creds.password) });
  if (out.exitCode !== 0) {
    const why = (out.stderr || out.stdout).trim().split('\n').slice(-3).join(' ');
    throw new RegistryLoginError(
      `Login to ${creds.registry} as ${creds.username} failed (exit ${out.exitCode}): ${why}. ` +
        `For GitHub's registry (ghcr.io, containers.<host> on GHES) the job needs \`permissions: packages: write\`; otherwise check registry-username and registry-password.`,
    );
  }
}

export async function logout(
  registry: string,
  run: Runner = defaultRunner,
  tool: LoginTool = 'docker',
): Promise<void> {
  const out = await run(tool, ['logout', registry], { silent: true });
  if (out.exitCode !== 0) core.warning(`${tool} logout ${registry} failed: ${out.stderr.trim()}`);
}
