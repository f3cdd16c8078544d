/**
 * promote, bundled, against a real `mlflow server`: it sets a new alias, moves one, copies one from
 * another alias, deletes, refuses to move an alias that is not where expect-previous says, and fails
 * when the read-back shows that a second writer moved the alias between our write and our check
 * (a proxy in front of MLflow plays that writer). Bad inputs name the input; on a basic-auth server
 * the credentials work, a READ-only user is refused by name, and no password reaches the log.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { AUTH_ADMIN, startMlflow, type MlflowServer } from './helpers/mlflow-server.js';
import { MlflowRest } from './helpers/mlflow-rest.js';
import { freePort } from './helpers/net.js';
import { runAction, type RunResult } from './helpers/run-action.js';

const MODEL = 'promote-iris';
let mlflow: MlflowServer;
let rest: MlflowRest;

/** A registered model with `n` versions of one run. */
async function registerVersions(api: MlflowRest, name: string, n: number): Promise<void> {
  const exp = await api.call<{ experiment_id: string }>('POST', '/experiments/create', {
    name: `${name}-exp`,
  });
  const run = await api.call<{ run: { info: { run_id: string } } }>('POST', '/runs/create', {
    experiment_id: exp.experiment_id,
  });
  const runId = run.run.info.run_id;
  await api.call('POST', '/registered-models/create', { name });
  for (let i = 0; i < n; i++) {
    await api.call('POST', '/model-versions/create', { name, source: `runs:/${runId}/model`, run_id: runId });
  }
}

beforeAll(async () => {
  mlflow = await startMlflow();
  rest = new MlflowRest(mlflow.url);
  await registerVersions(rest, MODEL, 3);
}, 120_000);

afterAll(async () => {
  await mlflow?.stop();
});

const promote = (inputs: Record<string, string>, env: Record<string, string> = {}): Promise<RunResult> =>
  runAction('promote', {
    inputs: { 'tracking-uri': mlflow.url, 'registered-model': MODEL, ...inputs },
    env,
    timeoutMs: 60_000,
  });

const versionUrl = (v: string): string => `${mlflow.url}/#/models/${MODEL}/versions/${v}`;
/** The summary's row of one alias, cells trimmed. */
const row = (r: RunResult, alias: string): string[] | undefined =>
  r.summary
    .split('\n')
    .find((l) => l.startsWith(`| \`${alias}\` |`))
    ?.split('|')
    .slice(2, -1)
    .map((c) => c.trim());

