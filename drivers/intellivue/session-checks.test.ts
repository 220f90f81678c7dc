// The session's checks on what the monitor sends (review rv66): linked parts lost (M2), a line that delivers only
// damaged frames (M3), the options the monitor grants at association (M4), an MDS Create whose accept was lost (L2),
// single polls not answered, and a reply with a bad absolute time stamp (L1).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../serial/testing.js';
import type { IntellivueDriver } from './index.js';
import { buildPlan, type IntellivueOptions } from './options.js';
import {
  IntellivueFramer, MDS_OBJECT, MOC, NOM_PART_OBJ, POLL_EXT_PERIOD_NU_1SEC, POLL_EXT_PERIOD_RTSA, RORLS, TICKS_PER_MS,
  encodeAbort, encodeAssociationAccept, encodeMdsCreateEvent, encodeMessageFrame, encodePollResult, parseMessage, parseTransportHeader,
  type AssociationParams, type Message,
} from './protocol/index.js';
import { IntellivueSession, type SessionOutput } from './session.js';
import { ACCEPT_ALL, fastOptions, memDriver, numericObs, pollResult } from './test-support.js';

type Poll = Extract<Message, { kind: 'poll-request' }>;

/** A session on fake timers, fed frames directly; what it writes is decoded. */
function session(extra: Partial<IntellivueOptions> = {}) {
  const sent: Message[] = [];
  const outputs: SessionOutput[] = [];
  const counts = new Map<string, number>();
  const logs: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const framer = new IntellivueFramer();
  // The line goes quiet only where a test says: these monitors do not answer polls.
  const plan = buildPlan(fastOptions('/dev/null', { waves: { enabled: false }, quietReassociateMs: 60_000, ...extra }));
  const s = new IntellivueSession(plan, {
    write: async (bytes) => {
      for (const ev of framer.push(bytes)) if (ev.type === 'frame') sent.push(parseMessage(parseTransportHeader(ev.body)));
    },
    output: (o) => void outputs.push(o),
    count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
    log: (level, msg, fields) => void logs.push({ level, msg, fields }),
  });
  const polls = (code?: number) => sent.filter((m): m is Poll => m.kind === 'poll-request' && (code === undefined || m.objType.code === code));
  return {
    s,
    sent,
    outputs,
    logs,
    polls,
    count: (c: string) => counts.get(c) ?? 0,
    warns: (re: RegExp) => logs.filter((l) => l.level === 'warn' && re.test(l.msg)),
    rx: (userData: Buffer) => s.receive(encodeMessageFrame(userData)),
    /** The monitor accepts (with `accept`, unless null: the accept lost) and sends its MDS Create. */
    answer(accept: AssociationParams | null = ACCEPT_ALL) {
      if (accept) s.receive(encodeMessageFrame(encodeAssociationAccept(accept)));
      s.receive(encodeMessageFrame(encodeMdsCreateEvent(1, 0, MDS_OBJECT, [])));
    },
    /** Opens the link, then answer(accept). */
    start(accept: AssociationParams | null = ACCEPT_ALL) {
      s.linkOpened();
      this.answer(accept);
    },
    details: () => outputs.filter((o): o is Extract<SessionOutput, { type: 'state' }> => o.type === 'state').map((o) => o.detail),
  };
}

const part = (invokeId: number, state: number, count: number) =>
  encodePollResult({
    invokeId, extended: false, linked: { state, count },
    reply: { pollNumber: 1, sequenceNo: null, relTime: 0, absTime: null, objType: { partition: NOM_PART_OBJ, code: MOC.VMO_METRIC_NU }, attrGroup: 0, contexts: [] },
  });

afterEach(() => {
  vi.useRealTimers();
});

describe('IntelliVue linked results: a lost last part (M2)', () => {
  it('a first part while a sequence of the same invoke id is open counts as a gap, and is logged', () => {
    const h = session({ listenOnly: true });
    h.s.linkOpened();
    h.rx(part(9, RORLS.FIRST, 1));
    h.rx(part(9, RORLS.NOT_FIRST_NOT_LAST, 2));
    // The LAST part (3) is lost; the next answer comes.
    h.rx(part(9, RORLS.FIRST, 1));
    h.rx(part(9, RORLS.LAST, 2));
    expect(h.count('linked_results')).toBe(4);
    expect(h.count('linked_results_gap')).toBe(1);
    expect(h.warns(/linked result/)).toHaveLength(1);
    expect(h.warns(/linked result/)[0]!.fields).toMatchObject({ invokeId: 9 });
  });

  it('a sequence left open for longer than one poll interval counts as a gap', async () => {
    vi.useFakeTimers();
    const h = session();
    h.start();
    const id = h.polls(MOC.VMO_METRIC_NU).at(-1)!.invokeId;
    h.rx(part(id, RORLS.FIRST, 1)); // its LAST part never comes
    await vi.advanceTimersByTimeAsync(500);
    expect(h.count('linked_results_gap')).toBe(1);
    expect(h.warns(/linked result/)).toHaveLength(1);
    // Counted once, not at every poll after.
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.count('linked_results_gap')).toBe(1);
    h.s.linkClosed();
  });
});

describe('IntelliVue quiet line (M3)', () => {
  for (const [what, chunk] of [
    ['frames with a bad FCS', (() => {
      const f = encodeMessageFrame(part(1, RORLS.FIRST, 1));
      f.writeUInt8(f[f.length - 2]! ^ 0x01, f.length - 2); // FCS broken
      return f;
    })()],
    ['bytes of another protocol', Buffer.from('ALARM PRINTER TEXT\r\n')],
  ] as const) {
    it(`only ${what} for quietReassociateMs: the association is given up and started again`, async () => {
      vi.useFakeTimers();
      const h = session({ quietReassociateMs: 600 });
      h.start();
      expect(h.s.state).toBe('polling');
      for (let i = 0; i < 12; i++) {
        h.s.receive(chunk);
        await vi.advanceTimersByTimeAsync(100);
      }
      expect(h.count('reassociations')).toBe(1);
      expect(h.outputs.some((o) => o.type === 'association-lost')).toBe(true);
      expect(h.warns(/no frame from the monitor for 600 ms/)).toHaveLength(1);
      h.s.linkClosed();
    });
  }
});

