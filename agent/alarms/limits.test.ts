import { describe, expect, it } from 'vitest';
import { MDC, UNITS } from '../model/mdc.js';
import { numeric, s } from './fixtures.js';
import { BedFeeds } from './feeds.js';
import { DEFAULT_LIMIT_CONFIG, DEFAULT_LIMIT_RULES, endPointSlips, LimitEvaluator, rangeSlips, reachableHysteresis, ruleProblems, rulesForBed, validateRule, type LimitConfig, type LimitRule } from './limits.js';
import type { ConditionUpdate } from './types.js';
import type { MdcCode, Quality } from '../model/reading.js';

const HR = MDC.ECG_HEART_RATE;

function feed(ev: LimitEvaluator, values: [number, number | null][], opts: Parameters<typeof numeric>[3] = {}): ConditionUpdate[] {
  const out: ConditionUpdate[] = [];
  for (const [t, v] of values) out.push(...ev.reading(numeric(HR, v, t, opts)), ...ev.tick(s(t)));
  return out;
}

describe('limit rules: delay', () => {
  it('a single noisy sample does not alarm, even with ticks after it', () => {
    const ev = new LimitEvaluator();
    const series: [number, number][] = [];
    for (let t = 0; t < 60; t++) series.push([t, t === 20 ? 180 : 80]);
    const out = feed(ev, series);
    for (let t = 60; t < 120; t += 5) out.push(...ev.tick(s(t)));
    expect(out).toEqual([]);
  });

  it('raises only when the violation has persisted for the delay (10 s for HR)', () => {
    const ev = new LimitEvaluator();
    const before = feed(ev, Array.from({ length: 10 }, (_, t) => [t, 130] as [number, number]));
    expect(before).toEqual([]); // t = 0..9: 9 s held
    const at10 = ev.reading(numeric(HR, 131, 10));
    expect(at10).toHaveLength(1);
    const u = at10[0]!;
    expect(u.present).toBe(true);
    if (u.present) {
      expect(u.spec.key).toBe('limit:bed-1:mon-1:hr-high');
      expect(u.spec.priority).toBe('medium');
      expect(u.spec.category).toBe('physiological');
      expect(u.spec.value).toBe(131);
      expect(u.spec.condition.text).toBe('HR HIGH 131 > 120 /min');
      expect(u.at).toBe(s(10));
    }
    // Already alarmed: further violating samples do not raise again.
    expect(ev.reading(numeric(HR, 135, 11))).toEqual([]);
  });

  it('the why says what the samples showed: time out of range in the delay, readings out and inside', () => {
    const ev = new LimitEvaluator();
    const out = feed(ev, Array.from({ length: 10 }, (_, t) => [t, t === 5 ? 119 : 130] as [number, number]));
    expect(out).toEqual([]);
    expect(ev.reading(numeric(HR, 130, 10)).map((u) => u.present && u.why)).toEqual(['HR HIGH 130 > 120 /min: out of range 9.0 s of the last 10 s (10 readings out, 1 inside; delay 10 s)']);
  });

  it('a tick confirms the delay while the latest sample still violates and is recent: a reading stands until contradicted', () => {
    const ev = new LimitEvaluator();
    ev.reading(numeric(HR, 40, 0));
    ev.reading(numeric(HR, 41, 2));
    for (let t = 3; t < 10; t++) expect(ev.tick(s(t))).toEqual([]);
    const up = ev.tick(s(10));
    expect(up).toHaveLength(1);
    expect(up[0]!.present && up[0]!.spec.key).toBe('limit:bed-1:mon-1:hr-low');
    expect(up[0]!.why).toBe('HR LOW 41 < 50 /min: out of range 10.0 s of the last 10 s (2 readings out, none inside; delay 10 s)');
  });

  it('no sample stands across a gap longer than maxSampleGapS: two spikes 10 min apart are not 10 min of violation', () => {
    const ev = new LimitEvaluator();
    const out = ev.reading(numeric(HR, 180, 0));
    for (let t = 16; t < 600; t += 50) out.push(...ev.tick(s(t))); // the first spike is too old to confirm by now
    out.push(...ev.reading(numeric(HR, 181, 600)));
    expect(out).toEqual([]);
    const up = ev.reading(numeric(HR, 182, 610));
    expect(up.map((u) => u.why)).toEqual(['HR HIGH 182 > 120 /min: out of range 10.0 s of the last 10 s (2 readings out, none inside; delay 10 s)']);
  });

  it('a rule delay longer than maxSampleGapS is confirmed on a feed slower than it (each reading stands for half again its interval); a 1 Hz feed that pauses is not out of range where nothing stands', () => {
    const slowRule = { defaults: [{ id: 'hr-high-30', label: 'HR', metrics: [HR.code], unit: '/min', high: 120, priority: 'medium' as const, delayS: 30, hysteresis: 0 }], maxSampleGapS: 15 };
    // A central station relaying HR every 20 s: 150 from t = 40 on is the condition persisting, raised 30 s later.
    const relay = new LimitEvaluator(slowRule);
    const out = feed(relay, [[0, 80], [20, 80], [40, 150], [60, 150]]);
    for (let t = 61; t <= 69; t++) out.push(...relay.tick(s(t)));
    expect(out).toEqual([]);
    expect(relay.tick(s(70)).map((u) => u.present && u.why)).toEqual(['HR HIGH 150 > 120 /min: out of range 30.0 s of the last 30 s (2 readings out, none inside; delay 30 s)']);
    // A 1 Hz feed violating for 6 s, silent, violating again. Its last reading stands 15 s (to 20); the time after that
    // is neither out nor inside. Back at 40: 10 s of the 30 were out at 45, and the evidence reaches back to the
    // window's start only at 70, 30 s after it came back.
    const fast = new LimitEvaluator(slowRule);
    const pause = (back: number) => feed(fast, [...Array.from({ length: 6 }, (_, t) => [t, 150] as [number, number]), ...Array.from({ length: 40 }, (_, i) => [back + i, 150] as [number, number])]);
    expect(pause(40).map((u) => u.present && u.at)).toEqual([s(70)]);
    // Back at 25: out of range 25 s of the last 30 at 30 (0–20 standing, 25–30), more than 3/4 of the delay: raised then.
    const short = new LimitEvaluator(slowRule);
    const run = feed(short, [...Array.from({ length: 6 }, (_, t) => [t, 150] as [number, number]), ...Array.from({ length: 10 }, (_, i) => [25 + i, 150] as [number, number])]);
    expect(run.map((u) => u.present && u.at)).toEqual([s(30)]);
  });

  it('a slow feed (a thermometer every 60 s) alarms after the delay on its first out-of-range reading', () => {
    const ev = new LimitEvaluator();
    const TEMP = MDC.TEMP_BODY;
    const out = [...ev.reading(numeric(TEMP, 37, 0)), ...ev.reading(numeric(TEMP, 41, 60))];
    for (let t = 61; t < 70; t++) out.push(...ev.tick(s(t)));
    expect(out).toEqual([]);
    expect(ev.tick(s(70)).map((u) => u.present && u.spec.condition.text)).toEqual(['TEMP HIGH 41 > 39 °C']);
  });

  it('brief dropouts (a questionable reading every 4 s) neither end nor hold off a desaturation (review rv39)', () => {
    const ev = new LimitEvaluator();
    const SPO2 = MDC.PULS_OXIM_SAT_O2;
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 12; t++) {
      const q = t % 4 === 3 ? { state: 'questionable' as const, reasons: ['artifact'] } : { state: 'valid' as const };
      out.push(...ev.reading(numeric(SPO2, 75, t, { quality: q })), ...ev.tick(s(t)));
    }
    expect(out.filter((u) => u.present).map((u) => u.present && u.spec.key)).toEqual(['limit:bed-1:mon-1:spo2-desat-low', 'limit:bed-1:mon-1:spo2-low']);
  });

  it('samples that say nothing (not valid) do not confirm: 10 minutes of them after a spike, then one spike, is no alarm', () => {
    const ev = new LimitEvaluator();
    const out = ev.reading(numeric(HR, 180, 0));
    for (let t = 1; t < 600; t++) out.push(...ev.reading(numeric(HR, 80, t, { quality: { state: 'invalid', reasons: ['artifact'] } })), ...ev.tick(s(t)));
    out.push(...ev.reading(numeric(HR, 181, 600)));
    for (let t = 601; t <= 605; t++) out.push(...ev.tick(s(t)));
    expect(out).toEqual([]);
  });

  it('NIBP (delay 0) alarms on the determination itself', () => {
    const ev = new LimitEvaluator();
    const out = ev.reading(numeric(MDC.PRESS_BLD_NONINV_SYS, 85, 0));
    expect(out).toHaveLength(1);
    expect(out[0]!.present && out[0]!.spec.condition.text).toBe('NIBP SYS LOW 85 < 90 mmHg');
  });
});

