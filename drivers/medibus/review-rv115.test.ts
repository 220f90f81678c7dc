// Review rv115 (M1–M5, L1–L3): the driver over an in-memory cable with a scripted ventilator, the rv115 probes' cases
// made byte-exact: the driver stopped while an alarm is listed, an alarm priority outside 1..31, a realtime byte lost
// inside a sample set, an answer fragment left over from an earlier attempt, curves that stop while slow data go on,
// a 53H answer that does not read after 56H, the stop's echo, an ICC collision at start.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, memoryCable, waitFor, type FakeContext } from '../serial/testing.js';
import { CMD, encodeCommand, encodeResponse, encodeSample } from './protocol/index.js';
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

/** A realtime configuration record: code, interval 8000 µs (125 Hz), min, max, maxbin FFF. */
const rtConfig = (code: string, min: number, max: number) => `${code}00008000${String(min).padStart(5)}${String(max).padStart(5)}FFF`;

/** What the scripted ventilator answers, unless a test says otherwise. */
const normal = (code: number): string | null => {
  if (code === CMD.DEVICE_ID) return "0161'Evita'01.00:06.00";
  if (code === CMD.RT_CONFIG) return rtConfig('00', -20, 80) + rtConfig('01', -120, 120) + rtConfig('03', 0, 2000);
  if (code === CMD.DATA_CP1) return '7D  22';
  return '';
};

/** The driver cycling against a scripted ventilator on an in-memory cable. */
async function cycling(answer: (code: number, args: string) => string | null = normal, extra: Partial<MedibusOptions> = {}) {
  const { host, device } = memoryCable();
  await device.open();
  const dev = new ScriptedDevice(device, answer);
  const ctx = fakeContext();
  const options: MedibusOptions = { id: 'v1', path: '/dev/x', requests: ['measured1', 'alarms1'], pollIntervalMs: 50, silenceMs: 0, ...extra };
  driver = new MedibusDriver(buildPlan(options), ctx, () => host);
  await driver.start();
  await waitFor('cycling', () => dev.received.includes(CMD.DATA_CP1));
  return { ctx, dev, host };
}

const show = (ctx: FakeContext) =>
  ctx.events.map((e) => (e.kind === 'device-status' ? `status ${e.state}` : e.kind === 'alarm' ? `${e.phase} ${e.alarmId}${e.endedBy ? ` ${e.endedBy}` : ''}` : e.kind));
const warnings = (ctx: FakeContext) => ctx.logs.filter((l) => l.level === 40).map((l) => String(l.msg));

describe('stopping the driver while the ventilator lists an alarm (rv115 M2)', () => {
  it('ends the alarm as link-lost before the offline status', async () => {
    const { ctx } = await cycling((code) => (code === CMD.ALARMS_CP1 ? alarmRecord(25, '10', 'PAW HIGH') : normal(code)));
    await waitFor('alarm raised', () => ctx.alarms().some((a) => a.phase === 'start'));
    await driver?.stop();
    expect(show(ctx).filter((s) => s !== 'numeric').slice(-3)).toEqual(['start v1:cp1:10', 'end v1:cp1:10 link-lost', 'status offline']);
  });
});

describe('an alarm priority outside 1..31 (rv115 M3)', () => {
  it('is taken as unreadable: the alarm is raised at medium with the note, counted and logged', async () => {
    const { ctx } = await cycling((code) => (code === CMD.ALARMS_CP1 ? alarmRecord(0, '10', 'APNEA') + alarmRecord(31, '11', 'PAW HIGH') : normal(code)));
    await waitFor('two alarms', () => ctx.alarms().filter((a) => a.phase === 'start').length >= 2);
    const starts = ctx.alarms().filter((a) => a.phase === 'start').map((a) => [a.alarmId, a.priority, a.text]);
    expect(starts).toEqual([
      ['v1:cp1:11', 'high', 'PAW HIGH'],
      ['v1:cp1:10', 'medium', 'APNEA (priority could not be read: shown as medium)'],
    ]);
    expect(ctx.counter('alarm_records_rejected')).toBeGreaterThanOrEqual(1);
    expect(warnings(ctx).some((m) => m.startsWith("medibus alarm record rejected: priority at offset 0: expected '1'..'O' (1..31), got '0' (0)"))).toBe(true);
    expect(warnings(ctx).some((m) => /alarm 10 on page 1 raised at medium priority/.test(m))).toBe(true);
  });
});

