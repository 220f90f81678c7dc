// The driver over an in-memory cable, with a device scripted byte by byte: alarm pages with damaged records, the code
// profile, realtime configuration changes, text messages, one command outstanding, write failures and the start log.
// Review rv67 (H1, M1, M2, M3, L1, L2, L4, L5).
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, MemoryLink, memoryCable, waitFor, type FakeContext } from '../serial/testing.js';
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

/** A listen-only driver on a tap the test feeds by hand. */
async function tap(extra: Partial<MedibusOptions> = {}, clock?: () => number): Promise<{ ctx: FakeContext; link: MemoryLink }> {
  const link = new MemoryLink('mem:tap', true);
  const ctx = fakeContext();
  driver = new MedibusDriver(buildPlan({ id: 'v1', bed: 'ICU-3', path: '/dev/x', listenOnly: true, silenceMs: 0, ...extra }), ctx, () => link, clock);
  await driver.start();
  await waitFor('tap open', () => link.isOpen);
  return { ctx, link };
}

const phases = (ctx: FakeContext) => ctx.alarms().map((a) => [a.phase, a.text, a.priority, a.endedBy ?? null]);
const warnings = (ctx: FakeContext) => ctx.logs.filter((l) => l.level === 40);

describe('alarm pages with a record the parser rejects (rv67 H1)', () => {
  it('raises the valid alarms beside a damaged record, ends an alarm it can no longer vouch for as link-lost, counts and logs the record', async () => {
    const { ctx, link } = await tap();
    link.arrive(encodeResponse(CMD.ALARMS_CP1, alarmRecord(25, '10', 'PAW HIGH')));
    // PAW HIGH has gone; DISCONNECT is new; a third record's code is not hex (which alarm it is cannot be told).
    const page = encodeResponse(CMD.ALARMS_CP1, alarmRecord(31, '9A', 'DISCONNECT') + alarmRecord(5, ' 1', 'SOME ADVISORY'));
    for (let i = 0; i < 10; i++) link.arrive(page);
    expect(phases(ctx)).toEqual([
      ['start', 'PAW HIGH', 'high', null],
      ['start', 'DISCONNECT', 'high', null],
      // The damaged record may be PAW HIGH still listed: not known to have ended, so ended as the device lost.
      ['end', 'PAW HIGH', 'high', 'link-lost'],
    ]);
    expect(ctx.counter('alarm_records_rejected')).toBe(10);
    expect(ctx.counter('parse_errors')).toBe(0);
    const logged = warnings(ctx).filter((l) => /alarm record rejected/.test(String(l.msg)));
    expect(logged).toHaveLength(1); // the same record at every cycle is said once
    expect(logged[0]).toMatchObject({ device: 'v1', page: 1, code: ' 1', offset: 15 });
    expect(logged[0]?.record).toBe('5 1SOME ADVISOR');
    expect(ctx.statuses().at(-1)?.state).toBe('online');
  });

  it('a damaged record whose code is readable keeps that alarm active (the device still lists it)', async () => {
    const { ctx, link } = await tap();
    link.arrive(encodeResponse(CMD.ALARMS_CP1, alarmRecord(25, '10', 'PAW HIGH')));
    link.arrive(encodeResponse(CMD.ALARMS_CP1, ` 10${'PAW HIGH'.padEnd(12)}`)); // priority byte below '0'
    expect(phases(ctx)).toEqual([['start', 'PAW HIGH', 'high', null]]);
    expect(ctx.counter('alarm_records_rejected')).toBe(1);
    expect(warnings(ctx).find((l) => /alarm record rejected/.test(String(l.msg)))).toMatchObject({ page: 1, code: '10' });
    // Readable again, and gone: an ordinary end.
    link.arrive(encodeResponse(CMD.ALARMS_CP1, ''));
    expect(phases(ctx).at(-1)).toEqual(['end', 'PAW HIGH', 'high', null]);
  });

  it('a page that cannot be framed ends the alarms of that page as link-lost, counts and logs it; other pages are kept', async () => {
    const { ctx, link } = await tap();
    link.arrive(encodeResponse(CMD.ALARMS_CP1, alarmRecord(25, '10', 'PAW HIGH')));
    link.arrive(encodeResponse(CMD.ALARMS_CP2, alarmRecord(15, '31', 'O2 CYL LOW')));
    link.arrive(encodeResponse(CMD.ALARMS_CP1, alarmRecord(25, '10', 'PAW HIGH').slice(0, 14))); // a byte short
    expect(phases(ctx)).toEqual([
      ['start', 'PAW HIGH', 'high', null],
      ['start', 'O2 CYL LOW', 'medium', null],
      ['end', 'PAW HIGH', 'high', 'link-lost'],
      ['start', 'Alarm information from the ventilator not current: alarm page 1 unreadable; watch the ventilator itself', 'medium', null],
    ]);
    expect(ctx.counter('parse_errors')).toBe(1);
    expect(warnings(ctx).find((l) => /alarm page/.test(String(l.msg)))).toMatchObject({ device: 'v1', page: 1 });
    // Read again: the alarm starts again, as after a lost link.
    link.arrive(encodeResponse(CMD.ALARMS_CP1, alarmRecord(25, '10', 'PAW HIGH')));
    expect(phases(ctx).slice(-2)).toEqual([
      ['start', 'PAW HIGH', 'high', null],
      ['end', 'Alarm information from the ventilator not current: alarm page 1 unreadable; watch the ventilator itself', 'medium', null],
    ]);
  });
});

