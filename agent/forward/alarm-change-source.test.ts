// Review rv125 M3: the cloud joins a device's own `alarm` records with the agent's alarm built from them on
// deviceId + sourceAlarmId (alarm-change) = deviceId + alarmId (alarm). Real engine, records as ingest and agent.ts
// write them, checked against the published schema.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { toRecord } from '../ingest.js';
import type { AlarmEvent } from '../model/reading.js';
import { MDC } from '../model/mdc.js';
import { numeric } from '../alarms/fixtures.js';
import { alarmChangeRecord, envelope } from './wire.js';
import { messageSchemaErrors } from '../../test/support/message-schema.js';

const T = Date.UTC(2026, 0, 1, 8);
const nurse = { user: 'nurse1', role: 'nurse', from: '10.0.0.9' };

function ev(phase: AlarmEvent['phase'], priority: AlarmEvent['priority'], at: number, over: Partial<AlarmEvent> = {}): AlarmEvent {
  return {
    kind: 'alarm', deviceId: 'mon-7', bed: 'ICU-07', source: 'icu-mllp', alarmId: 'PCD04-0042', condition: null,
    raw: { system: 'MDC', code: '196674', text: 'MDC_EVT_HI' }, text: 'SpO2 LOW', priority, category: 'physiological', phase,
    deviceTime: at, receivedAt: at, ...over,
  };
}

describe('alarm-change records of device alarms (review rv125 M3)', () => {
  it('carry sourceAlarmId, the alarmId of the device alarm records they were built from; valid against schema 1', () => {
    const engine = new AlarmEngine({ idPrefix: 'ward3-gw-mabc' });
    const device: Record<string, unknown>[] = [];
    const changes: Record<string, unknown>[] = [];
    const dev = (e: AlarmEvent) => {
      device.push(JSON.parse(toRecord(e, false)!.body) as Record<string, unknown>);
      for (const c of engine.deviceAlarm(e)) changes.push(JSON.parse(JSON.stringify(alarmChangeRecord(c))) as Record<string, unknown>);
    };
    dev(ev('start', 'medium', T));
    dev(ev('continue', 'high', T + 5000));
    const id = engine.list()[0]!.id;
    for (const c of engine.acknowledge(id, nurse, T + 9000).changes) changes.push(JSON.parse(JSON.stringify(alarmChangeRecord(c))) as Record<string, unknown>);
    dev(ev('end', 'high', T + 20000));
    // A second device alarm of the same device, same text, overlapping nothing but the device.
    dev(ev('start', 'medium', T + 21000, { alarmId: 'PCD04-0043' }));

    const joined = (r: Record<string, unknown>) => device.filter((d) => d.deviceId === r.deviceId && d.alarmId === r.sourceAlarmId).map((d) => d.phase);
    expect(changes.map((r) => [r.alarmId, r.change, r.sourceAlarmId])).toEqual([
      [id, 'raised', 'PCD04-0042'],
      [id, 'priority-changed', 'PCD04-0042'],
      [id, 'acknowledged', 'PCD04-0042'],
      [id, 'resolved', 'PCD04-0042'],
      [expect.not.stringMatching(`^${id}$`), 'raised', 'PCD04-0043'],
    ]);
    expect(joined(changes[0]!)).toEqual(['start', 'continue', 'end']);
    expect(joined(changes[4]!)).toEqual(['start']);
    const body = envelope('gw')('m-1', 'alarms', changes.map((r) => JSON.stringify(r)));
    expect(messageSchemaErrors(JSON.parse(body))).toEqual([]);
  });

  it('the agent’s own alarms (a limit alarm) carry none', () => {
    const engine = new AlarmEngine({});
    const changes = [];
    for (let t = 0; t <= 20; t++) changes.push(...engine.reading(numeric(MDC.ECG_HEART_RATE, 130, t)), ...engine.tick(t * 1000));
    const raised = changes.find((c) => c.change === 'raised')!;
    expect(raised.alarm.source).toBe('limit');
    expect('sourceAlarmId' in alarmChangeRecord(raised)).toBe(false);
  });
});
