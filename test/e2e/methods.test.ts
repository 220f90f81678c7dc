// Direct methods end to end (stand-in, real SDK): getStatus, reloadConfig, replay, captureDiagnostics, and an
// unknown name, as a device and as an IoT Edge module.
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, MODES, KEY, logSink, sim } from './control-harness.js';
import { messageSchemaErrors } from '../support/message-schema.js';
import { createServer, type AddressInfo } from 'node:net';
import { applyEnvOverrides } from '../../agent/config/load.js';
import { registry } from '../../drivers/registry.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

describe.each(MODES)('direct methods (%s mode)', (mode) => {
  it('getStatus answers with the health; an unknown method gets 404 with a message', async () => {
    h = new Harness(mode);
    await h.startHub();
    const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(2) }]));
    await h.untilConnected(agent);

    const status = await h.invoke('getStatus');
    expect(status.status).toBe(200);
    expect(status.payload).toMatchObject({
      agentVersion: '0.1.0',
      gatewayId: 'test-gw',
      drivers: { 'ward-a': { state: 'running' } },
      forwarder: { state: 'connected' },
      config: { status: 'applied', drivers: ['ward-a'] },
    });

    const unknown = await h.invoke('reboot', { now: true });
    expect(unknown.status).toBe(404);
    expect(unknown.payload).toMatchObject({ error: expect.stringContaining('unknown method "reboot"') });
    // Counted by name and answer; a name not registered (answered by the transport) under one label (review rv68 L1).
    expect(agent.metrics.get('control_methods_total', { method: 'getStatus', status: '200' })).toBe(1);
    expect(agent.metrics.get('control_methods_total', { method: '(unknown)', status: '404' })).toBe(1);
  });

  it('reloadConfig re-reads the file and re-applies the twin overlay; an invalid file is refused with 400 and reasons', async () => {
    h = new Harness(mode);
    await h.startHub();
    const local = h.localConfig([{ name: 'ward-a', ...sim(1) }]);
    const path = h.writeLocal(local);
    const sink = logSink();
    const { agent } = await h.startAgent(local, sink, path);
    await h.untilConnected(agent);
    const v = h.updateDesired({ agentConfig: { drivers: { 'ward-t': sim(1, { deviceIdPrefix: 't-mon-' }) } } });
    await h.untilConfigVersion(v);

    // The file gains a driver: it starts; the twin's driver keeps running untouched.
    h.writeLocal({ ...local, drivers: [...local.drivers, { name: 'ward-f', ...sim(1, { deviceIdPrefix: 'f-mon-' }) }] });
    const ok = await h.invoke('reloadConfig');
    expect(ok.status).toBe(200);
    expect(ok.payload).toMatchObject({ status: 'applied', started: ['ward-f'], stopped: [] });
    expect(Object.keys(agent.health().drivers).sort()).toEqual(['ward-a', 'ward-f', 'ward-t']);
    await h.hub.waitUntil(() => (h!.reportedConfig().drivers ?? []).includes('ward-f'), 10_000, 'reload reported');

    // A broken file: refused with the field named, nothing changes.
    h.writeLocal({ ...local, drivers: [{ name: 'ward-a', ...sim(0) }] });
    const bad = await h.invoke('reloadConfig');
    expect(bad.status).toBe(400);
    expect(bad.payload).toMatchObject({ status: 'rejected', errors: [expect.stringMatching(/^drivers\[0\]\.options\.beds: must be >= 1/)] });
    expect(Object.keys(agent.health().drivers).sort()).toEqual(['ward-a', 'ward-f', 'ward-t']);
  });

  it('reloadConfig applies AGENT_DISPLAY_PORT as the start does: an unchanged file changes nothing (review rv41 §4)', async () => {
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const before = process.env.AGENT_DISPLAY_PORT;
    process.env.AGENT_DISPLAY_PORT = String(port);
    try {
      h = new Harness(mode);
      await h.startHub();
      const local = h.localConfig([{ name: 'ward-a', ...sim(1) }], { display: { enabled: true, host: '127.0.0.1', port: 0 } });
      const path = h.writeLocal(local);
      // As main.ts starts it: the file's config with the variable applied.
      const { agent } = await h.startAgent(applyEnvOverrides(structuredClone(local), registry, path), logSink(), path);
      await h.untilConnected(agent);
      const same = await h.invoke('reloadConfig');
      expect(same.payload).toMatchObject({ status: 'applied', started: [], stopped: [], pendingRestart: [] });
    } finally {
      if (before === undefined) delete process.env.AGENT_DISPLAY_PORT;
      else process.env.AGENT_DISPLAY_PORT = before;
    }
  });

  it('replay resends acknowledged messages of a time range under new ids with replayOf; bad ranges get 400', async () => {
    h = new Harness(mode);
    await h.startHub();
    const from = new Date().toISOString();
    const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(2) }]));
    await h.hub.waitFor((ms) => ms.length >= 3, 15_000);
    await agent.drain(15_000);
    const originals = h.hub.messages.filter((m) => !m.properties.replayOf);
    const ids = new Set(originals.map((m) => m.messageId));

    const r = await h.invoke('replay', { from, to: new Date().toISOString() });
    expect(r.status).toBe(200);
    const { messages } = r.payload as { messages: number; records: number };
    expect(messages).toBe(ids.size);
    const replayed = await h.hub.waitFor((ms) => ms.filter((m) => m.properties.replayOf).length >= messages, 15_000);
    for (const m of replayed.filter((x) => x.properties.replayOf)) {
      expect(ids.has(m.properties.replayOf)).toBe(true);
      // `<original>.r<runId>-<n>`: the run's id keeps a store restored from a backup from reusing a delivered copy's id.
      expect(m.messageId?.startsWith(`${m.properties.replayOf}.r`)).toBe(true);
      expect(m.messageId).toMatch(/\.r[0-9a-f]{8}-1$/);
      const original = originals.find((o) => o.messageId === m.properties.replayOf)!;
      // The body names the copy (so that de-duplication on its messageId keeps it) and the original; the records are the original's.
      const body = JSON.parse(m.body.toString('utf8')) as Record<string, unknown>;
      expect(body).toMatchObject({ messageId: m.messageId, replayOf: m.properties.replayOf });
      expect(messageSchemaErrors(body)).toEqual([]);
      expect({ ...body, messageId: original.messageId, replayOf: undefined }).toEqual(JSON.parse(original.body.toString('utf8')));
    }

    // While a replay's copies are not acknowledged (the hub slow to answer), a second replay (a retry after the
    // caller's timeout) is refused with the reason, and copies nothing.
    h.hub.setPubackPolicy({ drop: true });
    const second = await h.invoke('replay', { from, to: new Date().toISOString() });
    expect(second.status).toBe(200);
    await h.hub.waitFor((ms) => ms.filter((m) => /\.r[0-9a-f]{8}-2$/.test(m.messageId ?? '')).length >= 1, 15_000);
    const third = await h.invoke('replay', { from, to: new Date().toISOString() });
    expect(third).toMatchObject({ status: 409, payload: { error: expect.stringMatching(/messages of an earlier replay are not sent yet: ask again once they are$/) } });
    h.hub.setPubackPolicy({});

    for (const payload of [{ from: 'yesterday' }, { from: new Date().toISOString(), to: from }, 'all']) {
      const bad = await h.invoke('replay', payload);
      expect(bad.status).toBe(400);
      expect(bad.payload).toMatchObject({ error: expect.any(String) });
    }
  });

  it('captureDiagnostics returns a bounded bundle: recent logs, config without secrets, health', async () => {
    h = new Harness(mode);
    await h.startHub();
    const sink = logSink();
    const config = h.localConfig([{ name: 'ward-a', ...sim(1) }], {
      display: { users: [{ name: 'nurse', role: 'clinician', passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA' }] },
    });
    const { agent } = await h.startAgent(config, sink);
    await h.untilConnected(agent);

    const r = await h.invoke('captureDiagnostics');
    expect(r.status).toBe(200);
    const text = JSON.stringify(r.payload);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(100_000);
    const b = r.payload as { logs: { lines: { msg?: string }[]; included: number }; config: { drivers: unknown[]; hub: Record<string, unknown> }; health: { drivers: object } };
    expect(b.logs.included).toBeGreaterThan(3);
    expect(b.logs.lines.some((l) => l.msg === 'driver started')).toBe(true);
    expect(b.config.drivers).toHaveLength(1);
    expect(b.health.drivers).toHaveProperty('ward-a');
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('SharedAccessKey=');
    expect(text).not.toContain('scrypt$');
    if (mode === 'device') expect(b.config.hub.connectionString).toBe('[redacted]');
  });
});
