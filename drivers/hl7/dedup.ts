// Remembers recently committed messages by sender + MSH-10 so a resend (no ACK received) is
// acknowledged again without being stored twice. Bounded by count and age.

export interface DedupOptions {
  maxEntries: number;
  ttlMs: number;
}

/**
 * Contents (hashes) remembered per control id. A sender whose ids restart (two connections with their own counters,
 * a device reset) sends other messages under one id; a resend of any of the last few is still known as one.
 */
const HASHES_PER_ID = 8;

export class DedupWindow {
  private readonly seen = new Map<string, { hashes: string[]; at: number }>();
  /** Commits under way, per control id: each settles true if it committed. */
  private readonly pending = new Map<string, Set<Promise<boolean>>>();

  constructor(private readonly opts: DedupOptions) {}

  /** 'duplicate' when key+hash was committed within the window; 'reused' when the key came with other content. */
  check(key: string, hash: string, now: number): 'new' | 'duplicate' | 'reused' {
    const e = this.seen.get(key);
    if (!e || now - e.at > this.opts.ttlMs) return 'new';
    return e.hashes.includes(hash) ? 'duplicate' : 'reused';
  }

  private remember(key: string, hash: string, now: number): void {
    const e = this.seen.get(key);
    const hashes = e && now - e.at <= this.opts.ttlMs ? [...e.hashes.filter((h) => h !== hash), hash].slice(-HASHES_PER_ID) : [hash];
    this.seen.delete(key); // re-insert so Map order stays oldest-first
    this.seen.set(key, { hashes, at: now });
    while (this.seen.size > this.opts.maxEntries) {
      const oldest = this.seen.keys().next().value as string;
      this.seen.delete(oldest);
    }
  }

  /** Commits of this key under way (on any connection): wait for them, then check(). */
  inFlight(key: string): Promise<boolean>[] {
    return [...(this.pending.get(key) ?? [])];
  }

  /**
   * A commit of key+hash under way. Remembered as soon as it commits, before anyone waiting on it (inFlight) goes
   * on: their check() then sees it.
   */
  track(key: string, hash: string, committed: Promise<boolean>): void {
    const set = this.pending.get(key) ?? new Set();
    set.add(committed);
    this.pending.set(key, set);
    void committed.then((ok) => {
      if (ok) this.remember(key, hash, Date.now());
      set.delete(committed);
      if (set.size === 0 && this.pending.get(key) === set) this.pending.delete(key);
    });
  }

  get size(): number {
    return this.seen.size;
  }
}
