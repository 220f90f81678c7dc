// docs/cloud-consumers.md tells cloud teams what to query; keep its examples in step with what the agent sends
// and with the FHIR templates.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { AlarmEngine } from '../../agent/alarms/engine.js';
import { restartList } from '../../agent/alarms/open-notes.js';
import { AlarmService } from '../../agent/alarms/service.js';
import type { AlarmStateChange } from '../../agent/alarms/types.js';
import { alarmChangeRecord, messageProperties } from '../../agent/forward/wire.js';
import { Metrics } from '../../agent/metrics.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { pseudonymizer } from '../../agent/privacy.js';
import { EXPECTED } from './expected-mapping.js';
import { MDC, UNITS } from '../../agent/model/mdc.js';
import type { NumericReading } from '../../agent/model/reading.js';
import { toRecord } from '../../agent/ingest.js';
import { mapMessage } from '../../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../../drivers/hl7/protocol/index.js';

const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'cloud-consumers.md'), 'utf8');
const sql = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!).join('\n');

it('the routing queries use the application property values the agent sets', () => {
  const kinds = new Set([...sql.matchAll(/\bkind = '([^']+)'/g)].map((m) => m[1]));
  expect([...kinds].sort()).toEqual([messageProperties('alarms', 'gw').kind, messageProperties('telemetry', 'gw').kind].sort());
  // Schema 1, and schema 2 for compact bodies (hub.encoding: compact), each plain or gzipped (hub.compression: gzip);
  // test/e2e/forward-routes.test.ts routes real ones.
  const compact = '{"schemaVersion":2,"encoding":"compact"}';
  const versions = [false, true].flatMap((gz) => [messageProperties('telemetry', 'gw', undefined, gz).schemaVersion, messageProperties('telemetry', 'gw', compact, gz).schemaVersion]);
  for (const m of sql.matchAll(/\bschemaVersion = '([^']+)'/g)) expect(versions).toContain(m[1]);
});

it('the Stream Analytics example reads fields the records have and de-duplicates on gateway and message id', () => {
  // Message ids are unique per gateway's store, not across gateways.
  expect(sql).toMatch(/PARTITION BY CONCAT\(gatewayId, '\/', messageId\)/);
  expect(sql).toMatch(/GetArrayElements\(m\.records\)/);
  for (const field of ['type', 'deviceId', 'bed', 'code', 'refid', 'value', 'unit', 'quality', 'deviceTime', 'receivedAt']) {
    expect(sql).toContain(`r.ArrayValue.${field} `);
  }
});

it('the FHIR table lists every mapped type with its MDC and LOINC codes', () => {
  for (const [code, e] of Object.entries(EXPECTED)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${e.typeName}\` |`));
    expect(row, e.typeName).toBeDefined();
    expect(row).toContain(`${code} \`${e.refid}\``);
    for (const l of e.loinc) expect(row).toContain(l);
    expect(row).toContain(`\`${e.ucum}\``);
  }
});

// Stream Analytics stops the job on a CAST that fails ("If the conversion cannot be performed, the function fails and
// causes the job to stop", learn.microsoft.com CAST reference), and valid numeric records with an MDC code can carry
// text (an infusion pump's drug name, IHE PCD TF example; review rv125 M1): the examples convert with TRY_CAST only.
const bareCast = /\bCAST\s*\(/gi; // `\b` never falls between `TRY_` and `CAST`, so TRY_CAST does not match
// Prose wraps: phrases are looked for with each run of whitespace as one space.
const flat = doc.replace(/\s+/g, ' ');

function streamAnalyticsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(sql|asaql)$/i.test(f))
    .map((f) => join(dir, f));
}

it('the SQL examples convert values with TRY_CAST, never CAST, which stops the job on a text value', () => {
  expect('AVG(CAST(value AS float))'.match(bareCast)).toHaveLength(1);
  expect('AVG(TRY_CAST(value AS float)), cast (value as bigint)'.match(bareCast)).toHaveLength(1);
  const blocks = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m, i) => ({ where: `docs/cloud-consumers.md sql block ${i + 1}`, text: m[1]! }));
  const dir = join(PACKAGE_ROOT, 'docs', 'stream-analytics');
  for (const f of streamAnalyticsFiles(dir)) blocks.push({ where: f, text: readFileSync(f, 'utf8') });
  expect(blocks.length).toBeGreaterThan(0);
  for (const b of blocks) expect(b.text.match(bareCast) ?? [], b.where).toEqual([]);
  // The query still converts the value (a TRY_CAST whose NULL, a text value, AVG leaves out).
  expect(sql).toMatch(/AVG\(CASE WHEN quality = 'valid' THEN TRY_CAST\(value AS float\) END\)/);
});

