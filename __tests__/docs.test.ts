/**
 * Each action's README (or, until it moves, its root README section) must list exactly what its
 * action.yml declares; and every `scripts/...` path a source or doc names exists.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULTS as aiReview } from '../actions/ai-review/inputs.js';
import { DEFAULTS as alertToIssue } from '../actions/alert-to-issue/inputs.js';
import { DEFAULTS as buildScanPush } from '../actions/build-scan-push/inputs.js';
import { DEFAULTS as downloadModel } from '../actions/download-model/inputs.js';
import { DEFAULTS as gitopsBump } from '../actions/gitops-bump/inputs.js';
import { DEFAULTS as promote } from '../actions/promote/inputs.js';
import { DEFAULT_MODEL } from '../actions/shared/gemini/defaults.js';
import { DEFAULTS as trainAndLog } from '../actions/train-and-log/inputs.js';
import { ROOT, readActionYaml } from './helpers/run-action.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const actions = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(ROOT, d.name, 'action.yml')))
  .map((d) => d.name);
/** The section of the root README under `### \`name\``, up to the next action's. */
function rootSection(name: string): string {
  const start = readme.indexOf(`### \`${name}\``);
  if (start < 0) return '';
  const rest = readme.slice(start + 1);
  const end = rest.search(/\n##+ `/);
  return end < 0 ? rest : rest.slice(0, end);
}

/** An action's documentation: its own <name>/README.md, else its section of the root README. */
function docFor(name: string): string {
  const own = join(ROOT, name, 'README.md');
  return existsSync(own) ? readFileSync(own, 'utf8') : rootSection(name);
}

/** The rows (name, last cell) of the first table after the `Inputs`/`Outputs` heading of an action's doc. */
function tableRows(name: string, heading: 'Inputs' | 'Outputs'): Map<string, string> {
  const text = docFor(name);
  const at = text.search(new RegExp(`^#{2,4} ${heading}$`, 'm'));
  const rows = new Map<string, string>();
  if (at < 0) return rows;
  for (const line of text.slice(at).split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    const cell = /^\|\s*`([^`]+)`\s*\|/.exec(line);
    if (cell) rows.set(cell[1]!, line.trim().split('|').at(-2)!.trim());
  }
  return rows;
}
const tableNames = (name: string, heading: 'Inputs' | 'Outputs'): string[] =>
  [...tableRows(name, heading).keys()].sort();

describe('README documents every action', () => {
  it('starts with the two commands for a fresh machine', () => {
    const head = readme.split('\n').slice(0, 25).join('\n');
    expect(head).toMatch(/scripts\/demo/);
    expect(head).toMatch(/scripts\/test/);
  });

  it.each(actions)('%s: inputs and outputs match action.yml', (name) => {
    const yml = readActionYaml(name) as ReturnType<typeof readActionYaml> & { description?: string };
    expect(tableNames(name, 'Inputs')).toEqual(Object.keys(yml.inputs ?? {}).sort());
    expect(tableNames(name, 'Outputs')).toEqual(Object.keys(yml.outputs ?? {}).sort());
    expect(yml.description?.length ?? 0).toBeGreaterThan(20);
  });

  it.each(actions)('%s: a default shown in the inputs table is the one action.yml declares', (name) => {
    const inputs = (readActionYaml(name).inputs ?? {}) as Record<string, { default?: unknown }>;
    for (const [input, cell] of tableRows(name, 'Inputs')) {
      const declared = inputs[input]?.default;
      // Only a cell that is exactly one code span is a default; prose ("empty for X") is not checked.
      const shown = /^`([^`]*)`$/.exec(cell)?.[1];
      if (shown === undefined || declared === undefined || declared === '') continue;
      expect(`${input}: ${shown}`).toBe(`${input}: ${String(declared)}`);
    }
  });

  it.each(actions)('%s: has its own README.md', (name) => {
    expect(existsSync(join(ROOT, name, 'README.md'))).toBe(true);
    expect(rootSection(name)).toBe('');
  });

  it('root README is short and links every action', () => {
    expect(readme.split('\n').length).toBeLessThan(200);
    for (const name of actions) {
      expect(readme).toContain(`[\`${name}\`](${name}/README.md)`);
    }
  });
});

