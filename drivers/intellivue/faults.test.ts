// Every fault in the issue, against the simulator through a pty pair: refused association, monitor
// restart (silent, and with an abort), cable pulled, FCS errors, aborted frames. Each has a defined
// outcome: counters, logs with context, status, recovery — never a crash.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, waitFor, type FakeContext } from '../serial/testing.js';
import { IntellivueDriver } from './index.js';
import { buildPlan } from './options.js';
import { SIM_ALARMS } from './simulator.js';
import { fastOptions, rig, type Rig } from './test-support.js';

let r: Rig | undefined;
let driver: IntellivueDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  await r?.close();
  driver = undefined;
  r = undefined;
});

const hrCount = (ctx: FakeContext) => ctx.readings().filter((x) => x.mdc?.refid === 'MDC_ECG_HEART_RATE').length;

async function online(ctx: FakeContext, extra = {}): Promise<IntellivueDriver> {
  driver = new IntellivueDriver(buildPlan(fastOptions(r!.hostPath, extra)), ctx);
  await driver.start();
  await waitFor('HR readings', () => hrCount(ctx) >= 1);
  return driver;
}

describe('intellivue faults', () => {
  it('refused association: reported, logged, retried until accepted', async () => {
    r = await rig();
    r.sim.refuseNext(3);
    const ctx = fakeContext();
    await online(ctx);
    expect(ctx.counter('associations_refused')).toBe(3);
    expect(ctx.statuses().some((s) => s.state === 'error' && /refused/.test(s.detail))).toBe(true);
    // Warned about once (and the device's status once), not at every retry: a refusing monitor retries all day.
    const warned = ctx.logs.filter((l) => l.level === 40).map((l) => String(l.msg));
    expect(warned.filter((m) => /^intellivue association refused/.test(m))).toHaveLength(1);
    expect(warned.filter((m) => /^intellivue device error/.test(m))).toHaveLength(1);
    expect(ctx.logs.some((l) => l.level === 40 && /association refused/.test(String(l.msg)) && l.device === 'mx800-1')).toBe(true);
    expect(ctx.logs.filter((l) => Number(l.level) >= 30 && /association refused by the monitor/.test(String(l.msg))).length).toBeLessThanOrEqual(1);
    expect(r.sim.received.filter((m) => m === 'assoc-request').length).toBe(4);
    expect(ctx.statuses().at(-1)?.state).toBe('online');
  });

  it('monitor switched off on a live line: each unanswered association request counted, warned about once', async () => {
    r = await rig();
    r.sim.mute = true;
    const ctx = fakeContext();
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('5 association time-outs', () => ctx.counter('association_timeouts') >= 5);
    const noAnswer = () => ctx.logs.filter((l) => l.level === 40 && /no answer to the association request/.test(String(l.msg)));
    expect(noAnswer()).toHaveLength(1);
    expect(noAnswer()[0]).toMatchObject({ device: 'mx800-1' });
    // Switched on again: said once, with the count.
    r.sim.mute = false;
    await waitFor('HR readings', () => hrCount(ctx) >= 1);
    const back = ctx.logs.find((l) => /answers the association request again/.test(String(l.msg)));
    expect(back?.timeouts).toBeGreaterThanOrEqual(5);
    expect(noAnswer()).toHaveLength(1);
  });

  it('monitor muted while online: the status says silent for the whole outage, not connecting at each association retry (review rv173 L1)', async () => {
    r = await rig();
    const ctx = fakeContext();
    await online(ctx);
    r.sim.mute = true;
    await waitFor('silent', () => ctx.statuses().some((s) => s.state === 'silent'), 5000);
    const silentAt = ctx.statuses().length;
    const timeouts = ctx.counter('association_timeouts');
    // fastOptions: a new association request every 500 ms while the line is dead.
    await waitFor('3 more association time-outs', () => ctx.counter('association_timeouts') >= timeouts + 3, 5000);
    expect(ctx.statuses().slice(silentAt).map((s) => s.state)).toEqual([]);
    expect(driver!.health().devices?.['mx800-1']?.state).toBe('silent');
    // The monitor answers again: online (not via a 'connecting' made by a retry while it was dead).
    r.sim.mute = false;
    await waitFor('online again', () => ctx.statuses().at(-1)?.state === 'online', 8000);
    expect(ctx.statuses().slice(silentAt - 1).map((s) => s.state)).toEqual(['silent', 'online']);
  });

  it('monitor restart without a word: silence → abort and re-associate; alarms ended; time re-based', async () => {
    r = await rig();
    r.sim.setAlarms([SIM_ALARMS.apnea]);
    const ctx = fakeContext();
    const d = await online(ctx);
    await waitFor('apnea start', () => ctx.alarms().some((a) => a.phase === 'start'));
    r.sim.restart(1200);
    await waitFor('re-association after silence', () => ctx.counter('reassociations') >= 1);
    await waitFor('apnea ended while the monitor is gone', () => ctx.alarms().some((a) => a.phase === 'end'));
    // The driver ended it, not the monitor: marked so, so that it is not taken as data from a live device.
    expect(ctx.alarms().find((a) => a.phase === 'end')?.endedBy).toBe('link-lost');
    const n = hrCount(ctx);
    await waitFor('readings again after the restart', () => hrCount(ctx) > n + 2, 8000);
    expect(ctx.counter('association_timeouts') + ctx.counter('reassociations')).toBeGreaterThanOrEqual(1);
    const last = ctx.readings().filter((x) => x.mdc?.refid === 'MDC_ECG_HEART_RATE').at(-1);
    // New relative-time origin, new MDS Create: device time still maps to the monitor's clock (+3 s).
    expect(Math.abs(last!.deviceTime! - last!.receivedAt - 3000)).toBeLessThan(1600);
    expect(ctx.alarms().filter((a) => a.phase === 'start').length).toBe(2); // the apnea again, as a new instance
    expect(d.health().state).toBe('running');
  });

  it('monitor restart with an abort: counted, re-associated at once', async () => {
    r = await rig();
    const ctx = fakeContext();
    await online(ctx);
    r.sim.restart(100, true);
    await waitFor('abort counted', () => ctx.counter('aborts_received') === 1);
    const n = hrCount(ctx);
    await waitFor('readings after re-association', () => hrCount(ctx) > n + 2);
    expect(ctx.logs.some((l) => /aborted by the monitor/.test(String(l.msg)))).toBe(true);
    expect(r.sim.received.filter((m) => m === 'assoc-request').length).toBeGreaterThanOrEqual(2);
  });

  it('cable pulled and plugged back (socat and simulator killed and restarted): the close and failed reopens are counted', async () => {
    r = await rig();
    const ctx = fakeContext();
    const d = await online(ctx);
    await r.unplug();
    await waitFor('offline reported', () => ctx.statuses().some((s) => s.state === 'offline'));
    expect(d.health().state).toBe('degraded');
    await new Promise((res) => setTimeout(res, 300)); // a few failed reopen attempts
    const n = hrCount(ctx);
    const failedReopens = ctx.counter('connect_failures');
    await r.replug();
    await waitFor('readings after replug', () => hrCount(ctx) > n + 2, 10000);
    const states = ctx.statuses().map((s) => s.state);
    expect(states.lastIndexOf('online')).toBeGreaterThan(states.indexOf('offline'));
    expect(ctx.counter('disconnects')).toBe(1);
    expect(failedReopens).toBeGreaterThanOrEqual(1);
  });

  it('FCS errors and aborted frames are counted and dropped; the session carries on; bad FCS is warned about once', async () => {
    r = await rig();
    const ctx = fakeContext();
    await online(ctx);
    r.sim.corruptNext(3);
    await waitFor('bad FCS counted', () => ctx.counter('frames_bad_fcs') >= 3);
    r.sim.abortNext(2);
    await waitFor('aborted frames counted', () => ctx.counter('frames_aborted') >= 2);
    const n = hrCount(ctx);
    await waitFor('readings continue', () => hrCount(ctx) > n + 3);
    expect(ctx.counter('parse_errors')).toBe(0);
    // At the default level (info) a line where every frame fails its FCS must still leave a line: the first, with the device.
    const fcs = ctx.logs.filter((l) => l.reason === 'fcs');
    expect(fcs).toHaveLength(1);
    expect(fcs[0]).toMatchObject({ level: 40, device: 'mx800-1' });
    expect(String(fcs[0]!.msg)).toMatch(/^intellivue bad frame dropped: FCS at offset .*repeats are counted as frames_bad_fcs/);
    expect(ctx.readings().every((x) => x.value === null || typeof x.value === 'number')).toBe(true);
  });
});
