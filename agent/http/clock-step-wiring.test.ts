// A step of the gateway's wall clock reaches the display in a real agent (review rv147 F2): the alarm service sees it
// against performance.now() at its tick and tells the ward (Agent wiring), which moves its instants; open streams are
// told to reconnect. Only Date is faked here (stepped by hand); performance.now() and the timers run for real.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MDC } from '../model/mdc.js';
import { openStream, reading, startDisplayAgent, type DisplayAgent } from '../../test/browser/display-fixtures.js';

const HOUR_MS = 3_600_000;

describe('clock step → display (Agent wiring)', () => {
  let d: DisplayAgent | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await d?.close();
    d = undefined;
  });

  it('a step back of 1 h moves the ward\'s instants and tells open streams', async () => {
    // Before the agent is made: the alarm service reads the Date.now it finds then.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    d = await startDisplayAgent();
    const s = await openStream(d.url);
    await s.waitFor((e) => e.event === 'ward');
    const at = Date.now();
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { at })]);
    expect(d.agent.display!.ward.lastDataAt('bed-1')).toBe(at);
    vi.setSystemTime(Date.now() - HOUR_MS);
    const told = await s.waitFor((e) => e.event === 'clock-stepped'); // at the alarm service's next tick (500 ms)
    expect((told.data as { deltaMs: number }).deltaMs).toBeLessThan(-HOUR_MS + 2000);
    const moved = d.agent.display!.ward.lastDataAt('bed-1')!;
    expect(Math.abs(moved - (at - HOUR_MS))).toBeLessThan(2000);
    s.close();
  }, 20_000);
});
