// The control plane against hubs whose twin does not work (review rv148): against the IoT Hub stand-in (real SDK,
// MQTT over TLS), a twin that is never answered (F1) and a hub that closes the connection when the twin is read (F2:
// what IoT Hub's Basic tier, which has no twins or direct methods, is reported to do).
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, logSink, sim } from '../../test/e2e/control-harness.js';

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
  it('after 3 such closes in a row the control plane is off for this run, forwarding goes on, one error names the tier and control.enabled, health shows it', async () => {
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
