// A fake DriverContext for the simulator's tests: collects events, counters and log lines.
import pino from 'pino';
import type { DriverEvent, NumericReading, WaveformSegment, AlarmEvent, DeviceStatusEvent } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';

export interface FakeContext extends DriverContext {
  events: DriverEvent[];
  batches: number;
  counters: Map<string, number>;
  logs: Record<string, unknown>[];
}

export function fakeContext(emit?: (events: DriverEvent[]) => Promise<void>): FakeContext {
  const logs: Record<string, unknown>[] = [];
  const ctx: FakeContext = {
    name: 'ward-sim',
    events: [],
    batches: 0,
    counters: new Map(),
    logs,
    log: pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
    emit: (events) => {
      ctx.batches++;
      ctx.events.push(...events);
      return emit ? emit(events) : Promise.resolve();
    },
    count: (counter, by = 1) => void ctx.counters.set(counter, (ctx.counters.get(counter) ?? 0) + by),
  };
  return ctx;
}

export const T0 = Date.UTC(2025, 0, 1, 8, 0, 0);

export const numerics = (events: DriverEvent[], refid?: string, bed?: string): NumericReading[] =>
  events.filter((e): e is NumericReading => e.kind === 'numeric' && (!refid || e.mdc?.refid === refid) && (!bed || e.bed === bed));

export const waveforms = (events: DriverEvent[], refid?: string, bed?: string): WaveformSegment[] =>
  events.filter((e): e is WaveformSegment => e.kind === 'waveform' && (!refid || e.mdc?.refid === refid) && (!bed || e.bed === bed));

export const alarms = (events: DriverEvent[]): AlarmEvent[] => events.filter((e): e is AlarmEvent => e.kind === 'alarm');

export const statuses = (events: DriverEvent[]): DeviceStatusEvent[] =>
  events.filter((e): e is DeviceStatusEvent => e.kind === 'device-status');

/** Value of a numeric reading as a number (throws if it is not one). */
export function num(r: NumericReading): number {
  if (typeof r.value !== 'number') throw new Error(`expected a number at ${r.receivedAt} for ${r.mdc?.refid}, got ${String(r.value)}`);
  return r.value;
}
