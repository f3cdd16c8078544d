/**
 * Static wiring checks of a workflow, each returning the problems it finds (empty when wired):
 *
 * - every `steps.<id>.outputs.<name>` read (in a job's outputs, or in a later step's `with:`,
 *   `env:`, `run:` or `if:`) names a step of the same job, before the reader, that sets it: one of
 *   our actions whose action.yml declares the output, a third-party action whose act stand-in
 *   declares it, or a `run:` step that writes `<name>=` to $GITHUB_OUTPUT;
 * - every `needs.<job>.outputs.<name>` names a job in `needs:` that declares the output (for a
 *   job calling a reusable workflow, that workflow's `on.workflow_call.outputs`);
 * - every `with:` given to an action names an input its action.yml (ours, or the stand-in's for a
 *   third-party action) declares, and our actions get their required inputs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { standInRefs } from './act.js';
import { ROOT } from './run-action.js';

export interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  if?: string;
}
export interface Job {
  uses?: string;
  needs?: string | string[];
  steps?: Step[];
  outputs?: Record<string, string>;
  with?: Record<string, unknown>;
  if?: string;
  env?: Record<string, string>;
}
export interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}
export interface ActionSpec {
  file: string;
  inputs: Record<string, { required?: boolean; default?: unknown }>;
  outputs: string[];
}

/** Our action a step runs (its folder name): `./.mlops-actions/<name>`, `./<name>`, `<owner>/mlops-actions/<name>@ref`. */
export function ourAction(uses: string | undefined): string | undefined {
  if (!uses) return undefined;
  const m =
    /^\.\/\.mlops-actions\/([a-z0-9-]+)$/.exec(uses) ??
    /^\.\/([a-z0-9-]+)$/.exec(uses) ??
    /^[A-Za-z0-9-]+\/mlops-actions\/([a-z0-9-]+)@\S+$/.exec(uses);
  return m?.[1];
}

function readSpec(file: string): ActionSpec | undefined {
  if (!existsSync(file)) return undefined;
  const spec = parse(readFileSync(file, 'utf8')) as {
    inputs?: ActionSpec['inputs'];
    outputs?: Record<string, unknown>;
  };
  return { file, inputs: spec.inputs ?? {}, outputs: Object.keys(spec.outputs ?? {}) };
}

/** The action.yml a step's `uses:` is checked against: ours, or the act stand-in of a third-party action. */
export function specOf(uses: string): ActionSpec | undefined {
  const ours = ourAction(uses);
  if (ours) return readSpec(join(ROOT, ours, 'action.yml'));
  const m = /^([\w.-]+\/[\w.-]+)((?:\/[\w./-]+)?)@([0-9a-f]{40})$/.exec(uses);
  const dir = m ? standInRefs()[`${m[1]}@${m[3]}`] : undefined;
  return dir ? readSpec(join(dir, m![2]!, 'action.yml')) : undefined;
}

const STEP_OUTPUT = /\bsteps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)/g;
const NEEDS_OUTPUT = /\bneeds\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)/g;
const text = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v));

/** Why step `id` (of `steps`, before index `before`) does not set output `name`; undefined when it does. */
function unsetBy(steps: Step[], before: number, id: string, name: string): string | undefined {
  const i = steps.findIndex((s) => s.id === id);
  if (i < 0) return `no step has id ${id}`;
  if (i >= before) return `step ${id} runs after the step reading it`;
  const step = steps[i]!;
  if (step.run !== undefined) {
    const writes = /GITHUB_OUTPUT/.test(step.run) && new RegExp(`(^|[\\s"'{])${name}=`, 'm').test(step.run);
    return writes ? undefined : `run step ${id} writes no ${name}= to $GITHUB_OUTPUT`;
  }
  const spec = specOf(step.uses ?? '');
  if (!spec) return `step ${id} (${step.uses}) has no action.yml here to check its outputs against`;
  return spec.outputs.includes(name)
    ? undefined
    : `${spec.file.slice(ROOT.length + 1)} has no output ${name}`;
}

/** Unset step and needs outputs read in `wf`; `callee` gives a called reusable workflow's outputs. */
export function outputProblems(wf: Workflow, callee: (uses: string) => string[] | undefined): string[] {
  const problems: string[] = [];
  for (const [jobId, job] of Object.entries(wf.jobs)) {
    const steps = job.steps ?? [];
    const readers: [string, string, number][] = [
      ...steps.map(
        (s, i) =>
          [`step ${s.id ?? s.name ?? i}`, text([s.if, s.with, s.env, s.run]), i] as [string, string, number],
      ),
      ...Object.entries(job.outputs ?? {}).map(
        ([o, v]) => [`output ${o}`, v, steps.length] as [string, string, number],
      ),
    ];
    for (const [where, source, index] of readers) {
      for (const [, id, name] of source.matchAll(STEP_OUTPUT)) {
        const why = unsetBy(steps, index, id!, name!);
        if (why) problems.push(`jobs.${jobId} ${where} reads steps.${id}.outputs.${name}: ${why}`);
      }
    }
    for (const output of Object.keys(job.outputs ?? {})) {
      if (!job.outputs![output]!.match(STEP_OUTPUT))
        problems.push(`jobs.${jobId} output ${output} is not set from any step output`);
    }
    const needs = [job.needs ?? []].flat();
    const all = text([job.if, job.with, job.env, job.outputs, steps]);
    for (const [, other, name] of all.matchAll(NEEDS_OUTPUT)) {
      const target = wf.jobs[other!];
      const declared = target?.uses ? callee(target.uses) : Object.keys(target?.outputs ?? {});
      if (!needs.includes(other!)) problems.push(`jobs.${jobId} reads needs.${other} but does not need it`);
      else if (!declared?.includes(name!))
        problems.push(
          `jobs.${jobId} reads needs.${other}.outputs.${name}: jobs.${other} declares no such output`,
        );
    }
  }
  return problems;
}

/** `with:` inputs no action.yml declares, required inputs of ours not given, actions with nothing to check. */
export function inputProblems(wf: Workflow): string[] {
  const problems: string[] = [];
  for (const [jobId, job] of Object.entries(wf.jobs)) {
    for (const step of job.steps ?? []) {
      if (!step.uses) continue;
      const where = `jobs.${jobId} step ${step.id ?? step.name ?? step.uses}`;
      const spec = specOf(step.uses);
      if (!spec) {
        problems.push(`${where}: no action.yml (ours or an act stand-in) for ${step.uses}`);
        continue;
      }
      const given = Object.keys(step.with ?? {});
      for (const k of given.filter((k) => !(k in spec.inputs)))
        problems.push(`${where}: ${spec.file.slice(ROOT.length + 1)} has no input ${k}`);
      if (!ourAction(step.uses)) continue;
      for (const [k, i] of Object.entries(spec.inputs))
        if (i.required === true && i.default === undefined && !given.includes(k))
          problems.push(`${where}: required input ${k} not given`);
    }
  }
  return problems;
}
