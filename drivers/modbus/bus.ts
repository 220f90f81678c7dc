// One bus = one connection. Its devices' reads are strictly serialised (one request on the line at a
// time, with the RTU inter-frame gap after each), and each bus runs its own loop, so a slow or dead
// device only ever costs time on its own bus.
import type { DriverContext } from '../types.js';
import { RepeatLog } from '../../agent/repeat-log.js';
import type { DriverEvent } from '../../agent/model/reading.js';
import { DeviceRunner, goesBefore, type DeviceSettings, type NextRead } from './device.js';
import { classify } from './faults.js';
import { describeRead, type BusPlan, type ReadGroup } from './plan.js';
import { Backoff, Sleeper, systemClock, type Clock } from './timing.js';
import { describeEndpoint, type Transport, type TransportEvents } from './transport.js';

export type TransportFactory = (bus: BusPlan, events: TransportEvents) => Transport;

/** A store that refuses (a full disk) refuses every emit, and the log goes to that disk: summarised once a minute. */
const EMIT_FAILURE_LOG_EVERY_MS = 60_000;
/** A peer that sends non-Modbus frames sends one per request: the first is logged, then a summary once a minute. */
const NON_MODBUS_LOG_EVERY_MS = 60_000;
/** A peer that answers under wrong transaction ids does so at every request: the first is logged, then a summary once a minute. */
const UNMATCHED_LOG_EVERY_MS = 60_000;
/** A bus over capacity skips ticks at every poll round: the first is logged, then a summary once a minute. */
const SKIPPED_POLLS_LOG_EVERY_MS = 60_000;

interface Task extends NextRead {
  device: DeviceRunner;
}

export class BusPoller {
  readonly devices: DeviceRunner[];
  private readonly transport: Transport;
  private readonly sleeper = new Sleeper();
  private readonly connectBackoff: Backoff;
  private running = false;
  private loop: Promise<void> | undefined;
  private connectionLost = false;
  /** A read has succeeded on the current connection (a peer that accepts and drops must still back off). */
  private answeredSinceConnect = false;
  /** TCP: requests in a row, on any unit, that got no usable answer (see resync). */
  private unansweredInARow = 0;
  /** TCP: the reads those requests were for. */
  private readonly unansweredReads = new Set<ReadGroup>();
  /**
   * TCP: units that answered (data or an exception) on the current connection. Once one has, only these units'
   * unanswered requests count toward a resync: a unit that never answered on it (dead behind a gateway that sends no
   * exception 0x0B) says nothing about the stream, and its neighbours answering seldom must not be what saves it.
   */
  private readonly answeringUnits = new Set<number>();
  private readonly resyncAfter: number;
  /** No read that may go unanswered (NextRead.unanswered) starts before this (see run()); monotonic. */
  private unansweredNotBefore = 0;
  /** When the current connection opened; monotonic. */
  private connectedAt = 0;
  /** A lost connection was logged as a warning, and no connection since has lasted `stableMs` (see connect()). */
  private lossWarned = false;
  private readonly stableMs: number;
  private readonly emitFailureLog = new RepeatLog(EMIT_FAILURE_LOG_EVERY_MS);
  private readonly nonModbusLog = new RepeatLog(NON_MODBUS_LOG_EVERY_MS);
  private readonly unmatchedLog = new RepeatLog(UNMATCHED_LOG_EVERY_MS);
  private readonly skippedPollsLog = new RepeatLog(SKIPPED_POLLS_LOG_EVERY_MS);
  /** Poll ticks skipped since the last skipped_polls line, and the reads they were of (at most this bus's reads). */
  private skippedSinceLine = 0;
  private readonly skippedReads = new Set<string>();
  /** Devices whose events were lost since the last emit-failure line (at most this bus's devices). */
  private readonly lostDevices = new Set<string>();
  /** Events lost since the last emit-failure line. */
  private lostEvents = 0;

