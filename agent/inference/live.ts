// The edge model at work inside the agent. It keeps the last 30 s of each bed's ECG, pleth and ABP from the
// committed events, and when an arrhythmia alarm is raised (by a device, or the agent's own heart-rate limits)
// it scores the window before the alarm — on the model's own worker thread (worker-model.ts), one alarm at a
// time — and attaches the probability and verdict to the alarm through the alarm service, so the change is
// published and audited.
// Advisory: an alarm is never dropped. With policy `delay`, a likely-false alarm's audio is paused for a
// bounded time while the evidence is re-checked; every decision is an audited change carrying the model version.
import type { Logger } from 'pino';
import type { ModelConfig } from '../config/load.js';
import type { AlarmService } from '../alarms/service.js';
import { MODEL_ANNOTATION_KIND, PRIORITY_RANK, type Actor, type Alarm, type AlarmStateChange, type ManagedPriority } from '../alarms/types.js';
import type { DriverEvent } from '../model/reading.js';
import type { Metrics } from '../metrics.js';
import { signalSeconds, type Assessment, type EdgeModelOptions } from './edge-model.js';
import { modelFilePath, ModelNotApprovedError } from './approval.js';
import { modelSignal, plethScaleProblem } from './channels.js';
import type { NormalisedWaveform } from '../ingest.js';
import { bedKey, CHANNEL_REFUSALS, DEFAULT_RING_OPTIONS, WaveformRing, type ChannelRefusal, type QuestionableSpan } from './ring.js';
import { indicativeOnly, modelAlarmType, notJudged } from './triggers.js';
import { tryStartWorkerModel } from './worker-model.js';
import type { AlarmType, Channel } from '../../models/features/index.js';
import { monotonicBeside } from '../model/measured.js';

/** What the live model needs of the agent (the Agent satisfies it). */
export interface ModelHost {
  readonly gatewayId: string;
  readonly alarms: Pick<AlarmService, 'subscribe' | 'annotate' | 'audioPause' | 'gatewayCondition' | 'engine'>;
  readonly metrics: Metrics;
  onCommitted(listener: (events: readonly DriverEvent[]) => void): void;
}

export type ModelState = 'disabled' | 'loading' | 'ready' | 'refused' | 'failed' | 'closed';

/** For agent.health() and the twin. */
export interface ModelStatus {
  state: ModelState;
  path: string;
  version: string | null;
  sha256: string | null;
  policy: ModelConfig['policy']['mode'];
  error?: string;
  /** Alarms assessed since start, and the latest raise-to-annotation latency. */
  assessed: number;
  lastLatencyMs: number | null;
}

/** Key of the gateway technical alarm raised when the model cannot be used. */
export const MODEL_CONDITION = 'model-unavailable';
/**
 * Alarms waiting for assessment (or, while the model loads, for the model) beyond this are annotated as not assessed
 * (never silently skipped).
 */
export const MAX_QUEUE = 64;
/**
 * Longest the model's load may take (a few hundred ms normally: hash, card, session) before it counts as failed: the
 * alarms waiting for it are told and the technical alarm raised. A load that finishes later is still taken.
 */
export const LOAD_TIMEOUT_MS = 30_000;
/** (device, waveform code) pairs whose refusal by the ring has been logged (a ward has tens of devices). */
const MAX_REFUSAL_LOGS = 1024;
/** Alarms whose hold limit is remembered (until acknowledged or resolved); beyond, the oldest is forgotten. */
const MAX_HOLD_LIMITS = 4096;
/**
 * The model's hold budget of a condition at a bed (holdBudgets) is renewed once no alarm of it has been present there
 * for this long: 10 min, our choice (as the engine's NEW_EPISODE_AFTER_MS). A condition that comes back sooner is
 * taken as the same one still going on (fx229).
 */
export const HOLD_BUDGET_QUIET_MS = 10 * 60_000;
/** Conditions at a bed whose hold budget is remembered; beyond, the oldest is forgotten (its budget renewed). */
const MAX_HOLD_BUDGETS = 4096;
/** Why a window with fewer than two ECG leads is never held: the model was validated on two-lead windows only. */
const ONE_LEAD = 'one ECG lead in the window (the model was validated on two-lead windows only)';
const NO_ECG = 'no ECG in the window (the model was trained on two-lead windows only)';
/** A re-check runs this long before the audio pause it follows ends, so the hold has no audible gap. */
const RECHECK_LEAD_MS = 500;
/**
 * Longest an assessment may take before the alarm is annotated "not assessed", the model's worker is replaced and
 * the model moves on to the next alarm (an assessment takes ~20 ms; the annotation is due within a second of the
 * alarm). Timed on this thread while the worker computes, so it fires; a result later than this is dropped.
 */
export const ASSESS_TIMEOUT_MS = 2000;
/** Assessments failing (or timing out) in a row before the model is reported failed and the technical alarm raised. */
export const FAILURES_BEFORE_ALARM = 3;
/**
 * While the model is failed, alarms are annotated "not assessed" at once rather than each waiting for it; it is tried
 * again on one alarm at most this often, and the first that succeeds ends the failure.
 */
export const RETRY_FAILED_MS = 30_000;
/** Annotations due within this of the alarm; later ones are counted, and warned about at most once a minute. */
const LATE_MS = 1000;
/**
 * Under `delay`, a likely-false verdict later than this after its alarm's raise does not start a hold: by then the
 * alarm has been sounding, and pausing it now silences an alarm people have heard, on the model's word alone. 2 s is
 * ASSESS_TIMEOUT_MS: an alarm assessed at once gets its verdict within it (~20–60 ms normally), so this only leaves
 * unheld the alarms that waited for others (a burst, a slow box, a model load: up to minutes with 64 queued).
 */
export const HOLD_WITHIN_MS = 2000;
const LATE_WARN_EVERY_MS = 60_000;

type AnnotationValues = Record<string, string | number | boolean | null>;

class AssessTimeoutError extends Error {
  constructor() {
    super(`no result within ${ASSESS_TIMEOUT_MS} ms`);
    this.name = 'AssessTimeoutError';
  }
}