describe('limit rules: the delay judged on time out of range, 3/4 of it (reviews rv191 H1, rv194 H1)', () => {
  const SPO2 = MDC.PULS_OXIM_SAT_O2;
  /** 1 Hz readings of `value(t)` (null: not valid) for `secs` seconds with a tick after each, as the engine runs; the raises and ends. */
  function run(mdc: MdcCode, value: (t: number) => number | null, secs: number, ev = new LimitEvaluator()): string[] {
    const out: ConditionUpdate[] = [];
    for (let t = 0; t < secs; t++) {
      const v = value(t);
      const r = v === null ? numeric(mdc, 97, t, { quality: { state: 'questionable', reasons: ['artifact'] } }) : numeric(mdc, v, t);
      out.push(...ev.reading(r), ...ev.tick(s(t) + 500));
    }
    return out.map((u) => (u.present ? `${(u.at - s(0)) / 1000} s raised ${u.spec.condition.text}` : `${(u.at - s(0)) / 1000} s ended ${u.key}`));
  }

  // rv194 H1: time back inside counted as violation, so that brief spikes a delay apart alarmed.
  it('two 1-s HR spikes 10 s apart raise nothing', () => {
    expect(run(HR, (t) => (t === 0 || t === 10 ? 130 : 80), 60)).toEqual([]);
  });

  it('a 1-s SpO2 dip to 75 every 5 s raises neither DESAT nor LOW', () => {
    expect(run(SPO2, (t) => (t % 5 === 0 ? 75 : 97), 300)).toEqual([]);
  });

  it('a 1-s HR spike every 9, 10 or 11 s raises nothing', () => {
    for (const n of [9, 10, 11]) expect(run(HR, (t) => (t % n === 0 ? 130 : 80), 300)).toEqual([]);
  });

  it('5 s out, 9 s back inside, then one spike: nothing (a genuine recovery)', () => {
    expect(run(HR, (t) => (t < 5 || t === 14 ? 130 : 80), 60)).toEqual([]);
  });

  it('a genuine recovery: out of range for 8 s, inside for 12 s, again and again: nothing', () => {
    expect(run(HR, (t) => (t % 20 < 8 ? 130 : 100), 300)).toEqual([]);
    expect(run(SPO2, (t) => (t % 20 < 8 ? 86 : 95), 300)).toEqual([]);
  });

  // rv191 H1: one reading inside restarted the delay, so that these never alarmed.
  it('HR 121-127 for 5 minutes with one 119 every 8 s raises HR HIGH after the delay', () => {
    expect(run(HR, (t) => (t % 8 === 7 ? 119 : 121 + (t % 8)), 300)).toEqual(['10 s raised HR HIGH 123 > 120 /min']);
  });

  it('SpO2 84-88 % for 5 minutes with one 90 every 9 s raises SpO2 LOW after the delay, no DESAT', () => {
    expect(run(SPO2, (t) => (t % 9 === 8 ? 90 : 84 + (t % 5)), 300)).toEqual(['10 s raised SpO2 LOW 84 < 90 %']);
  });

  it('3/4 of the delay: 3 s out and 1 s inside raises at the delay; 2 s out and 1 s inside only on the longer look-back (3 delays); HR flapping 119/121 never', () => {
    expect(run(HR, (t) => (t % 4 === 3 ? 119 : 125), 120)).toEqual(['10 s raised HR HIGH 125 > 120 /min']);
    expect(run(HR, (t) => (t % 3 === 2 ? 119 : 125), 300)).toEqual(['30 s raised HR HIGH 125 > 120 /min']);
    expect(run(HR, (t) => (t % 2 ? 121 : 119), 300)).toEqual([]);
  });

  it('a continuous violation raises exactly at the delay, also after a stretch inside (not at 3/4 of it)', () => {
    expect(run(HR, () => 130, 30)).toEqual(['10 s raised HR HIGH 130 > 120 /min']);
    expect(run(SPO2, () => 75, 30)).toEqual(['5 s raised SpO2 DESAT LOW 75 < 80 %', '10 s raised SpO2 LOW 75 < 90 %']);
    expect(run(HR, (t) => (t < 20 ? 100 : 130), 60)).toEqual(['30 s raised HR HIGH 130 > 120 /min']);
  });

  it('SpO2 70 with a dropout (questionable) every 3 s alarms after the delays (review rv39)', () => {
    // 5 s is a dropout, which confirms nothing: DESAT is raised at the next valid reading.
    expect(run(SPO2, (t) => (t % 3 === 2 ? null : 70), 60)).toEqual(['6 s raised SpO2 DESAT LOW 70 < 80 %', '10 s raised SpO2 LOW 70 < 90 %']);
  });

  it('a thermometer once a minute: alarms the delay after its first high reading, by tick', () => {
    const ev = new LimitEvaluator();
    const TEMP = MDC.TEMP_BODY;
    const out = [...ev.reading(numeric(TEMP, 37, 0)), ...ev.reading(numeric(TEMP, 37.5, 60)), ...ev.reading(numeric(TEMP, 40, 120))];
    for (let t = 121; t < 130; t++) out.push(...ev.tick(s(t)));
    expect(out).toEqual([]);
    expect(ev.tick(s(130)).map((u) => u.present && u.why)).toEqual(['TEMP HIGH 40 > 39 °C: out of range 10.0 s of the last 10 s (1 reading out, none inside; delay 10 s)']);
  });

  it('a clock step moves the samples with it: a violation under way before a 1 h step forward is raised at its delay', () => {
    const ev = new LimitEvaluator();
    const out = feed(ev, Array.from({ length: 6 }, (_, t) => [t, 130] as [number, number]));
    ev.shiftClock(3600_000);
    out.push(...feed(ev, Array.from({ length: 10 }, (_, i) => [3606 + i, 130] as [number, number])));
    expect(out.map((u) => u.present && u.at)).toEqual([s(3610)]);
  });

  it('questionable readings raise nothing', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t < 60; t++) out.push(...ev.reading(numeric(SPO2, t % 9 === 8 ? 95 : 70, t, { quality: { state: 'questionable', reasons: ['obx-8:QUES'] } })), ...ev.tick(s(t) + 500));
    expect(out).toEqual([]);
  });

  it('the state stays bounded: an hour of HR flapping 119/121 at 1 Hz keeps a few segments per rule, not a sample each', () => {
    const ev = new LimitEvaluator();
    expect(run(HR, (t) => (t % 2 ? 121 : 119), 3600, ev)).toEqual([]);
    const held = (ev as unknown as { tracks: Map<string, { segments?: unknown[] }> }).tracks;
    const sizes = [...held.values()].map((t) => t.segments?.length ?? Infinity);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(32); // 3 delays of 1-s segments
  });

  // rv196 H1: judged on the last delay alone, a value out 2/3 to 3/4 of the time was never raised, however long.
  describe('out of range more than half of the last 3 delays raises; half or less never does (review rv196 H1)', () => {
    it('SpO2 85 with a 90 every 3 s (2/3 below 90): SpO2 LOW at 3 × the delay, saying so', () => {
      const ev = new LimitEvaluator();
      const out: ConditionUpdate[] = [];
      for (let t = 0; t <= 30; t++) out.push(...ev.reading(numeric(SPO2, t % 3 === 2 ? 90 : 85, t)), ...ev.tick(s(t) + 500));
      expect(out.map((u) => [(u.at - s(0)) / 1000, u.present && u.why])).toEqual([[30, 'SpO2 LOW 85 < 90 %: out of range 20.0 s of the last 30 s (21 readings out, 10 inside; delay 10 s)']]);
    });

    it('SpO2 swinging 87, 88, 89, 90, 91, 90, 89, 88, 87, 86 (70 % below 90, mean 88.5): SpO2 LOW by 3 × the delay, no DESAT', () => {
      const swing = [87, 88, 89, 90, 91, 90, 89, 88, 87, 86];
      expect(run(SPO2, (t) => swing[t % 10]!, 3600)).toEqual(['30 s raised SpO2 LOW 87 < 90 %']);
    });

    it('SpO2 85 with a 91 for 2 s every 6 s: SpO2 LOW at 3 × the delay', () => {
      expect(run(SPO2, (t) => (t % 6 >= 4 ? 91 : 85), 300)).toEqual(['30 s raised SpO2 LOW 85 < 90 %']);
    });

    it('HR flapping 1:1 (130/80 at 1 Hz, 2 s each way) or out 8 s in 20 raises nothing in an hour; nor do spikes and dips a delay apart', () => {
      expect(run(HR, (t) => (t % 2 === 0 ? 130 : 80), 3600)).toEqual([]);
      expect(run(HR, (t) => (t % 4 < 2 ? 130 : 80), 3600)).toEqual([]);
      expect(run(HR, (t) => (t % 20 < 8 ? 130 : 80), 3600)).toEqual([]);
      expect(run(HR, (t) => (t % 10 === 0 ? 130 : 80), 600)).toEqual([]);
      expect(run(SPO2, (t) => (t % 5 === 0 ? 75 : 97), 600)).toEqual([]);
      // 2 Hz, 1:1, with a tick after each reading.
      const ev = new LimitEvaluator();
      const out: ConditionUpdate[] = [];
      for (let i = 0; i < 7200; i++) out.push(...ev.reading(numeric(HR, i % 2 ? 80 : 130, i / 2)), ...ev.tick(s(i / 2) + 250));
      expect(out).toEqual([]);
    });
  });

  // rv196 L1: beyond MAX_SEGMENTS the oldest segment was dropped, its time then not seen, and the alarm held back.
  describe('the segment cap loses no time out of range (review rv196 L1)', () => {
    const slow = { defaults: [{ id: 'hr', label: 'HR', metrics: [HR.code], unit: '/min', low: 50, high: 120, priority: 'medium' as const, delayS: 300, hysteresis: 5 }], maxSampleGapS: 15 };
    const segments = (ev: LimitEvaluator): number[] => [...(ev as unknown as { tracks: Map<string, { segments: unknown[] }> }).tracks.values()].map((t) => t.segments.length);

    it('HR at 4 Hz, 6 readings out and 1 inside (86 %), with a delay of 300 s: raised at the delay, the state bounded meanwhile', () => {
      const ev = new LimitEvaluator(slow);
      const out: ConditionUpdate[] = [];
      let most = 0;
      for (let i = 0; i < 4 * 400; i++) {
        out.push(...ev.reading(numeric(HR, i % 7 === 6 ? 118 : 130, i / 4)), ...ev.tick(s(i / 4) + 100)); // 118: inside, not by the hysteresis
        most = Math.max(most, ...segments(ev));
      }
      expect(out.map((u) => [(u.at - s(0)) / 1000, u.present])).toEqual([[300, true]]);
      expect(out[0]!.why).toMatch(/^HR HIGH 130 > 120 \/min: out of range 25\d\.\d s of the last 300 s \(\d+ readings out, \d+ inside; delay 300 s\)$/);
      expect(most).toBeLessThanOrEqual(1024);
    });

    it('HR at 4 Hz, 1 reading out and 2 inside, for 30 minutes with a delay of 300 s: nothing raised, at most 1024 segments', () => {
      const ev = new LimitEvaluator(slow);
      const out: ConditionUpdate[] = [];
      for (let i = 0; i < 4 * 1800; i++) out.push(...ev.reading(numeric(HR, i % 3 ? 110 : 130, i / 4)), ...ev.tick(s(i / 4) + 100));
      expect(out).toEqual([]);
      expect(Math.max(...segments(ev))).toBeLessThanOrEqual(1024);
    });

    // rv198 H1: a folded segment was out at the window's start only when out throughout, so rule (b) never raised while
    // folding: 60-72 % out at 4 Hz with a delay of 300 s was never raised.
    it('HR at 4 Hz, 2 readings out and 1 inside (2/3), with a delay of 300 s, folded: raised by 3 delays (review rv198 H1)', () => {
      const ev = new LimitEvaluator(slow);
      const out: ConditionUpdate[] = [];
      let most = 0;
      for (let i = 0; i < 4 * 1000; i++) {
        out.push(...ev.reading(numeric(HR, i % 3 === 2 ? 110 : 130, i / 4)), ...ev.tick(s(i / 4) + 100));
        most = Math.max(most, ...segments(ev));
      }
      expect(most).toBe(1024); // folded: the cap was reached
      expect(out.filter((u) => u.present)).toHaveLength(1);
      expect((out[0]!.at - s(0)) / 1000).toBeGreaterThanOrEqual(900);
      expect((out[0]!.at - s(0)) / 1000).toBeLessThan(1000);
      expect(out[0]!.why).toMatch(/of the last 900 s/);
    });

    // rv197 M1: a folded segment's time out of range was spread evenly where a window cut it, and a value out exactly
    // half the time tipped over half and was raised again and again.
    it.each([
      ['1:1', (i: number) => i % 2 === 0],
      ['2:2', (i: number) => i % 4 < 2],
    ])('HR at 4 Hz flapping %s (out exactly half the time) for an hour with a delay of 300 s, folded: never raised (review rv197 M1)', (_, isOut) => {
      const ev = new LimitEvaluator(slow);
      const out: ConditionUpdate[] = [];
      let most = 0;
      for (let i = 0; i < 4 * 3600; i++) {
        out.push(...ev.reading(numeric(HR, isOut(i) ? 130 : 110, i / 4)), ...ev.tick(s(i / 4) + 100));
        most = Math.max(most, ...segments(ev));
      }
      expect(out).toEqual([]);
      expect(most).toBe(1024); // folded: the cap was reached
    });
  });

  // rv196 L3: a sample stands across readings not valid; the why said nothing of them.
  it('the why counts the readings not valid in the window: a DESAT standing on two valid readings says so (review rv196 L3)', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 16; t++) {
      const r = t === 0 || t === 14 ? numeric(SPO2, 75, t) : t < 14 ? numeric(SPO2, null, t, { quality: { state: 'invalid', reasons: ['artifact'] } }) : numeric(SPO2, 97, t);
      out.push(...ev.reading(r));
    }
    expect(out.filter((u) => u.present).map((u) => u.why)).toEqual([
      'SpO2 LOW 75 < 90 %: out of range 10.0 s of the last 10 s (2 readings out, none inside, 13 not valid over the last 14 s; delay 10 s)',
      'SpO2 DESAT LOW 75 < 80 %: out of range 5.0 s of the last 5 s (2 readings out, none inside, 13 not valid over the last 14 s; delay 5 s)',
    ]);
  });

  it('a raise by a tick 1 ms after the delay does not say "over the last 10 s" of a 10 s window', () => {
    const ev = new LimitEvaluator();
    for (let t = 0; t < 10; t++) ev.reading(numeric(HR, 130, t));
    expect(ev.tick(s(10) + 1).map((u) => u.why)).toEqual(['HR HIGH 130 > 120 /min: out of range 10.0 s of the last 10 s (10 readings out, none inside; delay 10 s)']);
  });
});

