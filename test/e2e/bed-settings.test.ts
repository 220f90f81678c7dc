// A per-bed alarm setting keyed to a bed name no device reports ("ICU-1" where the monitor says "ICU-01") does
// nothing. The agent says so: a warning naming the field and the bed that looks like it, and a list in health.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { captureLog } from '../support/log.js';
import { MDC, UNITS } from '../../agent/model/mdc.js';
import { envelope } from '../../agent/forward/wire.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

describe('per-bed alarm settings whose bed never reports', () => {
  it('are warned about once, with the bed that looks like it, and listed in health; a matching key is not', async () => {
    const captured = captureLog('info');
    const config = testConfig(tempDir(), {
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: false, numericPeriodMs: 200 } }],
      alarms: { limits: { beds: { 'ICU-1': { spo2: { low: 92 } }, 'ICU-01': { hr: { high: 130 } } } } },
    });
    // The gateway waits 10 minutes for the beds to report; this test does not.
    agent = new Agent({ config, registry, log: captured.log, transport: null, bedSettingsGraceMs: 0 });
    await agent.start();
    const end = Date.now() + 20_000;
    while ((agent.health().unmatchedBedSettings ?? []).length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    expect(agent.health().unmatchedBedSettings).toEqual([{ field: 'alarms.limits.beds.ICU-1', bed: 'ICU-1', similar: 'ICU-01' }]);
    const warned = captured.lines.filter((l) => String(l.msg).startsWith('no bed named "ICU-1" has reported since start'));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.msg).toBe('no bed named "ICU-1" has reported since start: the setting alarms.limits.beds.ICU-1 is not in use (did you mean "ICU-01"?)');
  }, 30_000);
});

describe('a device given its bed in alarms.devices (its events carry none)', () => {
  it('is shown, alarmed, stored and forwarded on that bed, not on the "unassigned" tile', async () => {
    const config = testConfig(tempDir(), {
      display: { enabled: true, port: 0 },
      alarms: { devices: { 'mon-9': { bed: 'bed-7' } }, limits: { beds: { 'bed-7': { hr: { high: 100, delayS: 0 } } } } },
    });
    agent = new Agent({ config, registry, log: captureLog('info').log, transport: null });
    await agent.start();
    await agent.ingest.accept('t', [{ kind: 'numeric', deviceId: 'mon-9', source: 't', mdc: MDC.ECG_HEART_RATE, value: 110, unit: UNITS.BEAT_PER_MIN, deviceTime: null, receivedAt: Date.now(), quality: { state: 'valid' } }]);
    expect(agent.display!.ward.vitals('bed-7', Date.now()).map((v) => v.value)).toEqual([110]);
    expect(agent.display!.ward.vitals('unassigned', Date.now())).toEqual([]);
    expect(agent.alarms.engine.list().map((a) => [a.bed, a.source])).toEqual([['bed-7', 'limit']]);
    const stored = agent.outbox.pack('telemetry', 65536, envelope('gw'));
    expect(JSON.parse(stored!.body.toString()).records).toMatchObject([{ deviceId: 'mon-9', bed: 'bed-7' }]);
  });
});
