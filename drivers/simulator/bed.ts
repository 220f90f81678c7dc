// One simulated bed: a bedside monitor with its patient. Produces the events of one numeric period or one
// waveform chunk at a given simulation time; knows nothing of timers.
import { MDC, UNITS } from '../../agent/model/mdc.js';
import type { AlarmEvent, DriverEvent, MdcCode, NumericReading, Origin, Quality, Unit, WaveformSegment } from '../../agent/model/reading.js';
import { type Episode, endEpisode, finished, newEpisode, type EpisodeRequest, technicalActive, technicalEnd } from './episodes.js';
import { type EpisodeKind, pad2, type ResolvedOptions, simulatedBedName, simulatedDeviceId } from './options.js';
import { PROFILES, type Profile } from './profiles.js';
import { deriveSeed, Prng } from './prng.js';
import { Vitals } from './vitals.js';
import { BeatTrain, WaveSampler } from './waveforms.js';

/**
 * Event codes for the technical alarms (partition 3, MDC_PART_EVT). Not in agent/model/mdc.ts yet.
 * MDC_EVT_LEAD_DISCONN is 3:268 per DICOM CID 3039; MDC_EVT_SENSOR_DISCONN 196916 (3:308) per a published
 * 11073 enum. Context-free code = 3 × 65536 + term code.
 */
export const EVT = {
  LEAD_DISCONN: { code: 196876, refid: 'MDC_EVT_LEAD_DISCONN' },
  SENSOR_DISCONN: { code: 196916, refid: 'MDC_EVT_SENSOR_DISCONN' },
} as const satisfies Record<string, MdcCode>;

const TECHNICAL = {
  'lead-off': { condition: EVT.LEAD_DISCONN, text: 'ECG LEADS OFF', metric: MDC.ECG_ELEC_POTL_II },
  'sensor-off': { condition: EVT.SENSOR_DISCONN, text: 'SpO2 SENSOR OFF', metric: MDC.PULS_OXIM_SAT_O2 },
} as const;

const VALID: Quality = { state: 'valid' };
const off = (reason: string, state: 'unavailable' | 'invalid'): Quality => ({ state, reasons: [reason] });

export class Bed {
  readonly origin: Origin;
  readonly profile: Profile;
  readonly vitals: Vitals;
  private episodes: Episode[] = [];
  private readonly episodeRng: Prng;
  private readonly alarmsOn = new Map<'sensor-off' | 'lead-off', { alarmId: string; episode: Episode }>();
  private alarmSeq = 0;
  private nextNibpAt: number | null;
  private nibpRequested: number | null = null;
  private nextSpontaneousAt = Infinity;
  private lastStepAt: number;
  private readonly beats: BeatTrain | null = null;
  private readonly ecg: WaveSampler | null = null;
  private readonly pleth: WaveSampler | null = null;
  lastDataAt: number | null = null;
  /** Numeric periods and waveform chunks done (the driver's schedule for this bed). */
  numericK = 0;
  waveK = 1;

