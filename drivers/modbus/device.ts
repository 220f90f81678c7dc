// One Modbus unit on a bus: when each of its reads is due, what its state is, and what a success or
// a fault changes. No I/O here; the bus poller asks it what to do and tells it what happened.
import type { DeviceState, DriverEvent, DeviceStatusEvent } from '../../agent/model/reading.js';
import { ChangeFilter } from './change-filter.js';
import { isConfigException, type Fault } from './faults.js';
import type { DevicePlan, PlannedPoint, ReadGroup } from './plan.js';
import { judge, toReading } from './readings.js';
import { Backoff } from './timing.js';

interface GroupState {
  group: ReadGroup;
  dueAt: number;
  /** Set while this read fails (an exception, no answer, an answer that does not decode); cleared on success. */
  fault: Fault | undefined;
  /** Consecutive failures of this read. */
  failures: number;
  backoff: Backoff;
}

export interface DeviceSettings {
  source: string;
  offlineAfterFailures: number;
  backoff: { initialMs: number; maxMs: number };
}

export class DeviceRunner {
  state: DeviceState = 'connecting';
  detail = 'not polled yet';
  lastDataAt: number | null = null;
  private readonly groups: GroupState[];
  private readonly filters = new Map<PlannedPoint, ChangeFilter>();
  /** Consecutive communication failures (timeouts, CRC, bad frames) across all reads. */
  private commFailures = 0;
  private readonly commBackoff: Backoff;
  /** While offline, nothing is read before this time (then one probe read). */
  private probeAt = 0;

  constructor(
    readonly plan: DevicePlan,
    private readonly settings: DeviceSettings,
    now: number,
  ) {
    this.commBackoff = new Backoff(settings.backoff.initialMs, settings.backoff.maxMs);
    this.groups = plan.groups.map((group) => ({
      group,
      dueAt: now,
      fault: undefined,
      failures: 0,
      backoff: new Backoff(settings.backoff.initialMs, settings.backoff.maxMs),
    }));
    for (const g of plan.groups) for (const { point } of g.points) this.filters.set(point, new ChangeFilter(point.filter));
  }

  /** The read this device wants next and when. While offline only the first read is used as a probe. */
  next(): { group: ReadGroup; at: number } {
    if (this.state === 'offline') {
      const probe = this.groups[0] as GroupState;
      return { group: probe.group, at: Math.max(this.probeAt, probe.dueAt) };
    }
    let best = this.groups[0] as GroupState;
    for (const g of this.groups) if (g.dueAt < best.dueAt) best = g;
    return { group: best.group, at: best.dueAt };
  }

  private stateOf(group: ReadGroup): GroupState {
    const g = this.groups.find((x) => x.group === group);
    if (!g) throw new Error(`read ${group.label} is not part of device ${this.plan.id}`);
    return g;
  }

  /** A read answered. Returns the events to emit (readings that pass their filters, status change). */
  succeeded(group: ReadGroup, data: number[] | boolean[], now: number): { events: DriverEvent[]; decodeFaults: Array<{ point: string; message: string }> } {
    const g = this.stateOf(group);
    g.backoff.reset();
    // Next tick on this read's own grid, so lateness does not accumulate into drift; ticks already
    // missed are skipped rather than read back to back.
    g.dueAt += group.intervalMs;
    if (g.dueAt <= now) g.dueAt += (Math.floor((now - g.dueAt) / group.intervalMs) + 1) * group.intervalMs;
    this.commFailures = 0;
    this.commBackoff.reset();
    if (this.state === 'offline') {
      // Back from offline: every read is due again now, and what failed during the outage is forgiven (the outage
      // explains it); a read that still fails counts afresh.
      for (const other of this.groups) {
        other.dueAt = Math.min(other.dueAt, now);
        if (other !== g) {
          other.failures = 0;
          other.fault = undefined;
        }
      }
    }
    this.lastDataAt = now;
    const events: DriverEvent[] = [];
    const decodeFaults: Array<{ point: string; message: string }> = [];
    for (const { point, at } of group.points) {
      let raw: number | string;
      try {
        raw = point.decode(data.slice(at, at + point.width) as number[] | boolean[]);
      } catch (err) {
        decodeFaults.push({ point: point.name, message: err instanceof Error ? err.message : String(err) });
        continue;
      }
      const judged = judge(point, raw);
      if (!this.filters.get(point)?.accept(judged.value, judged.quality.state, now)) continue;
      events.push(toReading(point, judged, { deviceId: this.plan.id, ...(this.plan.bed ? { bed: this.plan.bed } : {}), source: this.settings.source }, now));
    }
    // Values that do not decode are lost as surely as an unanswered read's: the read counts as failing, and is
    // reported as an error when it keeps failing, though the device's other values still arrive.
    const first = decodeFaults[0];
    if (first) {
      countFailure(g, { kind: 'decode', message: `cannot decode ${first.point}: ${first.message}`, counter: 'decode_errors', communication: false });
    } else {
      g.fault = undefined;
      g.failures = 0;
    }
    const status = this.updateState(now);
    if (status) events.push(status);
    return { events, decodeFaults };
  }

