// The demo's simulated patients stay out of a ward's store (review rv119 H1): the embedded demo has a store of its
// own and --print-default gives a ward's copy the ward path; alarms of simulated drivers, and the agent's own NEWS2
// alarms of beds only they feed, get no open-alarm note (a restart would list made-up patients as "check the bedside").
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { numeric } from '../../agent/alarms/fixtures.js';
import { loadConfigFile, validateConfig } from '../../agent/config/load.js';
import { MDC } from '../../agent/model/mdc.js';
import { DEFAULT_CONFIG_PATH, PACKAGE_ROOT } from '../../agent/paths.js';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../support/agent-config.js';
import { tempDir } from '../support/agent-process.js';
import { captureLog } from '../support/log.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

const SIM = { name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: false, episodesPerHour: 0 } };
const MLLP = { name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 0 } };

describe('the demo\'s simulated patients stay out of a ward\'s store', () => {
  it('the embedded default (the demo) has its own store; --print-default prints the ward path, said in a comment', () => {
    const demoPath = loadConfigFile(DEFAULT_CONFIG_PATH, registry).store.path;
    const tsx = pathToFileURL(join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
    const printed = spawnSync(process.execPath, ['--import', tsx, join(PACKAGE_ROOT, 'agent', 'main.ts'), '--print-default'], { encoding: 'utf8' });
    expect(printed.status).toBe(0);
    const copy = validateConfig(parse(printed.stdout), registry, 'printed');
    expect(copy.store.path).toBe('./data/agent.db');
    expect(demoPath).not.toBe(copy.store.path);
    expect(printed.stdout).toMatch(new RegExp(`#.*not the demo's ${demoPath.replace(/[.]/g, '\\.')}`));
    // Otherwise the same file: the rest of the demo's settings, comments and all.
    expect({ ...copy, store: { ...copy.store, path: demoPath } }).toEqual(loadConfigFile(DEFAULT_CONFIG_PATH, registry));
  });

  it('alarms of a simulated driver, and the agent\'s own NEWS2 alarms of its beds, get no open-alarm note (a restart would list made-up patients); a real driver\'s do (review rv122 M1)', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const config = testConfig(dir, {
      drivers: [SIM, MLLP],
      alarms: { limits: { beds: { 'bed-s': { spo2: { delayS: 0 } }, 'bed-r': { spo2: { delayS: 0 } } } } },
    });
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    // As the drivers emit them: each event names its driver (source).
    const low = (source: string, deviceId: string, bed: string) => ({ ...numeric(MDC.PULS_OXIM_SAT_O2, 85, 0, { deviceId, bed }), source, receivedAt: Date.now() });
    await agent.ingest.accept('ward-sim', [low('ward-sim', 'sim-mon', 'bed-s')]);
    await agent.ingest.accept('icu-mllp', [low('icu-mllp', 'real-mon', 'bed-r')]);
    // SpO2 85 scores 3 on its own: NEWS2 (device agent:news2) alarms both beds too.
    for (const bed of ['bed-s', 'bed-r']) {
      const texts = agent.alarms.engine.list({ bed }).map((a) => a.condition.text);
      expect(texts).toContain('SpO2 LOW 85 < 90 %');
      expect(texts.some((t) => t.startsWith('NEWS2'))).toBe(true);
    }
    await agent.stop();
    agent = null;
    const db = new Database(path, { readonly: true });
    const notes = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key LIKE 'open-alarm:%'").all().map((r) => JSON.parse(r.value) as { bed: string });
    db.close();
    expect(notes.length).toBe(2); // bed-r's limit alarm and its NEWS2 alarm
    expect(new Set(notes.map((n) => n.bed))).toEqual(new Set(['bed-r']));
  });

  it('a simulator entry replaced live by a real driver of the same name: the real bed\'s NEWS2 alarm is noted (review rv123 H1)', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const config = testConfig(dir, { drivers: [{ ...SIM, name: 'ward' }], alarms: { limits: { beds: { 'bed-x': { spo2: { delayS: 0 } } } } } });
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    const spo2 = (deviceId: string, v: number) => ({ ...numeric(MDC.PULS_OXIM_SAT_O2, v, 0, { deviceId, bed: 'bed-x' }), source: 'ward', receivedAt: Date.now() });
    await agent.ingest.accept('ward', [spo2('sim-mon', 98)]);
    // Commissioning done: the entry becomes the real monitors' driver, as a twin change restarts it.
    await agent.stopDriver('ward');
    await agent.startDriver({ name: 'ward', type: 'hl7-mllp', enabled: true, options: { host: '127.0.0.1', port: 0 } });
    await agent.ingest.accept('ward', [spo2('real-mon', 85)]);
    await agent.stop();
    agent = null;
    const db = new Database(path, { readonly: true });
    const texts = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key LIKE 'open-alarm:%'").all().map((r) => (JSON.parse(r.value) as { text: string }).text);
    db.close();
    expect(texts.some((t) => t.startsWith('NEWS2'))).toBe(true);
    expect(texts.some((t) => t.startsWith('SpO2 LOW'))).toBe(true);
  });
});
