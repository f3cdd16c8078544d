/**
 * The local stand-in the loop uses when no GitHub credentials are set: the project's fake GitHub,
 * every call checked against GitHub's OpenAPI description. Gemini has no stand-in: without
 * GEMINI_API_KEY alert-to-issue writes its deterministic summary and labels it so, which is what
 * a repository without the key gets too.
 */
import { FakeGitHub } from '../../__tests__/helpers/fake-github/server.js';

export const FAKE_REPOSITORY = 'octo-org/iris';
export const FAKE_TOKEN = 'ghs_test_token';

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const github = new FakeGitHub({ repos: [FAKE_REPOSITORY] });
  await github.start();
  return github;
}