describe('IntelliVue association: what the monitor grants (M4)', () => {
  it('wave export not granted: no wave poll, warned once, said in the status detail', async () => {
    vi.useFakeTimers();
    const h = session({ waves: { enabled: true, requestPeriodMs: 1000 } });
    h.start({ ...ACCEPT_ALL, extOptions: POLL_EXT_PERIOD_NU_1SEC });
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.polls(MOC.VMO_METRIC_SA_RT)).toHaveLength(0);
    expect(h.polls(MOC.VMO_METRIC_NU).length).toBeGreaterThan(2);
    expect(h.warns(/monitor does not grant wave export/)).toHaveLength(1);
    expect(h.details().at(-1)).toMatch(/waves not exported by the monitor/);
    expect(h.warns(/extended waves poll not answered/)).toHaveLength(0);
    // Not warned again at the next association.
    h.rx(encodeAbort());
    await vi.advanceTimersByTimeAsync(200);
    expect(h.sent.filter((m) => m.kind === 'association' && m.spdu === 'request')).toHaveLength(2);
    h.answer({ ...ACCEPT_ALL, extOptions: POLL_EXT_PERIOD_NU_1SEC });
    expect(h.s.state).toBe('polling');
    expect(h.warns(/monitor does not grant wave export/)).toHaveLength(1);
    h.s.linkClosed();
  });

  it('extended numerics not granted: numerics by single poll', async () => {
    vi.useFakeTimers();
    const h = session({ numerics: 'extended' });
    h.start({ ...ACCEPT_ALL, extOptions: POLL_EXT_PERIOD_RTSA });
    await vi.advanceTimersByTimeAsync(1000);
    const nu = h.polls(MOC.VMO_METRIC_NU);
    expect(nu.length).toBeGreaterThan(2);
    expect(nu.every((p) => !p.extended)).toBe(true);
    expect(h.warns(/extended numerics/)).toHaveLength(1);
    h.s.linkClosed();
  });

  it('a minimum poll period longer than pollIntervalMs is used, and logged', async () => {
    vi.useFakeTimers();
    const h = session({ pollIntervalMs: 200 });
    h.start({ ...ACCEPT_ALL, minPollPeriodTicks: 1000 * TICKS_PER_MS });
    await vi.advanceTimersByTimeAsync(2100);
    // At 0, 1000 and 2000 ms (not every 200 ms).
    expect(h.polls(MOC.VMO_AL_MON)).toHaveLength(3);
    expect(h.logs.some((l) => /minimum poll period of 1000 ms/.test(l.msg))).toBe(true);
    expect(h.details().at(-1)).toMatch(/every 1000 ms/);
    h.s.linkClosed();
  });
});

describe('IntelliVue association: the accept lost (L2)', () => {
  it('an MDS Create while associating is an implied accept: answered, and polling starts; no second request', async () => {
    vi.useFakeTimers();
    const h = session();
    h.start(null);
    expect(h.s.state).toBe('polling');
    await vi.advanceTimersByTimeAsync(1200); // past associationTimeoutMs (500)
    const kinds = h.sent.map((m) => (m.kind === 'association' ? `assoc-${m.spdu}` : m.kind));
    expect(kinds.filter((k) => k === 'assoc-request')).toHaveLength(1);
    expect(kinds.slice(0, 3)).toEqual(['assoc-request', 'event-result', 'poll-request']);
    expect(h.logs.some((l) => l.level === 'info' && /implied accept/.test(l.msg))).toBe(true);
    h.s.linkClosed();
  });
});

describe('IntelliVue single polls not answered', () => {
  it('are counted each time and warned about once per kind, then summarised', async () => {
    vi.useFakeTimers();
    const h = session();
    h.start();
    await vi.advanceTimersByTimeAsync(1000); // polls at 0, 200, …, 1000 ms
    expect(h.count('polls_unanswered')).toBe(10);
    expect(h.warns(/alarms poll not answered/)).toHaveLength(1);
    expect(h.warns(/numerics poll not answered/)).toHaveLength(1);
    h.s.linkClosed();
  });
});

describe('IntelliVue reply with a bad absolute time stamp (L1)', () => {
  let driver: IntellivueDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('is decoded without it: its numerics kept, with device time from the relative time; the stamp counted and logged', async () => {
    const m = await memDriver();
    driver = m.driver;
    const { link, ctx } = m;
    const reply = pollResult(link.lastPoll(MOC.VMO_METRIC_NU), MOC.VMO_METRIC_NU, [numericObs(0x10, 16770, 70)]);
    // abs_time_stamp: after SPpdu 4, ROapdus 4, RORS 6, ActionResult 10, poll_number 2, rel_time 4.
    Buffer.alloc(8, 0).copy(reply, 30);
    link.rx(reply);
    await waitFor('HR', () => ctx.readings().length > 0);
    const hr = ctx.readings()[0]!;
    expect(hr.value).toBe(70);
    expect(hr.deviceTime).not.toBeNull();
    expect(ctx.counter('parse_errors')).toBe(0);
    expect(ctx.counter('attribute_parse_errors')).toBe(1);
    expect(ctx.logs.some((l) => l.level === 40 && /abs_time_stamp/.test(String(l.msg)))).toBe(true);
  });
});
