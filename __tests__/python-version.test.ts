/**
 * One pinned Python version, in .python-version: training (setup-python's python-version-file in
 * every workflow), the serving image (model/Dockerfile's base, checked by its build against the
 * PYTHON_VERSION build arg the pipeline reads from the same file) and the local venvs
 * (scripts/setup) all follow it, so a model is served by the Python it was pickled with.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PYTHON, VENV2_BIN } from './helpers/mlflow-server.js';
import { ROOT } from './helpers/run-action.js';

const pinned = readFileSync(join(ROOT, '.python-version'), 'utf8').trim();
const dockerfile = readFileSync(join(ROOT, 'model', 'Dockerfile'), 'utf8');

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}
function setupPythonSteps(): [string, Step][] {
  const out: [string, Step][] = [];
  for (const dir of ['.github/workflows', 'workflows-example']) {
    for (const f of readdirSync(join(ROOT, dir)).filter((n) => n.endsWith('.yml'))) {
      const wf = parse(readFileSync(join(ROOT, dir, f), 'utf8')) as {
        jobs: Record<string, { steps?: Step[] }>;
      };
      for (const job of Object.values(wf.jobs)) {
        for (const s of job.steps ?? [])
          if (s.uses?.startsWith('actions/setup-python@')) out.push([`${dir}/${f}`, s]);
      }
    }
  }
  return out;
}

/** The base image's version check, as the shell in the build runs it (continuations joined). */
function baseCheck(version: string, baseVersion: string): { status: number | null; stderr: string } {
  const joined = dockerfile.replace(/\\\n/g, '');
  const code = /RUN python -c '([^']+)'\s+"\$\{PYTHON_VERSION\}"/.exec(joined)![1]!;
  // The check reads platform.python_version(); stand in for the base image's interpreter.
  const shim = `import platform; platform.python_version = lambda: ${JSON.stringify(baseVersion)}\n${code}`;
  const r = spawnSync(PYTHON, ['-c', shim, version], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('.python-version', () => {
  it('pins major.minor', () => {
    expect(pinned).toMatch(/^3\.\d+$/);
  });

  it("is the serving image's base, and the build refuses another Python or none", () => {
    const base = /^ARG PYTHON_IMAGE=python:(\d+\.\d+)\.\d+-slim-\w+@sha256:[0-9a-f]{64}$/m.exec(dockerfile);
    expect(base?.[1]).toBe(pinned);
    expect(baseCheck(pinned, `${pinned}.14`).status).toBe(0);
    const other = baseCheck('3.99', `${pinned}.14`);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(`PYTHON_VERSION='3.99'`);
    expect(other.stderr).toContain(`the base image runs Python ${pinned}.14`);
    expect(baseCheck('', `${pinned}.14`).status).toBe(1);
    // 3.1 is not a prefix of 3.11.x.
    expect(baseCheck('3.1', '3.11.14').status).toBe(1);
  });

  it('is what every workflow trains on (python-version-file, never a version of its own)', () => {
    const steps = setupPythonSteps();
    expect(steps.map(([f]) => f)).toEqual(
      expect.arrayContaining(['.github/workflows/ci.yml', '.github/workflows/ml-pipeline.yml']),
    );
    for (const [f, s] of steps) {
      // ml-pipeline keeps v1's python-version input, empty unless a caller still sets it.
      expect([f, s.with?.['python-version']]).toEqual([
        f,
        f.endsWith('ml-pipeline.yml') ? '${{ inputs.python-version }}' : undefined,
      ]);
      expect([f, s.with?.['python-version-file']]).toEqual([
        f,
        f.endsWith('ml-pipeline.yml') ? '${{ inputs.python-version-file }}' : '.python-version',
      ]);
    }
    const pipeline = parse(readFileSync(join(ROOT, '.github/workflows/ml-pipeline.yml'), 'utf8')) as {
      on: { workflow_call: { inputs: Record<string, { default?: string }> } };
      jobs: { build: { steps: (Step & { id?: string; env?: Record<string, string> })[] } };
    };
    expect(pipeline.on.workflow_call.inputs['python-version-file']?.default).toBe('.python-version');
    expect(pipeline.on.workflow_call.inputs['python-version']?.default).toBe('');
    // The build reads the same input(s) training used.
    const read = pipeline.jobs.build.steps.find((s) => s.id === 'python')!;
    expect(read.env).toEqual({
      VERSION: '${{ inputs.python-version }}',
      FILE: '${{ inputs.python-version-file }}',
    });
  });

  it('is the Python of the local venvs scripts/setup builds', () => {
    const setup = readFileSync(join(ROOT, 'scripts', 'setup'), 'utf8');
    expect(setup).toContain("pinned=$(tr -d '[:space:]' <.python-version)");
    expect(setup).not.toMatch(/python3 -m venv/);
    for (const python of [PYTHON, join(VENV2_BIN, 'python')]) {
      const r = spawnSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
        encoding: 'utf8',
      });
      expect([python, r.stdout.trim()]).toEqual([python, pinned]);
    }
  });
});
