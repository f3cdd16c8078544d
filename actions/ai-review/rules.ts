/**
 * Deterministic checks on added lines, run with or without a model: they catch the most common
 * platform mistakes for certain, and they are what the review shows when Gemini is unavailable.
 */
import { addedLines, type ChangedFile } from './diff.js';
import type { Finding } from './prompt.js';

export type Area = 'training' | 'docker' | 'kubernetes' | 'workflow' | 'other';

export function areaOf(path: string): Area {
  const base = path.split('/').pop() ?? path;
  if (/^\.github\/workflows\/[^/]+\.ya?ml$/.test(path) || /(^|\/)action\.ya?ml$/.test(path))
    return 'workflow';
  if (/^(Dockerfile|Containerfile)(\..+)?$/i.test(base) || /\.dockerfile$/i.test(base)) return 'docker';
  if (
    /\.ya?ml$/.test(base) &&
    /(^|\/)(k8s|kubernetes|manifests?|deploy|platform|charts?|gitops|overlays|base)\//.test(path)
  )
    return 'kubernetes';
  if (/\.(py|ipynb)$/.test(base)) return 'training';
  return 'other';
}

interface Rule {
  area: Area | 'yaml';
  test: RegExp;
  unless?: RegExp;
  /** E.g. `FROM builder` names an earlier build stage, not an image. */
  skip?: (m: RegExpExecArray, aliases: Set<string>) => boolean;
  finding: Omit<Finding, 'path' | 'line'>;
}