describe('a realtime byte lost inside a sample set (rv115 M4)', () => {
  const set3 = (a: number, b: number, c: number) => [0xd7, ...encodeSample(a), ...encodeSample(b), ...encodeSample(c)];

  it('drops the set and counts it; no mis-paired sample goes out, and the curves show a gap rather than squeezed time', async () => {
    const { ctx, dev } = await cycling(normal, { realtime: { enabled: true, codes: [0, 1, 3], segmentMs: 60_000 } });
    await waitFor('realtime set up', () => dev.received.includes(CMD.RT_CONFIGURE));
    await sleep(20);
    // Bin 2000 of 4095: flow −2.8 L/min (±120). The damaged set loses the high half of its flow value.
    dev.send(Array.from({ length: 10 }, () => set3(100, 2000, 50)).flat());
    await sleep(200);
    const damaged = set3(100, 2000, 50);
    damaged.splice(4, 1);
    dev.send([...damaged, ...Array.from({ length: 10 }, () => set3(100, 2000, 50)).flat()]);
    await sleep(120); // at least the 80 ms the ten sets take at 125 Hz: a segment's last sample is taken as just arrived
    await driver?.stop();
    const flow = ctx.waveforms().filter((w) => w.raw?.code === 'rt:01');
    expect(flow.map((w) => w.samples.length)).toEqual([10, 10]);
    expect(new Set(flow.flatMap((w) => w.samples))).toEqual(new Set([-2.784]));
    expect(ctx.waveforms().map((w) => w.samples.length)).toEqual([10, 10, 10, 10, 10, 10]);
    // The run before the lost set ends where the set was lost, the one after starts after it: a gap of at least the
    // lost set's 8 ms between them, not 20 samples in the time of 21.
    const [a, b] = flow as [(typeof flow)[0], (typeof flow)[0]];
    expect(b.startTime - (a.startTime + 80)).toBeGreaterThanOrEqual(8);
    expect(ctx.counter('realtime_sets_dropped')).toBe(1);
    expect(ctx.counter('realtime_corrupt')).toBe(1);
  });
});

describe('an answer fragment left over from an earlier attempt (rv115 M1)', () => {
  /** The ventilator takes 60 ms to answer 24H; its first answer to 24H is damaged by `damage`. */
  async function firstAnswerDamaged(damage: (answer: Buffer) => Buffer) {
    const { host, device } = memoryCable();
    await device.open();
    const write = device.write.bind(device);
    let done = false;
    device.write = (bytes) => {
      const b = Buffer.from(bytes);
      if (done || b[0] !== 0x01 || b[1] !== CMD.DATA_CP1) return write(b);
      done = true;
      return write(damage(b));
    };
    const dev = new ScriptedDevice(device, normal);
    dev.answerDelayMs.set(CMD.DATA_CP1, 60);
    const hostWrites: Buffer[] = [];
    host.writeHook = (b) => void hostWrites.push(b);
    const ctx = fakeContext();
    driver = new MedibusDriver(buildPlan({ id: 'v1', path: '/dev/x', requests: ['measured1', 'measured2', 'alarms1'], pollIntervalMs: 50, responseTimeoutMs: 200, retries: 2, silenceMs: 0 }), ctx, () => host);
    await driver.start();
    await waitFor('the damaged answer and three alarm page reads', () => done && dev.received.filter((c) => c === CMD.ALARMS_CP1).length >= 3);
    return { ctx, dev, nakSent: hostWrites.some((w) => w[0] === 0x01 && w[1] === 0x15) };
  }

  it('its CR lost: the answer to the retry is taken, not asked for a third time beside it', async () => {
    const { ctx, dev, nakSent } = await firstAnswerDamaged((b) => b.subarray(0, -1));
    expect(dev.maxOutstanding).toBe(1);
    expect(dev.received.slice(0, 5)).toEqual([CMD.ICC, CMD.DEVICE_ID, CMD.DATA_CP1, CMD.DATA_CP1, CMD.DATA_CP2]);
    expect(ctx.counter('frames_interrupted')).toBe(1);
    expect(ctx.counter('response_timeouts')).toBe(1);
    expect(ctx.counter('retries')).toBe(1);
    expect(ctx.counter('unexpected_responses')).toBe(0);
    expect(nakSent).toBe(false);
  });

  it('a data byte turned into ESC: one damaged answer, asked again once; no NAK for a command the device never sent', async () => {
    const { ctx, dev, nakSent } = await firstAnswerDamaged((b) => {
      const c = Buffer.from(b);
      c[4] = 0x1b;
      return c;
    });
    expect(nakSent).toBe(false);
    expect(ctx.counter('nak_sent')).toBe(0);
    expect(dev.maxOutstanding).toBe(1);
    expect(dev.received.slice(0, 5)).toEqual([CMD.ICC, CMD.DEVICE_ID, CMD.DATA_CP1, CMD.DATA_CP1, CMD.DATA_CP2]);
    expect(ctx.counter('frames_bad_checksum')).toBe(1);
    expect(ctx.counter('retries')).toBe(1);
    expect(ctx.counter('unexpected_responses')).toBe(0);
  });

  it('a stray "SOH $" just before the answer: the answer that follows is taken, nothing resent', async () => {
    const { ctx, dev } = await firstAnswerDamaged((b) => Buffer.concat([Buffer.from([0x01, CMD.DATA_CP1]), b]));
    expect(dev.maxOutstanding).toBe(1);
    expect(dev.received.slice(0, 4)).toEqual([CMD.ICC, CMD.DEVICE_ID, CMD.DATA_CP1, CMD.DATA_CP2]);
    expect(ctx.counter('frames_interrupted')).toBe(1);
    expect(ctx.counter('retries')).toBe(0);
    expect(ctx.counter('unexpected_responses')).toBe(0);
  });
});

