// The session in listen-only mode, fed monitor frames directly: it decodes, never writes, and
// notices a lost part of a linked result (counted, logged) while keeping the parts that arrived.
import { describe, expect, it } from 'vitest';
import { ATTR, RORLS, encodeAssociationAccept, encodeMessageFrame, encodePollResult, encodeFloat, Writer } from './protocol/index.js';
import { buildPlan } from './options.js';
import { IntellivueSession, type SessionOutput } from './session.js';

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