it('the contract describes pseudonymised patient ids as the agent writes them', () => {
  const p = pseudonymizer('k'.repeat(32));
  expect(p('MRN-0001')).toMatch(/^p_[A-Za-z0-9_-]{22}$/);
  expect(p('MRN-0001')).toBe(p('MRN-0001'));
  expect(pseudonymizer('j'.repeat(32))('MRN-0001')).not.toBe(p('MRN-0001'));
  expect(flat.includes('`privacy.pseudonymizePatientIds: true`'), '`privacy.pseudonymizePatientIds: true`').toBe(true);
  expect(flat.includes('`p_` + 22 base64url characters'), '`p_` + 22 base64url characters').toBe(true);
});

it('the restart alarm is named by the rawCode it carries, and its listing of acknowledged alarms is quoted as written', () => {
  const journal: AlarmStateChange[] = [];
  const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), (cs) => journal.push(...cs), pino({ level: 'silent' }), new Metrics(), () => 0);
  service.gatewayCondition('gw', 'alarms-open-at-restart', true, 'x', 'medium', { latch: true });
  const record = alarmChangeRecord(journal[0]!);
  expect(record.rawCode).toEqual({ system: 'agent', code: 'alarms-open-at-restart' });
  expect(record.source).toBe('technical');
  expect(record.bed).toBe('*');
  expect(flat.includes('`rawCode: { system: "agent", code: "alarms-open-at-restart" }`'), '`rawCode: { system: "agent", code: "alarms-open-at-restart" }`').toBe(true);
  const note = (state: string) => JSON.stringify({ text: 'HR high', bed: 'B1', priority: 'high', state, raisedAt: 0, key: 'limit:x', deviceId: 'd', acknowledgedAt: 0 });
  const list = restartList([note('active'), note('acknowledged')])!.text;
  const marking = 'acknowledged before the restart; condition still present then; open';
  expect(list).toContain(marking);
  expect(flat.includes(marking), marking).toBe(true);
  expect(/lists the alarms that were\s+unanswered/.test(doc), 'the restart alarm lists acknowledged alarms too').toBe(false);
});

// Review rv146 F2: the record key docs/cloud-consumers.md (*Delivery is at least once*) suggests must tell apart what
// one message carries under one code. Checked here against the key proposed for the docs (fields as named there), on
// the records the HL7 path writes, and found in the docs.
const PROPOSED_NUMERIC_KEY = '`deviceId`, `code` (`rawCode` when `code` is null), `setting`, `context.containment` where present, `deviceTime` and `receivedAt`';
it('the proposed numeric record key tells a measured and a set value of one code apart, and two channels of one code; a copy keeps its key', () => {
  expect(flat).toContain(PROPOSED_NUMERIC_KEY);
  const fields = [...PROPOSED_NUMERIC_KEY.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((f, i, all) => f !== 'rawCode' && all.indexOf(f) === i); // rawCode: in place of a null code
  expect(fields).toEqual(['deviceId', 'code', 'setting', 'context.containment', 'deviceTime', 'receivedAt']);
  const at = (r: Record<string, unknown>, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r);
  const keyOf = (r: Record<string, unknown>) => JSON.stringify(fields.map((f) => (f === 'code' && r.code === null ? r.rawCode : at(r, f)) ?? null));
  const text = [
    'MSH|^~\\&|VENT^0123456789ABCDEF^EUI-64|ICU|GW|ICU|20260101080000+0000||ORU^R01^ORU_R01|m1|P|2.6|||NE|AL||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO',
    'PID|||12345^^^H^MR||Doe^John',
    'PV1||I|ICU^^BED7',
    'OBR|1|||182777000^monitoring of patient^SNOMED-CT|||20260101080000+0000',
    'OBX|1||70677^MDC_DEV_SYS_RESP_VENT_MDS^MDC|1|||||||X|||||||0123456789ABCDEF^EUI-64',
    'OBX|2|NM|151562^MDC_RESP_RATE^MDC|1.1.1.1|18|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||20260101080000+0000|||MMEAS',
    'OBX|3|NM|151562^MDC_RESP_RATE^MDC|1.1.1.2|14|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||20260101080000+0000|||ASET',
    // Two channels of one code (two temperature probes).
    'OBX|4|NM|150364^MDC_TEMP_BODY^MDC|1.2.1.1|37.1|268192^MDC_DIM_DEGC^MDC|||||R|||20260101080000+0000',
    'OBX|5|NM|150364^MDC_TEMP_BODY^MDC|1.2.2.1|36.4|268192^MDC_DIM_DEGC^MDC|||||R|||20260101080000+0000',
  ].join('\r');
  const m = parseMessage(text);
  const events = mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: Date.UTC(2026, 0, 1, 8, 0, 1) }).events;
  // A driver without containment (Medibus: a ventilator's measured and set rate, one code): only `setting` differs.
  const vent: NumericReading = {
    kind: 'numeric', deviceId: 'evita-1', bed: 'ICU-07', source: 'medibus', mdc: MDC.RESP_RATE, value: 18, unit: UNITS.RESP_PER_MIN,
    deviceTime: null, receivedAt: Date.UTC(2026, 0, 1, 8, 0, 1), quality: { state: 'valid' },
  };
  events.push(vent, { ...vent, value: 14, setting: true });
  const records = events.map((e) => toRecord(e, false)).filter((r) => r !== null).map((r) => JSON.parse(r.body) as Record<string, unknown>);
  expect(records.map((r) => [r.code, r.value, r.setting ?? false])).toEqual([
    [151562, 18, false], [151562, 14, true], [150364, 37.1, false], [150364, 36.4, false], [151562, 18, false], [151562, 14, true],
  ]);
  expect(new Set(records.map(keyOf)).size).toBe(records.length);
  // The key the docs gave before (deviceId, code, receivedAt) merged each pair: the reason for the change.
  expect(new Set(records.map((r) => `${String(r.deviceId)}|${String(r.code)}|${String(r.receivedAt)}`)).size).toBe(3);
  // A record sent again is the same text: the same key.
  expect(records.map((r) => keyOf(JSON.parse(JSON.stringify(r)) as Record<string, unknown>))).toEqual(records.map(keyOf));
});

