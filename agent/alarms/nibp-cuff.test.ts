// NIBP coded as cuff pressure, MDC_PRESS_CUFF_SYS / _DIA / _MEAN (IEEE 11073-10101 2::19229-19231, 150301-150303), as
// Mindray (VS900, XH80X) and Comen (NC5) monitors send it over HL7 (review rv126 H2): a systolic of 72 raised no NIBP SYS
// LOW and NEWS2 never saw the systolic, without a word. The terms are written out here, not taken from the agent's
// table, so that the test states the standard's codes.
import { describe, expect, it } from 'vitest';
import { mapMessage } from '../../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../../drivers/hl7/protocol/index.js';
import { MDC, UNITS } from '../model/mdc.js';
import type { MdcCode, NumericReading } from '../model/reading.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { News2Monitor } from './news2.js';

const CUFF_SYS: MdcCode = { code: 150301, refid: 'MDC_PRESS_CUFF_SYS' };
const CUFF_DIA: MdcCode = { code: 150302, refid: 'MDC_PRESS_CUFF_DIA' };
const CUFF_MEAN: MdcCode = { code: 150303, refid: 'MDC_PRESS_CUFF_MEAN' };
const MMHG = { unit: UNITS.MMHG };

const present = (e: AlarmEngine) => e.list({ bed: 'bed-1' }).filter((a) => a.state !== 'resolved').map((a) => a.condition.text).sort();

describe('NIBP coded as cuff pressure (MDC_PRESS_CUFF_*, rv126 H2)', () => {
  it('a cuff systolic of 72, diastolic of 40 and mean of 50 raise NIBP SYS / DIA / MEAN LOW and NEWS2 through the real engine', () => {
    const e = new AlarmEngine();
    e.ingestAll([numeric(CUFF_SYS, 72, 0, MMHG), numeric(CUFF_DIA, 40, 0, MMHG), numeric(CUFF_MEAN, 50, 0, MMHG)]);
    e.tick(s(0));
    // NEWS2 too: a systolic of 72 scores 3 on its own.
    expect(present(e)).toEqual([
      'NEWS2 single parameter 3 (low-medium risk): score at raise 3 (partial) (assumed: oxygen, consciousness)',
      'NIBP DIA LOW 40 < 50 mmHg', 'NIBP MEAN LOW 50 < 60 mmHg', 'NIBP SYS LOW 72 < 90 mmHg',
    ]);
  });

  it('the same from a Mindray VS900-shaped PCD-01 message, mapped by the real HL7 driver', () => {
    const text = [
      'MSH|^~\\&|MINDRAY_VS900^00A0370098006640^EUI-64||||20200212125541+0000||ORU^R01^ORU_R01|13|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO',
      'PID|||2eefgghy^^^Hospital^PI||TEST^SR T3ST^^^^^L||19891023|M',
      'PV1||I|INTER^^1^1',
      'OBR|1|13^MINDRAY_VS900^00A0370098006640^EUI-64|13^MINDRAY_VS900^00A0370098006640^EUI-64|182777000^monitoring of patient^SCT|||20200212125541+0000',
      'OBX|4|NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.1.9.150301|72|266016^MDC_DIM_MMHG^MDC|||||R|||20200212125008+0000|||^APERIODIC',
    ].join('\r') + '\r';
    const m = parseMessage(text);
    const [r] = mapMessage(m, readHeader(m), { source: 'hl7', receivedAt: s(0) }).events as NumericReading[];
    expect(r).toMatchObject({ mdc: CUFF_SYS, value: 72, unit: { ucum: 'mm[Hg]' }, quality: { state: 'valid' } });
    const e = new AlarmEngine();
    e.ingest(r!);
    e.tick(s(0));
    expect(e.list({ bed: r!.bed! }).map((a) => a.condition.text)).toContain('NIBP SYS LOW 72 < 90 mmHg');
  });

  it('NEWS2 scores a cuff systolic as systolic blood pressure', () => {
    const m = new News2Monitor();
    expect(m.reading(numeric(CUFF_SYS, 72, 0, MMHG))).toBe(true);
    expect(m.score('bed-1', s(0))!.params.find((p) => p.param === 'systolic')).toMatchObject({ status: 'measured', value: 72, score: 3 });
    // Diastolic and mean are no NEWS2 parameters.
    expect(m.reading(numeric(CUFF_DIA, 40, 0, MMHG))).toBe(false);
    expect(m.reading(numeric(CUFF_MEAN, 50, 0, MMHG))).toBe(false);
  });

  it('a cuff alarm is held as an NIBP one between determinations: not ended after 10 min while the monitor sends HR', () => {
    // A slow metric's alarm seen once waits 6 h (limits.ts SLOW_UNKNOWN_PACE_SILENT_MS); a streamed one's 10 min.
    for (const sys of [CUFF_SYS, MDC.PRESS_BLD_NONINV_SYS]) {
      const e = new AlarmEngine();
      e.ingest(numeric(sys, 72, 0, MMHG));
      for (let t = 0; t <= 30 * 60; t += 10) {
        e.ingest(numeric(MDC.ECG_HEART_RATE, 70, t));
        e.tick(s(t));
      }
      // Its condition still present, not an end unconfirmed (which would leave the alarm latched).
      const nibp = e.list({ bed: 'bed-1' }).filter((a) => a.condition.text.startsWith('NIBP'));
      expect(nibp.map((a) => [a.condition.text, a.state, a.conditionPresent]), sys.refid).toEqual([['NIBP SYS LOW 72 < 90 mmHg', 'active', true]]);
    }
  });
});