describe('realtime curves that stop while slow data go on (rv115 M5)', () => {
  it('are warned of once, counted, shown in health, and set up again; their return is logged', async () => {
    const { ctx, dev } = await cycling(normal, { realtime: { enabled: true, codes: [0, 1], segmentMs: 50 } });
    await waitFor('realtime set up', () => dev.received.includes(CMD.RT_CONFIGURE));
    const set2 = [0xd3, ...encodeSample(2048), ...encodeSample(2048)];
    let streaming = true;
    const timer = setInterval(() => streaming && dev.send([...set2, ...set2, ...set2]), 20);
    try {
      await waitFor('curves', () => ctx.waveforms().length >= 4);
      // The ventilator restarted quickly: it answers requests as before, its curves no longer come.
      streaming = false;
      const setups = dev.received.filter((c) => c === CMD.RT_CONFIGURE).length;
      await waitFor('set up again', () => dev.received.filter((c) => c === CMD.RT_CONFIGURE).length > setups, 3000);
      expect(ctx.counter('realtime_stalls')).toBe(1);
      const stalled = warnings(ctx).filter((m) => /realtime curves stopped/.test(m));
      expect(stalled).toHaveLength(1);
      expect(stalled[0]).toMatch(/^medibus realtime curves stopped: no samples for \d+(\.\d+)? s while the device answers requests; setting realtime up again \(53H\/54H\)/);
      expect(driver?.health().detail).toMatch(/; realtime curves not received for \d+ s \(set up again 1 time\(s\)\)$/);
      expect(driver?.health().state).toBe('running');
      // Still none: set up again later, counted, not warned again.
      await waitFor('set up a second time', () => ctx.counter('realtime_stalls') >= 2, 3000);
      expect(warnings(ctx).filter((m) => /realtime curves stopped/.test(m))).toHaveLength(1);
      streaming = true;
      await waitFor('curves again', () => ctx.logs.some((l) => /medibus realtime curves again/.test(String(l.msg))), 3000);
      expect(driver?.health().detail).not.toMatch(/realtime/);
    } finally {
      clearInterval(timer);
    }
  });
});

