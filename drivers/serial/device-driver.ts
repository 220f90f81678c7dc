// The part every single-device serial driver shares (Medibus, IntelliVue, …): the link (a real port, or a
// replayed capture, optionally recorded to a capture file), the supervisor that keeps it open, the device's
// status and health, and handing events to the agent. A driver adds its protocol session on top and says
// when the device counts as online; the protocol itself stays in the driver's own pure modules.
import type { DeviceState, DriverEvent, Origin } from '../../agent/model/reading.js';
import { LogGate } from '../../agent/log-gate.js';
import type { Driver, DriverContext, DriverHealth } from '../types.js';
import type { BackoffSettings } from './backoff.js';
import { CaptureWriter, DEFAULT_CAPTURE_MAX_BYTES, mibText } from './capture.js';
import { CapturingLink } from './capturing-link.js';
import type { LineSettings, SerialLink } from './link.js';
import { RepeatLog } from '../../agent/repeat-log.js';
import { ReplayLink } from './replay-link.js';
import { SerialPortLink } from './serialport-link.js';
import { LinkSupervisor, type LinkState } from './supervisor.js';

/** What the shared part reads from a driver's plan. */
export interface SerialDevicePlan {
  id: string;
  bed?: string;
  path: string;
  line: LineSettings;
  listenOnly: boolean;
  captureFile?: string;
  /** Size bound of captureFile; default DEFAULT_CAPTURE_MAX_BYTES. */
  captureMaxBytes?: number;
  replay?: { file: string; speed: number };
  silenceMs: number;
  backoff: BackoffSettings;
}

/** The same trouble (state and detail) is logged again at most this often. */
const TROUBLE_LOG_EVERY_MS = 60_000;

export type LinkFactory<P extends SerialDevicePlan = SerialDevicePlan> = (plan: P) => SerialLink;

/** The port named in the plan, or the capture it replays. */
export function defaultLink(plan: SerialDevicePlan): SerialLink {
  if (plan.replay) return ReplayLink.fromFile(plan.replay.file, { speed: plan.replay.speed });
  return new SerialPortLink({ path: plan.path, ...plan.line, listenOnly: plan.listenOnly });
}

/**
 * Damaged traffic since the last frame that checked (or since the link opened): what wrong line settings (baud rate,
 * parity) or a bad cable give while bytes keep arriving, so that the device is neither silent nor answering.
 */
export class LineDamage {
  /** Frames whose checksum (FCS) failed. */
  badCheck = 0;
  /** Other damaged frames: over-long, cut short, too short. */
  otherBad = 0;
  /** Bytes outside any frame. */
  noiseBytes = 0;

  /** A damaged frame: `checkFailed` when its checksum (FCS) was wrong, else damaged otherwise. */
  badFrame(checkFailed: boolean): void {
    if (checkFailed) this.badCheck++;
    else this.otherBad++;
  }

  /**
   * The damage in words an engineer can act on, for health and warnings: empty when there is none (a quiet line, a
   * device switched off), else the figures and what to check. `frameCheck`: the protocol's name for its checksum.
   */
  note(frameCheck: string): string {
    const parts: string[] = [];
    if (this.badCheck) parts.push(`${this.badCheck} frame(s) with a bad ${frameCheck}`);
    if (this.otherBad) parts.push(`${this.otherBad} other damaged frame(s)`);
    if (this.noiseBytes) parts.push(`${this.noiseBytes} noise byte(s)`);
    return parts.length === 0 ? '' : `; no valid frame among ${parts.join(', ')}: check baud rate, parity and cable`;
  }

  /** A frame checked (or the link opened again): what came before says nothing of the line now. */
  clear(): void {
    this.badCheck = 0;
    this.otherBad = 0;
    this.noiseBytes = 0;
  }
}

/** The protocol session a driver runs over the link. */
export interface SerialSession {
  readonly state: string;
  readonly lineDamage: LineDamage;
  linkOpened(): void;
  receive(bytes: Buffer): void;
  linkClosed(): void;
  /** Ends the conversation politely while the link is still open (e.g. a release request). */
  shutdown(): Promise<void>;
}

export abstract class SerialDeviceDriver<P extends SerialDevicePlan> implements Driver {
  readonly link: SerialLink;
  protected readonly origin: Origin;
  private readonly supervisor: LinkSupervisor;
  private readonly capture: CaptureWriter | undefined;
  protected status: DeviceState = 'connecting';
  protected detail = 'not started';
  /** What the protocol calls the check a damaged frame failed (health detail). */
  protected readonly frameCheck: string = 'checksum';
  private lastDataAt: number | null = null;
  private started = false;
  private stopped = false;
  /** Stopping, the conversation ended: bytes still arriving are not read (they could raise what stop() just ended). */
  private detached = false;