describe('limit rules: a value exactly on a limit', () => {
  // Limits are strict (value > high, value < low): a common integer value on the limit must not alarm (review rv85 M1).
  const SPO2 = MDC.PULS_OXIM_SAT_O2;
  /** Readings of `v` from t = 0 to 30 s, each followed by a tick; the raised alarms as [key, at]. */
  const held = (code: MdcCode, v: number): [string, number][] => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 30; t++) out.push(...ev.reading(numeric(code, v, t)), ...ev.tick(s(t)));
    return out.map((u) => [u.present ? u.spec.key : `ended ${u.key}`, u.at]);
  };

  it('HR 120 on a high limit of 120, held 30 s, raises nothing; 121 raises after the 10 s delay', () => {
    expect(held(HR, 120)).toEqual([]);
    expect(held(HR, 121)).toEqual([['limit:bed-1:mon-1:hr-high', s(10)]]);
  });

  it('SpO2 90 on a low limit of 90, held 30 s, raises nothing; 89 raises after the 10 s delay', () => {
    expect(held(SPO2, 90)).toEqual([]);
    expect(held(SPO2, 89)).toEqual([['limit:bed-1:mon-1:spo2-low', s(10)]]);
  });
});

describe('limit rules: hysteresis', () => {
  it('resolves only when back inside by the margin', () => {
    const ev = new LimitEvaluator();
    feed(ev, Array.from({ length: 11 }, (_, t) => [t, 130] as [number, number]));
    expect(ev.reading(numeric(HR, 119, 12))).toEqual([]); // inside, but not by 5
    expect(ev.reading(numeric(HR, 116, 13))).toEqual([]);
    expect(ev.reading(numeric(HR, 121, 14))).toEqual([]); // back out: still the same alarm
    const clear = ev.reading(numeric(HR, 115, 15));
    expect(clear).toEqual([{ present: false, key: 'limit:bed-1:mon-1:hr-high', at: s(15), why: 'HR back inside limit: 115 /min' }]);
  });

  it('low limit: resolves at low + hysteresis', () => {
    const ev = new LimitEvaluator();
    const spo2 = (v: number, t: number) => numeric(MDC.PULS_OXIM_SAT_O2, v, t);
    for (let t = 0; t <= 10; t++) ev.reading(spo2(88, t));
    expect(ev.reading(spo2(91, 11))).toEqual([]);
    const out = ev.reading(spo2(92, 12));
    expect(out.map((u) => u.present)).toEqual([false]);
  });
});

