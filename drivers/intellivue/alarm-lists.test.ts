// The alarm lists as snapshots (review rv66 H1, M1): a list that stops coming or cannot be read is not held as current
// for ever, and an answer that says nothing about a list (no alarm-monitor object, one part of a linked answer, a part
// lost) never ends the alarms it holds.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, waitFor, type FakeContext } from '../serial/testing.js';
import { IntellivueDriver } from './index.js';
import { buildPlan } from './options.js';
import { MOC, RORLS, encodeAbort, encodeAssociationAccept } from './protocol/index.js';
import { SIM_ALARMS } from './simulator.js';
import { ACCEPT_ALL, alarmMonitor, fastOptions, mdsCreate, memDriver, pollResult, rig, MemLink, type Rig } from './test-support.js';

let r: Rig | undefined;
let driver: IntellivueDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  await r?.close();
  driver = undefined;
  r = undefined;
});

const AL_MON = MOC.VMO_AL_MON;
const HR_HIGH = { source: 16770, code: 40, type: 0x0200, text: '**HR High' };
const SPO2_LOW = { source: 19384, code: 62, type: 0x0200, text: '**SpO2 Low' };
const brief = (ctx: FakeContext) => ctx.alarms().map((a) => `${a.phase}:${a.text}${a.endedBy ? ` (${a.endedBy})` : ''}`);
const warns = (ctx: FakeContext, re: RegExp) => ctx.logs.filter((l) => l.level === 40 && re.test(String(l.msg)));
const NOT_CURRENT = /^Alarm information from the monitor not current/;

/** Waits for an alarm poll newer than the last one answered, and returns its invoke id. */
async function nextAlarmPoll(link: MemLink, after?: number): Promise<number> {
  await waitFor('a new alarm poll', () => link.polls(AL_MON).length > 0 && link.lastPoll(AL_MON) !== after);
  return link.lastPoll(AL_MON);
}

/** A rig whose monitor has HR High active, and a driver (waves off) on a monotonic clock the test can move on. */
async function startWithHrHigh(ctx: FakeContext): Promise<{ clock: { skew: number }; rig: Rig; driver: IntellivueDriver }> {
  const started = { clock: { skew: 0 }, rig: await rig() };
  r = started.rig;
  r.sim.setAlarms([SIM_ALARMS.hrHigh]);
  const d = new IntellivueDriver(buildPlan(fastOptions(r.hostPath, { waves: { enabled: false } })), ctx, undefined, Date.now, () => performance.now() + started.clock.skew);
  driver = d;
  await d.start();
  await waitFor('HR High', () => brief(ctx).includes('start:**HR High'));
  return { ...started, driver: d };
}

