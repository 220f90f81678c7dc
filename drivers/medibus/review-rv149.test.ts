// Review rv149: another ventilator answering on the port after a replug is said (H1); the set rates 09H and 0AH are
// named for what they are (M1); the bedside alarm of a pulled adapter says so (L1). Over the socat rig and the real
// simulator, as the other Medibus tests.
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmEngine, DEFAULT_ENGINE_CONFIG } from '../../agent/alarms/engine.js';
import { SerialPortLink } from '../serial/serialport-link.js';
import { deviceRig, fakeContext, feedEngine, waitFor, type FakeContext } from '../serial/testing.js';
import { lookup } from './codes.js';
import { MedibusDriver } from './index.js';
import { buildPlan } from './options.js';
import { MedibusSimulator, type SimulatorOptions } from './simulator.js';
import { fastOptions, rig, sleep } from './test-support.js';

const LINE = { baudRate: 19200, dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' } as const;
const EVITA: SimulatorOptions = { id: '0161', name: 'Evita', revision: '04.10' };
const SAVINA: SimulatorOptions = { id: '0200', name: 'Savina', revision: '01.00' };

const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
  stops.length = 0;
});

/** The driver online against a simulator identified as `first`; then unplugged, and replugged with `second`. */
async function replugWith(first: SimulatorOptions, second: SimulatorOptions): Promise<{ ctx: FakeContext; hostPath: string; readingsBefore: number }> {
  let simOpts = first;
  const r = await deviceRig('medibus-rv149', async (p) => {
    const s = new MedibusSimulator(new SerialPortLink({ path: p, ...LINE }), simOpts);
    await s.start();
    return s;
  });
  stops.push(() => r.close());
  const ctx = fakeContext();
  const driver = new MedibusDriver(buildPlan(fastOptions(r.hostPath, { requests: ['measured1', 'alarms1'] })), ctx);
  stops.push(() => driver.stop());
  await driver.start();
  await waitFor('online', () => ctx.statuses('vent-1').some((s) => s.state === 'online'));
  await r.unplug();
  await sleep(300);
  simOpts = second;
  await r.replug();
  const readingsBefore = ctx.readings('vent-1').length;
  await waitFor('online again', () => ctx.statuses('vent-1').filter((s) => s.state === 'online').length >= 2, 10_000);
  await waitFor('readings again', () => ctx.readings('vent-1').length > readingsBefore + 5, 5000);
  return { ctx, hostPath: r.hostPath, readingsBefore };
}

const identityAlarms = (ctx: FakeContext) => ctx.alarms().filter((a) => /different ventilator/i.test(a.text));

describe('another ventilator behind the port after a replug (rv149 H1)', () => {
  it('raises a medium technical alarm naming both identities and the port, warns in the log, and readings keep flowing', async () => {
    const { ctx, hostPath, readingsBefore } = await replugWith(EVITA, SAVINA);
    const alarms = identityAlarms(ctx);
    // Momentary: its end comes with its start, and the alarm latches until someone acknowledges it.
    expect(alarms.map((a) => a.phase)).toEqual(['start', 'end']);
    const a = alarms[0]!;
    expect(a).toMatchObject({ deviceId: 'vent-1', bed: 'ICU-3', category: 'technical', priority: 'medium', momentary: true });
    expect(a.text).toContain(hostPath);
    expect(a.text).toMatch(/was Evita 0161 04\.10, now Savina 0200 01\.00/);
    expect(a.text).toMatch(/check .*cabl.*port/);
    expect(alarms[1]?.endedBy).toBeUndefined();
    // In the agent's alarm engine it stays in view, latched, until someone acknowledges it.
    const engine = new AlarmEngine(DEFAULT_ENGINE_CONFIG);
    for (const e of ctx.events) engine.ingest(e);
    expect(engine.list().filter((x) => /different ventilator/i.test(x.condition.text)).map((x) => [x.state, x.priority, x.bed])).toEqual([['latched', 'medium', 'ICU-3']]);
    const warn = ctx.logs.find((l) => Number(l.level) === 40 && /different ventilator/i.test(String(l.msg)));
    expect(warn).toMatchObject({ device: 'vent-1', was: 'Evita 0161 04.10', now: 'Savina 0200 01.00' });
    // A replaced ventilator at the same bed is routine: its readings are not held back.
    const after = ctx.readings('vent-1').slice(readingsBefore).filter((r) => r.value !== null);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((r) => r.quality.state !== 'valid')).toEqual([]);
  }, 30_000);

  it('the same ventilator back after a replug: no alarm', async () => {
    const { ctx } = await replugWith(EVITA, EVITA);
    expect(identityAlarms(ctx)).toEqual([]);
    expect(ctx.logs.filter((l) => /different ventilator/i.test(String(l.msg)))).toEqual([]);
  }, 30_000);
});

describe('a pulled adapter, as the bedside alarm says it (rv149 L1)', () => {
  it('the "disconnected" technical alarm names the unplugged adapter, not only "bad file descriptor"', async () => {
    const r = await rig();
    stops.push(() => r.close());
    const ctx = fakeContext();
    const eng = feedEngine(ctx, 30);
    stops.push(() => eng.stop());
    const driver = new MedibusDriver(buildPlan(fastOptions(r.hostPath, { requests: ['measured1', 'alarms1'], backoff: { initialMs: 200, maxMs: 1000 } })), ctx);
    stops.push(() => driver.stop());
    await driver.start();
    await waitFor('online', () => ctx.statuses('vent-1').some((s) => s.state === 'online'));
    await r.unplug();
    await waitFor('connection alarm', () => eng.technical().some((a) => /disconnected/.test(a.condition.text)), 15_000);
    const text = eng.technical().find((a) => /disconnected/.test(a.condition.text))!.condition.text;
    expect(text).toMatch(/USB serial adapter unplugged/);
  }, 30_000);
});

describe('Medibus set rates 09H and 0AH (rv149 M1)', () => {
  it('09H is the IMV/SIMV rate, 0AH the IPPV rate, both per minute, neither a plain "RR (set)"', () => {
    for (const profile of ['classic', 'medibus-x'] as const) {
      const imv = lookup('set', 0x09, profile);
      const ippv = lookup('set', 0x0a, profile);
      expect(imv.raw).toEqual({ system: 'medibus', code: 'set:09', text: 'f IMV/SIMV (set)' });
      expect(ippv.raw).toEqual({ system: 'medibus', code: 'set:0A', text: 'f IPPV (set)' });
      expect(imv.unit.ucum).toBe('/min');
      expect(ippv.unit.ucum).toBe('/min');
      // No MDC term in agent/model/mdc.ts names a set mandatory rate: the vendor's raw code carries them.
      expect(imv.mdc).toBeNull();
      expect(ippv.mdc).toBeNull();
    }
  });
});
