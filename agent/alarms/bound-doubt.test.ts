// Review rv99 M2: a reading beyond the measuring range (HL7 SN `<^30`) that the device also calls doubtful (OBX-8 QUES
// or CAL, OBX-11 P/S, no OBX-11) is questionable like any other: it neither raises nor ends a limit alarm.
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import type { Quality } from '../model/reading.js';
import { onlyBeyondRange } from './bound.js';
import { numeric, s } from './fixtures.js';
import { LimitEvaluator } from './limits.js';
import { TechnicalMonitor } from './technical.js';
import type { ConditionUpdate } from './types.js';

const q = (...reasons: string[]): Quality => ({ state: 'questionable', reasons });

describe('a bound with another doubt (review rv99 M2)', () => {
  it('onlyBeyondRange: the bound only when every reason is a comparator', () => {
    expect(onlyBeyondRange(q('sn-comparator:>'))).toBe('>');
    expect(onlyBeyondRange(q('sn-comparator:<='))).toBe('<');
    expect(onlyBeyondRange(q('CAL', 'sn-comparator:<'))).toBeNull();
    expect(onlyBeyondRange(q('hl7-status-missing', 'sn-comparator:>'))).toBeNull();
    expect(onlyBeyondRange(q())).toBeNull();
    expect(onlyBeyondRange({ state: 'invalid', reasons: ['sn-comparator:>'] })).toBeNull();
  });

  it('does not end a present HR HIGH alarm (CAL + SN <30)', () => {
    const ev = new LimitEvaluator();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 12; t++) out.push(...ev.reading(numeric(MDC.ECG_HEART_RATE, 150, t)), ...ev.tick(s(t)));
    expect(out.filter((u) => u.present)).toHaveLength(1);
    const after = ev.reading(numeric(MDC.ECG_HEART_RATE, 30, 13, { quality: q('CAL', 'sn-comparator:<') }));
    expect(after).toEqual([]);
  });

  it('does not raise RR HIGH (status missing / preliminary / QUES + SN >40)', () => {
    for (const other of ['hl7-status-missing', 'hl7-status:P', 'obx-8:QUES']) {
      const ev = new LimitEvaluator();
      const out: ConditionUpdate[] = [];
      for (let t = 0; t <= 30; t++) out.push(...ev.reading(numeric(MDC.RESP_RATE, 40, t, { quality: q(other, 'sn-comparator:>') })), ...ev.tick(s(t)));
      expect(out, other).toEqual([]);
    }
  });

  it('the technical monitor takes the same readings as not valid, and a bound alone as valid', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 31; t++) out.push(...m.reading(numeric(MDC.RESP_RATE, 40, t, { quality: q('CAL', 'sn-comparator:>') })));
    expect(out.map((u) => (u.present ? u.spec.key : u.key))).toEqual([`tech:mon-1|bed-1|${MDC.RESP_RATE.code}:invalid`]);
    const alone = new TechnicalMonitor();
    const none: ConditionUpdate[] = [];
    for (let t = 0; t <= 31; t++) none.push(...alone.reading(numeric(MDC.RESP_RATE, 40, t, { quality: q('sn-comparator:>') })), ...alone.tick(s(t)));
    expect(none).toEqual([]);
  });
});
