// Poll replies → readings. Keeps what static attributes said about each object (sample period,
// scale, unit, array spec), because later dynamic polls send only the values. An attribute that does
// not parse is counted and skipped; the rest of the reply still counts.
import type { NumericReading, Origin, WaveformSegment } from '../../agent/model/reading.js';
import { lookupPhysio, lookupUnit } from './codes.js';
import { judge, worsen } from './quality.js';
import {
  ATTR, IntellivueParseError, NOM_PART_SETTINGS, TICKS_PER_MS,
  decodeAbsTimeAttr, decodeAlarmList, decodeNuObsValue, decodeNuObsValueCmp, decodeSaObsValue, decodeSaObsValueCmp,
  decodeSaSpec, decodeScaleRangeSpec, decodeType, decodeU16, decodeU32,
  type AlarmEntry, type Ava, type NuObsValue, type PollReply, type SaObsValue, type SaSpec, type ScaleRangeSpec,
} from './protocol/index.js';
import type { DeviceClock } from './clock.js';

interface ObjectInfo {
  saSpec?: SaSpec;
  scale?: ScaleRangeSpec;
  samplePeriodTicks?: number;
  unitCode?: number;
  /** The object's TYPE partition (static attributes): NOM_PART_SETTINGS for a setting. */
  partition?: number;
}

/** An alarm list entry and the naming context of the alarm monitor that listed it. */
export type ListedAlarm = AlarmEntry & { context: number };

export type AlarmListName = 'patient' | 'technical';

/**
 * The alarm lists of one reply. A list the reply did not carry, or carried but could not read (in whole or in part), is
 * null: no information, never "no alarms" (review rv66 M1).
 */
export interface AlarmLists {
  patient: ListedAlarm[] | null;
  technical: ListedAlarm[] | null;
  /** Lists the reply carried but could not read: the answer they belong to says nothing of them. */
  unreadable: AlarmListName[];
}

export interface DecodedReply {
  numerics: NumericReading[];
  waves: WaveformSegment[];
  /** Present when the reply carried an alarm list attribute (of the alarm monitor object). */
  alarms: AlarmLists | null;
  deviceTime: number | null;
  /** Problems that did not stop the rest of the reply: counted and logged by the caller. */
  problems: Array<{ counter: string; detail: string }>;
}

const SA_EXT_VAL_RANGE = 0x1000;
/**
 * Sample rates a wave can have: real monitors send 62.5–500 Hz (CO2 to ECG); a period outside this is a damaged or
 * misread attribute (0xFFFFFFFF ticks gave 0 Hz and a start weeks back), not a signal.
 */
const WAVE_RATE_HZ = { min: 1, max: 2000 } as const;
/** The unit of a wave scaled to absolute values whose unit code was not seen (in the form lookupUnit gives unknown codes). */
const UNKNOWN_UNIT = { ucum: '{intellivue-dim:unknown}' } as const;

export class ObservationDecoder {
  private readonly objects = new Map<string, ObjectInfo>();

  constructor(
    private readonly origin: Origin,
    private readonly clock: DeviceClock,
  ) {}

  /** The monitor restarted or we re-associated: handles may now mean other objects. */
  forget(): void {
    this.objects.clear();
    this.clock.dropAnchor();
  }

