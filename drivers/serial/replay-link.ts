// A listen-only SerialLink that plays the "rx" side of a capture (or a raw dump) into the same
// parser a live port feeds. Recorded "tx" bytes are not replayed: a replay never transmits.
import { ListenOnlyError, type SerialLink } from './link.js';
import { readCapture, type CaptureEntry } from './capture.js';

export interface ReplayOptions {
  /** 0 = as fast as possible (default); 1 = real time; 10 = ten times faster. Raw dumps have no times. */
  speed?: number;
}

export class ReplayLink implements SerialLink {
  private dataListeners: Array<(b: Buffer) => void> = [];
  private closeListeners: Array<(err?: Error) => void> = [];
  private open_ = false;
  private timer: NodeJS.Timeout | undefined;
  private resolveDone: (() => void) | undefined;
  /** Resolves when every rx chunk has been delivered (or the replay was closed). */
  readonly done: Promise<void>;
  readonly listenOnly = true;

  constructor(
    private readonly entries: CaptureEntry[],
    readonly describe: string,
    private readonly opts: ReplayOptions = {},
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  static fromFile(file: string, opts: ReplayOptions = {}): ReplayLink {
    return new ReplayLink(readCapture(file), `replay:${file}`, opts);
  }

  get isOpen(): boolean {
    return this.open_;
  }

  onData(listener: (bytes: Buffer) => void): void {
    this.dataListeners.push(listener);
  }

  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  async open(): Promise<void> {
    if (this.open_) throw new Error(`${this.describe} is already open`);
    this.open_ = true;
    const rx = this.entries.filter((e) => e.dir === 'rx');
    this.play(rx, 0);
  }

  write(_bytes: Uint8Array): Promise<void> {
    return Promise.reject(new ListenOnlyError(this.describe));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.open_ = false;
    this.resolveDone?.();
  }

  private play(rx: CaptureEntry[], i: number): void {
    if (!this.open_) return;
    const entry = rx[i];
    if (!entry) {
      // End of the recording: the link closes by itself, like an unplugged device.
      this.open_ = false;
      this.resolveDone?.();
      for (const l of this.closeListeners) l(new Error(`${this.describe}: end of capture`));
      return;
    }
    for (const l of this.dataListeners) l(entry.bytes);
    const next = rx[i + 1];
    const speed = this.opts.speed ?? 0;
    let delay = 0;
    if (speed > 0 && next && entry.t !== null && next.t !== null) delay = Math.max(0, (next.t - entry.t) / speed);
    // Always yield between chunks so timers and the parser's consumers run as they would live.
    this.timer = setTimeout(() => this.play(rx, i + 1), delay);
  }
}