  constructor(
    readonly plan: BusPlan,
    private readonly ctx: DriverContext,
    settings: DeviceSettings,
    transportFactory: TransportFactory,
    /** Scheduling on `monotonic`, event stamps and log summaries on `wall`. */
    private readonly clock: Clock = systemClock,
  ) {
    const now = clock.monotonic();
    this.resyncAfter = settings.offlineAfterFailures;
    this.stableMs = settings.backoff.maxMs;
    this.devices = plan.devices.map((d) => new DeviceRunner(d, settings, now));
    this.connectBackoff = new Backoff(settings.backoff.initialMs, settings.backoff.maxMs);
    this.transport = transportFactory(plan, {
      error: (err) => {
        ctx.count('port_errors');
        ctx.log.warn({ bus: plan.id, endpoint: describeEndpoint(plan), err: String(err) }, 'modbus port error');
      },
      nonModbusFrame: (protocolId) => this.nonModbusFrame(protocolId),
      unmatchedFrame: (transactionId, expected) => this.unmatchedFrame(transactionId, expected),
      // Logged with the read's timeout, whose detail names them.
      unmatchedBytes: (_unitId, bytes) => ctx.count('unmatched_bytes', bytes),
      answerDroppedAfterTimeout: (unitId) => {
        ctx.count('requests');
        ctx.count('answers_dropped_after_timeout');
        ctx.log.debug({ bus: plan.id, unit: unitId }, 'modbus RTU: first answer after a timeout dropped (it may be the late one); read again');
      },
    });
    this.transport.onClose(() => {
      this.connectionLost = true;
      this.sleeper.interrupt();
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.emit(this.devices.map((d) => d.announce(this.clock.wall())));
    this.loop = this.run().catch((err: unknown) => {
      // The loop handles every fault itself; reaching here is a bug, logged rather than crashing the agent.
      this.ctx.log.error({ bus: this.plan.id, err: String(err) }, 'modbus bus loop ended unexpectedly');
      this.ctx.count('bus_loop_failures');
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.sleeper.interrupt();
    // Closing first fails the read in flight and aborts a connect at once: a device that does not answer must not hold
    // the stop (a config change, the agent's shutdown) for up to timeoutMs. Closed again once the loop has ended.
    await this.transport.close();
    await this.loop;
    await this.transport.close();
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (!this.transport.isOpen || this.connectionLost) {
        await this.connect();
        continue;
      }
      const task = this.nextTask();
      const wait = task.at - this.clock.monotonic();
      if (wait > 0) {
        await this.sleeper.sleep(wait);
        continue;
      }
      const started = this.clock.monotonic();
      await this.poll(task.device, task.group);
      if (this.plan.gapMs > 0 && this.running) await this.sleeper.sleep(this.plan.gapMs);
      // A read that gets no answer holds the line for timeoutMs (RTU: twice that). The reads that are answered get at
      // least as long again before the next such read, so however many units are switched off, a live unit's due
      // reads wait for one of them at most.
      if (task.unanswered) {
        const ended = this.clock.monotonic();
        this.unansweredNotBefore = ended + (ended - started);
      }
    }
  }

  private nextTask(): Task {
    let best: Task | undefined;
    for (const device of this.devices) {
      const n = device.next(this.unansweredNotBefore);
      if (!best || goesBefore(n, best)) best = { device, ...n };
    }
    // A plan always has at least one device (buildPlan enforces it).
    return best as Task;
  }

  private async connect(): Promise<void> {
    const endpoint = describeEndpoint(this.plan);
    const wasLost = this.connectionLost;
    this.connectionLost = false;
    if (wasLost) {
      this.ctx.count('disconnects');
      // Reconnect at once after a connection that worked; back off if it dropped before any answer.
      const delay = this.answeredSinceConnect ? 0 : this.connectBackoff.next();
      // A peer that closes after every answer would write a warning per poll. Warn once for a run of short-lived
      // connections (each lost within stableMs of opening), and at each backoff step; the rest go to debug.
      if (this.clock.monotonic() - this.connectedAt >= this.stableMs) this.lossWarned = false;
      const level = !this.lossWarned || delay > 0 ? 'warn' : 'debug';
      this.lossWarned = true;
      this.ctx.log[level]({ bus: this.plan.id, endpoint, retryInMs: delay }, 'modbus connection lost; reconnecting');
      if (delay > 0) await this.sleeper.sleep(delay);
      if (!this.running) return;
    }
    try {
      await this.transport.connect();
      this.connectedAt = this.clock.monotonic();
      this.answeredSinceConnect = false;
      this.answeringUnits.clear();
      this.ctx.log.info({ bus: this.plan.id, endpoint }, 'modbus bus connected');
      // Offline devices are probed right away on a fresh connection.
      for (const d of this.devices) d.probeNow(this.connectedAt);
    } catch (err) {
      // Aborted by stop(): no failure to count or report.
      if (!this.running) return;
      const delay = this.connectBackoff.next();
      const reason = `cannot open ${endpoint}: ${err instanceof Error ? err.message : String(err)}`;
      this.ctx.count('connect_failures');
      this.ctx.log.warn({ bus: this.plan.id, endpoint, retryInMs: delay }, reason);
      const now = this.clock.monotonic();
      const at = this.clock.wall();
      await this.emit(this.devices.map((d) => d.busDown(reason, now, at)).filter((e) => e !== undefined));
      if (this.running) await this.sleeper.sleep(delay);
    }
  }

  private async poll(device: DeviceRunner, group: ReadGroup): Promise<void> {
    this.ctx.count('requests');
    let data: number[] | boolean[];
    try {
      data = await this.transport.read(device.plan.unitId, group.table, group.address, group.count);
    } catch (err) {
      // Failed by stop() closing the connection (or failing as it stops): no outage of the device, nothing to report.
      if (!this.running) return;
      const fault = classify(err);
      const now = this.clock.monotonic();
      const at = this.clock.wall();
      const context = { bus: this.plan.id, unit: device.plan.unitId, device: device.plan.id, register: group.label, points: group.points.map(({ point }) => point.name), fault: fault.kind };
      if (fault.kind === 'disconnected') {
        // Counted once per lost connection, by connect().
        this.connectionLost = true;
        this.ctx.log.warn(context, `modbus read failed: ${fault.message}`);
        const status = device.busDown(`connection to ${describeEndpoint(this.plan)} lost`, now, at);
        if (status) await this.emit([status]);
        return;
      }
      this.ctx.count(fault.counter);
      const split = device.split(group, fault, now, at);
      if (split?.again) {
        // The whole read tried again after a split (see DeviceRunner.tryMerge), refused again: at most one line per try,
        // and the tries grow apart up to an hour.
        this.ctx.count('read_merges_refused');
        this.ctx.log.info(
          { ...context, code: fault.code, reads: split.again.reads, retryInMs: split.again.retryInMs, counter: 'read_merges_refused' },
          `modbus read ${describeRead(group)} tried whole again, refused again: ${fault.message}; read in ${split.again.reads} parts, next try in ${Math.round(split.again.retryInMs / 1000)} s`,
        );
        if (split.status) await this.emit([split.status]);
        if (this.plan.transport === 'tcp') this.answeredBy(device.plan.unitId);
        return;
      }
      if (split) {
        // Once per split: the halves are kept until every part has delivered data, then the whole read is tried again.
        this.ctx.count('read_splits');
        const [low, high] = split.into;
        const limit = group.table === 'coil' || group.table === 'discrete' ? 'maxBitsPerRead' : 'maxRegistersPerRead';
        const advice =
          fault.code === 3
            ? `; if the device takes fewer than ${group.count} per read, set ${limit} on this device to read with fewer requests`
            : '; a value at a register the device lacks ends in error alone, named';
        this.ctx.log.warn(
          { ...context, code: fault.code, into: [low.label, high.label], counter: 'read_splits' },
          `modbus read ${describeRead(group)} refused as a whole: ${fault.message}; split into ${low.label} and ${high.label} so the values the device serves still arrive (the whole read is tried again later, once every part has delivered data)${advice}`,
        );
        if (split.status) await this.emit([split.status]);
        if (this.plan.transport === 'tcp') this.answeredBy(device.plan.unitId);
        return;
      }
      const status = device.failed(group, fault, now, at);
      // Once the failures have taken the device offline or into error, the warning says what to check too.
      const hint = fault.hint && (device.state === 'offline' || device.state === 'error') ? { hint: fault.hint } : {};
      this.ctx.log.warn({ ...context, code: fault.code, state: device.state, ...hint }, `modbus read failed: ${fault.message}`);
      if (status) await this.emit([status]);
      if (this.plan.transport === 'tcp') {
        // A gateway's 0x0A/0x0B shows the stream in step, but that the unit behind it does not answer.
        if (fault.kind === 'exception') this.answeredBy(fault.communication ? undefined : device.plan.unitId);
        else if (this.answeringUnits.size === 0 || this.answeringUnits.has(device.plan.unitId)) {
          this.unansweredInARow++;
          this.unansweredReads.add(group);
        }
        // One read the device never answers does not show the stream out of step: wait for a second read to fail
        // too (the device asks for one at once, see DeviceRunner.failed), unless the bus has only one read.
        if (this.unansweredInARow >= this.resyncAfter && (this.unansweredReads.size >= 2 || this.readCount() === 1)) await this.resync();
      } else if (fault.kind === 'timeout' && this.running) {
        // An RTU answer has no transaction id: a late one would pass for the next request's answer.
        // Give it as long again as the timeout to arrive; the next read flushes it before sending.
        await this.sleeper.sleep(this.plan.timeoutMs);
      }
      return;
    }
    this.answeredBy(device.plan.unitId);
    const now = this.clock.monotonic();
    const at = this.clock.wall();
    this.ctx.count('polls');
    if (!this.answeredSinceConnect) {
      this.answeredSinceConnect = true;
      this.connectBackoff.reset();
    }
    const { events, decodeFaults, skipped, merged } = device.succeeded(group, data, now, at);
    if (merged) {
      this.ctx.count('read_merges');
      this.ctx.log.info(
        { bus: this.plan.id, unit: device.plan.unitId, device: device.plan.id, register: group.label, reads: merged.reads, counter: 'read_merges' },
        `modbus read ${describeRead(merged.group)} answered as a whole again: merged back, one request instead of ${merged.reads}`,
      );
    }
    if (skipped > 0) this.skippedPolls(device, group, skipped);
    for (const f of decodeFaults) {
      this.ctx.count('decode_errors');
      this.ctx.log.warn({ bus: this.plan.id, unit: device.plan.unitId, device: device.plan.id, register: group.label, point: f.point }, f.message);
    }
    const readings = events.filter((e) => e.kind === 'numeric').length;
    if (readings > 0) this.ctx.count('readings', readings);
    if (events.length > 0) await this.emit(events);
  }

  /**
   * TCP: after offlineAfterFailures requests in a row without a usable answer, close and reopen the
   * connection. A Modbus TCP stream that lost its framing (one stray byte) never recovers in place, and a
   * fresh connection costs little. Any answer, exceptions included, resets the count, and once a unit has
   * answered on the connection only the units that did count (see answeringUnits), so a silent unit behind a
   * gateway does not churn the connection its neighbours use.
   */
  private async resync(): Promise<void> {
    this.ctx.count('reconnects');
    this.ctx.log.warn(
      { bus: this.plan.id, endpoint: describeEndpoint(this.plan), unanswered: this.unansweredInARow },
      'modbus TCP: no usable answer to several requests in a row; reconnecting in case the stream is out of step',
    );
    this.resetUnanswered();
    await this.transport.close();
  }

  /**
   * TCP: a frame whose MBAP protocol id is not 0 was dropped (not a Modbus answer; the read it came for times out).
   * Each is counted; the first is logged, then at most one summary a minute (never cleared: a peer mixing such frames
   * with answers would otherwise log each one).
   */
  private nonModbusFrame(protocolId: number): void {
    this.ctx.count('non_modbus_frames');
    const line = this.nonModbusLog.hit(this.clock.wall());
    if (!line) return;
    const fields = { bus: this.plan.id, endpoint: describeEndpoint(this.plan), protocolId, counter: 'non_modbus_frames' };
    if (line.first) this.ctx.log.warn(fields, `modbus TCP: frame with protocol id ${protocolId} dropped, not a Modbus answer (0); repeats are counted as non_modbus_frames and summarised`);
    else this.ctx.log.warn({ ...fields, repeats: line.repeats, total: line.inARow }, `modbus TCP: ${line.repeats} more frames with a protocol id other than 0 dropped since the last line (last: ${protocolId})`);
  }

  /**
   * TCP: an answer whose transaction id is not the request's in flight was dropped (a late answer, or a peer that
   * gets transaction ids wrong; the read it came for times out, and its detail says so). Counted; the first logged,
   * then at most one summary a minute (never cleared, as for non-Modbus frames).
   */
  private unmatchedFrame(transactionId: number, expected: number | undefined): void {
    this.ctx.count('unmatched_frames');
    const line = this.unmatchedLog.hit(this.clock.wall());
    if (!line) return;
    const fields = { bus: this.plan.id, endpoint: describeEndpoint(this.plan), transactionId, expected: expected ?? null, counter: 'unmatched_frames' };
    if (line.first) {
      this.ctx.log.warn(fields, `modbus TCP: answer with transaction id ${transactionId} dropped, the request in flight has ${expected ?? 'none'} (late, or the device or gateway answers under another id); repeats are counted as unmatched_frames and summarised`);
    } else {
      this.ctx.log.warn({ ...fields, repeats: line.repeats, total: line.inARow }, `modbus TCP: ${line.repeats} more answers with an unmatched transaction id dropped since the last line (last: ${transactionId}, expected ${expected ?? 'none'})`);
    }
  }

  /**
   * Poll ticks skipped because the bus could not keep up with its reads' intervals (values arrive less often than
   * configured). Each is counted; the first is logged naming the reads, then at most one summary a minute (never
   * cleared: a bus over capacity skips in every round).
   */
  private skippedPolls(device: DeviceRunner, group: ReadGroup, skipped: number): void {
    this.ctx.count('skipped_polls', skipped);
    this.skippedSinceLine += skipped;
    this.skippedReads.add(`${device.plan.id} ${group.label}`);
    const line = this.skippedPollsLog.hit(this.clock.wall());
    if (!line) return;
    const fields = { bus: this.plan.id, reads: [...this.skippedReads], skipped: this.skippedSinceLine, counter: 'skipped_polls' };
    this.skippedSinceLine = 0;
    this.skippedReads.clear();
    const named = fields.reads.join(', ');
    if (line.first) {
      this.ctx.log.warn(
        fields,
        `modbus bus ${this.plan.id} cannot keep up with its poll intervals: ${fields.skipped} poll ticks of ${named} skipped, their values arrive less often than configured: raise their pollIntervalMs (further skips are counted as skipped_polls and summarised once a minute)`,
      );
    } else {
      this.ctx.log.warn(fields, `modbus bus ${this.plan.id} still cannot keep up: ${fields.skipped} poll ticks skipped since the last line (${named})`);
    }
  }

  /** Reads on this bus now, all devices together (a refused read split in two counts as two). */
  private readCount(): number {
    return this.devices.reduce((n, d) => n + d.readCount, 0);
  }

  /** A unit answered (data or an exception), or its gateway did for it (undefined): the stream is in step. */
  private answeredBy(unitId: number | undefined): void {
    if (unitId !== undefined) this.answeringUnits.add(unitId);
    this.resetUnanswered();
  }

  /** Resets the TCP count of requests in a row without a usable answer. */
  private resetUnanswered(): void {
    this.unansweredInARow = 0;
    this.unansweredReads.clear();
  }

  private async emit(events: DriverEvent[]): Promise<void> {
    if (events.length === 0) return;
    for (const e of events) {
      if (e.kind === 'device-status') {
        this.ctx.log.info({ bus: this.plan.id, device: e.deviceId, state: e.state }, `modbus device ${e.state}: ${e.detail}`);
      }
    }
    try {
      await this.ctx.emit(events);
    } catch (err) {
      // Not dropped silently: counted, and logged with the devices whose events were lost.
      this.ctx.count('emit_failures');
      this.emitFailed(events, err);
      return;
    }
    const lost = this.emitFailureLog.clear();
    if (lost > 0) {
      // Named: what was lost since the last line has not been said yet.
      const fields = { bus: this.plan.id, failures: lost, devices: [...this.lostDevices], events: this.lostEvents, counter: 'emit_failures' };
      this.lostDevices.clear();
      this.lostEvents = 0;
      this.ctx.log.info(fields, `modbus events accepted again after ${lost} emits lost`);
    }
  }

  /** Logs events the pipeline refused: the first in a row, then a summary once a minute (each one is counted). */
  private emitFailed(events: DriverEvent[], err: unknown): void {
    for (const e of events) this.lostDevices.add(e.deviceId);
    this.lostEvents += events.length;
    const line = this.emitFailureLog.hit(this.clock.wall());
    if (!line) return;
    const fields = { bus: this.plan.id, devices: [...this.lostDevices], events: this.lostEvents, err: String(err), counter: 'emit_failures' };
    this.lostDevices.clear();
    this.lostEvents = 0;
    const named = fields.devices.join(', ');
    if (line.first) {
      this.ctx.log.error(fields, `modbus events of ${named} could not be accepted by the pipeline and are lost (further failures are counted and summarised once a minute)`);
      return;
    }
    const since = new Date(line.since).toISOString();
    this.ctx.log.error(
      { ...fields, failures: line.repeats, inARow: line.inARow, since },
      `modbus events still not accepted: ${line.repeats} emits (${fields.events} events of ${named}) lost since the last line, ${line.inARow} since ${since}`,
    );
  }
}
