// Alarms of simulated drivers get no open-alarm note (test/e2e/demo-store.test.ts); one raised while a bed or device
// was simulated and kept at the same level once it turned real must get its note then, or a restart would not list
// it (review rv124 M1, M2), and a bed once real is never taken as simulated again (rv124 L).
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { numeric } from '../../agent/alarms/fixtures.js';
import { MDC } from '../../agent/model/mdc.js';
import type { MdcCode } from '../../agent/model/reading.js';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../support/agent-config.js';
import { tempDir } from '../support/agent-process.js';
import { captureLog } from '../support/log.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

const SIM = { name: 'ward', type: 'simulator', options: { beds: 1, waveforms: false, episodesPerHour: 0 } };
const MLLP = { name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 0 } };

/** A reading as a driver emits it: the event names its driver (source). */
const reading = (source: string, code: MdcCode, value: number, deviceId: string, bed: string) => ({
  ...numeric(code, value, 0, { deviceId, bed }),
  source,
  receivedAt: Date.now(),
});

/** Stops the agent and reads the open-alarm notes it left in the store (what the next run lists). */
async function notesAfterStop(path: string): Promise<{ text: string; bed: string }[]> {
  await agent!.stop();
  agent = null;
  const db = new Database(path, { readonly: true });
  const notes = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key LIKE 'open-alarm:%'").all().map((r) => JSON.parse(r.value) as { text: string; bed: string });
  db.close();
  return notes;
}

/** The simulator entry becomes a real driver of the same name, as a twin change restarts it. */
async function turnReal(a: Agent): Promise<void> {
  await a.stopDriver('ward');
  await a.startDriver({ name: 'ward', type: 'hl7-mllp', enabled: true, options: { host: '127.0.0.1', port: 0 } });
}

describe('open-alarm notes when a simulated bed or device turns real', () => {
  it('a NEWS2 alarm raised while only a simulator fed the bed, kept at its level by a real device after a live switch, is noted (review rv124 M1)', async () => {
    const dir = tempDir();
    const config = testConfig(dir, { drivers: [SIM] });
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    // SpO2 85 scores 3 on its own: NEWS2 alarms the bed (no limits configured: NEWS2 is the only alarm).
    await agent.ingest.accept('ward', [reading('ward', MDC.PULS_OXIM_SAT_O2, 85, 'sim-mon', 'bed-x')]);
    const before = agent.alarms.engine.list({ bed: 'bed-x' }).filter((a) => a.deviceId === 'agent:news2');
    expect(before.length).toBe(1);
    await turnReal(agent);
    await agent.ingest.accept('ward', [reading('ward', MDC.PULS_OXIM_SAT_O2, 85, 'real-mon', 'bed-x')]);
    // The same alarm, still open at the same level: no change of it since the bed turned real.
    const after = agent.alarms.engine.list({ bed: 'bed-x' }).filter((a) => a.deviceId === 'agent:news2');
    expect(after.map((a) => [a.id, a.priority])).toEqual(before.map((a) => [a.id, a.priority]));
    const notes = await notesAfterStop(join(dir, 'agent.db'));
    expect(notes.filter((n) => n.text.startsWith('NEWS2')).map((n) => n.bed)).toEqual(['bed-x']);
  });

  it('a real device that reuses a simulated device\'s id: its alarm kept open from the simulator, and its new ones, are noted (review rv124 M2)', async () => {
    const dir = tempDir();
    const config = testConfig(dir, { drivers: [SIM], alarms: { limits: { beds: { 'bed-y': { spo2: { delayS: 0 }, hr: { delayS: 0 } } } } } });
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    await agent.ingest.accept('ward', [reading('ward', MDC.PULS_OXIM_SAT_O2, 85, 'mon-1', 'bed-y')]);
    const spo2 = agent.alarms.engine.list({ bed: 'bed-y' }).filter((a) => a.deviceId === 'mon-1');
    expect(spo2.map((a) => a.condition.text)).toEqual(['SpO2 LOW 85 < 90 %']);
    await turnReal(agent);
    await agent.ingest.accept('ward', [reading('ward', MDC.PULS_OXIM_SAT_O2, 85, 'mon-1', 'bed-y')]);
    await agent.ingest.accept('ward', [reading('ward', MDC.ECG_HEART_RATE, 150, 'mon-1', 'bed-y')]);
    const open = agent.alarms.engine.list({ bed: 'bed-y' }).filter((a) => a.deviceId === 'mon-1');
    expect(open.some((a) => a.id === spo2[0]!.id)).toBe(true); // the same alarm, kept open
    expect(open.length).toBe(2);
    const texts = (await notesAfterStop(join(dir, 'agent.db'))).map((n) => n.text);
    expect(texts).toContain('SpO2 LOW 85 < 90 %');
    expect(texts.some((t) => t.startsWith('HR HIGH'))).toBe(true); // raised after the switch
  });

  it('with the real beds\' list full, a bed a real and a simulated driver both feed stays real: its NEWS2 alarm is noted (review rv124 L)', async () => {
    const dir = tempDir();
    const config = testConfig(dir, { drivers: [SIM, MLLP] });
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    // 5000 real beds (MAX_SEEN_BEDS) fill the list; bed-z, real too, comes after them.
    for (let i = 0; i < 5000; i += 500) {
      await agent.ingest.accept('icu-mllp', Array.from({ length: 500 }, (_, k) => reading('icu-mllp', MDC.PULS_RATE, 70, `real-${i + k}`, `bed-${i + k}`)));
    }
    await agent.ingest.accept('icu-mllp', [reading('icu-mllp', MDC.PULS_RATE, 70, 'real-z', 'bed-z')]);
    // The simulator's reading raises NEWS2 on the real bed: about a real patient (the bed is real).
    await agent.ingest.accept('ward', [reading('ward', MDC.PULS_OXIM_SAT_O2, 85, 'sim-mon', 'bed-z')]);
    expect(agent.alarms.engine.list({ bed: 'bed-z' }).some((a) => a.deviceId === 'agent:news2')).toBe(true);
    const notes = await notesAfterStop(join(dir, 'agent.db'));
    expect(notes.filter((n) => n.text.startsWith('NEWS2')).map((n) => n.bed)).toEqual(['bed-z']);
  }, 60_000);
});
