/**
 * The Alertmanager configurations in platform/alertmanager/. The relay variant is checked by
 * Debian's amtool (0.25). The direct variant needs Alertmanager >= 0.32 (`payload:`), which
 * amtool 0.25 cannot parse, so it is checked structurally here, and its rendering by
 * Alertmanager 0.32's own code (render-direct/, Go) is committed as testdata and fed to
 * alert-to-issue. When a Go toolchain is present the rendering is redone and compared.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseDocument } from 'yaml';
import { FakeGitHub } from './helpers/fake-github/server.js';
import { ROOT, runAction } from './helpers/run-action.js';

const dir = join(ROOT, 'platform', 'alertmanager');
const read = (name: string): string => readFileSync(join(dir, name), 'utf8');

interface Webhook {
  url: string;
  send_resolved?: boolean;
  max_alerts?: number;
  http_config?: { authorization?: { type?: string; credentials?: string; credentials_file?: string } };
  payload?: { event_type: string; client_payload: Record<string, string> };
}
interface Config {
  route: {
    receiver: string;
    group_by: string[];
    group_wait: string;
    group_interval: string;
    repeat_interval: string;
  };
  receivers: { name: string; webhook_configs: Webhook[] }[];
}

describe('platform/alertmanager/alertmanager.yml (via the relay)', () => {
  const config = parse(read('alertmanager.yml')) as Config;

  it('passes amtool check-config', () => {
    const res = spawnSync('amtool', ['check-config', join(dir, 'alertmanager.yml')], { encoding: 'utf8' });
    expect(res.stdout + res.stderr).toContain('SUCCESS');
    expect(res.status).toBe(0);
  });

  it('routes everything to the relay with resolved notifications and a bearer token from a file', () => {
    const receiver = config.receivers.find((r) => r.name === config.route.receiver)!;
    const hook = receiver.webhook_configs[0]!;
    expect(hook.url).toMatch(/^http:\/\/alertmanager-relay:8080\/alertmanager$/);
    expect(hook.send_resolved).toBe(true);
    expect(hook.http_config?.authorization?.credentials_file).toMatch(/^\/etc\/alertmanager\/secrets\//);
    expect(hook.http_config?.authorization?.credentials).toBeUndefined();
    expect(config.route.group_by).toEqual(expect.arrayContaining(['alertname']));
  });
});

describe('platform/alertmanager/alertmanager-direct.yml (payload: template, Alertmanager >= 0.32)', () => {
  const text = read('alertmanager-direct.yml');
  const config = parse(text) as Config;
  const hook = config.receivers[0]!.webhook_configs[0]!;

  it('is beyond Debian amtool 0.25, which rejects the payload field (hence the structural checks)', () => {
    const res = spawnSync('amtool', ['check-config', join(dir, 'alertmanager-direct.yml')], {
      encoding: 'utf8',
    });
    expect(res.status).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/field payload not found/);
  });

  it('posts a repository_dispatch within GitHub limits, with a token from a file', () => {
    expect(hook.url).toMatch(/^https:\/\/api\.github\.com\/repos\/[^/]+\/[^/]+\/dispatches$/);
    expect(hook.send_resolved).toBe(true);
    expect(hook.max_alerts).toBeGreaterThan(0);
    expect(hook.http_config?.authorization?.credentials_file).toBeTruthy();
    expect(hook.http_config?.authorization?.credentials).toBeUndefined();
    expect(hook.payload?.event_type).toBe('alertmanager');
    const cp = hook.payload!.client_payload;
    expect(Object.keys(cp).length).toBeLessThanOrEqual(10);
    expect(cp.format).toBe('alertmanager-direct/v1');
    // Template data is the notification's: no groupKey and no truncatedAlerts there.
    expect(text).not.toMatch(/\.GroupKey|\.TruncatedAlerts/);
    // Every value is URL-encoded, so rendered text cannot change type; the scalars end with `&`.
    for (const value of Object.values(cp)) {
      const fields = [...value.matchAll(/\{\{\s*(\.[A-Za-z.]+)[^}]*\}\}/g)].map((m) => m[0]);
      for (const f of fields.filter((x) =>
        /\.(Name|Value|GeneratorURL|Fingerprint|Status|Receiver|ExternalURL)\b/.test(x),
      )) {
        expect(f).toMatch(/\|\s*urlquery/);
      }
    }
    for (const key of ['status', 'receiver', 'externalURL']) expect(cp[key]).toMatch(/\|\s*urlquery \}\}&$/);
  });

  it('renders (by Alertmanager 0.32 code) to a payload alert-to-issue turns into the right issue', async () => {
    const rendered = JSON.parse(read('testdata/direct-rendered.json')) as {
      event_type: string;
      client_payload: unknown;
    };
    expect(rendered.event_type).toBe('alertmanager');
    const gh = new FakeGitHub({ repos: ['octo-org/iris'] });
    await gh.start();
    try {
      const res = await runAction('alert-to-issue', {
        env: gh.env(),
        eventName: 'repository_dispatch',
        event: { action: rendered.event_type, client_payload: rendered.client_payload },
      });
      expect(res.errors).toEqual([]);
      expect(res.outputs.action).toBe('created');
      expect(res.stdout).toContain('direct form');
      expect(res.stdout).toContain('from receiver+groupLabels');
      const issue = gh.state.repo('octo-org', 'iris')!.issue(1)!;
      expect(issue.title).toBe('[alert] DataDrift (model=iris)');
      expect(issue.labels.map((l) => l.name)).toContain('severity:warning');
      // Decoded exactly: the template-looking text, the mention and the reference are inert text.
      expect(issue.body).toContain('Feature drift &gt; 0.3: \\{\\{ not a template \\}\\} @\u200bocto');
      expect(issue.body).toContain('1 firing, 1 resolved');
      expect(issue.body).toContain('code=500');
    } finally {
      await gh.stop();
    }
  });

  // Alertmanager parses each rendered value as YAML: unencoded, these names became a number, a
  // boolean, null and an object, and alert-to-issue rejected the notification (it was lost).
  it.each(['12345', 'true', 'null', 'team: a'])(
    'a receiver named %p, rendered by Alertmanager 0.32 code, reaches the issue as that name',
    async (name) => {
      const doc = parseDocument(text);
      doc.setIn(['route', 'receiver'], name);
      doc.setIn(['receivers', 0, 'name'], name);
      const file = join(mkdtempSync(join(tmpdir(), 'am-direct-')), 'alertmanager.yml');
      writeFileSync(file, doc.toString());
      const res = spawnSync(join(ROOT, '.tools', 'bin', 'render-direct'), [file], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(res.stderr).toBe('');
      const rendered = JSON.parse(res.stdout) as { event_type: string; client_payload: unknown };
      const gh = new FakeGitHub({ repos: ['octo-org/iris'] });
      await gh.start();
      try {
        const run = await runAction('alert-to-issue', {
          env: gh.env(),
          eventName: 'repository_dispatch',
          event: { action: rendered.event_type, client_payload: rendered.client_payload },
        });
        expect(run.errors).toEqual([]);
        expect(run.outputs.action).toBe('created');
        const issue = gh.state.repo('octo-org', 'iris')!.issue(1)!;
        expect(issue.body).toContain(`- Group: receiver ${name}, group labels`);
      } finally {
        await gh.stop();
      }
    },
  );

  // render-direct is built once by scripts/setup (Alertmanager 0.32's code); tests never compile it.
  it('the committed rendering is what render-direct produces now', () => {
    const bin = join(ROOT, '.tools', 'bin', 'render-direct');
    expect(existsSync(bin)).toBe(true);
    const res = spawnSync(bin, [join(dir, 'alertmanager-direct.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(res.status).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(JSON.parse(read('testdata/direct-rendered.json')));
  });
});
