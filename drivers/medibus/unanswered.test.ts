// A request the device does not answer properly, while it answers the others (review rv90 H1, M1, M2, L3): the cycle
// goes on past it, an alarm page not read for too long raises "not current", re-initialisations are warned about once,
// a wrong code is named. H1 over a socat pty pair with the real serialport on both ends (the rv90 harness shape): a raw
// scripted device on one end, the real driver on the other.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SerialPortLink } from '../serial/serialport-link.js';
import { fakeContext, memoryCable, openPtyPair, waitFor, type FakeContext, type PtyPair } from '../serial/testing.js';
import { CMD, MedibusFramer, encodeNak, encodeResponse } from './protocol/index.js';
import { MedibusDriver } from './index.js';
import { buildPlan, type MedibusOptions } from './options.js';
import { ScriptedDevice, fastOptions, sleep } from './test-support.js';

const LINE = { baudRate: 19200, dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' } as const;

/** Answers a command with a response (or several chunks), or null to stay silent. */
type Answer = (code: number) => Buffer | null;

const DISCONNECT = encodeResponse(CMD.ALARMS_CP1, '\x39' + '9A' + 'DISCONNECT  '); // priority '9', code 9A
const nak = () => encodeNak();

/** The rv90 device: identifies itself, gives PIP on 24H and DISCONNECT on 27H, an empty page otherwise. */
const normal: Answer = (code) => {
  if (code === CMD.DEVICE_ID) return encodeResponse(code, "0161'Evita'04.10:06.00");
  if (code === CMD.DATA_CP1) return encodeResponse(code, '7D  22');
  if (code === CMD.ALARMS_CP1) return DISCONNECT;
  return encodeResponse(code);
};

class RawDevice {
  readonly link: SerialPortLink;
  readonly received: number[] = [];
  private readonly framer = new MedibusFramer();
  constructor(path: string, public answer: Answer) {
    this.link = new SerialPortLink({ path, ...LINE, pathCheckMs: 0 });
    this.link.onData((b) => {
      for (const ev of this.framer.push(b)) {
        if (ev.type !== 'frame' || ev.kind !== 'command') continue;
        this.received.push(ev.code);
        const r = this.answer(ev.code);
        if (r) void this.link.write(r).catch(() => undefined);
      }
    });
  }
}

let pty: PtyPair | undefined;
let ptyDir: string | undefined;
let device: RawDevice | undefined;
let driver: MedibusDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  await device?.link.close().catch(() => undefined);
  await pty?.close();
  if (ptyDir) rmSync(ptyDir, { recursive: true, force: true });
  driver = undefined;
  device = undefined;
  pty = undefined;
  ptyDir = undefined;
});

async function bench(answer: Answer, extra: Partial<MedibusOptions> = {}): Promise<{ ctx: FakeContext; dev: RawDevice }> {
  const dir = (ptyDir = mkdtempSync(join(tmpdir(), 'medibus-unanswered-')));
  pty = await openPtyPair({ a: join(dir, 'host'), b: join(dir, 'device') });
  device = new RawDevice(pty.b, answer);
  await device.link.open();
  const ctx = fakeContext('rv90');
  driver = new MedibusDriver(buildPlan(fastOptions(pty.a, { requests: ['measured1', 'measured2', 'alarms1'], ...extra })), ctx);
  await driver.start();
  return { ctx, dev: device };
}

const alarms = (ctx: FakeContext) => ctx.alarms().map((a) => `${a.phase}:${a.text}${a.endedBy ? ` (${a.endedBy})` : ''}`);
const warnings = (ctx: FakeContext, re: RegExp) => ctx.logs.filter((l) => l.level === 40 && re.test(String(l.msg)));

