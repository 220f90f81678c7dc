// A driver switched off live by the twin, or restarted with other device ids, no longer leaves its devices alarmed
// "no data" and "disconnected" until a restart (review rv120 M1): as a restart with that configuration, the agent
// stops watching them; a device listed in alarms.devices stays expected.
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, logSink, sim } from './control-harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

describe('devices of a driver switched off or restarted live (review rv120 M1)', () => {
  it('are no longer watched: none alarms "no data" or "connection" later, and it is logged; a device listed in alarms.devices stays expected', async () => {
    h = new Harness('device');
    await h.startHub();
    const sink = logSink();
    const ward = (p: string, beds: number) => sim(beds, { deviceIdPrefix: `${p}-mon-`, bedPrefix: `${p.toUpperCase()}-` });
    const local = h.localConfig(
      [
        { name: 'a', ...ward('a', 1) },
        { name: 'b', ...ward('b', 2) },
        { name: 'c', ...ward('c', 2) },
      ],
      { alarms: { devices: { 'b-mon-02': {} } } },
    );
    const { agent } = await h.startAgent(local, sink);
    await h.untilConnected(agent);
    const engine = agent.alarms.engine;
    const sources = () => Object.fromEntries(engine.deviceSources().map((d) => [d.deviceId, d.source]));
    await h.hub.waitUntil(() => ['a-mon-01', 'b-mon-01', 'b-mon-02', 'c-mon-01', 'c-mon-02'].every((id) => id in sources()), 10_000, 'every device heard');

    // b switched off; c restarted with one bed, without c-mon-02.
    const v = h.updateDesired({ agentConfig: { drivers: { b: { enabled: false }, c: { options: { beds: 1 } } } } });
    expect(await h.untilConfigVersion(v)).toMatchObject({ status: 'applied' });
    expect(Object.keys(agent.health().drivers).sort()).toEqual(['a', 'c']);

    // Well past the link ("connection", 10 s after the simulator said it stopped) and silence ("no data", 30 s) times.
    const later = engine.tick(Date.now() + 45_000);
    const raised = (id: string) => later.filter((c) => c.change === 'raised' && c.alarm.deviceId === id).map((c) => c.alarm.key);
    expect(raised('b-mon-01')).toEqual([]);
    expect(raised('c-mon-02')).toEqual([]);
    // Listed in alarms.devices: expected, as after a restart with b off; its link is no longer reported.
    expect(raised('b-mon-02')).toEqual(['tech:b-mon-02:no-data']);
    expect(engine.list().filter((a) => ['b-mon-01', 'c-mon-02'].includes(a.deviceId))).toEqual([]);
    expect(sources()).not.toHaveProperty('b-mon-01');
    expect(sources()).not.toHaveProperty('c-mon-02');

    const lines = sink.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('no longer watching'));
    expect(lines.map((l) => [l.driver, (l.devices as string[]).sort()])).toEqual(
      expect.arrayContaining([
        ['b', ['b-mon-01', 'b-mon-02']],
        ['c', ['c-mon-02']],
      ]),
    );
  }, 60_000);
});
