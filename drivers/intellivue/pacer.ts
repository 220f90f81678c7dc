// Frame pacing: the monitor accepts only a few frames per time window from the host (OpenICE's
// RS-232 adapter cites "up to 4 frames in a 128 ms period"). Frames beyond that wait their turn.

export class FramePacer {
  private sent: number[] = [];
  private queue: Array<{ frame: Buffer; resolve: () => void; reject: (e: Error) => void }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (frame: Buffer) => Promise<void>,
    private readonly maxFrames: number,
    private readonly windowMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  send(frame: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, resolve, reject });
      this.pump();
    });
  }

  /** Drop queued frames (link closed, session restarting); their promises reject. */
  clear(reason: string): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const q = this.queue;
    this.queue = [];
    for (const item of q) item.reject(new Error(reason));
  }

  private pump(): void {
    if (this.timer) return;
    while (this.queue.length) {
      const now = this.clock();
      this.sent = this.sent.filter((t) => now - t < this.windowMs);
      if (this.sent.length >= this.maxFrames) {
        const wait = this.windowMs - (now - (this.sent[0] as number));
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.max(1, wait));
        return;
      }
      const item = this.queue.shift();
      if (!item) return;
      this.sent.push(now);
      this.write(item.frame).then(item.resolve, item.reject);
    }
  }
}
