// rv145 F2-F4: OBX-3 with an MDC alternate triplet, common unit spellings in OBX-6, and rows under a waveform's OBX-4
// that are not its facets.
import { describe, expect, it } from 'vitest';
import type { NumericReading, WaveformSegment } from '../../agent/model/reading.js';
import { mapMessage } from './pcd01.js';
import { parseMessage, readHeader } from './protocol/index.js';
import { readUnit } from './units.js';

const HEAD =
  `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE||UNICODE UTF-8\r` +
  `PID|||P1\rPV1||I|ICU^1^A\rOBR|1|||x|||20240101120000+0000\r`;
const run = (body: string) => {
  const m = parseMessage(HEAD + body);
  return mapMessage(m, readHeader(m), { source: 's', receivedAt: 0, senderAddress: '10.0.0.1' });
};
const numerics = (body: string): NumericReading[] => run(body).events.filter((e): e is NumericReading => e.kind === 'numeric');
const hrRow = (obx3: string, obx6 = '264864^MDC_DIM_BEAT_PER_MIN^MDC'): string => `OBX|1|NM|${obx3}|1.1.1.1|32|${obx6}|||||F\r`;

describe('rv145 F2: OBX-3 with a non-MDC primary and an MDC alternate triplet', () => {
  it('LOINC primary, MDC alternate: mapped to the MDC code, the primary kept as raw', () => {
    const [r] = numerics(hrRow('8867-4^Heart rate^LN^147842^MDC_ECG_HEART_RATE^MDC', '/min^/min^UCUM^264864^MDC_DIM_BEAT_PER_MIN^MDC'));
    expect(r?.mdc).toEqual({ code: 147842, refid: 'MDC_ECG_HEART_RATE' });
    expect(r?.raw).toEqual({ system: 'LN', code: '8867-4', text: 'Heart rate' });
    expect(r?.value).toBe(32);
    expect(r?.quality.state).toBe('valid');
  });

  it('empty primary, MDC alternate: mapped to the MDC code, no raw', () => {
    const [r] = numerics(hrRow('^^^147842^MDC_ECG_HEART_RATE^MDC'));
    expect(r?.mdc).toEqual({ code: 147842, refid: 'MDC_ECG_HEART_RATE' });
    expect(r?.raw).toBeUndefined();
  });

  it('primary without a coding system that is no MDC code, MDC alternate: the alternate', () => {
    const [r] = numerics(hrRow('8867-4^Heart rate^^147842^MDC_ECG_HEART_RATE^MDC'));
    expect(r?.mdc?.code).toBe(147842);
    expect(r?.raw).toEqual({ system: 'LOCAL', code: '8867-4', text: 'Heart rate' });
  });

  it('an MDC primary wins over any alternate; a non-MDC alternate is not read', () => {
    expect(numerics(hrRow('147842^MDC_ECG_HEART_RATE^MDC^8867-4^Heart rate^LN'))[0]?.mdc?.code).toBe(147842);
    expect(numerics(hrRow('150456^MDC_PULS_OXIM_SAT_O2^MDC^147842^MDC_ECG_HEART_RATE^MDC'))[0]?.mdc?.code).toBe(150456);
    const [r] = numerics(hrRow('8867-4^Heart rate^LN^X1^Other^99LOCAL'));
    expect(r?.mdc).toBeNull();
    expect(r?.raw).toEqual({ system: 'LN', code: '8867-4', text: 'Heart rate' });
  });
});

describe('rv145 F3: common unit spellings in OBX-6', () => {
  it('bpm and BPM are /min, with the spelling kept as sent', () => {
    expect(readUnit(['bpm', 'bpm', 'ISO+'])).toEqual({ unit: { ucum: '/min' }, asSent: 'bpm' });
    expect(readUnit(['BPM', 'BPM', 'ISO+'])).toEqual({ unit: { ucum: '/min' }, asSent: 'BPM' });
  });

  it('°C, ℃, °F, mm Hg and mmhg are Cel, Cel, [degF], mm[Hg] and mm[Hg]', () => {
    expect(readUnit(['°C', '°C', 'ISO+']).unit.ucum).toBe('Cel');
    expect(readUnit(['℃']).unit.ucum).toBe('Cel');
    expect(readUnit(['°F', '°F', 'ISO+']).unit.ucum).toBe('[degF]');
    expect(readUnit(['mm Hg', 'mm Hg', 'ISO+']).unit.ucum).toBe('mm[Hg]');
    expect(readUnit(['mmhg']).unit.ucum).toBe('mm[Hg]');
  });

  it('an HR row in bpm maps with unit /min', () => {
    const [r] = numerics(hrRow('147842^MDC_ECG_HEART_RATE^MDC', 'bpm^bpm^ISO+'));
    expect(r?.unit.ucum).toBe('/min');
  });
});

describe('rv145 F4: rows under a waveform row', () => {
  const wave = `OBX|1|NA|131330^MDC_ECG_ELEC_POTL_II^MDC|1.1.1|1^2^3|266418^MDC_DIM_MILLI_VOLT^MDC|||||F\r`;

  it('a metric row under a waveform row is mapped, not dropped', () => {
    const events = run(wave + `OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r`).events;
    expect(events.filter((e): e is WaveformSegment => e.kind === 'waveform')).toHaveLength(1);
    const hr = events.filter((e): e is NumericReading => e.kind === 'numeric');
    expect(hr.map((r) => [r.mdc?.code, r.value])).toEqual([[147842, 72]]);
  });

  it('its facets (MDC_ATTR_* by refid or by number) are still read by the waveform, not mapped as readings', () => {
    const events = run(
      wave +
        `OBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.1|250|264608^MDC_DIM_PER_SEC^MDC|||||F\r` +
        `OBX|3|NM|68484^^MDC|1.1.1.2|1||||||F\r` +
        `OBX|4|NM|0^MDC_ATTR_NU_MSMT_RANGE^MDC|1.1.1.3|-5^5|266418^MDC_DIM_MILLI_VOLT^MDC|||||F\r` +
        // A number of the object partition (1), where the MDC_ATTR_* terms are, with no refid.
        `OBX|5|NM|67900^^MDC|1.1.1.4|3||||||F\r`,
    ).events;
    expect(events.map((e) => e.kind)).toEqual(['waveform']);
    expect((events[0] as WaveformSegment).sampleRateHz).toBe(250);
  });
});
