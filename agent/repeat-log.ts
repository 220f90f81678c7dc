// A trouble that repeats every few seconds while it lasts (a monitor switched off on a live line: no answer to each
// association request, each re-initialisation): the first in a row is logged, then at most one summary per interval
// with the count since, until the trouble clears. Each occurrence is still counted by the caller.
import { LogGate } from './log-gate.js';

export interface RepeatLogLine {
  /** The first occurrence in a row (log it as it is), or a summary of the repeats since the last line. */
  first: boolean;
  /** Occurrences since the last line logged (this one included). */
  repeats: number;
  /** Occurrences in a row. */
  inARow: number;
  /** When the first of the row happened. */
  since: number;
}

export class RepeatLog {
  private readonly gate: LogGate;
  private inARow = 0;
  private sinceLine = 0;
  private firstAt = 0;

  constructor(everyMs: number) {
    this.gate = new LogGate(everyMs, 1);
  }

  /** One more occurrence at `now`: what to log, or null to log nothing this time. */
  hit(now: number): RepeatLogLine | null {
    this.inARow += 1;
    this.sinceLine += 1;
    if (this.inARow === 1) this.firstAt = now;
    if (!this.gate.open('trouble', now)) return null;
    const line = { first: this.inARow === 1, repeats: this.sinceLine, inARow: this.inARow, since: this.firstAt };
    this.sinceLine = 0;
    return line;
  }

  /** The trouble cleared: the next occurrence is logged at once. Returns how many there were in the row. */
  clear(): number {
    const n = this.inARow;
    this.inARow = 0;
    this.sinceLine = 0;
    this.gate.reset();
    return n;
  }
}
