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
}

export class WaveformBuffer {
  private runs = new Map<number, Run[]>();

  constructor(private readonly origin: Origin) {}

  add(stream: number, bin: number, now: number): void {
    let runs = this.runs.get(stream);
    if (!runs) this.runs.set(stream, (runs = []));
    let run = runs.at(-1);
    if (!run || run.endAt !== undefined) runs.push((run = { bins: [], startAt: now }));
    run.bins.push(bin);
  }

  /**
   * A sample set was lost at `now`: each curve's samples so far end there, and those after it start a new segment, so
   * that the gap shows instead of the time before it being squeezed (review rv115 M4). Returns the samples dropped
   * because a curve already holds MAX_CLOSED_RUNS runs (the caller counts them).
   */
  gap(now: number): number {
    let dropped = 0;
    for (const runs of this.runs.values()) {
      const run = runs.at(-1);
      if (!run || run.endAt !== undefined) continue;
      if (runs.length - 1 >= MAX_CLOSED_RUNS) {
        dropped += run.bins.length;
        runs.pop();
      } else run.endAt = now;
    }
    return dropped;
  }

  /**
   * Everything buffered, as segments (one per run), scaled with `streams` (index = stream number): the configuration
   * the samples arrived under (the session flushes before it changes). `dropped`: samples of a stream it does not
   * hold, which cannot be scaled (the caller counts them).
   */
  flush(streams: RealtimeConfigRecord[], now: number): { segments: WaveformSegment[]; dropped: number } {
    const out: WaveformSegment[] = [];
    let dropped = 0;
    for (const [stream, runs] of this.runs) {
      const cfg = streams[stream];
      for (const run of runs) {
        const bins = run.bins;
        if (!cfg) dropped += bins.length;
        if (!cfg || bins.length === 0) continue;
        const curve = CURVES[cfg.code];
        const rate = cfg.intervalUs > 0 ? 1e6 / cfg.intervalUs : 0;
        // The last sample is taken as arriving at the run's end (a lost set, or now): the rate places the others.
        const end = run.endAt ?? now;
        const start = rate > 0 ? end - (bins.length / rate) * 1000 : run.startAt;
        out.push({
          ...this.origin,
          kind: 'waveform',
          mdc: null,
          raw: { system: 'medibus', code: `rt:${hexCode(cfg.code)}`, text: curve?.label ?? 'realtime curve' },
          unit: curve?.unit ?? MB_UNITS.NONE,
          startTime: Math.round(start),
          sampleRateHz: rate,
          samples: bins.map((b) => Math.round(scaleSample(b, cfg) * 1000) / 1000),
          receivedAt: now,
          quality: { state: 'valid' },
        });
      }
    }
    this.runs.clear();
    return { segments: out, dropped };
  }

  /** Samples waiting for the next flush (memory held). */
  get held(): number {
    let n = 0;
    for (const runs of this.runs.values()) for (const r of runs) n += r.bins.length;
    return n;
  }

  clear(): void {
    this.runs.clear();
  }
}
