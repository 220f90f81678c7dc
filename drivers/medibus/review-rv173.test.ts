// Review rv173: a Medibus.X ventilator whose slow channel stops while its realtime curves keep flowing is handled like
// a quiet line, and the bedside is never left without a technical alarm while it does not answer (M2); the `retries`
// text says what the driver does (L2); a re-initialisation on a garbled line names the line damage (L3); a value that
// is neither a number nor dashes is a misread (L4); the test rig leaves no folder behind. Over the socat rig and the
// real simulator (M2, L3, the rig), or a tap fed by hand (L4).
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, feedEngine, MemoryLink, waitFor, type FakeContext } from '../serial/testing.js';
import { CMD, encodeResponse } from './protocol/index.js';
import { MedibusDriver } from './index.js';
import { buildPlan, type MedibusOptions } from './options.js';
import { configSchema } from './schema.js';
import { fastOptions, rig, sleep, tenthOptions, type Rig } from './test-support.js';

let r: Rig | undefined;
let driver: MedibusDriver | undefined;
let fed: ReturnType<typeof feedEngine> | undefined;
const timers: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  fed?.stop();
  await driver?.stop();
  await r?.close();
  fed = undefined;
  driver = undefined;
  r = undefined;
});

const NOT_ANSWERING = /^Ventilator vent-1 not answering: its data and alarms are not current \(.+\); watch the ventilator itself$/;

