/**
 * The local stand-ins the loop uses when no real credentials are set: the project's fake GitHub
 * (every call checked against GitHub's OpenAPI description) and fake Gemini, which answers like
 * a triage model would: from the alert and the MLflow context alert-to-issue sent it.
 */
import {
  FAKE_GEMINI_KEY,
  FakeGemini,
  type Answer,
  type GeminiRequest,
} from '../../__tests__/helpers/fake-gemini.js';
import { FakeGitHub } from '../../__tests__/helpers/fake-github/server.js';

export const FAKE_REPOSITORY = 'octo-org/iris';

/** A realistic triage summary built from what the request carries, not a canned text. */
export function triageAnswer(req: GeminiRequest): Answer {
  const text = `${req.systemText}\n${req.userText}`;
  const model = /Model ([\w.-]+): alias "([^"]+)" points to version (\w+)/.exec(text);
  const alertname = /"alertname":\s*"([^"]+)"/.exec(text)?.[1] ?? 'the alert';
  const summary = /"summary":\s*"([^"]+)"/.exec(text)?.[1];
  const status = /"status":\s*"(firing|resolved)"/.exec(text)?.[1] ?? 'firing';
  const live = model ? `${model[1]} version ${model[3]} (alias ${model[2]})` : 'the live model version';
  return {
    json: {
      what:
        status === 'resolved'
          ? `${alertname} has resolved: ${summary ?? 'the condition no longer holds'}.`
          : `${alertname}: ${summary ?? 'the alert condition holds'}. The service serving ${live} rejects most requests with a 4xx.`,
      causes: [
        `A client sends rows whose feature names or types do not match the signature of ${live} (likely a schema change on the client side).`,
        `Less likely: ${live} was promoted with a different input signature than the clients expect.`,
      ],
      impact: `Rejected requests get no prediction; the model itself (${live}) is healthy and keeps serving well-formed requests.`,
      nextSteps: [
        'Look at iris_input_errors_total by reason to see which features are missing or mistyped.',
        `Compare the clients' payloads with the input signature of ${live} in MLflow.`,
        'If the signature changed with the last promotion, move the champion alias back to the previous version.',
      ],
    },
  };
}

export interface Fakes {
  github: FakeGitHub;
  gemini: FakeGemini;
  stop(): Promise<void>;
}

export async function startFakes(): Promise<Fakes> {
  const github = new FakeGitHub({ repos: [FAKE_REPOSITORY] });
  const gemini = new FakeGemini();
  gemini.always(triageAnswer);
  await Promise.all([github.start(), gemini.start()]);
  return {
    github,
    gemini,
    stop: async () => {
      await Promise.allSettled([github.stop(), gemini.stop()]);
    },
  };
}

export { FAKE_GEMINI_KEY };