describe('an alarm page that stays unreadable, a new alarm whose priority does not read (rv72 H1, L1)', () => {
  const NOT_CURRENT = 'Alarm information from the ventilator not current: alarm page 1 unreadable; watch the ventilator itself';

  it('keeps a medium technical alarm and a health note while the page stays unreadable, and ends them at the next page that reads', async () => {
    const { ctx, link } = await tap();
    link.arrive(encodeResponse(CMD.ALARMS_CP1, alarmRecord(25, '10', 'PAW HIGH')));
    // The device lists PAW HIGH and a new DISCONNECT, but each page is a byte too long: it cannot be cut into records.
    const padded = encodeResponse(CMD.ALARMS_CP1, alarmRecord(25, '10', 'PAW HIGH') + alarmRecord(31, '9A', 'DISCONNECT') + ' ');
    for (let i = 0; i < 10; i++) link.arrive(padded);
    expect(phases(ctx)).toEqual([
      ['start', 'PAW HIGH', 'high', null],
      ['end', 'PAW HIGH', 'high', 'link-lost'],
      ['start', NOT_CURRENT, 'medium', null], // once, not at every cycle
    ]);
    expect(ctx.alarms().at(-1)).toMatchObject({ category: 'technical', alarmId: 'v1:alarm-page-1-not-current' });
    expect(driver?.health().detail).toMatch(/alarm page 1 unreadable for \d+ s/);
    expect(ctx.counter('parse_errors')).toBe(10);
    // It reads again: its alarms start, the technical alarm ends (ended by the device: the information is current).
    link.arrive(encodeResponse(CMD.ALARMS_CP1, alarmRecord(25, '10', 'PAW HIGH') + alarmRecord(31, '9A', 'DISCONNECT')));
    expect(phases(ctx).slice(3)).toEqual([
      ['start', 'PAW HIGH', 'high', null],
      ['start', 'DISCONNECT', 'high', null],
      ['end', NOT_CURRENT, 'medium', null],
    ]);
    expect(driver?.health().detail).not.toMatch(/unreadable/);
    expect(ctx.logs.find((l) => /alarm page 1 readable again/.test(String(l.msg)))).toMatchObject({ level: 30, device: 'v1', page: 1 });
  });

  it('ends the technical alarm as link-lost when the line goes silent', async () => {
    const { ctx, link } = await tap({ silenceMs: 150 });
    link.arrive(encodeResponse(CMD.ALARMS_CP2, alarmRecord(15, '31', 'O2 CYL LOW').slice(0, 14)));
    expect(phases(ctx)).toEqual([['start', NOT_CURRENT.replace('page 1', 'page 2'), 'medium', null]]);
    await waitFor('silent', () => ctx.alarms().length === 2);
    expect(phases(ctx).at(-1)).toEqual(['end', NOT_CURRENT.replace('page 1', 'page 2'), 'medium', 'link-lost']);
  });

  it('raises a new alarm whose priority byte does not read (its code does) at medium, with a note, and says so in the log', async () => {
    const { ctx, link } = await tap();
    for (let i = 0; i < 20; i++) link.arrive(encodeResponse(CMD.ALARMS_CP1, `\x7f9A${'DISCONNECT'.padEnd(12)}`));
    expect(phases(ctx)).toEqual([['start', 'DISCONNECT (priority could not be read: shown as medium)', 'medium', null]]);
    expect(ctx.counter('alarm_records_rejected')).toBe(20);
    const raised = warnings(ctx).filter((l) => /^medibus alarm 9A on page 1 raised at medium priority/.test(String(l.msg)));
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ device: 'v1', page: 1, code: '9A' });
    // Its priority reads again: re-sent at once with it; then gone: an ordinary end.
    link.arrive(encodeResponse(CMD.ALARMS_CP1, alarmRecord(31, '9A', 'DISCONNECT')));
    link.arrive(encodeResponse(CMD.ALARMS_CP1, ''));
    expect(phases(ctx).slice(1)).toEqual([
      ['continue', 'DISCONNECT', 'high', null],
      ['end', 'DISCONNECT', 'high', null],
    ]);
  });
});