describe('a slow channel that stops while the realtime curves keep flowing (rv173 M2)', () => {
  it('is handled like a quiet line: alarm ended at the re-initialisation, then silent and "No data"; a technical alarm stands until a cycle is answered', async () => {
    r = await rig();
    const sim = r.sim;
    sim.setAlarms(1, [{ priority: 25, code: 0x10, text: 'PAW HIGH' }]);
    const ctx = fakeContext();
    fed = feedEngine(ctx, 30); // the agent's own "no data" is 30 s away: what comes sooner is the driver's doing
    const engine = fed.engine;
    driver = new MedibusDriver(buildPlan(tenthOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('alarm and curves', () => ctx.alarms().some((a) => a.phase === 'start') && ctx.waveforms().length > 2, 10_000);

    const t0 = Date.now();
    const mark = ctx.events.length;
    sim.slowChannelMute = true;
    // What the bedside shows, every 50 ms: is a technical condition up once the ventilator's alarm has ended?
    const present = () => engine.list().filter((a) => a.conditionPresent);
    const gaps: number[] = [];
    let pawEnded = false;
    timers.push(
      setInterval(() => {
        const up = present();
        if (up.some((a) => a.condition.text === 'PAW HIGH')) return;
        pawEnded = true;
        if (!up.some((a) => a.category === 'technical')) gaps.push(Date.now() - t0);
      }, 50),
    );
    // The status: silent at silenceMs after the last answer, though the curves' bytes keep coming.
    await waitFor('silent', () => ctx.statuses().some((s) => s.state === 'silent'), 4000);
    const silentAt = Date.now() - t0;
    expect(silentAt).toBeLessThan(3000); // 1.5 s; the alarm-page bound (3.8 s) and a whole cycle (5.4 s) come later
    await sleep(5000); // past both
    const after = ctx.events.slice(mark);
    const statuses = after.flatMap((e) => (e.kind === 'device-status' ? [`${e.state}: ${e.detail}`] : []));
    expect(statuses).toHaveLength(2);
    expect(statuses[0]).toMatch(/^connecting: initialise: line quiet for 1000 ms/);
    expect(statuses[1]).toMatch(/^silent: no answer for 1\.5 s on .*: only realtime curve bytes \(or noise with the top bit set\) arrive, the device answers no command$/);
    const alarms = after.flatMap((e) => (e.kind === 'alarm' ? [`${e.phase}:${e.text}${e.endedBy ? ` (${e.endedBy})` : ''}`] : []));
    // Ended by the re-initialisation of the quiet line, with the technical alarm raised first, in the same batch; the
    // pages' "not current" never came (their watch stopped with the re-initialisation), nor anything else.
    expect(alarms).toHaveLength(2);
    expect(alarms[0]?.replace(/^start:/, '')).toMatch(NOT_ANSWERING);
    expect(alarms[1]).toBe('end:PAW HIGH (link-lost)');
    const raised = ctx.alarms().find((a) => a.alarmId === 'vent-1:not-answering');
    expect(raised).toMatchObject({ category: 'technical', priority: 'medium', phase: 'start', bed: 'ICU-3', driverFinding: true }); // no data from the device (rv175 M1)
    expect(raised?.text).toContain('line quiet for 1000 ms');
    expect(ctx.logs.filter((l) => /^medibus re-initialising: line quiet for 1000 ms/.test(String(l.msg)))).toHaveLength(1);
    // At the bedside: the driver's technical alarm and the agent's "No data" (raised at once by `silent`), with no gap.
    expect(pawEnded).toBe(true);
    expect(gaps).toEqual([]);
    const texts = present().map((a) => a.condition.text);
    expect(texts.some((t) => NOT_ANSWERING.test(t))).toBe(true);
    expect(texts.some((t) => /^No data from vent-1: no answer for 1\.5 s/.test(t))).toBe(true);
    // The curves that still come cannot be scaled since the re-initialisation: counted, not sent.
    expect(ctx.counter('realtime_samples_dropped')).toBeGreaterThan(0);

    // It answers again: online, its alarm back, the technical alarms end once a whole cycle is answered.
    sim.slowChannelMute = false;
    await waitFor('not-answering ended', () => ctx.alarms().some((a) => a.alarmId === 'vent-1:not-answering' && a.phase === 'end'), 10_000);
    expect(ctx.alarms().find((a) => a.alarmId === 'vent-1:not-answering' && a.phase === 'end')?.endedBy).toBeUndefined();
    await waitFor('bedside clear of technical alarms', () => !present().some((a) => a.category === 'technical'), 5000);
    expect(ctx.statuses().at(-1)?.state).toBe('online');
    expect(present().map((a) => a.condition.text)).toEqual(['PAW HIGH']);
    expect(ctx.logs.some((l) => /^medibus device answers again/.test(String(l.msg)) || /not answering.*ends/.test(String(l.msg)))).toBe(true);
  }, 40_000);

  it('a device that stops answering on a quiet line: the same, silent from the link', async () => {
    r = await rig();
    const sim = r.sim;
    sim.setAlarms(1, [{ priority: 25, code: 0x10, text: 'PAW HIGH' }]);
    const ctx = fakeContext();
    fed = feedEngine(ctx, 30);
    driver = new MedibusDriver(buildPlan(tenthOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('alarm and curves', () => ctx.alarms().some((a) => a.phase === 'start') && ctx.waveforms().length > 2, 10_000);
    const mark = ctx.events.length;
    sim.mute = true;
    await waitFor('silent', () => ctx.statuses().some((s) => s.state === 'silent'), 4000);
    await sleep(500);
    const after = ctx.events.slice(mark);
    expect(after.flatMap((e) => (e.kind === 'device-status' ? [e.state] : []))).toEqual(['connecting', 'silent']);
    const alarms = after.flatMap((e) => (e.kind === 'alarm' ? [`${e.phase}:${e.text}${e.endedBy ? ` (${e.endedBy})` : ''}`] : []));
    expect(alarms).toHaveLength(2);
    expect(alarms[0]?.replace(/^start:/, '')).toMatch(NOT_ANSWERING);
    expect(alarms[1]).toBe('end:PAW HIGH (link-lost)');
    expect(fed.technical().map((a) => a.condition.text)).toEqual([expect.stringMatching(/^No data from vent-1: no data for 1\.5 s on /)]);
  }, 20_000);
});

describe('the retries option says what the driver does (rv173 L2)', () => {
  it('a request out of retries is skipped until the next cycle, not a restart with ICC', () => {
    const text = (configSchema as { properties: Record<string, { description: string }> }).properties.retries?.description ?? '';
    expect(text).not.toMatch(/before the session starts over/);
    expect(text).toMatch(/skipped for this cycle and asked again at the next .*requests_unanswered/);
    expect(text).toMatch(/whole cycle's worth of requests/); // the re-initialisation that does come, and when
  });
});

describe('a re-initialisation on a garbled line names the line damage (rv173 L3)', () => {
  it('the warning carries the damaged frames and noise bytes since the last good frame, and the hint', async () => {
    r = await rig();
    const sim = r.sim;
    sim.mute = true;
    // What a wrong baud rate makes of the device's answers: each byte read as two others.
    const scramble = (f: Buffer) => Buffer.from([...f].flatMap((b) => [((b << 1) & 0xff) | 1, 0xfe ^ b]));
    const garbled = scramble(encodeResponse(CMD.DATA_CP1, '7D  22'));
    timers.push(setInterval(() => void sim.sendRaw(garbled).catch(() => undefined), 50));
    const ctx = fakeContext();
    driver = new MedibusDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('re-initialised', () => ctx.counter('reinitialisations') >= 1, 5000);
    const warn = ctx.logs.find((l) => /^medibus re-initialising: /.test(String(l.msg)));
    expect(String(warn?.msg)).toMatch(/; no valid frame among (\d+ frame\(s\) with a bad checksum, )?(\d+ other damaged frame\(s\), )?\d+ noise byte\(s\): check baud rate, parity and cable \(repeats/);
    expect(warn).toMatchObject({ level: 40, device: 'vent-1', noiseBytes: expect.any(Number) });
    expect(Number(warn?.noiseBytes)).toBeGreaterThan(0);
  }, 15_000);

  it('a device that is only switched off is not blamed on the line', async () => {
    r = await rig();
    r.sim.mute = true;
    const ctx = fakeContext();
    driver = new MedibusDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('re-initialised', () => ctx.counter('reinitialisations') >= 1, 5000);
    const warn = ctx.logs.find((l) => /^medibus re-initialising: /.test(String(l.msg)));
    expect(String(warn?.msg)).toMatch(/^medibus re-initialising: no response to ICC within 300 ms \(repeats/);
    expect(warn?.noiseBytes).toBeUndefined();
  }, 15_000);
});

describe('a value that is neither a number nor dashes (rv173 L4)', () => {
  /** A listen-only driver on a tap the test feeds by hand. */
  async function tap(): Promise<{ ctx: FakeContext; link: MemoryLink }> {
    const link = new MemoryLink('mem:tap', true);
    const ctx = fakeContext();
    driver = new MedibusDriver(buildPlan({ id: 'v1', bed: 'ICU-3', path: '/dev/x', listenOnly: true, silenceMs: 0 }), ctx, () => link);
    await driver.start();
    await waitFor('tap open', () => link.isOpen);
    return { ctx, link };
  }

  it('is a misread: invalid, counted each time, warned once per code; dashes and blanks stay unavailable', async () => {
    const { ctx, link } = await tap();
    for (let i = 0; i < 3; i++) {
      link.arrive(encodeResponse(CMD.DATA_CP1, '7D----' + '78    ' + 'B912#4' + 'F09999' + 'D6-1.5'));
      link.arrive(encodeResponse(CMD.SETTINGS, '0B 5.0 ' + '01 4O  '));
    }
    const last = (code: string) => ctx.readings().filter((x) => x.raw?.code === code).at(-1);
    expect(last('cp1:B9')).toMatchObject({ value: null, quality: { state: 'invalid', reasons: ['device-value:"12#4"'] } });
    expect(last('set:01')).toMatchObject({ value: null, quality: { state: 'invalid', reasons: ['device-value:" 4O  "'] } });
    expect(last('cp1:7D')).toMatchObject({ value: null, quality: { state: 'unavailable', reasons: ['device-value:"----"'] } });
    expect(last('cp1:78')).toMatchObject({ value: null, quality: { state: 'unavailable', reasons: ['device-value:"    "'] } });
    // No plausibility bounds: passed as the ventilator sends them (the README says so).
    expect(last('cp1:F0')).toMatchObject({ value: 9999, quality: { state: 'valid' } });
    expect(last('cp1:D6')).toMatchObject({ value: -1.5, quality: { state: 'valid' } });
    expect(last('set:0B')).toMatchObject({ value: 5, quality: { state: 'valid' } });
    expect(ctx.counter('values_unreadable')).toBe(6);
    const warned = ctx.logs.filter((l) => /^medibus value not readable/.test(String(l.msg)));
    expect(warned.map((l) => [l.level, l.device, l.code, l.value])).toEqual([
      [40, 'v1', 'cp1:B9', '12#4'],
      [40, 'v1', 'set:01', ' 4O  '],
    ]);
  });
});

describe('the test rig (rv173)', () => {
  it('removes its folder when closed', async () => {
    r = await rig();
    const dir = r.dir;
    expect(existsSync(dir)).toBe(true);
    await r.close();
    r = undefined;
    expect(existsSync(dir)).toBe(false);
  });
});
