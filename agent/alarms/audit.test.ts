// Property test: whatever happens, the engine never throws, every change is audited in order, and the audit trail of
// each alarm is a consistent chain whose last record equals the alarm as the engine holds it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import type { MdcCode, QualityState } from '../model/reading.js';
import { AlarmEngine, compareAlarms } from './engine.js';
import { deviceAlarm, numeric, nurse, s, status } from './fixtures.js';
import type { AlarmStateChange } from './types.js';

// Few metrics and values, so that runs of the same out-of-range value (which raise limit alarms) are common.
const METRICS: MdcCode[] = [MDC.ECG_HEART_RATE, MDC.PULS_OXIM_SAT_O2, MDC.PRESS_BLD_NONINV_SYS];
const BEDS = ['bed-1', 'bed-2'];
const DEVICES = ['mon-1', 'mon-2'];

type Op =
  | { op: 'reading'; m: number; value: number | null; q: QualityState; bed: number; dev: number; reasons: string[] }
  | { op: 'alarm'; id: number; phase: 'start' | 'continue' | 'end'; prio: 'high' | 'medium' | 'low' | 'none'; tech: boolean; dev: number }
  | { op: 'status'; state: 'online' | 'offline' | 'silent' | 'connecting' | 'error'; dev: number }
  | { op: 'ack'; pick: number }
  | { op: 'pause'; pick: number; bed: boolean; dur: number }
  | { op: 'annotate'; pick: number }
  | { op: 'observe'; bed: number; c: 'A' | 'V'; o2: 'air' | 'oxygen' }
  | { op: 'store'; f: number }
  | { op: 'hub'; ok: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('reading' as const), m: fc.nat(METRICS.length - 1), value: fc.constantFrom(null, 30, 75, 85, 97, 140, 140, 200), q: fc.constantFrom<QualityState>('valid', 'valid', 'valid', 'invalid', 'questionable', 'unavailable'), bed: fc.nat(1), dev: fc.nat(1), reasons: fc.subarray(['sensor-off', 'lead-off', 'artifact']) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('alarm' as const), id: fc.nat(3), phase: fc.constantFrom('start' as const, 'continue' as const, 'end' as const), prio: fc.constantFrom('high' as const, 'medium' as const, 'low' as const, 'none' as const), tech: fc.boolean(), dev: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('status' as const), state: fc.constantFrom('online' as const, 'offline' as const, 'silent' as const, 'connecting' as const, 'error' as const), dev: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ack' as const), pick: fc.nat(10) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pause' as const), pick: fc.nat(10), bed: fc.boolean(), dur: fc.integer({ min: -10, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('annotate' as const), pick: fc.nat(10) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('observe' as const), bed: fc.nat(1), c: fc.constantFrom('A' as const, 'V' as const), o2: fc.constantFrom('air' as const, 'oxygen' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('store' as const), f: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hub' as const), ok: fc.boolean() }) },
);

const stepArb = fc.record({ dt: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 60 }) }), op: opArb, tick: fc.boolean() });

