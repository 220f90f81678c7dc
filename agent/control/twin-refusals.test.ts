// Review rv158: what the twin may set of a driver's options (F1), reloadConfig judged against the overlay in force
// (F2), and a refused twin document counted once (F3).
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentControl, startupConfig, type ControlHost } from './control.js';
import { resolveOverlay } from './overlay.js';
import { registry } from '../../drivers/registry.js';
import { loadConfigFile, validateConfig, type DriverEntry } from '../config/load.js';
import { Metrics } from '../metrics.js';
import { captureLog } from '../../test/support/log.js';
import type { ControlSession } from '../forward/azure.js';
import type { Driver } from '../../drivers/types.js';

const log = pino({ level: 'silent' });
const OPTS = { enabled: true, reportIntervalS: 60, resyncIntervalS: 600, twinTimeoutMs: 1000, diagnosticsMaxBytes: 100_000 };
const HUB = { mode: 'device', connectionString: 'HostName=h.example.net;DeviceId=gw;SharedAccessKey=a2V5' };
const until = async (f: () => boolean) => {
  while (!f()) await new Promise((r) => setTimeout(r, 5));
};
const twin = (version: number, agentConfig: unknown, onRead?: () => void) =>
  ({
    open: true,
    getTwin: async () => (onRead?.(), { desired: { $version: version, agentConfig }, reported: { $version: 1 } }),
    updateReported: async () => undefined,
    recycle() {},
  }) as unknown as ControlSession;

function host(start: (e: DriverEntry) => Promise<void> = async () => undefined, stop: (n: string) => Promise<void> = async () => undefined): ControlHost {
  return {
    gatewayId: 'gw',
    health: () => ({ drivers: {}, forwarder: { state: 'connected' }, store: { pending: { telemetry: 0, alarms: 0 }, unackedMessages: { telemetry: 0, alarms: 0 } }, metrics: {} }),
    oldestPendingAt: () => null,
    startDriver: start,
    stopDriver: stop,
    replay: () => ({ messages: 0, records: 0 }),
  };
}