describe('limit rules: quality', () => {
  it('readings that are not valid never trigger', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t < 40; t++) {
      const state = (['questionable', 'invalid', 'unavailable'] as const)[t % 3]!;
      out.push(...ev.reading(numeric(HR, 200, t, { quality: { state, reasons: ['artifact'] } })), ...ev.tick(s(t)));
      out.push(...ev.reading(numeric(MDC.PULS_OXIM_SAT_O2, null, t)));
    }
    expect(out).toEqual([]);
  });

  it('readings that are not valid never resolve', () => {
    const ev = new LimitEvaluator();
    feed(ev, Array.from({ length: 11 }, (_, t) => [t, 130] as [number, number]));
    const out: ConditionUpdate[] = [];
    for (let t = 11; t < 30; t++) out.push(...ev.reading(numeric(HR, 80, t, { quality: { state: 'invalid', reasons: ['lead-off'] } })));
    out.push(...ev.reading(numeric(HR, null, 30)));
    expect(out).toEqual([]);
    expect(ev.reading(numeric(HR, 80, 31)).map((u) => u.present)).toEqual([false]);
  });

  it('a valid sample followed by invalid ones is not confirmed by tick', () => {
    const ev = new LimitEvaluator();
    ev.reading(numeric(HR, 150, 0));
    ev.reading(numeric(HR, 150, 1, { quality: { state: 'invalid', reasons: ['sensor-off'] } }));
    expect(ev.tick(s(12))).toEqual([]);
  });

  it('a reading the sender retracted (HL7 OBX-11 W: invalid, hl7-status:W) above a high limit for longer than the delay raises nothing (review rv85 H1)', () => {
    const run = (quality: Quality) => {
      const ev = new LimitEvaluator();
      const out: ConditionUpdate[] = [];
      for (let t = 0; t <= 30; t++) out.push(...ev.reading(numeric(HR, 150, t, { quality })), ...ev.tick(s(t)));
      return out;
    };
    expect(run({ state: 'invalid', reasons: ['hl7-status:W'] })).toEqual([]);
    // The same run, valid, does alarm: it is the quality that holds it back.
    expect(run({ state: 'valid' }).map((u) => u.present && u.spec.key)).toEqual(['limit:bed-1:mon-1:hr-high']);
  });

  it('coded values and unknown units are not compared', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 12; t++) {
      out.push(...ev.reading(numeric(HR, 'ASYSTOLE', t)));
      out.push(...ev.reading(numeric(HR, 300, t, { unit: { ucum: 'Hz' } })));
    }
    expect(out).toEqual([]);
  });
});

