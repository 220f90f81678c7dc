// The control plane against hubs whose twin does not work (review rv148): against the IoT Hub stand-in (real SDK,
// MQTT over TLS), a twin that is never answered (F1) and a hub that closes the connection when the twin is read (F2:
// what IoT Hub's Basic tier, which has no twins or direct methods, is reported to do).
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, logSink, sim } from '../../test/e2e/control-harness.js';
import { CONTROL_OFF_RETRY } from '../forward/azure.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loud = (sink: ReturnType<typeof logSink>, re: RegExp) => sink.lines.filter((l) => (l.level as number) >= 40 && re.test(String(l.msg)));

describe('a twin that is never answered (review rv148 F1)', () => {
  it('costs the connection once: then kept for telemetry, the twin read again on a growing delay, said once, shown in health; answered again, it clears', async () => {
    h = new Harness('device');
    await h.startHub();
    h.hub.setTwinPolicy({ getAction: 'ignore' });
    const sink = logSink();
    const cfg = h.localConfig([{ name: 'ward-a', ...sim(2) }], { control: { reportIntervalS: 1, resyncIntervalS: 30, twinTimeoutMs: 1000 } });
    const { agent } = await h.startAgent(cfg, sink);
    await sleep(12_000);
    // One recycle (a lost session is mended by it), and no more: the fresh connection's twin went unanswered too.
    expect(h.hub.stats.connects).toBe(2);
    expect(agent.metrics.get('control_twin_recycles_total')).toBe(1);
    // Reads go on, on the kept connection, with growing pauses: 1 s timeout each, then 1, 2, 4 s … (not one a second).
    expect(h.hub.stats.twinGets).toBeGreaterThanOrEqual(3);
    expect(h.hub.stats.twinGets).toBeLessThanOrEqual(6);
    // The recycle's warn and the condition's first warn; no line per read.
    expect(loud(sink, /twin/).length).toBeLessThanOrEqual(2);
    expect(sink.lines.find((l) => /twin goes unanswered/.test(String(l.msg)))).toMatchObject({ level: 40 });
    const hh = agent.health();
    expect(hh.forwarder).toMatchObject({ state: 'connected', control: { state: 'twin-unanswered' } });
    expect(hh.status).toBe('degraded');
    // Telemetry flows on the one connection.
    const before = h.hub.messages.length;
    await sleep(2_000);
    expect(h.hub.messages.length).toBeGreaterThan(before);
    expect(h.hub.stats.connects).toBe(2);
    // The hub answers again: the next read gets through, the condition clears, the reported properties are written.
    h.hub.setTwinPolicy({});
    await h.hub.waitUntil(() => h!.reportedConfig().status !== undefined, 20_000, 'reported properties after the twin answers again');
    expect((agent.health().forwarder as { control?: unknown }).control).toBeUndefined();
    expect(sink.lines.find((l) => /the twin answers again/.test(String(l.msg)))).toMatchObject({ level: 30 });
    expect(h.hub.stats.connects).toBe(2);
  }, 60_000);
});

describe('a hub that closes the connection when the twin is read (review rv148 F2)', () => {
  it('after 3 such closes in a row the control plane is off, forwarding goes on, one error names the tier and control.enabled, health shows it', async () => {
    h = new Harness('device');
    await h.startHub();
    h.hub.setTwinPolicy({ getAction: 'close' });
    const sink = logSink();
    const cfg = h.localConfig([{ name: 'ward-a', ...sim(4) }], {
      hub: { retry: { initialDelayMs: 200, maxDelayMs: 60_000 } },
      control: { reportIntervalS: 1, resyncIntervalS: 30, twinTimeoutMs: 15_000 },
    });
    const { agent } = await h.startAgent(cfg, sink);
    await h.hub.waitUntil(() => (agent.health().forwarder as { control?: { state?: string } }).control?.state === 'off', 15_000, 'control plane off');
    expect(h.hub.stats.twinGets).toBe(3);
    const errors = sink.lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]!.msg)).toMatch(/Basic tier.*control\.enabled: false.*Standard/);
    // Not taken for a second gateway or an early drop.
    expect(sink.lines.filter((l) => /second gateway/.test(String(l.msg)))).toEqual([]);
    await sleep(3_000);
    const connects = h.hub.stats.connects;
    expect(connects).toBeLessThanOrEqual(4);
    const before = h.hub.messages.length;
    await sleep(3_000);
    expect(h.hub.messages.length).toBeGreaterThan(before + 2);
    expect(h.hub.stats.connects).toBe(connects);
    expect(h.hub.stats.twinGets).toBe(3);
    const hh = agent.health();
    expect(hh.forwarder).toMatchObject({ state: 'connected', control: { state: 'off' } });
    expect(hh.status).toBe('degraded');
    expect(hh.store.pending.telemetry).toBeLessThan(200);
  }, 60_000);

  it('a hub that closes connections for another reason (after the twin was read) does not switch the control plane off', async () => {
    h = new Harness('device');
    await h.startHub();
    const sink = logSink();
    const cfg = h.localConfig([{ name: 'ward-a', ...sim(2) }], {
      hub: { retry: { initialDelayMs: 200, maxDelayMs: 1000 } },
      control: { reportIntervalS: 1, resyncIntervalS: 30, twinTimeoutMs: 3000 },
    });
    const { agent } = await h.startAgent(cfg, sink);
    for (let i = 1; i <= 4; i++) {
      await h.hub.waitUntil(() => h!.hub.stats.twinGets >= 2 * i && agent.health().forwarder.state === 'connected', 15_000, `twin read on connection ${i}`);
      await sleep(300);
      h.hub.dropConnections();
    }
    await h.hub.waitUntil(() => h!.hub.stats.twinGets >= 10, 15_000, 'twin read on connection 5');
    expect((agent.health().forwarder as { control?: unknown }).control).toBeUndefined();
    expect(sink.lines.filter((l) => l.level === 50)).toEqual([]);
  }, 60_000);
});

