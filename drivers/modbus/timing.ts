// Line timing, retry delays and the clocks.

/**
 * Polling is scheduled on the monotonic clock: a wall clock stepped back (an NTP correction) would hold every read
 * back by the step, one stepped forward would hold back reads that may go unanswered. The wall clock only stamps
 * events (readings' receivedAt, status changes) and log summaries.
 */
export interface Clock {
  /** Milliseconds on a clock that never steps (its origin is arbitrary): due times, backoff, intervals. */
  monotonic(): number;
  /** Milliseconds since the epoch, for time stamps. */
  wall(): number;
}

export const systemClock: Clock = { monotonic: () => performance.now(), wall: () => Date.now() };

/**
 * Silence needed between RTU frames: 3.5 character times. The Modbus serial-line spec counts an RTU
 * character as 11 bits whatever the parity/stop-bit setting, and fixes t3.5 at 1.75 ms above 19200 baud.
 * Rounded up to whole milliseconds because Node timers have 1 ms resolution.
 */
export function interFrameGapMs(baudRate: number): number {
  const t35 = baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
  return Math.ceil(t35);
}

/**
 * How long one RTU read holds the line, request and answer together: 8 request bytes, an answer of unit, function,
 * byte count, the data and CRC, each byte an 11-bit character (serial-line spec), and the 3.5-character silence that
 * ends each frame. The device's own turnaround comes on top.
 */
export function rtuReadWireMs(baudRate: number, bits: boolean, count: number): number {
  const answerBytes = 5 + (bits ? Math.ceil(count / 8) : 2 * count);
  const t35 = baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
  return ((8 + answerBytes) * 11 * 1000) / baudRate + 2 * t35;
}

/** Exponential backoff with a cap: initial, 2×, 4×, … up to max. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {}

  /** Delay before the next try; each call doubles it until the cap. */
  next(): number {
    const d = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return d;
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** A sleep that stop() can cut short, so the driver stops promptly without dangling timers. */
export class Sleeper {
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.wake = undefined;
        resolve();
      }, Math.max(0, ms));
    });
  }

  interrupt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