const RULES: Rule[] = [
  {
    area: 'docker',
    test: /^\s*FROM\s+(?!scratch\b)(?:--platform=\S+\s+)?([^\s@:]+)(?::latest)?(\s|$)/i,
    skip: (m, aliases) => m[1]!.startsWith('$') || aliases.has(m[1]!.toLowerCase()),
    finding: {
      severity: 'medium',
      category: 'container-security',
      title: 'Base image is not pinned',
      body: 'Pin the base image to a version tag and digest (`image:1.2.3@sha256:...`) so builds are reproducible and a compromised tag cannot slip in.',
    },
  },
  {
    area: 'docker',
    test: /^\s*USER\s+(root|0)(:\S+)?\s*$/i,
    finding: {
      severity: 'high',
      category: 'container-security',
      title: 'Container runs as root',
      body: 'Create an unprivileged user and switch to it (`USER 10001`) so a compromise of the server does not get root in the container.',
    },
  },
  {
    area: 'docker',
    test: /^\s*(ENV|ARG)\s+\S*(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|ACCESS_KEY)\S*[=\s]+\S+/i,
    finding: {
      severity: 'high',
      category: 'secrets',
      title: 'Secret baked into an image layer',
      body: 'Values set with ENV/ARG stay in the image history. Use a BuildKit secret mount (`RUN --mount=type=secret,...`) or inject it at run time.',
    },
  },
  {
    area: 'yaml',
    test: /^\s*-?\s*image:\s*["']?[^\s"'@]+?(:latest)?["']?\s*$/,
    unless: /^\s*-?\s*image:\s*["']?[^\s"'@]+:(?!latest\b)[^\s"'/]+["']?\s*$/,
    finding: {
      severity: 'medium',
      category: 'kubernetes',
      title: 'Image uses the latest tag or no tag',
      body: 'Deploy an immutable tag or a digest; `latest` makes rollbacks and audits impossible and lets nodes run different code.',
    },
  },
  {
    area: 'yaml',
    test: /^\s*privileged:\s*true\b/,
    finding: {
      severity: 'high',
      category: 'kubernetes',
      title: 'Privileged container',
      body: 'A privileged container has full access to the node. Drop it and grant only the capabilities needed.',
    },
  },
  {
    area: 'yaml',
    test: /^\s*(allowPrivilegeEscalation|hostNetwork|hostPID|hostIPC):\s*true\b/,
    finding: {
      severity: 'high',
      category: 'kubernetes',
      title: 'Pod weakens isolation from the node',
      body: 'Set this to false unless the workload truly needs it, and document why.',
    },
  },
  {
    area: 'workflow',
    test: /^\s*-?\s*uses:\s*["']?(?!\.\/|docker:\/\/|actions\/|github\/)[\w.-]+\/[\w./-]+@(?![0-9a-f]{40}\b)\S+/,
    finding: {
      severity: 'medium',
      category: 'workflow-security',
      title: 'Third-party action not pinned to a commit SHA',
      body: 'Tags can be moved by the action owner (or an attacker). Pin to the full 40-character commit SHA and note the version in a comment.',
    },
  },
  {
    area: 'workflow',
    test: /^\s*permissions:\s*write-all\b/,
    finding: {
      severity: 'high',
      category: 'workflow-security',
      title: 'Workflow grants write-all permissions',
      body: 'Grant only what the job needs (e.g. `contents: read`, `pull-requests: write`).',
    },
  },
  {
    area: 'workflow',
    test: /(^|[\s[,{'"])pull_request_target\b/,
    finding: {
      severity: 'high',
      category: 'workflow-security',
      title: 'pull_request_target runs with secrets on PR events',
      body: 'Never check out or run the pull request code in a pull_request_target workflow: it gets a write token and secrets. Use pull_request, or keep this job to metadata only.',
    },
  },
  {
    area: 'training',
    test: /\btrain_test_split\((?![^)]*random_state)[^)]*\)?\s*$/,
    finding: {
      severity: 'medium',
      category: 'reproducibility',
      title: 'Split without a seed',
      body: 'Pass `random_state=` (from a logged seed parameter) so the split, and every metric logged from it, can be reproduced.',
    },
  },
  {
    area: 'training',
    test: /\b\w+_score\(\s*y_train\b/,
    finding: {
      severity: 'high',
      category: 'evaluation',
      title: 'Metric computed on the training data',
      body: 'Scores on the training set overstate quality; compute (and gate on) metrics from held-out data.',
    },
  },
];

export function ruleFindings(files: ChangedFile[]): Finding[] {
  const out: Finding[] = [];
  for (const f of files) {
    const area = areaOf(f.filename);
    const yaml = /\.ya?ml$/.test(f.filename);
    const aliases = new Set(
      [...(f.patch ?? '').matchAll(/^[+ ]\s*FROM\s+\S+(?:\s+\S+)*?\s+AS\s+(\S+)/gim)].map((m) =>
        m[1]!.toLowerCase(),
      ),
    );
    for (const { line, text } of addedLines(f.patch)) {
      for (const r of RULES) {
        const applies = r.area === area || (r.area === 'yaml' && yaml && area !== 'workflow');
        if (!applies) continue;
        const m = r.test.exec(text);
        if (!m || r.unless?.test(text) || r.skip?.(m, aliases)) continue;
        out.push({ path: f.filename, line, ...r.finding });
      }
    }
  }
  return out;
}

/** The summary written without a model: what changed, by area, from the data alone. */
export function deterministicSummary(files: ChangedFile[]): string {
  const by = new Map<Area, ChangedFile[]>();
  for (const f of files) by.set(areaOf(f.filename), [...(by.get(areaOf(f.filename)) ?? []), f]);
  const adds = files.reduce((n, f) => n + f.additions, 0);
  const dels = files.reduce((n, f) => n + f.deletions, 0);
  const names: Record<Area, string> = {
    training: 'training/Python code',
    docker: 'Dockerfiles',
    kubernetes: 'Kubernetes manifests',
    workflow: 'workflows/actions',
    other: 'other files',
  };
  const parts = [...by.entries()].map(([a, fs]) => `${fs.length} ${names[a]}`);
  return `${files.length} file${files.length === 1 ? '' : 's'} reviewed (+${adds} −${dels}): ${parts.join(', ') || 'none'}.`;
}
