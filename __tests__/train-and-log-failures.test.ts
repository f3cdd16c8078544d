/**
 * train-and-log when things go wrong: the action fails with a message that names the input or the
 * exit code, and the MLflow run is never left RUNNING (FAILED, or KILLED on cancellation), even
 * when the tracking server dies in the middle. Bundled action, real `mlflow server`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { freePort } from './helpers/net.js';
import { runAction, type RunOptions, type RunResult } from './helpers/run-action.js';

let mlflow: MlflowServer;
let rest: MlflowRest;

beforeAll(async () => {
  mlflow = await startMlflow();
  rest = new MlflowRest(mlflow.url);
}, 120_000);

afterAll(async () => {
  await mlflow?.stop();
});

let counter = 0;

/** A run with a shell command instead of real training: these tests are about the run's edges. */
async function act(
  command: string,
  inputs: Record<string, string> = {},
  options: Partial<RunOptions> = {},
): Promise<RunResult & { cwd: string; experiment: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'tal-fail-'));
  const experiment = `failures-${++counter}`;
  const result = await runAction('train-and-log', {
    cwd,
    inputs: { 'tracking-uri': mlflow.url, experiment, command, 'github-token': '', ...inputs },
    timeoutMs: 90_000,
    ...options,
  });
  return { ...result, cwd, experiment };
}

