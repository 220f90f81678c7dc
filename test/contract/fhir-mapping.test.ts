// The FHIR mapping templates (deploy/fhir/) applied to real agent output: a real Agent with the simulator
// driver forwarding through the real Azure device SDK to the IoT Hub stand-in, and hand-built readings packed
// by the real wire format and outbox. For every reading: the device id, time, code, value and unit that end up
// in the Observation are the reading's own; everything that must not become an Observation does not.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { DEVICE_TIME_FAR_FROM_RECEIPT, Ingest, toRecord } from '../../agent/ingest.js';
import { Metrics } from '../../agent/metrics.js';
import { alarmRecord, envelope, messageProperties, numericRecord } from '../../agent/forward/wire.js';
import { mdcByCode, MDC, UNITS } from '../../agent/model/mdc.js';
import type { AlarmEvent, NumericReading } from '../../agent/model/reading.js';
import { Outbox, type Stream } from '../../agent/store/outbox.js';
import { mapMessage } from '../../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../../drivers/hl7/protocol/index.js';
import { registry } from '../../drivers/registry.js';
import { startHubStandin, type HubStandin, type ReceivedMessage } from '../hub-standin/index.js';
import { testConfig } from '../support/agent-config.js';
import { tempDir } from '../support/agent-process.js';
import { captureLog } from '../support/log.js';
import { messageSchemaErrors } from '../support/message-schema.js';
import { EXPECTED, LOINC_SYSTEM, MDC_SYSTEM, shouldMap, type WireNumeric } from './expected-mapping.js';
import { loadDeviceMapping, loadFhirMapping, normalize, toObservation, type DeviceEvent, type Measurement } from './medtech.js';

const deviceMapping = loadDeviceMapping();
const fhirMapping = loadFhirMapping();
const KEY = Buffer.from('contract-device-key-0123456789ab').toString('base64');

interface Body {
  messageId: string;
  gatewayId: string;
  stream: Stream;
  records: (WireNumeric & { qualityReasons?: string[] })[];
}

const iso = (t: string) => new Date(t).toISOString();
const keyOf = (deviceId: string, type: string, time: string, value: string) => `${deviceId}|${type}|${iso(time)}|${value}`;
/**
 * The Observation's time: the device's, also when the gateway found it far from receipt (rv146 F3: the record says so,
 * but a backlog's readings are rightly at their device time, so the templates keep it), else the receipt's.
 */
const timeOf = (r: Body['records'][number]) => r.deviceTime ?? r.receivedAt;

/**
 * Checks one message end to end and returns how many records were mapped and left out.
 * The Event Hubs event carries the body under `Body` and the application properties under `Properties`.
 */
function checkMessage(body: Body, properties: Record<string, string>): { mapped: Measurement[]; left: number } {
  expect(messageSchemaErrors(body)).toEqual([]);
  expect(properties.kind).toBe(body.stream === 'alarms' ? 'alarm' : 'telemetry');
  const event: DeviceEvent = { Body: body, Properties: properties };
  const measurements = normalize(deviceMapping, event);

  const expected = body.records
    .map((r) => ({ r, e: shouldMap(r) }))
    .filter((x): x is { r: WireNumeric; e: NonNullable<ReturnType<typeof shouldMap>> } => x.e !== null);
  const want = expected.map(({ r, e }) => keyOf(r.deviceId, e.typeName, timeOf(r), String(r.value))).sort();
  const got = measurements.map((m) => keyOf(m.deviceId, m.type, m.occurrenceTimeUtc, m.properties[0]?.value ?? '?')).sort();
  expect(got).toEqual(want);

  for (const { r, e } of expected) {
    const m = measurements.find((x) => x.deviceId === r.deviceId && x.type === e.typeName && x.occurrenceTimeUtc === iso(timeOf(r)))!;
    expect(m.patientId).toBe(r.patientId ?? null);
    const obs = toObservation(fhirMapping, m);
    expect(obs.device).toBe(r.deviceId);
    expect(obs.subject).toBe(r.patientId ?? null);
    expect(obs.effectiveDateTime).toBe(iso(timeOf(r)));
    expect(obs.valueQuantity.value).toBe(r.value);
    expect(obs.valueQuantity).toMatchObject({ code: r.unit, system: 'http://unitsofmeasure.org' });
    expect(obs.code.coding).toContainEqual({ system: MDC_SYSTEM, code: String(r.code), display: e.refid });
    expect(obs.code.coding.filter((c) => c.system === LOINC_SYSTEM).map((c) => c.code)).toEqual(e.loinc);
    expect(obs.category[0]?.coding[0]?.code).toBe('vital-signs');
  }
  return { mapped: measurements, left: body.records.length - expected.length };
}