describe('a request the device does not answer, while it answers the others (rv90 H1)', () => {
  it('NAK on 2BH: the cycle goes on to 27H, the alarm listed there is raised and stays; no re-initialisation', async () => {
    const { ctx, dev } = await bench((code) => (code === CMD.DATA_CP2 ? nak() : normal(code)));
    await waitFor('five alarm page reads', () => dev.received.filter((c) => c === CMD.ALARMS_CP1).length >= 5);
    expect(alarms(ctx)).toEqual(['start:DISCONNECT']);
    expect(ctx.counter('reinitialisations')).toBe(0);
    expect(ctx.counter('requests_unanswered')).toBeGreaterThanOrEqual(4);
    expect(ctx.statuses().map((s) => s.state)).toEqual(['connecting', 'online']);
    // Warned about once, naming the request; the repeats are counted.
    const lines = warnings(ctx, /unanswered/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ device: 'vent-1', command: 'DATA_CP2' });
    expect(String(lines[0]?.msg)).toMatch(/NAK/);
    expect(ctx.readings().filter((r) => r.raw?.code === 'cp1:7D').length).toBeGreaterThanOrEqual(5);
  }, 15_000);

  it('an alarm page not read for two cycles raises "alarm information from the ventilator not current" and ends its alarms; read again, both end and start', async () => {
    let nakAlarms = false;
    const { ctx, dev } = await bench((code) => (code === CMD.ALARMS_CP1 && nakAlarms ? nak() : normal(code)));
    await waitFor('alarm raised', () => alarms(ctx).includes('start:DISCONNECT'));
    nakAlarms = true;
    await waitFor('not current', () => ctx.alarms().some((a) => /not current/.test(a.text) && a.phase === 'start'), 5000);
    const notCurrent = ctx.alarms().find((a) => /not current/.test(a.text));
    expect(notCurrent).toMatchObject({ category: 'technical', priority: 'medium', alarmId: 'vent-1:alarm-page-1-not-current' });
    expect(notCurrent?.text).toMatch(/^Alarm information from the ventilator not current: alarm page 1 not read for over \d+(\.\d+)? s; watch the ventilator itself$/);
    expect(alarms(ctx).slice(0, 2)).toEqual(['start:DISCONNECT', 'end:DISCONNECT (link-lost)']);
    expect(driver?.health().detail).toMatch(/alarm information from the ventilator not current \(alarm page 1 not read for \d+ s\)/);
    expect(ctx.counter('reinitialisations')).toBe(0);
    expect(ctx.statuses().at(-1)?.state).toBe('online');
    // Once only while it lasts.
    const reads = dev.received.length;
    await waitFor('more cycles', () => dev.received.length > reads + 9);
    expect(ctx.alarms().filter((a) => /not current/.test(a.text))).toHaveLength(1);
    expect(warnings(ctx, /not current/)).toHaveLength(1);
    nakAlarms = false;
    await waitFor('read again', () => ctx.alarms().filter((a) => /not current/.test(a.text)).length === 2);
    expect(alarms(ctx).slice(3)).toEqual(['start:DISCONNECT', expect.stringMatching(/^end:Alarm information from the ventilator not current/)]);
    expect(driver?.health().detail).not.toMatch(/not current/);
  }, 15_000);
});

/** The driver over an in-memory cable against a scripted device (data per command, or null: silent). */
async function scripted(answer: (code: number) => string | Buffer | null, extra: Partial<MedibusOptions> = {}) {
  const { host, device: end } = memoryCable();
  await end.open();
  const dev = new ScriptedDevice(end, () => null);
  // Raw answers (a NAK, a wrong code) go out as they are; strings are the data of the echoing response.
  dev.answer = (code) => {
    const a = answer(code);
    if (Buffer.isBuffer(a)) {
      void end.write(a);
      return null;
    }
    return a;
  };
  const ctx = fakeContext();
  driver = new MedibusDriver(buildPlan({ ...fastOptions('/dev/x', { requests: ['measured1', 'alarms1'], silenceMs: 0 }), ...extra }), ctx, () => host);
  await driver.start();
  return { ctx, dev, end };
}

const ident = (code: number) => (code === CMD.DEVICE_ID ? "0161'Evita'04.10:06.00" : '');

describe('a device that answers the handshake but no request (rv90 M1)', () => {
  it('re-initialises after a whole cycle unanswered, warned about once, with a growing pause', async () => {
    const { ctx, dev } = await scripted((code) => (code === CMD.ICC || code === CMD.DEVICE_ID ? ident(code) : nak()));
    await waitFor('3 re-initialisations', () => ctx.counter('reinitialisations') >= 3, 8000);
    await sleep(1500);
    expect(warnings(ctx, /^medibus (still )?re-initialising/)).toHaveLength(1);
    // Each pause doubles from responseTimeoutMs (300 ms): 300, 600, 1200, then quietReinitMs (1500) at most.
    const reinits = ctx.counter('reinitialisations');
    expect(reinits).toBeLessThanOrEqual(8);
    expect(dev.received.filter((c) => c === CMD.ICC).length).toBeLessThanOrEqual(reinits + 1);
    // Not "answers again": no cycle was answered.
    expect(ctx.logs.some((l) => /answers again/.test(String(l.msg)))).toBe(false);
  }, 15_000);
});

describe('a response with a code not asked for (rv90 M2)', () => {
  it('is logged with its code and the command pending, and the give-up says what the device answered', async () => {
    const { ctx } = await scripted((code) => (code === CMD.DATA_CP1 ? encodeResponse(0x7a) : ident(code)));
    await waitFor('24H given up twice', () => ctx.counter('requests_unanswered') >= 2);
    const unexpected = warnings(ctx, /unexpected response/);
    expect(unexpected).toHaveLength(1);
    expect(unexpected[0]).toMatchObject({ code: '7AH', pending: 'DATA_CP1' });
    const said = ctx.logs.filter((l) => /answered with 7AH instead of 24H/.test(String(l.msg)));
    expect(said.length).toBeGreaterThanOrEqual(1);
    expect(ctx.logs.some((l) => /no response to DATA_CP1/.test(String(l.msg)))).toBe(false);
  });
});

describe('bytes with the top bit set before realtime is set up (rv90 L3)', () => {
  it('count as noise in the health hint, as the other garbage does', async () => {
    const { end } = await scripted(() => null);
    await sleep(20);
    void end.write(Buffer.from([0x41, 0x85, 0x42, 0xf0, 0x43, 0xff]));
    await sleep(20);
    expect(driver?.health().detail).toMatch(/no valid frame among 6 noise byte\(s\): check baud rate/);
  });
});