describe('F1: a driver option that writes a file or chooses one for a device is the local file\'s', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fx235-o-'));
  const iv = (options: Record<string, unknown> = {}) => ({ name: 'iv7', type: 'intellivue', options: { id: 'mon-7', path: '/dev/ttyBED01', bed: 'ICU-07', ...options } });
  const local = (options?: Record<string, unknown>) => validateConfig({ gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, drivers: [iv(options)] }, registry, 'test');

  it.each([
    ['captureFile', { captureFile: '/x' }],
    ['captureMaxBytes', { captureMaxBytes: 2 ** 50 }],
    ['replay', { replay: { file: '/srv/x.jsonl' } }],
  ])('the twin may not set %s on a driver (map form)', (field, options) => {
    const r = resolveOverlay(local(), { drivers: { iv7: { options } } }, registry);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([{ path: `drivers.iv7.options.${field}`, message: expect.stringMatching(/cannot be (set|changed) remotely.*local config file/) }]);
  });

  it('nor on a driver it adds; in the list form a local driver has them as the local file has them now, whatever the twin copy holds', () => {
    const added = resolveOverlay(local(), { drivers: { iv8: { type: 'intellivue', options: { id: 'mon-8', path: '/dev/ttyBED08', bed: 'ICU-08', captureFile: '/x' } } } }, registry);
    expect(added.ok ? [] : added.problems.map((p) => p.path)).toEqual(['drivers.iv8.options.captureFile']);
    const addedInList = resolveOverlay(local(), { drivers: [iv(), { name: 'iv8', type: 'intellivue', options: { id: 'mon-8', path: '/dev/ttyBED08', bed: 'ICU-08', captureFile: '/x' } }] }, registry);
    expect(addedInList.ok ? [] : addedInList.problems.map((p) => p.path)).toEqual(['drivers[1].options.captureFile']);
    const opts = (r: ReturnType<typeof resolveOverlay>) => (r.ok ? (r.config.drivers[0]!.options as Record<string, unknown>) : r.problems);
    // The twin's list sets a capture the local file does not have: not taken.
    const listed = resolveOverlay(local(), { drivers: [iv({ captureFile: '/x', bed: 'ICU-08' })] }, registry);
    expect(opts(listed)).toMatchObject({ bed: 'ICU-08' });
    expect(opts(listed)).not.toHaveProperty('captureFile');
    // A capture the local file has: kept with its bound, whatever the list drops.
    const withCapture = local({ captureFile: join(dir, 'c.jsonl'), captureMaxBytes: 2 ** 20 });
    expect(opts(resolveOverlay(withCapture, { drivers: [iv({ captureFile: join(dir, 'c.jsonl') })] }, registry))).toMatchObject({ captureFile: join(dir, 'c.jsonl'), captureMaxBytes: 2 ** 20 });
    // rv159 F1: the twin's list copied the local capture; the engineer then removes it from the local file: it stops
    // (before: refused "change the local config file", the capture kept running).
    const copied = { drivers: [iv({ captureFile: join(dir, 'c.jsonl'), captureMaxBytes: 2 ** 20, bed: 'ICU-08' })] };
    const edited = resolveOverlay(local(), copied, registry);
    expect(opts(edited)).toMatchObject({ bed: 'ICU-08' });
    expect(opts(edited)).not.toHaveProperty('captureFile');
    expect(opts(edited)).not.toHaveProperty('captureMaxBytes');
  });

  it('a capture in the local file keeps working under a twin change of other options; a null from the twin leaves it', () => {
    const withCapture = local({ captureFile: join(dir, 'c.jsonl') });
    const r = resolveOverlay(withCapture, { drivers: { iv7: { options: { bed: 'ICU-08', captureFile: null } } } }, registry);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.drivers[0]!.options).toMatchObject({ bed: 'ICU-08', captureFile: join(dir, 'c.jsonl') });
  });

  it('the probe: a twin capture into the config file is refused, naming the field, and nothing is written', async () => {
    const d = mkdtempSync(join(tmpdir(), 'fx235-p-'));
    const raw = { gateway: { id: 'gw' }, store: { path: join(d, 'agent.db') }, hub: HUB, drivers: [iv({ path: join(d, 'no-such-tty') })] };
    const configPath = join(d, 'agent.json');
    writeFileSync(configPath, JSON.stringify(raw));
    const cfg = validateConfig(structuredClone(raw), registry, configPath);
    const running = new Map<string, Driver>();
    const h = host(
      async (e) => {
        const drv = registry.get(e.type)!.create(e.options, { name: e.name, log, emit: async () => undefined, count: () => undefined } as never);
        running.set(e.name, drv);
        await drv.start();
      },
      async (n) => {
        await running.get(n)?.stop();
        running.delete(n);
      },
    );
    const metrics = new Metrics();
    const c = new AgentControl({ host: h, registry, log, metrics, startup: startupConfig(cfg, registry, log), storePath: cfg.store.path, configPath }, OPTS);
    await h.startDriver(cfg.drivers[0]!);
    const before = readFileSync(configPath, 'utf8');
    c.connected(twin(2, { drivers: { iv7: { options: { captureFile: configPath, captureMaxBytes: 2 ** 50 } } } }));
    await until(() => c.configStatus.desiredVersion === 2);
    await c.stop();
    for (const drv of running.values()) await drv.stop();
    expect(c.configStatus).toMatchObject({ status: 'rejected', errors: expect.arrayContaining([expect.stringMatching(/^drivers\.iv7\.options\.captureFile: /)]) });
    expect(metrics.get('control_desired_rejected_total')).toBe(1);
    expect(readFileSync(configPath, 'utf8')).toBe(before);
    expect(() => loadConfigFile(configPath, registry)).not.toThrow();
  });

  it('a local config with captureFile still runs, and a twin change beside it is applied', async () => {
    const d = mkdtempSync(join(tmpdir(), 'fx235-l-'));
    const capture = join(d, 'capture.jsonl');
    const raw = { gateway: { id: 'gw' }, store: { path: join(d, 'agent.db') }, hub: HUB, drivers: [iv({ path: join(d, 'no-such-tty'), captureFile: capture })] };
    const cfg = validateConfig(structuredClone(raw), registry, 'test');
    const running = new Map<string, Driver>();
    const h = host(
      async (e) => {
        const drv = registry.get(e.type)!.create(e.options, { name: e.name, log, emit: async () => undefined, count: () => undefined } as never);
        running.set(e.name, drv);
        await drv.start();
      },
      async (n) => {
        await running.get(n)?.stop();
        running.delete(n);
      },
    );
    const c = new AgentControl({ host: h, registry, log, metrics: new Metrics(), startup: startupConfig(cfg, registry, log), storePath: cfg.store.path }, OPTS);
    await h.startDriver(cfg.drivers[0]!);
    c.connected(twin(2, { drivers: { iv7: { options: { bed: 'ICU-08' } } } }));
    await until(() => c.configStatus.desiredVersion === 2);
    await c.stop();
    for (const drv of running.values()) await drv.stop();
    expect(c.configStatus.status).toBe('applied');
    expect(c.config.drivers[0]!.options).toMatchObject({ bed: 'ICU-08', captureFile: capture });
    expect(existsSync(capture)).toBe(true); // the local capture was written by the driver
  });
});