describe('IntelliVue alarm lists that stop coming (H1)', () => {
  it('the monitor drops the alarm polls: after the bound a technical alarm says so and the held alarms end (link-lost); it ends when the lists come again', async () => {
    const ctx = fakeContext();
    const { clock, rig: started, driver: d } = await startWithHrHigh(ctx);
    // From now on the monitor ignores the next alarm polls (numerics answered as before); at the monitor HR High
    // ends and Apnea starts.
    const sim = started.sim;
    sim.dropNextPoll(AL_MON, 6);
    sim.setAlarms([SIM_ALARMS.apnea]);
    await waitFor('an alarm poll dropped', () => sim.received.includes('poll:54 dropped'));
    await new Promise((res) => setTimeout(res, 50)); // an answer to the poll before, if still on the line, has come
    // The bound for a 200 ms poll interval is 10 s (3 intervals, at least 10 s): the driver's monotonic clock jumps
    // past it, as if the polls had been dropped for 11 s.
    clock.skew = 11_000;
    let health = '';
    await waitFor('the technical alarm "not current"', () => {
      health = d.health().detail ?? '';
      return ctx.alarms().some((a) => NOT_CURRENT.test(a.text) && a.phase === 'start');
    });
    expect(ctx.alarms().find((a) => NOT_CURRENT.test(a.text))).toMatchObject({ category: 'technical', priority: 'medium', deviceId: 'mx800-1', bed: 'ICU-7', driverFinding: true }); // no data from the monitor (rv175 M1)
    // The alarm held is no longer shown as current.
    expect(brief(ctx)).toContain('end:**HR High (link-lost)');
    expect(health).toMatch(/alarm lists from the monitor not current/);
    expect(warns(ctx, /alarm information from the monitor not current/i)).toHaveLength(1);
    // The monitor answers again: the lists are current, the technical alarm ends, Apnea starts.
    await waitFor('Apnea and the end of "not current"', () => brief(ctx).includes('start:***Apnea') && ctx.alarms().some((a) => NOT_CURRENT.test(a.text) && a.phase === 'end'));
    expect(ctx.alarms().find((a) => NOT_CURRENT.test(a.text) && a.phase === 'end')?.endedBy).toBeUndefined();
    expect(d.health().detail).not.toMatch(/not current/);
    expect(ctx.logs.some((l) => l.level === 30 && /alarm lists from the monitor current again/.test(String(l.msg)))).toBe(true);
    // Each dropped single poll was counted, and said once (then summarised).
    expect(ctx.counter('polls_unanswered')).toBeGreaterThanOrEqual(5);
    expect(warns(ctx, /alarms poll not answered/)).toHaveLength(1);
  }, 20_000);

  it('the driver stopped while "not current" is up (a config change removed the monitor): it ends plainly, not link-lost (review rv175 L3)', async () => {
    const ctx = fakeContext();
    const { clock, rig: started, driver: d } = await startWithHrHigh(ctx);
    started.sim.dropNextPoll(AL_MON, 1000);
    await waitFor('an alarm poll dropped', () => started.sim.received.includes('poll:54 dropped'));
    clock.skew = 11_000;
    await waitFor('"not current"', () => ctx.alarms().some((a) => NOT_CURRENT.test(a.text) && a.phase === 'start'));
    await d.stop();
    driver = undefined;
    const end = ctx.alarms().filter((a) => NOT_CURRENT.test(a.text)).at(-1);
    expect(end).toMatchObject({ phase: 'end', driverFinding: true });
    // Nothing ("disconnected") takes over from a removed device: an end as link-lost would latch it at the bedside.
    expect(end?.endedBy).toBeUndefined();
  }, 20_000);

  it('an unreadable alarm list is counted each time, warned about at the first since each association', async () => {
    const m = await memDriver();
    driver = m.driver;
    const { link, ctx } = m;
    const bad = Buffer.from([0x00, 0x05, 0x00, 0x02, 0x00, 0x00]); // says 5 entries in 2 bytes
    let id = await nextAlarmPoll(link);
    for (let i = 0; i < 3; i++) link.rx(pollResult(id, AL_MON, [alarmMonitor(bad)]));
    expect(ctx.counter('attribute_parse_errors')).toBe(3);
    expect(warns(ctx, /attribute 0x902/)).toHaveLength(1);
    // A new association: said again at once.
    link.rx(encodeAbort());
    await waitFor('a new association request', () => link.sent.filter((x) => x.kind === 'association' && x.spdu === 'request').length === 2);
    link.rx(encodeAssociationAccept(ACCEPT_ALL));
    link.rx(mdsCreate());
    id = await nextAlarmPoll(link, id);
    link.rx(pollResult(id, AL_MON, [alarmMonitor(bad)]));
    expect(warns(ctx, /attribute 0x902/)).toHaveLength(2);
  });

  it('a P list that cannot be read while the T list can: the P alarms end (link-lost) after the bound, with the technical alarm', async () => {
    let skew = 0;
    const m = await memDriver({}, undefined, Date.now, () => performance.now() + skew);
    driver = m.driver;
    const { link, ctx } = m;
    let id = await nextAlarmPoll(link);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH])]));
    const bad = Buffer.from([0x00, 0x05, 0x00, 0x02, 0x00, 0x00]);
    id = await nextAlarmPoll(link, id);
    link.rx(pollResult(id, AL_MON, [alarmMonitor(bad, [])]));
    // 11 s on (the bound is 10 s), the T list still comes, the P list still cannot be read.
    id = await nextAlarmPoll(link, id);
    skew = 11_000; // the monotonic clock; and the answer in the same turn, before the driver looks at its lists
    link.rx(pollResult(id, AL_MON, [alarmMonitor(bad, [])]));
    await waitFor('the technical alarm', () => ctx.alarms().some((a) => NOT_CURRENT.test(a.text)));
    expect(brief(ctx)).toEqual(['start:**HR High', 'end:**HR High (link-lost)', expect.stringMatching(/^start:Alarm information from the monitor not current/)]);
    expect(driver.health().detail).toMatch(/alarm lists from the monitor not current \(patient: none read for 1\d s\)/);
  });

  it('the wall clock steps 11 s forward while every poll is answered: no alarm ends, no "not current" (review rv72 M1)', async () => {
    let skew = 0;
    const m = await memDriver({}, undefined, () => Date.now() + skew);
    driver = m.driver;
    const { link, ctx } = m;
    let id = await nextAlarmPoll(link);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH])]));
    // A linked answer whose clock steps between its parts: still one whole answer.
    id = await nextAlarmPoll(link, id);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH])], { linked: { state: RORLS.FIRST, count: 1 } }));
    skew = 11_000; // NTP corrects the clock; nothing is dropped
    link.rx(pollResult(id, AL_MON, [alarmMonitor([SPO2_LOW])], { linked: { state: RORLS.LAST, count: 2 } }));
    expect(brief(ctx)).toEqual(['start:**HR High', 'start:**SpO2 Low']);
    // Every alarm poll answered for a while after the step; the driver's check runs every 200 ms.
    for (let i = 0; i < 3; i++) {
      id = await nextAlarmPoll(link, id);
      link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH, SPO2_LOW])]));
    }
    await new Promise((res) => setTimeout(res, 450));
    expect(brief(ctx)).toEqual(['start:**HR High', 'start:**SpO2 Low']);
    expect(driver.health().detail).not.toMatch(/not current/);
  });

  it('listen-only: the bound follows the gaps seen between the other host\'s reads of a list (review rv72 M2)', async () => {
    let mono = 0;
    const link = new MemLink();
    const ctx = fakeContext('mem');
    driver = new IntellivueDriver(buildPlan(fastOptions('/dev/null', { waves: { enabled: false }, listenOnly: true })), ctx, () => link, Date.now, () => mono);
    await driver.start();
    link.rx(encodeAssociationAccept(ACCEPT_ALL));
    link.rx(mdsCreate());
    const notCurrent = () => ctx.alarms().filter((a) => NOT_CURRENT.test(a.text)).map((a) => a.phase);
    const tick = () => new Promise((res) => setTimeout(res, 450)); // the driver's check runs every 200 ms
    // The other host polls the alarm monitor every 12 s, every poll answered.
    const readAt = async (t: number) => {
      mono = t;
      link.rx(pollResult(7, AL_MON, [alarmMonitor([HR_HIGH])]));
      await tick();
    };
    await readAt(0);
    // Until a second read, the bound is max(3 x pollIntervalMs, 10 s): 11 s without a read is too long.
    mono = 11_000;
    await tick();
    expect(notCurrent()).toEqual(['start']);
    await readAt(12_000);
    expect(notCurrent()).toEqual(['start', 'end']);
    // From then on 3 x the longest recent gap (36 s): a read every 12 s is current.
    for (let t = 24_000; t <= 60_000; t += 12_000) {
      mono = t - 1000;
      await tick();
      await readAt(t);
    }
    expect(notCurrent()).toEqual(['start', 'end']);
    // The other host stops reading alarms: not current once 36 s have gone by without a read.
    mono = 60_000 + 35_000;
    await tick();
    expect(notCurrent()).toEqual(['start', 'end']);
    mono = 60_000 + 36_500;
    await tick();
    expect(notCurrent()).toEqual(['start', 'end', 'start']);
    expect(ctx.alarms().at(-1)?.text).toMatch(/not been read for over 36 s/);
    expect(brief(ctx).filter((b) => /HR High/.test(b))).toEqual(['start:**HR High', 'end:**HR High (link-lost)', 'start:**HR High', 'end:**HR High (link-lost)']);
  });
});

