// The control plane against a fake agent and a fake twin session: recovery from a broken twin channel and
// rollback when a new driver fails to start.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentControl, startupConfig, type ControlHost } from './control.js';
import { NoAnswerError, type ControlSession } from '../forward/azure.js';
import { registry } from '../../drivers/registry.js';
import { validateConfig, type DriverEntry } from '../config/load.js';

const log = pino({ level: 'silent' });
const OPTS = { enabled: true, reportIntervalS: 60, resyncIntervalS: 600, twinTimeoutMs: 1000, diagnosticsMaxBytes: 100_000 };

function setup(failOn?: string, opts = OPTS, failsAgain?: (name: string, calls: readonly string[]) => boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'control-'));
  const local = validateConfig(
    { gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, hub: { mode: 'device', connectionString: 'HostName=h.example.net;DeviceId=gw;SharedAccessKey=a2V5' }, drivers: [{ name: 'a', type: 'simulator' }] },
    registry,
    'test',
  );
  const running = new Set(['a']);
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
  const control = new AgentControl({ host, registry, log, startup: startupConfig(local, registry, log), storePath: local.store.path }, opts);
  return { control, running, calls };
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
});