describe('F2: reloadConfig judges a local edit against the overlay in force', () => {
  it('v2 applied, v3 refused, a local edit: applied with v2, and the status still says v3 is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fx235-r-'));
    const configPath = join(dir, 'agent.json');
    const base = { gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, hub: HUB };
    const entry = (path: string) => ({ name: 'iv7', type: 'intellivue', options: { id: 'mon-7', path, bed: 'ICU-07' } });
    const raw1 = { ...base, drivers: [entry('/dev/ttyBED01')] };
    writeFileSync(configPath, JSON.stringify(raw1));
    const cfg = validateConfig(structuredClone(raw1), registry, configPath);
    const calls: string[] = [];
    const h = host(async (e) => void calls.push(`start ${e.name}`), async (n) => void calls.push(`stop ${n}`));
    const metrics = new Metrics();
    const c = new AgentControl({ host: h, registry, log, metrics, startup: startupConfig(cfg, registry, log), storePath: cfg.store.path, configPath }, OPTS);
    c.connected(twin(2, { log: { level: 'debug' } }));
    await until(() => c.configStatus.desiredVersion === 2 && c.configStatus.status === 'applied');
    c.desiredPatch({ $version: 3, agentConfig: { hub: { retry: { maxDelayMs: 1000 } } } });
    await until(() => c.configStatus.desiredVersion === 3);
    expect(c.configStatus.status).toBe('rejected');
    writeFileSync(configPath, JSON.stringify({ ...base, drivers: [entry('/dev/ttyBED02')] }));
    const r = await c.method('reloadConfig', null);
    await c.stop();
    expect(r.status).toBe(200);
    expect(r.payload).toMatchObject({ status: 'applied', desiredVersion: 2, twinRejected: { desiredVersion: 3, errors: [expect.stringMatching(/^hub: /)] } });
    expect((c.config.drivers[0]!.options as { path: string }).path).toBe('/dev/ttyBED02');
    expect(c.config.log.level).toBe('debug'); // v2 stays in force
    expect(calls).toEqual(['stop iv7', 'start iv7']);
    expect(c.configStatus).toMatchObject({ status: 'rejected', desiredVersion: 3, errors: [expect.stringMatching(/^hub: /)] });
    expect(metrics.get('control_desired_rejected_total')).toBe(1); // a reload is no new refused change
    // The saved overlay is still v2's: a restart gives the same.
    expect(JSON.parse(readFileSync(join(dir, 'desired-overlay.json'), 'utf8'))).toMatchObject({ desiredVersion: 2, overlay: { log: { level: 'debug' } } });
  });
});

describe('F3: a refused twin document is counted and warned once', () => {
  it('three reads of one refused version: counter 1, one warn line; a new version refused counts again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fx235-c-'));
    const raw = { gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, hub: HUB, drivers: [{ name: 'a', type: 'simulator' }] };
    const cfg = validateConfig(structuredClone(raw), registry, 'test');
    const cap = captureLog();
    const metrics = new Metrics();
    const c = new AgentControl({ host: host(), registry, log: cap.log, metrics, startup: startupConfig(cfg, registry, cap.log), storePath: cfg.store.path }, OPTS);
    let reads = 0;
    for (let i = 0; i < 3; i++) {
      c.connected(twin(5, { hub: { mode: 'off' } }, () => reads++));
      await until(() => reads === i + 1 && c.configStatus.desiredVersion === 5);
      await new Promise((r) => setTimeout(r, 30));
    }
    const warns = () => cap.lines.filter((l) => /desired configuration refused/.test(String(l.msg))).length;
    expect(metrics.get('control_desired_rejected_total')).toBe(1);
    expect(warns()).toBe(1);
    c.connected(twin(6, { hub: { mode: 'off' } }, () => reads++));
    await until(() => reads === 4 && c.configStatus.desiredVersion === 6);
    await new Promise((r) => setTimeout(r, 30));
    await c.stop();
    expect(metrics.get('control_desired_rejected_total')).toBe(2);
    expect(warns()).toBe(2);
  });
});
