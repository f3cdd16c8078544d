/** Each action's README (or, until it moves, its root README section) must list exactly what its action.yml declares. */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_MODEL } from '../actions/shared/gemini/defaults.js';
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