  constructor(
    /** 1-based bed number. */
    readonly number: number,
    private readonly opts: ResolvedOptions,
    source: string,
    /** When this monitor's timeline starts: its first numerics, sample 0 of its waveforms. */
    readonly startAt: number,
    /**
     * Part of every alarm id, unique per driver instance: a restarted simulator numbering its alarms from 1 again took
     * the keys of the stopped one's alarms, merging a new episode into an old alarm (rv95 M2).
     */
    private readonly alarmIdToken: string,
  ) {
    const t0 = startAt;
    this.origin = {
      deviceId: simulatedDeviceId(opts.deviceIdPrefix, number),
      bed: simulatedBedName(opts.bedPrefix, number),
      source,
      ...(opts.patientIds && { patientId: `sim-patient-${pad2(number)}` }),
    };
    const profileRng = new Prng(deriveSeed(opts.seed, number, 'profile'));
    this.profile = profileRng.pick(PROFILES.map((p) => ({ item: p, weight: p.weight })));
    const b = this.profile.baseline;
    // Each patient differs a little from the profile's typical values.
    const sysDev = 8 * profileRng.normal();
    const sys = b.sys + sysDev;
    const baseline = {
      hr: b.hr + 6 * profileRng.normal(),
      spo2: Math.min(99, b.spo2 + 0.8 * profileRng.normal()),
      rr: b.rr + 1.5 * profileRng.normal(),
      sys,
      // Diastolic goes partly with systolic; the pulse pressure stays at least 30 mm[Hg].
      dia: Math.min(sys - 30, b.dia + 0.4 * sysDev + 4 * profileRng.normal()),
      temp: b.temp + 0.15 * profileRng.normal(),
    };
    this.vitals = new Vitals(baseline, new Prng(deriveSeed(opts.seed, number, 'vitals')));
    this.episodeRng = new Prng(deriveSeed(opts.seed, number, 'episodes'));
    this.lastStepAt = t0;
    // Cuffs of different beds do not all inflate together: the first within 30 s, then every interval.
    const interval = opts.nibpIntervalS * 1000;
    this.nextNibpAt = interval > 0 ? t0 + profileRng.uniform(2000, Math.min(30_000, interval)) : null;
    this.scheduleSpontaneous(t0);
    if (opts.waveforms) {
      const waveRng = new Prng(deriveSeed(opts.seed, number, 'waveforms'));
      this.beats = new BeatTrain(waveRng, t0 + waveRng.uniform(0, 800));
      this.ecg = new WaveSampler('ecg', opts.ecgRateHz, t0, waveRng);
      this.pleth = new WaveSampler('pleth', opts.plethRateHz, t0, waveRng);
    }
  }

  get name(): string {
    return this.origin.bed!;
  }

  get activeEpisodes(): readonly Episode[] {
    return this.episodes;
  }

  startEpisode(kind: EpisodeKind, t: number, req: EpisodeRequest = {}): Episode {
    // One episode of a kind at a time: a new one replaces the old.
    this.episodes = this.episodes.filter((e) => e.kind !== kind);
    const e = newEpisode(kind, t, this.episodeRng, req);
    this.episodes.push(e);
    return e;
  }

  endEpisode(kind: EpisodeKind, t: number): void {
    for (const e of this.episodes) if (e.kind === kind) endEpisode(e, t);
  }

  requestNibp(t: number): void {
    this.nibpRequested = t;
  }

  private scheduleSpontaneous(from: number): void {
    const rate = this.opts.episodesPerHour;
    this.nextSpontaneousAt = rate > 0 && this.opts.episodeKinds.length > 0 ? from + this.episodeRng.exponential(3_600_000 / rate) : Infinity;
  }

  private isOff(kind: 'sensor-off' | 'lead-off', t: number): boolean {
    return this.episodes.some((e) => e.kind === kind && technicalActive(e, t));
  }

  /**
   * Starts the spontaneous episodes due by t, at their own (earlier) times. Called by both steps, so that an episode
   * is in place before any data covering its start goes out: with numerics less often than waveform chunks, a draw
   * at the numerics only would back-date a sensor-off over chunks already sent as valid.
   */
  private drawSpontaneous(t: number): void {
    while (this.nextSpontaneousAt <= t) {
      const at = this.nextSpontaneousAt;
      const kinds = this.opts.episodeKinds.filter((k) => !this.episodes.some((e) => e.kind === k));
      if (kinds.length > 0) this.startEpisode(this.episodeRng.pick(kinds.map((k) => ({ item: k, weight: 1 }))), at);
      this.scheduleSpontaneous(at);
    }
  }