interface Job {
  alarmId: string;
  alarmType: AlarmType;
  key: string;
  /** Gateway time the window ends at. */
  until: number;
  /**
   * When the raise (or return) was seen, on the monotonic clock (LiveModel.mono): what the hold's bound and the
   * latencies are timed from, so that a step of the wall clock cannot stretch or cut them (review rv147 F1).
   */
  seenAt: number;
  /** The alarm's priority when raised: what the model judges, and the most it may pause. */
  priority: ManagedPriority;
  check: number;
  hold?: Hold;
  /** Set for an alarm the model's verdict may annotate but never hold (triggers.ts indicativeOnly): why. */
  indicative?: string;
  /** 2, 3…: the alarm's condition returned (a new episode, judged on its own window); unset for the first. */
  episode?: number;
}

/** A hold's instants are monotonic (LiveModel.mono): a step of the wall clock moves none of them (review rv147 F1). */
interface Hold {
  startedAt: number;
  deadline: number;
  /** When the audio pause the model set last ends: what its re-check is scheduled by. */
  pausedUntil: number;
  /** Priority the model judged; a rise above it ends the hold (the model never pauses what it did not judge). */
  priority: ManagedPriority;
  alarmType: AlarmType;
  /** The job's seenAt. */
  seenAt: number;
  /** The check that set the pause now running (1: at the alarm). */
  check: number;
  /** The re-check due before the pause ends. */
  timer?: NodeJS.Timeout;
}

/**
 * The model's hold budget of one condition (model alarm type) at one bed (fx229): it holds no alarm of it there past
 * `deadline`, whichever alarm, until a person answers one of them or none has been present for HOLD_BUDGET_QUIET_MS.
 */
interface HoldBudget {
  /** Monotonic: the deadline of the first hold since the budget was new (from that alarm's raise, + holdS). */
  deadline: number;
  /** Alarms of the condition at the bed whose condition is present now, by alarm id. */
  present: Set<string>;
  /** Monotonic: when the last of them ended (meaningful while `present` is empty). */
  quietSince: number;
}

/**
 * What the live path needs of a loaded model: a WorkerModel (the default: its own thread), or an EdgeModel or a
 * stand-in (tests), which run on the agent's thread.
 */
export interface RunningModel {
  readonly version: string;
  readonly sha256: string;
  assess(alarmType: AlarmType, channels: readonly Channel[]): Promise<Assessment>;
  /** Gives up on the assessment in flight and makes a fresh start for the next (WorkerModel: a new worker). */
  abandon?(): void;
  /** WorkerModel: workers given up on whose run has not ended yet (the process must not exit under them). */
  readonly leaving?: number;
  /** WorkerModel: its thread's heap after the last assessment (not in the process's heap gauges). */
  readonly workerHeap?: { usedBytes: number; externalBytes: number } | null;
  close(): Promise<void>;
}

type Loader = (opts: EdgeModelOptions) => Promise<{ model: RunningModel; error: null } | { model: null; error: Error }>;

export class LiveModel {
  readonly ring: WaveformRing;
  private model: RunningModel | null = null;
  private state: ModelState;
  private error: string | undefined;
  private readonly queue: Job[] = [];
  /** Alarms raised while the model was still loading. */
  private readonly early: Job[] = [];
  private busy = false;
  /** The assessment running now, so close() can wait for it before releasing the session. */
  private inflight: Promise<void> | null = null;
  /** Alarms whose audio the model holds now (delay policy), by alarm id. */
  private readonly holds = new Map<string, Hold>();
  /**
   * By alarm id, the deadline of the model's first hold of it (monotonic), kept until a person acknowledges it or it is
   * resolved: a hold of a later episode ends by it too, so holdS bounds the model's holds of the alarm in all. Per
   * episode, a condition that keeps returning was held quiet for as long as it did (review rv153 F1).
   */
  private readonly holdLimits = new Map<string, number>();
  /**
   * By bed and condition (budgetKey), the one hold budget of all its alarms there (HoldBudget). Per alarm id, a
   * non-latching VT that kept ending and starting again was a new alarm each time with a fresh holdS, and was kept
   * quiet for as long as it flapped (fx229: 22.9 s of the 23 s a VT alarm was open over 30 s, holdS 4).
   */
  private readonly holdBudgets = new Map<string, HoldBudget>();
  /** Assessments failed or timed out in a row (a loaded model that cannot run is reported, see FAILURES_BEFORE_ALARM). */
  private failures = 0;
  /** When the latest assessment started (this.mono()): while failed, the model is retried RETRY_FAILED_MS after it. */
  private lastAttemptAt = -Infinity;
  private lastLateWarnAt = -Infinity;
  private lateSinceWarn = 0;
  /** Device and waveform code of the ring refusals logged already (logged once each; bounded, oldest forgotten). */
  private readonly refusalsLogged = new Set<string>();
  private unsubscribe: (() => void) | null = null;
  private assessed = 0;
  private lastLatencyMs: number | null = null;
  private readonly path: string;
  /** Settles once the model is loaded or refused. */
  readonly ready: Promise<void>;

