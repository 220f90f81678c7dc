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

const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'cloud-consumers.md'), 'utf8');
const sql = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!).join('\n');

it('the routing queries use the application property values the agent sets', () => {
  const kinds = new Set([...sql.matchAll(/\bkind = '([^']+)'/g)].map((m) => m[1]));
  expect([...kinds].sort()).toEqual([messageProperties('alarms', 'gw').kind, messageProperties('telemetry', 'gw').kind].sort());
  // Schema 1, and schema 2 for compact bodies (hub.encoding: compact); test/e2e/forward-routes.test.ts routes real ones.
  const versions = [messageProperties('telemetry', 'gw').schemaVersion, messageProperties('telemetry', 'gw', '{"schemaVersion":2,"encoding":"compact"}').schemaVersion];
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