describe('FHIR mapping templates, as files', () => {
  it('pair up: one device template and one FHIR template per type, value names agreeing', () => {
    expect(deviceMapping.map((t) => t.typeName).sort()).toEqual(Object.values(EXPECTED).map((e) => e.typeName).sort());
    expect(fhirMapping.map((t) => t.typeName).sort()).toEqual(deviceMapping.map((t) => t.typeName).sort());
    for (const d of deviceMapping) {
      const f = fhirMapping.find((x) => x.typeName === d.typeName)!;
      expect(d.values.map((v) => v.valueName)).toEqual([f.value.valueName]);
      expect(d.values.every((v) => v.required)).toBe(true);
    }
  });

  it('code each type with its MDC term, as the agent names it (agent/model/mdc.ts), and LOINC where a standard code exists', () => {
    for (const [code, e] of Object.entries(EXPECTED)) {
      expect(mdcByCode(Number(code))?.refid).toBe(e.refid);
      const f = fhirMapping.find((x) => x.typeName === e.typeName)!;
      expect(f.codes).toContainEqual({ code, system: MDC_SYSTEM, display: e.refid });
      expect(f.codes.filter((c) => c.system === LOINC_SYSTEM).map((c) => c.code)).toEqual(e.loinc);
      expect(f.value).toMatchObject({ valueType: 'Quantity', code: e.ucum, system: 'http://unitsofmeasure.org' });
      expect(f.periodInterval).toBe(0);
    }
  });
});