  constructor(
    private readonly host: ModelHost,
    private readonly config: ModelConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    load: Loader = tryStartWorkerModel,
    /**
     * Times the hold, the retry and the latencies: a clock no step of the wall clock (`now`) moves (review rv147 F1).
     * The default when `now` is given without it is `now` itself (tests driving the wall clock by hand; monotonicBeside).
     */
    private readonly mono: () => number = monotonicBeside(now),
  ) {
    this.path = modelFilePath(config.path);
    this.ring = new WaveformRing(
      { ...DEFAULT_RING_OPTIONS, maxBeds: config.maxBeds },
      (key) => {
        host.metrics.inc('model_ring_beds_refused_total');
        log.warn({ bed: key, maxBeds: config.maxBeds }, 'edge model: more beds send waveforms than model.maxBeds; this bed\'s alarms will not be assessed');
      },
      (_key, _channel, reason, seg, overlapMs) => this.channelRefused(reason, seg, overlapMs),
      (key, channel, stepMs, seg) =>
        log.info(
          { bed: key, channel, deviceId: seg.deviceId, stepBackMs: Math.round(stepMs), receivedAt: seg.receivedAt },
          "edge model: the gateway's clock stepped back; this channel's waveform ring starts afresh",
        ),
    );
    this.state = config.enabled ? 'loading' : 'disabled';
    if (!config.enabled) {
      log.info('edge model disabled in config: alarms run on rules only');
      this.ready = Promise.resolve();
      return;
    }
    // Watched: present at 0 from the start, so that an alert on their rise sees the first one.
    for (const reason of CHANNEL_REFUSALS) host.metrics.declare('model_ring_channels_refused_total', { reason });
    host.metrics.declare('model_channels_ignored_total', { channel: 'PLETH', reason: 'scale' });
    if (config.policy.mode === 'delay') host.metrics.declare('model_not_held_total', { reason: 'late' });
    host.onCommitted((events) => this.committed(events));
    this.unsubscribe = host.alarms.subscribe((changes) => this.alarmChanges(changes));
    host.metrics.gauge('model_ring_beds', () => this.ring.bedCount);
    host.metrics.gauge('model_queue_length', () => this.queue.length);
    // The model's own thread has a heap of its own (heap_used_bytes is the agent's): NaN until its first assessment.
    host.metrics.gauge('model_worker_heap_used_bytes', () => this.model?.workerHeap?.usedBytes ?? Number.NaN);
    host.metrics.gauge('model_worker_external_memory_bytes', () => this.model?.workerHeap?.externalBytes ?? Number.NaN);
    this.ready = this.load(load);
  }

