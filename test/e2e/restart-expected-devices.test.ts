// After a restart (an update, a crash), the devices heard from before are expected again: an HL7 feed that does not
// come back is reported 'No data' like one that goes silent. Before, silence was tracked only for devices seen since
// the start, and HL7 device ids come from the data: the ward emptied without a word and /healthz said ok.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { MllpClient, freePort } from '../support/mllp-client.js';

let agent: Agent | null = null;
let client: MllpClient | null = null;
afterEach(async () => {
  client?.close();
  client = null;
  await agent?.stop();
  agent = null;
});

const noData = (a: Agent) => a.alarms.engine.list().filter((x) => /^No data from /.test(x.condition.text)).map((x) => `${x.bed}: ${x.condition.text}`);

describe('devices expected after a restart', () => {
  it('an HL7 monitor heard from before a restart that does not come back raises No data; a removed driver\'s devices do not', async () => {
    const port = await freePort();
    const dir = tempDir();
    const drivers = [
      { name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } },
      { name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: false } },
    ];
    agent = new Agent({ config: testConfig(dir, { drivers }), registry, log: captureLog().log });
    await agent.start();
    client = await MllpClient.connect(port);
    const [bed] = initialBeds(1, rng(3));
    expect(await client.send(pcd01Message(bed!, 'MSG-1', Date.now(), { waveform: false }))).toMatchObject({ code: 'CA' });
    client.close();
    client = null;
    await agent.stop();

    // Restarted on the same store, without the simulator (removed from the config); the HL7 sender does not come back.
    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir, { drivers: [drivers[0]] }), registry, log: cap.log });
    await agent.start();
    const expected = cap.find('expecting the devices heard from before the restart');
    expect(expected).toBeDefined();
    const devices = expected!.devices as Array<{ deviceId: string; bed: string; driver: string }>;
    expect(devices).toHaveLength(1);
    expect(devices[0]).toMatchObject({ bed: 'ICU/101/1', driver: 'icu-mllp' });
    // 31 s on, in the engine's own time (the technical check is pure): the silent monitor is reported.
    agent.alarms.engine.tick(Date.now() + 31_000);
    expect(noData(agent)).toEqual([`ICU/101/1: No data from ${devices[0]!.deviceId} for 30 s or more`]);
  });

  it('a driver that declares its devices expects only those it still declares (a simulator with fewer beds)', async () => {
    const dir = tempDir();
    const sim = (beds: number) => [{ name: 'ward-sim', type: 'simulator', options: { beds, waveforms: false, numericPeriodMs: 200 } }];
    agent = new Agent({ config: testConfig(dir, { drivers: sim(3) }), registry, log: captureLog().log });
    const seen = new Set<string>();
    agent.onCommitted((events) => events.forEach((e) => seen.add(e.deviceId)));
    await agent.start();
    const deadline = Date.now() + 10_000;
    while (seen.size < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(seen.size).toBe(3);
    await agent.stop();

    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir, { drivers: sim(2) }), registry, log: cap.log });
    const devices = (cap.find('expecting the devices heard from before the restart')?.devices ?? []) as Array<{ deviceId: string }>;
    expect(devices.map((d) => d.deviceId).sort()).toEqual(['sim-monitor-01', 'sim-monitor-02']);
  });
});