  constructor(
    readonly plan: P,
    protected readonly ctx: DriverContext,
    /** Names the driver in its log lines ('medibus', 'intellivue'). */
    private readonly kind: string,
    linkFactory: LinkFactory<P>,
    protected readonly now: () => number,
  ) {
    let link = linkFactory(plan);
    if (plan.captureFile) {
      this.capture = new CaptureWriter(plan.captureFile, link.describe, now, plan.captureMaxBytes ?? DEFAULT_CAPTURE_MAX_BYTES);
      link = new CapturingLink(link, this.capture);
    }
    this.link = link;
    this.origin = { deviceId: plan.id, source: ctx.name, ...(plan.bed ? { bed: plan.bed } : {}) };
    // The session exists only once the subclass constructor has run; these hooks fire only after start().
    this.supervisor = new LinkSupervisor(
      link,
      { backoff: plan.backoff, silenceMs: plan.silenceMs, reconnect: !plan.replay },
      {
        onState: (s, d) => this.onLinkState(s, d),
        onOpen: () => this.session.linkOpened(),
        // Counted as Modbus counts its links, so that a flapping adapter shows in /metrics, not only in the (gated) log.
        onOpenFailed: () => this.ctx.count('connect_failures'),
        onData: (b) => {
          if (this.detached) return;
          this.lastDataAt = now();
          this.session.receive(b);
        },
        onClosed: () => {
          this.ctx.count('disconnects');
          this.session.linkClosed();
          this.linkLost(false);
        },
      },
      now,
    );
  }

  /** The driver's protocol session. */
  protected abstract get session(): SerialSession;
  /** Whether a session in this state means the device is online (e.g. cycling, polling, listening). */
  protected abstract sessionOnline(state: string): boolean;
  /**
   * After the link closed, and when the driver stops (`stopping`: on purpose, e.g. the device removed from the config):
   * end what the device can no longer confirm (alarms, buffered curves).
   */
  protected abstract linkLost(stopping: boolean): void;
  /** Log fields for the "driver starting" line, besides device, link and listenOnly. */
  protected startFields(): Record<string, unknown> {
    return {};
  }
  /** Work the driver runs beside the link (timers); undone in beforeStop. */
  protected afterStart(): void {}
  protected beforeStop(): void {}
  /**
   * Health detail: the device status detail, plus what the driver adds. While the device is not online on an open
   * port, damaged traffic since the last good frame is named (wrong baud rate or parity looks like that); while an
   * unplugged port is retried, the attempt and the next try (the status stays 'offline', one event per outage).
   */
  protected healthDetail(): string {
    if (this.status === 'offline' && this.supervisor.retry) {
      const r = this.supervisor.retry;
      return `${this.detail}; retry ${r.attempt} in ${Math.max(0, Math.round((r.at - this.now()) / 1000))} s`;
    }
    if (this.status === 'online' || !this.link.isOpen) return this.detail;
    return `${this.detail}${this.session.lineDamage.note(this.frameCheck)}`;
  }

  async start(): Promise<void> {
    this.started = true;
    this.stopped = false;
    this.detached = false;
    this.ctx.log.info({ device: this.plan.id, link: this.link.describe, listenOnly: this.plan.listenOnly, ...this.startFields() }, `${this.kind} driver starting`);
    // A capture that cannot be written is said once and shown in health; the device is read as usual without it.
    this.capture?.open(
      (err) => {
        this.ctx.log.warn({ err, device: this.plan.id, captureFile: this.plan.captureFile }, `${this.kind} capture file cannot be written: the device is read as usual, without a capture`);
        this.ctx.count('capture_errors');
      },
      (bytes) => {
        const fields = { device: this.plan.id, captureFile: this.plan.captureFile, bytes, captureMaxBytes: this.capture?.maxBytes };
        this.ctx.log.warn(fields, `${this.kind} capture stopped at its size bound (captureMaxBytes): the device is read as usual, without a capture; remove captureFile when done`);
        this.ctx.count('capture_stopped_at_bound');
      },
    );
    this.afterStart();
    // Said at once, as every later status is: the agent's technical monitor tracks a device from its first event, so a
    // device that never answers validly (wrong baud rate or parity on an open port: bytes, but no frame checks) still
    // gets its "no data" alarm, as one switched off does (review rv49 M1).
    this.status = 'connecting';
    this.detail = `opening ${this.link.describe}`;
    this.emit([{ ...this.origin, kind: 'device-status', state: this.status, detail: this.detail, at: this.now() }]);
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.beforeStop();
    if (this.link.isOpen) await this.session.shutdown();
    // What the device reported (its alarms) ends with the driver, as link-lost (it was not seen to end): nothing would
    // end it once the device is no longer read (review rv115 M2). Before the offline status that closing the link
    // gives, and with the bytes still to come ignored.
    this.detached = true;
    this.linkLost(true);
    await this.supervisor.stop();
    await this.capture?.close();
    this.setStatus('offline', 'driver stopped');
  }

