// PCD-01 / PCD-04 mapping rules on small hand-made messages (the corpus tests cover real senders).
import { describe, expect, it } from 'vitest';
import type { AlarmEvent, NumericReading, WaveformSegment } from '../../agent/model/reading.js';
import { convert } from '../../agent/alarms/units.js';
import { UNITS } from '../../agent/model/mdc.js';
import { mapMessage, type Hl7Context } from './pcd01.js';
import { Hl7ParseError, parseMessage, readHeader } from './protocol/index.js';
import { unitFromCwe } from './units.js';

const msh = (time = '20240101120000+0000', type = 'ORU^R01^ORU_R01'): string =>
  `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||${time}||${type}|C1|P|2.6|||AL|NE||UNICODE UTF-8\r`;
const HEAD = `${msh()}PID|||P1\rOBR|1|||x|||20240101120000+0000\r`;
/** OBX with the given fields from OBX-1 on (index 0 = OBX-1). */
const obx = (fields: string[]): string => `OBX|${fields.join('|')}\r`;
/** An SpO2 NM row: value, OBX-8, OBX-11, OBX-14, OBX-17. */
const spo2 = (o: { value?: string; flags?: string; status?: string; time?: string; method?: string; code?: string; containment?: string } = {}): string =>
  obx([
    '1',
    'NM',
    o.code ?? '150456^MDC_PULS_OXIM_SAT_O2^MDC',
    o.containment ?? '1.1.1.1',
    o.value ?? '97',
    '262688^MDC_DIM_PERCENT^MDC',
    '',
    o.flags ?? '',
    '',
    '',
    o.status ?? 'R',
    '',
    '',
    o.time ?? '',
    '',
    '',
    o.method ?? '',
  ]);

const map = (text: string) => {
  const m = parseMessage(text);
  return mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 }).events;
};
const reading = (text: string) => map(text)[0] as NumericReading & { context: Hl7Context };
const parseAndMapWarnings = (text: string) => {
  const m = parseMessage(text);
  return mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 }).warnings.map((w) => w.text);
};

describe('OBX-8 measurement status', () => {
  it('an NM row with OBX-8 DEMO and OBX-11 R is not valid', () => {
    expect(reading(HEAD + spo2({ flags: 'DEMO', status: 'R' })).quality).toEqual({ state: 'invalid', reasons: ['obx-8:DEMO'] });
  });

  it('maps each flag; the worst one wins; plain abnormal flags (H, L) leave quality alone', () => {
    const q = (flags: string, status = 'F') => reading(HEAD + spo2({ flags, status })).quality;
    expect(q('TEST').state).toBe('invalid');
    expect(q('INV').state).toBe('invalid');
    expect(q('QUES')).toEqual({ state: 'questionable', reasons: ['obx-8:QUES'] });
    expect(q('CAL').state).toBe('questionable');
    expect(q('EARLY').state).toBe('questionable');
    expect(q('NAV')).toEqual({ state: 'unavailable', reasons: ['obx-8:NAV'] });
    expect(q('NAN').state).toBe('unavailable');
    expect(q('OFF').state).toBe('unavailable');
    expect(q('QUES~INV')).toEqual({ state: 'invalid', reasons: ['obx-8:QUES', 'obx-8:INV'] });
    expect(q('H')).toEqual({ state: 'valid' });
    // Status X with a value is questionable; a DEMO flag still makes it invalid.
    expect(q('DEMO', 'X')).toEqual({ state: 'invalid', reasons: ['hl7-status:X-with-value', 'obx-8:DEMO'] });
  });

  it('applies to waveforms too', () => {
    const w = map(HEAD + obx(['1', 'NA', '150452^MDC_PULS_OXIM_PLETH^MDC', '1.1.1.1', '1^2^3', '262656^MDC_DIM_DIMLESS^MDC', '', 'DEMO', '', '', 'R']))[0] as WaveformSegment;
    expect(w.quality).toEqual({ state: 'invalid', reasons: ['sample-rate-unknown', 'obx-8:DEMO'] });
  });
});

describe('OBX-11 result status', () => {
  // HL7 table 0085 as drivers/hl7/README.md maps it. The limit rules and NEWS2 use only valid readings, so a
  // retracted (W, D) or preliminary (P, S) value taken as valid would raise alarms (review rv85 H1).
  it.each([
    ['F', { state: 'valid' }],
    ['R', { state: 'valid' }],
    ['C', { state: 'valid' }],
    ['U', { state: 'valid' }],
    ['P', { state: 'questionable', reasons: ['hl7-status:P'] }],
    ['S', { state: 'questionable', reasons: ['hl7-status:S'] }],
    ['D', { state: 'invalid', reasons: ['hl7-status:D'] }],
    ['W', { state: 'invalid', reasons: ['hl7-status:W'] }],
    ['I', { state: 'unavailable', reasons: ['hl7-status:I'] }],
    ['N', { state: 'unavailable', reasons: ['hl7-status:N'] }],
    ['O', { state: 'unavailable', reasons: ['hl7-status:O'] }],
    ['X', { state: 'questionable', reasons: ['hl7-status:X-with-value'] }],
    ['', { state: 'questionable', reasons: ['hl7-status-missing'] }],
  ])('an NM row with a value and OBX-11 %j has the quality the README gives', (status, quality) => {
    const r = reading(HEAD + spo2({ status }));
    expect(r.quality).toEqual(quality);
    // The reading is kept with its value whatever the status: only its quality says what it is worth.
    expect(r.value).toBe(97);
    expect(r.context.resultStatus).toBe(status);
  });
});

describe('OBX-14 inheritance', () => {
  const mds = obx(['1', '', '69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC', '1.0.0.0', '', '', '', '', '', '', 'X', '', '', '20240101115000+0000']);
  const chan = obx(['2', '', '150020^MDC_PRESS_BLD_NONINV^MDC', '1.1.1.0', '', '', '', '', '', '', 'X', '', '', '20240101115500+0000']);

  it('a metric without OBX-14 takes its channel time before OBR-7', () => {
    const r = reading(HEAD + mds + chan + spo2());
    expect(r.deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 55));
  });

  it('the nearest ancestor wins (MDS when the channel has none); the metric own OBX-14 wins over all', () => {
    const chanNoTime = obx(['2', '', '150020^MDC_PRESS_BLD_NONINV^MDC', '1.1.1.0', '', '', '', '', '', '', 'X']);
    expect(reading(HEAD + mds + chanNoTime + spo2()).deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 50));
    // Short containment forms (1, 1.1.1) are ancestors too.
    const shortMds = obx(['1', '', '69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC', '1', '', '', '', '', '', '', 'X', '', '', '20240101114500+0000']);
    expect(reading(HEAD + shortMds + spo2()).deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 45));
    expect(reading(HEAD + mds + chan + spo2({ time: '20240101115900+0000' })).deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 59));
    // No ancestor time, no own time: OBR-7.
    expect(reading(HEAD + spo2()).deviceTime).toBe(Date.UTC(2024, 0, 1, 12, 0));
    // Another MDS's time does not leak.
    const otherMds = obx(['1', '', '69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC', '2.0.0.0', '', '', '', '', '', '', 'X', '', '', '20240101110000+0000']);
    expect(reading(HEAD + otherMds + spo2()).deviceTime).toBe(Date.UTC(2024, 0, 1, 12, 0));
  });

  it('a PCD-04 alarm event row without OBX-14 takes its MDS time before OBR-7', () => {
    const text =
      `${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rOBR|1||ALM-1^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r` +
      mds +
      obx(['2', 'ST', '196652^MDC_EVT_LO^MDC', '1.1.1.1.1', 'Low SpO2', '', '', 'PM~SP', '', '', 'F']);
    const a = map(text)[0] as AlarmEvent;
    expect(a.kind).toBe('alarm');
    expect(a.deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 50));
  });
});