  private async load(load: Loader): Promise<void> {
    const loading = load({ modelPath: this.path, approved: this.config.approved });
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), LOAD_TIMEOUT_MS);
      timer.unref?.(); // a stop during the load does not wait for it
    });
    const first = await Promise.race([loading, bound]);
    clearTimeout(timer);
    if (first !== null) return this.loaded(first);
    // A load that hangs (a worker that never reports ready) must not keep every alarm waiting, unannounced.
    if (this.state !== 'closed') this.notLoaded(new Error(`the model did not finish loading within ${LOAD_TIMEOUT_MS / 1000} s`), 'failed');
    // Still taken if it finishes later (or closed, if the agent stopped meanwhile): a slow start is not a lost model.
    void loading.then(
      (r) => this.loaded(r),
      (err: unknown) => this.log.error({ err }, 'edge model load failed after its time-out'),
    );
  }

  /** The load's outcome, also one that comes after LOAD_TIMEOUT_MS (the model is then `failed` with nothing loaded). */
  private async loaded({ model, error }: Awaited<ReturnType<Loader>>): Promise<void> {
    if (this.state === 'closed') {
      await model?.close();
      return;
    }
    if (!model) {
      this.notLoaded(error, error instanceof ModelNotApprovedError ? 'refused' : 'failed');
      return;
    }
    const late = this.state === 'failed';
    this.model = model;
    this.state = 'ready';
    this.error = undefined;
    this.log.info({ version: model.version, sha256: model.sha256, path: this.path, policy: this.config.policy.mode, late }, 'edge model loaded');
    if (late) this.host.alarms.gatewayCondition(this.host.gatewayId, MODEL_CONDITION, false, 'Alarm-validation model loaded');
    if (this.config.policy.mode === 'delay') {
      // Holding alarms on a model's word is a clinical decision; say what it rests on, every start.
      this.log.warn(
        { version: model.version, holdS: this.config.policy.holdS },
        'model.policy is delay: the audio of unanswered alarms this model judges likely false is held while re-checked; validate the model on your own data first (models/README.md: the shipped model does not meet the project\'s accuracy target)',
      );
    }
    for (const j of this.early.splice(0)) this.enqueue(j);
  }

  /** The model could not be loaded (or not in time): rules only, a technical alarm, and the alarms waiting told. */
  private notLoaded(error: Error, state: 'refused' | 'failed'): void {
    this.state = state;
    this.error = error.message;
    this.log.error({ err: error.message, path: this.path }, 'edge model not loaded: alarms run on rules only');
    this.host.alarms.gatewayCondition(this.host.gatewayId, MODEL_CONDITION, true, `Alarm-validation model not loaded: ${error.message}`);
    // Alarms raised while it was loading waited for it: they are told it will not come.
    for (const j of this.early.splice(0)) this.unavailable(j);
  }

  status(): ModelStatus {
    return {
      state: this.state,
      path: this.path,
      version: this.model?.version ?? null,
      sha256: this.model?.sha256 ?? null,
      policy: this.config.policy.mode,
      ...(this.error !== undefined && { error: this.error }),
      assessed: this.assessed,
      lastLatencyMs: this.lastLatencyMs,
    };
  }

  /** For the twin's reported properties (models section). */
  report(): Record<string, { state: string; version: string | null; sha256: string | null; policy: string; error?: string }> {
    const s = this.status();
    return { alarmValidation: { state: s.state, version: s.version, sha256: s.sha256, policy: s.policy, ...(s.error !== undefined && { error: s.error }) } };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.unsubscribe?.();
    // Alarms still waiting for the model (queued, or raised during its load) are told, not dropped: nothing assesses
    // them after a restart. Before the holds are cleared, so a held alarm's queued re-check ends its hold, annotated;
    // a re-check whose hold ended already (and was annotated then) is not.
    const waiting = [...this.queue.splice(0), ...this.early.splice(0)].filter((j) => j.check === 1 || (j.hold !== undefined && this.holds.get(j.alarmId) === j.hold));
    for (const j of waiting) this.notAssessed(j, 'stopping', 'not assessed: the agent stopped first');
    if (waiting.length > 0) this.log.warn({ alarms: waiting.length }, 'stopping: alarms still waiting for the edge model are annotated "not assessed: the agent stopped first"');
    for (const h of this.holds.values()) clearTimeout(h.timer);
    this.holds.clear();
    this.holdLimits.clear();
    this.holdBudgets.clear();
    await this.inflight;
    const m = this.model;
    this.model = null;
    if (m?.leaving) this.log.info({ runs: m.leaving }, 'stopping: waiting (at most 5 s) for model runs that ran over time to end');
    await m?.close();
    if (m?.leaving)
      this.log.warn(
        { runs: m.leaving },
        'model runs that ran over time have still not ended: the process lives on until they do (a forced exit before then, e.g. a second Ctrl-C, aborts it; everything accepted is stored)',
      );
  }

  // ---- inputs

  private committed(events: readonly DriverEvent[]): void {
    if (this.state === 'closed') return;
    for (const e of events) {
      if (e.kind === 'waveform') this.ring.add(e);
      else if (e.kind === 'alarm' && e.deviceTime !== null) this.ring.noteAlarmClock(e.deviceId, e.receivedAt, e.deviceTime);
    }
  }

  /** Loaded and not closed: also while its assessments fail, so that the next success can clear the failure. */
  private get running(): boolean {
    return this.model !== null && (this.state === 'ready' || this.state === 'failed');
  }

  private alarmChanges(changes: readonly AlarmStateChange[]): void {
    for (const c of changes) {
      // Answered by a person or over: a later hold of the alarm (were it to sound again) has its own limit.
      if (c.change === 'acknowledged' || c.change === 'resolved') this.holdLimits.delete(c.alarmId);
      this.trackBudget(c);
      if (c.change !== 'raised') {
        this.watchHold(c);
        if (c.change === 'condition-returned') this.newEpisode(c);
        continue;
      }
      const alarmType = modelAlarmType(c.alarm);
      if (!alarmType) {
        // Worded like an alarm the model judges, yet not one it was trained on: say so rather than stay silent.
        const why = notJudged(c.alarm);
        if (why !== null) {
          this.host.metrics.inc('model_not_assessed_total', { reason: 'alarm-type' });
          this.annotate(c.alarmId, { verdict: 'not-assessed', action: 'none', latencyMs: Math.round(this.now() - c.alarm.raisedAt) }, `not assessed: ${why}`);
        }
        continue;
      }
      const job: Job = { alarmId: c.alarmId, alarmType, key: bedKey(c.alarm.bed, c.alarm.deviceId), until: c.alarm.raisedAt, seenAt: this.monoOf(c.alarm.raisedAt), priority: c.alarm.priority, check: 1 };
      const indicative = indicativeOnly(c.alarm);
      if (indicative !== null) job.indicative = indicative;
      this.dispatch(job);
    }
  }

  private dispatch(job: Job): void {
    if (this.state === 'loading') {
      if (this.early.length >= MAX_QUEUE) this.queueFull(job);
      else this.early.push(job);
    } else if (this.running) this.enqueue(job);
    else if (this.state === 'refused' || this.state === 'failed') this.unavailable(job);
  }

  /**
   * The condition of an unacknowledged alarm the model judges came back (a latched alarm active again): a new
   * episode, which the verdict on the earlier one says nothing about (review rv101). Judged like a raise, on the window
   * up to the return; meanwhile the alarm says it is being re-assessed, so the display does not show the earlier
   * verdict as current. (The engine has ended the model's own pause of the earlier episode, if one still ran.)
   */
  private newEpisode(c: AlarmStateChange): void {
    const alarmType = modelAlarmType(c.alarm);
    if (!alarmType) return; // not judged (a non-sustained VT was told so at its raise)
    const episode = episodeOf(c.alarm) + 1;
    const job: Job = { alarmId: c.alarmId, alarmType, key: bedKey(c.alarm.bed, c.alarm.deviceId), until: c.at, seenAt: this.monoOf(c.at), priority: c.alarm.priority, check: 1, episode };
    const indicative = indicativeOnly(c.alarm);
    if (indicative !== null) job.indicative = indicative;
    if (this.state === 'loading' || this.running) {
      this.annotate(c.alarmId, { verdict: 're-assessing', action: 'none', ...this.jobValues(job) }, 're-assessing: the condition returned (a new episode); the verdict before was on the earlier one');
    }
    this.dispatch(job);
  }

  /**
   * Follows the alarms of the conditions with a hold budget (holdBudgets): a person's acknowledgement or audio pause of
   * any of them (here or at the device) renews the budget, and so does a raise or return after HOLD_BUDGET_QUIET_MS
   * with none of them present; otherwise which of them are present is kept.
   */
  private trackBudget(c: AlarmStateChange): void {
    if (this.holdBudgets.size === 0) return;
    const type = modelAlarmType(c.alarm);
    if (!type) return;
    const k = budgetKey(bedKey(c.alarm.bed, c.alarm.deviceId), type);
    const b = this.holdBudgets.get(k);
    if (!b) return;
    if (c.change === 'acknowledged' || (c.change === 'audio-paused' && c.actor !== 'system' && c.actor.role !== 'model')) {
      this.holdBudgets.delete(k);
      return;
    }
    const now = this.mono();
    const present = c.alarm.conditionPresent && c.alarm.state !== 'resolved';
    if (present && !b.present.has(c.alarmId)) {
      if (b.present.size === 0 && now - b.quietSince >= HOLD_BUDGET_QUIET_MS) this.holdBudgets.delete(k);
      else b.present.add(c.alarmId);
    } else if (!present && b.present.delete(c.alarmId) && b.present.size === 0) b.quietSince = now;
  }

  /**
   * A held alarm changed by someone else (a person, the device, the engine): the hold ends at once when the alarm
   * rose in priority, its condition ended, or it was acknowledged or paused by a person — not at the next re-check.
   */
  private watchHold(c: AlarmStateChange): void {
    const hold = this.holds.get(c.alarmId);
    if (!hold || (c.actor !== 'system' && c.actor.role === 'model')) return;
    // A hold is always the alarm's latest episode's (one on an earlier episode is never set).
    const episode = episodeOf(c.alarm);
    this.breakHold(c.alarmId, hold, c.alarm, { verdict: 'not-assessed', alarmType: hold.alarmType, check: hold.check, latencyMs: this.since(hold.seenAt), ...(episode > 1 && { episode }) });
  }

  /**
   * Ends a hold that no longer stands (holdBroken), annotated with why; true if it ended. `values`: the re-check's
   * own assessment, when it has one.
   */
  private breakHold(alarmId: string, hold: Hold, alarm: Alarm | undefined, values: AnnotationValues): boolean {
    const why = holdBroken(hold, alarm, this.host.alarms.engine.audioPausedBy(alarmId));
    if (why === null) return false;
    this.endHold(alarmId);
    this.annotate(alarmId, { ...values, action: 'hold-ended' }, `hold ended: ${why}`);
    return true;
  }

  private endHold(alarmId: string): void {
    const hold = this.holds.get(alarmId);
    if (!hold) return;
    clearTimeout(hold.timer);
    this.holds.delete(alarmId);
  }

  /** The model is configured but could not be loaded: the alarm says it was not assessed, and why. */
  private unavailable(job: Job): void {
    this.host.metrics.inc('model_not_assessed_total', { reason: 'model-unavailable' });
    this.annotate(job.alarmId, { verdict: 'not-assessed', action: 'none', ...this.jobValues(job) }, `not assessed: model not loaded (${this.error ?? 'unknown error'})`);
  }

  private enqueue(job: Job): void {
    if (this.queue.length >= MAX_QUEUE) return this.queueFull(job);
    this.queue.push(job);
    this.pump();
  }

  /** No room to wait: annotated at once (a held alarm's re-check ends the hold: no evidence to keep it quiet on). */
  private queueFull(job: Job): void {
    this.notAssessed(job, 'queue-full', `not assessed: ${MAX_QUEUE} alarms already waiting for the model`);
  }

  /**
   * A segment of a signal the model reads that the ring did not keep: counted by reason, and (but for want of a
   * channel place, a matter of the bed's channel count) logged once per device, waveform code and reason, as the alarms of
   * its bed are judged without it.
   */
  private channelRefused(reason: ChannelRefusal, seg: NormalisedWaveform, overlapMs = 0): void {
    this.host.metrics.inc('model_ring_channels_refused_total', { reason });
    if (reason === 'channel-limit') return;
    // A code not in the MDC table by its system and code (two unknown codes of a device are logged apart).
    const code = seg.mdc?.refid ?? (seg.raw !== undefined ? `${seg.raw.system}:${seg.raw.code}` : '');
    // Logged once per device, code and reason (a signal first refused for one reason is still told of another: rv155
    // F3); an overlap once per channel: the device's own code too (V and MCL share `code`).
    const seen = reason === 'overlap' ? `${seg.deviceId}\u0000${code}\u0000overlap\u0000${seg.raw?.system ?? ''}\u0000${seg.raw?.code ?? ''}` : `${seg.deviceId}\u0000${code}\u0000${reason}`;
    if (this.refusalsLogged.has(seen)) return;
    if (this.refusalsLogged.size >= MAX_REFUSAL_LOGS) this.refusalsLogged.delete(this.refusalsLogged.values().next().value as string);
    this.refusalsLogged.add(seen);
    const signal = modelSignal(seg);
    const why =
      reason === 'rate'
        ? `${seg.sampleRateHz} Hz is faster than the ${DEFAULT_RING_OPTIONS.maxRateHz} Hz the model's ring keeps`
        : reason === 'rate-unknown'
          ? `no sample rate (${seg.sampleRateHz} Hz): its samples cannot be placed in time; not used`
          : reason === 'overlap'
            ? `it starts ${Math.round(overlapMs)} ms before the samples already kept of this signal from this device end (two leads sent under one code, or samples sent again); its segments that do are not used`
            : reason === 'unknown-code'
              ? `its code ${code || '(none)'} is not in the MDC table, so whether the model reads it cannot be told; not used`
              : `its unit '${seg.unit.ucum}' cannot be converted to ${signal?.kind === 'abp' ? 'mm[Hg]' : 'mV'}`;
    this.log.warn(
      {
        deviceId: seg.deviceId,
        ...(seg.bed !== undefined && { bed: seg.bed }),
        code,
        reason,
        unit: seg.unit.ucum,
        sampleRateHz: seg.sampleRateHz,
        ...(reason === 'rate' && { maxRateHz: DEFAULT_RING_OPTIONS.maxRateHz }),
        ...(reason === 'overlap' && { backMs: Math.round(overlapMs), startTime: seg.startTime, ...(seg.raw !== undefined && { raw: `${seg.raw.system}:${seg.raw.code}` }) }),
      },
      `edge model: waveform not used (${signal?.name ?? seg.raw?.text ?? code}: ${why}); this bed's alarms are judged without it (logged once per device, code and reason)`,
    );
  }

  /** One assessment at a time, each in its own turn of the event loop, so ingest is never held up for long. */
  private pump(): void {
    if (this.busy || this.queue.length === 0) return;
    this.busy = true;
    setImmediate(() => {
      const job = this.queue.shift();
      const done = () => {
        this.busy = false;
        this.pump();
      };
      if (!job || !this.model) return done();
      if (this.state === 'failed' && this.mono() - this.lastAttemptAt < RETRY_FAILED_MS) {
        // Failing: the alarm is told at once, not after another timeout (nor each queued one after its own).
        this.notAssessed(job, 'model-failed', `not assessed: the model is failing (${this.error ?? 'unknown error'})`);
        return done();
      }
      this.lastAttemptAt = this.mono();
      this.inflight = this.run(job, this.model).then(done, (err: unknown) => {
        const timeout = err instanceof AssessTimeoutError;
        const message = err instanceof Error ? err.message : String(err);
        this.log.error({ err, alarmId: job.alarmId }, timeout ? 'edge model assessment timed out' : 'edge model assessment failed');
        this.notAssessed(job, timeout ? 'timeout' : 'error', `assessment failed: ${message}`);
        this.assessFailed(message);
        done();
      });
    });
  }

  /**
   * The alarm annotated "not assessed", counted by `reason`. A re-check that cannot run ends the hold: the model has
   * no evidence to keep the alarm quiet on.
   */
  private notAssessed(job: Job, reason: string, why: string): void {
    this.host.metrics.inc('model_not_assessed_total', { reason });
    const held = job.hold !== undefined && this.holds.get(job.alarmId) === job.hold;
    if (held) this.endHold(job.alarmId);
    this.annotate(job.alarmId, { verdict: 'not-assessed', action: held ? 'hold-ended' : 'none', ...this.jobValues(job) }, `${held ? 'hold ended: ' : ''}${why}`);
  }

  /** What every annotation of a job says of it: the alarm type, which check, raise → annotation. */
  private jobValues(job: Job): AnnotationValues {
    return { alarmType: job.alarmType, check: job.check, latencyMs: this.since(job.seenAt), ...(job.episode !== undefined && { episode: job.episode }) };
  }

  /**
   * Whole ms since a monotonic instant (floored: never more than the wall clock shows without a step). Latencies and the
   * hold are timed so (review rv147 F1): a step of the wall clock during a hold stretched its holdS bound by the step.
   */
  private since(monoAt: number): number {
    return Math.floor(this.mono() - monoAt);
  }

  /**
   * A wall-clock instant just read by the alarm service (a raise, a return), on the monotonic clock: one raised for a
   * reading that reached the gateway earlier (a backlog) keeps its age.
   */
  private monoOf(at: number): number {
    return this.mono() - Math.max(0, this.now() - at);
  }

  /** Several assessments in a row failed: the model is reported failed (health, twin) and a technical alarm raised. */
  private assessFailed(message: string): void {
    this.failures++;
    if (this.failures < FAILURES_BEFORE_ALARM || this.state !== 'ready') return;
    this.state = 'failed';
    this.error = `${this.failures} assessments in a row failed: ${message}`;
    this.log.error({ err: message, failures: this.failures }, 'edge model cannot assess alarms: alarms run on rules only until it does again');
    this.host.alarms.gatewayCondition(this.host.gatewayId, MODEL_CONDITION, true, `Alarm-validation model failing: ${this.error}`);
  }

  private assessSucceeded(): void {
    this.failures = 0;
    if (this.state !== 'failed' || !this.model) return;
    this.state = 'ready';
    this.error = undefined;
    this.log.info('edge model assessing alarms again');
    this.host.alarms.gatewayCondition(this.host.gatewayId, MODEL_CONDITION, false, 'Alarm-validation model assessing again');
  }

  /** Counts an annotation later than LATE_MS after its alarm; says so in the log at most once a minute. */
  private late(latencyMs: number): void {
    this.host.metrics.inc('model_late_total');
    this.lateSinceWarn++;
    const now = this.mono();
    if (now - this.lastLateWarnAt < LATE_WARN_EVERY_MS) return;
    this.log.warn(
      { latencyMs: Math.round(latencyMs), late: this.lateSinceWarn, queued: this.queue.length },
      `edge model annotations are late (more than ${LATE_MS} ms after the alarm): alarms arrive faster than the model assesses them`,
    );
    this.lastLateWarnAt = now;
    this.lateSinceWarn = 0;
  }

  // ---- assessment and policy

  private async run(job: Job, model: RunningModel): Promise<void> {
    if (job.check > 1) {
      // Ended meanwhile (and annotated then) by a person, the device or the engine.
      if (!job.hold || this.holds.get(job.alarmId) !== job.hold) return;
      if (this.breakHold(job.alarmId, job.hold, this.host.alarms.engine.get(job.alarmId), { verdict: 'not-assessed', ...this.jobValues(job) })) return;
    }
    const { channels, questionable: spans } = this.ring.windowWithQuality(job.key, job.until);
    if (channels.length === 0 && this.ring.isRefused(job.key)) {
      this.host.metrics.inc('model_not_assessed_total', { reason: 'bed-limit' });
      this.annotate(job.alarmId, { verdict: 'not-assessed', action: 'none', ...this.jobValues(job) }, `not assessed: the model keeps waveforms of ${this.config.maxBeds} beds (model.maxBeds) and all are in use`);
      return;
    }
    const ignored = this.plethGuard(job, channels);
    // Read before the window goes to the model: its sample buffers are handed over to the worker, not copied.
    const names = channels.map((c) => c.name).join(',');
    const doubted = new Set(channels.map((c) => c.name)); // a PLETH left out (plethGuard) is not read
    const questionable = questionableOf(spans.filter((q) => doubted.has(q.channel)));
    const windowS = round(signalSeconds(channels), 1);
    const a = await this.assessWithin(model, job.alarmType, channels);
    this.assessSucceeded();
    const latencyMs = this.since(job.seenAt);
    this.assessed++;
    if (job.check === 1) this.lastLatencyMs = latencyMs;
    this.host.metrics.inc('model_assessments_total', { type: job.alarmType, verdict: a.verdict });
    if (job.check === 1 && latencyMs > LATE_MS) this.late(latencyMs);
    const values = {
      ...assessmentValues(a),
      ecgLeads: a.ecgLeads,
      alarmType: job.alarmType,
      channels: names,
      windowS,
      latencyMs: Math.round(latencyMs),
      check: job.check,
      ...(job.episode !== undefined && { episode: job.episode }),
      ...(ignored !== null && { ignored: 'PLETH' }),
      ...(questionable !== null && { questionableS: questionable.seconds }),
    };
    // The alarm as it is now, after the assessment: a person may have acknowledged or paused it meanwhile, and
    // the model must not replace their pause with its own.
    const current = this.host.alarms.engine.get(job.alarmId);
    if (job.check > 1) {
      if (!job.hold || this.holds.get(job.alarmId) !== job.hold) return; // ended during the assessment, annotated then
      if (this.breakHold(job.alarmId, job.hold, current, values)) return;
    }
    const caveat = caveatOf(job, a, questionable?.note ?? null);
    // The condition returned since this window (a new episode, judged on its own): this verdict is told, never held.
    const earlier = episodeOf(current) > (job.episode ?? 1);
    const action = earlier
      ? { kind: 'none' as const, until: 0, note: 'on an earlier episode: the condition returned since, and the new episode is judged on its own' }
      : this.decide(job, a, current?.state, caveat);
    if (action.kind === 'hold-ended') this.endHold(job.alarmId);
    // A hold ended by an uncertain re-check keeps the model's reason for it. A verdict that may not hold its alarm
    // says why under every policy.
    const note = [action.note ?? caveat ?? undefined, a.reason].filter((n) => n !== undefined).join(': ');
    // Questionable samples are said whatever the verdict (an uncertain one has no caveat) and whichever caveat came first.
    const quality = questionable !== null && !note.includes(questionable.note) ? questionable.note : undefined;
    this.annotate(job.alarmId, { ...values, action: action.kind }, [note || undefined, quality, ignored ?? undefined].filter((n) => n !== undefined).join('; ') || undefined);
    if (action.kind === 'audio-paused') this.schedule(job);
  }

  /**
   * Leaves out (from `channels`, in place) a PLETH outside the scale the model was trained on (plethScaleProblem):
   * the model then judges the window as one without pleth. Counted, logged and returned (for the annotation).
   */
  private plethGuard(job: Job, channels: Channel[]): string | null {
    const i = channels.findIndex((c) => c.name === 'PLETH');
    const problem = i >= 0 ? plethScaleProblem(channels[i]!) : null;
    if (problem === null) return null;
    channels.splice(i, 1);
    this.host.metrics.inc('model_channels_ignored_total', { channel: 'PLETH', reason: 'scale' });
    this.log.warn({ alarmId: job.alarmId, bed: job.key, alarmType: job.alarmType }, `edge model: ${problem}; the alarm is judged without it`);
    return problem;
  }

  /**
   * The model's assessment, or AssessTimeoutError after ASSESS_TIMEOUT_MS. A model call that never returns must not
   * stall every later alarm (nor the agent's shutdown): the model gives it up (a new worker) and the next alarm
   * goes on. The timer is set before the call and the result's time checked after it, so the deadline also holds
   * for a model that runs on this thread: a result that comes later than the deadline is dropped.
   */
  private async assessWithin(model: RunningModel, alarmType: AlarmType, channels: Channel[]): Promise<Assessment> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AssessTimeoutError()), ASSESS_TIMEOUT_MS);
    });
    try {
      const a = await Promise.race([model.assess(alarmType, channels), deadline]);
      if (performance.now() - started > ASSESS_TIMEOUT_MS) throw new AssessTimeoutError();
      return a;
    } catch (err) {
      if (err instanceof AssessTimeoutError) model.abandon?.();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * What the policy does with this verdict. Only a likely-false verdict on an unanswered alarm holds it, and never one
   * with a `caveat` (caveatOf: a limit alarm, a window with fewer than two ECG leads).
   */
  private decide(job: Job, a: Assessment, state: string | undefined, caveat: string | null): { kind: 'none' | 'audio-paused' | 'hold-ended'; until: number; note?: string } {
    const p = this.config.policy;
    const none = { kind: 'none' as const, until: 0 };
    if (p.mode !== 'delay') return none;
    const now = this.mono(); // the hold is timed on the monotonic clock (Hold)
    const hold = job.hold;
    // Stopping: no new pause (and no re-check timer to outlive the agent); the pause already set runs out.
    if (this.state === 'closed') {
      if (hold) return { kind: 'hold-ended', until: 0, note: 'hold ended: the agent is stopping' };
      return a.verdict === 'likely-false' ? { ...none, note: 'likely false; not held: the agent is stopping' } : none;
    }
    if (a.verdict !== 'likely-false') return hold ? { kind: 'hold-ended', until: 0, note: `hold ended: re-check says ${a.verdict}` } : none;
    if (!hold && state !== 'active') return none; // acknowledged or paused by a person, or already over
    if (caveat !== null) return hold ? { kind: 'hold-ended', until: 0, note: `hold ended: ${caveat}` } : { ...none, note: `likely false; not held: ${caveat}` };
    const sinceRaise = now - job.seenAt;
    if (!hold && sinceRaise > HOLD_WITHIN_MS) {
      this.host.metrics.inc('model_not_held_total', { reason: 'late' });
      return { ...none, note: `likely false; not held: the verdict came ${(sinceRaise / 1000).toFixed(1)} s after the alarm` };
    }
    const startedAt = hold?.startedAt ?? now;
    // From the raise, not the decision: a late first verdict must not stretch the hold past holdS of the alarm's life.
    // A later episode's hold ends by the first hold's deadline (holdLimits): holdS bounds the alarm, not each return.
    // And by its condition's budget at the bed (holdBudgets): a new alarm of a condition that keeps coming back gets none.
    const bk = budgetKey(job.key, job.alarmType);
    const own = Math.min(this.holdLimits.get(job.alarmId) ?? Infinity, job.seenAt + p.holdS * 1000);
    const shared = this.holdBudgets.get(bk)?.deadline ?? Infinity;
    const deadline = hold?.deadline ?? Math.min(own, shared);
    const pauseS = Math.min(p.recheckS, Math.floor((deadline - now) / 1000));
    if (pauseS < 1) {
      if (hold) return { kind: 'hold-ended', until: 0, note: `hold ended: ${p.holdS} s limit reached` };
      if (shared < own) {
        const where = job.key.startsWith('bed:') ? 'this bed' : 'this device';
        return { ...none, note: `likely false; not held: hold limit of ${job.alarmType} alarms at ${where} (${p.holdS} s) reached (renewed once a person acknowledges or pauses one, or after ${HOLD_BUDGET_QUIET_MS / 60_000} min without one)` };
      }
      return { ...none, note: `likely false; not held: hold limit of this alarm (${p.holdS} s) reached` };
    }
    // `seen`: the engine refuses to pause an alarm that has risen above the priority the model judged.
    const priority = hold?.priority ?? job.priority;
    const r = this.host.alarms.audioPause({ alarmId: job.alarmId }, this.actor(), pauseS, priority);
    if (!r.ok) return hold ? { kind: 'hold-ended', until: 0, note: `hold ended: ${r.error}` } : { ...none, note: `not held: ${r.error}` };
    // Monotonic, as the hold's other instants; a pause by a person is told by who paused (holdBroken), not by its end.
    const until = now + pauseS * 1000;
    if (hold) {
      hold.pausedUntil = until;
      hold.check = job.check;
    }
    else {
      job.hold = { startedAt, deadline, pausedUntil: until, priority, alarmType: job.alarmType, seenAt: job.seenAt, check: job.check };
      this.holds.set(job.alarmId, job.hold);
      if (!this.holdLimits.has(job.alarmId)) {
        if (this.holdLimits.size >= MAX_HOLD_LIMITS) this.holdLimits.delete(this.holdLimits.keys().next().value as string);
        this.holdLimits.set(job.alarmId, deadline);
      }
      if (!this.holdBudgets.has(bk)) {
        if (this.holdBudgets.size >= MAX_HOLD_BUDGETS) this.holdBudgets.delete(this.holdBudgets.keys().next().value as string);
        this.holdBudgets.set(bk, { deadline, present: this.presentAlarms(job.key, job.alarmType), quietSince: now });
      }
    }
    return { kind: 'audio-paused', until, note: `likely false: audio paused ${pauseS} s while the evidence is re-checked (hold at most ${p.holdS} s)` };
  }

  /** Ids of the open alarms of this model alarm type at this bed (bedKey) whose condition is present now. */
  private presentAlarms(key: string, type: AlarmType): Set<string> {
    const ids = this.host.alarms.engine
      .list()
      .filter((a) => a.conditionPresent && bedKey(a.bed, a.deviceId) === key && modelAlarmType(a) === type)
      .map((a) => a.id);
    return new Set(ids);
  }

  /** The re-check of a held alarm, due RECHECK_LEAD_MS before the model's pause ends. */
  private schedule(job: Job): void {
    const hold = job.hold;
    if (!hold || this.state === 'closed') return;
    hold.timer = setTimeout(
      () => {
        hold.timer = undefined;
        if (!this.running || this.holds.get(job.alarmId) !== hold) return;
        this.enqueue({ ...job, until: this.now(), check: job.check + 1 });
      },
      Math.max(0, hold.pausedUntil - this.mono() - RECHECK_LEAD_MS),
    );
  }

  private annotate(alarmId: string, values: AnnotationValues, note: string | undefined): void {
    const m = this.model;
    const r = this.host.alarms.annotate(
      alarmId,
      {
        kind: MODEL_ANNOTATION_KIND,
        values: { modelVersion: m?.version ?? null, modelSha256: m?.sha256 ?? null, policy: this.config.policy.mode, ...values },
        ...(note !== undefined && { note }),
      },
      this.actor(),
    );
    if (!r.ok) this.log.warn({ alarmId, error: r.error }, 'cannot annotate alarm with the model verdict');
  }

  /** The model as the actor of its audited changes: version and hash travel with every decision. */
  private actor(): Actor {
    const m = this.model;
    return { user: `edge-model ${m?.version ?? 'unloaded'}`, role: 'model', from: m ? `sha256:${m.sha256}` : 'agent' };
  }
}