describe('promote against a real MLflow server', () => {
  it('sets a new alias, reports it was unset, and links the version in the summary', async () => {
    const r = await promote({ alias: 'prod', version: '2' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(await rest.alias(MODEL, 'prod')).toBe('2');
    expect(r.outputs).toEqual({ version: '2', 'previous-version': '', 'previous-versions': '{"prod":""}' });
    expect(row(r, 'prod')).toEqual(['unset', `[version 2](${versionUrl('2')})`, 'set']);
  });

  it('moves an alias when expect-previous matches, and outputs where it was', async () => {
    await rest.setAlias(MODEL, 'champion', '1');
    const r = await promote({ alias: 'champion', version: '3', 'expect-previous': '1' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(await rest.alias(MODEL, 'champion')).toBe('3');
    expect(r.outputs['previous-version']).toBe('1');
    expect(r.outputs.version).toBe('3');
    expect(row(r, 'champion')).toEqual([
      `[version 1](${versionUrl('1')})`,
      `[version 3](${versionUrl('3')})`,
      'moved',
    ]);
  });

  it('points several aliases at what from-alias points at', async () => {
    await rest.setAlias(MODEL, 'candidate', '2');
    await rest.setAlias(MODEL, 'canary', '1');
    const r = await promote({ alias: 'staging,\ncanary', 'from-alias': 'candidate' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(await rest.alias(MODEL, 'staging')).toBe('2');
    expect(await rest.alias(MODEL, 'canary')).toBe('2');
    expect(r.outputs.version).toBe('2');
    expect(JSON.parse(r.outputs['previous-versions']!)).toEqual({ staging: '', canary: '1' });
  });

  it('deletes an alias (and a second delete finds it already unset)', async () => {
    await rest.setAlias(MODEL, 'doomed', '3');
    const r = await promote({ alias: 'doomed', action: 'delete' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(await rest.alias(MODEL, 'doomed')).toBeUndefined();
    expect(r.outputs).toMatchObject({ version: '', 'previous-version': '3' });
    expect(row(r, 'doomed')).toEqual([`[version 3](${versionUrl('3')})`, 'unset', 'deleted']);
    const again = await promote({ alias: 'doomed', action: 'delete' });
    expect(again.code).toBe(0);
    expect(row(again, 'doomed')).toEqual(['unset', 'unset', 'already unset']);
  });

  it('expect-previous that does not match changes nothing and fails naming it', async () => {
    await rest.setAlias(MODEL, 'guarded', '3');
    await rest.setAlias(MODEL, 'guarded-too', '2');
    const r = await promote({ alias: 'guarded-too, guarded', version: '1', 'expect-previous': '2' });
    expect(r.code).toBe(1);
    expect(r.errors).toEqual([
      `Input 'expect-previous': ${MODEL}@guarded is version 3, not version 2 as expected; no alias was changed.`,
    ]);
    // Nothing moved, not even the alias that did match.
    expect(await rest.alias(MODEL, 'guarded')).toBe('3');
    expect(await rest.alias(MODEL, 'guarded-too')).toBe('2');
    expect(r.outputs).toMatchObject({ version: '', 'previous-version': '2' });
    expect(row(r, 'guarded')?.[2]).toBe('not changed');
  });

  it('expect-previous none refuses an alias that is set', async () => {
    await rest.setAlias(MODEL, 'fresh', '1');
    const r = await promote({ alias: 'fresh', version: '2', 'expect-previous': 'none' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toContain(`${MODEL}@fresh is version 1, not unset as expected`);
    expect(await rest.alias(MODEL, 'fresh')).toBe('1');
  });

  it('a version that does not exist fails naming version, and leaves the alias', async () => {
    await rest.setAlias(MODEL, 'champion', '3');
    const r = await promote({ alias: 'champion', version: '9' });
    expect(r.code).toBe(1);
    expect(r.errors).toEqual([
      `Input 'version': expected a version of registered model '${MODEL}' (it has no version 9), got '9'.`,
    ]);
    expect(await rest.alias(MODEL, 'champion')).toBe('3');
    expect(r.outputs).toEqual({});
  });

  it('a registered model that does not exist fails naming registered-model', async () => {
    const r = await promote({ 'registered-model': 'no-such-model', alias: 'champion', version: '1' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(
      /^Input 'registered-model': expected a registered model in MLflow at .*, got 'no-such-model'\.$/,
    );
  });

  it('a from-alias that is not set fails naming from-alias', async () => {
    const r = await promote({ alias: 'champion', 'from-alias': 'nobody' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/^Input 'from-alias': .*, got 'nobody'\.$/);
    expect(await rest.alias(MODEL, 'champion')).toBe('3');
  });

  it.each([
    [{ alias: 'champion', version: 'two' }, 'version'],
    [{ alias: 'champion', version: '0' }, 'version'],
    [{ alias: 'champion' }, 'version'],
    [{ alias: 'champion', version: '1', 'from-alias': 'candidate' }, 'from-alias'],
    [{ alias: 'champion', 'from-alias': 'champion' }, 'from-alias'],
    [{ alias: 'champion', action: 'delete', version: '1' }, 'version'],
    [{ alias: 'champion', action: 'move', version: '1' }, 'action'],
    [{ alias: 'latest', version: '1' }, 'alias'],
    [{ alias: 'v2', version: '1' }, 'alias'],
    [{ alias: '', version: '1' }, 'alias'],
    [{ alias: 'champion', version: '1', 'expect-previous': 'one' }, 'expect-previous'],
    [{ alias: 'champion', version: '1', 'registered-model': '' }, 'registered-model'],
    [{ alias: 'champion', version: '1', 'tracking-uri': 'file:///tmp/mlruns' }, 'tracking-uri'],
  ])('bad input %j names %s', async (inputs, name) => {
    const r = await promote(inputs as Record<string, string>);
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(new RegExp(`^Input '${name}': expected `));
    expect(await rest.alias(MODEL, 'champion')).toBe('3');
  });

  it('an unreachable tracking server fails naming tracking-uri', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await promote({ 'tracking-uri': url, alias: 'champion', version: '1' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toContain(
      `Input 'tracking-uri': the MLflow tracking server at ${url} cannot be used`,
    );
  }, 60_000);

  describe('a second writer moves the alias between our write and our read-back', () => {
    let proxy: Server;
    let proxyUrl: string;

    beforeAll(async () => {
      // Forwards everything to MLflow; after our POST of alias `raced` it lands, as a second
      // process would, another write that points `raced` at version 1.
      proxy = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          void (async () => {
            const body = Buffer.concat(chunks);
            const upstream = await fetch(`${mlflow.url}${req.url}`, {
              method: req.method,
              headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
              body: req.method === 'GET' ? undefined : body,
            });
            const text = await upstream.text();
            const path = req.url!.split('?')[0];
            if (req.method === 'POST' && path === '/api/2.0/mlflow/registered-models/alias') {
              const { alias } = JSON.parse(body.toString()) as { alias: string };
              if (alias === 'raced') await rest.setAlias(MODEL, 'raced', '1');
            }
            res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(text);
          })();
        });
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    });
    afterAll(() => new Promise<void>((r) => proxy.close(() => r())));

    it('fails with what MLflow reports, and the summary shows the mismatch', async () => {
      await rest.setAlias(MODEL, 'raced', '2');
      const r = await promote({ 'tracking-uri': proxyUrl, alias: 'raced', version: '3' });
      expect(r.code).toBe(1);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toContain(
        `MLflow reports ${MODEL}@raced at version 1 after setting it to version 3: something else changed it meanwhile`,
      );
      expect(await rest.alias(MODEL, 'raced')).toBe('1');
      // The rollback point is still reported; the alias is not claimed to be at 3.
      expect(r.outputs).toMatchObject({ version: '', 'previous-version': '2' });
      expect(row(r, 'raced')?.slice(1)).toEqual([
        `[version 1](${proxyUrl}/#/models/${MODEL}/versions/1)`,
        '**mismatch**',
      ]);
      expect(r.summary).toContain('**Failed:** MLflow reports');
    });

    it('an alias nobody else touches passes through the same proxy', async () => {
      const r = await promote({ 'tracking-uri': proxyUrl, alias: 'calm', version: '3' });
      expect(r.errors).toEqual([]);
      expect(await rest.alias(MODEL, 'calm')).toBe('3');
    });
  });
});

describe('promote on a basic-auth MLflow server', () => {
  const READER = { username: 'promote-reader', password: 'reader-secret-pw-7' };
  let auth: MlflowServer;
  let admin: MlflowRest;

  beforeAll(async () => {
    auth = await startMlflow({ basicAuth: true });
    admin = new MlflowRest(auth.url, AUTH_ADMIN);
    await registerVersions(admin, MODEL, 2);
    await admin.call('POST', '/users/create', READER);
    const res = await fetch(`${auth.url}/api/3.0/mlflow/users/permissions/grant`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${AUTH_ADMIN.username}:${AUTH_ADMIN.password}`).toString('base64')}`,
      },
      body: JSON.stringify({
        username: READER.username,
        resource_type: 'registered_model',
        resource_id: MODEL,
        permission: 'READ',
      }),
    });
    if (!res.ok) throw new Error(`grant: ${res.status} ${await res.text()}`);
  }, 120_000);
  afterAll(async () => {
    await auth?.stop();
  });

  const as = (user: { username: string; password: string }, inputs: Record<string, string>) =>
    promote(
      { 'tracking-uri': auth.url, ...inputs },
      { MLFLOW_TRACKING_USERNAME: user.username, MLFLOW_TRACKING_PASSWORD: user.password },
    );
  /** What a reader of the job log sees: the runner consumes `::add-mask::` lines and masks their values. */
  const visible = (r: RunResult): string =>
    r.stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n') +
    r.stderr +
    r.summary;

  it('sends MLFLOW_TRACKING_USERNAME/PASSWORD and masks the password', async () => {
    const r = await as(AUTH_ADMIN, { alias: 'champion', version: '2' });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(await admin.alias(MODEL, 'champion')).toBe('2');
    expect(r.stdout).toContain(`::add-mask::${AUTH_ADMIN.password}`);
    expect(visible(r)).not.toContain(AUTH_ADMIN.password);
  });

  it('a READ-only user is refused by name, and the alias stays', async () => {
    const r = await as(READER, { alias: 'champion', version: '1' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toContain(`setting ${MODEL}@champion failed`);
    expect(r.errors[0]).toContain(
      "user 'promote-reader' of MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD lacks this permission",
    );
    expect(await admin.alias(MODEL, 'champion')).toBe('2');
    expect(r.outputs['previous-version']).toBe('2');
    expect(visible(r)).not.toContain(READER.password);
  });

  it('without credentials it fails naming the variables to set', async () => {
    const r = await promote({ 'tracking-uri': auth.url, alias: 'champion', version: '1' });
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(/^Input 'tracking-uri': .*HTTP 401/);
    expect(r.errors[0]).toContain(
      'set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN',
    );
    expect(await admin.alias(MODEL, 'champion')).toBe('2');
  });
});