describe('a 53H answer that does not read after the device changed its realtime configuration (rv115 L1)', () => {
  it('builds no 54H or enable from the old configuration: warns, leaves the curves off, and asks again later', async () => {
    let config: string = normal(CMD.RT_CONFIG) as string;
    const { ctx, dev } = await cycling((code) => (code === CMD.RT_CONFIG ? config : normal(code)), { realtime: { enabled: true, codes: [0, 1], segmentMs: 50 } });
    await waitFor('realtime set up', () => dev.received.includes(CMD.RT_CONFIGURE));
    config = config.replace(/^(..)00008000/, '$1  ??8000'); // its interval field is no number now
    const before = dev.received.length;
    dev.send(encodeCommand(CMD.RT_CONFIG_CHANGED));
    await waitFor('53H asked', () => dev.received.slice(before).includes(CMD.RT_CONFIG));
    await sleep(150);
    expect(dev.received.slice(before)).not.toContain(CMD.RT_CONFIGURE);
    expect(ctx.counter('parse_errors')).toBe(1);
    expect(warnings(ctx).filter((m) => /realtime configuration \(53H\) not understood/.test(m))).toHaveLength(1);
    expect(driver?.health().detail).toMatch(/realtime curves off: realtime configuration \(53H\) not understood/);
    // Samples arriving now cannot be scaled: dropped and counted, not scaled with the old configuration.
    dev.send([0xd3, ...encodeSample(2048), ...encodeSample(2048)]);
    await sleep(20);
    expect(ctx.counter('realtime_samples_dropped')).toBe(2);
    // Asked again later (after 5 segment lengths, then 10): still not readable, counted, not warned again.
    await waitFor('asked twice more', () => dev.received.slice(before).filter((c) => c === CMD.RT_CONFIG).length >= 3, 3000);
    await sleep(20);
    expect(dev.received.slice(before)).not.toContain(CMD.RT_CONFIGURE);
    expect(ctx.counter('parse_errors')).toBe(3);
    expect(warnings(ctx).filter((m) => /not understood/.test(m))).toHaveLength(2); // the data and what it means, once each
    config = normal(CMD.RT_CONFIG) as string;
    await waitFor('asked again, and set up', () => dev.received.slice(before).includes(CMD.RT_CONFIGURE), 3000);
    expect(driver?.health().detail).not.toMatch(/realtime/);
  });
});

describe('a normal stop (rv115 L2)', () => {
  it('takes the echo of its 55H without an "unexpected response" warning', async () => {
    const { ctx, dev } = await cycling();
    await driver?.stop();
    expect(dev.received.at(-1)).toBe(CMD.STOP);
    expect(ctx.counter('unexpected_responses')).toBe(0);
    expect(warnings(ctx).filter((m) => /55H/.test(m))).toEqual([]);
  });
});

describe('an ICC collision at start: the ventilator sends ESC Q just before answering ours (rv115 L3)', () => {
  it('is not warned of as an unexpected response', async () => {
    const { host, device } = memoryCable();
    await device.open();
    const write = device.write.bind(device);
    let done = false;
    device.write = (bytes) => {
      const b = Buffer.from(bytes);
      if (done || b[0] !== 0x01 || b[1] !== CMD.ICC) return write(b);
      done = true;
      return write(Buffer.concat([encodeCommand(CMD.ICC), b]));
    };
    const dev = new ScriptedDevice(device, normal);
    const ctx = fakeContext();
    driver = new MedibusDriver(buildPlan({ id: 'v1', path: '/dev/x', requests: ['measured1', 'alarms1'], pollIntervalMs: 50, silenceMs: 0 }), ctx, () => host);
    await driver.start();
    await waitFor('cycling', () => dev.received.filter((c) => c === CMD.ALARMS_CP1).length >= 2);
    expect(dev.received.slice(0, 3)).toEqual([CMD.ICC, CMD.DEVICE_ID, CMD.DATA_CP1]);
    expect(ctx.counter('unexpected_responses')).toBe(0);
    expect(warnings(ctx)).toEqual([]);
  });
});

describe('XOFF from the ventilator (rv115 L4)', () => {
  it('is not honoured with flowControl none: counted, and said once per connection, naming flowControl xonxoff', async () => {
    const { ctx, dev } = await cycling();
    dev.send([0x13]);
    await sleep(20);
    dev.send([0x13, 0x11, 0x13]);
    await sleep(20);
    expect(ctx.counter('handshake_bytes_dropped')).toBe(4);
    const lines = warnings(ctx).filter((m) => /XOFF/.test(m));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/not honoured.*flowControl: xonxoff/);
  });
});