/**
 * Why the model's hold of this alarm no longer stands, or null while it does: only an unanswered alarm whose
 * condition is present, at no higher priority than judged, under the model's own audio pause is held. `pausedBy`:
 * the role that set the pause running (AlarmEngine.audioPausedBy). Told by who paused, not by the pause's end: a step
 * of the wall clock moves the engine's end and was taken for a person's pause (review rv147 F1).
 */
function holdBroken(hold: Hold, alarm: Alarm | undefined, pausedBy: string | undefined): string | null {
  if (!alarm || alarm.state === 'resolved') return 'the alarm ended';
  if (alarm.state === 'acknowledged') return 'the alarm was acknowledged';
  if (PRIORITY_RANK[alarm.priority] > PRIORITY_RANK[hold.priority]) return `the alarm rose to ${alarm.priority} priority (the model judged it at ${hold.priority})`;
  if (!alarm.conditionPresent) return 'the condition ended: the alarm is latched for acknowledgement';
  if (alarm.state !== 'audio-paused') return 'the audio pause ran out';
  if (pausedBy !== 'model') return 'the alarm was paused by a person';
  return null;
}

/**
 * What one hold budget is kept by (holdBudgets): the bed (bedKey) and the model's alarm type, not the engine's alarm key
 * (device and the device's alarm id): a device may number each occurrence anew (an HL7 filler order number, Medibus's
 * time-stamped ids), and two monitors of one bed alarming on one VT are one condition of one patient.
 */
