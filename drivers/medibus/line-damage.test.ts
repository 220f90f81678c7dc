// A ventilator whose every answer arrives damaged (what a wrong baud rate or parity, or a bad cable, gives: bytes, but
// no frame checks), over a socat pty pair with the real serialport, the real driver and, where alarms matter, the real
// AlarmEngine fed as the agent feeds it. Review rv49 M1 (silent to the technical monitor) and M2 (ICC flood).
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, feedEngine, waitFor } from '../serial/testing.js';
import { CMD } from './protocol/index.js';
import { MedibusDriver } from './index.js';
import { buildPlan } from './options.js';
import { fastOptions, rig, type Rig } from './test-support.js';

let r: Rig | undefined;
let driver: MedibusDriver | undefined;
let fed: ReturnType<typeof feedEngine> | undefined;
afterEach(async () => {
  fed?.stop();
  await driver?.stop();
  await r?.close();
  driver = undefined;
  r = undefined;
});

const SILENT_AFTER_S = 3;

describe('medibus on a line where every answer is damaged', () => {
  it('gets a "no data" technical alarm like a device switched off, and its health says why: port open, bad checksums, check the line', async () => {
    r = await rig();
    r.sim.corruptNext(1e9);
    const ctx = fakeContext();
    fed = feedEngine(ctx, SILENT_AFTER_S);
    const { technical } = fed;
    driver = new MedibusDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('a "no data" technical alarm', () => technical().some((a) => /^No data from vent-1 for \d+ s/.test(a.condition.text)), (SILENT_AFTER_S + 5) * 1000);
    expect(technical().find((a) => a.condition.text.startsWith('No data'))).toMatchObject({ deviceId: 'vent-1', bed: 'ICU-3' });
    expect(ctx.statuses()[0]).toMatchObject({ state: 'connecting', deviceId: 'vent-1', bed: 'ICU-3' });
    expect(ctx.readings()).toEqual([]);
    const detail = driver.health().devices?.['vent-1']?.detail ?? '';
    expect(detail).not.toMatch(/^opening/);
    expect(detail).toMatch(/open; no valid answer from the device yet/);
    expect(detail).toMatch(/\d+ frame\(s\) with a bad checksum/);
    expect(detail).toMatch(/check baud rate, parity and cable/);
  }, 15_000);

  it('a device that answers gives no technical alarm at its start', async () => {
    r = await rig();
    const ctx = fakeContext();
    fed = feedEngine(ctx, SILENT_AFTER_S);
    const { technical } = fed;
    driver = new MedibusDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('online', () => ctx.statuses().some((s) => s.state === 'online'));
    await new Promise((res) => setTimeout(res, (SILENT_AFTER_S + 1) * 1000)); // past the silence limit
    expect(technical()).toEqual([]);
    expect(ctx.statuses().map((s) => s.state)).toEqual(['connecting', 'online']);
    expect(driver.health().devices?.['vent-1']?.detail).not.toMatch(/check baud rate/);
  }, 15_000);

  it('re-initialises after damaged answers with a growing pause, not as fast as the line carries ICC and answer', async () => {
    r = await rig();
    r.sim.corruptNext(1e9);
    const ctx = fakeContext();
    const opts = fastOptions(r.hostPath); // responseTimeoutMs 300, one retry
    driver = new MedibusDriver(buildPlan(opts), ctx);
    const t0 = Date.now();
    await driver.start();
    await new Promise((res) => setTimeout(res, 3000));
    const sim = r.sim;
    const icc = sim.received.filter((c) => c === CMD.ICC).length;
    const elapsed = Date.now() - t0;
    // Each round is the ICC and its one immediate retry, then a pause of at least responseTimeoutMs before the next.
    const bound = 2 * (Math.floor(elapsed / (opts.responseTimeoutMs ?? 300)) + 1);
    expect(icc).toBeGreaterThanOrEqual(2); // it did try
    expect(sim.received.length).toBe(icc); // only ICC: it never got further
    expect(icc).toBeLessThanOrEqual(bound);
    expect(ctx.counter('reinitialisations')).toBeLessThanOrEqual(bound / 2);
  }, 10_000);
});