describe('PCD-04 alarm priority', () => {
  const alarm = (flags: string) =>
    map(
      `${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rOBR|1||ALM-1^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r` +
        obx(['1', 'ST', '196652^MDC_EVT_LO^MDC', '1.1.1.1.1', 'Low SpO2', '', '', flags, '', '', 'F']),
    )[0] as AlarmEvent;
  it('an alarm with no priority is medium (and warned about), not low; PN stays the device\'s "no alarm"', () => {
    expect(alarm('SP').priority).toBe('medium');
    expect(alarm('PL~SP').priority).toBe('low');
    expect(alarm('PN~SP').priority).toBe('none');
    expect(parseAndMapWarnings(`${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rOBR|1||ALM-1^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r` + obx(['1', 'ST', '196652^MDC_EVT_LO^MDC', '1.1.1.1.1', 'Low SpO2', '', '', 'SP', '', '', 'F']))).toContainEqual(
      expect.stringMatching(/no priority given; taken as medium/),
    );
  });
});

describe('PCD-04 alarm inactivation state', () => {
  const alarm = (inactivation: string) =>
    map(
      `${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rOBR|1||ALM-1^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r` +
        obx(['1', 'ST', '196652^MDC_EVT_LO^MDC', '1.1.1.1.1', 'Low SpO2', '', '', 'PM~SP', '', '', 'F']) +
        obx(['2', 'ST', '68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC', '1.1.1.1.5', inactivation, '', '', '', '', '', 'F']),
    )[0] as AlarmEvent;
  it('alert-acknowledged and the paused states are a person answering at the device; enabled and the off states are not', () => {
    expect(alarm('alert-acknowledged').atDevice).toBe('acknowledged');
    expect(alarm('audio-paused').atDevice).toBe('audio-paused');
    expect(alarm('alarm-paused').atDevice).toBe('audio-paused');
    for (const s of ['enabled', 'audio-off', 'alarm-off']) expect(alarm(s).atDevice, s).toBeUndefined();
    expect(alarm('audio-off').context).toMatchObject({ inactivationState: 'audio-off' });
  });
});

describe('PCD-04 event phase and alarm state', () => {
  const alarms = (phase: string, state = '') =>
    map(
      `${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rOBR|1||ALM-1^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r` +
        obx(['1', 'ST', '196652^MDC_EVT_LO^MDC', '1.1.1.1.1', 'Low SpO2', '', '', 'PM~SP', '', '', 'F']) +
        obx(['2', 'ST', '68481^MDC_ATTR_EVENT_PHASE^MDC', '1.1.1.1.3', phase, '', '', '', '', '', 'F']) +
        (state ? obx(['3', 'ST', '68482^MDC_ATTR_ALARM_STATE^MDC', '1.1.1.1.4', state, '', '', '', '', '', 'F']) : ''),
    ).filter((e): e is AlarmEvent => e.kind === 'alarm');
  it('tpoint and start_only (no end will be sent) are a start and an end together, marked momentary', () => {
    for (const p of ['tpoint', 'start_only']) {
      expect(alarms(p).map((a) => [a.phase, a.momentary]), p).toEqual([['start', true], ['end', true]]);
    }
    expect(alarms('start').map((a) => a.phase)).toEqual(['start']);
  });
  it('an update that says the alarm is inactive, or inactivate, ends it; an active update continues it', () => {
    for (const p of ['update', 'present', 'continue', 'escalate']) expect(alarms(p, 'inactive').map((a) => a.phase), p).toEqual(['end']);
    // A start (or an event at a point in time) whose alarm state is inactive (e.g. alarms off) raises nothing active:
    // it ends, as README says of any phase with state inactive.
    for (const p of ['start', 'tpoint', 'start_only']) expect(alarms(p, 'inactive').map((a) => [a.phase, a.momentary]), p).toEqual([['end', undefined]]);
    expect(alarms('inactivate').map((a) => a.phase)).toEqual(['end']);
    expect(alarms('update', 'active').map((a) => a.phase)).toEqual(['continue']);
  });
  it('state latched (the condition is gone, the device holds the alarm) ends the condition, marked latched, whatever the phase', () => {
    for (const p of ['update', 'continue', 'present', 'end', '']) expect(alarms(p, 'latched').map((a) => [a.phase, a.latched]), p).toEqual([['end', true]]);
    expect(alarms('tpoint', 'latched').map((a) => [a.phase, a.momentary])).toEqual([['start', true], ['end', true]]);
    expect(alarms('update', 'active')[0]!.latched).toBeUndefined();
  });
});

describe('OBX-3 coding system', () => {
  it('a 99LOCAL code is not looked up as MDC even when its number is an MDC code', () => {
    const r = reading(HEAD + spo2({ code: '150456^Local SpO2^99LOCAL' }));
    expect(r.mdc).toBeNull();
    expect(r.raw).toEqual({ system: '99LOCAL', code: '150456', text: 'Local SpO2' });
  });
  it('a local code whose number is an MDC alarm attribute is not read as one (the alarm\'s state stays the device\'s)', () => {
    const alarm = (row: string) =>
      map(
        `${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rOBR|1||ALM-1^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r` +
          obx(['1', 'ST', '196652^MDC_EVT_LO^MDC', '1.1.1.1.1', 'Low SpO2', '', '', 'PM~SP', '', '', 'F']) +
          obx(['2', 'ST', row, '1.1.1.1.5', 'alert-acknowledged', '', '', '', '', '', 'F']),
      )[0] as AlarmEvent;
    expect(alarm('68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC').atDevice).toBe('acknowledged');
    expect(alarm('68483^Local note^99LOCAL').atDevice).toBeUndefined();
  });
  it('MDC in any case, or no coding system, is looked up', () => {
    expect(reading(HEAD + spo2({ code: '150456^MDC_PULS_OXIM_SAT_O2^mdc' })).mdc?.refid).toBe('MDC_PULS_OXIM_SAT_O2');
    expect(reading(HEAD + spo2({ code: '150456^MDC_PULS_OXIM_SAT_O2' })).mdc?.refid).toBe('MDC_PULS_OXIM_SAT_O2');
  });
});

