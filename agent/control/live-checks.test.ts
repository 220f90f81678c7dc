// What a start judges, judged the same way by the control plane (review rv120): the saved overlay is used only when the
// hub is reached (M3), reloadConfig refuses what the next start would refuse (M4), and a live change is told the
// warnings --check and the start give (M5).
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentControl, beginStartup, decideStartup, startupConfig, type ControlHost } from './control.js';
import { saveOverlay } from './persist.js';
import { startupNotes } from '../config/check.js';
import { validateConfig, type DriverEntry } from '../config/load.js';
import { registry } from '../../drivers/registry.js';
import { Metrics } from '../metrics.js';
import { captureLog } from '../../test/support/log.js';
import { tempDir } from '../../test/support/agent-process.js';
import type { ControlSession } from '../forward/azure.js';

const OPTS = { enabled: true, reportIntervalS: 60, resyncIntervalS: 600, twinTimeoutMs: 1000, diagnosticsMaxBytes: 100_000 };
const CS = 'HostName=h.example.net;DeviceId=gw;SharedAccessKey=a2V5';
const IV7 = { name: 'iv7', type: 'intellivue', options: { id: 'mon-7', path: '/dev/ttyIV7', bed: 'ICU-07' } };

function control(raw: Record<string, unknown>) {
  const dir = tempDir('control-');
  const file = { gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, hub: { mode: 'device', connectionString: CS }, ...raw };
  const configPath = join(dir, 'agent.json');
  writeFileSync(configPath, JSON.stringify(file));
  const local = validateConfig(structuredClone(file), registry, configPath);
  const cap = captureLog();
  const calls: string[] = [];
  const host: ControlHost = {
    gatewayId: 'gw',
    health: () => ({ drivers: {}, forwarder: { state: 'connected' }, store: { pending: { telemetry: 0, alarms: 0 }, unackedMessages: { telemetry: 0, alarms: 0 } }, metrics: {} }),
    oldestPendingAt: () => null,
    startDriver: async (e: DriverEntry) => void calls.push(`start ${e.name}`),
    stopDriver: async (name: string) => void calls.push(`stop ${name}`),
    replay: () => ({ messages: 0, records: 0 }),
  };
  const metrics = new Metrics();
  const c = new AgentControl({ host, registry, log: cap.log, metrics, startup: startupConfig(local, registry, cap.log), storePath: local.store.path, configPath }, OPTS);
  return { c, cap, calls, metrics, dir, file, configPath };
}

function session(desired: Record<string, unknown>): ControlSession & { reported: unknown[] } {
  const s = {
    open: true,
    reported: [] as unknown[],
    getTwin: async () => ({ desired: { $version: 2, ...desired }, reported: { $version: 1 } }),
    updateReported: async (p: Record<string, unknown>) => void s.reported.push(p),
    recycle() {
      s.open = false;
    },
  };
  return s;
}

const until = async (done: () => boolean) => {
  while (!done()) await new Promise((r) => setTimeout(r, 5));
};

describe('the saved overlay follows the hub route, not hub.mode (review rv120 M3)', () => {
  const overlay = { drivers: { iv7: { enabled: false } }, alarms: { limits: { beds: { 'ICU-07': { spo2: { low: 80 } } } } } };
  const decide = (hub: Record<string, unknown>, env: NodeJS.ProcessEnv) => {
    const dir = tempDir('control-');
    const local = validateConfig({ store: { path: join(dir, 'agent.db') }, hub, drivers: [IV7] }, registry, 'test');
    saveOverlay(join(dir, 'desired-overlay.json'), { overlay, desiredVersion: 12, appliedAt: '2026-11-01T10:00:00Z' });
    return { d: decideStartup(local, registry, env), file: join(dir, 'desired-overlay.json') };
  };

  it('hub.mode auto without IoT Edge and without a connection string (forwarding off): not applied, said by --check and the start', () => {
    for (const hub of [{ mode: 'auto' }, { mode: 'off' }]) {
      const { d, file } = decide(hub, {});
      expect(d.source, hub.mode).toBe('local');
      expect(d.config.drivers.filter((e) => e.enabled).map((e) => e.name)).toEqual(['iv7']);
      expect(d.config.alarms.limits.beds['ICU-07']).toBeUndefined();
      expect(d.step).toMatchObject({ kind: 'not-used', file });
      expect(startupNotes(d, {})).toEqual([expect.stringMatching(new RegExp(`^${file.replace(/[.]/g, '\\.')} \\(the saved twin overlay\\) is not applied at start: forwarding is off \\(.+\\), so no twin is read; this file runs alone$`))]);
      const cap = captureLog();
      beginStartup(d, cap.log);
      expect(cap.find(/^the saved desired overlay is not applied: forwarding is off/)).toMatchObject({ level: 40, file });
    }
  });

  it('hub.mode auto with a connection string in the environment: applied until the twin is read', () => {
    const { d } = decide({ mode: 'auto' }, { IOTHUB_DEVICE_CONNECTION_STRING: CS });
    expect(d.source).toBe('saved-overlay');
    expect(d.step.kind).toBe('use');
    expect(d.config.drivers.filter((e) => e.enabled)).toEqual([]);
  });
});

