/**
 * model/Dockerfile, checked the way a reviewer (or hadolint) would: pinned bases, multi-stage with
 * no installer or compiler in the final stage, non-root user, HEALTHCHECK, labels, and a build
 * context (/.dockerignore) that carries only what the Dockerfile copies.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { minimatch } from 'minimatch';
import { MLFLOW_RUN_ID_LABEL, MODEL_VERSION_LABEL } from '../actions/build-scan-push/labels.js';
import { ROOT, runAction } from './helpers/run-action.js';
import { allArgsOf, argOf, fakeEnv } from './helpers/fake-tools/index.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}

/** Instructions with continuations joined and comments dropped; global ARGs substituted into FROM. */
function parseDockerfile(text: string): { globalArgs: Record<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let acc = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) && acc === '') continue;
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      acc += `${line.slice(0, -1)} `;
      continue;
    }
    acc += line;
    if (acc.trim()) logical.push(acc.trim());
    acc = '';
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const l of logical) {
    const [op, ...rest] = l.split(/\s+/);
    const args = rest.join(' ');
    const OP = op!.toUpperCase();
    if (OP === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      const from = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs[a ?? b] ?? '');
      stages.push({ from, name: m[2], body: [] });
    } else if (stages.length === 0 && OP === 'ARG') {
      const [k, v] = args.split('=');
      globalArgs[k!] = v ?? '';
    } else {
      stages.at(-1)?.body.push({ op: OP, args });
    }
  }
  return { globalArgs, stages };
}

const dockerfile = readFileSync(join(ROOT, 'model', 'Dockerfile'), 'utf8');
const { stages } = parseDockerfile(dockerfile);
const final = stages.at(-1)!;
const finalOps = (op: string) => final.body.filter((i) => i.op === op);

