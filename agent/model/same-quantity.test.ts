// The same vital sign through every driver comes out under one MDC code and one unit spelling, so that the limit rules,
// NEWS2, the display and cloud consumers see one quantity whatever sent it (review rv114 M1, M3, L2). Each driver's
// pure mapping is used as the driver uses it: HL7 PCD-01 (IHE coding), IntelliVue (NOM_* ids and NOM_DIM_* units),
// Medibus (code page 1), a Modbus map written as drivers/modbus/README.md writes it, and the simulator's bed.
import { describe, expect, it } from 'vitest';
import type { MdcCode, NumericReading, Unit } from './reading.js';
import { MDC, UNITS } from './mdc.js';
import { mapMessage } from '../../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../../drivers/hl7/protocol/index.js';
import { DIM_CODES, lookupPhysio, lookupUnit } from '../../drivers/intellivue/codes.js';
import { valueReadings } from '../../drivers/medibus/readings.js';
import { buildPlan } from '../../drivers/modbus/plan.js';
import { Bed } from '../../drivers/simulator/bed.js';
import { resolveOptions } from '../../drivers/simulator/options.js';

type Quantity = 'HR' | 'PR' | 'SpO2' | 'RR' | 'NIBP sys' | 'NIBP dia' | 'NIBP mean' | 'Temp body' | 'Temp tympanic' | 'Temp rectal' | 'Temp oral' | 'Temp axillary' | 'etCO2' | 'PEEP' | 'FiO2';
const seen = new Map<Quantity, { driver: string; mdc: MdcCode | null; unit: Unit }[]>();
const add = (q: Quantity, driver: string, r: { mdc: MdcCode | null; unit: Unit }) => {
  const list = seen.get(q) ?? [];
  list.push({ driver, mdc: r.mdc, unit: r.unit });
  seen.set(q, list);
};

// HL7 PCD-01, coded as IHE PCD says: code^refid^MDC for OBX-3 and OBX-6.
const hl7: [Quantity, MdcCode, Unit & { mdc: MdcCode }][] = [
  ['HR', MDC.ECG_HEART_RATE, UNITS.BEAT_PER_MIN],
  ['PR', MDC.PULS_OXIM_PULS_RATE, UNITS.BEAT_PER_MIN],
  ['SpO2', MDC.PULS_OXIM_SAT_O2, UNITS.PERCENT],
  ['RR', MDC.RESP_RATE, UNITS.RESP_PER_MIN],
  ['NIBP sys', MDC.PRESS_BLD_NONINV_SYS, UNITS.MMHG],
  ['NIBP dia', MDC.PRESS_BLD_NONINV_DIA, UNITS.MMHG],
  ['NIBP mean', MDC.PRESS_BLD_NONINV_MEAN, UNITS.MMHG],
  ['Temp body', MDC.TEMP_BODY, UNITS.DEGC],
  ['Temp tympanic', MDC.TEMP_TYMP, UNITS.DEGC],
  ['Temp rectal', MDC.TEMP_RECT, UNITS.DEGC],
  ['Temp oral', MDC.TEMP_ORAL, UNITS.DEGC],
  ['Temp axillary', MDC.TEMP_AXILLA, UNITS.DEGC],
  ['etCO2', MDC.CONC_AWAY_CO2_ET, UNITS.MMHG],
  // Ventilator terms the agent's table does not name: the sender's MDC code is kept (M2), mbar spelt as elsewhere (L2).
  ['PEEP', { code: 151976, refid: 'MDC_VENT_PRESS_AWAY_END_EXP_POS' }, { ucum: 'mbar', mdc: { code: 266098, refid: 'MDC_DIM_MILLI_BAR' } }],
  ['FiO2', { code: 152196, refid: 'MDC_CONC_AWAY_O2_INSP' }, UNITS.PERCENT],
];
const cwe = (t: MdcCode) => `${t.code}^${t.refid}^MDC`;
let text = 'MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE||UNICODE UTF-8\rPID|||P1\rPV1||I|ICU^^5\rOBR|1|||x|||20240101120000+0000\r';
hl7.forEach(([, m, u], i) => (text += `OBX|${i + 1}|NM|${cwe(m)}|1.1.1.${i + 1}|10|${cwe(u.mdc)}|||||R\r`));
const msg = parseMessage(text);
(mapMessage(msg, readHeader(msg), { source: 'hl7', receivedAt: 0 }).events as NumericReading[]).forEach((e, i) => add(hl7[i]![0], 'hl7', e));

