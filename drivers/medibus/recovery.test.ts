// After an outage (review rv93 H1, M1): a line silence that ends before the session re-initialises restarts the
// alarm-page watch; a request the device never answers does not keep later outages and recoveries out of the log;
// silenceMs at or below quietReinitMs is warned of.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, memoryCable, waitFor, type FakeContext } from '../serial/testing.js';
import { CMD, encodeNak } from './protocol/index.js';
import { MedibusDriver, medibusDriver } from './index.js';
import { buildPlan, type MedibusOptions } from './options.js';
import { ScriptedDevice, fastOptions, sleep } from './test-support.js';

let driver: MedibusDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

/** The driver over an in-memory cable against a scripted device (data per command, a raw Buffer, or null: silent). */
async function scripted(answer: (code: number) => string | Buffer | null, extra: Partial<MedibusOptions>): Promise<FakeContext> {
  const { host, device: end } = memoryCable();
  await end.open();
  const dev = new ScriptedDevice(end, () => null);
  dev.answer = (code) => {
    const a = answer(code);
    if (Buffer.isBuffer(a)) {
      void end.write(a);
      return null;
    }
    return a;
  };
  const ctx = fakeContext();
  driver = new MedibusDriver(buildPlan({ ...fastOptions('/dev/x', { requests: ['measured1', 'alarms1'] }), ...extra }), ctx, () => host);
  await driver.start();
  return ctx;
}

const ident = (code: number) => (code === CMD.DEVICE_ID ? "0161'Evita'04.10:06.00" : '');

describe('a line silence that ends before the session re-initialises (rv93 H1)', () => {
  it('an alarm page refused after it still raises "alarm information not current"', async () => {
    const s = { mute: false, nakAlarms: false };
    const ctx = await scripted((code) => (s.mute ? null : code === CMD.ALARMS_CP1 && s.nakAlarms ? encodeNak() : ident(code)), {
      silenceMs: 800,
      quietReinitMs: 1500,
      retries: 4,
    });
    await sleep(700);
    s.mute = true;
    await sleep(1000);
    s.mute = false;
    await waitFor('back online', () => ctx.statuses('vent-1').map((x) => x.state).join() === 'connecting,online,silent,online');
    s.nakAlarms = true;
    // The stale bound is 2 × (100 + 2 × 300) = 1.4 s; the page is refused at every cycle.
    await waitFor('not current', () => ctx.alarms().some((a) => /not current/.test(a.text) && a.phase === 'start'), 4000);
    expect(ctx.counter('reinitialisations')).toBe(0);
    expect(driver?.health().detail).toMatch(/alarm page 1 not read for \d+ s/);
  }, 15_000);
});

describe('a request the device never answers (rv93 M1)', () => {
  it('with text NAKed at every cycle, two outages are each warned of, and each recovery logged', async () => {
    const s = { mute: false };
    const ctx = await scripted((code) => (s.mute ? null : code === CMD.TEXT_MESSAGES ? encodeNak() : ident(code)), {
      requests: ['measured1', 'alarms1', 'text'],
      silenceMs: 0,
    });
    await sleep(800);
    s.mute = true;
    await sleep(2500);
    s.mute = false;
    await sleep(1500);
    s.mute = true;
    await sleep(2500);
    s.mute = false;
    await sleep(1500);
    const msgs = ctx.logs.map((l) => String(l.msg));
    expect(msgs.filter((m) => /^medibus re-initialising/.test(m))).toHaveLength(2);
    expect(msgs.filter((m) => /^medibus device answers again/.test(m))).toHaveLength(2);
  }, 20_000);
});

describe('silenceMs at or below quietReinitMs (rv93 H1)', () => {
  const base: MedibusOptions = { id: 'v1', path: '/dev/x' };
  it('is warned of when the agent drives the line', () => {
    const w = medibusDriver.warnings?.({ ...base, silenceMs: 5000 }) ?? [];
    expect(w.map((x) => x.field)).toEqual(['options.silenceMs']);
    expect(w[0]?.message).toMatch(/^5000 is not longer than quietReinitMs \(10000 ms by default\)/);
    expect(medibusDriver.warnings?.({ ...base, silenceMs: 8000, quietReinitMs: 8000 }).map((x) => x.field)).toEqual(['options.silenceMs']);
    // Only quietReinitMs written: said at it, naming the default silenceMs.
    const q = medibusDriver.warnings?.({ ...base, quietReinitMs: 20000 }) ?? [];
    expect(q.map((x) => x.field)).toEqual(['options.quietReinitMs']);
    expect(q[0]?.message).toMatch(/^20000 is not shorter than silenceMs \(15000 ms by default\)/);
  });
  it('is not warned of at the defaults, with silence detection off, when listening only, or for options refused', () => {
    for (const o of [base, { ...base, silenceMs: 0 }, { ...base, silenceMs: 5000, listenOnly: true }, { ...base, silenceMs: 20000, quietReinitMs: 15000 }, { ...base, silenceMs: 500, quietReinitMs: 100 }]) {
      expect(medibusDriver.warnings?.(o) ?? []).toEqual([]);
    }
  });
});
