// A step of the gateway's clock told to the rest of the agent (AlarmService.onClockStep: the display, the edge model's
// server side; review rv147 F2), and the gateway alarm telling each step, not only the first (review rv147 F4).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { AlarmEngine } from './engine.js';
import { nurse } from './fixtures.js';
import { AlarmService, MAX_CLOCK_STEP_ALARMS } from './service.js';

function rig() {
  let wall = Date.UTC(2026, 0, 1);
  let mono = 0;
  const engine = new AlarmEngine({ idPrefix: 't' });
  const service = new AlarmService(engine, () => undefined, pino({ level: 'silent' }), new Metrics(), () => wall, () => mono);
  service.tick();
  /** 500 ms of real time, the wall clock stepping by `deltaMs` meanwhile, then a tick. */
  const step = (deltaMs: number) => {
    wall += 500 + deltaMs;
    mono += 500;
    service.tick();
  };
  const clockAlarms = () => engine.list().filter((a) => a.key.startsWith('gateway:clock-step')).map((a) => a.condition.text);
  return { engine, service, step, clockAlarms };
}

describe('AlarmService.onClockStep', () => {
  it('tells each listener of each step once, with its size; a slew is not told; unsubscribe stops it', () => {
    const r = rig();
    const told: number[] = [];
    const off = r.service.onClockStep((d) => told.push(d));
    r.step(-3_600_000);
    r.step(1_000); // a slew under CLOCK_STEP_MS
    r.step(5_000);
    expect(told).toEqual([-3_600_000, 5_000]);
    off();
    r.step(-5_000);
    expect(told).toHaveLength(2);
  });

  it('a listener that throws does not stop the alarm side nor the other listeners', () => {
    const r = rig();
    const told: number[] = [];
    r.service.onClockStep(() => {
      throw new Error('boom');
    });
    r.service.onClockStep((d) => told.push(d));
    r.step(-3_600_000);
    expect(told).toEqual([-3_600_000]);
    expect(r.clockAlarms()).toEqual(['Gateway clock stepped by -3600 s']);
  });
});

describe('the clock-step alarm over repeated steps (rv147 F4)', () => {
  it('a second step while the first is latched unacknowledged is shown with its own size', () => {
    const r = rig();
    r.step(-3_600_000);
    r.step(3_000);
    expect(r.clockAlarms().sort()).toEqual(['Gateway clock stepped by -3600 s', 'Gateway clock stepped by 3 s']);
    for (const a of r.engine.list().filter((x) => x.key.startsWith('gateway:clock-step'))) {
      expect(a).toMatchObject({ priority: 'low', state: 'latched' });
      expect(r.service.acknowledge(a.id, nurse).ok).toBe(true);
    }
    expect(r.clockAlarms()).toEqual([]);
    r.step(-5_000);
    expect(r.clockAlarms()).toEqual(['Gateway clock stepped by -5 s']);
  });

  it(`a clock that keeps stepping: at most ${MAX_CLOCK_STEP_ALARMS} alarms with a size, then one saying it keeps stepping`, () => {
    const r = rig();
    for (let i = 1; i <= MAX_CLOCK_STEP_ALARMS + 4; i++) r.step(i * 10_000);
    const texts = r.clockAlarms();
    expect(texts).toHaveLength(MAX_CLOCK_STEP_ALARMS + 1);
    expect(texts.filter((t) => /^Gateway clock stepped by \d+ s$/.test(t))).toHaveLength(MAX_CLOCK_STEP_ALARMS);
    expect(texts.filter((t) => /keeps stepping/.test(t))).toHaveLength(1);
  });
});