describe('a twin-capable hub that drops connections during the twin read, as when it restarts (review rv150 F1)', () => {
  const saved = { ...CONTROL_OFF_RETRY };
  afterEach(() => void Object.assign(CONTROL_OFF_RETRY, saved));

  it('the switch-off is not final: the twin is tried again after the retry delay, and once read the control plane is back and health ok', async () => {
    CONTROL_OFF_RETRY.firstRetryMs = 3000;
    h = new Harness('device');
    await h.startHub();
    const sink = logSink();
    const cfg = h.localConfig([{ name: 'ward-a', ...sim(2) }], {
      hub: { retry: { initialDelayMs: 200, maxDelayMs: 2000 } },
      control: { reportIntervalS: 1, resyncIntervalS: 30, twinTimeoutMs: 15_000 },
    });
    // The hub is restarting: it accepts connections, answers no twin read yet, and drops its connections.
    h.hub.setTwinPolicy({ getAction: 'ignore' });
    const { agent } = await h.startAgent(cfg, sink);
    for (let i = 1; i <= 3; i++) {
      await h.hub.waitUntil(() => h!.hub.stats.connects >= i && h!.hub.stats.twinGets >= i, 15_000, `twin read pending on connection ${i}`);
      await sleep(300);
      h.hub.dropConnections();
    }
    await h.hub.waitUntil(() => (agent.health().forwarder as { control?: { state?: string } }).control?.state === 'off', 5000, 'control plane off');
    const errors = sink.lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    // The hub is back and serves the twin: read again within the retry delay, control back, health ok.
    h.hub.setTwinPolicy({});
    await h.hub.waitUntil(() => h!.reportedConfig().status !== undefined, 10_000, 'reported properties after the retry');
    expect(h.hub.stats.twinGets).toBeGreaterThan(3);
    await h.hub.waitUntil(() => agent.health().status === 'ok', 5000, 'health ok');
    expect((agent.health().forwarder as { control?: unknown }).control).toBeUndefined();
    // And it works: a desired change is applied.
    const v = h.updateDesired({ agentConfig: { log: { level: 'debug' } } } as never);
    expect(await h.untilConfigVersion(v)).toMatchObject({ status: 'applied' });
    // The switch-off's error: not only the tier but a hub in trouble too, when it is tried again, the Basic tier's fix.
    expect(String(errors[0]!.msg)).toMatch(/Basic tier, or a hub in trouble \(restarting\).*tried again at \S+T\S+Z.*control\.enabled: false.*Standard/);
    expect(sink.lines.filter((l) => l.level === 50)).toHaveLength(1);
  }, 60_000);

  it('a retry the hub closes too keeps it off and the next comes later; closes spread wider than closesWithinMs do not switch it off', async () => {
    CONTROL_OFF_RETRY.firstRetryMs = 1000;
    h = new Harness('device');
    await h.startHub();
    h.hub.setTwinPolicy({ getAction: 'close' });
    const sink = logSink();
    const cfg = h.localConfig([{ name: 'ward-a', ...sim(2) }], {
      hub: { retry: { initialDelayMs: 200, maxDelayMs: 60_000 } },
      control: { reportIntervalS: 1, resyncIntervalS: 30, twinTimeoutMs: 15_000 },
    });
    const { agent } = await h.startAgent(cfg, sink);
    await h.hub.waitUntil(() => (agent.health().forwarder as { control?: { state?: string } }).control?.state === 'off', 15_000, 'control plane off');
    const offAt = Date.now();
    expect(h.hub.stats.twinGets).toBe(3);
    // Retries after 1 s, then 2 s later, then 4 s later: two by 4.5 s, not one a reconnect.
    await sleep(4500);
    expect(h.hub.stats.twinGets).toBe(5);
    expect((agent.health().forwarder as { control?: { state?: string } }).control?.state).toBe('off');
    expect(Date.now() - offAt).toBeLessThan(7000);
    await h.stop();

    // Closes more than closesWithinMs apart: no switch-off.
    CONTROL_OFF_RETRY.closesWithinMs = 300;
    h = new Harness('device');
    await h.startHub();
    h.hub.setTwinPolicy({ getAction: 'close' });
    const sink2 = logSink();
    const { agent: agent2 } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(2) }], {
      hub: { retry: { initialDelayMs: 1000, maxDelayMs: 1000 } },
      control: { reportIntervalS: 1, resyncIntervalS: 30, twinTimeoutMs: 15_000 },
    }), sink2);
    await h.hub.waitUntil(() => h!.hub.stats.twinGets >= 4, 15_000, 'four closes at the twin read');
    expect((agent2.health().forwarder as { control?: unknown }).control).toBeUndefined();
    expect(sink2.lines.filter((l) => l.level === 50)).toEqual([]);
  }, 60_000);
});