function run(steps: { dt: number; op: Op; tick: boolean }[]): { engine: AlarmEngine; changes: AlarmStateChange[] } {
  const engine = new AlarmEngine({ escalation: { afterS: 45, priorities: ['high'] } });
  const changes: AlarmStateChange[] = [];
  let t = 0;
  for (const { dt, op, tick } of steps) {
    t += dt;
    const now = s(t);
    const open = engine.list();
    const pick = (i: number) => open[i % Math.max(open.length, 1)];
    switch (op.op) {
      case 'reading': {
        const quality = op.q === 'valid' ? { state: op.q } : { state: op.q, reasons: op.reasons };
        changes.push(...engine.reading(numeric(METRICS[op.m]!, op.value, t, { bed: BEDS[op.bed]!, deviceId: DEVICES[op.dev]!, quality })));
        break;
      }
      case 'alarm':
        changes.push(...engine.deviceAlarm(deviceAlarm(String(op.id), op.phase, t, { priority: op.prio, category: op.tech ? 'technical' : 'physiological', deviceId: DEVICES[op.dev]! })));
        break;
      case 'status':
        changes.push(...engine.deviceStatus(status(op.state, t, DEVICES[op.dev]!)));
        break;
      case 'ack': {
        const a = pick(op.pick);
        if (a) changes.push(...engine.acknowledge(a.id, nurse, now).changes);
        break;
      }
      case 'pause': {
        const a = pick(op.pick);
        if (a) changes.push(...engine.audioPause(op.bed ? { bed: a.bed } : { alarmId: a.id }, nurse, op.dur, now).changes);
        break;
      }
      case 'annotate': {
        const a = pick(op.pick);
        if (a) changes.push(...engine.annotate(a.id, { kind: 'model', values: { probability: 0.5 } }, nurse, now).changes);
        break;
      }
      case 'observe':
        changes.push(...engine.observe(BEDS[op.bed]!, { consciousness: op.c, oxygen: op.o2 }, now));
        break;
      case 'store':
        changes.push(...engine.storeUsage(op.f, now));
        break;
      case 'hub':
        changes.push(...engine.hubReachable(op.ok, now));
        break;
    }
    if (tick) changes.push(...engine.tick(now));
  }
  return { engine, changes };
}

describe('audit trail (property)', () => {
  it('every change is recorded once, in order, as a consistent chain per alarm', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 30, maxLength: 250, size: 'large' }), (steps) => {
        const { engine, changes } = run(steps);
        changes.forEach((c, i) => expect(c.seq).toBe(i + 1));

        const byAlarm = new Map<string, AlarmStateChange[]>();
        for (const c of changes) byAlarm.set(c.alarmId, [...(byAlarm.get(c.alarmId) ?? []), c]);
        for (const [id, chain] of byAlarm) {
          expect(chain[0]).toMatchObject({ change: 'raised', from: null, to: 'active' });
          for (let i = 1; i < chain.length; i++) {
            const prev = chain[i - 1]!;
            const cur = chain[i]!;
            expect(cur.from).toBe(prev.to);
            expect(cur.to).toBe(cur.alarm.state);
            if (prev.to === 'resolved') expect(cur.change).toBe('annotated');
          }
          // The last record is exactly the alarm as the engine holds it: no change went unrecorded.
          expect(engine.get(id)).toEqual(chain[chain.length - 1]!.alarm);
        }

        const open = engine.list();
        expect([...open].sort(compareAlarms)).toEqual(open);
        expect(new Set(open.map((a) => a.key)).size).toBe(open.length);
        for (const a of open) {
          expect(a.state).not.toBe('resolved');
          if (a.state === 'audio-paused') expect(a.audioPausedUntil).toBeTypeOf('number');
          if (a.state === 'latched') expect([a.conditionPresent, a.latching]).toEqual([false, true]);
          if (a.state === 'acknowledged') expect(a.conditionPresent).toBe(true);
          if (a.state === 'active') expect(a.conditionPresent).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
    // 200 random runs of up to 250 steps: 15–20 s on a loaded 2-core machine, so more than the default 30 s to spare.
  }, 120_000);

  it('human actions carry the actor; system transitions carry "system"', () => {
    const { changes } = run([
      { dt: 0, op: { op: 'alarm', id: 1, phase: 'start', prio: 'high', tech: false, dev: 0 }, tick: false },
      { dt: 1, op: { op: 'pause', pick: 0, bed: false, dur: 10 }, tick: false },
      { dt: 14, op: { op: 'hub', ok: true }, tick: true }, // t = 15: the pause has expired
      { dt: 1, op: { op: 'ack', pick: 0 }, tick: false },
    ]);
    expect(changes.map((c) => [c.change, c.actor === 'system' ? 'system' : c.actor.user, c.actor === 'system' ? '' : c.actor.from])).toEqual([
      ['raised', 'system', ''],
      ['audio-paused', 'nurse.jones', '10.0.0.7'],
      ['audio-pause-expired', 'system', ''],
      ['acknowledged', 'nurse.jones', '10.0.0.7'],
    ]);
  });
});