describe('reloadConfig refuses what the next start would refuse (review rv120 M4)', () => {
  it('display.host in brackets, or store.path naming a folder: 400 with the start\'s problem, nothing changed', async () => {
    const { c, file, configPath, dir } = control({ drivers: [{ name: 'a', type: 'simulator' }] });
    mkdirSync(join(dir, 'folder.db'));
    const before = c.configStatus;
    const edits: [Record<string, unknown>, RegExp][] = [
      [{ display: { enabled: true, host: '[::1]' } }, /^display\.host: "\[::1\]" is an IPv6 address written as in a URL/],
      [{ store: { path: join(dir, 'folder.db') } }, /^store\.path: .*folder\.db is a folder: store\.path names the store's file/],
    ];
    for (const [edit, problem] of edits) {
      writeFileSync(configPath, JSON.stringify({ ...file, ...edit }));
      const r = await c.method('reloadConfig', null);
      expect(r, JSON.stringify(edit)).toMatchObject({ status: 400, payload: { status: 'rejected', file: configPath, errors: [expect.stringMatching(problem)] } });
      expect(c.configStatus).toEqual(before);
      expect(c.config.display.host).not.toBe('[::1]');
      expect(c.config.store.path).toBe(join(dir, 'agent.db'));
    }
    await c.stop();
  });
});

describe('a live change is told the warnings --check and the start give (review rv120 M5)', () => {
  const warned = (cap: ReturnType<typeof captureLog>, field: string) => cap.lines.find((l) => l.level === 40 && l.field === field);

  it('a twin change adding a second monitor on a bed: each warning logged at warn with its field, counted', async () => {
    const { c, cap, metrics } = control({ drivers: [IV7] });
    const s = session({ agentConfig: { drivers: { iv8: { type: 'intellivue', options: { id: 'mon-8', path: '/dev/ttyIV8', bed: 'ICU-07' } } } } });
    c.connected(s);
    await until(() => c.configStatus.desiredVersion === 2 && s.reported.length > 0);
    await c.stop();
    expect(c.configStatus.status).toBe('applied');
    expect(warned(cap, 'drivers[1].options.bed')).toMatchObject({ desiredVersion: 2, msg: expect.stringMatching(/^configuration in force warns: drivers\[1\]\.options\.bed: bed "ICU-07" already has its monitor from driver "iv7"/) });
    expect(metrics.get('control_config_warnings_total')).toBeGreaterThanOrEqual(1);
  });

  it('reloadConfig with a driver switched off whose device alarms.devices still expects: warned', async () => {
    const { c, cap, file, configPath } = control({ drivers: [IV7], alarms: { devices: { 'mon-7': { silentAfterS: 60 } } } });
    writeFileSync(configPath, JSON.stringify({ ...file, drivers: [{ ...IV7, enabled: false }, { name: 'sim', type: 'simulator' }] }));
    expect(await c.method('reloadConfig', null)).toMatchObject({ status: 200 });
    await c.stop();
    expect(warned(cap, 'alarms.devices.mon-7')).toMatchObject({ msg: expect.stringMatching(/no enabled driver has a device with id "mon-7"/) });
  });
});
