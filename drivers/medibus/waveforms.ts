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

export class WaveformBuffer {
  private samples = new Map<number, number[]>();
  private startTime = new Map<number, number>();

  constructor(private readonly origin: Origin) {}

  add(stream: number, bin: number, now: number): void {
    let s = this.samples.get(stream);
    if (!s) {
      s = [];
      this.samples.set(stream, s);
      this.startTime.set(stream, now);
    }
    s.push(bin);
  }

  /**
   * Everything buffered, as segments, scaled with `streams` (index = stream number): the configuration the samples
   * arrived under (the session flushes before it changes). `dropped`: samples of a stream it does not hold, which
   * cannot be scaled (the caller counts them).
   */
  flush(streams: RealtimeConfigRecord[], now: number): { segments: WaveformSegment[]; dropped: number } {
    const out: WaveformSegment[] = [];
    let dropped = 0;
    for (const [stream, bins] of this.samples) {
      const cfg = streams[stream];
      if (!cfg) dropped += bins.length;
      if (!cfg || bins.length === 0) continue;
      const curve = CURVES[cfg.code];
      const rate = cfg.intervalUs > 0 ? 1e6 / cfg.intervalUs : 0;
      const start = rate > 0 ? now - (bins.length / rate) * 1000 : (this.startTime.get(stream) ?? now);
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
    this.samples.clear();
    this.startTime.clear();
    return { segments: out, dropped };
  }

  /** Samples waiting for the next flush (memory held). */
  get held(): number {
    let n = 0;
    for (const s of this.samples.values()) n += s.length;
    return n;
  }

  clear(): void {
    this.samples.clear();
    this.startTime.clear();
  }
}