describe('OBX-3 MDC codes outside the agent\'s table (review rv114 M2, L3)', () => {
  const full = (text: string) => {
    const m = parseMessage(text);
    return mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 });
  };
  const row = (code: string, value = '10', unit = '266016^MDC_DIM_MMHG^MDC', type = 'NM') =>
    obx(['1', type, code, '1.1.1.1', value, unit, '', '', '', '', 'R']);

  it('keeps the sender\'s well-formed MDC metric code and refid, with the raw code, as IntelliVue and Medibus do', () => {
    // PAP sys, PEEP, FiO2, and the IntelliVue term for etCO2: real MDC terms (partition 2) the agent does not name.
    for (const [code, refid] of [[150045, 'MDC_PRESS_BLD_ART_PULM_SYS'], [151976, 'MDC_VENT_PRESS_AWAY_END_EXP_POS'], [152196, 'MDC_CONC_AWAY_O2_INSP'], [151728, 'MDC_AWAY_CO2_ET']] as const) {
      const r = reading(HEAD + row(`${code}^${refid}^MDC`));
      expect(r.mdc, refid).toEqual({ code, refid });
      expect(r.raw, refid).toEqual({ system: 'MDC', code: String(code), text: refid });
    }
    // A setting code (partition 258) too: the Medibus driver sends MDC_VENT_VOL_TIDAL_SETTING with its code.
    expect(reading(HEAD + row('16929196^MDC_VENT_VOL_TIDAL_SETTING^MDC', '450', '263762^MDC_DIM_MILLI_L^MDC'))).toMatchObject({
      mdc: { code: 16929196, refid: 'MDC_VENT_VOL_TIDAL_SETTING' }, setting: true,
    });
  });

  it('an OBX-3 with no coding system but an MDC number and refid is MDC: its raw system is MDC, not LOCAL', () => {
    const r = reading(HEAD + row('150035^MDC_PRESS_BLD_ART_MEAN'));
    expect(r.mdc).toEqual({ code: 150035, refid: 'MDC_PRESS_BLD_ART_MEAN' });
    expect(r.raw).toEqual({ system: 'MDC', code: '150035', text: 'MDC_PRESS_BLD_ART_MEAN' });
    // A number alone (no refid to name it) stays unmapped, still written as MDC; a code that is not a number is LOCAL.
    expect(reading(HEAD + row('150035^^MDC'))).toMatchObject({ mdc: null, raw: { system: 'MDC', code: '150035' } });
    expect(reading(HEAD + row('150035'))).toMatchObject({ mdc: null, raw: { system: 'MDC', code: '150035' } });
    expect(reading(HEAD + row('HR^Heart rate'))).toMatchObject({ mdc: null, raw: { system: 'LOCAL', code: 'HR', text: 'Heart rate' } });
  });

  it('only metric partitions are kept: an alarm event, an object or a unit code in OBX-3 stays unmapped', () => {
    expect(reading(HEAD + row('69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC')).mdc).toBeNull(); // partition 1, objects
    expect(reading(HEAD + row('262688^MDC_DIM_PERCENT^MDC', '97', '262688^MDC_DIM_PERCENT^MDC'))).toMatchObject({
      mdc: null, raw: { system: 'MDC', code: '262688', text: 'MDC_DIM_PERCENT' },
    });
    // A unit term by its refid alone is not a metric either (L3).
    expect(reading(HEAD + row('^MDC_DIM_MMHG^MDC')).mdc).toBeNull();
  });

  it('a sender\'s refid that contradicts a code the table knows: the table wins, said once per message as a notice', () => {
    const res = full(HEAD + row('150456^MDC_PULS_RATE^MDC', '97', '262688^MDC_DIM_PERCENT^MDC') + row('150456^MDC_PULS_RATE^MDC', '96', '262688^MDC_DIM_PERCENT^MDC'));
    expect((res.events as NumericReading[]).map((e) => e.mdc)).toEqual([UNITS_SPO2, UNITS_SPO2]);
    expect(res.notices).toEqual([expect.objectContaining({ counter: 'mdc_refid_mismatch', by: 2, oncePerSender: true })]);
    expect(res.notices[0]!.text).toMatch(/150456.*MDC_PULS_RATE.*MDC_PULS_OXIM_SAT_O2/);
    // A refid the table knows under another code: the number is not taken under that name (it would share its tile).
    const odd = full(HEAD + row('151999^MDC_CONC_AWAY_CO2_ET^MDC'));
    expect((odd.events[0] as NumericReading).mdc).toBeNull();
    expect(odd.notices).toEqual([expect.objectContaining({ counter: 'mdc_refid_mismatch', by: 1 })]);
    // A refid sent the way the table writes it, in another case, is not a contradiction.
    expect(full(HEAD + row('150456^mdc_puls_oxim_sat_o2^MDC', '97', '262688^MDC_DIM_PERCENT^MDC')).notices).toEqual([]);
  });

  it('a text value under an MDC code the agent does not know stays text (only known metrics are read as numbers)', () => {
    const r = reading(HEAD + row('147232^MDC_ECG_TIME_PD_QT_GL^MDC', 'n/a', '264338^MDC_DIM_MILLI_SEC^MDC', 'ST'));
    expect(r).toMatchObject({ mdc: { code: 147232 }, value: 'n/a', quality: { state: 'valid' } });
  });

  it('OBX-6 mbar and hPa get the shared UCUM spelling (review rv114 L2)', () => {
    expect(reading(HEAD + row('151976^MDC_VENT_PRESS_AWAY_END_EXP_POS^MDC', '5', '266098^MDC_DIM_MILLI_BAR^MDC')).unit).toEqual(UNITS.MILLI_BAR);
    expect(reading(HEAD + row('151976^MDC_VENT_PRESS_AWAY_END_EXP_POS^MDC', '5', '265986^MDC_DIM_HECTO_PASCAL^MDC')).unit).toEqual(UNITS.HECTO_PASCAL);
    expect(reading(HEAD + row('151976^MDC_VENT_PRESS_AWAY_END_EXP_POS^MDC', '5', '^MDC_DIM_MILLI_BAR^MDC')).unit).toEqual(UNITS.MILLI_BAR);
  });
});
const UNITS_SPO2 = { code: 150456, refid: 'MDC_PULS_OXIM_SAT_O2' };

describe('OBX-17 observation method', () => {
  it('MSET / ASET mark the reading as a setting; the methods are kept in context', () => {
    const r = reading(HEAD + spo2({ method: 'MSET^manual-setting^MDC' }));
    expect(r.setting).toBe(true);
    expect(r.context.observationMethod).toEqual(['MSET']);
    expect(r.deviceId).toBe('0011223344556677');
    expect(reading(HEAD + spo2({ method: 'aset^auto-setting^MDC' })).setting).toBe(true);
    expect(reading(HEAD + spo2({ method: 'RSET^remote-setting^MDC' })).setting).toBe(true);
  });
});

describe('OBX-20 observation site', () => {
  const withSite = (site: string): string => HEAD + spo2().replace(/\r$/, `|||${site}\r`);
  it('is kept in context (code, text, system) when present, and left out when not', () => {
    expect(withSite('LEFT_AXILLA').split('\r')[3]!.split('|')[20]).toBe('LEFT_AXILLA'); // the helper puts it in OBX-20
    expect(reading(withSite('LEFT_AXILLA')).context.observationSite).toEqual({ code: 'LEFT_AXILLA' });
    expect(reading(withSite('368208006^Left upper arm structure^SCT')).context.observationSite).toEqual({
      code: '368208006',
      text: 'Left upper arm structure',
      system: 'SCT',
    });
    expect(reading(withSite('^left arm')).context.observationSite).toEqual({ text: 'left arm' });
    expect(reading(HEAD + spo2()).context).not.toHaveProperty('observationSite');
  });
  it('a setting code (MDC partition 258) is a setting without OBX-17; a measurement method says otherwise', () => {
    const code = `${(258 << 16) + 20908}^MDC_VENT_VOL_TIDAL_SETTING^MDC`;
    expect(reading(HEAD + spo2({ code })).setting).toBe(true);
    expect(reading(HEAD + spo2({ code, method: 'AMEAS' })).setting).toBeUndefined();
    // Partition 258 of another coding system is not MDC's.
    expect(reading(HEAD + spo2({ code: `${(258 << 16) + 20908}^X^99LOCAL` })).setting).toBeUndefined();
  });
  it('measurements, no method, and a list naming a measurement too are not settings', () => {
    for (const method of ['AMEAS^auto-measurement^MDC', 'MMEAS', '', 'MSET~AMEAS', 'CALC']) {
      expect(reading(HEAD + spo2({ method })).setting, method).toBeUndefined();
    }
  });
});