describe('code profile (rv67 M1)', () => {
  const measured = () => encodeResponse(CMD.DATA_CP1, '06  458B 120DC  807D  22');
  const show = (ctx: FakeContext) => Object.fromEntries(ctx.readings().map((r) => [r.raw?.code, [r.raw?.text, r.unit.ucum, r.mdc?.refid ?? null]]));

  it('a classic-Medibus preset reads 06H as compliance and 8BH as support volume, with no MDC term; DCH stays raw', async () => {
    const { ctx, link } = await tap({ model: 'evita4' });
    link.arrive(measured());
    expect(show(ctx)).toEqual({
      'cp1:06': ['Compliance', 'mL/mbar', null],
      'cp1:8B': ['VTasb', 'mL', null],
      'cp1:DC': [undefined, '', null],
      'cp1:7D': ['PIP', 'mbar', 'MDC_PRESS_AWAY_INSP_PEAK'],
    });
    expect(ctx.logs.find((l) => l.msg === 'medibus driver starting')).toMatchObject({ model: 'evita4', codeProfile: 'classic' });
  });

  it('the V500 presets read the Medibus.X meanings; codeProfile overrides the preset', async () => {
    const { ctx, link } = await tap({ model: 'v500' });
    link.arrive(measured());
    expect(show(ctx)).toMatchObject({
      'cp1:06': ['MVi', 'L/min', 'MDC_VENT_VOL_MINUTE_INSP'],
      'cp1:8B': ['VTi', 'mL', 'MDC_VOL_AWAY_TIDAL_INSP'],
      'cp1:DC': ['HR', '/min', 'MDC_ECG_HEART_RATE'],
    });
    await driver?.stop();
    const other = await tap({ model: 'evita4', codeProfile: 'medibus-x' });
    other.link.arrive(measured());
    expect(show(other.ctx)['cp1:06']).toEqual(['MVi', 'L/min', 'MDC_VENT_VOL_MINUTE_INSP']);
  });
});

describe('text messages (rv67 M3)', () => {
  it('are emitted every time they are read, so a mode the device confirms is never shown as stale', async () => {
    let now = Date.UTC(2026, 0, 1);
    const { ctx, link } = await tap({}, () => now);
    for (let s = 0; s < 30; s++) {
      link.arrive(encodeResponse(CMD.TEXT_MESSAGES, '064SIMV\x03'));
      now += 1000;
    }
    const modes = ctx.readings().filter((r) => r.raw?.code === 'text:06');
    expect(modes).toHaveLength(30);
    expect(modes.at(-1)).toMatchObject({ value: 'SIMV', receivedAt: Date.UTC(2026, 0, 1) + 29_000, setting: true });
  });
});