// Review rv183 L2: a device's alarm id is unique per device only (two HL7 monitors behind one alarm manager can send
// the same OBR-3), so the record key and the sort the docs give for `alarm` records must include `deviceId`.
const PROPOSED_ALARM_KEY = 'for an alarm, `deviceId`, `alarmId`, `phase` and `receivedAt`';
const PROPOSED_ALARM_SORT = 'alarm records (`alarm`) by `deviceId`, `alarmId` and `receivedAt`';
it('the proposed alarm record key and sort tell apart two devices\' alarms with one alarm id', () => {
  expect(flat).toContain(PROPOSED_ALARM_KEY);
  expect(flat).toContain(PROPOSED_ALARM_SORT);
  const fields = [...PROPOSED_ALARM_KEY.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  const pcd04 = (eui: string) =>
    `MSH|^~\\&|MON^${eui}^EUI-64|WARD|||20240101120000+0000||ORU^R40^ORU_R40|C1|P|2.6|||AL|NE||UNICODE UTF-8\r` +
    'PID|||P1\rOBR|1||ALM-1^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r' +
    'OBX|1|ST|199832^MDC_EVT_ECG_V_TACHY^MDC|1.1.1.1.1|VTach|||PH|||F\r';
  const records = ['0011223344556677', '8899AABBCCDDEEFF'].map((eui) => {
    const m = parseMessage(pcd04(eui));
    const alarm = mapMessage(m, readHeader(m), { source: 'central', receivedAt: Date.UTC(2026, 0, 1, 8) }).events.find((e) => e.kind === 'alarm')!;
    return JSON.parse(toRecord(alarm, false)!.body) as Record<string, unknown>;
  });
  expect(records.map((r) => [r.deviceId, r.alarmId, r.phase])).toEqual([
    ['0011223344556677', 'ALM-1^GW', 'start'],
    ['8899AABBCCDDEEFF', 'ALM-1^GW', 'start'],
  ]);
  const keyOf = (r: Record<string, unknown>) => JSON.stringify(fields.map((f) => r[f] ?? null));
  expect(new Set(records.map(keyOf)).size).toBe(2);
});

it('every field of every record type in the shipped schema is named in the consumer guide', () => {
  const schema = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'agent', 'forward', 'schema', 'message-v1.schema.json'), 'utf8')) as {
    definitions: Record<string, { properties?: Record<string, unknown> }>;
  };
  const records = ['numeric', 'waveform', 'alarm', 'alarmChange', 'deviceStatus', 'rawCode'];
  const unnamed = records.flatMap((r) => Object.keys(schema.definitions[r]!.properties ?? {}).filter((p) => !doc.includes(`\`${p}\``)).map((p) => `${r}.${p}`));
  expect(unnamed).toEqual([]);
});