describe('times without an offset', () => {
  it('are flagged time-zone-assumed only when neither the time nor MSH-7 carries an offset', () => {
    const noZone = `${msh('20240101120000')}PID|||P1\rOBR|1|||x|||20240101120000\r`;
    expect(reading(noZone + spo2()).quality).toEqual({ state: 'valid', reasons: ['time-zone-assumed'] });
    // Its own offset: no assumption.
    expect(reading(noZone + spo2({ time: '20240101115900+0100' })).quality).toEqual({ state: 'valid' });
    // MSH-7's offset is the sender's statement for its other times.
    expect(reading(`${msh('20240101120000+0100')}PID|||P1\rOBR|1|||x|||20240101120000\r` + spo2()).quality).toEqual({ state: 'valid' });
  });
});

describe('OBX-5 edge values in NM', () => {
  it('a number too long to be finite is invalid, kept as text', () => {
    const digits = '9'.repeat(400);
    const r = reading(HEAD + spo2({ value: digits }));
    expect(r.value).toBe(digits);
    expect(r.quality).toEqual({ state: 'invalid', reasons: ['not-finite'] });
  });
  it('a long run of digits followed by a non-digit is not a number (NM and NA samples), read in one pass', () => {
    // The old pattern backtracked quadratically: ~50 s per value on a 2-core gateway, past the test timeout.
    const text = '9'.repeat(200_000) + 'x';
    const r = reading(HEAD + spo2({ value: text }));
    expect(r.value).toBe(text);
    expect(r.quality).toEqual({ state: 'invalid', reasons: ['not-a-number'] });
    const w = map(HEAD + obx(['1', 'NA', '150452^MDC_PULS_OXIM_PLETH^MDC', '1.1.1.1', `1^${text}^3`, '262656^MDC_DIM_DIMLESS^MDC', '', '', '', '', 'R']))[0] as WaveformSegment;
    expect(w.samples).toEqual([1, Number.NaN, 3]);
    expect(w.quality.state).toBe('invalid');
    expect(w.quality.reasons).toContain('not-a-number');
    const sn = reading(HEAD + obx(['1', 'SN', '151562^MDC_RESP_RATE^MDC', '1.1.1.1', `^${text}`, '264928^MDC_DIM_RESP_PER_MIN^MDC', '', '', '', '', 'F']));
    expect(sn.value).toBe(text);
    expect(sn.quality).toEqual({ state: 'invalid', reasons: ['not-a-number'] });
  });
  it('HL7 null "" is an unavailable value, not a bad number', () => {
    const r = reading(HEAD + spo2({ value: '""' }));
    expect(r.value).toBeNull();
    expect(r.quality).toEqual({ state: 'unavailable', reasons: ['hl7-null'] });
  });
  it('an empty value (not "") is unavailable, never a valid null', () => {
    const r = reading(HEAD + spo2({ value: '' }));
    expect(r.value).toBeNull();
    expect(r.quality).toEqual({ state: 'unavailable', reasons: ['no-value'] });
  });
  it('a metric with no value and no OBX-2 (status X) is a null reading, unavailable, not taken for a header row', () => {
    const rows =
      obx(['1', '', '69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC', '1', '', '', '', '', '', '', 'X']) +
      obx(['2', '', '69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC', '1.2.0.0', '', '', '', '', '', '', 'X']) +
      obx(['3', '', '150456^MDC_PULS_OXIM_SAT_O2^MDC', '1.2.1.1', '', '', '', '', '', '', 'X']) + // by its OBX-4
      obx(['4', '', '149530^MDC_PULS_OXIM_PULS_RATE^MDC', '', '', '', '', '', '', '', 'X']); // no OBX-4: by its code
    const ev = map(HEAD + rows) as NumericReading[];
    expect(ev.map((e) => [e.mdc?.refid, e.value, e.quality])).toEqual([
      ['MDC_PULS_OXIM_SAT_O2', null, { state: 'unavailable', reasons: ['hl7-status:X', 'no-value'] }],
      ['MDC_PULS_OXIM_PULS_RATE', null, { state: 'unavailable', reasons: ['hl7-status:X', 'no-value'] }],
    ]);
  });

  it('repeated values keep the first and say so', () => {
    const r = reading(HEAD + spo2({ value: '72~73' }));
    expect(r.value).toBe(72);
    expect(r.quality).toEqual({ state: 'questionable', reasons: ['repeated-value'] });
  });
});

describe('OBX-5 repetitions of text and codes (not a known metric)', () => {
  const row = (type: string, value: string) => reading(HEAD + obx(['1', type, '99999^Note^99LOCAL', '1.1.1.9', value, '', '', '', '', '', 'F']));

  it('ST, TX and FT: each repetition is a line of the text, none dropped', () => {
    for (const type of ['ST', 'TX', 'FT']) {
      const r = row(type, 'line one~line two~line three');
      expect([r.value, r.quality]).toEqual(['line one\nline two\nline three', { state: 'valid' }]);
    }
  });

  it('a repeated CWE / CE (or another type that cannot be joined) keeps the first and is questionable, as NM (repeated-value)', () => {
    for (const type of ['CWE', 'CE']) {
      const r = row(type, 'AF^Atrial fibrillation~PVC^Premature ventricular complex');
      expect([r.value, r.quality]).toEqual(['Atrial fibrillation', { state: 'questionable', reasons: ['repeated-value'] }]);
    }
    expect(row('ID', 'ON~OFF').quality).toEqual({ state: 'questionable', reasons: ['repeated-value'] });
    // One code alone is the whole value.
    expect(row('CWE', 'AF^Atrial fibrillation').quality).toEqual({ state: 'valid' });
  });
});

describe('OBX-2 of a known numeric metric', () => {
  /** One OBX row: value type, code, value; status F. */
  const row = (type: string, code: string, value: string) => reading(HEAD + obx(['1', type, code, '1.1.1.1', value, '', '', '', '', '', 'F']));
  const SPO2 = '150456^MDC_PULS_OXIM_SAT_O2^MDC';
  const HR = '147842^MDC_ECG_HEART_RATE^MDC';
  const RESP = '151562^MDC_RESP_RATE^MDC';

  it('a clean decimal with an empty OBX-2 or as ST is read as a number, valid with a note naming why', () => {
    expect(row('', SPO2, '84')).toMatchObject({ value: 84, quality: { state: 'valid', reasons: ['value-type-missing'] } });
    expect(row('ST', HR, ' 171 ')).toMatchObject({ value: 171, quality: { state: 'valid', reasons: ['value-type:ST'] } });
  });

  it('an SN beyond the measuring range keeps the bound as the number, questionable (sn-comparator)', () => {
    expect(row('SN', RESP, '>^40')).toMatchObject({ value: 40, quality: { state: 'questionable', reasons: ['sn-comparator:>'] } });
    expect(row('SN', SPO2, '<=^50')).toMatchObject({ value: 50, quality: { state: 'questionable', reasons: ['sn-comparator:<='] } });
    // A plain SN is a plain number.
    expect(row('SN', SPO2, '^97')).toMatchObject({ value: 97, quality: { state: 'valid' } });
  });

  it('text that is not a number stays text and is not valid', () => {
    expect(row('ST', SPO2, '---')).toMatchObject({ value: '---', quality: { state: 'invalid', reasons: ['value-type:ST', 'not-a-number'] } });
    expect(row('', HR, 'lead off')).toMatchObject({ value: 'lead off', quality: { state: 'invalid', reasons: ['value-type-missing', 'not-a-number'] } });
    expect(row('SN', HR, '^60^-^80')).toMatchObject({ value: '60-80', quality: { state: 'invalid', reasons: ['not-a-number'] } });
  });

  it('repeated values sent as ST, TX or with an empty OBX-2 keep the first and are questionable, as in NM', () => {
    for (const type of ['ST', 'TX', '']) {
      const r = row(type, HR, '72~73');
      expect(r.value).toBe(72);
      expect(r.quality.state).toBe('questionable');
      expect(r.quality.reasons).toContain('repeated-value');
    }
  });

  it('codes that are not known metrics keep their text as sent', () => {
    expect(row('ST', '12345^Local note^99LOCAL', '84')).toMatchObject({ value: '84', quality: { state: 'valid' } });
    expect(row('ST', '0^MDC_ATTR_SOMETHING^MDC', 'on')).toMatchObject({ value: 'on', quality: { state: 'valid' } });
  });
});

