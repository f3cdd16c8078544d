/**
 * dist/ is what users run. It must equal a fresh build of the sources, and every bundle must
 * load and reach our own error handling: a CommonJS misbuild of ESM code builds fine and then
 * dies at run time, which only running it shows.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runAction } from './helpers/run-action.js';

const bundles = readdirSync(join(ROOT, 'actions'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(ROOT, 'actions', d.name, 'main.ts')))
  .map((d) => d.name)
  .sort();
const actions = bundles.filter((name) => existsSync(join(ROOT, name, 'action.yml')));
const MODULE_ERRORS =
  /SyntaxError|ReferenceError|ERR_REQUIRE_ESM|ERR_MODULE_NOT_FOUND|Cannot find module|is not defined/;

describe('dist/', () => {
  it('has a bundle for every entry point and nothing else', () => {
    const built = readdirSync(join(ROOT, 'dist'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(built).toEqual(bundles);
    expect(bundles.length).toBeGreaterThan(0);
  });

  it('equals a fresh build of the sources (run `npm run build` and commit dist/)', () => {
    const out = mkdtempSync(join(tmpdir(), 'dist-check-'));
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), out], { cwd: ROOT, stdio: 'pipe' });
    const stale: string[] = [];
    for (const name of bundles) {
      for (const file of readdirSync(join(out, name))) {
        const committed = join(ROOT, 'dist', name, file);
        if (!existsSync(committed) || !readFileSync(committed).equals(readFileSync(join(out, name, file)))) {
          stale.push(`dist/${name}/${file}`);
        }
      }
    }
    expect(stale).toEqual([]);
  }, 600_000);

  it.each(actions)('%s: action.yml runs the bundle on node24', (name) => {
    const yml = readFileSync(join(ROOT, name, 'action.yml'), 'utf8');
    expect(yml).toMatch(/using:\s*['"]?node24/);
    expect(yml).toMatch(new RegExp(`main:\\s*['"]?\\.\\./dist/${name}/index\\.js`));
  });

  it.each(actions)('%s: the bundle loads as ESM and fails cleanly without inputs', async (name) => {
    const result = await runAction(name, {
      inputs: {},
      env: { GITHUB_TOKEN: '', GITHUB_API_URL: 'http://127.0.0.1:9' },
    });
    expect(result.stderr).not.toMatch(MODULE_ERRORS);
    expect(result.stdout).not.toMatch(MODULE_ERRORS);
    expect(result.code).toBe(1);
    expect(result.errors.length).toBeGreaterThan(0);
  });

  it.each(bundles.filter((b) => !actions.includes(b)))('%s: the service bundle loads as ESM', (name) => {
    const res = spawnSync(process.execPath, [join(ROOT, 'dist', name, 'index.js'), '--help'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: process.env.PATH },
    });
    expect(res.stderr + res.stdout).not.toMatch(MODULE_ERRORS);
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/usage/i);
    if (name === 'suite') {
      // The root action's usage names exactly the actions there are.
      const listed = /one of: (.*)$/m.exec(res.stdout)![1]!.split(', ');
      expect(listed.sort()).toEqual([...actions].sort());
    }
  });
});
