// Review rv164 F2: a register map's `mdc: { code, refid }` with a vendor refid (not MDC_) is accepted (a map that
// started before must still start); the cloud gets it as refid null, the term as rawCode's text, the code kept, so that
// the messages it rides in pass the published schema. The plan's warning says so.
import { describe, expect, it } from 'vitest';
import { normalise, toRecord } from '../../agent/ingest.js';
import { envelope } from '../../agent/forward/wire.js';
import { messageSchemaErrors } from '../../test/support/message-schema.js';
import type { ModbusOptions, PointOptions } from './options.js';
import { buildPlan, planWarnings } from './plan.js';
import { judge, toReading } from './readings.js';

function options(...points: Array<Partial<PointOptions>>): ModbusOptions {
  return {
    buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'pump', unitId: 2, points: points.map((p, i) => ({ name: `v${i}`, table: 'holding' as const, address: 10 * i, ...p })) }] }],
  };
}

describe('review rv164 F2: a Modbus vendor term { code, refid }', () => {
  const vendor = options({ name: 'flow', mdc: { code: 4261412865, refid: 'VENDOR_FLOW_RATE' }, unit: 'mL/h' }, { mdc: 'MDC_PULS_OXIM_SAT_O2', unit: 'PERCENT' });

  it('the warning says the cloud gets it as refid null with the term as rawCode text; an MDC_ vendor term is not told so', () => {
    const w = planWarnings(vendor);
    expect(w).toHaveLength(1);
    expect(w[0]!.field).toBe('options.buses[0].devices[0].points[0].mdc');
    expect(w[0]!.message).toMatch(/VENDOR_FLOW_RATE.*no alarm rule will judge it.*refid null.*"VENDOR_FLOW_RATE" as rawCode's text/);
    const mdcTerm = planWarnings(options({ mdc: { code: 150999, refid: 'MDC_VENDOR_THING' } }));
    expect(mdcTerm[0]!.message).not.toMatch(/refid null/);
  });

  it('a reading of that point, through normalise and toRecord, goes out with its code, refid null, the term as rawCode text: the body passes the schema', () => {
    const plan = buildPlan(vendor);
    const [flow, spo2] = plan.buses[0]!.devices[0]!.groups.flatMap((g) => g.points.map((p) => p.point));
    const origin = { deviceId: 'pump-bed8', bed: 'ICU-08', source: 'modbus-1' };
    const records = [toReading(flow!, judge(flow!, 25), origin, 1_790_000_000_000), toReading(spo2!, judge(spo2!, 97), origin, 1_790_000_000_000)].map(
      (r) => toRecord(normalise(r), true)!.body,
    );
    const body = JSON.parse(envelope('gw-1')('m1', 'telemetry', records)) as { records: Record<string, unknown>[] };
    expect(body.records[0]).toMatchObject({ code: 4261412865, refid: null, rawCode: { system: 'modbus', code: '2/holding/0', text: 'VENDOR_FLOW_RATE' }, value: 25 });
    expect(body.records[1]).toMatchObject({ refid: 'MDC_PULS_OXIM_SAT_O2', rawCode: { system: 'modbus', code: '2/holding/10', text: 'v1' } });
    expect(messageSchemaErrors(body)).toEqual([]);
  });
});