function budgetKey(key: string, type: AlarmType): string {
  return `${key}\u0000${type}`;
}

/** The alarm's latest episode the model has spoken of (annotation value `episode`, 1 when unsaid; rv101). */
function episodeOf(alarm: Alarm | undefined): number {
  let n = 1;
  for (const x of alarm?.annotations ?? []) if (x.kind === MODEL_ANNOTATION_KIND && typeof x.values.episode === 'number') n = Math.max(n, x.values.episode);
  return n;
}

/**
 * Why this verdict must not hold its alarm, or null: the alarm is one the model's figure is indicative for only (the
 * agent's limit alarms), or the window holds fewer than two ECG leads with signal (every training window had two; the
 * model gives no verdict on none, and a stand-in that does is not trusted either), or samples the device flagged
 * questionable (`questionable`: questionableOf's note; the model read them as signal). None for an uncertain verdict.
 */
function caveatOf(job: Job, a: Assessment, questionable: string | null): string | null {
  if (a.verdict === 'uncertain') return null;
  if (job.indicative !== undefined) return job.indicative;
  if (a.ecgLeads === 0) return NO_ECG;
  if (a.ecgLeads < 2) return ONE_LEAD;
  return questionable;
}

/**
 * The window's samples from segments the device flagged questionable for their signal (ring.windowWithQuality): the
 * most seconds of any channel, and a note naming the channels and the device's reasons; null when none (rv153 F2).
 */
