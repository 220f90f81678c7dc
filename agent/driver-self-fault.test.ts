// A fault of a driver itself (DriverHealth.selfFault: an HL7 sender whose every message is refused, review rv126 M2)
// raises the gateway technical alarm `driver:<name>` even while the driver has devices, and the alarm's text is the
// fault in force: a fault that changes (no sender → refused sender) ends the alarm and raises one naming the new one.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { validateConfig } from './config/load.js';
import { registry } from '../drivers/registry.js';
import type { Driver, DriverFactory, DriverHealth } from '../drivers/types.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';

const REFUSED_A = "every message from 10.1.2.3 is refused (first: unsupported character set 'X' in MSH-18, HL7 error 103); its readings reach neither the display nor the alarms: see the listener's health and warn log";
const REFUSED_AB = "every message from 10.1.2.3 and 10.1.2.4 is refused (10.1.2.3 first: unsupported character set 'X' in MSH-18, HL7 error 103); their readings reach neither the display nor the alarms: see the listener's health and warn log";
const NO_SENDER = "no sender connected to 0.0.0.0:2575 for 300 s: check the sender's destination port, the deployment's PortBindings and firewalls";
const device = { 'mon-1': { state: 'online', lastDataAt: 1 } };

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

/** An agent with one driver `central` whose health the test sets; `check()` runs the agent's 10 s driver check now. */
async function withDriver(): Promise<{ set(h: DriverHealth): void; check(): void; alarms(): Array<{ id: string; text: string; priority: string }> }> {
  let health: DriverHealth = { state: 'running', devices: {} };
  const fake: DriverFactory = {
    type: 'fake-listener',
    description: 'a driver whose health the test sets',
    configSchema: { type: 'object' },
    create: (): Driver => ({ start: async () => {}, stop: async () => {}, health: () => health }),
  };
  const reg = new Map(registry).set('fake-listener', fake);
  const dir = tempDir();
  const config = validateConfig(
    { gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, hub: { mode: 'off' }, drivers: [{ name: 'central', type: 'fake-listener' }] },
    reg,
    'test',
  );
  agent = new Agent({ config, registry: reg, log: captureLog().log });
  await agent.start();
  const a = agent;
  return {
    set: (h) => (health = h),
    // Private: the agent runs it every 10 s; called here so that the test does not wait for the timer.
    check: () => (a as unknown as { checkDriversThemselves(): void }).checkDriversThemselves(),
    alarms: () =>
      a.alarms.engine
        .list()
        .filter((x) => x.key === 'gateway:driver:central' && x.conditionPresent)
        .map((x) => ({ id: x.id, text: x.condition.text ?? '', priority: x.priority })),
  };
}

describe('a driver fault of its own (selfFault)', () => {
  it('raises the driver alarm while the driver has devices, keeps it while the same, names a new fault anew, and ends it when it goes', async () => {
    const d = await withDriver();
    // Degraded with devices and no fault of its own: their own alarms tell, none for the driver (as before).
    d.set({ state: 'degraded', detail: 'a device is silent', devices: device });
    d.check();
    expect(d.alarms()).toEqual([]);

    d.set({ state: 'degraded', detail: 'every message from 10.1.2.3 is refused (3 in a row, last 1 s ago: …)', selfFault: REFUSED_A, devices: device });
    d.check();
    const [raised] = d.alarms();
    expect(d.alarms()).toEqual([{ id: expect.any(String), text: `Driver central: ${REFUSED_A}`, priority: 'medium' }]);
    // The same fault, its count grown: the same alarm, not raised again.
    d.set({ state: 'degraded', detail: 'every message from 10.1.2.3 is refused (9 in a row, last 1 s ago: …)', selfFault: REFUSED_A, devices: device });
    d.check();
    expect(d.alarms()).toEqual([raised]);
    // Another host refused too: the alarm (whose text stays as raised) is replaced by one naming both.
    d.set({ state: 'degraded', selfFault: REFUSED_AB, devices: device });
    d.check();
    const now = d.alarms();
    expect(now).toEqual([{ id: expect.any(String), text: `Driver central: ${REFUSED_AB}`, priority: 'medium' }]);
    expect(now[0]!.id).not.toBe(raised!.id);

    d.set({ state: 'running', devices: device });
    d.check();
    expect(d.alarms()).toEqual([]);
  });

  it('no sender, then its messages refused, then no sender again: the alarm text is always the fault in force', async () => {
    const d = await withDriver();
    d.set({ state: 'degraded', detail: NO_SENDER, devices: {} });
    d.check();
    expect(d.alarms().map((a) => a.text)).toEqual([`Driver central: ${NO_SENDER}`]);

    // Both hold (a sender that connects per message, refused, then quiet): the alarm names the refusal.
    d.set({ state: 'degraded', detail: `every message from 10.1.2.3 is refused (…); and ${NO_SENDER}`, selfFault: REFUSED_A, devices: {} });
    d.check();
    expect(d.alarms().map((a) => a.text)).toEqual([`Driver central: ${REFUSED_A}`]);

    // The refusals are old (10 min), the listener still has no sender: the alarm names that again.
    d.set({ state: 'degraded', detail: NO_SENDER, devices: {} });
    d.check();
    expect(d.alarms().map((a) => a.text)).toEqual([`Driver central: ${NO_SENDER}`]);

    d.set({ state: 'running', devices: {} });
    d.check();
    expect(d.alarms()).toEqual([]);
  });

  it('a driver stopped with its fault alarmed: the alarm ends', async () => {
    const d = await withDriver();
    d.set({ state: 'degraded', selfFault: REFUSED_A, devices: device });
    d.check();
    expect(d.alarms()).toHaveLength(1);
    await agent!.stopDriver('central');
    d.check();
    expect(d.alarms()).toEqual([]);
  });
});
