// Review rv131 (H1, M1): a realtime set-up (53H/54H) the device refuses or does not answer leaves the curves off and
// the data cycle running, at start and after a 56H; in listen-only mode an alarm page no longer seen on the tap ends
// its alarms after a bound learned from the gaps between the other host's reads.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, memoryCable, MemoryLink, waitFor, type FakeContext } from '../serial/testing.js';
import { CMD, encodeCommand, encodeNak, encodeResponse } from './protocol/index.js';
import { MedibusDriver } from './index.js';
import { buildPlan, type MedibusOptions } from './options.js';
import { ScriptedDevice, sleep } from './test-support.js';

let driver: MedibusDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

/** One alarm record: priority character ('0' + priority), two code characters, 12-character phrase. */
const alarmRecord = (priority: number, code: string, text: string) => `${String.fromCharCode(0x30 + priority)}${code}${text.padEnd(12).slice(0, 12)}`;
const DISCONNECT = alarmRecord(9, '9A', 'DISCONNECT');
const rtConfig = (code: string) => `${code}00008000  -20   80FFF`;

const normal = (code: number): string | null => {
  if (code === CMD.DEVICE_ID) return "0161'V500'04.10:06.00";
  if (code === CMD.RT_CONFIG) return rtConfig('00');
  if (code === CMD.DATA_CP1) return '7D  22';
  if (code === CMD.ALARMS_CP1) return DISCONNECT;
  return '';
};

const brief = (ctx: FakeContext) => ctx.alarms().map((a) => `${a.phase}:${a.text.trim()}${a.endedBy ? ` (${a.endedBy})` : ''}`);
const count = (dev: ScriptedDevice, code: number, from = 0) => dev.received.slice(from).filter((c) => c === code).length;
const warnings = (ctx: FakeContext) => ctx.logs.filter((l) => Number(l.level) >= 40).map((l) => String(l.msg));

/** The driver with realtime on, against a scripted ventilator on an in-memory cable. */
async function start(answer: (code: number, args: string) => string | null, device: ReturnType<typeof memoryCable>) {
  await device.device.open();
  const dev = new ScriptedDevice(device.device, answer);
  const ctx = fakeContext();
  const options: MedibusOptions = {
    id: 'v1',
    path: '/dev/x',
    requests: ['measured1', 'alarms1'],
    pollIntervalMs: 50,
    responseTimeoutMs: 200,
    retries: 1,
    silenceMs: 0,
    realtime: { enabled: true, codes: [0], segmentMs: 50 },
  };
  driver = new MedibusDriver(buildPlan(options), ctx, () => device.host);
  await driver.start();
  return { ctx, dev };
}

describe('a realtime set-up the device refuses or does not answer (rv131 H1)', () => {
  for (const [name, trouble] of [
    ['53H NAKed', /; realtime curves off: the device refused the realtime set-up \(NAK to 53H\)$/],
    ['53H unanswered', /; realtime curves off: the device did not answer the realtime set-up \(no response to 53H within 200 ms\)$/],
  ] as const) {
    it(`${name}: curves off, the cycle reads numerics and alarms, no re-initialisation, the set-up asked again later`, async () => {
      const cable = memoryCable();
      const { ctx, dev } = await start((code) => {
        if (code === CMD.RT_CONFIG) {
          if (name === '53H NAKed') void cable.device.write(encodeNak());
          return null;
        }
        return normal(code);
      }, cable);
      await waitFor('alarm pages read', () => count(dev, CMD.ALARMS_CP1) >= 3, 3000);
      expect(dev.received.slice(0, 4)).toEqual([CMD.ICC, CMD.DEVICE_ID, CMD.RT_CONFIG, CMD.RT_CONFIG]);
      expect(ctx.counter('reinitialisations')).toBe(0);
      expect(ctx.readings().length).toBeGreaterThan(0);
      expect(brief(ctx)).toEqual(['start:DISCONNECT']);
      expect(ctx.statuses().at(-1)?.state).toBe('online');
      expect(driver?.health().detail).toMatch(trouble);
      expect(driver?.health().detail).not.toMatch(/no valid answer/);
      // Asked again later with the back-off (5 segment lengths, then 10 ...), not warned again, nothing ended.
      await waitFor('set-up asked again', () => count(dev, CMD.RT_CONFIG) >= 4, 3000);
      await waitFor('cycle after it', () => count(dev, CMD.ALARMS_CP1, dev.received.lastIndexOf(CMD.RT_CONFIG)) >= 1, 3000);
      expect(ctx.counter('reinitialisations')).toBe(0);
      expect(brief(ctx)).toEqual(['start:DISCONNECT']);
      expect(warnings(ctx).filter((m) => /realtime set-up/.test(m))).toHaveLength(1);
      expect(warnings(ctx).filter((m) => /re-initialising/.test(m))).toEqual([]);
      // After the first failure each try is one 53H without retries: the cycle is not held for (retries + 1) time-outs.
      const later = dev.received.slice(4);
      expect(later.some((c, i) => c === CMD.RT_CONFIG && later[i + 1] === CMD.RT_CONFIG)).toBe(false);
    });
  }

  it('54H NAKed: no enable, curves off, the cycle runs', async () => {
    const cable = memoryCable();
    const { ctx, dev } = await start((code) => {
      if (code === CMD.RT_CONFIGURE) {
        void cable.device.write(encodeNak());
        return null;
      }
      return normal(code);
    }, cable);
    await waitFor('alarm pages read', () => count(dev, CMD.ALARMS_CP1) >= 3, 3000);
    expect(dev.received.slice(0, 5)).toEqual([CMD.ICC, CMD.DEVICE_ID, CMD.RT_CONFIG, CMD.RT_CONFIGURE, CMD.RT_CONFIGURE]);
    expect(ctx.counter('realtime_enables_sent')).toBe(0);
    expect(ctx.counter('reinitialisations')).toBe(0);
    expect(ctx.readings().length).toBeGreaterThan(0);
    expect(ctx.statuses().at(-1)?.state).toBe('online');
    expect(driver?.health().detail).toMatch(/; realtime curves off: the device refused the realtime set-up \(NAK to 54H\)$/);
  });

  it('a 56H, then 53H unanswered: the held alarm is not ended, readings keep coming, no re-initialisation', async () => {
    let answer53 = true;
    const cable = memoryCable();
    const { ctx, dev } = await start((code) => (code === CMD.RT_CONFIG && !answer53 ? null : normal(code)), cable);
    await waitFor('cycling with curves set up', () => count(dev, CMD.ALARMS_CP1) >= 2 && ctx.counter('realtime_enables_sent') === 1, 3000);
    expect(brief(ctx)).toEqual(['start:DISCONNECT']);
    answer53 = false;
    const before = dev.received.length;
    dev.send(encodeCommand(CMD.RT_CONFIG_CHANGED));
    await waitFor('53H given up', () => count(dev, CMD.RT_CONFIG, before) >= 2, 3000);
    const readings = ctx.readings().length;
    await sleep(1200);
    expect(ctx.readings().length).toBeGreaterThan(readings + 3);
    expect(count(dev, CMD.ALARMS_CP1, before)).toBeGreaterThan(3);
    expect(brief(ctx)).toEqual(['start:DISCONNECT']);
    expect(ctx.counter('reinitialisations')).toBe(0);
    expect(ctx.statuses().map((s) => s.state)).toEqual(['connecting', 'online']); // online from the first cycle on
    expect(driver?.health().detail).toMatch(/realtime curves off: the device did not answer the realtime set-up/);
    // The device answers 53H again: set up at the next try, the trouble gone from health.
    answer53 = true;
    await waitFor('set up again', () => ctx.counter('realtime_enables_sent') === 2, 3000);
    expect(driver?.health().detail).not.toMatch(/realtime/);
  });
});

