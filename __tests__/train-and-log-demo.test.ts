/**
 * The README's main command, `bash scripts/demo`: a local MLflow on embedded defaults, the bundled
 * train-and-log on model/train.py, the links and the verdict printed, the server stopped after.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './helpers/net.js';
import { ROOT } from './helpers/run-action.js';

describe('bash scripts/demo', () => {
  it('trains, logs, registers and gates against a local MLflow, prints the links, stops MLflow', async () => {
    const state = mkdtempSync(join(tmpdir(), 'demo-state-'));
    const port = await freePort();
    const res = spawnSync('bash', [join(ROOT, 'scripts', 'demo'), '--', '--n-estimators', '20'], {
      cwd: ROOT,
      env: { ...process.env, MLOPS_STATE_DIR: state, MLOPS_DEMO_PORT: String(port) },
      encoding: 'utf8',
      timeout: 240_000,
    });
    const out = res.stdout;
    expect({ status: res.status, tail: out.slice(-1500) + res.stderr.slice(-1500) }).toMatchObject({
      status: 0,
    });
    const url = `http://127.0.0.1:${port}`;
    expect(out).toMatch(new RegExp(`MLflow run: +${url}/#/experiments/\\d+/runs/[0-9a-f]{32}`));
    expect(out).toMatch(
      new RegExp(`model version: +iris-classifier v1 +${url}/#/models/iris-classifier/versions/1`),
    );
    expect(out).toMatch(/gate: +Gate passed: no champion yet: f1_macro = 0\.\d+/);
    // The action's own log streamed through, and its workflow commands were made readable.
    expect(out).toMatch(/accuracy=0\.\d+ f1_macro=0\.\d+/);
    expect(out).not.toContain('::');
    // Embedded defaults: sqlite and artifacts in the state folder; the server is gone afterwards.
    expect(existsSync(join(state, 'mlflow', 'mlflow.db'))).toBe(true);
    expect(existsSync(join(state, 'mlflow', 'artifacts'))).toBe(true);
    await expect(fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  }, 300_000);
});