  decode(reply: PollReply, receivedAt: number): DecodedReply {
    const deviceTime = this.clock.replyTime(reply.absTime, reply.relTime, receivedAt);
    // Where the reply's waves end: device time, else the provisional timeline (asked once, and only for waves).
    let anchored: number | undefined;
    const waveEnd = () => deviceTime ?? (anchored ??= this.clock.anchoredTime(reply.relTime, receivedAt));
    const out: DecodedReply = { numerics: [], waves: [], alarms: null, deviceTime, problems: [] };
    if (reply.absTimeProblem) out.problems.push({ counter: 'attribute_parse_errors', detail: `${reply.absTimeProblem} (the reply is decoded without it)` });
    for (const ctx of reply.contexts) {
      for (const obs of ctx.observations) {
        const key = `${ctx.contextId}:${obs.handle}`;
        const info = this.objects.get(key) ?? {};
        this.objects.set(key, info);
        for (const a of obs.attributes) this.safely(out, a, () => this.learn(info, a));
        let obsTime = deviceTime;
        const stamp = obs.attributes.find((a) => a.id === ATTR.TIME_STAMP_ABS);
        if (stamp) {
          this.safely(out, stamp, () => {
            const t = decodeAbsTimeAttr(stamp);
            if (t) obsTime = this.clock.absolute(t, deviceTime ?? receivedAt);
          });
        }
        for (const a of obs.attributes) {
          this.safely(out, a, () => {
            switch (a.id) {
              case ATTR.NU_VAL_OBS:
                out.numerics.push(this.numeric(info, decodeNuObsValue(a), obsTime, receivedAt));
                return;
              case ATTR.NU_CMPD_VAL_OBS:
                for (const v of decodeNuObsValueCmp(a)) out.numerics.push(this.numeric(info, v, obsTime, receivedAt));
                return;
              case ATTR.SA_VAL_OBS:
                this.wave(out, info, decodeSaObsValue(a), deviceTime === null, waveEnd, receivedAt);
                return;
              case ATTR.SA_CMPD_VAL_OBS:
                for (const v of decodeSaObsValueCmp(a)) this.wave(out, info, v, deviceTime === null, waveEnd, receivedAt);
                return;
              case ATTR.AL_MON_P_AL_LIST:
              case ATTR.AL_MON_T_AL_LIST: {
                const which: AlarmListName = a.id === ATTR.AL_MON_P_AL_LIST ? 'patient' : 'technical';
                const lists = (out.alarms ??= { patient: null, technical: null, unreadable: [] });
                let entries: AlarmEntry[];
                try {
                  entries = decodeAlarmList(a);
                } catch (err) {
                  if (!lists.unreadable.includes(which)) lists.unreadable.push(which);
                  throw err;
                }
                lists[which] = [...(lists[which] ?? []), ...entries.map((e) => ({ ...e, context: ctx.contextId }))];
                return;
              }
            }
          });
        }
      }
    }
    // A list read in one context and not in another is not the whole list.
    for (const which of out.alarms?.unreadable ?? []) out.alarms![which] = null;
    return out;
  }

