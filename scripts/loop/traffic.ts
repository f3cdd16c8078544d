/**
 * Client traffic for the inference server: a steady stream of real iris rows (all three classes
 * in turn, so the prediction-distribution rules see the training distribution), each an object
 * keyed by the feature names the service's clients were written against: a model whose signature
 * names other features rejects every one of them.
 */
import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:http';

/** The features as the clients name them (model/train.py's defaults). */
export const CLIENT_FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

/** The iris data set as shipped with scikit-learn in the virtual environment, by class. */
export function irisRows(venvRoot: string): number[][][] {
  const [csv] = globSync(
    join(venvRoot, 'lib', 'python3*', 'site-packages', 'sklearn', 'datasets', 'data', 'iris.csv'),
  );
  if (!csv) throw new Error(`iris.csv not found under ${venvRoot} (is scikit-learn installed in .venv?)`);
  const byClass: number[][][] = [[], [], []];
  for (const line of readFileSync(csv, 'utf8').trim().split('\n').slice(1)) {
    const cells = line.split(',').map(Number);
    byClass[cells[4]!]!.push(cells.slice(0, 4));
  }
  return byClass;
}

export interface TrafficCounts {
  ok: number;
  rejected: number;
  failed: number;
}

export interface TrafficOptions {
  /** Requests per second (one row each). */
  rate?: number;
}

export class Traffic {
  readonly counts: TrafficCounts = { ok: 0, rejected: 0, failed: 0 };
  private timer?: NodeJS.Timeout;
  private next = 0;
  private readonly inflight = new Set<Promise<void>>();
  // A few keep-alive connections, like a real client pool.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });

  constructor(
    private readonly url: string,
    private readonly rows: number[][][],
    private readonly opts: TrafficOptions = {},
  ) {}

  start(): void {
    const tickMs = 50;
    const perTick = ((this.opts.rate ?? 40) * tickMs) / 1000;
    let due = 0;
    this.timer = setInterval(() => {
      due += perTick;
      for (; due >= 1; due--) this.send(this.nextRow());
    }, tickMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.inflight]);
    this.agent.destroy();
  }

  private nextRow(): unknown {
    const cls = this.rows[this.next % 3]!;
    const row = cls[Math.floor(this.next / 3) % cls.length]!;
    this.next++;
    return [Object.fromEntries(CLIENT_FEATURES.map((f, i) => [f, row[i]]))];
  }

  private send(body: unknown): void {
    const p = post(`${this.url}/predict`, JSON.stringify(body), this.agent).then(
      (status) => {
        if (status < 400) this.counts.ok++;
        else if (status < 500) this.counts.rejected++;
        else this.counts.failed++;
      },
      () => {
        this.counts.failed++;
      },
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }
}

function post(url: string, body: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 5000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
