/** Promises that resolve once a condition holds; the owner calls notify() after every change. */
export class Waiters {
  private waiters: Array<{ done: () => boolean; resolve: () => void }> = [];

  waitFor(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }

  /** Like waitFor, but gives up after `timeoutMs`: true if the condition held in time. */
  async waitForWithin(done: () => boolean, timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.waitFor(done), timedOut]);
    clearTimeout(timer);
    return result !== 'timeout';
  }

  notify(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.done()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}