describe('OBX-11 shifted into OBX-10 (a pipe missing before OBX-11)', () => {
  // OBX-1 … OBX-10 as sent, then the rest from OBX-11 on: status F, OBX-14 time, OBX-17 MSET, OBX-18 equipment.
  const head = ['1', 'NM', '151562^MDC_RESP_RATE^MDC', '1.1.1.1', '14', '264928^MDC_DIM_RESP_PER_MIN^MDC', '', '', ''];
  const tail = ['F', '', '', '20240101115900+0000', '', '', 'MSET', 'AABBCCDDEEFF0011^EUI-64'];
  it('reads time, method and equipment from their shifted places: the same reading as the normal row', () => {
    const normal = reading(HEAD + obx([...head, '', ...tail]));
    const shifted = reading(HEAD + obx([...head, ...tail]));
    for (const r of [normal, shifted]) {
      expect(r.deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 59));
      expect(r.setting).toBe(true);
      expect(r.deviceId).toBe('AABBCCDDEEFF0011');
      expect(r.context.observationMethod).toEqual(['MSET']);
      expect(r.context.resultStatus).toBe('F');
    }
    expect(normal.quality).toEqual({ state: 'valid' });
    expect(shifted.quality).toEqual({ state: 'valid', reasons: ['obx-11-in-obx-10'] });
  });

  it('a table 0080 value (N, S) in OBX-10 with OBX-11 empty is not a shift: the row is read from its own fields', () => {
    // OBX-10 "nature of abnormal test", no status, then OBX-14, OBX-17 and (or not) OBX-18 in their places.
    const row = (f10: string, equipment: string) =>
      reading(HEAD + obx([...head, f10, '', '', '', '20240101115900+0000', '', '', 'AMEAS', equipment]));
    for (const f10 of ['N', 'S']) {
      for (const equipment of ['AABBCCDDEEFF0011^EUI-64', '']) {
        const r = row(f10, equipment);
        expect(r.deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 59)); // OBX-14, not OBR-7
        expect(r.context.observationMethod).toEqual(['AMEAS']);
        expect(r.deviceId).toBe(equipment ? 'AABBCCDDEEFF0011' : '0011223344556677');
        expect(r.quality).toEqual({ state: 'questionable', reasons: ['hl7-status-missing'] });
      }
    }
    // The same letter with a time one place to the left (OBX-13) is a shifted status.
    const shifted = reading(HEAD + obx([...head, 'R', '', '', '20240101115900+0000', '', '', 'AMEAS']));
    expect(shifted.deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 59));
    expect(shifted.quality).toEqual({ state: 'valid', reasons: ['obx-11-in-obx-10'] });
  });
});

describe('an unreadable OBX-14', () => {
  const pleth = (time: string) => obx(['1', 'NA', '150452^MDC_PULS_OXIM_PLETH^MDC', '1.1.1.1', '1^2^3', '262656^MDC_DIM_DIMLESS^MDC', '', '', '', '', 'F', '', '', time]);
  const rate = obx(['2', 'NM', '0^MDC_ATTR_SAMP_RATE^MDC', '1.1.1.1.1', '125', '264608^MDC_DIM_PER_SEC^MDC', '', '', '', '', 'F']);
  it('is skipped for the next time (OBR-7), and the reading says so', () => {
    const r = reading(HEAD + spo2({ time: '20240101116000' }));
    expect(r.deviceTime).toBe(Date.UTC(2024, 0, 1, 12, 0));
    expect(r.quality).toEqual({ state: 'valid', reasons: ['time-invalid:obx-14'] });
    const w = map(HEAD + pleth('20241301120000') + rate)[0] as WaveformSegment;
    expect(w.startTime).toBe(Date.UTC(2024, 0, 1, 12, 0));
    expect(w.quality).toEqual({ state: 'valid', reasons: ['time-invalid:obx-14'] });
  });
  it('a waveform timed only by MSH-7 is placed at receipt time and is questionable; a numeric row still takes MSH-7', () => {
    const onlyMsh7 = `${msh()}PID|||P1\rOBR|1|||x\r`;
    const ev = map(onlyMsh7 + pleth('') + rate + spo2({ containment: '1.1.2.1' }));
    const w = ev.find((e): e is WaveformSegment => e.kind === 'waveform')!;
    expect(w.startTime).toBe(0); // receivedAt
    expect(w.quality).toEqual({ state: 'questionable', reasons: ['time-from-receipt'] });
    const n = ev.find((e): e is NumericReading => e.kind === 'numeric')!;
    expect(n.deviceTime).toBe(Date.UTC(2024, 0, 1, 12, 0));
  });
  it('a waveform left with no sender time is placed at receipt time and is questionable', () => {
    const noTimes = `${msh('')}PID|||P1\rOBR|1|||x\r`;
    const w = map(noTimes + pleth('20241301120000') + rate)[0] as WaveformSegment;
    expect(w.startTime).toBe(0); // receivedAt
    expect(w.quality).toEqual({ state: 'questionable', reasons: ['time-invalid:obx-14', 'time-from-receipt'] });
  });
});

