// The `intellivue` driver: Philips IntelliVue MP/MX patient monitors, Data Export protocol over the
// MIB/RS-232 port. Talks the host side (or only listens) and emits numerics, waves, patient and
// technical alarms, and device status. See README.md.
import type { DeviceState, DriverEvent, Origin } from '../../agent/model/reading.js';
import type { Driver, DriverContext, DriverFactory, DriverHealth } from '../types.js';
import { CaptureWriter } from '../serial/capture.js';
import { CapturingLink } from '../serial/capturing-link.js';
import type { SerialLink } from '../serial/link.js';
import { ReplayLink } from '../serial/replay-link.js';
import { SerialPortLink } from '../serial/serialport-link.js';
import { LinkSupervisor, type LinkState } from '../serial/supervisor.js';
import { AlarmTracker } from './alarms.js';
import { DeviceClock } from './clock.js';
import { ObservationDecoder } from './observations.js';
import { buildPlan, type IntellivueOptions, type IntellivuePlan } from './options.js';
import { ATTR, IntellivueParseError, decodeAbsTimeAttr, decodeU32 } from './protocol/index.js';
import { configSchema } from './schema.js';
import { IntellivueSession, type SessionOutput } from './session.js';

export type LinkFactory = (plan: IntellivuePlan) => SerialLink;

export function defaultLink(plan: IntellivuePlan): SerialLink {
  if (plan.replay) return ReplayLink.fromFile(plan.replay.file, { speed: plan.replay.speed });
  return new SerialPortLink({ path: plan.path, ...plan.line, listenOnly: plan.listenOnly });
}

export class IntellivueDriver implements Driver {
  readonly link: SerialLink;
  readonly clock: DeviceClock;
  private readonly supervisor: LinkSupervisor;
  private readonly session: IntellivueSession;
  private readonly origin: Origin;
  private readonly alarms: AlarmTracker;
  private readonly decoder: ObservationDecoder;
  private capture: CaptureWriter | undefined;
  private status: DeviceState = 'connecting';
  private detail = 'not started';
  private lastDataAt: number | null = null;
  private started = false;
  private stopped = false;
  private readonly warnedOnce = new Set<string>();