/** Running, as opposed to gone or a zombie that only waits for a reaper (PID 1 here may not reap). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
};

async function statusOf(runId: string | undefined): Promise<string> {
  expect(runId).toMatch(/^[0-9a-f]{32}$/);
  return (await rest.run(runId!)).info.status;
}

/** A loopback TCP relay to `port` that can be closed, dropping every connection, like a server dying. */
async function tcpRelay(port: string): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: relayPort } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${relayPort}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe('train-and-log failures', () => {
  it('a failing command fails the action with its exit code and marks the run FAILED', async () => {
    const r = await act('echo "epoch 1: loss nan" && exit 3', { 'registered-model': 'never-registered' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('epoch 1: loss nan');
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/exit code 3/);
    expect(r.errors[0]).toContain(r.outputs['run-id']);
    expect(r.summary).toMatch(/Failed.*exit code 3/);
    expect(r.summary).toContain(r.outputs['run-url']);
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
    expect((await rest.run(r.outputs['run-id']!)).info.end_time).toBeGreaterThan(0);
    await expect(rest.versions('never-registered')).resolves.toEqual([]);
  });

  it('a command that fails inside a pipe still fails (bash -eo pipefail, as run: steps)', async () => {
    const r = await act('false | cat; echo "{}" > metrics.json');
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/exit code 1/);
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'cancellation (%s to the action) stops the command and marks the run KILLED',
    async (signal) => {
      const r = await act(
        'sleep 60 & echo $! > sleep.pid; echo $$ > bash.pid; echo "training started"; wait',
        {},
        {
          onStdout: (chunk, child) => {
            if (chunk.includes('training started')) child.kill(signal);
          },
        },
      );
      expect(r.code).toBe(1);
      expect(r.errors.join('\n')).toMatch(new RegExp(`Cancelled \\(${signal}\\).*marked KILLED`));
      expect(await statusOf(r.outputs['run-id'])).toBe('KILLED');
      // Everything the command started is gone, not orphaned.
      for (const file of ['sleep.pid', 'bash.pid']) {
        expect(alive(Number(readFileSync(join(r.cwd, file), 'utf8')))).toBe(false);
      }
    },
  );

  it('a missing metrics file names metrics-file and fails the run', async () => {
    const r = await act('echo trained', { 'metrics-file': 'out/metrics.json' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/^Input 'metrics-file': .*out\/metrics\.json does not exist/);
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
  });

  it('a metrics file that is not JSON names metrics-file', async () => {
    const r = await act(`echo '{"accuracy": 0.9,' > metrics.json`);
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/^Input 'metrics-file': .*is not valid JSON/);
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
  });

  it('a non-numeric metric names metrics-file and the metric', async () => {
    const r = await act(`echo '{"accuracy": 0.9, "per_class": {"setosa": "high"}}' > metrics.json`);
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(
      /^Input 'metrics-file': expected numeric metric values, got 'metric 'per_class.setosa' is the string "high"/,
    );
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
  });

  it.each(['/acc', 'a//b', 'a/../b'])(
    'a gate-metric MLflow would refuse (%s) fails the input check before the command runs',
    async (metric) => {
      const r = await act('touch ran', { 'registered-model': 'iris-bad-gate', 'gate-metric': metric });
      expect(r.code).toBe(1);
      expect(r.errors[0]).toMatch(/^Input 'gate-metric': expected .*normalized/);
      expect(r.errors[0]).toContain(`got '${metric}'`);
      expect(() => readFileSync(join(r.cwd, 'ran'))).toThrow();
      await expect(rest.runsOf(r.experiment)).resolves.toEqual([]);
    },
  );

  it('a metric name MLflow would refuse names metrics-file and the key', async () => {
    const r = await act(`echo '{"acc": 0.9, "a//b": 1}' > metrics.json`);
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(
      /^Input 'metrics-file': expected names .*'a\/\/b' in .*not a normalized path/,
    );
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
  });

  it('name length is counted in characters, as MLflow counts: 250 letters outside the BMP are accepted', async () => {
    const name = '\u{20000}'.repeat(250); // a CJK letter outside the BMP: 500 UTF-16 units, 250 characters
    const r = await act(`echo '${JSON.stringify({ [name]: 0.5 })}' > metrics.json`);
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    const run = await rest.run(r.outputs['run-id']!);
    expect(run.data.metrics).toEqual([expect.objectContaining({ key: name, value: 0.5 })]);
    const tooLong = await act(`echo '${JSON.stringify({ [name + 'x']: 0.5 })}' > metrics.json`);
    expect(tooLong.errors[0]).toMatch(/^Input 'metrics-file': .*it has 251 characters/);
  });

  it('keys that flatten onto one name are an error naming the key, not a silent overwrite', async () => {
    const r = await act(`echo '{"a.b": 1, "a": {"b": 2}}' > metrics.json`);
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/^Input 'metrics-file': expected names that stay distinct.*'a\.b' twice/);
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
    expect((await rest.run(r.outputs['run-id']!)).data.metrics ?? []).toEqual([]);
  });

  it('artifacts on a server that does not proxy them (no --serve-artifacts) fail before the command runs', async () => {
    const experiment = `not-proxied-${++counter}`;
    const location = `file://${mkdtempSync(join(tmpdir(), 'tal-local-artifacts-'))}`;
    await rest.call('POST', '/experiments/create', { name: experiment, artifact_location: location });
    const r = await act('touch ran; echo "{}" > metrics.json', { experiment, artifacts: 'ran' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/^Input 'artifacts': .*--serve-artifacts/);
    expect(() => readFileSync(join(r.cwd, 'ran'))).toThrow();
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
  });

  it('an unknown gate-direction fails before anything reaches MLflow', async () => {
    const r = await act('echo "{}" > metrics.json', {
      'gate-direction': 'up',
      'registered-model': 'iris',
      'gate-metric': 'accuracy',
    });
    expect(r.code).toBe(1);
    expect(r.errors).toEqual(["Input 'gate-direction': expected one of maximize, minimize, got 'up'."]);
    expect(r.outputs['run-id']).toBeUndefined();
    await expect(rest.runsOf(r.experiment)).resolves.toEqual([]);
  });

  it('a gate metric the run does not have names gate-metric; nothing is registered', async () => {
    const r = await act(`echo '{"f1_macro": 0.9, "loss": 0.2}' > metrics.json`, {
      'registered-model': 'iris-no-gate-metric',
      'gate-metric': 'accuracy',
    });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(
      /^Input 'gate-metric': expected a metric of this run \(it has f1_macro, loss\), got 'accuracy'/,
    );
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
    await expect(rest.versions('iris-no-gate-metric')).resolves.toEqual([]);
  });

  it('promote-alias equal to champion-alias is refused: this action never moves the champion', async () => {
    const r = await act('true', { 'promote-alias': 'champion', 'registered-model': 'iris' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(
      /^Input 'promote-alias': expected an alias other than champion-alias 'champion'/,
    );
  });

  it('a model-path that is neither a local model nor a logged model names model-path', async () => {
    const r = await act(`echo '{"accuracy": 0.9}' > metrics.json`, {
      'registered-model': 'iris-no-model',
      'gate-metric': 'accuracy',
      'model-path': 'model',
    });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(
      /^Input 'model-path': .*'model': no such directory .* and no such model in run/,
    );
    expect(await statusOf(r.outputs['run-id'])).toBe('FAILED');
  });

  it('no tracking URI at all names tracking-uri', async () => {
    const r = await act('true', { 'tracking-uri': '' }, { env: { MLFLOW_TRACKING_URI: '' } });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/^Input 'tracking-uri': expected the URL of an MLflow tracking server/);
  });

  it('an unreachable tracking server fails in bounded time, naming tracking-uri', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await act('touch ran', { 'tracking-uri': url });
    // Bounded: the action ended by itself (act() kills it after 90 s, which would show as a signal).
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.errors[0]).toContain(
      `Input 'tracking-uri': the MLflow tracking server at ${url} cannot be used`,
    );
    expect(r.errors[0]).toMatch(/ECONNREFUSED|cannot reach/);
    expect(() => readFileSync(join(r.cwd, 'ran'))).toThrow();
  });

  it('a tracking server that dies mid-run and never comes back fails the action clearly and in bounded time', async () => {
    // The action reaches MLflow through a TCP relay; closing the relay is the server dying, as
    // the action sees it (connections refused), without starting a second server.
    const doomed = await tcpRelay(new URL(mlflow.url).port);
    const cwd = mkdtempSync(join(tmpdir(), 'tal-doomed-'));
    writeFileSync(join(cwd, 'wait-for-kill.sh'), 'while [ ! -e killed ]; do sleep 0.2; done\n');
    let stopping: Promise<void> | undefined;
    const r = await runAction('train-and-log', {
      cwd,
      inputs: {
        'tracking-uri': doomed.url,
        experiment: 'doomed',
        command: `echo '{"accuracy": 0.9}' > metrics.json; echo "server, goodbye"; bash wait-for-kill.sh`,
        'github-token': '',
      },
      // Ending the run retries for minutes by default; MLflow's own variables shorten that here.
      env: { MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2', MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0.5' },
      timeoutMs: 90_000,
      onStdout: (chunk) => {
        if (chunk.includes('server, goodbye') && !stopping) {
          stopping = doomed.close().then(() => writeFileSync(join(cwd, 'killed'), ''));
        }
      },
    });
    await stopping;
    // Bounded: the action ended by itself (runAction kills it after 90 s, which would show as a signal).
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    const runId = r.outputs['run-id']!;
    expect(runId).toMatch(/^[0-9a-f]{32}$/);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain(`cannot reach MLflow at ${doomed.url}`);
    // It says the run could not be closed either, so nobody trusts its RUNNING status.
    expect(r.errors[0]).toContain(`marking MLflow run ${runId} FAILED failed too`);
    expect(await statusOf(runId)).toBe('RUNNING');
  });

  it('a tracking server killed during the command and back ~10 s later: the run ends FAILED, not RUNNING', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tal-restart-'));
    const first = await startMlflow({ dir: home });
    const port = Number(new URL(first.url).port);
    const cwd = mkdtempSync(join(tmpdir(), 'tal-restart-cwd-'));
    writeFileSync(join(cwd, 'wait-for-kill.sh'), 'while [ ! -e killed ]; do sleep 0.2; done\n');
    let restarted: Promise<MlflowServer> | undefined;
    const r = await runAction('train-and-log', {
      cwd,
      inputs: {
        'tracking-uri': first.url,
        experiment: 'restarted',
        command: `echo '{"accuracy": 0.9}' > metrics.json; echo "server, goodbye"; bash wait-for-kill.sh`,
        'github-token': '',
      },
      timeoutMs: 240_000,
      onStdout: (chunk) => {
        if (chunk.includes('server, goodbye') && !restarted) {
          // A crash, not a shutdown: SIGKILL to the server's process group, then the command ends
          // and the action meets a dead server; it comes back on the same port and database.
          restarted = crash(first)
            .then(() => writeFileSync(join(cwd, 'killed'), ''))
            .then(() => new Promise((resolve) => setTimeout(resolve, 10_000)))
            .then(() => startMlflow({ dir: home, port }));
        }
      },
    });
    const second = await restarted!;
    try {
      expect(r.signal).toBeNull();
      expect(r.code).toBe(1);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toContain(`cannot reach MLflow at ${first.url}`);
      expect(r.errors[0]).not.toContain('failed too');
      const run = await new MlflowRest(second.url).run(r.outputs['run-id']!);
      expect(run.info.status).toBe('FAILED');
      expect(run.info.end_time).toBeGreaterThan(0);
    } finally {
      await second.stop();
    }
  }, 300_000);
});

async function crash(server: MlflowServer): Promise<void> {
  const exited = new Promise((resolve) => server.process.once('exit', resolve));
  process.kill(-server.process.pid!, 'SIGKILL');
  await exited;
}