// IntelliVue: NOM_* physiological ids with the NOM_DIM_* unit the monitor reports them in.
const intellivue: [Quantity, number, number][] = [
  ['HR', 16770, DIM_CODES.BEAT_PER_MIN],
  ['PR', 18466, DIM_CODES.BEAT_PER_MIN], // NOM_PLETH_PULS_RATE
  ['SpO2', 19384, DIM_CODES.PERCENT],
  ['RR', 20490, DIM_CODES.RESP_PER_MIN],
  ['NIBP sys', 18949, DIM_CODES.MMHG],
  ['NIBP dia', 18950, DIM_CODES.MMHG],
  ['NIBP mean', 18951, DIM_CODES.MMHG],
  ['Temp tympanic', 19320, DIM_CODES.DEGC],
  ['Temp rectal', 57348, DIM_CODES.DEGC],
  ['Temp oral', 61704, DIM_CODES.DEGC], // NOM_TEMP_ORAL (Philips' own id)
  ['Temp axillary', 61708, DIM_CODES.DEGC], // NOM_TEMP_AXIL
  ['etCO2', 20656, DIM_CODES.MMHG], // NOM_AWAY_CO2_ET
  ['FiO2', 21124, DIM_CODES.PERCENT], // NOM_CONC_AWAY_O2_INSP
];
for (const [q, id, dim] of intellivue) add(q, 'intellivue', { mdc: lookupPhysio(id).mdc, unit: lookupUnit(dim) });

// Medibus, code page 1 (the Medibus.X profile, which has HR too).
const medibus: [Quantity, number][] = [['HR', 0xdc], ['PR', 0xe1], ['SpO2', 0xeb], ['etCO2', 0xe6], ['PEEP', 0x78], ['FiO2', 0xf0]];
for (const [q, code] of medibus) {
  const [r] = valueReadings({ deviceId: 'vent-1', source: 'medibus' }, 'cp1', [{ code, raw: '  38', value: 38 }], 0, null, 'medibus-x');
  add(q, 'medibus', r!);
}

// Modbus: a map as drivers/modbus/README.md writes one (an MDC refid and a UNITS key per point).
const points: [Quantity, string, keyof typeof UNITS][] = [
  ['SpO2', 'MDC_PULS_OXIM_SAT_O2', 'PERCENT'],
  ['PR', 'MDC_PULS_OXIM_PULS_RATE', 'BEAT_PER_MIN'],
  ['Temp tympanic', 'MDC_TEMP_TYMP', 'DEGC'],
  ['etCO2', 'MDC_CONC_AWAY_CO2_ET', 'MMHG'],
];
const plan = buildPlan({
  buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port: 502, devices: [{ id: 'gas', unitId: 1, points: points.map(([q, mdc, unit], i) => ({ name: q, table: 'input', address: i, type: 'uint16', mdc, unit })) }] }],
});
for (const g of plan.buses[0]!.devices[0]!.groups) for (const { point } of g.points) add(point.name as Quantity, 'modbus', point);

// The simulator's bed, through a numeric period long enough for its first cuff measurement.
const t0 = Date.UTC(2025, 0, 1, 8);
const bed = new Bed(1, resolveOptions({ beds: 1, waveforms: false }), 'sim', t0, 'tok');
const sim: [Quantity, string][] = [
  ['HR', MDC.ECG_HEART_RATE.refid], ['PR', MDC.PULS_OXIM_PULS_RATE.refid], ['SpO2', MDC.PULS_OXIM_SAT_O2.refid], ['RR', MDC.RESP_RATE.refid],
  ['NIBP sys', MDC.PRESS_BLD_NONINV_SYS.refid], ['NIBP dia', MDC.PRESS_BLD_NONINV_DIA.refid], ['NIBP mean', MDC.PRESS_BLD_NONINV_MEAN.refid], ['Temp body', MDC.TEMP_BODY.refid],
];
const simEvents = bed.numericStep(t0 + 60_000, t0 + 60_000).filter((e): e is NumericReading => e.kind === 'numeric');
for (const [q, refid] of sim) {
  const r = simEvents.find((e) => e.mdc?.refid === refid);
  if (r) add(q, 'simulator', r);
}

describe('one quantity, one code and one unit spelling, whichever driver sent it', () => {
  it('the simulator gave every vital it makes (the test would prove nothing otherwise)', () => {
    expect(sim.filter(([q]) => !seen.get(q)?.some((x) => x.driver === 'simulator'))).toEqual([]);
  });

  it.each([...seen.keys()])('%s', (q) => {
    const rows = seen.get(q)!;
    expect(rows.length, `${q}: seen from more than one driver`).toBeGreaterThan(1);
    const forms = new Set(rows.map((r) => JSON.stringify([r.mdc?.code ?? null, r.mdc?.refid ?? null, r.unit.ucum, r.unit.mdc?.code ?? null])));
    expect([...forms], `${q}: ${rows.map((r) => `${r.driver} ${JSON.stringify(r)}`).join('; ')}`).toHaveLength(1);
    expect(rows[0]!.mdc, q).not.toBeNull();
  });
});