describe('OBX-6 spellings of one unit (review rv125 M2)', () => {
  const row = (code: string, value: string, unit: string) =>
    reading(HEAD + obx(['1', 'NM', code, '1.1.1.1', value, unit, '', '', '', '', 'F']));
  it('{beat}/min, mmHg, degC (UCUM or no system, IHE PCD TF ihe-pcd-tf_2 spelling) are /min, mm[Hg], Cel; the sender\'s text is kept in context', () => {
    const hr = row('147842^MDC_ECG_HEART_RATE^MDC', '60', '{beat}/min^{beat}/min^UCUM');
    expect(hr.unit).toEqual({ ucum: '/min' });
    expect(hr.context.unitAsSent).toBe('{beat}/min');
    expect(row('151562^MDC_RESP_RATE^MDC', '16', '{breaths}/min^^UCUM').unit).toEqual({ ucum: '/min' });
    const sys = row('150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '126', 'mmHg^mmHg^UCUM');
    expect(sys.unit).toEqual({ ucum: 'mm[Hg]' });
    expect(sys.context.unitAsSent).toBe('mmHg');
    expect(row('150364^MDC_TEMP_BODY^MDC', '37.2', 'degC^degC^UCUM').unit).toEqual({ ucum: 'Cel' });
    expect(row('150021^MDC_PRESS_BLD_NONINV_SYS', '80', 'mmHg^Unit').context.unitAsSent).toBe('mmHg');
    // With an MDC unit beside it, the MDC code is kept.
    expect(row('147842^MDC_ECG_HEART_RATE^MDC', '60', '{beat}/min^{beat}/min^UCUM^264864^MDC_DIM_BEAT_PER_MIN^MDC').unit).toEqual(UNITS.BEAT_PER_MIN);
    // The limit rules read it as their unit.
    expect(convert(sys.value as number, sys.unit.ucum, 'mm[Hg]')).toBe(126);
  });
  it('another unit stays that unit and nothing is noted when the unit is already spelt the agent\'s way', () => {
    const kpa = row('150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '16.8', 'kPa^kPa^UCUM');
    expect(kpa.unit).toEqual({ ucum: 'kPa' });
    expect(kpa.value).toBe(16.8);
    expect(kpa.context.unitAsSent).toBeUndefined();
    expect(row('147842^MDC_ECG_HEART_RATE^MDC', '60', '/min^/min^UCUM').context.unitAsSent).toBeUndefined();
    expect(row('147842^MDC_ECG_HEART_RATE^MDC', '60', '264864^MDC_DIM_BEAT_PER_MIN^MDC').context.unitAsSent).toBeUndefined();
    expect(row('150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '60', '{drops}/min^^UCUM').unit).toEqual({ ucum: '{drops}/min' });
    expect(unitFromCwe(['mg/dl'])).toEqual({ ucum: '{mg/dl}' });
  });
});

describe('OBX-6 MDC units the limit rules convert', () => {
  const row = (code: string, value: string, unit: string) =>
    reading(HEAD + obx(['1', 'NM', code, '1.1.1.1', value, unit, '', '', '', '', 'F']));
  it('°F (MDC_DIM_FAHR 266560) and kPa (MDC_DIM_KILO_PASCAL 265987), sent as MDC only, become [degF] and kPa', () => {
    const temp = row('150364^MDC_TEMP_BODY^MDC', '104', '266560^MDC_DIM_FAHR^MDC');
    expect(temp.unit).toEqual({ ucum: '[degF]', mdc: { code: 266560, refid: 'MDC_DIM_FAHR' } });
    expect(convert(temp.value as number, temp.unit.ucum, 'Cel')).toBe(40);
    const sys = row('150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '26', '265987^MDC_DIM_KILO_PASCAL^MDC');
    expect(sys.unit).toEqual({ ucum: 'kPa', mdc: { code: 265987, refid: 'MDC_DIM_KILO_PASCAL' } });
    expect(convert(sys.value as number, sys.unit.ucum, 'mm[Hg]')).toBeCloseTo(195, 0);
    // By refid when the code is 0, as some senders write it.
    expect(row('150364^MDC_TEMP_BODY^MDC', '104', '0^MDC_DIM_FAHR^MDC').unit.ucum).toBe('[degF]');
  });

  it('no coding system in OBX-6 is read as MDC when the unit is a known MDC one, as OBX-3 without one is', () => {
    const sys = row('150021^MDC_PRESS_BLD_NONINV_SYS', '180', '266016^MDC_DIM_MMHG');
    expect(sys.unit).toEqual({ ucum: 'mm[Hg]', mdc: { code: 266016, refid: 'MDC_DIM_MMHG' } });
    // Not known as MDC: no MDC code made up for it. A spelling of a unit the agent knows is that unit (rv125 M2).
    expect(row('150021^MDC_PRESS_BLD_NONINV_SYS', '180', 'mmHg').unit).toEqual({ ucum: 'mm[Hg]' });
    expect(row('150021^MDC_PRESS_BLD_NONINV_SYS', '180', '999999^MY_UNIT').unit).toEqual({ ucum: '{MY_UNIT}' });
  });

  it('a unit that is neither MDC nor UCUM is its text (CD:289^mg/dL is mg/dL), its identifier when the text is a mere label (mmHg^Unit is mmHg) or missing', () => {
    const bp = (unit: string) => row('150021^MDC_PRESS_BLD_NONINV_SYS', '80', unit).unit;
    // mmHg and beats/min are spellings of units the agent knows: those units (rv125 M2).
    expect(bp('mmHg^Unit')).toEqual({ ucum: 'mm[Hg]' });
    expect(bp('mmHg^units')).toEqual({ ucum: 'mm[Hg]' });
    expect(bp('beats/min^^ISO')).toEqual({ ucum: '/min' });
    expect(bp('^Unit')).toEqual({ ucum: '{Unit}' });
    // A local code with the unit's text (shared corpus simple-hl7_3, simple-hl7_2): the text (review rv72 M3).
    expect(unitFromCwe(['CD:289', 'mg/dL'])).toEqual({ ucum: '{mg/dL}' });
    expect(unitFromCwe(['mo', 'month', 'ANSI'])).toEqual({ ucum: '{month}' });
  });

  it('a core unit given by its MDC refid alone (no number, or 0) is recognised, as OBX-3 is by refid', () => {
    for (const u of Object.values(UNITS)) {
      expect(unitFromCwe(['', u.mdc.refid, 'MDC']), u.mdc.refid).toEqual({ ucum: u.ucum, mdc: u.mdc });
      expect(unitFromCwe(['0', u.mdc.refid, 'MDC']), u.mdc.refid).toEqual({ ucum: u.ucum, mdc: u.mdc });
    }
    // Through the mapping, and so to the limit rules: %, /min, mmHg, °C.
    const spo2r = row('^MDC_PULS_OXIM_SAT_O2^MDC', '84', '^MDC_DIM_PERCENT^MDC');
    expect(spo2r.unit).toEqual({ ucum: '%', mdc: { code: 262688, refid: 'MDC_DIM_PERCENT' } });
    expect(convert(84, spo2r.unit.ucum, '%')).toBe(84);
    expect(row('^MDC_ECG_HEART_RATE^MDC', '72', '^MDC_DIM_BEAT_PER_MIN^MDC').unit.ucum).toBe('/min');
    expect(row('^MDC_PRESS_BLD_NONINV_SYS^MDC', '120', '^MDC_DIM_MMHG^MDC').unit.ucum).toBe('mm[Hg]');
    expect(row('^MDC_TEMP_BODY^MDC', '37', '0^MDC_DIM_DEGC^MDC').unit.ucum).toBe('Cel');
  });
});

describe('PV1-3 bed key', () => {
  const bed = (pv1: string) => reading(`${msh()}PID|||P1\rPV1||I|${pv1}\rOBR|1|||x|||20240101120000+0000\r${spo2()}`).bed;
  it('keeps each component in its place, so different locations never share a key', () => {
    expect(bed('ICU^3001^1')).toBe('ICU/3001/1');
    expect(bed('ICU^5')).toBe('ICU/5'); // room 5
    expect(bed('ICU^^5')).toBe('ICU//5'); // bed 5
    expect(bed('^ICU^5')).toBe('/ICU/5'); // room ICU, bed 5
    expect(bed('ICU^5^')).toBe('ICU/5'); // trailing empties say nothing
    expect(bed('ICU^5^1^FAC')).toBe('ICU/5/1'); // facility and beyond are not part of the key
    expect(bed('')).toBeUndefined();
  });
  it('a / (or %) inside a component is escaped, so it never makes two locations share a key', () => {
    expect(bed('4/W^12')).toBe('4%2FW/12');
    expect(bed('4^W^12')).toBe('4/W/12');
    expect(bed('ICU/1^A')).toBe('ICU%2F1/A');
    expect(bed('ICU^1^A')).toBe('ICU/1/A');
    expect(bed('ICU%2F1^A')).toBe('ICU%252F1/A'); // not the key of ICU/1^A
  });
});

describe('PID-3 patient id', () => {
  const patient = (pid3: string) => reading(`${msh()}PID|||${pid3}\rOBR|1|||x|||20240101120000+0000\r${spo2()}`).patientId;
  it('is the repetition typed MR (medical record number) when there is one, else the first id given', () => {
    expect(patient('V-778^^^HOSP^VN~12345^^^HOSP^MR')).toBe('12345');
    expect(patient('12345^^^HOSP^MR~V-778^^^HOSP^VN')).toBe('12345');
    expect(patient('V-778^^^HOSP^VN~12345^^^HOSP^PI')).toBe('V-778');
    expect(patient('~12345')).toBe('12345');
    expect(patient('')).toBeUndefined();
  });
});

describe('OBX-18 device id', () => {
  // IHE PCD TF-2 OBX-18: the MDS row's identifier is the equipment's; one on a lower row names a module of it.
  const MDS = (eui: string) => obx(['1', '', '69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC', '1.0.0.0', '', '', '', '', '', '', 'X', '', '', '', '', '', '', `${eui}^^^EUI-64`]);
  const OBR = (n: string, id = '') => `OBR|${n}||${id}|x|||20240101120000+0000\r`;
  /** spo2() ends at OBX-17: OBX-18 is the next field. */
  const withEquipment = (row: string, eui: string) => row.replace(/\r$/, `|${eui}^^^EUI-64\r`);

  it('numerics and alarms of one monitor get the same device id: the MDS row wins over the row for both', () => {
    const numeric = map(`${msh()}PID|||P1\rPV1||I|ICU^1^1\r${OBR('1')}${MDS('AAAAAAAAAAAAAAAA')}${withEquipment(spo2({ containment: '1.2.1.1' }), 'BBBBBBBBBBBBBBBB')}`)[0] as NumericReading;
    const alarm = map(
      `${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rPV1||I|ICU^1^1\r${OBR('1', 'ALM1^GW')}${MDS('AAAAAAAAAAAAAAAA')}` +
        obx(['2', 'ST', '196652^MDC_EVT_LO^MDC', '1.2.1.1.1', 'SpO2 low', '', '', 'L~PM~SP', '', '', 'F', '', '', '', '', '', '', 'BBBBBBBBBBBBBBBB^^^EUI-64']) +
        obx(['3', 'ST', '68481^MDC_ATTR_EVENT_PHASE^MDC', '1.2.1.1.3', 'start', '', '', '', '', '', 'F']),
    )[0] as AlarmEvent;
    expect(numeric.deviceId).toBe('AAAAAAAAAAAAAAAA');
    expect(alarm.kind).toBe('alarm');
    expect(alarm.deviceId).toBe(numeric.deviceId);
  });

  it('without an MDS row, an alarm takes the event row own OBX-18, else that of another row of its OBR, as before', () => {
    const R40 = `${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rPV1||I|ICU^1^1\r${OBR('1', 'ALM1^GW')}`;
    const event = (eui: string) => obx(['1', 'ST', '196652^MDC_EVT_LO^MDC', '1.2.1.1.1', 'SpO2 low', '', '', 'PM~SP', '', '', 'F', '', '', '', '', '', '', eui ? `${eui}^^^EUI-64` : '']);
    const metric = obx(['2', 'NM', '150456^MDC_PULS_OXIM_SAT_O2^MDC', '1.2.1.1.2', '85', '262688^MDC_DIM_PERCENT^MDC', '', '', '', '', 'F', '', '', '', '', '', '', 'CCCCCCCCCCCCCCCC^^^EUI-64']);
    expect((map(R40 + event('BBBBBBBBBBBBBBBB') + metric)[0] as AlarmEvent).deviceId).toBe('BBBBBBBBBBBBBBBB');
    expect((map(R40 + event('') + metric)[0] as AlarmEvent).deviceId).toBe('CCCCCCCCCCCCCCCC');
    expect((map(R40 + event(''))[0] as AlarmEvent).deviceId).toBe('0011223344556677'); // MSH-3
  });

  it('an MDS row under the first OBR applies to metrics under a later OBR of the same PID/PV1 group, not of another', () => {
    const events = map(
      `${msh()}PID|||P1\rPV1||I|ICU^1^1\r${OBR('1')}${MDS('AAAAAAAAAAAAAAAA')}${spo2({ containment: '1.1.1.1' })}` +
        `${OBR('2')}${spo2({ containment: '1.2.1.1' })}` +
        `PID|||P2\rPV1||I|ICU^2^1\r${OBR('3')}${spo2({ containment: '1.2.1.1' })}`,
    ) as NumericReading[];
    expect(events.map((e) => [e.bed, e.deviceId])).toEqual([
      ['ICU/1/1', 'AAAAAAAAAAAAAAAA'],
      ['ICU/1/1', 'AAAAAAAAAAAAAAAA'],
      ['ICU/2/1', '0011223344556677'], // another patient's monitor: MSH-3, not bed 1's MDS
    ]);
  });

  it('a VMD header written short (1.1), as 1.1.0 or 1.1.0.0, names the device of its metrics, as it gives them its OBX-14', () => {
    for (const vmd of ['1.1', '1.1.0', '1.1.0.0']) {
      const header = obx(['1', '', '69838^MDC_DEV_VMD^MDC', vmd, '', '', '', '', '', '', 'X', '', '', '20240101115000+0000', '', '', '', 'AAAAAAAAAAAAAAAA^^^EUI-64']);
      const r = reading(`${msh()}PID|||P1\r${OBR('1')}${header}${spo2({ containment: '1.1.1.1' })}`);
      expect([vmd, r.deviceId, r.deviceTime]).toEqual([vmd, 'AAAAAAAAAAAAAAAA', Date.UTC(2024, 0, 1, 11, 50)]);
    }
  });

  it("an OBR's own MDS row wins over another OBR's of the same group (two devices numbered alike)", () => {
    const events = map(
      `${msh()}PID|||P1\rPV1||I|ICU^1^1\r${OBR('1')}${MDS('AAAAAAAAAAAAAAAA')}${spo2({ containment: '1.2.1.1' })}` +
        `${OBR('2')}${MDS('DDDDDDDDDDDDDDDD')}${spo2({ containment: '1.2.1.1' })}`,
    ) as NumericReading[];
    expect(events.map((e) => e.deviceId)).toEqual(['AAAAAAAAAAAAAAAA', 'DDDDDDDDDDDDDDDD']);
  });
});

describe('MA waveforms (repetitions are time samples, components channels)', () => {
  const ecg = (value: string) =>
    map(
      HEAD +
        obx(['1', 'MA', '131328^MDC_ECG_ELEC_POTL^MDC', '1.1.1.1', value, '266418^MDC_DIM_MILLI_VOLT^MDC', '', '', '', '', 'F', '', '', '20240101115959+0000']) +
        obx(['2', 'NM', '0^MDC_ATTR_SAMP_RATE^MDC', '1.1.1.1.1', '250', '264608^MDC_DIM_PER_SEC^MDC', '', '', '', '', 'F']),
    ) as (WaveformSegment & { context: Hl7Context })[];

  it('a time sample that leaves out trailing channels does not shift their later samples: the gap is NaN', () => {
    const w = ecg('10^20^30~11~12^22^32~13^23^33');
    expect(w.map((s) => s.samples)).toEqual([
      [10, 11, 12, 13],
      [20, Number.NaN, 22, 23],
      [30, Number.NaN, 32, 33],
    ]);
    // Left out, not malformed: ingest zeroes the NaN and marks the segment; nothing here calls it invalid.
    expect(w.map((s) => s.quality.state)).toEqual(['valid', 'valid', 'valid']);
    // An empty component is the same gap, and a channel absent from the first time samples keeps its place too.
    expect(ecg('10^^30~11^21^31').map((s) => s.samples)).toEqual([[10, 11], [Number.NaN, 21], [30, 31]]);
    expect(ecg('10~11^21').map((s) => s.samples)).toEqual([[10, 11], [Number.NaN, 21]]);
  });

  it('each channel says which one it is (its component, from 1), and a bad sample spoils only its own channel', () => {
    const w = ecg('10^20^30~11^x^31');
    expect(w.map((s) => s.context.channel)).toEqual([1, 2, 3]);
    expect(w.map((s) => s.context.containment)).toEqual(['1.1.1.1', '1.1.1.1', '1.1.1.1']);
    expect(w.map((s) => s.quality.state)).toEqual(['valid', 'invalid', 'valid']);
  });
});

/** The error mapMessage throws for a message, or undefined when it maps. */
const refusal = (text: string): Hl7ParseError | undefined => {
  try {
    map(text);
    return undefined;
  } catch (e) {
    if (e instanceof Hl7ParseError) return e;
    throw e;
  }
};

describe('OBX-4 containment bounds', () => {
  const at = (containment: string) => HEAD + spo2({ containment });

  it('an OBX-4 of more than 8 levels, or longer than 64 characters, refuses the message: error 102 at OBX-4', () => {
    const deep = refusal(at(Array.from({ length: 9 }, () => '1').join('.')));
    expect(deep).toMatchObject({ code: 102, position: { segmentIndex: 4, segmentId: 'OBX', field: 4 } });
    expect(deep!.reason).toMatch(/OBX-4 .*9 levels.*at most 8/);
    const long = refusal(at(`1.1.1.${'1'.repeat(60)}`));
    expect(long).toMatchObject({ code: 102, position: { segmentId: 'OBX', field: 4 } });
    expect(long!.reason).toMatch(/66 characters.*at most 64/);
    // The probe's message: 800 levels on one row took seconds of a blocked event loop; now refused before any lookup.
    expect(refusal(at(Array.from({ length: 800 }, () => '1').join('.')))).toMatchObject({ code: 102 });
  });

  it('8 levels (and MDC numbers inside, as Dräger sends them) are mapped, and inherit from headers written short or padded', () => {
    expect(reading(at('1.1.1.1.1.1.1.1')).context.containment).toBe('1.1.1.1.1.1.1.1');
    expect(reading(at('1.3.1.150456.1')).value).toBe(97);
    const mds = obx(['1', '', '69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC', '1.0.0.0', '', '', '', '', '', '', 'X', '', '', '20240101115000+0000']);
    const vmd = obx(['2', '', '69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC', '1.1', '', '', '', '', '', '', 'X', '', '', '20240101115500+0000']);
    expect(reading(HEAD + mds + at('1.2.1.1.1.1.1.1').slice(HEAD.length)).deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 50));
    expect(reading(HEAD + mds + vmd + at('1.1.1.1.1.1.1.1').slice(HEAD.length)).deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 55));
  });
});

describe('MA waveform shape bounds', () => {
  const ma = (value: string) =>
    HEAD + obx(['1', 'MA', '131328^MDC_ECG_ELEC_POTL^MDC', '1.1.1.1', value, '266418^MDC_DIM_MILLI_VOLT^MDC', '', '', '', '', 'F', '', '', '20240101115959+0000']);
  const sample = (channels: number) => Array.from({ length: channels }, (_, i) => String(i)).join('^');

  it('more than 64 channels refuses the message before any sample is laid out: error 102 at OBX-5', () => {
    const e = refusal(ma(`${sample(65)}~${sample(65)}`));
    expect(e).toMatchObject({ code: 102, position: { segmentIndex: 4, segmentId: 'OBX', field: 5 } });
    expect(e!.reason).toMatch(/65 channels.*at most 64/);
    expect(map(ma(`${sample(64)}~${sample(64)}`))).toHaveLength(64);
  });

  it('time samples that leave out most channels (channels x samples over 8 x the values sent) are refused, not padded', () => {
    // The probe's 16 KB message: 8000 components in the first time sample, then 7999 empty ones; it took 8 s and
    // 1.2 GB (a 40 KB one killed the agent). Refused at once.
    const e = refusal(ma('1' + '^'.repeat(7999) + '~'.repeat(7999)));
    expect(e).toMatchObject({ code: 102, position: { segmentId: 'OBX', field: 5 } });
    expect(e!.reason).toMatch(/8000 channels/);
    // 16 channels given once, then 1000 samples of channel 1 only: 16 x 1001 cells from 1016 values.
    expect(refusal(ma(`${sample(16)}${'~1'.repeat(1000)}`))?.reason).toMatch(/16016 .*1016 values/);
    // 12 leads with the last 6 left out of every later sample (leads off): padded, as before.
    const w = map(ma(`${sample(12)}${`~${sample(6)}`.repeat(100)}`)) as WaveformSegment[];
    expect(w).toHaveLength(12);
    expect(w[11]!.samples).toHaveLength(101);
  });
});

describe('PCD-04 event row without text', () => {
  const r40 = (rows: string) =>
    `${msh('20240101120000+0000', 'ORU^R40^ORU_R40')}PID|||P1\rPV1||I|ICU^1^1\rOBR|1||ALM-7^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r` + rows;
  const phase = 'OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.3.1.1.3|start||||||F\r';
  const mapped = (text: string) => {
    const m = parseMessage(text);
    return mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 });
  };

  it('an MDC_EVT_ row with no OBX-5 is the alarm (never a header row), alone or with facets, with its own priority', () => {
    for (const row of [
      'OBX|1||196652^MDC_EVT_LO^MDC|||||PH~SP|||F\r',
      'OBX|1||196652^MDC_EVT_LO^MDC|1.3.1||||PH~SP|||F\r',
      'OBX|1|ST|196652^MDC_EVT_LO^MDC|1.0.0.0||||PH~SP|||F\r',
      'OBX|1||196652^^MDC|1.3.1||||PH~SP|||F\r', // partition 3 by number alone
    ]) {
      for (const text of [r40(row), r40(row + phase)]) {
        const r = mapped(text);
        expect(r.events, row).toMatchObject([{ kind: 'alarm', priority: 'high', phase: 'start', raw: { code: '196652' } }]);
        expect(r.notices, row).toEqual([]);
      }
    }
  });

  it('an OBR that yields no alarm (only header rows, or no OBX) is not silent: a notice to count and log', () => {
    const mds = 'OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X\r';
    for (const text of [r40(mds), r40('')]) {
      const r = mapped(text);
      expect(r.events).toEqual([]);
      expect(r.notices).toMatchObject([{ counter: 'alarm_events_unreadable', by: 1, text: expect.stringMatching(/OBR 1 .*no alarm event row.*not raised/) }]);
    }
  });
});

describe('waveform sample rate lookup', () => {
  // No time assert: the size is what matters. Before, every waveform row scanned every row (60 000 rows took 18 s,
  // 100 000 about a minute, past this test's timeout); indexed once per OBR they take about as long as parsing them.
  it('is indexed once per OBR: 100 000 NA rows map, each to its own rate', () => {
    const n = 100_000;
    const rows: string[] = [];
    for (let i = 0; i < n; i++) rows.push(`OBX|${i}|NA|150452^^MDC|1.1.1.${i}|1^2\r`);
    // Rate facets at the end of the OBR, for the first two waveforms only.
    rows.push('OBX|r1|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.0.1|250|264608^MDC_DIM_PER_SEC^MDC|||||F\r');
    rows.push('OBX|r2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.1.1|500|264608^MDC_DIM_PER_SEC^MDC|||||F\r');
    const w = map(HEAD + rows.join('')) as WaveformSegment[];
    expect(w).toHaveLength(n);
    expect(w.slice(0, 3).map((s) => s.sampleRateHz)).toEqual([250, 500, 0]);
    expect(w[n - 2]!.quality.reasons).toContain('sample-rate-unknown');
  }, 30_000);
});