describe('FHIR mapping templates on hand-built readings (wire.ts records, packed by the outbox)', () => {
  const T = Date.UTC(2026, 10, 22, 6, 40, 0);
  const base = { kind: 'numeric' as const, deviceId: 'mon-7', bed: 'ICU-07', source: 'icu', receivedAt: T + 4, quality: { state: 'valid' as const } };
  const readings: NumericReading[] = [
    // No device time: the Observation takes the gateway's receive time.
    { ...base, mdc: MDC.ECG_HEART_RATE, value: 72, unit: UNITS.BEAT_PER_MIN, deviceTime: null },
    // A known patient: carried to the Observation's subject.
    { ...base, patientId: 'pat-0042', mdc: MDC.PULS_OXIM_SAT_O2, value: 97, unit: UNITS.PERCENT, deviceTime: T },
    { ...base, mdc: MDC.PRESS_BLD_NONINV_SYS, value: 121, unit: UNITS.MMHG, deviceTime: T - 30_000 },
    { ...base, mdc: MDC.TEMP_BODY, value: 36.8, unit: UNITS.DEGC, deviceTime: T },
    // None of these may become an Observation:
    { ...base, mdc: MDC.TEMP_BODY, value: 98.2, unit: { ucum: '[degF]' }, deviceTime: T }, // another unit
    { ...base, mdc: MDC.PULS_OXIM_SAT_O2, value: 71, unit: UNITS.PERCENT, deviceTime: T, quality: { state: 'questionable', reasons: ['artifact'] } },
    { ...base, mdc: MDC.RESP_RATE, value: null, unit: UNITS.RESP_PER_MIN, deviceTime: T, quality: { state: 'unavailable', reasons: ['lead-off'] } },
    { ...base, mdc: null, raw: { system: 'medibus', code: '0x99', text: 'vendor metric' }, value: 5, unit: { ucum: '' }, deviceTime: T },
    { ...base, mdc: MDC.ECG_HEART_RATE, value: 'ASYSTOLE?', unit: UNITS.BEAT_PER_MIN, deviceTime: T }, // not a number
    { ...base, mdc: MDC.RESP_RATE, value: 14, unit: UNITS.RESP_PER_MIN, deviceTime: T, setting: true }, // a ventilator's set rate
    // …and for every mapped code, a number in the right unit that the device marked questionable.
    ...Object.entries(EXPECTED).map(([code, e]): NumericReading => ({
      ...base,
      mdc: mdcByCode(Number(code))!,
      value: 50,
      unit: { ucum: e.ucum },
      deviceTime: T,
      quality: { state: 'questionable', reasons: ['artifact'] },
    })),
  ];

  function pack(stream: Stream, bodies: { deviceId: string; body: string }[]): Body {
    const outbox = new Outbox(':memory:');
    try {
      outbox.append(bodies.map((b) => ({ stream, cls: stream === 'alarms' ? 0 : 1, deviceId: b.deviceId, body: b.body })));
      const msg = outbox.pack(stream, 65536, envelope('ward7-gw'));
      expect(msg).not.toBeNull();
      return JSON.parse(msg!.body) as Body;
    } finally {
      outbox.close();
    }
  }

  it('maps each valid reading with its own device, time, code, value and unit, and nothing else', () => {
    const body = pack('telemetry', readings.map((r) => ({ deviceId: r.deviceId, body: JSON.stringify(numericRecord(r)) })));
    const { mapped, left } = checkMessage(body, messageProperties('telemetry', body.gatewayId));
    expect(mapped.map((m) => m.type).sort()).toEqual(['bodytemp', 'heartrate', 'nibp-systolic', 'spo2']);
    expect(left).toBe(6 + Object.keys(EXPECTED).length);
    const hr = mapped.find((m) => m.type === 'heartrate')!;
    expect(hr.occurrenceTimeUtc).toBe(new Date(T + 4).toISOString());
    expect(mapped.find((m) => m.type === 'spo2')!.patientId).toBe('pat-0042');
    expect(mapped.find((m) => m.type === 'nibp-systolic')!.occurrenceTimeUtc).toBe(new Date(T - 30_000).toISOString());
    expect(mapped.find((m) => m.type === 'bodytemp')!.properties).toEqual([{ name: 'temp', value: '36.8' }]);
  });

  it('maps nothing from the alarms stream', () => {
    const alarm: AlarmEvent = {
      kind: 'alarm', deviceId: 'mon-7', bed: 'ICU-07', source: 'icu', alarmId: 'a-1', condition: null,
      raw: { system: 'medibus', code: '0x12', text: 'SpO2 LOW' }, text: 'SpO2 LOW', priority: 'high',
      category: 'physiological', phase: 'start', sourceMetric: MDC.PULS_OXIM_SAT_O2, value: 84, unit: UNITS.PERCENT,
      deviceTime: T, receivedAt: T + 2,
    };
    const body = pack('alarms', [{ deviceId: 'mon-7', body: JSON.stringify(alarmRecord(alarm)) }]);
    const { mapped } = checkMessage(body, messageProperties('alarms', body.gatewayId));
    expect(mapped).toEqual([]);
  });

  it('maps a valid number in its unit under every code of the table, the other NEWS2 terms included (rv125 L3)', () => {
    const each = Object.entries(EXPECTED).map(([code, e], i): NumericReading => ({
      ...base, mdc: mdcByCode(Number(code))!, value: 30 + i, unit: { ucum: e.ucum }, deviceTime: T,
    }));
    const body = pack('telemetry', each.map((r) => ({ deviceId: r.deviceId, body: JSON.stringify(numericRecord(r)) })));
    const { mapped, left } = checkMessage(body, messageProperties('telemetry', body.gatewayId));
    expect(left).toBe(0);
    expect(mapped.map((m) => m.type).sort()).toEqual(Object.values(EXPECTED).map((e) => e.typeName).sort());
    for (const t of ['resprate-impedance', 'resprate-airway', 'bodytemp-unspecified-site', 'bodytemp-tympanic', 'pulserate']) {
      expect(mapped.map((m) => m.type)).toContain(t);
    }
  });

  it('HL7 OBX-6 spellings of /min, mm[Hg] and Cel ({beat}/min, mmHg, degC…) reach their Observations in UCUM (rv125 M2)', () => {
    // Spelt as senders do: the IHE PCD TF example (ihe-pcd-tf_2) writes {beat}/min^{beat}/min^UCUM, others mmHg with
    // or without a coding system (shared corpus ipf_2: mmHg^Unit) and beats/min^^ISO (fhir-converter_1).
    const row = (n: number, code: string, value: string, unit: string) => `OBX|${n}|NM|${code}|1.1.1.${n}|${value}|${unit}|||||R|||20261122064000+0000\r`;
    const text =
      'MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20261122064001+0000||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE||UNICODE UTF-8\r' +
      'PID|||P1\rOBR|1|||x|||20261122064000+0000\r' +
      row(1, '147842^MDC_ECG_HEART_RATE^MDC', '72', '{beat}/min^{beat}/min^UCUM') +
      row(2, '149530^MDC_PULS_OXIM_PULS_RATE^MDC', '71', 'beats/min^^ISO') +
      row(3, '151562^MDC_RESP_RATE^MDC', '17', '{breath}/min^{breath}/min^UCUM') +
      row(4, '150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '126', 'mmHg^mmHg^UCUM') +
      row(5, '150022^MDC_PRESS_BLD_NONINV_DIA^MDC', '73', 'mmHg^Unit') +
      row(6, '150023^MDC_PRESS_BLD_NONINV_MEAN^MDC', '91', 'mmHg') +
      row(7, '150364^MDC_TEMP_BODY^MDC', '37.2', 'degC^degC^UCUM') +
      // Another unit stays that unit: no conversion here, so no Observation.
      row(8, '150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '16.8', 'kPa^kPa^UCUM');
    const m = parseMessage(text);
    const events = mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: T }).events as NumericReading[];
    expect(events.map((e) => e.unit.ucum)).toEqual(['/min', '/min', '/min', 'mm[Hg]', 'mm[Hg]', 'mm[Hg]', 'Cel', 'kPa']);
    const body = pack('telemetry', events.map((e) => toRecord(e, false)!).map((r) => ({ deviceId: r.deviceId, body: r.body })));
    const { mapped, left } = checkMessage(body, messageProperties('telemetry', body.gatewayId));
    expect(mapped.map((x) => x.type)).toEqual(['heartrate', 'pulserate-oximetry', 'resprate', 'nibp-systolic', 'nibp-diastolic', 'nibp-mean', 'bodytemp']);
    expect(left).toBe(1);
    const obs = mapped.map((x) => toObservation(fhirMapping, x).valueQuantity);
    expect(obs.map((q) => [q.value, q.code])).toEqual([[72, '/min'], [71, '/min'], [17, '/min'], [126, 'mm[Hg]'], [73, 'mm[Hg]'], [91, 'mm[Hg]'], [37.2, 'Cel']]);
  });

  it('NIBP coded as cuff pressure (150301-150303), as a Mindray VS900 sends it, maps to systolic, diastolic and mean (rv126 H2)', () => {
    // OBX rows as in the public Mindray VS900 capture: NIBP under MDC_PRESS_CUFF_*, systolic, mean, diastolic.
    const text =
      'MSH|^~\\&|MINDRAY_VS900^00A0370098006640^EUI-64||||20261122064001+0000||ORU^R01^ORU_R01|13|P|2.6|||AL|NE||UNICODE UTF-8\r' +
      'PID|||P1\rPV1||I|INTER^^1^1\rOBR|1|||182777000^monitoring of patient^SCT|||20261122064000+0000\r' +
      'OBX|4|NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.1.9.150301|166|266016^MDC_DIM_MMHG^MDC|||||R|||20261122063500+0000|||^APERIODIC\r' +
      'OBX|5|NM|150303^MDC_PRESS_CUFF_MEAN^MDC|1.1.9.150303|122|266016^MDC_DIM_MMHG^MDC|||||R|||20261122063500+0000|||^APERIODIC\r' +
      'OBX|6|NM|150302^MDC_PRESS_CUFF_DIA^MDC|1.1.9.150302|100|266016^MDC_DIM_MMHG^MDC|||||R|||20261122063500+0000|||^APERIODIC\r';
    const m = parseMessage(text);
    const events = mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: T }).events as NumericReading[];
    expect(events.map((e) => e.mdc?.refid)).toEqual(['MDC_PRESS_CUFF_SYS', 'MDC_PRESS_CUFF_MEAN', 'MDC_PRESS_CUFF_DIA']);
    const body = pack('telemetry', events.map((e) => toRecord(e, false)!).map((r) => ({ deviceId: r.deviceId, body: r.body })));
    const { mapped, left } = checkMessage(body, messageProperties('telemetry', body.gatewayId));
    expect(left).toBe(0);
    // Measurements come out template by template: compared by type.
    const obs = mapped.map((x) => ({ type: x.type, o: toObservation(fhirMapping, x) })).sort((a, b) => a.type.localeCompare(b.type));
    expect(obs.map(({ type, o }) => [type, o.code.coding.find((c) => c.system === LOINC_SYSTEM)?.code, o.valueQuantity.value, o.valueQuantity.code])).toEqual([
      ['nibp-diastolic-cuff', '8462-4', 100, 'mm[Hg]'], ['nibp-mean-cuff', '8478-0', 122, 'mm[Hg]'], ['nibp-systolic-cuff', '8480-6', 166, 'mm[Hg]'],
    ]);
    expect(obs.every(({ o }) => o.effectiveDateTime === '2026-11-22T06:35:00.000Z')).toBe(true);
  });
});