  /** Numerics (and NIBP, technical alarms) for the period ending at simulation time t. */
  numericStep(t: number, receivedAt: number): DriverEvent[] {
    this.drawSpontaneous(t);
    // The on-connect reading at start comes before the bed's own first period: no time has passed then.
    this.vitals.step(Math.max(0, t - this.lastStepAt) / 1000);
    this.lastStepAt = Math.max(this.lastStepAt, t);
    const out: DriverEvent[] = [];
    const leadOff = this.technicalAlarm('lead-off', t, receivedAt, out);
    const sensorOff = this.technicalAlarm('sensor-off', t, receivedAt, out);

    const v = this.vitals.shown(t, this.episodes);
    const num = (mdc: MdcCode, unit: Unit, value: number | null, quality: Quality, deviceTime = t): NumericReading => ({
      kind: 'numeric',
      ...this.origin,
      mdc,
      value,
      unit,
      deviceTime,
      receivedAt,
      quality,
    });
    // No value is ever shown while its sensor is off: null, and the reason.
    const lead = off('lead-off', 'unavailable');
    const sensor = off('sensor-off', 'unavailable');
    out.push(
      leadOff ? num(MDC.ECG_HEART_RATE, UNITS.BEAT_PER_MIN, null, lead) : num(MDC.ECG_HEART_RATE, UNITS.BEAT_PER_MIN, v.hr, VALID),
      sensorOff ? num(MDC.PULS_OXIM_SAT_O2, UNITS.PERCENT, null, sensor) : num(MDC.PULS_OXIM_SAT_O2, UNITS.PERCENT, v.spo2, VALID),
      sensorOff ? num(MDC.PULS_OXIM_PULS_RATE, UNITS.BEAT_PER_MIN, null, sensor) : num(MDC.PULS_OXIM_PULS_RATE, UNITS.BEAT_PER_MIN, v.pr, VALID),
      // Respiration rate comes from thoracic impedance across the ECG electrodes, so lead-off takes it too.
      leadOff ? num(MDC.RESP_RATE, UNITS.RESP_PER_MIN, null, lead) : num(MDC.RESP_RATE, UNITS.RESP_PER_MIN, v.rr, VALID),
      num(MDC.TEMP_BODY, UNITS.DEGC, v.temp, VALID),
    );

    const nibpAt = this.nibpDue(t);
    if (nibpAt !== null) {
      const p = this.vitals.measureNibp();
      out.push(
        num(MDC.PRESS_BLD_NONINV_SYS, UNITS.MMHG, p.sys, VALID, nibpAt),
        num(MDC.PRESS_BLD_NONINV_DIA, UNITS.MMHG, p.dia, VALID, nibpAt),
        num(MDC.PRESS_BLD_NONINV_MEAN, UNITS.MMHG, p.map, VALID, nibpAt),
      );
    }
    // Kept a little after they end: the next waveform chunk still covers part of their time.
    const horizon = this.opts.waveformChunkMs + this.opts.numericPeriodMs;
    this.episodes = this.episodes.filter((e) => !finished(e, t - horizon));
    this.lastDataAt = receivedAt;
    return out;
  }

  /** Time of the cuff measurement to report now, if one is due (at most one per period). */
  private nibpDue(t: number): number | null {
    let at: number | null = null;
    if (this.nibpRequested !== null && this.nibpRequested <= t) {
      at = this.nibpRequested;
      this.nibpRequested = null;
    }
    if (this.nextNibpAt !== null && this.nextNibpAt <= t) {
      at = Math.max(at ?? -Infinity, this.nextNibpAt);
      const interval = this.opts.nibpIntervalS * 1000;
      while (this.nextNibpAt <= t) this.nextNibpAt += interval;
    }
    return at === null ? null : Math.round(at);
  }

