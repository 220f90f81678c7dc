// What /healthz says about things the ward's display still shows or that silently stop data leaving the gateway
// (review rv119): a latched technical alarm nobody has acknowledged (data lost, alarms open at a restart, a store
// replaced) is listed and counts as degraded, and hub.mode auto that found no hub is told from an intended off.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { numeric } from '../../agent/alarms/fixtures.js';
import { MDC } from '../../agent/model/mdc.js';
import { registry } from '../../drivers/registry.js';
import { TOKENS, testUsers } from '../browser/display-fixtures.js';
import { captureLog, type CapturedLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { freePort } from '../support/mllp-client.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

const NURSE = { user: 'nurse', role: 'clinician' as const, from: 'test' };

async function start(dir: string, overrides: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, log: CapturedLog = captureLog()): Promise<Agent> {
  const config = testConfig(dir, { store: { path: join(dir, 'agent.db') }, display: { enabled: true, port: 0, viewing: 'authenticated', ...(await testUsers()) }, ...overrides });
  agent = new Agent({ config, registry, log: log.log, env });
  await agent.start();
  return agent;
}

async function healthz(a: Agent, token?: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${a.display!.address().url}/healthz`, { ...(token && { headers: { Authorization: `Bearer ${token}` } }) });
  expect(res.status).toBe(200); // the container's health check only looks for the 200
  return (await res.json()) as Record<string, unknown>;
}

describe('/healthz and a latched technical alarm nobody has acknowledged', () => {
  it('lists it with latched: true and says degraded, in the run after a restart too; ok once acknowledged', async () => {
    const dir = tempDir();
    const limits = { alarms: { limits: { beds: { 'bed-1': { hr: { delayS: 0 } } } }, news2: { beds: { 'bed-1': { enabled: false } } } } };
    const first = await start(dir, limits);
    await first.ingest.accept('test', [{ ...numeric(MDC.ECG_HEART_RATE, 150, 0, { bed: 'bed-1' }), receivedAt: Date.now() }]);
    await first.stop();
    agent = null;

    const a = await start(dir, limits);
    const restart = a.alarms.engine.list().find((x) => x.condition.raw?.code === 'alarms-open-at-restart');
    expect(restart).toMatchObject({ state: 'latched', conditionPresent: false });
    const full = await healthz(a, TOKENS.viewer);
    expect(full.status).toBe('degraded');
    expect(full.technicalAlarms).toEqual([expect.objectContaining({ latched: true, priority: restart!.priority, text: expect.stringMatching(/open when the agent stopped/) })]);
    // The anonymous form: counts only.
    expect(await healthz(a)).toMatchObject({ status: 'degraded', technicalAlarmCount: 1, latchedTechnicalAlarmCount: 1 });

    expect(a.alarms.acknowledge(restart!.id, NURSE).ok).toBe(true);
    expect(await healthz(a, TOKENS.viewer)).toMatchObject({ status: 'ok', technicalAlarms: [] });
    expect(await healthz(a)).toMatchObject({ status: 'ok', technicalAlarmCount: 0, latchedTechnicalAlarmCount: 0 });
  });

  it('a condition still present is listed without latched', async () => {
    const a = await start(tempDir(), {});
    a.alarms.gatewayCondition(a.gatewayId, 'test-present', true, 'Something is wrong now', 'medium');
    expect((await healthz(a, TOKENS.viewer)).technicalAlarms).toEqual([{ deviceId: expect.any(String), bed: expect.any(String), priority: 'medium', text: 'Something is wrong now' }]);
    expect(await healthz(a)).toMatchObject({ status: 'degraded', technicalAlarmCount: 1, latchedTechnicalAlarmCount: 0 });
  });
});

describe('/healthz and forwarding off', () => {
  const hl7 = async () => ({ drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port: await freePort() } }] });
  const AUTO_WHY = /^hub\.mode is auto and no hub was found: .*IOTEDGE_WORKLOADURI.*IOTEDGE_MODULEID.*EdgeHubConnectionString.*IOTHUB_DEVICE_CONNECTION_STRING/;

  it('hub.mode auto that found no hub, with a driver of real devices: degraded, forwarder off with why; the start warns naming the variables', async () => {
    const log = captureLog();
    const a = await start(tempDir(), { hub: { mode: 'auto' }, ...(await hl7()) }, {}, log);
    expect(a.health().drivers['icu-mllp']?.state).toBe('running');
    let why = '';
    for (const token of [TOKENS.viewer, undefined]) {
      const h = await healthz(a, token);
      expect(h.status).toBe('degraded');
      expect(h.forwarder).toEqual({ state: 'off', why: expect.stringMatching(AUTO_WHY) });
      why = (h.forwarder as { why: string }).why;
    }
    const warning = log.find(/^forwarding is off: hub\.mode is auto and no hub was found/);
    expect(warning).toMatchObject({ level: 40, lookedFor: ['IOTEDGE_WORKLOADURI', 'IOTEDGE_MODULEID', 'EdgeHubConnectionString', 'IOTHUB_DEVICE_CONNECTION_STRING'] });
    expect(warning!.msg).toBe(`forwarding is off: ${why}. Data is kept in the local store only`);
  });

  it('says which variable was there but not enough (one of IoT Edge\'s two, an empty connection string)', async () => {
    const log = captureLog();
    await start(tempDir(), { hub: { mode: 'auto' } }, { IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock', IOTHUB_DEVICE_CONNECTION_STRING: '' }, log);
    const msg = String(log.find(/^forwarding is off: hub\.mode is auto/)!.msg);
    expect(msg).toMatch(/IOTEDGE_WORKLOADURI is set without IOTEDGE_MODULEID/);
    expect(msg).toMatch(/IOTHUB_DEVICE_CONNECTION_STRING is set but empty/);
  });

  it('hub.mode off on purpose, with the same driver: ok, forwarder off with why', async () => {
    const log = captureLog();
    const a = await start(tempDir(), { hub: { mode: 'off' }, ...(await hl7()) }, {}, log);
    const h = await healthz(a, TOKENS.viewer);
    expect(h).toMatchObject({ status: 'ok', forwarder: { state: 'off', why: 'hub.mode is off' } });
    expect(log.find(/^forwarding is off: hub\.mode is auto/)).toBeUndefined();
    expect(log.find('forwarding is off: data is kept in the local store only')).toMatchObject({ level: 40, reason: 'hub.mode is off' });
  });

  it('hub.mode auto that found no hub with no driver of real devices (none, or only simulated ones): ok, the why still says auto', async () => {
    // A real device's driver switched off counts as none.
    for (const drivers of [[{ name: 'icu-mllp', type: 'hl7-mllp', enabled: false, options: { port: await freePort() } }], [{ name: 'sim', type: 'simulator', options: { beds: 1 } }]]) {
      const a = await start(tempDir(), { hub: { mode: 'auto' }, drivers });
      const h = await healthz(a, TOKENS.viewer);
      expect(h, drivers[0]!.type).toMatchObject({ status: 'ok', forwarder: { state: 'off', why: expect.stringMatching(AUTO_WHY) } });
      await a.stop();
      agent = null;
    }
  });
});
