// A driver that cannot start at boot (an HL7 listener whose port another program holds, or whose address is not on
// this machine) must not take the other drivers and the bedside display down with it: the agent runs on, says which
// field and why, raises a technical alarm, and tries again until it starts. And a listener that started but that no
// sender ever connects to (a wrong port, a missing PortBindings entry) must not look healthy.
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { captureLog } from '../support/log.js';
import { MllpClient } from '../support/mllp-client.js';

let agent: Agent | null = null;
let holder: Server | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
  holder?.close();
  holder = null;
});

const until = async (ok: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('a driver that cannot start at boot', () => {
  it('port taken: the rest runs, the driver is reported failed with the field, alarmed, and started once the port is free', async () => {
    holder = createServer();
    await new Promise<void>((r) => holder!.listen(0, '127.0.0.1', r));
    const port = (holder.address() as AddressInfo).port;
    const captured = captureLog('info');
    const config = testConfig(tempDir(), {
      drivers: [
        { name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: false, numericPeriodMs: 200 } },
        { name: 'central', type: 'hl7-mllp', options: { host: '127.0.0.1', port } },
      ],
    });
    agent = new Agent({ config, registry, log: captured.log, transport: null });
    await agent.start();
    const h = agent.health();
    expect(h.drivers['ward-sim']!.state).toBe('running');
    expect(h.drivers.central).toMatchObject({ state: 'failed', detail: expect.stringContaining(`drivers[1] (central).options.port: cannot listen on 127.0.0.1:${port} (EADDRINUSE)`) });
    expect(h.status).toBe('degraded');
    const alarm = () => agent!.alarms.engine.list().find((a) => a.key === 'gateway:driver-start:central');
    expect(alarm()).toMatchObject({ priority: 'medium', category: 'technical', conditionPresent: true });
    expect(captured.lines.find((l) => l.msg === 'driver cannot start; the agent runs on without it and tries again')).toMatchObject({ driver: 'central', attempts: 1 });
    expect(agent.metrics.get('driver_start_failures_total', { driver: 'central' })).toBe(1);

    await new Promise<void>((r) => holder!.close(() => r()));
    holder = null;
    await until(() => agent!.health().drivers.central?.state === 'running', 15_000, 'the listener started on a retry');
    expect(alarm()?.conditionPresent ?? false).toBe(false);
  }, 30_000);

  it('address not on this machine: the message names options.host and what to do inside IoT Edge', async () => {
    const config = testConfig(tempDir(), { drivers: [{ name: 'central', type: 'hl7-mllp', options: { host: '192.0.2.1', port: 2575 } }] });
    agent = new Agent({ config, registry, log: captureLog('info').log, transport: null });
    await agent.start();
    expect(agent.health().drivers.central?.detail).toMatch(/drivers\[0\] \(central\)\.options\.host: cannot listen on 192\.0\.2\.1:2575 \(EADDRNOTAVAIL\): .*PortBindings/);
  });
});

describe('an HL7 listener no sender connects to', () => {
  it('is degraded with a gateway alarm naming where it listens; a sender connecting ends it', async () => {
    const captured = captureLog('info');
    const config = testConfig(tempDir(), { drivers: [{ name: 'central', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 0, noSenderAfterS: 1 } }] });
    agent = new Agent({ config, registry, log: captured.log, transport: null });
    await agent.start();
    const alarm = () => agent!.alarms.engine.list().find((a) => a.key === 'gateway:driver:central');
    await until(() => alarm()?.conditionPresent === true, 20_000, 'the no-sender alarm');
    const port = (agent.health().drivers.central!.detail ?? '').match(/127\.0\.0\.1:(\d+)/)?.[1];
    expect(agent.health().drivers.central).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/^no sender connected to 127\.0\.0\.1:\d+ for \d+ s: check the sender's destination port/) });
    expect(alarm()!.condition.text).toMatch(/^Driver central: no sender connected to 127\.0\.0\.1:/);
    expect(captured.lines.filter((l) => String(l.msg).startsWith('no HL7 sender has connected to this listener'))).toHaveLength(1);
    expect(agent.metrics.get('driver_no_sender_total', { driver: 'central' })).toBe(1);

    const sender = await MllpClient.connect(Number(port));
    try {
      await until(() => agent!.health().drivers.central?.state === 'running', 10_000, 'running with a sender');
      await until(() => alarm()?.conditionPresent !== true, 20_000, 'the alarm ended');
    } finally {
      sender.close();
    }
  }, 60_000);
});
