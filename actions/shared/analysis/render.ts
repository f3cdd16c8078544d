/**
 * The reading as Markdown for a job summary or a comment, headed as model-written. Every string
 * the model wrote is made inert first: it may repeat what a hostile training script put in a run
 * name or param (a mention, a /command, a fake marker, an image beacon, a forged verdict in bold).
 */
import { redact } from '../gemini/index.js';
import { clip, inert } from '../markdown.js';
import type { AnalysisResult, Reading } from './reading.js';

/** One line of inert Markdown: no HTML, links, images, emphasis, mentions, references or commands. */
export function inertLine(text: string, max = 500, secrets: Array<string | undefined> = []): string {
  return inert(clip(redact(text, secrets).replace(/\s+/g, ' ').trim(), max));
}

const GATE_VERDICT: Record<Reading['gateMetric']['verdict'], string> = {
  'tells-the-whole-story': 'yes',
  'misses-something': 'no',
  unclear: 'unclear',
};

function list(title: string, entries: string[], secrets: Array<string | undefined>): string[] {
  const kept = entries.map((e) => inertLine(e, 400, secrets)).filter((e) => e !== '');
  // The blank line ends the list: a bold line right after it would join its last item.
  return kept.length ? [`**${title}**`, ...kept.map((e) => `- ${e}`), ''] : [];
}

/**
 * The section: a heading that says who wrote it, then the reading; or one line saying why there
 * is none. `gateMetric` names the metric in the gate question.
 */
export function renderAnalysis(
  result: AnalysisResult,
  opts: { gateMetric?: string; secrets?: Array<string | undefined> } = {},
): string {
  const secrets = opts.secrets ?? [];
  if (!result.ok) {
    const reason = inertLine(result.reason, 400, secrets);
    return result.reason.startsWith('no `gemini-api-key`')
      ? `_No model-written analysis: no \`gemini-api-key\` was given._`
      : `_Model-written analysis unavailable: ${reason}. The gate's verdict above does not depend on it._`;
  }
  const r = result.reading;
  const metric = opts.gateMetric ? `\`${opts.gateMetric.replace(/`/g, "'")}\`` : 'the gate metric';
  const lines = [
    `#### 🤖 Model-written analysis`,
    `<sub>Written by Gemini (${inertLine(result.model, 60)}) from the run's metrics, step histories and params and the champion's. ` +
      `Not checked by anyone, and not used by the gate: the verdict above is the code's.${
        result.note ? ` ${inertLine(result.note, 300)}` : ''
      }</sub>`,
    '',
    inertLine(r.summary, 600, secrets),
    '',
    ...list('Against the champion', r.changes, secrets),
    ...list('Fitting (step histories)', r.fitting, secrets),
    ...list('Per class', r.perClass, secrets),
    `**Does ${metric} tell the whole story?** ${GATE_VERDICT[r.gateMetric.verdict] ?? 'unclear'}: ${inertLine(r.gateMetric.why, 500, secrets)}`,
  ];
  return lines.join('\n').replace(/\n{3,}/g, '\n\n');
}
