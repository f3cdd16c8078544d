/**
 * The demo's rendering of platform/'s Prometheus and Alertmanager configuration for one machine
 * (scripts/loop/render.ts): durations compressed and nothing else changed in the rules, every
 * target on loopback, and configs that promtool and amtool accept. And its rendering of the
 * issue's Markdown for the terminal (scripts/loop/terminal.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  compress,
  durationSeconds,
  renderAlertmanagerConfig,
  renderPrometheusConfig,
  renderRules,
} from '../scripts/loop/render.js';
import { displayWidth, markdownForTerminal } from '../scripts/loop/terminal.js';
import { ROOT } from './helpers/run-action.js';

const RANGE = /\[(\d+(?:ms|[smhdwy]))+\]/g;

describe('durations', () => {
  it('reads Prometheus durations and compresses them with a floor', () => {
    expect(durationSeconds('5m')).toBe(300);
    expect(durationSeconds('1h30m')).toBe(5400);
    expect(durationSeconds('500ms')).toBe(0.5);
    expect(() => durationSeconds('5 minutes')).toThrow(/not a duration/);
    expect(compress('5m', 60)).toBe('5s');
    expect(compress('30s', 60)).toBe('500ms');
    expect(compress('30s', 60, 4)).toBe('4s');
    expect(compress('0s', 60)).toBe('0s');
  });
});

describe('renderRules', () => {
  const original = parse(
    readFileSync(join(ROOT, 'platform', 'prometheus', 'rules', 'iris-classifier.rules.yml'), 'utf8'),
  ) as { groups: { rules: { alert?: string; expr: string; for?: string }[] }[] };
  const rendered = renderRules({ factor: 60, minRangeSeconds: 4 })['iris-classifier.rules.yml']!;

  it('divides every for: and range selector by the factor and leaves the rest of each rule as shipped', () => {
    const before = original.groups.flatMap((g) => g.rules);
    const after = rendered.groups.flatMap((g) => g.rules);
    expect(after.map((r) => r.alert ?? r.record)).toEqual(
      before.map((r) => (r as { record?: string }).record ?? r.alert),
    );
    before.forEach((r, i) => {
      const a = after[i]!;
      if (r.for) expect(durationSeconds(a.for!)).toBeCloseTo(durationSeconds(r.for) / 60);
      const ranges = (e: string): number[] =>
        [...e.matchAll(RANGE)].map((m) => durationSeconds(m[0].slice(1, -1)));
      expect(ranges(a.expr)).toEqual(ranges(r.expr).map((s) => Math.max(s / 60, 4)));
      expect(a.expr.replace(RANGE, '[]')).toBe(r.expr.replace(RANGE, '[]'));
      expect({ ...a, expr: '', for: '' }).toEqual({ ...r, expr: '', for: '' });
    });
    const ratio = after.find((r) => r.alert === 'IrisClassifierHighClientErrorRatio')!;
    expect(ratio.for).toBe('5s');
  });
});

describe('rendered configs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'closed-loop-render-'));
  const prom = renderPrometheusConfig({
    jobs: {
      prometheus: '127.0.0.1:9090',
      alertmanager: '127.0.0.1:9093',
      'alertmanager-relay': '127.0.0.1:8080',
      'iris-classifier': '127.0.0.1:30808',
    },
    alertmanager: '127.0.0.1:9093',
  });

  it('points every scrape job and the Alertmanager at loopback, keeping job names and target labels', () => {
    const jobs = Object.fromEntries(
      prom.scrape_configs.map((s) => [s.job_name, s.static_configs!.map((c) => c.targets).flat()]),
    );
    expect(jobs).toEqual({
      prometheus: ['127.0.0.1:9090'],
      alertmanager: ['127.0.0.1:9093'],
      'alertmanager-relay': ['127.0.0.1:8080'],
      'iris-classifier': ['127.0.0.1:30808'],
    });
    const iris = prom.scrape_configs.find((s) => s.job_name === 'iris-classifier')!;
    expect(iris.static_configs![0]!.labels).toMatchObject({ environment: 'prod' });
    expect(prom.alerting!.alertmanagers[0]!.static_configs).toEqual([{ targets: ['127.0.0.1:9093'] }]);
    expect(prom.global).toMatchObject({ scrape_interval: '1s', evaluation_interval: '1s' });
    expect(() => renderPrometheusConfig({ jobs: { nope: '127.0.0.1:1' }, alertmanager: 'x:1' })).toThrow(
      /no scrape job 'nope'/,
    );
  });

  it('passes promtool check config, with the compressed rule files', () => {
    mkdirSync(join(dir, 'rules'), { recursive: true });
    for (const [name, file] of Object.entries(renderRules()))
      writeFileSync(join(dir, 'rules', name), stringify(file));
    writeFileSync(join(dir, 'prometheus.yml'), stringify(prom));
    const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0 });
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('sends Alertmanager notifications to the local relay with a token file, and passes amtool', () => {
    const token = join(dir, 'token');
    writeFileSync(token, 'a-token-of-sufficient-length', { mode: 0o600 });
    const am = renderAlertmanagerConfig({ relayUrl: 'http://127.0.0.1:4321', tokenFile: token });
    const hook = am.receivers[0]!.webhook_configs![0]!;
    expect(hook.url).toBe('http://127.0.0.1:4321/alertmanager');
    expect(hook.http_config!.authorization).toEqual({ type: 'Bearer', credentials_file: token });
    expect(am.route).toMatchObject({
      group_by: ['alertname', 'model'],
      group_wait: '1s',
      group_interval: '2s',
    });
    writeFileSync(join(dir, 'alertmanager.yml'), stringify(am));
    const r = spawnSync('amtool', ['check-config', join(dir, 'alertmanager.yml')], { encoding: 'utf8' });
    expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0 });
  });
});

describe('markdownForTerminal', () => {
  it('drops hidden markers and tags, resolves escapes and entities as GitHub shows them', () => {
    const md = [
      '<!-- alert-to-issue:state {"v":1} -->',
      '**What is wrong:** f1\\_macro fell \\| &lt;b&gt; &amp; @\u200bteam #\u200b12',
      '<!-- a comment',
      'over two lines -->',
      '<sub>Deterministic summary (no Gemini).</sub>',
      '_No analysis: no `gemini-api-key` was given._ snake_case_name stays',
    ].join('\n');
    expect(markdownForTerminal(md)).toBe(
      [
        'What is wrong: f1_macro fell | <b> & @team #12',
        '',
        'Deterministic summary (no Gemini).',
        'No analysis: no gemini-api-key was given. snake_case_name stays',
      ].join('\n'),
    );
  });

  it('shows links as text and URL, headings, lists and quotes without their syntax', () => {
    const md = [
      '### Context',
      '- [version 3](http://mlflow/#/models/iris/versions/3) \\(live\\)',
      '- [http://x/y](http://x/y)',
      '> a quoted \\- line',
    ].join('\n');
    expect(markdownForTerminal(md)).toBe(
      [
        'Context',
        '  • version 3 (http://mlflow/#/models/iris/versions/3) (live)',
        '  • http://x/y',
        '  │ a quoted - line',
      ].join('\n'),
    );
  });

  it('aligns a table that fits, counting an emoji as two columns, and lists one that does not', () => {
    const md = ['| status | alert |', '| --- | --- |', '| 🔥 firing | A\\|B |', '| ok | C |'].join('\n');
    expect(displayWidth('🔥 firing')).toBe(9);
    expect(markdownForTerminal(md, { width: 40 }).split('\n')).toEqual([
      '  status     alert',
      '  🔥 firing  A|B',
      '  ok         C',
    ]);
    const wide = [
      '| status | alert | labels |',
      '| --- | --- | --- |',
      `| 🔥 firing | A | ${'x'.repeat(60)} |`,
    ];
    expect(markdownForTerminal(wide.join('\n'), { width: 40 }).split('\n')).toEqual([
      '  • 🔥 firing A',
      `      labels: ${'x'.repeat(60)}`,
    ]);
  });

  it('writes bold as an ANSI escape only for a terminal', () => {
    expect(markdownForTerminal('**Firing**', { tty: true })).toBe('\x1b[1mFiring\x1b[0m');
    expect(markdownForTerminal('**Firing**')).toBe('Firing');
  });
});