  constructor(
    readonly plan: IntellivuePlan,
    private readonly ctx: DriverContext,
    linkFactory: LinkFactory = defaultLink,
    private readonly now: () => number = Date.now,
  ) {
    let link = linkFactory(plan);
    if (plan.captureFile) {
      this.capture = new CaptureWriter(plan.captureFile, link.describe, now);
      link = new CapturingLink(link, this.capture);
    }
    this.link = link;
    this.origin = { deviceId: plan.id, source: ctx.name, ...(plan.bed ? { bed: plan.bed } : {}) };
    this.clock = new DeviceClock(plan.utcOffsetMinutes);
    this.alarms = new AlarmTracker(this.origin, plan.alarmRepeatMs);
    this.decoder = new ObservationDecoder(this.origin, this.clock);
    this.session = new IntellivueSession(plan, {
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
          this.lastDataAt = now();
          this.session.receive(b);
        },
        onClosed: () => {
          this.session.linkClosed();
          this.lost();
        },
      },
      now,
    );
  }

  async start(): Promise<void> {
    this.started = true;
    this.stopped = false;
    this.ctx.log.info({ device: this.plan.id, link: this.link.describe, listenOnly: this.plan.listenOnly }, 'intellivue driver starting');
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.link.isOpen) await this.session.shutdown();
    await this.supervisor.stop();
    await this.capture?.close();
    this.setStatus('offline', 'driver stopped');
  }

  health(): DriverHealth {
    const state: DriverHealth['state'] = !this.started ? 'starting' : this.stopped ? 'stopped' : this.status === 'online' ? 'running' : 'degraded';
    const offset = this.clock.offsetMs === null ? '' : `; monitor clock ${this.clock.offsetMs >= 0 ? '+' : ''}${Math.round(this.clock.offsetMs / 100) / 10} s vs gateway`;
    const detail = `${this.detail}${offset}`;
    return { state, detail, devices: { [this.plan.id]: { state: this.status, lastDataAt: this.lastDataAt, detail } } };
  }

  /** Resolves when a replay has delivered every byte (for tools and tests). */
  get replayDone(): Promise<void> | undefined {
    return this.link instanceof ReplayLink ? this.link.done : undefined;
  }

  get sessionState(): string {
    return this.session.state;
  }

  private onLinkState(s: LinkState, detail: string): void {
    if (s === 'connecting') this.setStatus('connecting', detail);
    else if (s === 'closed') this.setStatus('offline', detail);
    else if (s === 'silent') this.setStatus('silent', detail);
    else if (s === 'open' && (this.session.state === 'polling' || this.session.state === 'listening')) this.setStatus('online', detail);
  }

  private onOutput(o: SessionOutput): void {
    const now = this.now();
    switch (o.type) {
      case 'state':
        this.ctx.log.info({ device: this.plan.id, state: o.state }, o.detail);
        if (o.state === 'polling' || o.state === 'listening') this.setStatus('online', o.detail);
        else if (o.state === 'refused') this.setStatus('error', o.detail);
        else if ((o.state === 'associating' || o.state === 'awaiting-mds') && this.status !== 'offline') this.setStatus('connecting', o.detail);
        return;
      case 'associated': {
        const p = o.userInfo?.pollProfile;
        this.ctx.log.info({ device: this.plan.id, minPollPeriodMs: p ? p.minPollPeriodTicks / 8 : null, mtuRx: p?.maxMtuRx, mtuTx: p?.maxMtuTx, extOptions: p?.extOptions }, 'intellivue association accepted');
        return;
      }
      case 'mds-create':
        this.mdsCreate(o.attributes);
        return;
      case 'association-lost':
        this.lost();
        return;
      case 'reply': {
        const d = this.decoder.decode(o.reply, now);
        for (const p of d.problems) {
          this.ctx.count(p.counter);
          const key = `${p.counter}:${p.detail.slice(0, 40)}`;
          if (!this.warnedOnce.has(key)) {
            this.warnedOnce.add(key);
            this.ctx.log.warn({ device: this.plan.id, invokeId: o.invokeId }, p.detail);
          }
        }
        const events: DriverEvent[] = [...d.numerics, ...d.waves];
        if (d.alarms) {
          const t = d.deviceTime ?? now;
          if (d.alarms.patient) events.push(...this.alarms.update('P', d.alarms.patient, t, now, d.deviceTime));
          if (d.alarms.technical) events.push(...this.alarms.update('T', d.alarms.technical, t, now, d.deviceTime));
        }
        this.emit(events);
        return;
      }
    }
  }

  private mdsCreate(attributes: Array<{ id: number; value: Buffer; offset: number }>): void {
    const abs = attributes.find((a) => a.id === ATTR.TIME_ABS);
    const rel = attributes.find((a) => a.id === ATTR.TIME_REL);
    try {
      const t = abs ? decodeAbsTimeAttr(abs) : null;
      if (t && rel) {
        this.clock.setBase(t, decodeU32(rel, 'RelativeTime'));
        const offset = this.clock.fromRelative(decodeU32(rel, 'RelativeTime'));
        this.ctx.log.info({ device: this.plan.id, monitorTime: offset === null ? null : new Date(offset).toISOString() }, 'intellivue MDS created; device time base set');
      } else {
        this.ctx.log.warn({ device: this.plan.id }, 'intellivue MDS Create without absolute/relative time; device time comes from poll replies');
      }
    } catch (err) {
      if (!(err instanceof IntellivueParseError)) throw err;
      this.ctx.count('attribute_parse_errors');
      this.ctx.log.warn({ device: this.plan.id, error: err.message }, 'intellivue MDS Create time not understood');
    }
    // A new MDS means the monitor (re)started its export: object handles may mean other objects now.
    this.decoder.forget();
  }

  /** The association or the link is gone: alarms we hold are ended, object state forgotten. */
  private lost(): void {
    this.decoder.forget();
    this.emit(this.alarms.endAll(this.now()));
  }

  private setStatus(state: DeviceState, detail: string): void {
    if (state === this.status && detail === this.detail) return;
    const changed = state !== this.status;
    this.status = state;
    this.detail = detail;
    if (changed) this.emit([{ ...this.origin, kind: 'device-status', state, detail, at: this.now() }]);
  }

  private emit(events: DriverEvent[]): void {
    if (events.length === 0) return;
    this.ctx.emit(events).catch((err: Error) => {
      this.ctx.count('emit_failures');
      this.ctx.log.error({ device: this.plan.id, err: err.message, events: events.length }, 'intellivue events not accepted');
    });
  }
}

export const intellivueDriver: DriverFactory<IntellivueOptions> = {
  type: 'intellivue',
  description: 'Philips IntelliVue MP/MX monitors, Data Export over MIB/RS-232: numerics, waves, patient and technical alarms; listen-only and capture/replay',
  configSchema,
  create(options: IntellivueOptions, ctx: DriverContext): Driver {
    return new IntellivueDriver(buildPlan(options), ctx);
  },
};

export default intellivueDriver;
