// A store holds one kind of run's data (review rv119 H1): the demo's (every driver simulated: made-up patients) or a
// ward's. The embedded demo has a store of its own, and --print-default gives a ward's copy the ward path; a ward's
// config on a demo's store moves it aside and starts afresh (its made-up patients would be forwarded as the ward's,
// their alarms listed on the ward at the restart; a refusal would restart an IoT Edge module in a loop), and a demo on
// a ward's store is refused (forwarding off, it would delete the ward's unsent telemetry at store.maxAgeHours). Alarms of simulated drivers get no open-alarm note at all.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, StoreKindError } from '../../agent/agent.js';
import { numeric } from '../../agent/alarms/fixtures.js';
import { loadConfigFile, validateConfig } from '../../agent/config/load.js';
import { MDC } from '../../agent/model/mdc.js';
import { DEFAULT_CONFIG_PATH, PACKAGE_ROOT } from '../../agent/paths.js';
import { Outbox } from '../../agent/store/outbox.js';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../support/agent-config.js';
import { startAgentProcess, tempDir, writeConfig } from '../support/agent-process.js';
import { captureLog } from '../support/log.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

const SIM = { name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: false, episodesPerHour: 0 } };
const MLLP = { name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 0 } };
const demo = (dir: string) => testConfig(dir, { drivers: [SIM] });
const ward = (dir: string) => testConfig(dir, { drivers: [MLLP] });

async function run(config: ReturnType<typeof testConfig>): Promise<void> {
  agent = new Agent({ config, registry, log: captureLog().log });
  await agent.start();
  await agent.stop();
  agent = null;
}

const runKind = (path: string) => {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'run-kind'").get()?.value ?? null;
  } finally {
    db.close();
  }
};

describe('a store holds the demo\'s simulated patients or a ward\'s data, never both', () => {
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

  it('a ward\'s first start on a store the demo wrote moves it aside, kept, and starts on a fresh store: the made-up patients are not forwarded', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    await run(demo(dir));
    expect(runKind(path)).toBe('demo');
    const demoRows = (p: string) => {
      const db = new Database(p, { readonly: true, fileMustExist: true });
      try {
        return db.prepare<[], { n: number }>('SELECT (SELECT count(*) FROM outbox_0) + (SELECT count(*) FROM outbox_1) + (SELECT count(*) FROM outbox_2) AS n').get()!.n;
      } finally {
        db.close();
      }
    };
    expect(demoRows(path)).toBeGreaterThan(0);
    const captured = captureLog('info');
    agent = new Agent({ config: ward(dir), registry, log: captured.log });
    await agent.start();
    const line = captured.lines.find((l) => String(l.msg).includes('held only simulated patients'));
    expect(line).toMatchObject({ store: path, movedTo: expect.stringMatching(/agent\.db\.demo-/) });
    expect(agent.metrics.get('store_demo_set_aside_total')).toBe(1);
    // The fresh store has none of the demo's rows and is the ward's; the demo's file is kept where the log says.
    expect(agent.outbox.pending('telemetry').records).toBe(0);
    await agent.stop();
    agent = null;
    expect(runKind(path)).toBe('ward');
    const movedTo = (line as unknown as { movedTo: string }).movedTo;
    expect(runKind(movedTo)).toBe('demo');
    expect(demoRows(movedTo)).toBeGreaterThan(0);
    // The next start of the ward keeps its own store.
    const again = captureLog('info');
    agent = new Agent({ config: ward(dir), registry, log: again.log });
    await agent.start();
    expect(again.lines.some((l) => String(l.msg).includes('held only simulated patients'))).toBe(false);
  });

  it('the demo on a ward\'s store is refused too: it would delete the ward\'s unsent telemetry as retention', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    await run(ward(dir));
    expect(runKind(path)).toBe('ward');
    expect(() => new Agent({ config: demo(dir), registry, log: captureLog().log })).toThrow(
      expect.objectContaining({ name: 'StoreKindError', message: expect.stringMatching(new RegExp(`^${path.replace(/[.]/g, '\\.')} holds a ward's data.*store\\.maxAgeHours.*Use another store\\.path`)) }),
    );
    await run(ward(dir));
    expect(runKind(path)).toBe('ward');
  });

  it('a store no run has marked (an existing install) is marked by the first run, which is not refused', async () => {
    for (const [config, kind] of [[ward, 'ward'], [demo, 'demo']] as const) {
      const dir = tempDir();
      const path = join(dir, 'agent.db');
      new Outbox(path).close(); // as an earlier version left it
      expect(runKind(path)).toBeNull();
      const log = captureLog();
      agent = new Agent({ config: config(dir), registry, log: log.log });
      await agent.start();
      expect(log.find(/^store marked as holding/)).toMatchObject({ store: path, kind });
      await agent.stop();
      agent = null;
      expect(runKind(path)).toBe(kind);
    }
  });

  it('alarms of a simulated driver get no open-alarm note (a restart would list made-up patients); a real driver\'s alarms do', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const config = testConfig(dir, {
      drivers: [SIM, MLLP],
      alarms: { limits: { beds: { 'bed-s': { spo2: { delayS: 0 } }, 'bed-r': { spo2: { delayS: 0 } } } }, news2: { beds: { 'bed-s': { enabled: false }, 'bed-r': { enabled: false } } } },
    });
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    // As the drivers emit them: each event names its driver (source).
    const low = (source: string, deviceId: string, bed: string) => ({ ...numeric(MDC.PULS_OXIM_SAT_O2, 85, 0, { deviceId, bed }), source, receivedAt: Date.now() });
    await agent.ingest.accept('ward-sim', [low('ward-sim', 'sim-mon', 'bed-s')]);
    await agent.ingest.accept('icu-mllp', [low('icu-mllp', 'real-mon', 'bed-r')]);
    expect(agent.alarms.engine.list({ bed: 'bed-s' }).map((a) => a.condition.text)).toEqual(['SpO2 LOW 85 < 90 %']);
    expect(agent.alarms.engine.list({ bed: 'bed-r' }).map((a) => a.condition.text)).toEqual(['SpO2 LOW 85 < 90 %']);
    await agent.stop();
    agent = null;
    const db = new Database(path, { readonly: true });
    const notes = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key LIKE 'open-alarm:%'").all().map((r) => JSON.parse(r.value) as { bed: string });
    db.close();
    expect(notes.map((n) => n.bed)).toEqual(['bed-r']);
  });
});
