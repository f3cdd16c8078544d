/**
 * What every stage of the loop is given: where its files go, how it prints, the GitHub and Gemini
 * it talks to, what is live for an observer, and the teardown its resources register with.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './actions.js';
import type { FakeGitHub } from '../../__tests__/helpers/fake-github/server.js';
import type { GitHubTap } from './github-tap.js';
import type { Procs } from './procs.js';
import { Stages } from './stages.js';
import { Teardown } from './teardown.js';

/** The rule the faulty version drives: the clients' requests rejected (4xx ratio above 50%). */
export const FAULT_ALERT = 'IrisClassifierHighClientErrorRatio';
export const MODEL_NAME = 'iris';
export const CHAMPION = 'champion';

export interface GitHubTarget {
  /** Where the relay and alert-to-issue send API calls: https://api.github.com or the fake. */
  apiUrl: string;
  token: string;
  /** owner/name that receives the dispatches and the issues. */
  repository: string;
  fake: boolean;
}

export interface LoopOptions {
  procs: Procs;
  /** MLflow's sqlite and artifacts, logs of every process, rendered configs, the reports. */
  stateDir: string;
  venv?: string;
  mlflowPort?: number;
  /** Extra arguments for model/train.py. */
  trainArgs?: string[];
  github: GitHubTarget;
  /** The real Gemini API; without it alert-to-issue writes its deterministic summary, and says so. */
  gemini?: { apiKey: string; env?: Record<string, string> };
  /** Stage lines (default: console.log). */
  out?: (line: string) => void;
  /** The actions' and the loop's detail lines (default: indented to `out`). */
  detail?: (line: string) => void;
  tty?: boolean;
  /** How many times faster than production the rules run (default 60). */
  timeCompression?: number;
  /**
   * The fake GitHub hosting the GitOps repository (FAKE_REPOSITORY, git data in a local bare
   * origin). When it is also `github` (the fake), alert-to-issue reads its deploy commits.
   */
  gitopsHost: FakeGitHub;
  /** Called after each stage with what is live, e.g. for a test to look at it. */
  onStage?: (stage: StageName, live: Live) => Promise<void> | void;
}

export type StageName =
  | 'mlflow'
  | 'train'
  | 'deploy'
  | 'refused'
  | 'monitoring'
  | 'faulty'
  | 'deploy-faulty'
  | 'alert'
  | 'issue'
  | 'rollback'
  | 'recover'
  | 'resolve';

export interface Live {
  mlflowUrl?: string;
  modelVersion?: string;
  championVersion?: string;
  /** The Service in front of the inference server. */
  serverUrl?: string;
  gitopsOrigin?: string;
  prometheusUrl?: string;
  alertmanagerUrl?: string;
  relayUrl?: string;
  tap?: GitHubTap;
}

export interface LoopContext {
  procs: Procs;
  state: string;
  logs: string;
  /** Every job summary and the issue, as files a user can open. */
  reports: string;
  /** Paths written there so far. */
  reportsWritten: string[];
  venv: string;
  trainArgs: string[];
  github: GitHubTarget;
  gemini?: LoopOptions['gemini'];
  /** alert-to-issue's gitops-path, when the GitOps repository is the issues' repository. */
  gitopsPath?: string;
  stages: Stages;
  detail: (line: string) => void;
  live: Live;
  teardown: Teardown;
  /** Runs one numbered stage, then lets the observer look at what is live. */
  stage<T>(name: StageName, title: string, fn: () => Promise<T>): Promise<T>;
}

export function loopContext(opts: LoopOptions): LoopContext {
  const out = opts.out ?? ((l: string) => console.log(l));
  const detail = opts.detail ?? ((l: string) => out(`      ${l}`));
  const stages = new Stages(out, opts.tty);
  const state = opts.stateDir;
  const logs = join(state, 'logs');
  const reports = join(state, 'reports');
  mkdirSync(logs, { recursive: true });
  mkdirSync(reports, { recursive: true });
  const live: Live = {};
  return {
    procs: opts.procs,
    state,
    logs,
    reports,
    reportsWritten: [],
    venv: opts.venv ?? join(ROOT, '.venv'),
    trainArgs: opts.trainArgs ?? [],
    github: opts.github,
    gemini: opts.gemini,
    stages,
    detail,
    live,
    teardown: new Teardown((m) => out(`    ${m}`)),
    async stage(name, title, fn) {
      const value = await stages.run(title, fn);
      await opts.onStage?.(name, live);
      return value;
    },
  };
}

/** Writes `text` to the reports folder as `file` and prints where it is. */
export function writeReport(ctx: LoopContext, label: string, file: string, text: string): string {
  const path = join(ctx.reports, file);
  writeFileSync(path, text.endsWith('\n') ? text : `${text}\n`);
  ctx.reportsWritten.push(path);
  ctx.stages.link(label, path);
  return path;
}