function questionableOf(spans: readonly QuestionableSpan[]): { seconds: number; note: string } | null {
  if (spans.length === 0) return null;
  const seconds = round(Math.max(...spans.map((q) => q.seconds)), 1);
  // Channels with the same reasons are named together ("II, I: calibration-ongoing").
  const byReasons = new Map<string, string[]>();
  for (const q of spans) {
    const why = q.reasons.join(', ');
    byReasons.set(why, [...(byReasons.get(why) ?? []), q.channel]);
  }
  const which = [...byReasons].map(([why, chs]) => `${chs.join(', ')}: ${why}`).join('; ');
  return { seconds, note: `${seconds} s of the window flagged questionable by the device (${which})` };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function assessmentValues(a: Assessment): Record<string, string | number> {
  return {
    probability: round(a.probability, 4),
    threshold: round(a.threshold, 4),
    verdict: a.verdict,
    featureMs: round(a.featureMs, 2),
    inferenceMs: round(a.inferenceMs, 3),
  };
}

/**
 * Wires the edge model into an agent: one call from the Agent constructor. Loads in the background; a model
 * that is missing, unapproved or does not match the feature code leaves the agent on rules only and raises a
 * gateway technical alarm.
 */
export function attachEdgeModel(host: ModelHost, config: ModelConfig, log: Logger): LiveModel {
  return new LiveModel(host, config, log);
}
