/** A tiny stage runner: numbered stages, their wall-clock time, and links printed under them. */

export interface StageTiming {
  name: string;
  ms: number;
}

const bold = (s: string, tty: boolean): string => (tty ? `\x1b[1m${s}\x1b[0m` : s);

export class Stages {
  readonly timings: StageTiming[] = [];
  private readonly started = Date.now();
  private n = 0;

  constructor(
    private readonly out: (line: string) => void,
    private readonly tty = false,
  ) {}

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const n = ++this.n;
    const t0 = Date.now();
    this.out(bold(`[${n}] ${name}`, this.tty));
    try {
      const value = await fn();
      const ms = Date.now() - t0;
      this.timings.push({ name, ms });
      this.out(`    done in ${seconds(ms)}`);
      return value;
    } catch (err) {
      this.out(`    FAILED after ${seconds(Date.now() - t0)}`);
      throw err;
    }
  }

  /** A line under the current stage. */
  note(text: string): void {
    this.out(`    ${text}`);
  }

  link(label: string, url: string): void {
    this.out(`    ${`${label}:`.padEnd(16)}${url}`);
  }

  elapsedMs(): number {
    return Date.now() - this.started;
  }
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
