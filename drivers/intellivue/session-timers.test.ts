// A long, healthy session must not pile up timers: every chunk received re-arms the quiet-line timer.
import { describe, expect, it, vi } from 'vitest';
import { IntellivueSession } from './session.js';
import { buildPlan } from './options.js';
import { fastOptions } from './test-support.js';
import {
  encodeAssociationAccept, encodeMdsCreateEvent, encodeMessageFrame, encodePollResult, encodeRemoteError, IntellivueFramer, MDS_OBJECT, MOC, NOM_PART_OBJ,
  parseMessage, parseTransportHeader,
} from './protocol/index.js';

describe('IntelliVue session timers', () => {
  it('stay a handful however many chunks arrive while polling', () => {
    const plan = buildPlan(fastOptions('/dev/null', { pollIntervalMs: 1000, quietReassociateMs: 5000, waves: { enabled: false } }));
    const s = new IntellivueSession(plan, { write: async () => {}, output: () => {}, count: () => {}, log: () => {} });
    s.linkOpened();
    s.receive(encodeMessageFrame(encodeAssociationAccept({ minPollPeriodTicks: 8000, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0, systemType: 0, startupMode: 0 })));
    s.receive(encodeMessageFrame(encodeMdsCreateEvent(1, 0, MDS_OBJECT, [])));
    expect(s.state).toBe('polling');
    // The set is private; read here only to count what the session holds.
    const timers = (s as unknown as { timers: Set<unknown> }).timers;
    const before = timers.size;
    for (let i = 0; i < 10_000; i++) s.receive(Buffer.from([0x00]));
    expect(timers.size).toBe(before);
    s.linkClosed();
    expect(timers.size).toBe(0);
  });
});

describe('IntelliVue session: troubles repeated at every poll', () => {
  it('remote errors and messages not understood are counted each time, warned about once, then summarised', () => {
    let now = Date.UTC(2026, 0, 1);
    const counts = new Map<string, number>();
    const warns: Array<[string, Record<string, unknown> | undefined]> = [];
    const plan = buildPlan(fastOptions('/dev/null', { waves: { enabled: false } }));
    const s = new IntellivueSession(plan, {
      write: async () => {},
      output: () => {},
      count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
      log: (level, msg, fields) => void (level === 'warn' && warns.push([msg, fields])),
      now: () => now,
    });
    const accept = () => s.receive(encodeMessageFrame(encodeAssociationAccept({ minPollPeriodTicks: 8000, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0, systemType: 0, startupMode: 0 })));
    s.linkOpened();
    accept();
    s.receive(encodeMessageFrame(encodeMdsCreateEvent(1, 0, MDS_OBJECT, [])));
    const roer = encodeRemoteError(5, 3);
    const cut = roer.subarray(0, roer.length - 3); // says 6 bytes of error, holds 3: cannot be read
    const both = (n: number) => {
      for (let i = 0; i < n; i++) {
        s.receive(encodeMessageFrame(roer));
        s.receive(encodeMessageFrame(cut));
      }
    };
    const lines = (re: RegExp) => warns.filter(([m]) => re.test(m));
    both(50); // a monitor that errs at every poll, for 50 polls
    expect(counts.get('remote_errors')).toBe(50);
    expect(counts.get('parse_errors')).toBe(50);
    expect(lines(/^intellivue remote operation error/)).toHaveLength(1);
    expect(lines(/^intellivue message not understood/)).toHaveLength(1);
    expect(lines(/^intellivue remote operation error/)[0]![1]).toMatchObject({ invokeId: 5, errorValue: 3 });
    // Ten minutes on: one summary each, with the count since the last line.
    now += 10 * 60_000;
    both(3);
    expect(lines(/^intellivue remote operation error: 50 more since the last line, 51 since/)).toHaveLength(1);
    expect(lines(/^intellivue message not understood: 50 more/)).toHaveLength(1);
    // A new association says it again at once.
    accept();
    both(1);
    expect(lines(/^intellivue remote operation error \(repeats/)).toHaveLength(2);
    expect(counts.get('remote_errors')).toBe(54);
    s.linkClosed();
  });
});

describe('IntelliVue session: late answers to single polls', () => {
  it('an answer after the next poll was sent is used until a newer poll has answered, then dropped as superseded, never unexpected', async () => {
    vi.useFakeTimers();
    try {
      const counts = new Map<string, number>();
      const replies: number[] = [];
      const alarmPolls: number[] = [];
      const framer = new IntellivueFramer();
      const plan = buildPlan(fastOptions('/dev/null', { pollIntervalMs: 200, waves: { enabled: false } }));
      const s = new IntellivueSession(plan, {
        write: async (bytes) => {
          for (const ev of framer.push(bytes)) {
            if (ev.type !== 'frame') continue;
            const m = parseMessage(parseTransportHeader(ev.body));
            if (m.kind === 'poll-request' && m.objType.code === MOC.VMO_AL_MON) alarmPolls.push(m.invokeId);
          }
        },
        output: (o) => void (o.type === 'reply' && replies.push(o.invokeId)),
        count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
        log: () => {},
      });
      const objType = { partition: NOM_PART_OBJ, code: MOC.VMO_AL_MON };
      const answer = (invokeId: number) =>
        s.receive(encodeMessageFrame(encodePollResult({ invokeId, extended: false, linked: null, reply: { pollNumber: 1, sequenceNo: null, relTime: 0, absTime: null, objType, attrGroup: 0, contexts: [] } })));
      s.linkOpened();
      // The monitor grants the 200 ms poll period asked for (a longer one would be used: review rv66 M4).
      s.receive(encodeMessageFrame(encodeAssociationAccept({ minPollPeriodTicks: 1600, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0, systemType: 0, startupMode: 0 })));
      s.receive(encodeMessageFrame(encodeMdsCreateEvent(1, 0, MDS_OBJECT, [])));
      await vi.advanceTimersByTimeAsync(250); // the second alarm poll goes out, the first not answered yet
      const [a1, a2] = alarmPolls as [number, number];
      answer(a1); // late: nothing newer has answered, so it is used
      answer(a2);
      await vi.advanceTimersByTimeAsync(400); // two more
      const [, , a3, a4] = alarmPolls as [number, number, number, number];
      answer(a4);
      answer(a3); // after a newer poll's answer: older data, dropped
      answer(0x7777); // a poll nobody sent
      expect(replies).toEqual([a1, a2, a4, 0x7777]);
      expect(counts.get('superseded_results')).toBe(1);
      expect(counts.get('unexpected_results')).toBe(1);
      s.linkClosed();
    } finally {
      vi.useRealTimers();
    }
  });
});