describe('FHIR mapping templates on a device time far from receipt (rv146 F3)', () => {
  it('a monitor whose clock is a year behind: its records carry device-time-far-from-receipt, its Observations keep the device time (as a backlog\'s must)', async () => {
    // Through the real path: HL7 mapper, Ingest (which marks the records as it writes them), outbox, envelope.
    const hl7 = (ts: string, hr: string) => [
      `MSH|^~\\&|MON^0123456789ABCDEF^EUI-64|ICU|GW|ICU|${ts}||ORU^R01^ORU_R01|m1|P|2.6|||NE|AL||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO`,
      'PID|||12345^^^H^MR||Doe^John',
      'PV1||I|ICU^^BED7',
      `OBR|1|||182777000^monitoring of patient^SNOMED-CT|||${ts}`,
      'OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1|||||||X|||||||0123456789ABCDEF^EUI-64',
      `OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|${hr}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||${ts}`,
    ].join('\r');
    const received = Date.UTC(2026, 0, 1, 8, 0, 1);
    const box = new Outbox(':memory:');
    const ingest = new Ingest(box, { commitIntervalMs: 0, forwardWaveforms: false }, captureLog().log, new Metrics());
    try {
      for (const text of [hl7('20250101080000+0000', '142'), hl7('20260101080000+0000', '88')]) {
        const m = parseMessage(text);
        await ingest.accept('icu-mllp', mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: received }).events);
      }
      const body = JSON.parse(box.pack('telemetry', 65536, envelope('ward3-gw'))!.body) as Body;
      const [off, right] = body.records;
      expect(off).toMatchObject({ value: 142, deviceTime: '2025-01-01T08:00:00.000Z', receivedAt: '2026-01-01T08:00:01.000Z', quality: 'valid', qualityReasons: [DEVICE_TIME_FAR_FROM_RECEIPT] });
      expect(right).toMatchObject({ value: 88, deviceTime: '2026-01-01T08:00:00.000Z', quality: 'valid' });
      expect(right!.qualityReasons).toBeUndefined();
      const { mapped } = checkMessage(body, messageProperties('telemetry', body.gatewayId));
      const obs = mapped.map((x) => toObservation(fhirMapping, x)).map((o) => [o.valueQuantity.value, o.effectiveDateTime]);
      // Within one delivery a wrong clock and a backlog look alike: the record says which readings, a consumer decides.
      expect(obs.sort()).toEqual([[142, '2025-01-01T08:00:00.000Z'], [88, '2026-01-01T08:00:00.000Z']].sort());
    } finally {
      ingest.close();
      box.close();
    }
  });
});

