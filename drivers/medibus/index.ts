// The `medibus` driver: Dräger Medibus / Medibus.X over RS-232 (Evita, V500, Apollo, Primus, Zeus,
// Fabius). Talks the host side of the protocol (or only listens), and emits readings, alarms,
// realtime curves and device status. See README.md.
import type { DeviceState, DriverEvent, Origin } from '../../agent/model/reading.js';
import type { Driver, DriverContext, DriverFactory, DriverHealth } from '../types.js';
import { CaptureWriter } from '../serial/capture.js';
import { CapturingLink } from '../serial/capturing-link.js';
import type { SerialLink } from '../serial/link.js';
import { ReplayLink } from '../serial/replay-link.js';
import { SerialPortLink } from '../serial/serialport-link.js';
import { LinkSupervisor, type LinkState } from '../serial/supervisor.js';
import { AlarmTracker } from './alarms.js';
import { buildPlan, type MedibusOptions, type MedibusPlan } from './options.js';
import { limitReadings, textReadings, valueReadings } from './readings.js';
import { configSchema } from './schema.js';
import { MedibusSession, type SessionOutput } from './session.js';
import { WaveformBuffer } from './waveforms.js';

export type LinkFactory = (plan: MedibusPlan) => SerialLink;

export function defaultLink(plan: MedibusPlan): SerialLink {
  if (plan.replay) return ReplayLink.fromFile(plan.replay.file, { speed: plan.replay.speed });
  return new SerialPortLink({ path: plan.path, ...plan.line, listenOnly: plan.listenOnly });
}

export class MedibusDriver implements Driver {
  readonly link: SerialLink;
  private readonly supervisor: LinkSupervisor;
  private readonly session: MedibusSession;
  private readonly origin: Origin;
  private readonly alarms: AlarmTracker;
  private readonly waves: WaveformBuffer;
  private capture: CaptureWriter | undefined;
  private waveTimer: NodeJS.Timeout | undefined;
  private status: DeviceState = 'connecting';
  private detail = 'not started';
  private lastDataAt: number | null = null;
  private lastText = '';
  private started = false;
  private stopped = false;

  constructor(
    readonly plan: MedibusPlan,
    private readonly ctx: DriverContext,
    linkFactory: LinkFactory = defaultLink,
    private readonly clock: () => number = Date.now,
  ) {
    let link = linkFactory(plan);
    if (plan.captureFile) {
      this.capture = new CaptureWriter(plan.captureFile, link.describe, clock);
      link = new CapturingLink(link, this.capture);
    }
    this.link = link;
    this.origin = { deviceId: plan.id, source: ctx.name, ...(plan.bed ? { bed: plan.bed } : {}) };
    this.alarms = new AlarmTracker(this.origin, plan.alarmPriority, plan.alarmRepeatMs);
    this.waves = new WaveformBuffer(this.origin);
    this.session = new MedibusSession(plan, {
      write: (b) => this.link.write(b),
      output: (o) => this.onOutput(o),
      count: (c, by) => ctx.count(c, by),
      log: (level, msg, fields) => ctx.log[level]({ device: plan.id, ...fields }, msg),
    });
    this.supervisor = new LinkSupervisor(
      link,
      { backoff: plan.backoff, silenceMs: plan.silenceMs, reconnect: !plan.replay },
      {
        onState: (s, d) => this.onLinkState(s, d),
        onOpen: () => this.session.linkOpened(),
        onData: (b) => {
          this.lastDataAt = clock();
          this.session.receive(b);
        },
        onClosed: () => {
          this.session.linkClosed();
          this.waves.clear();
          this.emit(this.alarms.endAll(clock()));
        },
      },
      clock,
    );
  }