describe('defaults written in action.yml agree with the code', () => {
  interface Input {
    default?: unknown;
    description?: string;
  }
  const geminiModel = (inputs: Record<string, Input> | undefined): Input | undefined =>
    /Gemini/.test(inputs?.model?.description ?? '') ? inputs!.model : undefined;
  const withModel = actions.filter((name) => geminiModel(readActionYaml(name).inputs)?.default !== undefined);
  const workflows = readdirSync(join(ROOT, '.github', 'workflows')).filter((f) => /\.ya?ml$/.test(f));

  it('finds the actions with a Gemini model input', () => {
    expect(withModel).toEqual(expect.arrayContaining(['ai-review', 'alert-to-issue']));
  });

  it.each(withModel)('%s: the model default is DEFAULT_MODEL, in action.yml and the README', (name) => {
    expect(readActionYaml(name).inputs!.model!.default).toBe(DEFAULT_MODEL);
    expect(tableRows(name, 'Inputs').get('model')).toBe(`\`${DEFAULT_MODEL}\``);
  });

  it.each(workflows)('%s: a Gemini model input of the workflow defaults to DEFAULT_MODEL', (file) => {
    const wf = parse(readFileSync(join(ROOT, '.github', 'workflows', file), 'utf8')) as {
      on?: Record<string, { inputs?: Record<string, Input> } | null>;
    };
    for (const trigger of Object.values(wf.on ?? {})) {
      const model = geminiModel(trigger?.inputs ?? undefined);
      if (model?.default !== undefined) expect(model.default).toBe(DEFAULT_MODEL);
    }
  });
});

describe("each action's DEFAULTS (the code's fallbacks) equal its action.yml defaults", () => {
  const DEFAULTS: Record<string, Readonly<Record<string, string>>> = {
    'ai-review': aiReview,
    'alert-to-issue': alertToIssue,
    'build-scan-push': buildScanPush,
    'download-model': downloadModel,
    'gitops-bump': gitopsBump,
    promote,
    'train-and-log': trainAndLog,
  };
  /**
   * Defaults the code does not fall back to, and why: a list or path whose empty value means
   * "none" (so an explicit '' must stay empty), or one whose parser gives the same result for empty.
   */
  const NOT_IN_DEFAULTS: Record<string, string[]> = {
    'alert-to-issue': ['labels', 'label-allowlist', 'fallback-models'],
    'build-scan-push': ['tags', 'flavor', 'cache'],
    'gitops-bump': ['helm-key-path'],
    'train-and-log': ['metrics-file'],
  };
  const declared = (name: string): Record<string, string> =>
    Object.fromEntries(
      Object.entries((readActionYaml(name).inputs ?? {}) as Record<string, { default?: unknown }>)
        .filter(([, i]) => i.default !== undefined)
        .map(([input, i]) => [input, String(i.default)]),
    );

  it('covers every action', () => {
    expect(Object.keys(DEFAULTS).sort()).toEqual([...actions].sort());
  });

  it.each(actions)('%s: every key of DEFAULTS is the action.yml default of that input', (name) => {
    const yml = declared(name);
    for (const [input, value] of Object.entries(DEFAULTS[name] ?? {})) {
      expect(`${input}: ${yml[input]}`).toBe(`${input}: ${value}`);
    }
  });

  it.each(actions)('%s: every written action.yml default is in DEFAULTS (or listed why not)', (name) => {
    const missing = Object.entries(declared(name))
      // Empty means "not set"; an expression is the runner's to fill in (the code reads the token itself).
      .filter(([, value]) => value !== '' && !value.includes('${{'))
      .map(([input]) => input)
      .filter((input) => !(input in (DEFAULTS[name] ?? {})) && !NOT_IN_DEFAULTS[name]?.includes(input));
    expect(missing).toEqual([]);
  });
});

describe('the scripts named in sources and docs exist', () => {
  // Tracked files only (dist/ is generated, CHANGELOG.md is history and may name a removed script).
  const tracked = spawnSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .stdout.split('\0')
    .filter((f) => f && !f.startsWith('dist/') && f !== 'CHANGELOG.md' && existsSync(join(ROOT, f)));
  const named = tracked.flatMap((f) =>
    [
      ...readFileSync(join(ROOT, f), 'utf8').matchAll(
        /(?<![\w./-])scripts\/[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*(?:\.[a-z]+)?/g,
      ),
    ].map((m) => [f, m[0]] as const),
  );
  /** A TypeScript source is imported by its compiled name (`./x.js` for x.ts), as ESM needs. */
  const exists = (path: string): boolean =>
    existsSync(join(ROOT, path)) ||
    (path.endsWith('.js') && existsSync(join(ROOT, path.replace(/\.js$/, '.ts'))));

  it('finds script references', () => {
    expect(named.length).toBeGreaterThan(20);
  });

  it('every one names a file or folder of the repository', () => {
    expect(named.filter(([, path]) => !exists(path)).map(([f, path]) => `${f}: ${path}`)).toEqual([]);
  });
});