describe('listen-only: an alarm page no longer seen on the tap (rv131 M1)', () => {
  let mono = 0;
  async function tap() {
    mono = 0;
    const link = new MemoryLink('tap', true);
    const ctx = fakeContext();
    const options: MedibusOptions = { id: 'v1', path: '/dev/x', listenOnly: true, silenceMs: 0, pollIntervalMs: 100, responseTimeoutMs: 300 };
    driver = new MedibusDriver(buildPlan(options), ctx, () => link, Date.now, () => mono);
    await driver.start();
    await sleep(20);
    return { link, ctx };
  }
  const tick = () => sleep(250); // the driver looks at its pages every 100 ms
  const notCurrent = (ctx: FakeContext) => ctx.alarms().filter((a) => a.raw?.code === 'alarm-page-1-not-current').map((a) => a.phase);

  it('one read, then only measured data: after 10 s its alarms end (link-lost) and "not current" is raised; a new read ends it', async () => {
    const { link, ctx } = await tap();
    link.arrive(encodeResponse(CMD.ALARMS_CP1, DISCONNECT));
    for (const t of [3000, 6000, 9000, 9900]) {
      mono = t;
      link.arrive(encodeResponse(CMD.DATA_CP1, '7D  22'));
      await tick();
    }
    expect(brief(ctx)).toEqual(['start:DISCONNECT']);
    mono = 10_200;
    await tick();
    expect(brief(ctx)).toEqual([
      'start:DISCONNECT',
      'end:DISCONNECT (link-lost)',
      'start:Alarm information from the ventilator not current: alarm page 1 not read for over 10 s; watch the ventilator itself',
    ]);
    expect(driver?.health().detail).toMatch(/alarm information from the ventilator not current \(alarm page 1 not read for \d+ s\)/);
    expect(warnings(ctx).filter((m) => /not current/.test(m))).toHaveLength(1);
    mono = 12_000;
    link.arrive(encodeResponse(CMD.ALARMS_CP1, DISCONNECT));
    await tick();
    expect(notCurrent(ctx)).toEqual(['start', 'end']);
    expect(brief(ctx).at(-2)).toBe('start:DISCONNECT');
    expect(driver?.health().detail).not.toMatch(/not current/);
  });

  it('the bound is learned from the gaps between the other host\'s reads: max(10 s, 3 x the longest recent gap)', async () => {
    const { link, ctx } = await tap();
    // The other host reads alarm page 1 every 5 s: the bound becomes 15 s, so 12 s without a read is current.
    for (let t = 0; t <= 20_000; t += 5000) {
      mono = t;
      link.arrive(encodeResponse(CMD.ALARMS_CP1, DISCONNECT));
      await tick();
    }
    mono = 20_000 + 12_000;
    await tick();
    mono = 20_000 + 14_900;
    await tick();
    expect(brief(ctx)).toEqual(['start:DISCONNECT']);
    mono = 20_000 + 15_200;
    await tick();
    expect(brief(ctx)).toEqual([
      'start:DISCONNECT',
      'end:DISCONNECT (link-lost)',
      'start:Alarm information from the ventilator not current: alarm page 1 not read for over 15 s; watch the ventilator itself',
    ]);
  });
});