  health(): DriverHealth {
    const state: DriverHealth['state'] = !this.started ? 'starting' : this.stopped ? 'stopped' : this.status === 'online' ? 'running' : 'degraded';
    const detail = `${this.healthDetail()}${this.captureDetail()}`;
    return { state, detail, devices: { [this.plan.id]: { state: this.status, lastDataAt: this.lastDataAt, detail } } };
  }

  /** What the capture is doing, for the health detail: a capture left on fills the store's disk (review rv131 M3). */
  private captureDetail(): string {
    const c = this.capture;
    if (!c) return '';
    if (c.error) return `; capture to ${this.plan.captureFile} failed: ${c.error.message}`;
    if (c.stoppedAtBound) return `; capture stopped at its ${mibText(c.maxBytes)} bound`;
    if (c.active) return `; capturing every byte to ${this.plan.captureFile} (${(c.size / (1024 * 1024)).toFixed(1)} MiB of ${mibText(c.maxBytes)})`;
    return '';
  }

  /** Resolves when a replay has delivered every byte (for tools and tests). */
  get replayDone(): Promise<void> | undefined {
    return this.link instanceof ReplayLink ? this.link.done : undefined;
  }

  private onLinkState(s: LinkState, detail: string): void {
    // A port being retried stays 'offline' (its attempts are in the health detail): a status event for each attempt
    // would be stored and forwarded every few seconds for as long as the port is unplugged (review rv49 L3).
    if (s === 'connecting') {
      if (this.status !== 'offline') this.setStatus('connecting', detail);
    } else if (s === 'closed') this.setStatus('offline', detail);
    else if (s === 'silent') {
      this.ctx.count('silences');
      this.setStatus('silent', detail);
    } else if (s === 'open') {
      if (this.sessionOnline(this.session.state)) this.setStatus('online', detail);
      // The port is open; until the device answers validly, say so rather than "opening" (review rv49 M1).
      else if (this.status === 'connecting' || this.status === 'offline') this.setStatus('connecting', `${detail}; no valid answer from the device yet`);
    }
  }

  /**
   * Sets the device status; a change of state is emitted as a device-status event and logged. A new trouble in the
   * same state (an unplugged port that now cannot be opened) is logged too, gated as every trouble is.
   */
  protected setStatus(state: DeviceState, detail: string): void {
    if (state === this.status && detail === this.detail) return;
    const changed = state !== this.status;
    this.status = state;
    this.detail = detail;
    if (changed || (state !== 'online' && state !== 'connecting')) this.logStatus(state, detail);
    if (changed) this.emit([{ ...this.origin, kind: 'device-status', state, detail, at: this.now() }]);
  }

  /** Each trouble (state and detail) logged at most once a minute: an unplugged port fails alike at every retry. */
  private readonly troubleLog = new LogGate(TROUBLE_LOG_EVERY_MS, 64);

  private logStatus(state: DeviceState, detail: string): void {
    const fields = { device: this.plan.id, link: this.link.describe, state, detail };
    if (state === 'online') {
      this.troubleLog.reset(); // the next outage is logged at once
      this.ctx.log.info(fields, `${this.kind} device online`);
    } else if (state === 'connecting' || this.stopped) {
      this.ctx.log.debug(fields, `${this.kind} device ${state}`);
    } else {
      if (!this.troubleLog.open(`${state}|${detail}`, this.now())) return;
      this.ctx.log.warn(fields, `${this.kind} device ${state}: ${detail}`);
    }
  }

  /** A store that refuses (disk full) refuses every emit, several a second: said once, then summarised. */
  private readonly emitFailureLog = new RepeatLog(TROUBLE_LOG_EVERY_MS);

  /** Hands events to the agent; a refusal is counted and logged (the device cannot be asked again). */
  protected emit(events: DriverEvent[]): void {
    if (events.length === 0) return;
    this.ctx.emit(events).then(
      () => {
        const n = this.emitFailureLog.clear();
        if (n > 0) this.ctx.log.info({ device: this.plan.id, refusals: n }, `${this.kind} events accepted again, after ${n} refusals`);
      },
      (err: Error) => {
        this.ctx.count('emit_failures');
        const fields = { device: this.plan.id, err: err.message, events: events.length };
        const line = this.emitFailureLog.hit(this.now());
        if (line?.first) this.ctx.log.error(fields, `${this.kind} events not accepted (repeats are counted as emit_failures and summarised)`);
        else if (line) {
          const since = new Date(line.since).toISOString();
          this.ctx.log.error({ ...fields, repeats: line.repeats, total: line.inARow, since }, `${this.kind} events not accepted: ${line.repeats} more refusals since the last line, ${line.inARow} since ${since} (details of the last)`);
        }
      },
    );
  }
}
