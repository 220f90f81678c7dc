// A poll the monitor refuses with a Remote Operation Error (ROER, rv112 M4): matched to its poll by invoke id, said with
// the poll's kind and the error's name, not taken for an unanswered poll, and an extended one not sent again at every
// poll interval (it is asked again at its next renewal; the health detail says it is refused).
import { describe, expect, it, vi } from 'vitest';
import { IntellivueSession } from './session.js';
import { buildPlan } from './options.js';
import { ACCEPT_ALL, fastOptions } from './test-support.js';
import {
  encodeAssociationAccept, encodeMdsCreateEvent, encodeMessageFrame, encodePollResult, encodeRemoteError, IntellivueFramer, MDS_OBJECT, MOC, NOM_PART_OBJ,
  parseMessage, parseTransportHeader,
} from './protocol/index.js';

describe('IntelliVue session: polls the monitor refuses (remote operation error)', () => {
  it('are logged with their kind and error name, never counted unanswered, and a refused wave poll waits for its renewal', async () => {
    vi.useFakeTimers();
    try {
      const counts = new Map<string, number>();
      const warns: Array<[string, Record<string, unknown> | undefined]> = [];
      const polls: Array<{ invokeId: number; code: number }> = [];
      const framer = new IntellivueFramer();
      // Poll interval 200 ms, wave poll period 1000 ms: renewed every 800 ms.
      const plan = buildPlan(fastOptions('/dev/null', { pollIntervalMs: 200, waves: { enabled: true, requestPeriodMs: 1000 } }));
      const s = new IntellivueSession(plan, {
        write: async (bytes) => {
          for (const ev of framer.push(bytes)) {
            if (ev.type !== 'frame') continue;
            const m = parseMessage(parseTransportHeader(ev.body));
            if (m.kind === 'poll-request') polls.push({ invokeId: m.invokeId, code: m.objType.code });
          }
        },
        output: () => {},
        count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
        log: (level, msg, fields) => void (level === 'warn' && warns.push([msg, fields])),
      });
      s.linkOpened();
      s.receive(encodeMessageFrame(encodeAssociationAccept(ACCEPT_ALL)));
      s.receive(encodeMessageFrame(encodeMdsCreateEvent(1, 0, MDS_OBJECT, [])));
      expect(s.state).toBe('polling');
      // The monitor answers numerics; it refuses waves (no such object class: no wave export) and alarms (access denied).
      let answered = 0;
      const answer = () => {
        for (const p of polls.slice(answered)) {
          if (p.code === MOC.VMO_METRIC_SA_RT) s.receive(encodeMessageFrame(encodeRemoteError(p.invokeId, 0)));
          else if (p.code === MOC.VMO_AL_MON) s.receive(encodeMessageFrame(encodeRemoteError(p.invokeId, 2)));
          else {
            const reply = { pollNumber: 1, sequenceNo: null, relTime: 0, absTime: null, objType: { partition: NOM_PART_OBJ, code: p.code }, attrGroup: 0, contexts: [] };
            s.receive(encodeMessageFrame(encodePollResult({ invokeId: p.invokeId, extended: false, linked: null, reply })));
          }
        }
        answered = polls.length;
      };
      for (let t = 0; t < 2100; t += 10) {
        answer();
        await vi.advanceTimersByTimeAsync(10);
      }
      const waves = polls.filter((p) => p.code === MOC.VMO_METRIC_SA_RT).length;
      const alarms = polls.filter((p) => p.code === MOC.VMO_AL_MON).length;
      // Waves: the first poll and its renewals at 800 and 1600 ms, not one every 200 ms (11 before the fix).
      expect(waves).toBe(3);
      expect(alarms).toBeGreaterThanOrEqual(10); // single polls go on every interval: they keep the association alive
      expect(counts.get('remote_errors')).toBe(waves + alarms);
      expect(counts.get('polls_unanswered')).toBeUndefined();
      expect(warns.filter(([m]) => /not answered/.test(m))).toEqual([]);
      // Each refusal said once per kind, with the poll's kind and the error by name.
      const refusals = warns.filter(([m]) => /refused/.test(m));
      expect(refusals.map(([, f]) => [f?.kind, f?.error])).toEqual([
        ['alarms', 'ACCESS_DENIED'],
        ['waves', 'NO_SUCH_OBJECT_CLASS'],
      ]);
      expect(refusals[1]![0]).toMatch(/the monitor refused the waves poll: NO_SUCH_OBJECT_CLASS \(0\); asked again at its next renewal/);
      // For the health detail.
      expect(s.refusals).toMatch(/waves polls refused by the monitor: NO_SUCH_OBJECT_CLASS/);
      expect(s.refusals).toMatch(/alarms polls refused by the monitor: ACCESS_DENIED/);
      s.linkClosed();
      expect(s.refusals).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a refusal is forgotten once a poll of its kind is answered again', async () => {
    vi.useFakeTimers();
    try {
      const polls: Array<{ invokeId: number; code: number }> = [];
      const framer = new IntellivueFramer();
      const plan = buildPlan(fastOptions('/dev/null', { pollIntervalMs: 200, waves: { enabled: false } }));
      const s = new IntellivueSession(plan, {
        write: async (bytes) => {
          for (const ev of framer.push(bytes)) {
            if (ev.type !== 'frame') continue;
            const m = parseMessage(parseTransportHeader(ev.body));
            if (m.kind === 'poll-request') polls.push({ invokeId: m.invokeId, code: m.objType.code });
          }
        },
        output: () => {},
        count: () => {},
        log: () => {},
      });
      s.linkOpened();
      s.receive(encodeMessageFrame(encodeAssociationAccept(ACCEPT_ALL)));
      s.receive(encodeMessageFrame(encodeMdsCreateEvent(1, 0, MDS_OBJECT, [])));
      await vi.advanceTimersByTimeAsync(10);
      const alarmPoll = () => polls.filter((p) => p.code === MOC.VMO_AL_MON).at(-1)!.invokeId;
      s.receive(encodeMessageFrame(encodeRemoteError(alarmPoll(), 10)));
      expect(s.refusals).toMatch(/alarms polls refused by the monitor: PROCESSING_FAILURE/);
      await vi.advanceTimersByTimeAsync(200);
      const objType = { partition: NOM_PART_OBJ, code: MOC.VMO_AL_MON };
      s.receive(encodeMessageFrame(encodePollResult({ invokeId: alarmPoll(), extended: false, linked: null, reply: { pollNumber: 1, sequenceNo: null, relTime: 0, absTime: null, objType, attrGroup: 0, contexts: [] } })));
      expect(s.refusals).toBeNull();
      s.linkClosed();
    } finally {
      vi.useRealTimers();
    }
  });
});