describe('FHIR mapping templates on a value beyond the measuring range (rv146 F4)', () => {
  it('an RR the monitor can only bound (SN >^40) is a questionable 40 with sn-comparator:>, and becomes no Observation (it stays in the hub stream)', () => {
    const text = [
      'MSH|^~\\&|MON^0123456789ABCDEF^EUI-64|ICU|GW|ICU|20260101080000+0000||ORU^R01^ORU_R01|m1|P|2.6|||NE|AL||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO',
      'PID|||12345^^^H^MR||Doe^John',
      'PV1||I|ICU^^BED7',
      'OBR|1|||182777000^monitoring of patient^SNOMED-CT|||20260101080000+0000',
      'OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1|||||||X|||||||0123456789ABCDEF^EUI-64',
      'OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|92|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||20260101080000+0000',
      'OBX|3|SN|151562^MDC_RESP_RATE^MDC|1.1.1.2|>^40|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||20260101080000+0000',
    ].join('\r');
    const m = parseMessage(text);
    const events = mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: Date.UTC(2026, 0, 1, 8, 0, 1) }).events;
    const outbox = new Outbox(':memory:');
    try {
      outbox.append(events.map((e) => toRecord(e, false)!));
      const body = JSON.parse(outbox.pack('telemetry', 65536, envelope('ward3-gw'))!.body) as Body;
      expect(body.records.find((r) => r.code === MDC.RESP_RATE.code)).toMatchObject({ value: 40, quality: 'questionable', qualityReasons: ['sn-comparator:>'] });
      const { mapped, left } = checkMessage(body, messageProperties('telemetry', body.gatewayId));
      expect(mapped.map((x) => [x.type, x.properties[0]?.value])).toEqual([['heartrate', '92']]);
      expect(left).toBe(1);
    } finally {
      outbox.close();
    }
  });
});