/** A realtime configuration record: code, interval 8000 µs (125 Hz), min, max, maxbin FFF. */
const rtConfig = (code: string, min: number, max: number) => `${code}00008000${String(min).padStart(5)}${String(max).padStart(5)}FFF`;

/** The driver cycling against a scripted Medibus.X device whose realtime configuration the test can change. */
async function medibusX(extra: Partial<MedibusOptions> = {}) {
  const { host, device } = memoryCable();
  const state = { config: rtConfig('00', -20, 80) + rtConfig('01', -120, 120) + rtConfig('03', 0, 2000), mute: false };
  const dev = new ScriptedDevice(device, (code) => {
    if (state.mute) return null;
    if (code === CMD.DEVICE_ID) return "0161'Evita'01.00:06.00";
    if (code === CMD.RT_CONFIG) return state.config;
    if (code === CMD.DATA_CP1) return '7D  22';
    return '';
  });
  await device.open();
  const ctx = fakeContext();
  const options: MedibusOptions = { id: 'v1', path: '/dev/x', requests: ['measured1'], pollIntervalMs: 100, silenceMs: 0, realtime: { enabled: true, codes: [0, 1, 3], segmentMs: 60000 }, ...extra };
  driver = new MedibusDriver(buildPlan(options), ctx, () => host);
  await driver.start();
  await waitFor('realtime set up and cycling', () => dev.received.includes(CMD.DATA_CP1));
  return { ctx, dev, state };
}

const segments = (ctx: FakeContext) => ctx.waveforms().map((w) => ({ code: w.raw?.code, n: w.samples.length, first: w.samples[0] }));
const set3 = (bin: number) => [0xd7, ...encodeSample(bin), ...encodeSample(bin), ...encodeSample(bin)];