describe("IntelliVue alarm repeats when the monitor's clock is set (review rv188 H1)", () => {
  // The engine waits for a listed alarm's next continue in gateway time (the repeatMs each event declares) and ends
  // one not re-reported for 3 of those as "its end was not received": the repeats must not follow the monitor's clock.
  it("the monitor's clock set back 1 h, then forward 2 h, while Apnea is listed: a continue every alarmRepeatMs of gateway time throughout", async () => {
    r = await rig();
    r.sim.setAlarms([SIM_ALARMS.apnea]);
    const ctx = fakeContext();
    driver = new IntellivueDriver(buildPlan(fastOptions(r.hostPath, { waves: { enabled: false }, alarmRepeatMs: 1000 })), ctx);
    await driver.start();
    await waitFor('Apnea', () => brief(ctx).includes('start:***Apnea'));
    const sent = () => ctx.alarms().filter((a) => a.phase !== 'end');
    const HOUR = 3_600_000;
    // Set back an hour (the driver re-bases its reading of the monitor's clock on the replies' absolute time).
    r.sim.setClockOffset(-HOUR);
    await waitFor('3 continues stamped with the monitor clock set back', () => sent().filter((a) => a.deviceTime !== null && a.deviceTime < a.receivedAt - HOUR / 2).length >= 3, 8000);
    // Then forward two hours: no burst of early repeats either.
    r.sim.setClockOffset(HOUR);
    await waitFor('3 continues stamped with the monitor clock set forward', () => sent().filter((a) => a.deviceTime !== null && a.deviceTime > a.receivedAt + HOUR / 2).length >= 3, 8000);
    const events = sent();
    expect(events[0]?.phase).toBe('start');
    for (const [i, ev] of events.entries()) {
      const before = events[i - 1];
      if (!before) continue;
      expect(ev.phase).toBe('continue');
      // At least alarmRepeatMs apart (Date.now rounds to the ms), and within what the one before declared.
      expect(ev.receivedAt - before.receivedAt).toBeGreaterThanOrEqual(990);
      expect(ev.receivedAt - before.receivedAt).toBeLessThanOrEqual(before.repeatMs ?? 0);
    }
    expect(brief(ctx).filter((b) => b.startsWith('end:'))).toEqual([]);
  });
});

