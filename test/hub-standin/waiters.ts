/**
 * Promise-based waiting on hub state: `until(condition)` re-checks the condition whenever the hub
 * reports a change (`notify()`) and every WAIT_POLL_MS (for state outside the hub, such as what an
 * SDK listener collected). Timeouts reject with the diagnostic text the hub supplies.
 */
export const WAIT_POLL_MS = 20;

export class Waiters {
  private readonly checks = new Set<() => void>();

  constructor(private readonly diagnostics: () => string) {}

  notify(): void {
    for (const check of [...this.checks]) check();
  }

  until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.checks.delete(check);
      };
      const check = (): void => {
        let ok: boolean;
        try {
          ok = condition();
        } catch (err) {
          done();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (ok) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`hub stand-in: ${what} not met within ${timeoutMs} ms\n  ${this.diagnostics()}`));
      }, timeoutMs);
      const poll = setInterval(check, WAIT_POLL_MS);
      this.checks.add(check);
    });
  }

  /** Drops all waiters (they still time out on their own timers). */
  clear(): void {
    this.checks.clear();
  }
}