describe('realtime configuration changes (rv67 M2, L2, L1)', () => {
  it('56H: samples buffered under the old configuration are scaled with it and sent at once; those before the new set-up are counted as dropped', async () => {
    const { ctx, dev, state } = await medibusX();
    // Bin 2048 of 4095: Paw 30 mbar (−20..80), flow 0 L/min (±120), volume 1000 mL (0..2000).
    dev.send(Array.from({ length: 10 }, () => set3(2048)).flat());
    await sleep(20);
    const configures = dev.received.filter((c) => c === CMD.RT_CONFIGURE).length;
    state.config = rtConfig('00', 0, 100) + rtConfig('03', 0, 1000); // the flow curve is gone, the Paw range changed
    dev.send(encodeCommand(CMD.RT_CONFIG_CHANGED));
    dev.send(Array.from({ length: 4 }, () => set3(2048)).flat()); // still arriving before the set-up: no scaling known
    await waitFor('realtime set up again', () => dev.received.filter((c) => c === CMD.RT_CONFIGURE).length > configures);
    expect(segments(ctx)).toEqual([
      { code: 'rt:00', n: 10, first: 30.012 },
      { code: 'rt:01', n: 10, first: 0.029 },
      { code: 'rt:03', n: 10, first: 1000.244 },
    ]);
    expect(ctx.counter('realtime_samples_dropped')).toBe(12);
    expect(ctx.logs.filter((l) => /realtime samples dropped/.test(String(l.msg)))).toHaveLength(1);
    // The new configuration: two curves, scaled with their new ranges.
    await sleep(20);
    dev.send(Array.from({ length: 5 }, () => [0xd3, ...encodeSample(2048), ...encodeSample(2048)]).flat());
    await sleep(20);
    await driver?.stop();
    expect(segments(ctx).slice(3)).toEqual([
      { code: 'rt:00', n: 5, first: 50.012 },
      { code: 'rt:03', n: 5, first: 500.122 },
    ]);
  });

  it('re-initialisation: samples held are sent with the configuration they arrived under, not dropped', async () => {
    const { ctx, dev, state } = await medibusX({ realtime: { enabled: true, codes: [0], segmentMs: 60000 }, responseTimeoutMs: 100, retries: 0, keepAliveMs: 200, quietReinitMs: 2000 });
    dev.send(Array.from({ length: 100 }, () => [0xd1, ...encodeSample(2048)]).flat());
    await sleep(20);
    state.mute = true; // the next request times out: the session re-initialises
    await waitFor('re-initialised', () => ctx.counter('reinitialisations') >= 1);
    expect(segments(ctx)).toEqual([{ code: 'rt:00', n: 100, first: 30.012 }]);
    expect(ctx.counter('realtime_samples_dropped')).toBe(0);
  });

  it('56H while a request is outstanding: the set-up waits for its answer (one command outstanding)', async () => {
    const { ctx, dev } = await medibusX({ responseTimeoutMs: 1000 });
    dev.answerDelayMs.set(CMD.DATA_CP1, 200);
    const n = dev.received.length;
    await waitFor('a data request outstanding', () => dev.received.slice(n).includes(CMD.DATA_CP1));
    const before = dev.received.length;
    dev.send(encodeCommand(CMD.RT_CONFIG_CHANGED));
    await waitFor('realtime set up again', () => dev.received.slice(before).includes(CMD.RT_CONFIGURE));
    expect(dev.received.slice(before, before + 2)).toEqual([CMD.RT_CONFIG, CMD.RT_CONFIGURE]);
    expect(dev.maxOutstanding).toBe(1);
    expect(ctx.counter('unexpected_responses')).toBe(0);
    expect(ctx.counter('response_timeouts')).toBe(0);
  });

  it('56H while a request goes unanswered: the set-up starts at its time-out, not beside it', async () => {
    const { ctx, dev } = await medibusX({ responseTimeoutMs: 300 });
    let unanswered = 1;
    const answer = dev.answer;
    dev.answer = (code, args) => (code === CMD.DATA_CP1 && unanswered-- > 0 ? null : answer(code, args));
    const n = dev.received.length;
    await waitFor('a data request outstanding', () => dev.received.slice(n).includes(CMD.DATA_CP1));
    const before = dev.received.length;
    dev.send(encodeCommand(CMD.RT_CONFIG_CHANGED));
    await sleep(100);
    expect(dev.received.slice(before)).toEqual([]); // nothing beside the outstanding request
    await waitFor('realtime set up again', () => dev.received.slice(before).includes(CMD.RT_CONFIGURE));
    expect(dev.received.slice(before, before + 2)).toEqual([CMD.RT_CONFIG, CMD.RT_CONFIGURE]);
    expect(ctx.counter('response_timeouts')).toBe(1);
    expect(ctx.counter('retries')).toBe(0);
  });
});

describe('write failures (rv67 L4)', () => {
  it('are counted each time and logged once, then summarised', async () => {
    const link = new MemoryLink('mem:eio');
    link.writeError = new Error('EIO: i/o error, write');
    const ctx = fakeContext();
    driver = new MedibusDriver(buildPlan({ id: 'v1', path: '/dev/x', responseTimeoutMs: 100, retries: 2, keepAliveMs: 200, quietReinitMs: 400, silenceMs: 0 }), ctx, () => link);
    await driver.start();
    await waitFor('10 failed writes', () => ctx.counter('write_errors') >= 10);
    const lines = warnings(ctx).filter((l) => /^medibus write failed/.test(String(l.msg)));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ device: 'v1', command: 'ICC', err: 'EIO: i/o error, write' });
  });
});

describe('start log (rv67 L5)', () => {
  it('names the requests, and warns when none of them reads alarms', async () => {
    const { ctx } = await tap({ requests: ['measured1', 'settings'] });
    expect(ctx.logs.find((l) => l.msg === 'medibus driver starting')).toMatchObject({ level: 30, requests: ['measured1', 'settings'] });
    const warn = warnings(ctx).find((l) => /no alarm/.test(String(l.msg)));
    expect(warn).toBeDefined();
    expect(String(warn?.msg)).toMatch(/alarms1.*alarms2.*alarms3/);
  });
  it('says nothing more when an alarm page is read', async () => {
    const { ctx } = await tap({ requests: ['measured1', 'alarms2'] });
    expect(warnings(ctx)).toEqual([]);
  });
});
