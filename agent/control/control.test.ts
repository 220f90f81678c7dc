// The control plane against a fake agent and a fake twin session: recovery from a broken twin channel and
// rollback when a new driver fails to start.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentControl, beginStartup, decideStartup, startupConfig, type ControlHost } from './control.js';
import { NoAnswerError, type ControlSession } from '../forward/azure.js';
import { registry } from '../../drivers/registry.js';
import { applyEnvOverrides, validateConfig, type DriverEntry } from '../config/load.js';
import { Metrics } from '../metrics.js';
import { captureLog } from '../../test/support/log.js';
import { saveOverlay } from './persist.js';
import type { JsonObject } from './overlay.js';
import { PACKAGE_ROOT } from '../paths.js';

const log = pino({ level: 'silent' });
const OPTS = { enabled: true, reportIntervalS: 60, resyncIntervalS: 600, twinTimeoutMs: 1000, diagnosticsMaxBytes: 100_000 };

function setup(
  failOn?: string,
  opts = OPTS,
  failsAgain?: (name: string, calls: readonly string[]) => boolean,
  logger = log,
  extra: { drivers?: Record<string, unknown>[]; beforeStart?: (dir: string) => void } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'control-'));
  const raw = { gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, hub: { mode: 'device', connectionString: 'HostName=h.example.net;DeviceId=gw;SharedAccessKey=a2V5' }, drivers: extra.drivers ?? [{ name: 'a', type: 'simulator' }] };
  extra.beforeStart?.(dir);
  const local = validateConfig(raw, registry, 'test');
  // The same config as a file, for reloadConfig.
  const configPath = join(dir, 'agent.json');
  writeFileSync(configPath, JSON.stringify(raw));
  const running = new Set(raw.drivers.map((d) => String(d.name)));
  const calls: string[] = [];
  const host: ControlHost = {
    gatewayId: 'gw',
    health: () => ({
      drivers: Object.fromEntries([...running].map((n) => [n, { state: 'running' }])),
      forwarder: { state: 'connected' },
      store: { pending: { telemetry: 0, alarms: 0 }, unackedMessages: { telemetry: 0, alarms: 0 } },
      metrics: {},
    }),
    oldestPendingAt: () => null,
    startDriver: async (e: DriverEntry) => {
      calls.push(`start ${e.name}`);
      if (e.name === failOn || failsAgain?.(e.name, calls)) throw new Error('port busy');
      running.add(e.name);
    },
    stopDriver: async (name: string) => {
      calls.push(`stop ${name}`);
      running.delete(name);
    },
    replay: () => ({ messages: 0, records: 0 }),
    keepTrying: (e: DriverEntry, err: unknown) => void calls.push(`keep trying ${e.name}: ${(err as Error).message}`),
  };
  const metrics = new Metrics();
  const control = new AgentControl({ host, registry, log: logger, metrics, startup: startupConfig(local, registry, logger), storePath: local.store.path, configPath }, opts);
  return { control, running, calls, metrics, host };
}

function session(over: Partial<ControlSession> & { desired?: Record<string, unknown> } = {}) {
  const s = {
    open: true,
    recycled: [] as string[],
    reported: [] as Record<string, unknown>[],
    getTwin: over.getTwin ?? (async () => ({ desired: { $version: 1, ...(over.desired ?? {}) }, reported: { $version: 1 } })),
    updateReported:
      over.updateReported ??
      (async (p: Record<string, unknown>) => {
        s.reported.push(p);
      }),
    recycle(reason: string) {
      s.recycled.push(reason);
      s.open = false;
    },
  };
  return s;
}

/** Waits (without timing anything) until the control plane has done what the test waits for, then stops it. */
const settle = async (c: AgentControl, done: () => boolean) => {
  while (!done()) await new Promise((r) => setTimeout(r, 5));
  await c.stop();
};
/** Waits without stopping the control (more steps follow). */
const until = async (done: () => boolean) => {
  while (!done()) await new Promise((r) => setTimeout(r, 5));
};

