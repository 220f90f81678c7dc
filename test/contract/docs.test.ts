// docs/cloud-consumers.md tells cloud teams what to query; keep its examples in step with what the agent sends
// and with the FHIR templates.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { messageProperties } from '../../agent/forward/wire.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
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