  private technicalAlarm(kind: 'sensor-off' | 'lead-off', t: number, receivedAt: number, out: DriverEvent[]): boolean {
    const active = this.episodes.find((e) => e.kind === kind && technicalActive(e, t));
    const on = this.alarmsOn.get(kind);
    if (active && on) on.episode = active; // a new episode of the kind replaced the old one: same condition
    if (!active === !on) return active !== undefined;
    if (active) {
      const alarmId = `${this.origin.deviceId}/${kind}/${this.alarmIdToken}-${++this.alarmSeq}`;
      this.alarmsOn.set(kind, { alarmId, episode: active });
      // The monitor knows when the sensor came off, even if it is reported with the next numerics.
      out.push(this.alarmEvent(kind, alarmId, 'start', Math.round(active.start), receivedAt));
    } else {
      out.push(this.alarmEvent(kind, on!.alarmId, 'end', Math.round(Math.min(t, technicalEnd(on!.episode))), receivedAt));
      this.alarmsOn.delete(kind);
    }
    return active !== undefined;
  }

  /**
   * The monitor is switched off (driver stopped): ends every technical alarm it still has open, at `at`. Otherwise the
   * agent would show "SpO2 SENSOR OFF" for good, since no end would come. A plain end, not a lost link: the made-up
   * patient is gone with the monitor, so the condition is over. Ended as link-lost, the engine latched it, and with no
   * clinician user configured nobody could ever clear it (rv95 L1).
   */
  endAlarms(at: number): AlarmEvent[] {
    const out: AlarmEvent[] = [];
    for (const [kind, on] of this.alarmsOn) out.push(this.alarmEvent(kind, on.alarmId, 'end', Math.round(at), at));
    this.alarmsOn.clear();
    return out;
  }

  private alarmEvent(kind: 'sensor-off' | 'lead-off', alarmId: string, phase: 'start' | 'end', deviceTime: number | null, receivedAt: number): AlarmEvent {
    const spec = TECHNICAL[kind];
    return {
      kind: 'alarm',
      ...this.origin,
      alarmId,
      condition: spec.condition,
      text: spec.text,
      // Matches the agent's own default for sensor/lead off: low priority technical.
      priority: 'low',
      category: 'technical',
      phase,
      sourceMetric: spec.metric,
      deviceTime,
      receivedAt,
    };
  }

  /** Jumps over a gap in time (the process was suspended): no data is made up for it. */
  skipTo(t: number): void {
    this.lastStepAt = t;
    this.beats?.restart(t);
    this.ecg?.skipTo(t);
    this.pleth?.skipTo(t);
  }

  /** Waveform segments for the samples up to simulation time t. */
  waveStep(t: number, receivedAt: number): WaveformSegment[] {
    if (!this.beats || !this.ecg || !this.pleth) return [];
    this.drawSpontaneous(t);
    this.beats.extend(t + 300, this.vitals.heartRate);
    const rr = this.vitals.x.rr;
    const out: WaveformSegment[] = [];
    const seg = (sampler: WaveSampler, mdc: MdcCode, unit: Unit, offKind: 'lead-off' | 'sensor-off') => {
      const from = sampler.nextTime;
      const offs = this.episodes.filter((e) => e.kind === offKind && e.start < t && technicalEnd(e) > from);
      const isOff = offs.length ? (at: number) => offs.some((e) => technicalActive(e, at)) : null;
      // The segment is marked invalid if the sensor was off for any part of it; those samples are flat.
      const { startTime, samples, anyOff } = sampler.take(t, this.beats!, rr, isOff);
      if (samples.length === 0) return;
      out.push({
        kind: 'waveform',
        ...this.origin,
        mdc,
        unit,
        startTime: Math.round(startTime),
        sampleRateHz: sampler.rateHz,
        samples,
        receivedAt,
        quality: anyOff ? off(offKind, 'invalid') : VALID,
      });
    };
    seg(this.ecg, MDC.ECG_ELEC_POTL_II, UNITS.MILLI_VOLT, 'lead-off');
    seg(this.pleth, MDC.PULS_OXIM_PLETH, UNITS.DIMLESS, 'sensor-off');
    this.beats.prune(t);
    this.lastDataAt = receivedAt;
    return out;
  }
}
