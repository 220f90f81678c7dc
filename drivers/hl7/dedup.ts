// Remembers recently committed messages by sender + MSH-10 so a resend (no ACK received) is
// acknowledged again without being stored twice. Bounded by count and age.

export interface DedupOptions {
  maxEntries: number;
  ttlMs: number;
}

export class DedupWindow {
  private readonly seen = new Map<string, { hash: string; at: number }>();
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(private readonly opts: DedupOptions) {}

  /** 'duplicate' when key+hash was committed within the window; 'reused' when the key came with other content. */
  check(key: string, hash: string, now: number): 'new' | 'duplicate' | 'reused' {
    const e = this.seen.get(key);
    if (!e || now - e.at > this.opts.ttlMs) return 'new';
    return e.hash === hash ? 'duplicate' : 'reused';
  }

  remember(key: string, hash: string, now: number): void {
    this.seen.delete(key); // re-insert so Map order stays oldest-first
    this.seen.set(key, { hash, at: now });
    while (this.seen.size > this.opts.maxEntries) {
      const oldest = this.seen.keys().next().value as string;
      this.seen.delete(oldest);
    }
  }

  /** A commit of this key in flight on another connection (resolves true if it committed). */
  inFlight(key: string): Promise<boolean> | undefined {
    return this.pending.get(key);
  }

  track(key: string, p: Promise<boolean>): void {
    this.pending.set(key, p);
    void p.finally(() => {
      if (this.pending.get(key) === p) this.pending.delete(key);
    });
  }

  get size(): number {
    return this.seen.size;
  }
}
