// The display on a loopback host inside the IoT Edge module: the published port reaches nothing, so no screen shows
// and nobody can acknowledge. The agent still starts (its alarms and forwarding depend on it) but raises a medium
// gateway alarm, which the cloud stream carries, for as long as it runs so (review rv103 M1).
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { GATEWAY_BED } from './alarms/types.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';

const EDGE = { IOTEDGE_MODULEID: 'bedside-agent', IOTEDGE_DEVICEID: 'ward3-gw', IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock' };

let agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});

async function started(host: string, env: NodeJS.ProcessEnv): Promise<Agent> {
  // hub.mode off: the test needs the module's environment, not a connection to its IoT Edge hub.
  const config = testConfig(tempDir('display-module-'), { display: { enabled: true, host, port: 0 } });
  const agent = new Agent({ config, registry, log: captureLog().log, env, transport: null });
  agents.push(agent);
  await agent.start();
  return agent;
}

const loopbackAlarm = (agent: Agent) => agent.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:display-loopback-in-module');

describe('the display on loopback inside the IoT Edge module', () => {
  it('raises a medium gateway alarm saying the ward cannot reach the display, with the fix; the display still starts', async () => {
    const agent = await started('127.0.0.1', EDGE);
    expect(agent.display!.address().port).toBeGreaterThan(0);
    expect(loopbackAlarm(agent)).toMatchObject({ priority: 'medium' });
    expect(loopbackAlarm(agent)!.condition.text).toMatch(/^Display cannot be reached from the ward \(display\.host 127\.0\.0\.1\): inside the module 127\.0\.0\.1 is the container's own loopback.*Set display\.host: 0\.0\.0\.0 and restart the agent$/);
  });

  it('raises nothing outside IoT Edge, or on 0.0.0.0 inside it', async () => {
    expect(loopbackAlarm(await started('127.0.0.1', {}))).toBeUndefined();
    expect(loopbackAlarm(await started('0.0.0.0', EDGE))).toBeUndefined();
  });
});
