// The `intellivue` driver: Philips IntelliVue MP/MX patient monitors, Data Export protocol over the
// MIB/RS-232 port. Talks the host side (or only listens) and emits numerics, waves, patient and
// technical alarms, and device status. See README.md.
import type { DriverEvent } from '../../agent/model/reading.js';
import type { Driver, DriverContext, DriverFactory } from '../types.js';
import { serialDeviceClaims } from '../serial/claims.js';
import { defaultLink, SerialDeviceDriver, type LinkFactory as SerialLinkFactory } from '../serial/device-driver.js';
import { AlarmTracker } from './alarms.js';
import { DeviceClock } from './clock.js';
import { ObservationDecoder } from './observations.js';
import { buildPlan, type IntellivueOptions, type IntellivuePlan } from './options.js';
import { ATTR, IntellivueParseError, decodeAbsTimeAttr, decodeU32 } from './protocol/index.js';
import { configSchema } from './schema.js';
import { IntellivueSession, type SessionOutput } from './session.js';

export type LinkFactory = SerialLinkFactory<IntellivuePlan>;
export { defaultLink };

export class IntellivueDriver extends SerialDeviceDriver<IntellivuePlan> {
  readonly clock: DeviceClock;
  private readonly intellivue: IntellivueSession;
  private readonly alarms: AlarmTracker;
  private readonly decoder: ObservationDecoder;
  private readonly warnedOnce = new Set<string>();

  constructor(plan: IntellivuePlan, ctx: DriverContext, linkFactory: LinkFactory = defaultLink, now: () => number = Date.now) {
    super(plan, ctx, 'intellivue', linkFactory, now);
    this.clock = new DeviceClock(plan.utcOffsetMinutes);
    this.alarms = new AlarmTracker(this.origin, plan.alarmRepeatMs);
    this.decoder = new ObservationDecoder(this.origin, this.clock);
    this.intellivue = new IntellivueSession(plan, {
      write: (b) => this.link.write(b),
      output: (o) => this.onOutput(o),
      count: (c, by) => ctx.count(c, by),
      log: (level, msg, fields) => ctx.log[level]({ device: plan.id, ...fields }, msg),
    });
  }

  protected get session(): IntellivueSession {
    return this.intellivue;
  }

  protected sessionOnline(state: string): boolean {
    return state === 'polling' || state === 'listening';
  }

  /** The link is gone: alarms we hold are ended, object state forgotten. */
  protected linkLost(): void {
    this.lost();
  }

  protected override readonly frameCheck = 'FCS';

  protected override healthDetail(): string {
    const offset = this.clock.offsetMs === null ? '' : `; monitor clock ${this.clock.offsetMs >= 0 ? '+' : ''}${Math.round(this.clock.offsetMs / 100) / 10} s vs gateway`;
    return `${super.healthDetail()}${offset}`;
  }

  get sessionState(): string {
    return this.intellivue.state;
  }

  private onOutput(o: SessionOutput): void {
    const now = this.now();
    switch (o.type) {
      case 'state':
        // Debug: the device's status changes this makes are logged (once per trouble) by setStatus.
        this.ctx.log.debug({ device: this.plan.id, state: o.state }, o.detail);
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
          // Demo or test alarms are withheld (one technical alarm says so): counted, so that it shows in the metrics.
          const withheld = this.alarms.takeWithheld();
          if (withheld > 0) this.ctx.count('alarms_demo_withheld', withheld);
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
        // A new MDS may be a restarted monitor whose relative counter started again: the old mapping would be wrong.
        this.clock.reset();
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
}

export const intellivueDriver: DriverFactory<IntellivueOptions> = {
  type: 'intellivue',
  description: 'Philips IntelliVue MP/MX monitors, Data Export over MIB/RS-232: numerics, waves, patient and technical alarms; listen-only and capture/replay',
  configSchema,
  create(options: IntellivueOptions, ctx: DriverContext): Driver {
    return new IntellivueDriver(buildPlan(options), ctx);
  },
  claims: serialDeviceClaims,
};

export default intellivueDriver;