  async start(): Promise<void> {
    this.started = true;
    this.stopped = false;
    this.ctx.log.info({ device: this.plan.id, link: this.link.describe, listenOnly: this.plan.listenOnly, model: this.plan.model }, 'medibus driver starting');
    if (this.plan.realtime.enabled) this.waveTimer = setInterval(() => this.flushWaves(), this.plan.realtime.segmentMs);
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.waveTimer) clearInterval(this.waveTimer);
    this.flushWaves();
    if (this.link.isOpen) await this.session.shutdown();
    await this.supervisor.stop();
    await this.capture?.close();
    this.setStatus('offline', 'driver stopped');
  }

  health(): DriverHealth {
    const state: DriverHealth['state'] = !this.started ? 'starting' : this.stopped ? 'stopped' : this.status === 'online' ? 'running' : 'degraded';
    return { state, detail: this.detail, devices: { [this.plan.id]: { state: this.status, lastDataAt: this.lastDataAt, detail: this.detail } } };
  }

  /** Resolves when a replay has delivered every byte (for tools and tests). */
  get replayDone(): Promise<void> | undefined {
    return this.link instanceof ReplayLink ? this.link.done : undefined;
  }

  private onLinkState(s: LinkState, detail: string): void {
    if (s === 'connecting') this.setStatus('connecting', detail);
    else if (s === 'closed') this.setStatus('offline', detail);
    else if (s === 'silent') this.setStatus('silent', detail);
    else if (s === 'open' && (this.session.state === 'cycling' || this.session.state === 'listening')) this.setStatus('online', detail);
  }

  private onOutput(o: SessionOutput): void {
    const now = this.clock();
    const o_ = this.origin;
    switch (o.type) {
      case 'state':
        if (o.state === 'cycling') this.setStatus('online', o.detail);
        else if (o.state === 'listening') this.setStatus('online', o.detail);
        else if (o.state === 'initialising' && this.status === 'online') this.setStatus('connecting', o.detail);
        this.ctx.log.info({ device: this.plan.id, state: o.state }, o.detail);
        return;
      case 'measured':
        this.emit(valueReadings(o_, o.page === 1 ? 'cp1' : 'cp2', o.records, now, null));
        return;
      case 'settings':
        this.emit(valueReadings(o_, 'set', o.records, now, null));
        return;
      case 'limits':
        this.emit(limitReadings(o_, o.page, o.bound, o.records, now));
        return;
      case 'alarms':
        this.emit(this.alarms.update(o.page, o.records, now));
        return;
      case 'text': {
        const key = JSON.stringify(o.records);
        if (key === this.lastText) return; // modes change rarely; emit on change only
        this.lastText = key;
        this.emit(textReadings(o_, o.records, now));
        return;
      }
      case 'device-id':
        this.ctx.log.info({ device: this.plan.id, medibusId: o.id.id, name: o.id.name, revision: o.id.revision }, 'medibus device identified');
        return;
      case 'date-time':
        this.ctx.log.debug({ device: this.plan.id, deviceTime: o.dateTime.raw }, 'medibus device time');
        return;
      case 'realtime-config':
        this.ctx.log.info({ device: this.plan.id, curves: o.streams.map((s) => s.code) }, 'medibus realtime curves offered');
        return;
      case 'realtime':
        for (const ev of o.events) {
          if (ev.type === 'samples') for (const [stream, bin] of ev.values) this.waves.add(stream, bin, now);
          else if (ev.type === 'corrupt') this.ctx.count('realtime_corrupt');
          else this.ctx.count(`breath_${ev.phase}`);
        }
        return;
    }
  }

  private flushWaves(): void {
    const segs = this.waves.flush(this.session.realtimeStreams, this.clock());
    if (segs.length) this.emit(segs);
  }

  private setStatus(state: DeviceState, detail: string): void {
    if (state === this.status && detail === this.detail) return;
    const changed = state !== this.status;
    this.status = state;
    this.detail = detail;
    if (changed) this.emit([{ ...this.origin, kind: 'device-status', state, detail, at: this.clock() }]);
  }

  private emit(events: DriverEvent[]): void {
    if (events.length === 0) return;
    this.ctx.emit(events).catch((err: Error) => {
      this.ctx.count('emit_failures');
      this.ctx.log.error({ device: this.plan.id, err: err.message, events: events.length }, 'medibus events not accepted');
    });
  }
}

export const medibusDriver: DriverFactory<MedibusOptions> = {
  type: 'medibus',
  description: 'Dräger Medibus / Medibus.X over RS-232 (Evita, V500, Apollo, Primus, Zeus, Fabius): readings, alarms, curves; listen-only and capture/replay',
  configSchema,
  create(options: MedibusOptions, ctx: DriverContext): Driver {
    return new MedibusDriver(buildPlan(options), ctx);
  },
};

export default medibusDriver;
