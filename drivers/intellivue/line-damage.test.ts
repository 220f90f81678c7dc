// A monitor whose every frame arrives with a bad FCS (what a wrong baud rate, or a bad cable, gives: bytes, but no frame
// checks), over a socat pty pair with the real serialport and driver, its events fed into the real AlarmEngine as the
// agent feeds it. Review rv49 M1: the device was silent to the technical monitor, its status said "opening".
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, feedEngine, waitFor } from '../serial/testing.js';
import { IntellivueDriver } from './index.js';
import { buildPlan } from './options.js';
import { fastOptions, memDriver, rig, type Rig } from './test-support.js';

let r: Rig | undefined;
let driver: IntellivueDriver | undefined;
let fed: ReturnType<typeof feedEngine> | undefined;
afterEach(async () => {
  fed?.stop();
  await driver?.stop();
  await r?.close();
  driver = undefined;
  r = undefined;
});

const SILENT_AFTER_S = 3;

describe('intellivue on a line where every frame is damaged', () => {
  it('gets a "no data" technical alarm, and its health names the bad FCS and what to check', async () => {
    r = await rig();
    r.sim.corruptNext(1e9);
    const ctx = fakeContext();
    fed = feedEngine(ctx, SILENT_AFTER_S);
    const { technical } = fed;
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('a "no data" technical alarm', () => technical().some((a) => /^No data from mx800-1 for \d+ s/.test(a.condition.text)), (SILENT_AFTER_S + 5) * 1000);
    expect(technical().find((a) => a.condition.text.startsWith('No data'))).toMatchObject({ deviceId: 'mx800-1', bed: 'ICU-7' });
    expect(ctx.statuses()[0]).toMatchObject({ state: 'connecting', deviceId: 'mx800-1', bed: 'ICU-7' });
    expect(ctx.counter('frames_bad_fcs')).toBeGreaterThanOrEqual(1);
    const detail = driver.health().devices?.['mx800-1']?.detail ?? '';
    expect(detail).not.toMatch(/^opening/);
    expect(detail).toMatch(/\d+ frame\(s\) with a bad FCS/);
    expect(detail).toMatch(/check baud rate, parity and cable/);
  }, 15_000);

  it('a monitor that associates gives no technical alarm at its start', async () => {
    r = await rig();
    const ctx = fakeContext();
    fed = feedEngine(ctx, SILENT_AFTER_S);
    const { technical } = fed;
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('online', () => ctx.statuses().some((s) => s.state === 'online'));
    await new Promise((res) => setTimeout(res, (SILENT_AFTER_S + 1) * 1000)); // past the silence limit
    expect(technical()).toEqual([]);
    expect(ctx.statuses().map((s) => s.state)).toEqual(['connecting', 'online']);
  }, 15_000);

  it('the warning that the association request is not answered carries the line damage and what to check (review rv173 L3)', async () => {
    r = await rig();
    r.sim.corruptNext(1e9);
    const ctx = fakeContext();
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    const noAnswer = () => ctx.logs.find((l) => l.level === 40 && /no answer to the association request/.test(String(l.msg)));
    await waitFor('the no-answer warning', () => noAnswer() !== undefined);
    const w = noAnswer()!;
    expect(String(w.msg)).toMatch(/no valid frame among \d+ frame\(s\) with a bad FCS.*: check baud rate, parity and cable/);
    expect(w).toMatchObject({ device: 'mx800-1' });
    expect(Number(w.badFrames)).toBeGreaterThanOrEqual(1);
  }, 15_000);

  it('noise alone (no frame at all) is named too; a quiet line is not blamed', async () => {
    const noisy = await memDriver({}, null);
    driver = noisy.driver;
    noisy.link.rxRaw(Buffer.alloc(300, 0x55));
    const noAnswer = () => noisy.ctx.logs.find((l) => l.level === 40 && /no answer to the association request/.test(String(l.msg)));
    await waitFor('the no-answer warning', () => noAnswer() !== undefined);
    expect(String(noAnswer()!.msg)).toMatch(/no valid frame among 300 noise byte\(s\): check baud rate, parity and cable/);
    expect(noAnswer()).toMatchObject({ noiseBytes: 300 });
    await driver.stop();
    // Nothing on the line (a monitor switched off): no line damage to name.
    const quiet = await memDriver({}, null);
    driver = quiet.driver;
    const quietNoAnswer = () => quiet.ctx.logs.find((l) => l.level === 40 && /no answer to the association request/.test(String(l.msg)));
    await waitFor('the no-answer warning', () => quietNoAnswer() !== undefined);
    expect(String(quietNoAnswer()!.msg)).not.toMatch(/baud rate/);
  });

  it('an association whose line turns to noise: the quiet-line warning names it and what to check', async () => {
    const noisy = await memDriver();
    driver = noisy.driver;
    noisy.link.rxRaw(Buffer.alloc(40, 0x55));
    const quietLine = () => noisy.ctx.logs.find((l) => l.level === 40 && /no frame from the monitor for/.test(String(l.msg)));
    await waitFor('the quiet-line warning', () => quietLine() !== undefined);
    expect(String(quietLine()!.msg)).toMatch(/no frame from the monitor for 800 ms; no valid frame among 40 noise byte\(s\): check baud rate, parity and cable; re-associating/);
    expect(quietLine()).toMatchObject({ noiseBytes: 40, badFrames: 0 });
  });
});

