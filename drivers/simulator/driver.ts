// The simulated ward: beds stepped in simulation time, by a real timer (one per driver, firing once per
// period, never per sample) or by hand (tick) in tests and benchmarks. Also the scenario API.
import type { DeviceStatusEvent, DriverEvent } from '../../agent/model/reading.js';
import type { Driver, DriverContext, DriverHealth } from '../types.js';
import { Bed } from './bed.js';
import type { Episode, EpisodeRequest } from './episodes.js';
import {
  type BedRef,
  bedNumber,
  checkStep,
  type EpisodeKind,
  resolveOptions,
  type ResolvedOptions,
  type ScenarioStep,
  SimulatorConfigError,
  type SimulatorOptions,
  targetProblem,
  unknownBed,
  type Vital,
  type VitalValues,
} from './options.js';
import type { Baseline } from './profiles.js';

export interface SimulatorHooks {
  /**
   * 'real' (default): time is the wall clock and a timer drives the ward. 'manual': time stands still
   * except through tick(ms); nothing is scheduled, so a simulated hour takes as long as computing it.
   */
  clock?: 'real' | 'manual';
  /** Simulation start time (ms since epoch) for the manual clock; default Date.now() at start(). */
  startTime?: number;
}

/** A look at one bed for tests and tools. */
export interface BedSnapshot {
  bed: string;
  deviceId: string;
  profile: string;
  /** When this bed's timeline starts (its first numerics); later than start when beds are staggered. */
  startAt: number;
  baseline: Baseline;
  /** Current position of the hidden random walks. */
  walk: Baseline;
  held: VitalValues;
  episodes: readonly Episode[];
}

/** If the wall clock jumps ahead more than this (suspended VM, debugger), the gap is skipped, not back-filled. */
const MAX_CATCH_UP_MS = 30_000;
/** Emit failures are logged at most this often (counted always). */
const REJECT_LOG_EVERY_MS = 10_000;

/** The last real-clock start's alarm id time (see alarmIdToken). */
let lastRealIdTime = -Infinity;

/**
 * The part of alarm ids that makes them unique per driver instance (rv95 M2): its start time in base 36, so that
 * seeded runs keep their ids. On the real clock, a start in the same millisecond as the one before (a twin change
 * stopping and starting at once) takes the next millisecond.
 */
function alarmIdToken(t0: number, manual: boolean): string {
  if (manual) return t0.toString(36);
  lastRealIdTime = Math.max(t0, lastRealIdTime + 1);
  return lastRealIdTime.toString(36);
}

export class SimulatorDriver implements Driver {
  readonly options: ResolvedOptions;
  private readonly manual: boolean;
  private beds: Bed[] = [];
  private t0 = 0;
  private simNow = 0;
  private scenario: { at: number; step: ScenarioStep }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private phase: 'new' | 'running' | 'stopped' = 'new';
  private rejected = { total: 0, sinceLog: 0, lastLogAt: -Infinity, lastAt: null as number | null };

  constructor(
    options: SimulatorOptions | undefined,
    private readonly ctx: DriverContext,
    private readonly hooks: SimulatorHooks = {},
  ) {
    this.options = resolveOptions(options);
    this.manual = hooks.clock === 'manual';
  }

  async start(): Promise<void> {
    if (this.phase !== 'new') throw new Error(`simulator cannot start: it is ${this.phase}`);
    const o = this.options;
    this.t0 = this.manual ? (this.hooks.startTime ?? Date.now()) : Date.now();
    this.simNow = this.t0;
    // Monitors are not synchronised: bed i starts its timeline at a phase of the period, up to 10 phases.
    const phases = o.staggerBeds ? Math.min(o.beds, 10) : 1;
    const offset = (i: number) => Math.round(((i % phases) * o.numericPeriodMs) / phases);
    const token = alarmIdToken(this.t0, this.manual);
    this.beds = Array.from({ length: o.beds }, (_, i) => new Bed(i + 1, o, this.ctx.name, this.t0 + offset(i), token));
    for (const step of o.scenario) this.schedule(step); // steps were checked, their beds too, by resolveOptions
    this.phase = 'running';
    this.ctx.log.info(
      { beds: o.beds, seed: o.seed, waveforms: o.waveforms, numericPeriodMs: o.numericPeriodMs, episodesPerHour: o.episodesPerHour, clock: this.manual ? 'manual' : 'real' },
      'simulated ward starting',
    );
    for (const b of this.beds) {
      this.ctx.log.debug({ bed: b.name, deviceId: b.origin.deviceId, profile: b.profile.name }, 'simulated bed');
      const events: DriverEvent[] = [this.status(b, 'online', 'simulated bedside monitor started', this.t0)];
      // A monitor sends its current values when it comes online, then on its own phase of the period.
      if (b.startAt > this.t0) events.push(...b.numericStep(this.t0, this.manual ? this.t0 : Date.now()));
      this.emit(b, events);
    }
    this.advanceTo(this.t0);
    if (!this.manual) this.arm();
  }

