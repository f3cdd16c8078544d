/**
 * The loop's Teardown (scripts/loop/teardown.ts): what each stage starts is stopped, most recent
 * first, including what a start still under way registers, and one failing stop does not keep
 * the others from running.
 */
import { describe, expect, it } from '@jest/globals';
import { Teardown } from '../scripts/loop/teardown.js';

describe('Teardown', () => {
  it('stops in reverse order of registration', async () => {
    const stopped: string[] = [];
    const t = new Teardown();
    for (const name of ['mlflow', 'relay', 'server', 'traffic']) t.defer(name, () => void stopped.push(name));
    await t.run();
    expect(stopped).toEqual(['traffic', 'server', 'relay', 'mlflow']);
    // Each stop runs once: a second run has nothing left.
    await t.run();
    expect(stopped).toHaveLength(4);
  });

  it('lets a start in the background finish, and stops what it started before what came earlier', async () => {
    const stopped: string[] = [];
    const t = new Teardown();
    t.defer('server', () => void stopped.push('server'));
    let release!: () => void;
    const starting = t.track(
      new Promise<void>((resolve) => (release = resolve)).then(() => {
        t.defer('prometheus', () => void stopped.push('prometheus'));
        throw new Error('prometheus not ready');
      }),
    );
    const done = t.run();
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toEqual([]);
    release();
    await done;
    expect(stopped).toEqual(['prometheus', 'server']);
    await expect(starting).rejects.toThrow('prometheus not ready');
  });

  it('reports a stop that fails and still runs the rest', async () => {
    const stopped: string[] = [];
    const errors: string[] = [];
    const t = new Teardown((m) => errors.push(m));
    t.defer('mlflow', () => void stopped.push('mlflow'));
    t.defer('relay', async () => {
      throw new Error('EPERM');
    });
    await t.run();
    expect(stopped).toEqual(['mlflow']);
    expect(errors).toEqual(['stopping relay failed: EPERM']);
  });
});
