/**
 * What a stage starts, it stops: each resource registers its stop here the moment it exists, and
 * run() stops them all, most recent first (the server before its registry, the traffic before the
 * server), whether the loop succeeded, failed, or a stage was still starting something meanwhile.
 */
export class Teardown {
  private readonly stops: { name: string; stop: () => Promise<void> | void }[] = [];
  private readonly pending = new Set<Promise<void>>();

  /** `onError` hears a stop that failed: the others still run, and the loop's own error wins. */
  constructor(private readonly onError: (message: string) => void = () => undefined) {}

  defer(name: string, stop: () => Promise<void> | void): void {
    this.stops.push({ name, stop });
  }

  /**
   * A start under way in the background: run() lets it finish first, so the stops it registers
   * on the way are not missed. Also marks its rejection as handled; the caller awaits `p` itself.
   */
  track<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return p;
  }

  async run(): Promise<void> {
    for (;;) {
      await Promise.all([...this.pending]);
      const next = this.stops.pop();
      if (!next) {
        if (this.pending.size) continue;
        return;
      }
      try {
        await next.stop();
      } catch (err) {
        this.onError(`stopping ${next.name} failed: ${(err as Error).message}`);
      }
    }
  }
}