describe('limit configuration', () => {
  it('per-bed overrides and extra rules apply to that bed only', () => {
    const config: LimitConfig = {
      ...DEFAULT_LIMIT_CONFIG,
      beds: { 'bed-3': { overrides: { spo2: { low: 88 }, temp: { enabled: false } }, extra: [{ id: 'hr-brady', label: 'HR BRADY', metrics: [HR.code], unit: '/min', low: 40, priority: 'high', delayS: 0, hysteresis: 2 }] } },
    };
    const ev = new LimitEvaluator(config);
    const spo2 = (bed: string, t: number) => numeric(MDC.PULS_OXIM_SAT_O2, 89, t, { bed });
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 10; t++) out.push(...ev.reading(spo2('bed-1', t)), ...ev.reading(spo2('bed-3', t)));
    expect(out.map((u) => (u.present ? u.spec.key : u.key))).toEqual(['limit:bed-1:mon-1:spo2-low']);
    expect(rulesForBed(config, 'bed-3').map((r) => r.id)).not.toContain('temp');
    expect(ev.reading(numeric(HR, 35, 20, { bed: 'bed-3' })).map((u) => u.present && u.spec.priority)).toEqual(['high']);
  });

  it('converts convertible units (°F → °C)', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 10; t++) out.push(...ev.reading(numeric(MDC.TEMP_BODY, 104, t, { unit: { ucum: '[degF]' } })));
    expect(out).toHaveLength(1);
    expect(out[0]!.present && out[0]!.spec.condition.text).toBe('TEMP HIGH 40 > 39 °C');
  });

  it('each device on a bed is tracked separately', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 10; t++) {
      out.push(...ev.reading(numeric(HR, 130, t, { deviceId: 'a' })));
      out.push(...ev.reading(numeric(HR, t % 2 ? 130 : 80, t, { deviceId: 'b' })));
    }
    expect(out.map((u) => (u.present ? u.spec.key : u.key))).toEqual(['limit:bed-1:a:hr-high']);
  });

  it('a rule watching two metrics tracks each apart: a normal source neither masks nor ends the other\'s alarm', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    // Airway RR 4 and impedance RR 14 (cardiac artefact) from one monitor: the airway RR alarms.
    for (let t = 0; t <= 10; t++) out.push(...ev.reading(numeric(MDC.RESP_RATE, 4, t)), ...ev.reading(numeric(MDC.TTHOR_RESP_RATE, 14, t, { unit: UNITS.RESP_PER_MIN })));
    expect(out.map((u) => (u.present ? `${u.spec.key} ${u.spec.condition.text}` : u.key))).toEqual([`limit:bed-1:mon-1:rr-low:${MDC.RESP_RATE.code} RR LOW 4 < 8 /min (MDC_RESP_RATE)`]);
    // ABP pulse 150 alarms; an SpO2 pulse of 80 next to it does not end it.
    const pr: ConditionUpdate[] = [];
    for (let t = 20; t <= 30; t++) pr.push(...ev.reading(numeric(MDC.PULS_RATE, 150, t)));
    expect(pr.map((u) => u.present && u.spec.key)).toEqual([`limit:bed-1:mon-1:pr-high:${MDC.PULS_RATE.code}`]);
    for (let t = 31; t <= 60; t++) pr.push(...ev.reading(numeric(MDC.PULS_RATE, 150, t)), ...ev.reading(numeric(MDC.PULS_OXIM_PULS_RATE, 80, t)), ...ev.tick(s(t)));
    // (The airway RR alarm ends on tick meanwhile: RR stopped at 10 s, rv77 H1; not a pulse-rate change.)
    expect(pr.filter((u) => (u.present ? u.spec.key : u.key).includes(':pr-'))).toHaveLength(1);
    // A rule with one metric keeps its key without the code.
    expect(feed(new LimitEvaluator(), Array.from({ length: 11 }, (_, t) => [t, 130] as [number, number])).map((u) => u.present && u.spec.key)).toEqual(['limit:bed-1:mon-1:hr-high']);
  });

  it('"no longer monitored": ends when the device went silent or moved to one other bed, not when a multi-bed id still sends for others (review rv39)', () => {
    // Each evaluator with the feeds the engine's technical monitor keeps: told of every reading before it is judged.
    const evaluator = () => {
      const feeds = new BedFeeds(() => 30_000);
      const ev = new LimitEvaluator();
      const read = (r: ReturnType<typeof numeric>) => (feeds.heard(r.deviceId, r.bed!, r.receivedAt), ev.reading(r));
      return { read, tick: (t: number) => ev.tick(s(t), feeds) };
    };
    const ends = (us: ConditionUpdate[]) => us.filter((u) => !u.present).map((u) => !u.present && `${u.key} ${u.why}`);
    // A central station's id relays bed-1 and bed-2; bed-1's monitor goes quiet, bed-2 goes on.
    const cs = evaluator();
    for (let t = 0; t <= 10; t++) for (const bed of ['bed-1', 'bed-2']) cs.read(numeric(HR, 150, t, { deviceId: 'cs', bed }));
    const out: ConditionUpdate[] = [];
    for (let t = 11; t <= 120; t++) out.push(...cs.read(numeric(HR, 150, t, { deviceId: 'cs', bed: 'bed-2' })), ...cs.tick(t));
    expect(ends(out)).toEqual([]);
    // A monitor moved from bed-1 to bed-2: its bed-1 alarm ends, unconfirmed, saying so.
    const mon = evaluator();
    for (let t = 0; t <= 10; t++) mon.read(numeric(HR, 150, t, { bed: 'bed-1' }));
    const moved: ConditionUpdate[] = [];
    for (let t = 11; t <= 45; t++) moved.push(...mon.read(numeric(HR, 80, t, { bed: 'bed-2' })), ...mon.tick(t));
    expect(ends(moved)).toEqual(['limit:bed-1:mon-1:hr-high no longer monitored: mon-1 now sends for bed bed-2, nothing for bed bed-1 for 31 s']);
    // A device gone silent altogether.
    const quiet = evaluator();
    for (let t = 0; t <= 10; t++) quiet.read(numeric(HR, 150, t));
    const gone: ConditionUpdate[] = [];
    for (let t = 11; t <= 45; t++) gone.push(...quiet.tick(t));
    expect(ends(gone)).toEqual(['limit:bed-1:mon-1:hr-high no longer monitored: device mon-1 silent for 31 s']);
  });

  it('default rules are valid and validateRule reports broken ones', () => {
    for (const r of DEFAULT_LIMIT_RULES) expect(validateRule(r)).toEqual([]);
    expect(validateRule({ id: 'x', label: 'X', metrics: [], unit: '', low: 10, high: 5, priority: 'low', delayS: -1, hysteresis: -1 })).toHaveLength(4);
  });

  it('validateRule refuses neither an end no reading can reach nor a low whose end lies above the high: both are end-point slips', () => {
    const spo2 = DEFAULT_LIMIT_RULES.find((r) => r.id === 'spo2')!;
    expect(validateRule({ ...spo2, low: 99 })).toEqual([]); // endPointSlips: warned of and substituted, not refused
    expect(endPointSlips({ ...spo2, low: 99 }).map((e) => e.message)).toEqual([
      'rule spo2: low 99 + hysteresis 2 = 101 is above 100 %, the most a reading can be: the low alarm could never end, and once acknowledged would hide every later episode; hysteresis 1 is used instead (the alarm ends at 100)',
    ]);
    expect(endPointSlips({ ...spo2, low: 98 })).toEqual([]); // ends at 100: reachable
    expect(endPointSlips({ ...spo2, high: 1, low: null }).map((e) => e.message)).toEqual([
      'rule spo2: high 1 - hysteresis 2 = -1 is below 0 %, the least a reading can be: the high alarm could never end, and once acknowledged would hide every later episode; hysteresis 1 is used instead (the alarm ends at 0)',
    ]);
    const hr = DEFAULT_LIMIT_RULES.find((r) => r.id === 'hr')!;
    // A low whose end lies above the high is not refused either (review rv127 M1): substituted like an end-point slip.
    expect(validateRule({ ...hr, low: 60, high: 64 })).toEqual([]);
    expect(validateRule({ ...hr, low: 60, high: 66 })).toEqual([]);
    expect(validateRule({ ...hr, low: 64, high: 60 })).toEqual(['rule hr: low 64 must be below high 60']);
  });

  it('endPointSlips names a low + hysteresis above the high, once for the rule; the rule runs with min(default, high - low), within the range too (review rv127 M1)', () => {
    const rule = (id: string) => DEFAULT_LIMIT_RULES.find((r) => r.id === id)!;
    expect(endPointSlips({ ...rule('hr'), low: 60, high: 64 })).toEqual([
      {
        limit: 'low',
        pastOther: true,
        hysteresis: 5,
        used: 4,
        message: 'rule hr: low 60 + hysteresis 5 = 65 is above high 64: the low alarm would end only at a value that is itself too high (and the high alarm only at 59, below low), and once acknowledged would hide every later episode; hysteresis 4 is used instead (the low alarm ends at 64, the high at 60)',
        short: "puts the low alarm's end at 65, above high 64 (the high alarm's at 59, below low 60): hysteresis 4 is used (ends at 64 and 60)",
      },
    ]);
    // Its high end (-30) is also below the range: one slip, whose substitute (the default) answers both.
    expect(endPointSlips({ ...rule('hr'), hysteresis: 150 }, 5)).toEqual([expect.objectContaining({ limit: 'low', pastOther: true, used: 5 })]);
    expect(reachableHysteresis({ ...rule('hr'), hysteresis: 150 }, 5)).toBe(5);
    expect(reachableHysteresis({ ...rule('hr'), low: 50, high: 52 }, 5)).toBe(2); // the gap
    expect(reachableHysteresis({ ...rule('hr'), low: 50, high: 55 }, 5)).toBe(5); // ends at 55 = high: fits
    expect(endPointSlips({ ...rule('hr'), low: 50, high: 55 })).toEqual([]);
    expect(reachableHysteresis({ ...rule('spo2'), low: 99, high: 100 }, 2)).toBe(1);
    expect(reachableHysteresis({ ...rule('temp'), low: 38.9, high: 39, hysteresis: 0.2 })).toBe(0.1); // not 0.10000000000000142
    // Within the range as well: spo2 97..100 with 10 gets min(2, 3, 3) = 2; with the gap the binding one, it wins.
    expect(reachableHysteresis({ ...rule('spo2'), low: 97, high: 100, hysteresis: 10 }, 2)).toBe(2);
    // A rule in code with no range, and a limit itself outside the range, are still judged against the other limit.
    const { range: _r, ...hrNoRange } = rule('hr');
    expect(reachableHysteresis({ ...hrNoRange, low: 50, high: 52 })).toBe(2);
    expect(endPointSlips({ ...hrNoRange, low: 50, high: 52 })).toEqual([expect.objectContaining({ pastOther: true, used: 2 })]);
    expect(reachableHysteresis({ ...rule('spo2'), low: -1, high: 0 }, 2)).toBe(0); // past the other limit, and high 0 ends at 0 at most
    // rulesForBed runs it with the substitute.
    const config: LimitConfig = { ...DEFAULT_LIMIT_CONFIG, beds: { b: { overrides: { hr: { low: 50, high: 52 }, rr: { hysteresis: 25 } } } } };
    expect(rulesForBed(config, 'b').find((r) => r.id === 'hr')).toMatchObject({ low: 50, high: 52, hysteresis: 2 });
    expect(rulesForBed(config, 'b').find((r) => r.id === 'rr')).toMatchObject({ low: 8, high: 30, hysteresis: 2 });
  });

  it('the substitute never puts the low end above the high as the engine adds them (decimal limits a step or two apart)', () => {
    const bad: string[] = [];
    for (const base of DEFAULT_LIMIT_RULES) {
      const r = base.range!;
      for (const step of [0.1, 0.05, 0.01, 1]) {
        for (let i = 0; i <= 400; i++) {
          const low = Number((r.min + i * step).toFixed(4));
          for (const gap of [1, 2, 3]) {
            const high = Number((low + gap * step).toFixed(4));
            if (high > r.max) continue;
            const rule: LimitRule = { ...base, low, high, hysteresis: base.hysteresis * 7 };
            const used = reachableHysteresis(rule, base.hysteresis);
            if (!(low + used <= high) || !(used > 0) || endPointSlips({ ...rule, hysteresis: used }).length) bad.push(`${base.id} ${low}..${high}: ${used}`);
          }
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it("endPointSlips names a one-sided rule whose hysteresis puts its end point beyond the rule's range; the rule runs with the default hysteresis, or the largest that ends on the bound (review rv120 H1)", () => {
    const rule = (id: string) => DEFAULT_LIMIT_RULES.find((r) => r.id === id)!;
    expect(ruleProblems({ ...rule('hr'), low: null, high: 120, hysteresis: 150 })).toEqual([]); // not refused
    expect(endPointSlips({ ...rule('hr'), low: null, high: 120, hysteresis: 150 }, 5)).toEqual([
      {
        limit: 'high',
        hysteresis: 150,
        used: 5,
        message: 'rule hr: high 120 - hysteresis 150 = -30 is below 0 /min, the least a reading can plausibly be (the rule accepts 0..300): the high alarm could never end, and once acknowledged would hide every later episode; hysteresis 5 is used instead (the alarm ends at 115)',
        short: "puts the high alarm's end at -30, below 0 /min, the least hr accepts: hysteresis 5 is used (ends at 115)",
      },
    ]);
    expect(endPointSlips({ ...rule('temp'), low: null, high: 39, hysteresis: 30 }, 0.2).map((e) => e.message)).toEqual([expect.stringMatching(/^rule temp: high 39 - hysteresis 30 = 9 is below 10 Cel, .*the rule accepts 10\.\.45.*hysteresis 0\.2 is used instead \(the alarm ends at 38\.8\)$/)]);
    expect(endPointSlips({ ...rule('rr'), low: 8, high: null, hysteresis: 200 }, 2).map((e) => e.message)).toEqual([
      'rule rr: low 8 + hysteresis 200 = 208 is above 150 /min, the most a reading can plausibly be (the rule accepts 0..150): the low alarm could never end, and once acknowledged would hide every later episode; hysteresis 2 is used instead (the alarm ends at 10)',
    ]);
    // The substitute: the default, unless even that ends beyond the bound; a rule in code without a default gets the bound.
    expect(reachableHysteresis({ ...rule('hr'), low: null, high: 120, hysteresis: 150 }, 5)).toBe(5);
    expect(reachableHysteresis({ ...rule('hr'), low: null, high: 120, hysteresis: 150 })).toBe(120);
    expect(reachableHysteresis({ ...rule('spo2'), low: 99 }, 2)).toBe(1);
    expect(reachableHysteresis({ ...rule('temp'), low: 44.9, high: null, hysteresis: 1 }, 0.2)).toBe(0.1); // not 0.10000000000000142
    expect(reachableHysteresis({ ...rule('hr'), low: null, high: 120, hysteresis: 20 }, 5)).toBe(20); // reachable: as written
    // rulesForBed runs a bed's override with the substitute, other beds and reachable ones as written.
    const config: LimitConfig = { ...DEFAULT_LIMIT_CONFIG, beds: { b: { overrides: { hr: { low: null, hysteresis: 150 }, rr: { hysteresis: 4 } } } } };
    expect(rulesForBed(config, 'b').find((r) => r.id === 'hr')).toMatchObject({ low: null, high: 120, hysteresis: 5 });
    expect(rulesForBed(config, 'b').find((r) => r.id === 'rr')).toMatchObject({ hysteresis: 4 });
    expect(rulesForBed(config, 'c').find((r) => r.id === 'hr')).toMatchObject({ hysteresis: 5 });
    // An end point on the range's bound is reachable; a usual margin passes.
    const slips = (r: LimitRule) => endPointSlips(r);
    expect(slips({ ...rule('hr'), low: null, high: 120, hysteresis: 120 })).toEqual([]);
    expect(slips({ ...rule('rr'), low: 8, high: null, hysteresis: 142 })).toEqual([]);
    expect(slips({ ...rule('rr'), low: 8, high: null, hysteresis: 143 })).toHaveLength(1);
    expect(slips({ ...rule('temp'), low: null, high: 39, hysteresis: 1 })).toEqual([]);
    // A rule made in code without a range is judged by its unit's measuring range, as before (SpO2: 0..100).
    const { range: _r, ...spo2 } = rule('spo2');
    expect(slips({ ...spo2, low: 99 })).toEqual([expect.objectContaining({ limit: 'low', used: 1, message: expect.stringMatching(/^rule spo2: low 99 \+ hysteresis 2 = 101 is above 100 %/) })]);
    const { range: _h, ...hrNoRange } = rule('hr');
    expect(slips({ ...hrNoRange, low: null, high: 120, hysteresis: 150 })).toEqual([]); // no range known: not judged
    // A limit itself outside the range is a range slip (warned of, used as written): its end point is not judged here.
    expect(slips({ ...rule('temp'), low: 0, high: null, hysteresis: 50 })).toEqual([]);
    expect(reachableHysteresis({ ...rule('temp'), low: 0, high: null, hysteresis: 50 })).toBe(50);
    expect(slips({ ...rule('hr'), low: 50, high: 999, hysteresis: 5 })).toEqual([]);
  });

  it('rangeSlips names a low or high outside the rule\'s range, with the unit and the likely slip; validateRule does not refuse it (review rv91 H1, rv94 H2/M2)', () => {
    const rule = (id: string) => DEFAULT_LIMIT_RULES.find((r) => r.id === id)!;
    const slips = (r: LimitRule) => rangeSlips(r).map((s) => s.message);
    expect(slips({ ...rule('temp'), high: 100.4 })).toEqual(['rule temp: high 100.4 is outside what the rule accepts (in Cel, 10..45): a Fahrenheit value? 100.4 °F is 38 Cel']);
    expect(rangeSlips({ ...rule('temp'), high: 100.4 })[0]).toMatchObject({ field: 'high', value: 100.4, short: 'is outside what the rule accepts (temp is in Cel, 10..45: a Fahrenheit value?)' });
    expect(slips({ ...rule('hr'), high: 1800 })).toEqual(['rule hr: high 1800 is outside what the rule accepts (in /min, 0..300): a digit too many?']);
    expect(slips({ ...rule('hr'), high: 999 })).toEqual(['rule hr: high 999 is outside what the rule accepts (in /min, 0..300): a digit too many?']);
    expect(slips({ ...rule('spo2'), low: -90 })).toEqual(['rule spo2: low -90 is outside what the rule accepts (in %, 0..100): a stray minus?']);
    expect(slips({ ...rule('temp'), low: 95, high: null })).toEqual(['rule temp: low 95 is outside what the rule accepts (in Cel, 10..45), so every reading would alarm: a Fahrenheit value? 95 °F is 35 Cel']);
    expect(slips({ ...rule('temp'), low: 0 })).toEqual(['rule temp: low 0 is outside what the rule accepts (in Cel, 10..45)']);
    expect(slips({ ...rule('rr'), high: 151 })).toEqual([expect.stringMatching(/^rule rr: high 151 is outside what the rule accepts \(in \/min, 0\.\.150\)/)]);
    expect(slips({ ...rule('nibp-sys'), high: 400 })).toEqual([expect.stringMatching(/^rule nibp-sys: high 400 is outside what the rule accepts \(in mm\[Hg\], 0\.\.300\)/)]);
    // Not refused: the limit is used as written (a site's "no limit" idioms kept working).
    for (const r of [{ ...rule('temp'), high: 100.4 }, { ...rule('hr'), high: 999 }, { ...rule('temp'), low: 0 }, { ...rule('abp-sys'), low: -10 }]) expect(validateRule(r)).toEqual([]);
    // The bounds themselves, and every rule's own bounds, are accepted; deep hypothermia is within temp's range.
    for (const r of DEFAULT_LIMIT_RULES) {
      expect(r.range).toBeDefined();
      expect(rangeSlips({ ...r, low: r.range!.min, high: r.range!.max, hysteresis: 0 })).toEqual([]);
    }
    expect(rangeSlips({ ...rule('temp'), low: 10, high: 45 })).toEqual([]);
    expect(rangeSlips({ ...rule('temp'), low: 17 })).toEqual([]);
    expect(rangeSlips({ ...rule('temp'), low: 20 })).toEqual([]);
  });
});

describe('limit rules: a value beyond the measuring range (HL7 SN >^40)', () => {
  const RR = MDC.RESP_RATE;
  const beyond = (cmp: string) => ({ state: 'questionable' as const, reasons: [`sn-comparator:${cmp}`] });
  it('counts where the bound decides: RR > 40 is above a high limit of 30', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 30; t++) out.push(...ev.reading(numeric(RR, 40, t, { quality: beyond('>') })), ...ev.tick(s(t)));
    expect(out.filter((u) => u.present).map((u) => u.present && u.spec.key)).toEqual([`limit:bed-1:mon-1:rr-high:${RR.code}`]);
    const raised = out.find((u): u is Extract<ConditionUpdate, { present: true }> => u.present);
    expect(raised?.spec.condition.text).toBe('RR HIGH >40 > 30 /min');
  });
  it('says nothing where it does not decide (RR > 10 against 30), and a plain questionable value still counts for nothing', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 30; t++) {
      out.push(...ev.reading(numeric(RR, 10, t, { quality: beyond('>') })), ...ev.reading(numeric(RR, 45, t, { quality: { state: 'questionable', reasons: ['obx-8:QUES'] }, deviceId: 'mon-2' })), ...ev.tick(s(t)));
    }
    expect(out).toEqual([]);
  });
  it('a bound exactly on the limit does not decide (RR > 30 against a high limit of 30, RR < 8 against 8): alone it raises nothing, amid a violation it neither ends nor restarts the run (review rv85 M1)', () => {
    const alone = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 30; t++) {
      out.push(...alone.reading(numeric(RR, 30, t, { quality: beyond('>') })), ...alone.reading(numeric(RR, 8, t, { quality: beyond('<'), deviceId: 'mon-2' })), ...alone.tick(s(t)));
    }
    expect(out).toEqual([]);
    // Valid RR 35 (and 5) from t = 0, the bound on the limit at t = 3 and 6: still raised at the 10 s delay, not later.
    const amid = new LimitEvaluator();
    const raised: [string, number][] = [];
    for (let t = 0; t <= 20; t++) {
      const onLimit = t === 3 || t === 6;
      const ups = [
        ...amid.reading(onLimit ? numeric(RR, 30, t, { quality: beyond('>') }) : numeric(RR, 35, t)),
        ...amid.reading(onLimit ? numeric(RR, 8, t, { quality: beyond('<'), deviceId: 'mon-2' }) : numeric(RR, 5, t, { deviceId: 'mon-2' })),
        ...amid.tick(s(t)),
      ];
      for (const u of ups) if (u.present) raised.push([u.spec.key, u.at]);
    }
    expect(raised).toEqual([
      [`limit:bed-1:mon-1:rr-high:${RR.code}`, s(10)],
      [`limit:bed-1:mon-2:rr-low:${RR.code}`, s(10)],
    ]);
  });
  it('RR < 5 is below a low limit of 8', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 30; t++) out.push(...ev.reading(numeric(RR, 5, t, { quality: beyond('<') })), ...ev.tick(s(t)));
    expect(out.filter((u) => u.present).map((u) => u.present && u.spec.key)).toEqual([`limit:bed-1:mon-1:rr-low:${RR.code}`]);
  });
});
