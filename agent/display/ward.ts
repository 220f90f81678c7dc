// The display's in-memory picture of the ward, fed with committed events: the latest value of each parameter per bed
// (with its quality and time, so staleness can be shown), short trends and the last seconds of each waveform.
// Everything is bounded: beds, parameters per bed, trend points, waveform samples.
import type { DriverEvent, MdcCode, NumericReading, QualityState } from '../model/reading.js';
import { UNASSIGNED_BED } from '../alarms/types.js';
import { hasLabel, isIntermittent, metricKey, metricLabel, metricOrder, unitText } from '../model/labels.js';
import { DeviceClocks, heldIsNewer, ontoNewClock, STEP_IN_FLIGHT_MS, stampedBeforeStep, stampOf } from '../model/measured.js';
import type { NormalisedWaveform } from '../ingest.js';
import { NumberRing, PointRing } from './ring.js';

export interface WardOptions {
  staleAfterS: number;
  intermittentStaleAfterS: number;
  trend: { intervalS: number; points: number };
  waveformSeconds: number;
  maxBeds: number;
}

/** Bounds per bed that need no configuration. */
const MAX_METRICS_PER_BED = 64;
/** Settings (set rates, alarm limits, modes) have their own bound: a ventilator's many cannot crowd out measurements. */
const MAX_SETTINGS_PER_BED = 64;
const MAX_WAVES_PER_BED = 8;
const MAX_DEVICES_PER_BED = 16;
const MAX_WAVE_RATE_HZ = 2000;
/** Beds left out over maxBeds remembered by name (each told once); more are only counted. */
export const MAX_DROPPED_BEDS_NAMED = 1000;
/** Parameters left out of one bed remembered by key (each told once); more are only counted. */
const MAX_DROPPED_KEYS_PER_BED = 256;
/** Names of left-out beds the page is given (it says how many in all). */
const DROPPED_BEDS_SHOWN = 20;

interface Latest {
  key: string;
  label: string;
  mdc: MdcCode | null;
  value: number | string | null;
  unit: string;
  quality: QualityState;
  reasons: string[];
  at: number;
  deviceId: string;
  /** Its device's time, if given: told against the same device's next reading of the metric. */
  deviceTime?: number;
  setting: boolean;
}

interface Trend {
  label: string;
  unit: string;
  points: PointRing;
}

interface Wave {
  key: string;
  label: string;
  unit: string;
  rateHz: number;
  /** null: a gap on the strip, not a value of 0: a sample the device sent as invalid (ingest's `zeroed`), or a segment not showable (lead off). */
  samples: NumberRing;
  quality: QualityState;
  reasons: string[];
  at: number;
}

interface Bed {
  latest: Map<string, Latest>;
  trends: Map<string, Trend>;
  waves: Map<string, Wave>;
  devices: Map<string, { state: string; detail: string; at: number }>;
  lastDataAt: number;
  /** Keys of parameters left out over the bounds (each told once), at most MAX_DROPPED_KEYS_PER_BED. */
  droppedKeys: Set<string>;
}

/**
 * A reading the ward left out, for the display's counters and log. `first`: the first time for this bed (or this
 * bed's parameter), so that it is logged once. `limit`: the bound it is over.
 */
export type WardDrop =
  | { what: 'bed'; bed: string; kind: 'numeric' | 'waveform' | 'device-status'; limit: number; first: boolean }
  | { what: 'parameter'; bed: string; key: string; label: string; setting: boolean; limit: number; first: boolean };

/** Beds whose readings are not shown (over maxBeds): how many, the first names, and the bound. */
export interface DroppedBedsView {
  count: number;
  beds: string[];
  maxBeds: number;
}

/** One parameter as the display shows it. `value` is null unless the quality allows showing it as a number. */
export interface VitalView {
  key: string;
  label: string;
  value: number | string | null;
  unit: string;
  quality: QualityState;
  reasons: string[];
  at: number;
  ageS: number;
  stale: boolean;
  staleAfterS: number;
  deviceId: string;
  /** A value set on the device, not measured: shown apart from (and after) the measurement. */
  setting: boolean;
}

