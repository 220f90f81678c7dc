// Deadband / report-on-change for one value. A filtered value is still re-reported every heartbeatMs,
// so an unchanged feed never looks the same as a silent one. A change of quality, its state or its reasons, is
// always reported at once: the reason decides which technical alarm the agent raises (e.g. SENSOR OFF).
import type { Quality, QualityState } from '../../agent/model/reading.js';

export interface FilterOptions {
  deadband?: number;
  reportOnChange: boolean;
  heartbeatMs: number;
}

export class ChangeFilter {
  private last: { value: number | string | null; quality: QualityState; reasons: string; at: number } | undefined;

  constructor(private readonly opts: FilterOptions) {}

  /** True if this sample should become a reading; remembers it if so. */
  accept(value: number | string | null, q: Quality, now: number): boolean {
    const quality = q.state;
    // Compared as a set: the same reasons in another order are no change.
    const reasons = JSON.stringify([...(q.reasons ?? [])].sort());
    const filtering = this.opts.reportOnChange || this.opts.deadband !== undefined;
    if (!filtering || this.changed(value, quality, reasons, now)) {
      this.last = { value, quality, reasons, at: now };
      return true;
    }
    return false;
  }

  private changed(value: number | string | null, quality: QualityState, reasons: string, now: number): boolean {
    const last = this.last;
    if (!last) return true;
    if (quality !== last.quality || reasons !== last.reasons) return true;
    if (now - last.at >= this.opts.heartbeatMs) return true;
    if (typeof value === 'number' && typeof last.value === 'number') {
      const band = this.opts.deadband ?? 0;
      return Math.abs(value - last.value) > band;
    }
    return value !== last.value;
  }
}
