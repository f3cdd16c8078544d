/** The job summary: counts by severity, the worst findings, the gate verdict and what was pushed. */
import { cell as escapeCell } from '../shared/markdown.js';
import { SEVERITIES, rank, type Counts, type Finding, type Verdict } from './gate.js';

export interface SummaryInput {
  image: string;
  tags: string[];
  counts: Counts;
  verdict: Verdict;
  failOnVulnerabilities: boolean;
  findings: Finding[];
  ignoredListed: number;
  ignoredUnfixed: number;
  pushed: boolean;
  pushRequested: boolean;
  digest?: string;
  trivyVersion: string;
  /** Where the vulnerability DB came from (tool cache, download, TRIVY_CACHE_DIR). */
  trivyDb?: string;
  top?: number;
}

/** Table cells are untrusted text from the scanner's database: escaped, on one line; absent is empty. */
const cell = (s: string | undefined): string => escapeCell(s ?? '');

export function renderSummary(s: SummaryInput): string {
  const top = s.top ?? 10;
  const gated = s.verdict.severities.join(', ');
  const lines: string[] = [];
  lines.push(`## build-scan-push: \`${s.image}\``, '');
  const verdict = s.verdict.passed
    ? `✅ **Gate passed**: no vulnerabilities at ${gated}.`
    : `❌ **Gate failed**: ${s.verdict.failing.length} vulnerabilit${s.verdict.failing.length === 1 ? 'y' : 'ies'} at ${gated}` +
      (s.failOnVulnerabilities ? '.' : ' (fail-on-vulnerabilities is false: reported, not enforced).');
  lines.push(verdict, '');
  if (s.pushed)
    lines.push(`Pushed \`${s.image}@${s.digest}\` as ${s.tags.map((t) => `\`${t}\``).join(', ')}.`);
  else if (!s.pushRequested) lines.push(`Not pushed (push: false). Built digest: \`${s.digest ?? 'n/a'}\`.`);
  else lines.push('**Nothing was pushed.**');
  lines.push('');
  lines.push('| Severity | Count | Gated |', '| --- | ---: | :---: |');
  for (const sev of SEVERITIES) {
    lines.push(`| ${sev} | ${s.counts[sev]} | ${s.verdict.severities.includes(sev) ? '●' : ''} |`);
  }
  const ignored: string[] = [];
  if (s.ignoredListed) ignored.push(`${s.ignoredListed} ignored by .trivyignore`);
  if (s.ignoredUnfixed) ignored.push(`${s.ignoredUnfixed} without a fix (ignore-unfixed)`);
  if (ignored.length) lines.push('', `Not counted: ${ignored.join(', ')}.`);
  const ranked = rank(s.findings);
  if (ranked.length) {
    lines.push('', `### Top findings (${Math.min(top, ranked.length)} of ${ranked.length})`, '');
    lines.push(
      '| Severity | ID | Package | Installed | Fixed in | Title |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const f of ranked.slice(0, top)) {
      const id = f.url && /^https:\/\//.test(f.url) ? `[${cell(f.id)}](${f.url})` : cell(f.id);
      lines.push(
        `| ${f.severity} | ${id} | ${cell(f.pkg)} | ${cell(f.installed)} | ${cell(f.fixed) || '—'} | ${cell(f.title)} |`,
      );
    }
  }
  const db = s.trivyDb ? ` ${cell(s.trivyDb)}.` : '';
  lines.push('', `<sub>Scanned with Trivy ${s.trivyVersion}.${db}</sub>`, '');
  return lines.join('\n');
}
