// Medibus.X realtime samples → WaveformSegments, one per stream every segmentMs. Samples are scaled
// by the realtime configuration the device sent (53H). No MDC codes here: the curve codes are kept
// raw (`rt:00` airway pressure…) until their MDC terms are verified.
import type { Origin, Unit, WaveformSegment } from '../../agent/model/reading.js';
import type { RealtimeConfigRecord } from './protocol/data.js';
import { scaleSample } from './protocol/realtime.js';
import { MB_UNITS, hexCode } from './codes.js';

const CURVES: Record<number, { label: string; unit: Unit }> = {
  0x00: { label: 'Airway pressure', unit: MB_UNITS.MBAR },
  0x01: { label: 'Flow', unit: MB_UNITS.L_PER_MIN },
  0x02: { label: 'Pleth', unit: MB_UNITS.NONE },
  0x03: { label: 'Volume since start of inspiration', unit: MB_UNITS.ML },
  0x05: { label: 'O2 concentration', unit: MB_UNITS.PERCENT },
  0x06: { label: 'CO2 concentration', unit: MB_UNITS.MMHG },
  0x07: { label: 'CO2 concentration', unit: MB_UNITS.KPA },
  0x08: { label: 'CO2 concentration', unit: MB_UNITS.PERCENT },
  0x1c: { label: 'Tracheal pressure', unit: MB_UNITS.MBAR },
  0x1e: { label: 'Inspiratory device flow', unit: MB_UNITS.L_PER_MIN },
};

/**
 * Runs of one curve closed by a lost sample set before a flush: beyond these, the samples of a further run are dropped
 * (counted) rather than sent as ever more, ever shorter segments from a line that damages most sets.
 */
const MAX_CLOSED_RUNS = 8;

/** Samples of one curve received without a lost set between them; `endAt` once a lost set closed the run. */
interface Run {
  bins: number[];
  startAt: number;
  endAt?: number;
  /** Sample sets lost between the curve's previous samples and this run (the gap to leave before it). */
  lostBefore: number;
}

/** One curve: its runs until the next flush, and what places them on a time axis that only goes forward. */
interface Curve {
  runs: Run[];
  /** Sets lost since the curve's last sample (the next run's `lostBefore`). */
  lost: number;
  /** Where the curve's last segment sent ended (ms): the next sample's time, if no set was lost since. */
  nextAt?: number;
}

export class WaveformBuffer {
  private curves = new Map<number, Curve>();

  constructor(private readonly origin: Origin) {}

  add(stream: number, bin: number, now: number): void {
    let curve = this.curves.get(stream);
    if (!curve) this.curves.set(stream, (curve = { runs: [], lost: 0 }));
    let run = curve.runs.at(-1);
    if (!run || run.endAt !== undefined) {
      curve.runs.push((run = { bins: [], startAt: now, lostBefore: curve.lost }));
      curve.lost = 0;
    }
    run.bins.push(bin);
  }

  /**
   * A sample set was lost at `now`: each curve's samples so far end there, and those after it start a new segment, a
   * set's interval later, so that the gap shows instead of the time before it being squeezed (review rv115 M4).
   * Returns the samples dropped because a curve already holds MAX_CLOSED_RUNS runs (the caller counts them); their
   * time is kept as lost sets, so the runs after them stay in place.
   */
  gap(now: number): number {
    let dropped = 0;
    for (const curve of this.curves.values()) {
      const run = curve.runs.at(-1);
      if (run && run.endAt === undefined) {
        if (curve.runs.length - 1 >= MAX_CLOSED_RUNS) {
          dropped += run.bins.length;
          curve.runs.pop();
          curve.lost += run.lostBefore + run.bins.length;
        } else run.endAt = now;
      }
      curve.lost++;
    }
    return dropped;
  }

  /**
   * Everything buffered, as segments (one per run), scaled with `streams` (index = stream number): the configuration
   * the samples arrived under (the session flushes before it changes). `dropped`: samples of a stream it does not
   * hold, which cannot be scaled (the caller counts them).
   *
   * Runs are placed in sequence (review rv116 M1): the last ends at its end (the lost set that closed it, or now) and
   * each one before it ends no later than its own end and the lost sets' intervals before the next run starts. Serial
   * data come in chunks, so several runs can share one receipt time; placing each at its own end would lay them on
   * top of each other. A run after a lost set also starts no sooner than the curve's previous segment ended plus the
   * lost sets' intervals, so time never goes back within a curve. A run with no set lost before it stays anchored at
   * its receipt time: chained from segment to segment, a device clock a little faster than ours would move the curve
   * ever further ahead.
   */
  flush(streams: RealtimeConfigRecord[], now: number): { segments: WaveformSegment[]; dropped: number } {
    const out: WaveformSegment[] = [];
    let dropped = 0;
    for (const [stream, curve] of this.curves) {
      const runs = curve.runs;
      curve.runs = [];
      const cfg = streams[stream];
      if (!cfg) {
        for (const run of runs) dropped += run.bins.length;
        continue;
      }
      if (runs.length === 0) continue;
      const rate = cfg.intervalUs > 0 ? 1e6 / cfg.intervalUs : 0;
      const starts = runs.map((run) => run.startAt);
      if (rate > 0) {
        const interval = 1000 / rate;
        // A lost set is one set period long, the fastest curve's interval: a slower curve has a value in only some sets
        // (the sync byte says which), so counting a lost set as one of its own intervals would stretch the gap
        // (review rv118 H2).
        const setMs = Math.min(...streams.filter((c) => c && c.intervalUs > 0).map((c) => c.intervalUs / 1000));
        // Backwards from the last run: the last sample of each is taken as arriving at the run's end.
        let limit = Infinity;
        for (let i = runs.length - 1; i >= 0; i--) {
          const run = runs[i]!;
          starts[i] = Math.min(run.endAt ?? now, limit) - run.bins.length * interval;
          limit = starts[i]! - run.lostBefore * setMs;
        }
        // Forwards: after a lost set, never before the previous segment's end plus the lost sets.
        let next = runs[0]!.lostBefore > 0 ? curve.nextAt : undefined;
        for (let i = 0; i < runs.length; i++) {
          const run = runs[i]!;
          if (next !== undefined) starts[i] = Math.max(starts[i]!, next + run.lostBefore * setMs);
          next = starts[i]! + run.bins.length * interval;
        }
        curve.nextAt = next;
      }
      const label = CURVES[cfg.code];
      runs.forEach((run, i) => {
        out.push({
          ...this.origin,
          kind: 'waveform',
          mdc: null,
          raw: { system: 'medibus', code: `rt:${hexCode(cfg.code)}`, text: label?.label ?? 'realtime curve' },
          unit: label?.unit ?? MB_UNITS.NONE,
          startTime: Math.round(starts[i]!),
          sampleRateHz: rate,
          samples: run.bins.map((b) => Math.round(scaleSample(b, cfg) * 1000) / 1000),
          receivedAt: now,
          quality: { state: 'valid' },
        });
      });
    }
    return { segments: out, dropped };
  }

  /** Samples waiting for the next flush (memory held). */
  get held(): number {
    let n = 0;
    for (const curve of this.curves.values()) for (const r of curve.runs) n += r.bins.length;
    return n;
  }

  /** Forgets the samples and each curve's time axis (a new realtime configuration, or the link lost). */
  clear(): void {
    this.curves.clear();
  }
}
