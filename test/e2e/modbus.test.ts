// A Modbus device through the whole agent: the modbus driver polls the project's Modbus TCP simulator on
// loopback, and its readings travel through the store to the IoT Hub stand-in.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { RegisterBank, loadKnownValues, startTcpSimulator, type RunningSimulator } from '../../drivers/modbus/simulator.js';
import { startHubStandin, type HubStandin } from '../hub-standin/index.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { messageSchemaErrors } from '../support/message-schema.js';

const KEY = Buffer.from('modbus-e2e-key-0123456789abcdef!').toString('base64');
let hub: HubStandin | null = null;
let sim: (RunningSimulator & { port: number }) | null = null;
let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  await sim?.close();
  await hub?.stop();
  agent = null;
  sim = null;
  hub = null;
});

describe('modbus device → agent → hub', () => {
  it('forwards a scaled register as a body temperature reading with its MDC code and UCUM unit', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const bank = new RegisterBank();
    loadKnownValues(bank, 1);
    bank.setRegisters(1, 'holding', 110, [372]); // 37.2 °C in tenths
    sim = await startTcpSimulator(bank);
    const modbus = {
      name: 'room-modbus',
      type: 'modbus',
      options: {
        buses: [
          {
            id: 'sim',
            transport: 'tcp',
            host: '127.0.0.1',
            port: sim.port,
            timeoutMs: 500,
            devices: [
              {
                id: 'temp-box-1',
                unitId: 1,
                bed: 'ICU-07',
                pollIntervalMs: 100,
                points: [{ name: 'temperature', table: 'holding', address: 110, type: 'int16', scale: 0.1, mdc: 'MDC_TEMP_BODY', unit: 'DEGC' }],
              },
            ],
          },
        ],
      },
    };
    const { log } = captureLog();
    agent = new Agent({ config: testConfig(tempDir(), { drivers: [modbus] }, hub.connectionString('gw-dev')), registry, log });
    await agent.start();
    const msg = await hub.waitForMessage((m) => m.body.toString('utf8').includes('"MDC_TEMP_BODY"'), 15_000);
    const body = JSON.parse(msg.body.toString('utf8')) as { records: Record<string, unknown>[] };
    expect(messageSchemaErrors(body)).toEqual([]);
    const temp = body.records.find((r) => r.refid === 'MDC_TEMP_BODY')!;
    expect(temp).toMatchObject({
      type: 'numeric',
      deviceId: 'temp-box-1',
      bed: 'ICU-07',
      source: 'room-modbus',
      code: 150364,
      unit: 'Cel',
      quality: 'valid',
    });
    expect(temp.value).toBeCloseTo(37.2, 5);
    expect(agent.health().drivers['room-modbus']).toMatchObject({ state: 'running' });
  });
});