  private safely(out: DecodedReply, a: Ava, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof IntellivueParseError)) throw err;
      out.problems.push({ counter: 'attribute_parse_errors', detail: `attribute 0x${a.id.toString(16)}: ${err.message}` });
    }
  }

  private learn(info: ObjectInfo, a: Ava): void {
    switch (a.id) {
      case ATTR.SA_SPECN:
        info.saSpec = decodeSaSpec(a);
        return;
      case ATTR.SCALE_SPECN_I16:
        info.scale = decodeScaleRangeSpec(a);
        return;
      case ATTR.TIME_PD_SAMP:
        info.samplePeriodTicks = decodeU32(a, 'RelativeTime');
        return;
      case ATTR.UNIT_CODE:
        info.unitCode = decodeU16(a, 'unit code');
        return;
      case ATTR.ID_TYPE:
        info.partition = decodeType(a).partition;
        return;
    }
  }

  private numeric(info: ObjectInfo, v: NuObsValue, deviceTime: number | null, receivedAt: number): NumericReading {
    const { mdc, raw } = lookupPhysio(v.physioId);
    const j = judge(v.state, v.value);
    const r: NumericReading = { ...this.origin, kind: 'numeric', mdc, raw, value: j.value, unit: lookupUnit(v.unitCode), deviceTime, receivedAt, quality: j.quality };
    // A setting carries the measurement's SCADA code (a set airway RR is coded like the measured one); only the
    // object's TYPE tells them apart. The raw code names the settings partition, so consumers can trace it.
    if (info.partition === NOM_PART_SETTINGS) {
      r.setting = true;
      r.raw = { ...raw, code: `${NOM_PART_SETTINGS}:${v.physioId}` };
    }
    return r;
  }

  /** `provisional`: no device time, `end()` is on the anchored timeline (DeviceClock.anchoredTime). */
  private wave(out: DecodedReply, info: ObjectInfo, v: SaObsValue, provisional: boolean, end: () => number, receivedAt: number): void {
    const spec = info.saSpec;
    const period = info.samplePeriodTicks;
    if (!spec || !period) {
      out.problems.push({ counter: 'waves_without_spec', detail: `wave 2:${v.physioId}: sample period or array spec not seen yet (static attributes), samples not emitted` });
      return;
    }
    // Only what the guide defines is read: 8- or 16-bit samples, whole samples, a physiological rate. Anything else
    // would be emitted as valid data that is not the signal (32-bit samples read as pairs, a last byte dropped, 0 Hz).
    const bad = (why: string): void => void out.problems.push({ counter: 'waves_bad_spec', detail: `wave 2:${v.physioId}: ${why}; samples not emitted` });
    if (spec.sampleSize !== 8 && spec.sampleSize !== 16) return bad(`sample size ${spec.sampleSize} bits (only 8 and 16 are defined)`);
    const bytesPer = spec.sampleSize === 8 ? 1 : 2;
    if (v.samples.length % bytesPer !== 0) return bad(`${v.samples.length} bytes of samples, not a whole number of ${spec.sampleSize}-bit samples`);
    const exactHz = 1000 / (period / TICKS_PER_MS);
    if (!(exactHz >= WAVE_RATE_HZ.min && exactHz <= WAVE_RATE_HZ.max)) {
      return bad(`sample period ${period} ticks (${Number(exactHz.toPrecision(2))} Hz), outside ${WAVE_RATE_HZ.min}–${WAVE_RATE_HZ.max} Hz`);
    }
    const rateHz = Math.round(exactHz * 1000) / 1000;
    const mask = spec.flags & SA_EXT_VAL_RANGE && spec.significantBits < 16 ? (1 << spec.significantBits) - 1 : 0xffff;
    const s = info.scale;
    const scaled = s && s.lowerAbsolute.kind === 'number' && s.upperAbsolute.kind === 'number' && s.upperScaled !== s.lowerScaled;
    const samples: number[] = [];
    for (let i = 0; i < v.samples.length; i += bytesPer) {
      const raw = (bytesPer === 1 ? (v.samples[i] as number) : v.samples.readUInt16BE(i)) & mask;
      if (scaled && s.lowerAbsolute.kind === 'number' && s.upperAbsolute.kind === 'number') {
        const x = s.lowerAbsolute.value + ((raw - s.lowerScaled) * (s.upperAbsolute.value - s.lowerAbsolute.value)) / (s.upperScaled - s.lowerScaled);
        samples.push(Math.round(x * 1e6) / 1e6);
      } else samples.push(raw);
    }
    const { mdc, raw } = lookupPhysio(v.physioId);
    const periodMs = period / TICKS_PER_MS;
    // Scaled but no unit code seen: the values are absolute (mV, mmHg, ...) in a unit we do not know. Not '1' (the
    // device's own integers): the edge model and rhythm check would take mV for counts. Unknown, they refuse it and say
    // so (as for any unit code we do not know), rather than guess; unscaled integers would lose the monitor's scale.
    if (scaled && info.unitCode === undefined) {
      out.problems.push({ counter: 'waves_unit_unknown', detail: `wave 2:${v.physioId}: scaled to absolute values, but no unit code seen (static attributes); unit unknown` });
    }
    const j = judge(v.state, null);
    // No device time (monitor restarted, clock not yet learned): placed on the timeline anchored at a receipt and run
    // by the monitor's relative time, and marked so: the spacing is exact (lost answers are gaps, jitter is none), the
    // placement approximate (not comparable with the device's clock). The samples are the monitor's own and good: the
    // state stays (made questionable, the rhythm check stopped and a technical alarm rose for the whole of such a session).
    if (provisional) worsen(j.quality, 'valid', 'time-anchored-at-receipt');
    out.waves.push({
      ...this.origin,
      kind: 'waveform',
      mdc,
      raw,
      // Without an absolute scale (e.g. pleth) the samples are the device's scaled integers.
      unit: !scaled ? { ucum: '1' } : info.unitCode !== undefined ? lookupUnit(info.unitCode) : { ...UNKNOWN_UNIT },
      // The reply carries the latest samples: place them so the last one ends at the reply time.
      startTime: Math.round(end() - samples.length * periodMs),
      sampleRateHz: rateHz,
      samples,
      receivedAt,
      quality: j.quality,
    });
  }
}