describe('IntelliVue alarm answers that say nothing of a list (M1)', () => {
  it('a linked part without the alarm monitor, or an answer without any object, ends no alarm; a list without it does', async () => {
    const m = await memDriver();
    driver = m.driver;
    const { link, ctx } = m;
    let id = await nextAlarmPoll(link);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH])]));
    // The next answer in two linked parts: the alarm monitor in the first, the last part empty.
    id = await nextAlarmPoll(link, id);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH])], { linked: { state: RORLS.FIRST, count: 1 } }));
    link.rx(pollResult(id, AL_MON, [], { linked: { state: RORLS.LAST, count: 2 } }));
    // A plain answer whose poll_info_list is empty.
    id = await nextAlarmPoll(link, id);
    link.rx(pollResult(id, AL_MON, [], { contexts: [] }));
    // Two parts, the alarm in the last: the first part's empty list is not the whole answer.
    id = await nextAlarmPoll(link, id);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([])], { linked: { state: RORLS.FIRST, count: 1 } }));
    link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH])], { linked: { state: RORLS.LAST, count: 2 } }));
    expect(brief(ctx)).toEqual(['start:**HR High']);
    // The alarm monitor with an empty P list: the alarm ended at the monitor.
    id = await nextAlarmPoll(link, id);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([])]));
    expect(brief(ctx)).toEqual(['start:**HR High', 'end:**HR High']);
  });

  it('alarm monitors of two naming contexts in two linked parts: gathered into one snapshot, keyed by context; no flapping', async () => {
    const m = await memDriver();
    driver = m.driver;
    const { link, ctx } = m;
    let id: number | undefined;
    for (let i = 0; i < 3; i++) {
      id = await nextAlarmPoll(link, id);
      link.rx(pollResult(id, AL_MON, [], { linked: { state: RORLS.FIRST, count: 1 }, contexts: [{ contextId: 0, observations: [alarmMonitor([HR_HIGH])] }] }));
      link.rx(pollResult(id, AL_MON, [], { linked: { state: RORLS.LAST, count: 2 }, contexts: [{ contextId: 1, observations: [alarmMonitor([HR_HIGH, SPO2_LOW])] }] }));
    }
    const alarms = ctx.alarms();
    expect(alarms.map((a) => a.phase)).toEqual(['start', 'start', 'start']);
    // The same alarm in two contexts is two alarms; context 0 keeps the documented id.
    expect(new Set(alarms.map((a) => a.alarmId)).size).toBe(3);
    expect(alarms.map((a) => a.alarmId)).toContain('mx800-1:P:16770:40:0');
  });

  it('a linked answer with a part lost is not a snapshot: the alarms of the lost part do not end', async () => {
    const m = await memDriver();
    driver = m.driver;
    const { link, ctx } = m;
    let id = await nextAlarmPoll(link);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH, SPO2_LOW])]));
    id = await nextAlarmPoll(link, id);
    link.rx(pollResult(id, AL_MON, [alarmMonitor([HR_HIGH])], { linked: { state: RORLS.FIRST, count: 1 } }));
    // Part 2 (SpO2 Low) lost on the line.
    link.rx(pollResult(id, AL_MON, [alarmMonitor([])], { linked: { state: RORLS.LAST, count: 3 } }));
    expect(brief(ctx)).toEqual(['start:**HR High', 'start:**SpO2 Low']);
    expect(ctx.counter('linked_results_gap')).toBe(1);
  });
});
