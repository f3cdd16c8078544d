/** README's input and output tables must list exactly what each action.yml declares. */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, readActionYaml } from './helpers/run-action.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const actions = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(ROOT, d.name, 'action.yml')))
  .map((d) => d.name);

/** The rows of the first table after `#### <heading>` inside the action's `### \`name\`` section. */
function tableNames(name: string, heading: 'Inputs' | 'Outputs'): string[] {
  const start = readme.indexOf(`### \`${name}\``);
  if (start < 0) return [];
  const rest = readme.slice(start + 1);
  const end = rest.search(/\n##+ `/);
  const section = end < 0 ? rest : rest.slice(0, end);
  const at = section.indexOf(`#### ${heading}`);
  if (at < 0) return [];
  const names: string[] = [];
  for (const line of section.slice(at).split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    const cell = /^\|\s*`([^`]+)`\s*\|/.exec(line);
    if (cell) names.push(cell[1]!);
  }
  return names.sort();
}

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
});