describe('model/Dockerfile', () => {
  it('is multi-stage and every base is pinned by exact version tag and digest', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) {
      expect(s.from).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+[a-z0-9.-]*@sha256:[0-9a-f]{64}$/);
      expect(s.from).toMatch(/-slim/);
    }
  });

  it('runs as a non-root user in the final stage', () => {
    const users = finalOps('USER');
    expect(users.length).toBeGreaterThan(0);
    const last = users.at(-1)!.args.split(':')[0]!;
    expect(['root', '0', '']).not.toContain(last);
    // Numeric, so Kubernetes runAsNonRoot can verify it without resolving a name.
    expect(last).toMatch(/^\d+$/);
    expect(Number(last)).toBeGreaterThanOrEqual(10000);
    const deployment = readFileSync(
      join(ROOT, 'platform', 'iris-classifier', 'base', 'deployment.yaml'),
      'utf8',
    );
    expect(deployment).toContain(`runAsUser: ${last}`);
  });

  it('has no build tools and no installer in the final stage', () => {
    const runs = finalOps('RUN').map((r) => r.args);
    for (const r of runs) {
      expect(r).not.toMatch(/\b(apt-get|apt|apk)\s+(install|add)\b/);
      expect(r).not.toMatch(/\b(gcc|g\+\+|make|build-essential|cmake|cargo|rustc)\b/);
      expect(r).not.toMatch(/\bpip\d?\s+install\b/);
    }
    // pip itself is removed from the runtime, and the venv comes from the builder without it.
    expect(runs.join(' ')).toMatch(/pip uninstall --yes .*\bpip\b/);
    expect(stages[0]!.body.map((i) => i.args).join(' ')).toMatch(/\/opt\/venv\/bin\/pip uninstall --yes pip/);
    expect(finalOps('COPY').some((c) => /--from=builder \/opt\/venv/.test(c.args))).toBe(true);
  });

  it('installs only pinned wheels in the builder, from pins copied from requirements.txt', () => {
    const install = stages[0]!.body.map((i) => i.args).join(' ');
    expect(install).toMatch(/pip install --only-binary=:all: --no-deps -r \/tmp\/requirements-serve\.txt/);
    expect(install).toMatch(/pip check/);
    const norm = (n: string) => n.toLowerCase().replace(/[-_.]+/g, '-');
    const pins = (file: string) =>
      new Map(
        readFileSync(file, 'utf8')
          .split('\n')
          .map((l) => l.replace(/#.*/, '').trim())
          .filter(Boolean)
          .map((l) => {
            const [n, v] = l.split('==');
            return [norm(n!), v] as const;
          }),
      );
    const root = pins(join(ROOT, 'requirements.txt'));
    const serve = pins(join(ROOT, 'model', 'requirements-serve.txt'));
    expect(serve.size).toBeGreaterThan(10);
    for (const [name, version] of serve) {
      expect(version).toMatch(/^\d/);
      expect([name, root.get(name)]).toEqual([name, version]);
    }
    // The server's own imports are in the list; the training-only stack is not.
    for (const needed of [
      'mlflow-skinny',
      'scikit-learn',
      'uvicorn',
      'uvloop',
      'httptools',
      'prometheus-client',
    ]) {
      expect(serve.has(needed)).toBe(true);
    }
    for (const notNeeded of ['mlflow', 'pytest', 'flask', 'gunicorn', 'sqlalchemy', 'matplotlib']) {
      expect(serve.has(notNeeded)).toBe(false);
    }
  });

  it('has a HEALTHCHECK on /healthz at 127.0.0.1:30808, exposes 30808 and runs serve.py', () => {
    const hc = finalOps('HEALTHCHECK');
    expect(hc).toHaveLength(1);
    expect(hc[0]!.args).toMatch(/--interval=\d+s/);
    expect(hc[0]!.args).toMatch(/CMD \[.*http:\/\/127\.0\.0\.1:%s\/healthz.*'PORT', '30808'/);
    expect(finalOps('EXPOSE').map((e) => e.args)).toEqual(['30808']);
    expect(finalOps('CMD').at(-1)!.args).toBe('["python", "serve.py"]');
    expect(
      finalOps('ENV')
        .map((e) => e.args)
        .join(' '),
    ).toMatch(/PORT=30808/);
  });

  it('labels the image with the model name, version, run id and digest build args, and OCI metadata', () => {
    const labels = finalOps('LABEL')
      .map((l) => l.args)
      .join(' ');
    expect(labels).toContain(`${MLFLOW_RUN_ID_LABEL}="\${MLFLOW_RUN_ID}"`);
    expect(labels).toContain(`${MODEL_VERSION_LABEL}="\${MODEL_VERSION}"`);
    expect(labels).toContain('io.mlflow.model-name="${MODEL_NAME}"');
    expect(labels).toContain('io.mlflow.model-digest="${MODEL_DIGEST}"');
    expect(labels).toMatch(/org\.opencontainers\.image\.title=/);
    expect(finalOps('ARG').map((a) => a.args.split('=')[0])).toEqual([
      'MODEL_NAME',
      'MODEL_VERSION',
      'MLFLOW_RUN_ID',
      'MODEL_DIGEST',
    ]);
    // MLflow would resume a run named by MLFLOW_RUN_ID: it must not be in the runtime env.
    expect(
      finalOps('ENV')
        .map((e) => e.args)
        .join(' '),
    ).not.toMatch(/MLFLOW_RUN_ID=/);
  });

  it('copies only files that exist, and model/.dockerignore sends nothing else', () => {
    const patterns = readFileSync(join(ROOT, 'model', '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    // Docker's rule: the last matching pattern decides; `!` re-includes.
    const ignored = (path: string): boolean => {
      let out = false;
      for (const p of patterns) {
        const neg = p.startsWith('!');
        const pat = neg ? p.slice(1) : p;
        const hit =
          minimatch(path, pat.replace(/\/$/, ''), { dot: true }) ||
          minimatch(path, `${pat.replace(/\/$/, '')}/**`, { dot: true });
        if (hit) out = !neg;
      }
      return out;
    };
    const sources = stages
      .flatMap((s) => s.body)
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .map((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--'))[0]!);
    // registered-model/ is download-model's output (git-ignored), not a file of the repository.
    expect(sources.sort()).toEqual([
      'iris_server/',
      'registered-model/',
      'requirements-serve.txt',
      'serve.py',
    ]);
    for (const file of [
      'registered-model/MLmodel',
      'registered-model/model.skops',
      'registered-model/code/a.pyc',
    ]) {
      expect([file, ignored(file)]).toEqual([file, false]);
    }
    for (const src of ['requirements-serve.txt', 'serve.py', 'iris_server/main.py', 'iris_server/app.py']) {
      expect([src, ignored(src)]).toEqual([src, false]);
      expect(readFileSync(join(ROOT, 'model', src), 'utf8').length).toBeGreaterThan(0);
    }
    for (const other of [
      'train.py',
      'tests/test_train.py',
      'conftest.py',
      'iris_server/__pycache__/app.cpython-311.pyc',
      'mlruns/0/meta.yaml',
      'model/MLmodel',
      '.env',
    ]) {
      expect([other, ignored(other)]).toEqual([other, true]);
    }
  });

  it('is what build-scan-push builds with `context: model`', async () => {
    const f = fakeEnv();
    const sarifDir = mkdtempSync(join(tmpdir(), 'bsp-sarif-'));
    try {
      const res = await runAction('build-scan-push', {
        inputs: {
          context: 'model',
          push: false,
          'mlflow-run-id': 'abc123',
          'model-version': '3',
          'sarif-file': join(sarifDir, 'out.sarif'),
        },
        env: { ...f.env, GITHUB_WORKSPACE: ROOT },
        cwd: ROOT,
      });
      expect(res.errors).toEqual([]);
      const build = f.calls().find((c) => c.argv[1] === 'build')!;
      expect(argOf(build.argv, '--file')).toBe(join(ROOT, 'model', 'Dockerfile'));
      expect(build.argv.at(-1)).toBe(join(ROOT, 'model'));
      expect(allArgsOf(build.argv, '--build-arg')).toEqual(['MLFLOW_RUN_ID=abc123', 'MODEL_VERSION=3']);
    } finally {
      f.cleanup();
      rmSync(sarifDir, { recursive: true, force: true });
    }
  });
});