describe('FHIR mapping templates on a real agent\'s messages (simulator → SQLite → SDK → IoT Hub stand-in)', () => {
  let hub: HubStandin | null = null;
  let agent: Agent | null = null;
  afterEach(async () => {
    await agent?.stop().catch(() => undefined);
    agent = null;
    await hub?.stop();
    hub = null;
  });

  it('every forwarded numeric of every vital sign maps to the right Observation; the rest are left out', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const options = {
      beds: 2,
      waveforms: false,
      episodesPerHour: 0,
      patientIds: true,
      // An NIBP cycle on bed 1 at once; bed 2's SpO2 sensor off, so that unavailable values are in the stream too.
      scenario: [
        { atS: 0, bed: 1, nibp: true },
        { atS: 0, bed: 2, episode: 'sensor-off', durationS: 600 },
      ],
    };
    const config = testConfig(tempDir('contract-'), { drivers: [{ name: 'ward-sim', type: 'simulator', options }] }, hub.connectionString('gw-dev'));
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    const records = (m: ReceivedMessage) => (JSON.parse(m.body.toString('utf8')) as Body).records;
    await hub.waitFor((ms) => ms.some((m) => records(m).some((r) => r.code === MDC.PRESS_BLD_NONINV_MEAN.code)) && ms.length >= 2, 20_000);
    expect(await agent.drain(15_000)).toBe(true);

    const seen = new Set<string>();
    const types = new Set<string>();
    let mapped = 0;
    let left = 0;
    for (const m of hub.messages) {
      if (!m.messageId || seen.has(m.messageId)) continue; // at-least-once: consumers de-duplicate on the message id
      seen.add(m.messageId);
      expect(m.contentType).toBe('application/json');
      expect(m.contentEncoding).toBe('utf-8');
      const r = checkMessage(JSON.parse(m.body.toString('utf8')) as Body, m.properties);
      mapped += r.mapped.length;
      left += r.left;
      for (const x of r.mapped) types.add(x.type);
    }
    // Not vacuous: every vital sign the simulator sends was seen and mapped, and some records were left out.
    const simulated = [MDC.ECG_HEART_RATE, MDC.PULS_OXIM_PULS_RATE, MDC.PULS_OXIM_SAT_O2, MDC.RESP_RATE, MDC.PRESS_BLD_NONINV_SYS, MDC.PRESS_BLD_NONINV_DIA, MDC.PRESS_BLD_NONINV_MEAN, MDC.TEMP_BODY];
    expect([...types].sort()).toEqual(simulated.map((t) => EXPECTED[t.code]!.typeName).sort());
    expect(mapped).toBeGreaterThan(10);
    expect(left).toBeGreaterThan(0);
  });
});