  async stop(): Promise<void> {
    if (this.phase !== 'running') {
      this.phase = 'stopped';
      return;
    }
    this.phase = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const at = this.manual ? this.simNow : Date.now();
    // Alarms still open are ended first: nothing else would end them once the monitor is gone.
    for (const b of this.beds) this.emit(b, [...b.endAlarms(at), this.status(b, 'offline', 'simulator stopped', at)]);
  }

  health(): DriverHealth {
    const devices: NonNullable<DriverHealth['devices']> = {};
    const up = this.phase === 'running';
    for (const b of this.beds) devices[b.origin.deviceId] = { state: up ? 'online' : 'offline', lastDataAt: b.lastDataAt };
    if (this.phase === 'new') return { state: 'starting', devices };
    if (this.phase === 'stopped') return { state: 'stopped', devices };
    const now = this.manual ? this.simNow : Date.now();
    if (this.rejected.lastAt !== null && now - this.rejected.lastAt < REJECT_LOG_EVERY_MS) {
      return { state: 'degraded', detail: `events rejected by the pipeline (${this.rejected.total} batches so far)`, devices };
    }
    return { state: 'running', devices };
  }

  // ---- time ----

  /** Current simulation time (ms since epoch). */
  now(): number {
    return this.simNow;
  }

  /** Manual clock only: advances simulation time by ms, producing every event due on the way. */
  tick(ms: number): void {
    if (!this.manual) throw new Error('tick() needs the manual clock ({ clock: "manual" })');
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`tick: ms must be a finite number ≥ 0 (got ${ms})`);
    this.mustRun();
    this.advanceTo(this.simNow + ms);
  }

  // ---- scenario API (all take effect at the current simulation time) ----

  get bedNames(): string[] {
    return this.beds.map((b) => b.name);
  }

  /** Holds vitals at exact values until released, e.g. force('ICU-01', { hr: 150 }). Pulse rate follows HR. */
  force(bed: BedRef, values: VitalValues): void {
    this.bed(bed).vitals.hold(values);
  }

  /** Lets held vitals walk again, from where they were held. */
  release(bed: BedRef, which: Vital[] | 'all' = 'all'): void {
    this.bed(bed).vitals.release(which);
  }

  startEpisode(bed: BedRef, kind: EpisodeKind, req: EpisodeRequest = {}): void {
    const problem = req.target === undefined ? null : targetProblem(kind, req.target);
    if (problem) throw new SimulatorConfigError(`target: ${problem}`);
    this.bed(bed).startEpisode(kind, this.simNow, req);
  }

  endEpisode(bed: BedRef, kind: EpisodeKind): void {
    this.bed(bed).endEpisode(kind, this.simNow);
  }

  /** Takes an NIBP measurement now; it is reported with the next numerics. */
  measureNibp(bed: BedRef): void {
    this.bed(bed).requestNibp(this.simNow);
  }

  /** Schedules a scenario step at `atS` seconds after start (a step in the past runs at the next step). */
  schedule(step: ScenarioStep): void {
    // Bad steps throw now, not later inside a timer.
    checkStep(step);
    this.bed(step.bed);
    const at = Math.max(this.simNow, this.t0 + step.atS * 1000);
    this.scenario.push({ at, step });
    this.scenario.sort((a, b) => a.at - b.at);
    if (this.phase === 'running' && !this.manual) this.arm();
  }

  snapshot(bed: BedRef): BedSnapshot {
    const b = this.bed(bed);
    return {
      bed: b.name,
      deviceId: b.origin.deviceId,
      profile: b.profile.name,
      startAt: b.startAt,
      baseline: { ...b.vitals.baseline },
      walk: { ...b.vitals.x },
      held: { ...b.vitals.held },
      episodes: b.activeEpisodes.map((e) => ({ ...e })),
    };
  }

  private bed(ref: BedRef): Bed {
    if (this.phase === 'new' && this.beds.length === 0) throw new Error('simulator not started yet');
    const n = bedNumber(this.options, ref);
    const b = n === undefined ? undefined : this.beds[n - 1];
    if (!b) throw new SimulatorConfigError(unknownBed(this.options, ref));
    return b;
  }

  private mustRun(): void {
    if (this.phase !== 'running') throw new Error(`simulator is ${this.phase === 'new' ? 'not started' : 'stopped'}`);
  }

  private applyStep(step: ScenarioStep): void {
    const b = this.bed(step.bed);
    if (step.release) b.vitals.release(step.release);
    if (step.set) b.vitals.hold(step.set);
    if (step.end) b.endEpisode(step.end, this.simNow);
    if (step.episode) {
      const req: EpisodeRequest = {};
      if (step.durationS !== undefined) req.durationS = step.durationS;
      if (step.target !== undefined) req.target = step.target;
      b.startEpisode(step.episode, this.simNow, req);
    }
    if (step.nibp) b.requestNibp(this.simNow);
  }

  // ---- stepping ----

  private nextNumericAt(b: Bed): number {
    return b.startAt + b.numericK * this.options.numericPeriodMs;
  }

  private nextWaveAt(b: Bed): number {
    return this.options.waveforms ? b.startAt + b.waveK * this.options.waveformChunkMs : Infinity;
  }

  private nextDue(): number {
    let next = this.scenario[0]?.at ?? Infinity;
    for (const b of this.beds) next = Math.min(next, this.nextNumericAt(b), this.nextWaveAt(b));
    return next;
  }

  /** Produces, in time order, everything due up to and including `target`. */
  private advanceTo(target: number): void {
    for (let next = this.nextDue(); next <= target && this.phase === 'running'; next = this.nextDue()) {
      this.simNow = next;
      while (this.scenario.length > 0 && this.scenario[0]!.at <= next) this.applyStep(this.scenario.shift()!.step);
      const receivedAt = this.manual ? next : Date.now();
      for (const b of this.beds) {
        const numeric = this.nextNumericAt(b) === next;
        const wave = this.nextWaveAt(b) === next;
        if (!numeric && !wave) continue;
        const events: DriverEvent[] = [];
        if (numeric) events.push(...b.numericStep(next, receivedAt));
        if (wave) events.push(...b.waveStep(next, receivedAt));
        if (numeric) b.numericK++;
        if (wave) b.waveK++;
        this.emit(b, events);
      }
    }
    this.simNow = Math.max(this.simNow, target);
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, this.nextDue() - Date.now()));
  }

  private onTimer(): void {
    this.timer = null;
    if (this.phase !== 'running') return;
    const now = Date.now();
    if (now - this.nextDue() > MAX_CATCH_UP_MS) this.skipGap(now);
    this.advanceTo(now);
    if (this.phase === 'running') this.arm();
  }

  /** The clock jumped (process suspended): resume at now without inventing the missing data. */
  private skipGap(now: number): void {
    const o = this.options;
    const gapMs = now - this.simNow;
    let skipped = 0;
    for (const b of this.beds) {
      const before = b.numericK;
      b.numericK = Math.max(b.numericK, Math.ceil((now - b.startAt) / o.numericPeriodMs));
      skipped += b.numericK - before;
      let resumeAt = this.nextNumericAt(b) - o.numericPeriodMs;
      if (o.waveforms) {
        b.waveK = Math.max(b.waveK, Math.ceil((now - b.startAt) / o.waveformChunkMs));
        resumeAt = Math.min(resumeAt, this.nextWaveAt(b) - o.waveformChunkMs);
      }
      b.skipTo(resumeAt);
    }
    this.ctx.count('periods_skipped', skipped);
    this.ctx.log.warn({ gapMs, periodsSkipped: skipped }, 'clock jumped ahead; simulated data for the gap is not made up');
  }

  // ---- output ----

  private status(b: Bed, state: DeviceStatusEvent['state'], detail: string, at: number): DeviceStatusEvent {
    return { kind: 'device-status', ...b.origin, state, detail, at };
  }

  /** Hands a bed's events to the pipeline. A rejection is counted and logged, never left unhandled. */
  private emit(b: Bed, events: DriverEvent[]): void {
    let p: Promise<void>;
    try {
      p = this.ctx.emit(events);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch((err: unknown) => this.onRejected(b, events, err));
  }

  private onRejected(b: Bed, events: DriverEvent[], err: unknown): void {
    this.ctx.count('emit_failures');
    const now = Date.now();
    this.rejected.total++;
    this.rejected.sinceLog++;
    this.rejected.lastAt = this.manual ? this.simNow : now;
    if (now - this.rejected.lastLogAt < REJECT_LOG_EVERY_MS) return;
    this.ctx.log.error(
      { err, bed: b.name, deviceId: b.origin.deviceId, events: events.length, rejectedSinceLastLog: this.rejected.sinceLog, rejectedTotal: this.rejected.total },
      'pipeline rejected simulated events; they are lost',
    );
    this.rejected.lastLogAt = now;
    this.rejected.sinceLog = 0;
  }
}
