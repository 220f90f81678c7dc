// The session in listen-only mode, fed monitor frames directly: it decodes, never writes, and
// notices a lost part of a linked result (counted, logged) while keeping the parts that arrived.
import { describe, expect, it } from 'vitest';
import { ALERT_TYPE, ATTR, MOC, RORLS, encodeAssociationAccept, encodeMessageFrame, encodePollResult, encodeFloat, encodeReleaseRequest, encodeReleaseResponse, Writer } from './protocol/index.js';
import { fakeContext, waitFor } from '../serial/testing.js';
import { IntellivueDriver } from './index.js';
import { buildPlan } from './options.js';
import { IntellivueSession, type SessionOutput } from './session.js';
import { ACCEPT_ALL, MemLink, alarmMonitor, fastOptions, mdsCreate, pollResult } from './test-support.js';

function harness() {
  const outputs: SessionOutput[] = [];
  const counters = new Map<string, number>();
  const logs: string[] = [];
  const writes: Buffer[] = [];
  const s = new IntellivueSession(buildPlan({ id: 'm', path: '/dev/null', listenOnly: true }), {
    write: async (b) => void writes.push(b),
    output: (o) => outputs.push(o),
    count: (c, by = 1) => counters.set(c, (counters.get(c) ?? 0) + by),
    log: (_l, msg) => logs.push(msg),
  });
  s.linkOpened();
  return { s, outputs, counters, logs, writes };
}

const hr = (v: number) => ({ handle: 16, attributes: [{ id: ATTR.NU_VAL_OBS, value: new Writer().u16(16770).u16(0).u16(0x0aa0).u32(encodeFloat(v)).toBuffer() }] });
const part = (state: number, count: number, v: number) =>
  encodeMessageFrame(
    encodePollResult({
      invokeId: 9, extended: true, linked: { state, count },
      reply: { pollNumber: 1, sequenceNo: 0, relTime: 0, absTime: null, objType: { partition: 1, code: 6 }, attrGroup: 0, contexts: [{ contextId: 0, observations: [hr(v)] }] },
    }),
  );

describe('listen-only session', () => {
  it('decodes association and linked results without writing, and reports a missing linked part', () => {
    const h = harness();
    h.s.receive(encodeMessageFrame(encodeAssociationAccept({ minPollPeriodTicks: 8000, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0, systemType: 0x00800000, startupMode: 0x20000000 })));
    h.s.receive(Buffer.concat([part(RORLS.FIRST, 1, 70), part(RORLS.NOT_FIRST_NOT_LAST, 2, 71), part(RORLS.LAST, 3, 72)]));
    expect(h.counters.get('linked_results')).toBe(3);
    expect(h.counters.get('linked_results_gap')).toBeUndefined();
    h.s.receive(Buffer.concat([part(RORLS.FIRST, 1, 80), part(RORLS.LAST, 3, 82)])); // the middle part was lost
    expect(h.counters.get('linked_results_gap')).toBe(1);
    expect(h.logs.some((m) => /linked result out of sequence/.test(m))).toBe(true);
    expect(h.outputs.filter((o) => o.type === 'reply').length).toBe(5);
    expect(h.outputs.some((o) => o.type === 'associated')).toBe(true);
    expect(h.s.state).toBe('listening');
    expect(h.writes).toEqual([]);
  });

  it('forgets a frame cut short when the link closes', () => {
    const h = harness();
    const frame = part(RORLS.FIRST, 1, 70);
    h.s.receive(frame.subarray(0, 10)); // unplugged mid-frame
    h.s.linkClosed();
    h.s.linkOpened();
    h.s.receive(frame);
    expect(h.counters.get('frames_interrupted')).toBeUndefined();
    expect(h.outputs.filter((o) => o.type === 'reply')).toHaveLength(1);
  });
});

describe('listen-only: the end of the association seen on the monitor line (rv112 M3)', () => {
  it("the monitor's release response (0x0A: the other host released) ends the association: counted, association-lost", () => {
    const h = harness();
    h.s.receive(encodeMessageFrame(encodeAssociationAccept({ minPollPeriodTicks: 8000, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0, systemType: 0x00800000, startupMode: 0x20000000 })));
    h.s.receive(encodeMessageFrame(encodeReleaseResponse()));
    expect(h.counters.get('releases_seen')).toBe(1);
    expect(h.outputs.filter((o) => o.type === 'association-lost')).toEqual([{ type: 'association-lost', detail: 'the other host released its association' }]);
    // Still listening, and the status detail says why nothing comes now.
    expect(h.s.state).toBe('listening');
    expect(h.outputs.filter((o) => o.type === 'state').at(-1)).toMatchObject({ state: 'listening', detail: expect.stringMatching(/other host released its association/) });
    expect(h.writes).toEqual([]);
    // A new association (another host, or the same again) is listened to as before.
    h.s.receive(encodeMessageFrame(encodeAssociationAccept({ minPollPeriodTicks: 8000, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0, systemType: 0x00800000, startupMode: 0x20000000 })));
    expect(h.outputs.filter((o) => o.type === 'state').at(-1)).toMatchObject({ state: 'listening', detail: expect.stringMatching(/^listen-only: decoding monitor traffic/) });
  });

  /** The driver, listen-only on a MemLink: an alarm listed, then `end` on the line; what comes at once and 11 s on. */
  async function afterEnd(end: Buffer) {
    let mono = 0;
    const link = new MemLink();
    const ctx = fakeContext('mem');
    const driver = new IntellivueDriver(buildPlan(fastOptions('/dev/null', { waves: { enabled: false }, listenOnly: true, silenceMs: 0 })), ctx, () => link, Date.now, () => mono);
    await driver.start();
    try {
      await waitFor('listening', () => driver.sessionState === 'listening');
      link.rx(encodeAssociationAccept(ACCEPT_ALL));
      link.rx(mdsCreate());
      link.rx(pollResult(77, MOC.VMO_AL_MON, [alarmMonitor([{ source: 16770, code: 40, type: ALERT_TYPE.HI_PRI_P_AL, text: '***HR high' }])]));
      await waitFor('the alarm', () => ctx.alarms().length === 1);
      link.rx(end);
      await new Promise((r) => setTimeout(r, 50));
      const brief = () => ctx.alarms().map((a) => `${a.phase}${a.endedBy ? `(${a.endedBy})` : ''}:${a.text}`);
      const atOnce = brief();
      mono += 11_000; // past the alarm-list bound (10 s)
      await new Promise((r) => setTimeout(r, 400));
      return { atOnce, later: brief().slice(atOnce.length), ctx };
    } finally {
      await driver.stop();
    }
  }

  it('its alarms end at once as link-lost, and no "alarm information not current" follows (an orderly end, as a release request)', async () => {
    const released = await afterEnd(encodeReleaseResponse());
    expect(released.atOnce).toEqual(['start:***HR high', 'end(link-lost):***HR high']);
    expect(released.later).toEqual([]);
    expect(released.ctx.counter('releases_seen')).toBe(1);
    // The same as when the monitor itself releases.
    const monitorReleased = await afterEnd(encodeReleaseRequest());
    expect(monitorReleased.atOnce).toEqual(released.atOnce);
    expect(monitorReleased.later).toEqual([]);
  });
});
