// A full IntelliVue session through a pseudo-terminal pair with the real serialport on both ends: the
// driver (host) on one, the simulator (monitor) on the other.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, waitFor, type FakeContext } from '../serial/testing.js';
import { MDC } from '../../agent/model/mdc.js';
import { IntellivueDriver } from './index.js';
import { buildPlan } from './options.js';
import { MOC } from './protocol/index.js';
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

const has = (ctx: FakeContext, refid: string) => ctx.readings().some((x) => x.mdc?.refid === refid && typeof x.value === 'number');

/**
 * Extended numerics against a monitor that answers every poll interval (200 ms here, as a real one answers every second
 * for a 1-s interval) and keeps an old poll running until its period ends. The poll interval is the clock: for each HR
 * reading, `marks` holds how many alarm polls (one per interval) the monitor had received when it was emitted.
 */
async function extendedNumerics(): Promise<{ ctx: FakeContext; marks: number[]; hr: () => number; alarmPolls: (upTo?: number) => number }> {
  r = await rig({ numericsPeriodMs: 200 });
  const sim = r.sim;
  const ctx = fakeContext();
  const alarmPolls = (upTo = sim.received.length) => sim.received.slice(0, upTo).filter((m) => m === 'poll:54').length;
  const marks: number[] = [];
  const emit = ctx.emit;
  ctx.emit = (evs, opts) => {
    for (const e of evs) if (e.kind === 'numeric' && e.mdc?.refid === 'MDC_ECG_HEART_RATE') marks.push(alarmPolls());
    return emit(evs, opts);
  };
  driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath, { numerics: 'extended', waves: { enabled: false }, maxMtu: 1000 })), ctx);
  await driver.start();
  await waitFor('HR from the first extended numerics poll', () => marks.length >= 1);
  return { ctx, marks, hr: () => marks.length, alarmPolls };
}

/** The longest run of poll intervals (alarm polls) without a numerics answer emitted. */
const longestPause = (marks: number[]) => Math.max(...marks.slice(1).map((m, i) => m - (marks[i] as number)));

/** Stop the monitor (what it sent still arrives), then check each numerics answer was emitted once or dropped as superseded. */
async function everyAnswerOnce(ctx: FakeContext, hr: () => number): Promise<void> {
  r!.sim.restart(60_000);
  const sent = r!.sim.numericsAnswersSent;
  await waitFor('every numerics answer emitted or dropped', () => hr() + ctx.counter('superseded_results') >= sent);
  expect(ctx.counter('linked_results')).toBe(0); // one frame per answer, so the counts compare
  expect(ctx.counter('superseded_results')).toBe(r!.sim.numericsAnswersFromOlderPolls);
  expect(hr() + ctx.counter('superseded_results')).toBe(sent);
  expect(ctx.counter('unexpected_results')).toBe(0);
}