describe('control plane', () => {
  it('recycles the connection when the twin cannot be read (lost subscriptions leave it unanswered)', async () => {
    const { control } = setup();
    const s = session({ getTwin: () => Promise.reject(new NoAnswerError('twin read: no answer within 1000 ms')) });
    control.connected(s);
    await settle(control, () => s.recycled.length > 0);
    expect(s.recycled).toEqual(['twin read failed: twin read: no answer within 1000 ms']);
  });

  it('recycles the connection when a reported update goes unanswered', async () => {
    const { control } = setup();
    const s = session({ updateReported: () => Promise.reject(new NoAnswerError('reported properties update: no answer')) });
    control.connected(s);
    await settle(control, () => s.recycled.length > 0);
    expect(s.recycled).toHaveLength(1);
  });

  it('a hub that answers reads but never reported updates costs the connection once, not at every report; health shows it until an update is answered (review rv148 F1)', async () => {
    const cap = captureLog();
    const { control, metrics } = setup(undefined, OPTS, undefined, cap.log);
    const silentUpdates = () => session({ updateReported: () => Promise.reject(new NoAnswerError('reported properties update: no answer within 1000 ms')) });
    const first = silentUpdates();
    control.connected(first);
    await until(() => first.recycled.length > 0);
    // The fresh connection: its reads are answered, its update is not. Kept.
    const second = silentUpdates();
    control.connected(second);
    await until(() => control.controlStatus() !== null);
    expect(second.recycled).toEqual([]);
    expect(metrics.get('control_twin_recycles_total')).toBe(1);
    expect(control.controlStatus()).toMatchObject({ state: 'twin-unanswered', unanswered: expect.any(Number) });
    expect(cap.lines.filter((l) => l.level === 40 && /twin goes unanswered/.test(String(l.msg)))).toHaveLength(1);
    // An answered update ends it.
    const third = session();
    control.connected(third);
    await settle(control, () => third.reported.length > 0);
    expect(control.controlStatus()).toBeNull();
    expect(third.recycled).toEqual([]);
  });

  it('keeps the connection when the hub answers a twin read with an error (throttled), and reads it again later', async () => {
    const { control } = setup();
    let reads = 0;
    const s = session({
      getTwin: async () => {
        reads += 1;
        if (reads === 1) throw new Error('429 throttled');
        return { desired: { $version: 1 }, reported: { $version: 1 } };
      },
    });
    control.connected(s);
    await settle(control, () => s.reported.length > 0);
    expect(reads).toBe(2);
    expect(s.recycled).toEqual([]);
  });

  it('follows a twin made anew (its desired versions start from 1 again) once a second read confirms it', async () => {
    const { control } = setup();
    const first = session({ desired: { $version: 7, agentConfig: { log: { level: 'debug' } } } });
    control.connected(first);
    while (control.configStatus.desiredVersion !== 7) await new Promise((r) => setTimeout(r, 5));
    expect(control.config.log.level).toBe('debug');
    // The identity was deleted and created again: its twin is at version 2, and says something else.
    let reads = 0;
    const second = session({
      getTwin: async () => {
        reads += 1;
        return { desired: { $version: 2, agentConfig: { log: { level: 'warn' } } }, reported: { $version: 1 } };
      },
    });
    control.connected(second);
    await settle(control, () => control.configStatus.desiredVersion === 2);
    expect(reads).toBe(2);
    expect(control.config.log.level).toBe('warn');
  });

  it('keeps the connection when the hub refuses a reported update, and sends it again', async () => {
    // Report ticks every 50 ms here (5 s by default).
    const { control } = setup(undefined, { ...OPTS, reportIntervalS: 0.05 });
    let updates = 0;
    const s = session();
    const ok = s.updateReported;
    s.updateReported = async (p: Record<string, unknown>) => {
      updates += 1;
      if (updates <= 2) throw new Error('400 bad request');
      return ok(p);
    };
    control.start();
    control.connected(s);
    await settle(control, () => s.reported.length > 0);
    expect(updates).toBe(3);
    expect(s.recycled).toEqual([]);
  });

  it('a previous driver that cannot be restored either is handed to the agent to alarm and retry', async () => {
    // 'a' starts at boot, but not again once 'b' has tried (its port taken meanwhile).
    const { control, running, calls } = setup('b', OPTS, (name, c) => name === 'a' && c.includes('start b'));
    const s = session({ desired: { agentConfig: { drivers: { a: { options: { beds: 2 } }, b: { type: 'simulator', options: { deviceIdPrefix: 'b-' } } } } } });
    control.connected(s);
    await settle(control, () => s.reported.length > 0);
    expect(calls).toEqual(['stop a', 'start a', 'start b', 'stop a', 'stop b', 'start a', 'keep trying a: port busy']);
    expect([...running]).toEqual([]);
  });

  it('restores the previous drivers and reports the refusal when a new driver fails to start', async () => {
    const { control, running, calls } = setup('b');
    const s = session({ desired: { agentConfig: { drivers: { a: { options: { beds: 2 } }, b: { type: 'simulator', options: { deviceIdPrefix: 'b-' } } } } } });
    control.connected(s);
    await settle(control, () => s.reported.length > 0);
    expect(calls).toEqual(['stop a', 'start a', 'start b', 'stop a', 'stop b', 'start a']);
    expect([...running]).toEqual(['a']);
    expect(control.configStatus).toMatchObject({ status: 'rejected', desiredVersion: 1, errors: ['drivers.b: failed to start: port busy'] });
    // The refusal is reported (a later periodic patch may carry only updatedAt, so look at all of them).
    expect(s.reported).toContainEqual(expect.objectContaining({ config: expect.objectContaining({ status: 'rejected' }) }));
    expect((control.config.drivers[0]!.options as { beds: number }).beds).not.toBe(2);
  });

  it('a change rolled back is not applied again at each read of the same version; a new version or reloadConfig tries it again (review rv68 M2)', async () => {
    const cap = captureLog();
    const { control, calls } = setup('b', OPTS, undefined, cap.log);
    const agentConfig = { drivers: { a: { options: { beds: 2 } }, b: { type: 'simulator', options: { deviceIdPrefix: 'b-' } } } };
    const bounce = ['stop a', 'start a', 'start b', 'stop a', 'stop b', 'start a'];
    /** One connection's full read of the twin at this desired version: the driver calls it made. */
    const read = async (version: number) => {
      const before = calls.length;
      const s = session({ getTwin: async () => ({ desired: { $version: version, agentConfig: structuredClone(agentConfig) }, reported: { $version: 1 } }) });
      control.connected(s);
      while (s.reported.length === 0) await new Promise((r) => setTimeout(r, 5));
      return calls.slice(before);
    };
    const leftAsItIs = () => cap.lines.filter((l) => /left as it is/.test(String(l.msg)));
    expect(await read(5)).toEqual(bounce);
    expect(control.configStatus).toMatchObject({ status: 'rejected', desiredVersion: 5 });
    // Read again (after a reconnection, the periodic resync): the working driver is left alone, said once.
    expect(await read(5)).toEqual([]);
    expect(await read(5)).toEqual([]);
    expect(leftAsItIs()).toHaveLength(1);
    expect(leftAsItIs()[0]).toMatchObject({ level: 40, desiredVersion: 5 });
    expect(control.configStatus).toMatchObject({ status: 'rejected', desiredVersion: 5 });
    // A new desired version (the same overlay) is tried again, once.
    expect(await read(6)).toEqual(bounce);
    expect(await read(6)).toEqual([]);
    expect(leftAsItIs()).toHaveLength(2);
    // reloadConfig re-applies the overlay in force: tried again.
    const before = calls.length;
    expect(await control.method('reloadConfig', null)).toMatchObject({ status: 400 });
    expect(calls.slice(before)).toEqual(bounce);
    await control.stop();
  });

  it('getStatus and captureDiagnostics stay well under the answer cap with thousands of devices: counts by state, the first devices, how many left out (review rv68 M3)', async () => {
    const { control, host } = setup(undefined, OPTS);
    // HL7 device ids as PCD-01 senders write them; a central station's feed lists every device it has seen.
    const devices = (n: number) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`MINDRAY^BeneVision_N17^00A037009A${i.toString(16).padStart(6, '0')}^EUI-64`, { state: i < 10 ? 'offline' : 'online', lastDataAt: 1733435000000 + i }]),
      );
    let drivers: Record<string, { state: string; detail?: string; devices?: Record<string, { state: string; lastDataAt: number }> }> = {
      'central-station': { state: 'running', detail: '3 connection(s)', devices: devices(3000) },
      'ward-a': { state: 'running', devices: devices(2) },
    };
    host.health = () => ({
      drivers,
      forwarder: { state: 'connected' },
      store: { pending: { telemetry: 0, alarms: 0 }, unackedMessages: { telemetry: 0, alarms: 0 } },
      metrics: { 'forward_messages_total{stream="telemetry"}': 5 },
    });
    const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
    type Listed = { devices: Record<string, unknown>; deviceCounts: { total: number; byState: Record<string, number> }; devicesOmitted: number };
    const status = await control.method('getStatus', null);
    expect(status.status).toBe(200);
    expect(bytes(status.payload)).toBeLessThanOrEqual(60_000);
    const listed = (status.payload as { drivers: Record<string, Listed> }).drivers;
    expect(listed['central-station']).toMatchObject({ state: 'running', detail: '3 connection(s)', deviceCounts: { total: 3000, byState: { offline: 10, online: 2990 } } });
    const shown = Object.keys(listed['central-station']!.devices).length;
    expect(shown).toBeGreaterThan(0);
    expect(listed['central-station']!.devicesOmitted).toBe(3000 - shown);
    expect(listed['ward-a']).toMatchObject({ deviceCounts: { total: 2 }, devicesOmitted: 0 });
    expect(Object.keys(listed['ward-a']!.devices)).toHaveLength(2);
    const diag = await control.method('captureDiagnostics', null);
    expect(diag.status).toBe(200);
    expect(bytes(diag.payload)).toBeLessThanOrEqual(OPTS.diagnosticsMaxBytes);
    expect((diag.payload as { health: { drivers: Record<string, Listed> } }).health.drivers['central-station']).toMatchObject({ deviceCounts: { total: 3000 } });

    // Ten such drivers: fewer devices listed each, still within bounds.
    drivers = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`hl7-${i}`, { state: 'running', devices: devices(3000) }]));
    const many = await control.method('getStatus', null);
    expect(many.status).toBe(200);
    expect(bytes(many.payload)).toBeLessThanOrEqual(100_000);
    expect((many.payload as { drivers: Record<string, Listed> }).drivers['hl7-9']).toMatchObject({ deviceCounts: { total: 3000 } });
    const manyDiag = await control.method('captureDiagnostics', null);
    expect(manyDiag.status).toBe(200);
    expect(bytes(manyDiag.payload)).toBeLessThanOrEqual(OPTS.diagnosticsMaxBytes);
    await control.stop();
  });

  it('counts what it refuses and what the hub refuses: desired changes, twin operations, recycles, twin errors, method answers (review rv68 L1)', async () => {
    const cap = captureLog();
    const { control, metrics } = setup('b', { ...OPTS, reportIntervalS: 0.05 }, undefined, cap.log);
    control.start();
    // An invalid change, then one whose new driver fails to start: both rejected.
    const invalid = session({ desired: { $version: 1, agentConfig: { drivers: { a: { options: { beds: 0 } } } } } });
    control.connected(invalid);
    while (control.configStatus.status !== 'rejected') await new Promise((r) => setTimeout(r, 5));
    expect(metrics.get('control_desired_rejected_total')).toBe(1);
    const failing = session({ desired: { $version: 2, agentConfig: { drivers: { b: { type: 'simulator' } } } } });
    control.connected(failing);
    while (control.configStatus.desiredVersion !== 2) await new Promise((r) => setTimeout(r, 5));
    expect(metrics.get('control_desired_rejected_total')).toBe(2);
    // A read and a report the hub answers with an error; an unanswered read (the connection is recycled).
    let reads = 0;
    let updates = 0;
    const refusing = session({
      getTwin: async () => {
        if (++reads === 1) throw new Error('429 throttled');
        return { desired: { $version: 2 }, reported: { $version: 1 } };
      },
      updateReported: async () => {
        if (++updates === 1) throw new Error('400 bad request');
      },
    });
    control.connected(refusing);
    while (updates < 2) await new Promise((r) => setTimeout(r, 5));
    expect(metrics.get('control_twin_refused_total', { op: 'read' })).toBe(1);
    expect(metrics.get('control_twin_refused_total', { op: 'report' })).toBe(1);
    const silent = session({ getTwin: () => Promise.reject(new NoAnswerError('twin read: no answer within 1000 ms')) });
    control.connected(silent);
    while (silent.recycled.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(metrics.get('control_twin_recycles_total')).toBe(1);
    // The SDK's twin emitting 'error' (its desired-patch subscription failed): logged and counted.
    control.twinError(new Error('subscribe failed'));
    expect(metrics.get('control_twin_errors_total')).toBe(1);
    expect(cap.lines.find((l) => /twin reported an error/.test(String(l.msg)))).toMatchObject({ level: 40, err: 'subscribe failed' });
    // Direct methods by name and answer; names not in the table under one label.
    expect((await control.method('getStatus', null)).status).toBe(200);
    expect((await control.method('replay', { from: 'yesterday' })).status).toBe(400);
    expect((await control.method('reboot', null)).status).toBe(404);
    control.unknownMethod('format-disk');
    expect(metrics.get('control_methods_total', { method: 'getStatus', status: '200' })).toBe(1);
    expect(metrics.get('control_methods_total', { method: 'replay', status: '400' })).toBe(1);
    expect(metrics.get('control_methods_total', { method: '(unknown)', status: '404' })).toBe(2);
    await control.stop();
  });

  describe('what the twin may not change (review rv82 H2, M1)', () => {
    const certs = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');
    const tls = { certFile: join(certs, 'server.pem'), keyFile: join(certs, 'server-key.pem'), caFile: join(certs, 'ca.pem') };
    const mllp = { name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2575, tls } };

    it('refuses a change that takes TLS off a listener or widens its host: reported with the reason, logged at warn with driver and field, counted, nothing restarted', async () => {
      const cap = captureLog();
      const { control, calls, metrics } = setup(undefined, OPTS, undefined, cap.log, { drivers: [mllp] });
      const s = session({ desired: { agentConfig: { drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '0.0.0.0', port: 2575 } }] } } });
      control.connected(s);
      await settle(control, () => s.reported.length > 0);
      expect(calls).toEqual([]);
      expect(control.configStatus).toMatchObject({ status: 'rejected', desiredVersion: 1 });
      expect(control.configStatus.errors).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^drivers\.icu-mllp\.options\.tls: transport security cannot be weakened remotely: TLS removed/),
          expect.stringMatching(/^drivers\.icu-mllp\.options\.host: transport security cannot be weakened remotely/),
        ]),
      );
      expect(s.reported).toContainEqual(expect.objectContaining({ config: expect.objectContaining({ status: 'rejected' }) }));
      const warned = cap.lines.filter((l) => l.msg === "desired configuration would weaken a driver's transport security: refused");
      expect(warned.map((l) => [l.level, l.driver, l.field])).toEqual([
        [40, 'icu-mllp', 'options.tls'],
        [40, 'icu-mllp', 'options.host'],
      ]);
      expect(metrics.get('control_desired_rejected_total')).toBe(1);
      expect((control.config.drivers[0]!.options as { tls?: unknown }).tls).toEqual(tls);
    });

    it('compares with what runs: TLS on a listener the twin added cannot be taken off by a later change', async () => {
      const cap = captureLog();
      const { control, calls } = setup(undefined, OPTS, undefined, cap.log);
      const added = session({ desired: { $version: 1, agentConfig: { drivers: { twin: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2577, tls } } } } } });
      control.connected(added);
      while (control.configStatus.status !== 'applied' || control.configStatus.desiredVersion !== 1) await new Promise((r) => setTimeout(r, 5));
      expect(calls).toEqual(['start twin']);
      const plain = session({ desired: { $version: 2, agentConfig: { drivers: { twin: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2577 } } } } } });
      control.connected(plain);
      await settle(control, () => control.configStatus.desiredVersion === 2);
      expect(control.configStatus).toMatchObject({ status: 'rejected', errors: [expect.stringMatching(/^drivers\.twin\.options\.tls: /)] });
      expect(calls).toEqual(['start twin']);
    });

    it('the twin can undo its own tightening of a local listener: back to the local file\'s entry is applied (review rv83 M1)', async () => {
      const plain = { name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2575 } };
      const { control, calls, metrics } = setup(undefined, OPTS, undefined, log, { drivers: [plain] });
      const v1 = session({ desired: { $version: 1, agentConfig: { drivers: { 'icu-mllp': { options: { tls } } } } } });
      control.connected(v1);
      await until(() => control.configStatus.desiredVersion === 1);
      expect(control.configStatus).toMatchObject({ status: 'applied', desiredVersion: 1 });
      // The senders cannot do TLS: the twin removes its override.
      const v2 = session({ desired: { $version: 2, agentConfig: { log: { level: 'info' } } } });
      control.connected(v2);
      await settle(control, () => control.configStatus.desiredVersion === 2);
      expect(control.configStatus).toMatchObject({ status: 'applied', desiredVersion: 2 });
      expect((control.config.drivers[0]!.options as { tls?: unknown }).tls).toBeUndefined();
      expect(calls).toEqual(['stop icu-mllp', 'start icu-mllp', 'stop icu-mllp', 'start icu-mllp']);
      expect(metrics.get('control_desired_rejected_total')).toBe(0);
    });

    it('reloadConfig refuses the downgrade the twin path refused: both judge the desired overlay against what runs (review rv83 M1)', async () => {
      const { control, calls } = setup();
      const added = session({ desired: { $version: 1, agentConfig: { drivers: { twin: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2577, tls } } } } } });
      control.connected(added);
      await until(() => control.configStatus.status === 'applied' && control.configStatus.desiredVersion === 1);
      const plain = session({ desired: { $version: 2, agentConfig: { drivers: { twin: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2577 } } } } } });
      control.connected(plain);
      await until(() => control.configStatus.desiredVersion === 2);
      expect(control.configStatus).toMatchObject({ status: 'rejected' });
      const r = await control.method('reloadConfig', null);
      await control.stop();
      // The file is reloaded with the overlay in force (v1), and v2 stays refused, named (review rv158 F2).
      expect(r).toMatchObject({
        status: 200,
        payload: { status: 'applied', desiredVersion: 1, twinRejected: { desiredVersion: 2, errors: [expect.stringMatching(/^drivers\.twin\.options\.tls: transport security cannot be weakened remotely: TLS removed/)] } },
      });
      expect(control.configStatus).toMatchObject({ status: 'rejected', desiredVersion: 2 });
      expect(calls).toEqual(['start twin']);
      expect(control.config.drivers.find((d) => d.name === 'twin')?.options).toMatchObject({ tls });
    });

    it('refuses display users, tokens and viewing from the twin', async () => {
      const { control, metrics } = setup();
      const s = session({ desired: { agentConfig: { display: { viewing: 'open', tokens: [{ name: 'cloud', role: 'clinician', tokenHash: `sha256$${'a'.repeat(64)}` }] } } } });
      control.connected(s);
      await settle(control, () => s.reported.length > 0);
      expect(control.configStatus).toMatchObject({ status: 'rejected' });
      expect(control.configStatus.errors?.map((e) => e.split(':')[0]).sort()).toEqual(['display.tokens', 'display.viewing']);
      expect(metrics.get('control_desired_rejected_total')).toBe(1);
    });

    it('a saved overlay (from an older version) with display identities or a TLS downgrade is not used at start: refused with the reason, logged', () => {
      const overlays: JsonObject[] = [
        { display: { users: [{ name: 'cloudop', role: 'admin', passwordHash: 'scrypt$16384$8$5$c2FsdA$aGFzaA' }], viewing: 'open' } },
        { drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2575 } }] },
      ];
      for (const overlay of overlays) {
        const cap = captureLog();
        const { control } = setup(undefined, OPTS, undefined, cap.log, {
          drivers: [mllp],
          beforeStart: (dir) => saveOverlay(join(dir, 'desired-overlay.json'), { desiredVersion: 3, appliedAt: new Date().toISOString(), overlay }),
        });
        expect(control.configStatus).toMatchObject({ status: 'rejected', source: 'local', errors: [expect.stringMatching(/^saved overlay: (display\.users|drivers\.icu-mllp\.options\.tls): .*cannot be/)] });
        expect(control.config.display.users).toEqual([]);
        expect((control.config.drivers[0]!.options as { tls?: unknown }).tls).toEqual(tls);
        const line = cap.find('saved desired overlay does not fit the local config any more; ignored until the hub sends a new one');
        expect(line?.level).toBeGreaterThanOrEqual(40);
      }
    });

    it('a saved overlay (from an older version) with display.port or display.enabled: those fields are left out at start, warned of, and the rest applied; AGENT_DISPLAY_PORT and the file\'s display stand (review rv91 M5, rv94 H3)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'control-'));
      const raw = { gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, hub: { mode: 'module' }, display: { enabled: true }, drivers: [{ name: 'a', type: 'simulator' }] };
      const local = applyEnvOverrides(validateConfig(raw, registry, 'test'), registry, 'test', { AGENT_DISPLAY_PORT: '8090' });
      for (const display of [{ port: 9090 }, { enabled: false }, { port: 8090, enabled: true }] as JsonObject[]) {
        const overlay = { display, log: { level: 'debug' }, drivers: { b: { type: 'simulator', options: { deviceIdPrefix: 'b-' } } }, alarms: { limits: { beds: { 'b-1': { spo2: { low: 85 } } } } } } as JsonObject;
        saveOverlay(join(dir, 'desired-overlay.json'), { desiredVersion: 3, appliedAt: new Date().toISOString(), overlay });
        const d = decideStartup(local, registry);
        const fields = Object.keys(display).map((f) => `display.${f}`);
        expect(d.step).toMatchObject({ kind: 'use' });
        expect(d.ignored?.map((p) => p.path)).toEqual(fields);
        expect(d.config.display).toMatchObject({ enabled: true, port: 8090 });
        expect(d.config.log.level).toBe('debug');
        expect(d.config.drivers.filter((e) => e.enabled).map((e) => e.name)).toEqual(['a', 'b']);
        expect(d.config.alarms.limits.beds['b-1']).toEqual({ spo2: { low: 85 } });
        // The overlay as the twin gave it is what the start holds (a read of the same twin is the same document).
        expect(d.overlay).toEqual(overlay);
        const cap = captureLog();
        beginStartup(d, cap.log);
        for (const f of fields) {
          const line = cap.find(`saved desired overlay: ${f} from the twin is ignored: this version takes it from the local file only; set it in the local file`);
          expect(line?.level, f).toBe(40);
        }
        rmSync(join(dir, 'desired-overlay.json.starting')); // this start completed
      }
    });

    it('a saved overlay with fields left out: the same twin document read again keeps them left out (applied, not refused), reported; a new change holding them is refused; one without them ends it (review rv94 H3)', async () => {
      const overlay = { display: { port: 9090 }, log: { level: 'debug' } } as JsonObject;
      const changes: string[][] = [];
      const { control, metrics, host } = setup(undefined, OPTS, undefined, log, {
        beforeStart: (dir) => saveOverlay(join(dir, 'desired-overlay.json'), { desiredVersion: 3, appliedAt: new Date().toISOString(), overlay }),
      });
      host.configChanged = (_config, ignored) => void changes.push(ignored.map((p) => p.path));
      expect(control.configStatus).toMatchObject({ status: 'applied', source: 'saved-overlay', ignored: ['display.port'] });
      expect(control.config.log.level).toBe('debug');
      let desired: Record<string, unknown> = { $version: 3, agentConfig: overlay };
      const s = session({ getTwin: async () => ({ desired, reported: { $version: 1 } }) });
      control.connected(s);
      await until(() => s.reported.length > 0);
      expect(control.configStatus).toMatchObject({ status: 'applied', desiredVersion: 3, source: 'twin', ignored: ['display.port'] });
      expect(s.reported.map((r) => (r.config as { ignored?: string[] } | undefined)?.ignored).filter(Boolean).at(-1)).toEqual(['display.port']);
      expect(metrics.get('control_desired_rejected_total')).toBe(0);
      // reloadConfig of the same file and the same twin document: the same answer as the start.
      expect(await control.method('reloadConfig', null)).toMatchObject({ status: 200 });
      expect(control.configStatus).toMatchObject({ status: 'applied', ignored: ['display.port'] });
      // A new change that holds it: refused, the configuration in force (and what it leaves out) stays.
      desired = { $version: 4, agentConfig: { display: { port: 9090 }, log: { level: 'warn' } } };
      control.desiredPatch({ $version: 4, agentConfig: { log: { level: 'warn' } } });
      await until(() => control.configStatus.desiredVersion === 4);
      expect(control.configStatus).toMatchObject({ status: 'rejected', errors: [expect.stringMatching(/^display\.port: .*cannot be changed remotely/)] });
      expect(control.config.log.level).toBe('debug');
      expect(metrics.get('control_desired_rejected_total')).toBe(1);
      // The twin drops it: applied, nothing left out any more.
      control.desiredPatch({ $version: 5, agentConfig: { display: { port: null } } });
      await until(() => control.configStatus.desiredVersion === 5);
      expect(control.configStatus).toMatchObject({ status: 'applied' });
      expect(control.configStatus.ignored).toBeUndefined();
      expect(control.config.log.level).toBe('warn');
      expect(changes.at(-1)).toEqual([]);
      await control.stop();
    });

    it('names the twin\'s drivers by name in what a start would refuse too (review rv91 L3)', async () => {
      const { control } = setup();
      const tlsGone = { certFile: '/nonexistent/c.pem', keyFile: '/nonexistent/k.pem' };
      const s = session({ desired: { agentConfig: { drivers: { central: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2599, tls: tlsGone } } } } } });
      control.connected(s);
      await settle(control, () => s.reported.length > 0);
      expect(control.configStatus).toMatchObject({ status: 'rejected', errors: expect.arrayContaining([expect.stringMatching(/^drivers\.central\.options\.tls\.certFile: cannot read \/nonexistent\/c\.pem/)]) });
    });
  });
});