export interface TrendView {
  key: string;
  label: string;
  unit: string;
  intervalS: number;
  points: [number, number | null][];
}

export interface WaveChunk {
  bed: string;
  key: string;
  label: string;
  unit: string;
  rateHz: number;
  quality: QualityState;
  reasons: string[];
  at: number;
  /** null: a gap (a sample the device sent as invalid, or the whole chunk when not showable); drawn as no line. */
  samples: (number | null)[];
}

export type WaveListener = (chunk: WaveChunk) => void;

/** Values of these qualities are shown as numbers; invalid and unavailable ones never are. */
export function showable(q: QualityState): boolean {
  return q === 'valid' || q === 'questionable';
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

/**
 * A setting's label: the display's own label for the code ("RR" → "RR (set)"), else the device's text, which may
 * already say so (Medibus "VT (set)": kept as it is).
 */
function settingLabel(r: NumericReading): string {
  const label = r.mdc && hasLabel(r.mdc) ? metricLabel(r.mdc, r.raw) : (r.raw?.text ?? metricLabel(r.mdc, r.raw));
  return /[(\s]set\)?$/i.test(label) ? label : `${label} (set)`;
}

export class WardState {
  private readonly beds = new Map<string, Bed>();
  private readonly waveListeners = new Set<WaveListener>();
  private readonly dropListeners = new Set<(d: WardDrop) => void>();
  /** Beds whose readings were left out over maxBeds, by name (bounded: MAX_DROPPED_BEDS_NAMED). */
  private readonly droppedBedNames = new Set<string>();
  /** Readings and device states of beds beyond maxBeds (not alarms: the engine shows those), counted so that the loss is visible. */
  droppedBeds = 0;
  /** Readings of parameters beyond a bed's bounds (MAX_METRICS_PER_BED, MAX_SETTINGS_PER_BED), counted likewise. */
  droppedMetrics = 0;
  /** Each device's clock, learned across deliveries: a reading's age (as NEWS2 ages it). */
  private readonly clocks = new DeviceClocks();
  /** The last step of the gateway's clock (shiftClock) and the wall clock when it was seen, for readings in flight. */
  private step: { deltaMs: number; at: number } | null = null;
  private readonly shiftListeners = new Set<(deltaMs: number) => void>();

  constructor(private readonly opts: WardOptions) {}

  onWave(listener: WaveListener): () => void {
    this.waveListeners.add(listener);
    return () => this.waveListeners.delete(listener);
  }

  /** Told of every reading left out over a bound: the loss must be counted and said, not only skipped. */
  onDrop(listener: (d: WardDrop) => void): () => void {
    this.dropListeners.add(listener);
    return () => this.dropListeners.delete(listener);
  }

  /** Told after shiftClock moved the ward's instants (the live feed: what it sent screens is on the old clock). */
  onClockShift(listener: (deltaMs: number) => void): () => void {
    this.shiftListeners.add(listener);
    return () => this.shiftListeners.delete(listener);
  }

  /**
   * The gateway's wall clock stepped by `deltaMs` (AlarmService.onClockStep; `at`: the wall clock then, on the new
   * clock): every instant values are aged, ordered or charted by moves with it, so ages and staleness run on as if no
   * step happened (review rv147 F2: after a step back a stopped SpO2 showed fresh for an hour; after a step forward
   * every value showed stale). Trend points move too: they stay continuous with the points to come, which the trend
   * keeps only when newer. Device times (deviceTime) are the device's clock, not moved.
   */
  shiftClock(deltaMs: number, at?: number): void {
    this.clocks.shiftClock(deltaMs);
    for (const bed of this.beds.values()) {
      for (const l of bed.latest.values()) l.at += deltaMs;
      for (const w of bed.waves.values()) w.at += deltaMs;
      for (const d of bed.devices.values()) d.at += deltaMs;
      if (bed.lastDataAt) bed.lastDataAt += deltaMs;
      for (const t of bed.trends.values()) {
        const points = new PointRing(t.points.capacity);
        for (const [time, value] of t.points.toArray()) points.push(time + deltaMs, value);
        t.points = points;
      }
    }
    this.step = at === undefined ? null : { deltaMs, at };
    for (const l of this.shiftListeners) l(deltaMs);
  }

  /**
   * Readings stamped on the clock before a step just seen and handled after it, moved onto the new clock (as
   * AlarmService moves them for the engine), until one comes STEP_IN_FLIGHT_MS after the step on the new clock.
   */
  private onNewClock(events: readonly DriverEvent[]): readonly DriverEvent[] {
    const step = this.step;
    if (!step) return events;
    // A reading on the new clock long enough after the step: none stamped before it is still in flight.
    if (events.some((e) => !stampedBeforeStep(e, step.deltaMs, step.at) && stampOf(e) - step.at > STEP_IN_FLIGHT_MS)) this.step = null;
    return ontoNewClock(events, step.deltaMs, step.at);
  }

  /** How many beds' readings are not shown (over maxBeds; counted up to MAX_DROPPED_BEDS_NAMED). */
  get droppedBedCount(): number {
    return this.droppedBedNames.size;
  }

  /**
   * Whether this bed's readings are left out (over maxBeds): its tile says so, whatever the number of beds left out.
   * Past the beds remembered by name, any bed not kept is taken as left out: its readings would be.
   */
  readingsDropped(bed: string): boolean {
    if (this.beds.has(bed)) return false;
    return this.droppedBedNames.has(bed) || this.droppedBedNames.size >= MAX_DROPPED_BEDS_NAMED;
  }

  /** Beds whose readings are not shown, for the page: a screen must say it does not show every bed. */
  droppedBedsView(): DroppedBedsView {
    return { count: this.droppedBedNames.size, beds: [...this.droppedBedNames].slice(0, DROPPED_BEDS_SHOWN), maxBeds: this.opts.maxBeds };
  }

  /** Feed committed events; returns the beds whose tiles changed. */
  handle(delivered: readonly DriverEvent[]): Set<string> {
    const events = this.onNewClock(delivered);
    const changed = new Set<string>();
    const measuredAt = this.clocks.delivery(events);
    for (const e of events) {
      const bedId = e.bed ?? UNASSIGNED_BED;
      const bed = this.bed(bedId);
      if (!bed) {
        // An alarm is not left out: the alarm engine shows it whether the ward has room for its bed or not.
        if (e.kind !== 'alarm') this.dropBed(bedId, e.kind);
        continue;
      }
      if (e.kind === 'numeric') {
        this.numeric(bedId, bed, e, measuredAt(e));
        changed.add(bedId);
      } else if (e.kind === 'waveform') {
        // Not a changed tile (that would be one per segment): the lastDataAt it moves is sent on by LiveFeed.tick.
        this.waveform(bedId, bed, e);
      } else if (e.kind === 'device-status') {
        if (bed.devices.has(e.deviceId) || bed.devices.size < MAX_DEVICES_PER_BED) {
          bed.devices.set(e.deviceId, { state: e.state, detail: e.detail, at: e.at });
          changed.add(bedId);
        }
      }
    }
    return changed;
  }

  bedIds(): string[] {
    return [...this.beds.keys()];
  }

  has(bed: string): boolean {
    return this.beds.has(bed);
  }

  lastDataAt(bed: string): number | null {
    // 0: a bed known only from alarms or device status, with no reading yet (not "no data since 1970").
    return this.beds.get(bed)?.lastDataAt || null;
  }

  vitals(bedId: string, now: number): VitalView[] {
    const bed = this.beds.get(bedId);
    if (!bed) return [];
    return [...bed.latest.values()]
      .sort((a, b) => metricOrder(a.mdc) - metricOrder(b.mdc) || a.key.localeCompare(b.key))
      .map((l) => {
        const staleAfterS = isIntermittent(l.mdc) ? this.opts.intermittentStaleAfterS : this.opts.staleAfterS;
        const ageS = Math.max(0, Math.round((now - l.at) / 100) / 10);
        return {
          key: l.key,
          label: l.label,
          value: showable(l.quality) ? l.value : null,
          unit: l.unit,
          quality: l.quality,
          reasons: l.reasons,
          at: l.at,
          ageS,
          stale: ageS > staleAfterS,
          staleAfterS,
          deviceId: l.deviceId,
          setting: l.setting,
        };
      });
  }

  devices(bedId: string): { deviceId: string; state: string; detail: string; at: number }[] {
    const bed = this.beds.get(bedId);
    return bed ? [...bed.devices].map(([deviceId, d]) => ({ deviceId, ...d })) : [];
  }

  trends(bedId: string): TrendView[] {
    const bed = this.beds.get(bedId);
    if (!bed) return [];
    return [...bed.trends].map(([key, t]) => ({ key, label: t.label, unit: t.unit, intervalS: this.opts.trend.intervalS, points: t.points.toArray() }));
  }

  /** The last seconds of each waveform of a bed, as one chunk each. */
  waves(bedId: string): WaveChunk[] {
    const bed = this.beds.get(bedId);
    if (!bed) return [];
    return [...bed.waves.values()].map((w) => ({
      bed: bedId, key: w.key, label: w.label, unit: w.unit, rateHz: w.rateHz, quality: w.quality, reasons: w.reasons, at: w.at,
      samples: w.samples.toArray(),
    }));
  }

  private bed(id: string): Bed | null {
    let bed = this.beds.get(id);
    if (!bed) {
      if (this.beds.size >= this.opts.maxBeds) return null;
      bed = { latest: new Map(), trends: new Map(), waves: new Map(), devices: new Map(), lastDataAt: 0, droppedKeys: new Set() };
      this.beds.set(id, bed);
    }
    return bed;
  }

  private dropBed(bed: string, kind: 'numeric' | 'waveform' | 'device-status'): void {
    this.droppedBeds++;
    const first = !this.droppedBedNames.has(bed) && this.droppedBedNames.size < MAX_DROPPED_BEDS_NAMED;
    if (first) this.droppedBedNames.add(bed);
    for (const l of this.dropListeners) l({ what: 'bed', bed, kind, limit: this.opts.maxBeds, first });
  }

  /** `at`: when it was measured, on the gateway's clock (measuredAt); its age is shown from it. */
  private numeric(bedId: string, bed: Bed, r: NumericReading, at: number): void {
    // A setting has a place of its own: sharing the measurement's code, it would otherwise overwrite the value. So has
    // each unit of a code (etCO2 in mmHg and in % from one ventilator, or two devices): one tile and one trend would
    // alternate between them (review rv114 L1).
    const base = r.unit.ucum ? `${metricKey(r.mdc, r.raw)}|${r.unit.ucum}` : metricKey(r.mdc, r.raw);
    const key = r.setting ? `${base}#set` : base;
    const prev = bed.latest.get(key);
    if (!prev) {
      // A parameter not shown yet (new, or past the bound): count the entries of its kind (at most 128).
      let settings = 0;
      for (const l of bed.latest.values()) if (l.setting) settings++;
      const full = r.setting ? settings >= MAX_SETTINGS_PER_BED : bed.latest.size - settings >= MAX_METRICS_PER_BED;
      if (full) {
        this.droppedMetrics++;
        const first = !bed.droppedKeys.has(key) && bed.droppedKeys.size < MAX_DROPPED_KEYS_PER_BED;
        if (first) bed.droppedKeys.add(key);
        const label = r.setting ? settingLabel(r) : metricLabel(r.mdc, r.raw);
        const limit = r.setting ? MAX_SETTINGS_PER_BED : MAX_METRICS_PER_BED;
        for (const l of this.dropListeners) l({ what: 'parameter', bed: bedId, key, label, setting: r.setting === true, limit, first });
        return;
      }
    }
    // Readings can arrive out of order across devices; the display keeps the newest. A device's backlog (measured
    // long before what it already gave) is not the patient's current value. A reading of the same device whose device
    // time is not older than the shown one's is never left out, whatever age a clock step gave it (review rv83 H1).
    // (The key is per metric, so the device is the source.)
    if (r.outOfOrder || (prev && heldIsNewer({ at: prev.at, source: prev.deviceId, deviceTime: prev.deviceTime }, at, r.deviceId, r.deviceTime))) return;
    const label = r.setting ? settingLabel(r) : metricLabel(r.mdc, r.raw);
    const unit = unitText(r.unit.ucum);
    bed.latest.set(key, {
      key, label, mdc: r.mdc, value: r.value, unit, quality: r.quality.state, reasons: r.quality.reasons ?? [], at, deviceId: r.deviceId,
      ...(r.deviceTime !== null && Number.isFinite(r.deviceTime) ? { deviceTime: r.deviceTime } : {}), setting: r.setting === true,
    });
    bed.lastDataAt = Math.max(bed.lastDataAt, r.receivedAt);
    if (typeof r.value === 'number' || r.value === null) {
      let t = bed.trends.get(key);
      if (!t) {
        t = { label, unit, points: new PointRing(this.opts.trend.points) };
        bed.trends.set(key, t);
      }
      // One point per interval: the newest value of each interval, so the trend ends at the latest value.
      const value = typeof r.value === 'number' && showable(r.quality.state) ? round(r.value) : null;
      const last = t.points.lastTime();
      const interval = this.opts.trend.intervalS * 1000;
      if (last === undefined || Math.floor(r.receivedAt / interval) > Math.floor(last / interval)) t.points.push(r.receivedAt, value);
      else if (r.receivedAt >= last) t.points.replaceLast(r.receivedAt, value);
    }
  }

  private waveform(bedId: string, bed: Bed, w: NormalisedWaveform): void {
    const key = metricKey(w.mdc, w.raw);
    if (!(w.sampleRateHz > 0) || w.sampleRateHz > MAX_WAVE_RATE_HZ) return;
    let wave = bed.waves.get(key);
    if (!wave || wave.rateHz !== w.sampleRateHz) {
      if (!wave && bed.waves.size >= MAX_WAVES_PER_BED) return;
      wave = {
        key, label: metricLabel(w.mdc, w.raw), unit: unitText(w.unit.ucum), rateHz: w.sampleRateHz,
        samples: new NumberRing(Math.ceil(w.sampleRateHz * this.opts.waveformSeconds)), quality: w.quality.state, reasons: [], at: w.receivedAt,
      };
      bed.waves.set(key, wave);
    }
    // The samples ingest zeroed stay gaps: the strip's quality follows the newest segment, so once a valid one comes
    // they would be drawn as a live flat line at 0 (review rv132 L1). For the same reason a whole segment that is not
    // showable (lead off, sensor off) is gaps: its flat line would later be drawn live, an ECG pause that never was.
    const zeroed = w.zeroed?.length ? new Set(w.zeroed) : null;
    const show = showable(w.quality.state);
    const samples = w.samples.map((v, i) => (!show || zeroed?.has(i) ? null : round(v)));
    for (const s of samples) wave.samples.push(s);
    wave.quality = w.quality.state;
    wave.reasons = w.quality.reasons ?? [];
    wave.at = w.receivedAt;
    bed.lastDataAt = Math.max(bed.lastDataAt, w.receivedAt);
    const chunk: WaveChunk = {
      bed: bedId, key, label: wave.label, unit: wave.unit, rateHz: wave.rateHz, quality: wave.quality, reasons: wave.reasons, at: wave.at,
      samples: samples.slice(-wave.samples.capacity),
    };
    for (const l of this.waveListeners) l(chunk);
  }
}