describe('intellivue session over a pty pair', () => {
  it('associates, answers the MDS Create, polls numerics, waves (linked results) and alarms into events', async () => {
    r = await rig();
    r.sim.setAlarms([SIM_ALARMS.hrHigh, SIM_ALARMS.leadsOff]);
    const ctx = fakeContext('icu7-monitor');
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath)), ctx);
    await driver.start();
    await waitFor('HR, SpO2 and NIBP readings', () => has(ctx, 'MDC_ECG_HEART_RATE') && has(ctx, 'MDC_PULS_OXIM_SAT_O2') && has(ctx, 'MDC_PRESS_BLD_NONINV_SYS'));
    await waitFor('waves of all four kinds', () => new Set(ctx.waveforms().map((w) => w.raw?.code)).size >= 4);
    await waitFor('alarm starts', () => ctx.alarms().filter((a) => a.phase === 'start').length >= 2);

    // The conversation happened in the documented order.
    const rx = r.sim.received;
    expect(rx.slice(0, 2)).toEqual(['assoc-request', 'mds-create-result']);
    expect(rx).toContain('poll:6');
    expect(rx).toContain('poll:54');
    expect(rx).toContain('ext-poll:9');

    const hr = ctx.readings().find((x) => x.mdc?.refid === 'MDC_ECG_HEART_RATE');
    expect(hr).toMatchObject({ mdc: MDC.ECG_HEART_RATE, deviceId: 'mx800-1', bed: 'ICU-7', source: 'icu7-monitor', unit: { ucum: '/min' }, quality: { state: 'valid' } });
    expect(hr?.value).toBeGreaterThanOrEqual(72);
    // Device time from the monitor's clock, which runs 3 s ahead of ours; the offset is tracked.
    expect(hr!.deviceTime! - hr!.receivedAt).toBeGreaterThan(1500);
    expect(hr!.deviceTime! - hr!.receivedAt).toBeLessThan(4500);
    expect(driver.clock.offsetMs).toBeGreaterThan(1500);
    expect(driver.health().detail).toMatch(/monitor clock \+\d/);

    const temp = ctx.readings().find((x) => x.mdc?.refid === 'MDC_TEMP');
    expect(temp).toMatchObject({ value: 36.7, unit: { ucum: 'Cel' } });
    expect(ctx.readings().find((x) => x.mdc?.refid === 'MDC_PULS_OXIM_PULS_RATE')?.value).toBe(71);
    // NOM_AWAY_CO2_ET under the etCO2 term every driver uses (review rv114 M3), its own code kept raw.
    expect(ctx.readings().find((x) => x.mdc?.refid === 'MDC_CONC_AWAY_CO2_ET')).toMatchObject({
      mdc: { code: 151708 }, raw: { system: 'intellivue', code: '2:20656' }, value: 38, unit: { ucum: 'mm[Hg]' },
    });
    expect(ctx.readings().find((x) => x.mdc?.refid === 'MDC_PRESS_BLD_ART_ABP_DIA')?.value).toBe(76);
    // NIBP carries its own measurement time (a minute before the reply).
    const nibp = ctx.readings().find((x) => x.mdc?.refid === 'MDC_PRESS_BLD_NONINV_MEAN');
    expect(nibp?.value).toBe(93);
    expect(hr!.deviceTime! - nibp!.deviceTime!).toBeGreaterThan(55000);
    // Unknown code kept raw; a NaN the monitor flags unavailable becomes null, marked.
    expect(ctx.readings().find((x) => x.raw?.code === '2:23552')).toMatchObject({ mdc: null, value: 3 });
    expect(ctx.readings().find((x) => x.mdc?.refid === 'MDC_TEMP_SKIN')).toMatchObject({ value: null, quality: { state: 'unavailable' } });
    // A setting (TYPE in the settings partition) has the measurement's code but is marked, with its partition in the raw code.
    expect(ctx.readings().find((x) => x.mdc?.refid === 'MDC_AWAY_RESP_RATE')).toMatchObject({ value: 14, setting: true, raw: { system: 'intellivue', code: '1026:20498' } });
    expect(ctx.readings().filter((x) => x.setting).map((x) => x.mdc?.refid)).toEqual(expect.arrayContaining(['MDC_AWAY_RESP_RATE']));
    expect(ctx.readings().filter((x) => x.setting && x.mdc?.refid !== 'MDC_AWAY_RESP_RATE')).toEqual([]);

    const ecg = ctx.waveforms().find((w) => w.mdc?.refid === 'MDC_ECG_ELEC_POTL_II');
    expect(ecg).toMatchObject({ sampleRateHz: 500, unit: { ucum: 'mV' }, quality: { state: 'valid' } });
    expect(ecg?.samples.length).toBe(128);
    expect(ecg?.samples.every((s) => s >= -2.048 && s <= 2.047)).toBe(true);
    const abp = ctx.waveforms().find((w) => w.mdc?.refid === 'MDC_PRESS_BLD_ART_ABP');
    expect(abp?.sampleRateHz).toBe(125);
    expect(abp?.samples.every((s) => s >= 60 && s <= 125)).toBe(true);
    expect(ctx.waveforms().find((w) => w.mdc?.refid === 'MDC_PULS_OXIM_PLETH')).toMatchObject({ sampleRateHz: 125, unit: { ucum: '1' } });
    expect(ctx.waveforms().find((w) => w.mdc?.refid === 'MDC_AWAY_CO2')?.sampleRateHz).toBe(62.5);
    // Waves did not fit the 600-byte MTU: they came as linked results, all parts in sequence.
    expect(r.sim.linkedSent).toBeGreaterThan(0);
    expect(ctx.counter('linked_results')).toBeGreaterThan(0);
    expect(ctx.counter('linked_results_gap')).toBe(0);
    // This monitor cancels a wave poll when it is renewed: nothing to drop, and no segment lost to the renewal.
    expect(ctx.counter('superseded_results')).toBe(0);

    const hrAlarm = ctx.alarms().find((a) => a.text === '**HR High');
    expect(hrAlarm).toMatchObject({ priority: 'medium', category: 'physiological', phase: 'start', condition: { refid: 'MDC_EVT_HI' }, sourceMetric: MDC.ECG_HEART_RATE, alarmId: 'mx800-1:P:16770:40:0' });
    expect(ctx.alarms().find((a) => a.text === 'ECG Leads Off')).toMatchObject({ priority: 'medium', category: 'technical' });

    expect(ctx.statuses().map((s) => s.state)).toContain('online');
    expect(driver.health().state).toBe('running');

    // The alarm goes away → end; a new one of high priority starts.
    r.sim.setAlarms([SIM_ALARMS.apnea]);
    await waitFor('alarm end and apnea start', () => ctx.alarms().some((a) => a.phase === 'end' && a.text === '**HR High') && ctx.alarms().some((a) => a.text === '***Apnea' && a.priority === 'high'));

    // Stop releases the association.
    await driver.stop();
    await waitFor('release seen by the monitor', () => r!.sim.received.includes('assoc-release-request'), 1000);
    expect(r.sim.received).toContain('assoc-release-request');
  });

  it('stop leaves no timer running (the release answer does not re-arm the quiet timer)', async () => {
    r = await rig();
    const ctx = fakeContext();
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath, { quietReassociateMs: 60_000 })), ctx);
    await driver.start();
    await waitFor('HR', () => has(ctx, 'MDC_ECG_HEART_RATE'));
    await driver.stop();
    expect(r.sim.received).toContain('assoc-release-request');
    // A timer left behind holds the event loop (an agent's shutdown) for up to quietReassociateMs.
    expect((driver as unknown as { intellivue: { timers: Set<unknown> } }).intellivue.timers.size).toBe(0);
  });

  it('polls numerics with extended polls too', async () => {
    r = await rig();
    const ctx = fakeContext();
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath, { numerics: 'extended', waves: { enabled: false } })), ctx);
    await driver.start();
    await waitFor('HR from extended poll', () => has(ctx, 'MDC_ECG_HEART_RATE'));
    expect(r.sim.received).toContain('ext-poll:6');
    expect(r.sim.received.some((m) => m.startsWith('ext-poll:9'))).toBe(false);
  });

  it('extended numerics: a monitor still answering a renewed poll gives no duplicate readings', async () => {
    // This simulated monitor keeps an old extended numerics poll running until its period ends, and answers every 150 ms
    // (a real one every second) so that a renewal comes within the test.
    r = await rig({ numericsPeriodMs: 150 });
    const ctx = fakeContext();
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath, { numerics: 'extended', waves: { enabled: false }, maxMtu: 1000 })), ctx);
    await driver.start();
    await waitFor('the monitor answered an older numerics poll after a newer one', () => r!.sim.numericsAnswersFromOlderPolls >= 2);
    r.sim.restart(60_000); // the monitor stops answering; what it sent still arrives
    const sent = r.sim.numericsAnswersSent;
    const hr = () => ctx.readings().filter((x) => x.mdc?.refid === 'MDC_ECG_HEART_RATE').length;
    await waitFor('every numerics answer emitted or dropped', () => hr() + ctx.counter('superseded_results') >= sent);
    expect(ctx.counter('linked_results')).toBe(0); // one frame per answer, so the counts compare
    // Each answer to a replaced poll is dropped, once the new poll answered (the monitor answers it first), and none is
    // emitted twice or counted as unexpected.
    expect(ctx.counter('superseded_results')).toBe(r.sim.numericsAnswersFromOlderPolls);
    expect(hr() + ctx.counter('superseded_results')).toBe(sent);
    expect(ctx.counter('unexpected_results')).toBe(0);
    // One extended numerics poll at a time: renewed shortly before its period (10 poll intervals) runs out.
    expect(ctx.counter('polls_sent_numerics')).toBeLessThan(ctx.counter('polls_sent_alarms'));
    expect(ctx.logs.filter((l) => String(l.msg).includes('renewed extended numerics poll dropped'))).toHaveLength(1);
  });

  it('extended numerics: a renewal the monitor drops is counted and sent again at once; numerics pause about one poll interval', async () => {
    const { ctx, marks, hr, alarmPolls } = await extendedNumerics();
    const sim = r!.sim;
    sim.dropNextPoll(MOC.VMO_METRIC_NU); // the first renewal (one poll interval before the first poll's period ends)
    const dropped = () => sim.received.indexOf('ext-poll:6 dropped');
    await waitFor('the renewal dropped by the monitor', () => dropped() >= 0);
    const atDrop = alarmPolls(dropped());
    // The next regular renewal would be 9 poll intervals after the dropped one: wait for numerics well past it.
    await waitFor('numerics 12 poll intervals after the dropped renewal', () => (marks.at(-1) ?? 0) >= atDrop + 12, 10_000);
    // Sent again at once: the next numerics poll came within two poll intervals of the dropped one.
    const next = sim.received.indexOf('ext-poll:6', dropped());
    expect(next).toBeGreaterThan(dropped());
    expect(alarmPolls(next) - atDrop).toBeLessThanOrEqual(2);
    // Counted (polls_unanswered) and warned about once.
    expect(ctx.counter('polls_unanswered')).toBeGreaterThanOrEqual(1);
    expect(ctx.logs.filter((l) => /extended numerics poll not answered/.test(String(l.msg)))).toHaveLength(1);
    // Numerics never paused for longer than about one poll interval plus the time-out (one interval).
    expect(longestPause(marks)).toBeLessThanOrEqual(3);
    // The old poll's answers after the new one answered are dropped as superseded: none emitted twice, none unexpected.
    await everyAnswerOnce(ctx, hr);
  });

  it('extended numerics: a renewal answered late (after it was sent again) is used until the newer poll answers, then dropped as superseded', async () => {
    const { ctx, marks, hr, alarmPolls } = await extendedNumerics();
    const sim = r!.sim;
    sim.holdNextPoll(MOC.VMO_METRIC_NU); // the first renewal: answered only when the next numerics poll arrives
    const held = () => sim.received.indexOf('ext-poll:6 held');
    await waitFor('the renewal held by the monitor', () => held() >= 0);
    const atHold = alarmPolls(held());
    await waitFor('numerics 12 poll intervals after the held renewal', () => (marks.at(-1) ?? 0) >= atHold + 12, 10_000);
    await waitFor('the late poll and the first one answered after the newer poll', () => sim.numericsAnswersFromOlderPolls >= 3);
    const next = sim.received.indexOf('ext-poll:6', held());
    expect(next).toBeGreaterThan(held());
    expect(alarmPolls(next) - atHold).toBeLessThanOrEqual(2);
    expect(ctx.counter('polls_unanswered')).toBeGreaterThanOrEqual(1);
    expect(ctx.logs.filter((l) => /extended numerics poll not answered/.test(String(l.msg)))).toHaveLength(1);
    expect(longestPause(marks)).toBeLessThanOrEqual(3);
    // The late poll's answers once the newer one has answered are superseded (not unexpected), none emitted twice.
    await everyAnswerOnce(ctx, hr);
    expect(ctx.counter('superseded_results')).toBeGreaterThanOrEqual(3);
  });
});
