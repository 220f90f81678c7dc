// Medibus alarm lists → AlarmEvents with a lifecycle. Medibus reports the alarms active now (per code
// page), each with a priority 1..31 and a 12-character phrase; it has no start/end messages, so the
// phases come from comparing successive lists: new → start, still there → continue (re-emitted at
// most every repeatMs, or at once if the priority changed), gone → end.
import type { AlarmEvent, AlarmPriority, Origin } from '../../agent/model/reading.js';
import type { AlarmRecord, RejectedAlarmRecord } from './protocol/data.js';
import { hexCode } from './codes.js';

export interface PriorityBands {
  high: number;
  medium: number;
}

/**
 * Medibus priority → IEC 60601-1-8 priority. The devices rank 1..31 (31 most urgent) and show
 * three classes (warning !!!, caution !!, advisory !); where the class boundaries lie is NOT in the
 * public sources we found, so the bands are configuration (default: ≥21 high, ≥11 medium).
 */
export function mapPriority(p: number, bands: PriorityBands): AlarmPriority {
  if (p >= bands.high) return 'high';
  if (p >= bands.medium) return 'medium';
  if (p >= 1) return 'low';
  return 'none';
}

// Heuristic (phrases are device text, not a category field): equipment problems rather than the patient.
const TECHNICAL = /(ERR|INOP|FAIL|SENS|SUPPLY|BATT|CAL\b|FAN|SPEAKER|COMM|\?)/i;

interface Active {
  record: AlarmRecord;
  lastEmitted: number;
}

export class AlarmTracker {
  private readonly active = new Map<string, Active>();

  constructor(
    private readonly origin: Origin,
    private readonly bands: PriorityBands,
    private readonly repeatMs: number,
  ) {}

  /**
   * One alarm response for `page` at time `now` → the events to emit. `rejected`: records of the page that did not
   * read. One whose code reads is still listed by the device, so its alarm stays as it was; one whose code does not
   * read may be any alarm, so an alarm no longer confirmed is ended as `link-lost` (not known to have ended: the alarm
   * engine keeps it in view until someone answers it) rather than as ended by the device.
   */
  update(page: 1 | 2 | 3, records: AlarmRecord[], now: number, rejected: RejectedAlarmRecord[] = []): AlarmEvent[] {
    const out: AlarmEvent[] = [];
    const seen = new Set<string>();
    for (const r of records) {
      const key = `cp${page}:${hexCode(r.code)}`;
      seen.add(key);
      const prev = this.active.get(key);
      if (!prev) {
        out.push(this.event(key, r, 'start', now));
        this.active.set(key, { record: r, lastEmitted: now });
      } else if (prev.record.priority !== r.priority || now - prev.lastEmitted >= this.repeatMs) {
        out.push(this.event(key, r, 'continue', now));
        this.active.set(key, { record: r, lastEmitted: now });
      }
    }
    for (const r of rejected) if (r.code !== null) seen.add(`cp${page}:${hexCode(r.code)}`);
    const unknownRejected = rejected.some((r) => r.code === null);
    for (const [key, a] of this.active) {
      if (!key.startsWith(`cp${page}:`) || seen.has(key)) continue;
      const end = this.event(key, a.record, 'end', now);
      out.push(unknownRejected ? { ...end, endedBy: 'link-lost' } : end);
      this.active.delete(key);
    }
    return out;
  }

  /** The alarms of one page, when that page could not be read: ended as link-lost (we can no longer vouch for them). */
  endPage(page: 1 | 2 | 3, now: number): AlarmEvent[] {
    const out: AlarmEvent[] = [];
    for (const [key, a] of this.active) {
      if (!key.startsWith(`cp${page}:`)) continue;
      out.push({ ...this.event(key, a.record, 'end', now), endedBy: 'link-lost' });
      this.active.delete(key);
    }
    return out;
  }

  /** When the device is lost, every alarm we hold is ended (we can no longer vouch for it). */
  endAll(now: number): AlarmEvent[] {
    const out = [...this.active].map(([key, a]) => ({ ...this.event(key, a.record, 'end', now), endedBy: 'link-lost' as const }));
    this.active.clear();
    return out;
  }

  private event(key: string, r: AlarmRecord, phase: AlarmEvent['phase'], now: number): AlarmEvent {
    return {
      ...this.origin,
      kind: 'alarm',
      alarmId: `${this.origin.deviceId}:${key}`,
      condition: null,
      raw: { system: 'medibus', code: `alarm:${key}`, text: `${r.text} (priority ${r.priority})` },
      text: r.text,
      priority: mapPriority(r.priority, this.bands),
      category: TECHNICAL.test(r.text) ? 'technical' : 'physiological',
      phase,
      deviceTime: null,
      receivedAt: now,
    };
  }
}
