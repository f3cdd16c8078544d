/**
 * The gate over a Trivy JSON report (SchemaVersion 2): vulnerabilities and, as Trivy's own
 * `--exit-code`/`--severity` count them, secrets. The ignore policy (`.trivyignore`,
 * ignore-unfixed) is passed to Trivy and applied again here, so the verdict never depends on how a
 * given Trivy version filters, and the counts always match the summary.
 */
import { InputError } from '../shared/errors.js';

export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Finding {
  kind: 'vulnerability' | 'secret';
  /** CVE/advisory ID, or the secret rule's ID (aws-access-key-id). */
  id: string;
  /** Package name, or for a secret the file it is in. */
  pkg: string;
  installed: string;
  fixed?: string;
  severity: Severity;
  status?: string;
  title?: string;
  url?: string;
  target: string;
  score?: number;
}

interface TrivyVuln {
  VulnerabilityID: string;
  PkgName: string;
  InstalledVersion: string;
  FixedVersion?: string;
  Severity?: string;
  Status?: string;
  Title?: string;
  PrimaryURL?: string;
  CVSS?: Record<string, { V3Score?: number; V2Score?: number }>;
}

interface TrivySecret {
  RuleID: string;
  Category?: string;
  Severity?: string;
  Title?: string;
  StartLine?: number;
}

export interface TrivyReport {
  SchemaVersion?: number;
  ArtifactName?: string;
  Results?: {
    Target: string;
    Class?: string;
    Type?: string;
    Vulnerabilities?: TrivyVuln[] | null;
    Secrets?: TrivySecret[] | null;
  }[];
}

export function parseSeverities(value: string, input = 'severity'): Severity[] {
  const parts = value
    .split(/[\s,]+/)
    .map((p) => p.trim().toUpperCase())
    .filter(Boolean);
  if (parts.length === 0) throw new InputError(input, `one or more of ${SEVERITIES.join(', ')}`, value);
  for (const p of parts) {
    if (!(SEVERITIES as readonly string[]).includes(p)) {
      throw new InputError(input, `severities among ${SEVERITIES.join(', ')}`, p);
    }
  }
  return [...new Set(parts)] as Severity[];
}

export function parseReport(text: string, source: string): TrivyReport {
  let report: TrivyReport;
  try {
    report = JSON.parse(text) as TrivyReport;
  } catch (err) {
    throw new Error(`Trivy report ${source} is not JSON: ${(err as Error).message}`);
  }
  if (report.SchemaVersion !== 2) {
    throw new Error(`Trivy report ${source} has SchemaVersion ${report.SchemaVersion}; expected 2`);
  }
  return report;
}

function toSeverity(s: string | undefined): Severity {
  const upper = (s ?? 'UNKNOWN').toUpperCase();
  return (SEVERITIES as readonly string[]).includes(upper) ? (upper as Severity) : 'UNKNOWN';
}

/** Per-platform reports as one, each target suffixed with its platform (for SARIF and counts). */
export function mergeReports(reports: TrivyReport[], platforms: (string | undefined)[]): TrivyReport {
  if (reports.length === 1) return reports[0]!;
  return {
    ...reports[0]!,
    Results: reports.flatMap((r, i) =>
      (r.Results ?? []).map((res) => ({ ...res, Target: `${res.Target} (${platforms[i]})` })),
    ),
  };
}

export function extractFindings(report: TrivyReport): Finding[] {
  const out: Finding[] = [];
  for (const result of report.Results ?? []) {
    for (const v of result.Vulnerabilities ?? []) {
      const scores = Object.values(v.CVSS ?? {}).map((c) => c.V3Score ?? c.V2Score ?? 0);
      out.push({
        kind: 'vulnerability',
        id: v.VulnerabilityID,
        pkg: v.PkgName,
        installed: v.InstalledVersion,
        fixed: v.FixedVersion || undefined,
        severity: toSeverity(v.Severity),
        status: v.Status,
        title: v.Title,
        url: v.PrimaryURL,
        target: result.Target,
        score: scores.length ? Math.max(...scores) : undefined,
      });
    }
    // No `Match`/`Code`: Trivy masks the secret there, but the summary needs only where it is.
    for (const sec of result.Secrets ?? []) {
      out.push({
        kind: 'secret',
        id: sec.RuleID,
        pkg: result.Target,
        installed: sec.StartLine ? `line ${sec.StartLine}` : '',
        severity: toSeverity(sec.Severity),
        title: sec.Title,
        target: result.Target,
      });
    }
  }
  return out;
}

export class IgnoreFileError extends Error {
  override name = 'IgnoreFileError';
}

/** Go's time.Parse("2006-01-02"), as Trivy reads `exp:`: a real calendar date, zero-padded. */
function parseExpiry(value: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const t = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === value ? t : undefined;
}

/**
 * `.trivyignore`: one ID per line, `#` comments, and an optional `exp:YYYY-MM-DD` after which the
 * entry no longer applies (Trivy's own format). A date Trivy cannot parse is an error here: Trivy
 * only warns and drops the entry, so the user's ignore would silently not apply.
 */
export function parseTrivyignore(text: string, now: Date, source = '.trivyignore'): Set<string> {
  const ids = new Set<string>();
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [id, ...attrs] = line.split(/\s+/);
    const exp = attrs.find((a) => a.startsWith('exp:'));
    if (exp) {
      const until = parseExpiry(exp.slice(4));
      if (until === undefined) {
        throw new IgnoreFileError(
          `${source}:${n + 1}: expiry '${exp}' is not a date Trivy can read; expected exp:YYYY-MM-DD (e.g. exp:2027-01-31)`,
        );
      }
      if (until <= now.getTime()) continue;
    }
    ids.add(id!);
  }
  return ids;
}

/** Trivy's --ignore-unfixed keeps only findings with a fix available. */
const isFixed = (f: Finding): boolean =>
  f.status ? f.status === 'fixed' : f.fixed !== undefined && f.fixed !== '';
/** A secret has nothing to fix upstream: ignore-unfixed never hides one (as in Trivy). */
const unfixed = (f: Finding): boolean => f.kind === 'vulnerability' && !isFixed(f);

export interface PolicyResult {
  kept: Finding[];
  ignoredListed: Finding[];
  ignoredUnfixed: Finding[];
}

export function applyPolicy(
  findings: Finding[],
  policy: { ignoreUnfixed: boolean; ignoreIds: Set<string> },
): PolicyResult {
  const res: PolicyResult = { kept: [], ignoredListed: [], ignoredUnfixed: [] };
  for (const f of findings) {
    if (policy.ignoreIds.has(f.id)) res.ignoredListed.push(f);
    else if (policy.ignoreUnfixed && unfixed(f)) res.ignoredUnfixed.push(f);
    else res.kept.push(f);
  }
  return res;
}

export type Counts = Record<Severity, number>;

export function countBySeverity(findings: Finding[]): Counts {
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Counts;
  for (const f of findings) counts[f.severity]++;
  return counts;
}

export interface Verdict {
  passed: boolean;
  /** Findings at the gated severities. */
  failing: Finding[];
  severities: Severity[];
}

export function evaluateGate(findings: Finding[], severities: Severity[]): Verdict {
  const failing = findings.filter((f) => severities.includes(f.severity));
  return { passed: failing.length === 0, failing, severities };
}

/** Worst first: severity, then CVSS score, then ID for a stable order. */
export function rank(findings: Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
      (b.score ?? 0) - (a.score ?? 0) ||
      a.id.localeCompare(b.id) ||
      a.pkg.localeCompare(b.pkg),
  );
}