  /** A read failed. Returns a status event if the device's state changed. */
  failed(group: ReadGroup, fault: Fault, now: number): DeviceStatusEvent | undefined {
    const g = this.stateOf(group);
    if (fault.communication) {
      this.commFailures++;
      countFailure(g, fault);
      g.dueAt = Math.max(now, g.dueAt) + Math.min(group.intervalMs, this.settings.backoff.initialMs);
      if (this.commFailures >= this.settings.offlineAfterFailures) {
        this.probeAt = now + this.commBackoff.next();
        return this.setState('offline', `${fault.message} on ${group.label} (${this.commFailures} failures in a row; next try in ${Math.round(this.probeAt - now)} ms)`, now);
      }
      // The device answers its other reads (they reset commFailures) but never this one: its values are gone all
      // the same, so the device is in error rather than online.
      if (g.failures >= this.settings.offlineAfterFailures) return this.setState('error', `${fault.message} on ${group.label} (${g.failures} in a row)`, now);
      return undefined;
    }
    // The device answered, with an exception: it is there, this read is the problem.
    this.commFailures = 0;
    this.commBackoff.reset();
    countFailure(g, fault);
    g.dueAt = now + g.backoff.next();
    const persistent = isConfigException(fault.code) || g.failures >= this.settings.offlineAfterFailures;
    if (!persistent) return undefined;
    return this.setState('error', `${fault.message} on ${group.label}`, now);
  }

  /** The bus connection is down or could not be opened: every device on it is offline. */
  busDown(reason: string, now: number): DeviceStatusEvent | undefined {
    this.commFailures = Math.max(this.commFailures, this.settings.offlineAfterFailures);
    this.probeAt = now;
    return this.setState('offline', reason, now);
  }

  /** A fresh connection: an offline device gets its probe read right away. */
  probeNow(now: number): void {
    this.probeAt = now;
  }

  private updateState(now: number): DeviceStatusEvent | undefined {
    const failing = this.groups.find((g) => g.fault && (isConfigException(g.fault.code) || g.failures >= this.settings.offlineAfterFailures));
    if (failing?.fault) return this.setState('error', `${failing.fault.message} on ${failing.group.label}`, now);
    return this.setState('online', 'answering', now);
  }

  private setState(state: DeviceState, detail: string, now: number): DeviceStatusEvent | undefined {
    this.detail = detail;
    if (state === this.state) return undefined;
    this.state = state;
    return {
      kind: 'device-status',
      deviceId: this.plan.id,
      ...(this.plan.bed ? { bed: this.plan.bed } : {}),
      source: this.settings.source,
      state,
      detail,
      at: now,
    };
  }

  /** Status event for the current state, e.g. at start. */
  announce(now: number): DeviceStatusEvent {
    return {
      kind: 'device-status',
      deviceId: this.plan.id,
      ...(this.plan.bed ? { bed: this.plan.bed } : {}),
      source: this.settings.source,
      state: this.state,
      detail: this.detail,
      at: now,
    };
  }
}

/**
 * One more failure of a read, in a row only with failures of the same kind: unanswered (timeouts, bad frames),
 * exceptions, or answers that do not decode. Two timeouts and then one transient "busy" exception are not three
 * failures of anything.
 */
function countFailure(g: GroupState, fault: Fault): void {
  const same = g.fault !== undefined && g.fault.communication === fault.communication && (fault.communication || g.fault.kind === fault.kind);
  g.failures = same ? g.failures + 1 : 1;
  g.fault = fault;
}
