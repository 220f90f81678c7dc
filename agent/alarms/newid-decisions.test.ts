// The limit rules and NEWS2 count a run of a new patient id the same way (countNewId) but decide a change of patient
// differently: per device for the limit rules; NEWS2 also lets another device giving the current id end every run.
// The README said the two "cannot come to disagree" (review rv116 L1): it says what is true now.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { PACKAGE_ROOT } from '../paths.js';
import { AlarmEngine } from './engine.js';
import { numeric } from './fixtures.js';

describe('a change of patient: the limit rules and NEWS2 share the count, not the decision (rv116 L1)', () => {
  it('a monitor that starts giving a visit number while the oximeter keeps the MRN: a new patient for the limit rules, not for NEWS2', () => {
    const e = new AlarmEngine({ idPrefix: 'l1' });
    const log: string[] = [];
    const take = (cs: ReturnType<AlarmEngine['ingestAll']>): void => {
      for (const c of cs) log.push(`${c.change} ${c.alarm.key} ${c.why ?? ''}`);
    };
    const mon = (t: number, id: string) =>
      take(e.ingestAll([numeric(MDC.PRESS_BLD_NONINV_SYS, 180, t, { deviceId: 'mon-1', patientId: id }), numeric(MDC.RESP_RATE, 26, t, { deviceId: 'mon-1', patientId: id })]));
    const oxi = (t: number, id: string) =>
      take(e.ingestAll([numeric(MDC.PULS_OXIM_SAT_O2, 97, t, { deviceId: 'oxi-1', patientId: id }), numeric(MDC.PULS_OXIM_PULS_RATE, 70, t, { deviceId: 'oxi-1', patientId: id })]));
    mon(0, 'MRN1');
    oxi(1, 'MRN1');
    for (const t of [10, 20, 30, 40]) {
      mon(t, 'VISIT9');
      oxi(t + 5, 'MRN1');
    }
    expect(log.some((l) => /^condition-ended limit:bed-1:mon-1:\S+ a new patient on this bed \(mon-1/.test(l))).toBe(true);
    expect(log.some((l) => /news2.*a new patient/.test(l))).toBe(false);
  });

  it('the README does not say the two cannot disagree, and says how they decide', () => {
    const readme = readFileSync(join(PACKAGE_ROOT, 'agent', 'alarms', 'README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(readme.includes('cannot come to disagree')).toBe(false);
    expect(readme.includes('count a run of a new id the same way, `countNewId`, but do not decide alike')).toBe(true);
  });
});
