// A trouble that repeats every few seconds (a port that stays unplugged, a screen refused at each retry) is logged
// once per key and interval, not at every repeat. The keys are bounded: past maxKeys they are forgotten all at once.

export class LogGate {
  private readonly loggedAt = new Map<string, number>();

  constructor(
    private readonly everyMs: number,
    private readonly maxKeys: number,
  ) {}

  /** Whether `key` is to be logged at `now` (then it is remembered as logged). */
  open(key: string, now: number): boolean {
    const last = this.loggedAt.get(key);
    if (last !== undefined && now - last < this.everyMs) return false;
    if (this.loggedAt.size >= this.maxKeys) this.loggedAt.clear();
    this.loggedAt.set(key, now);
    return true;
  }

  /** Forgets every key: the next of each is logged at once. */
  reset(): void {
    this.loggedAt.clear();
  }
}
