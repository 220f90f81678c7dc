// A poll the monitor refuses with a Remote Operation Error (ROER, rv112 M4): matched to its poll by invoke id, said with
// the poll's kind and the error's name, not taken for an unanswered poll, and an extended one refused for its
// configuration (or the same way 3 times in a row) not sent again at every poll interval (it is asked again at its next
// renewal; the health detail says it is refused); any other refusal of one is asked again after one interval (rv116 M3).
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

// rv116 M3: a refused extended poll waited for its next renewal whatever the error, so one transient refusal of a
// renewal (PROCESSING_FAILURE) left no extended numerics or wave poll in force for period - 2 intervals (8 s at the
// defaults). Only configuration errors (NO_SUCH_OBJECT_CLASS, ACCESS_DENIED) or the same refusal three times in a row
// wait for the renewal; any other is asked again after one interval, and no later than the running poll's period ends.
type MonitorReply = 'answer' | { error: number; afterMs?: number };

/**
 * Plays a monitor for `ms` ms (10 ms steps) with numerics by extended poll (interval 200 ms, period 2000 ms, renewed
 * every 1800 ms) and no waves, unless `extra` says otherwise. `reply` is asked for each poll: extended polls of one
 * object type are numbered from 0 (`n`); single polls are answered.
 */
async function playMonitor(reply: (p: { code: number; n: number }) => MonitorReply, ms = 6000, extra: Partial<Parameters<typeof fastOptions>[1]> = {}) {
  vi.useFakeTimers();
  const t0 = Date.now();
  const polls: Array<{ invokeId: number; code: number; extended: boolean; at: number; n: number; reply: MonitorReply }> = [];
  const counts = new Map<string, number>();
  const warns: string[] = [];
  const framer = new IntellivueFramer();
  const s = new IntellivueSession(buildPlan(fastOptions('/dev/null', { numerics: 'extended', waves: { enabled: false }, ...extra })), {
    write: async (bytes) => {
      for (const ev of framer.push(bytes)) {
        if (ev.type !== 'frame') continue;
        const m = parseMessage(parseTransportHeader(ev.body));
        if (m.kind !== 'poll-request') continue;
        const n = m.extended ? polls.filter((p) => p.extended && p.code === m.objType.code).length : 0;
        const p = { invokeId: m.invokeId, code: m.objType.code, extended: m.extended, at: Date.now() - t0, n };
        polls.push({ ...p, reply: m.extended ? reply(p) : 'answer' });
      }
    },
    output: () => {},
    count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
    log: (level, msg) => void (level === 'warn' && warns.push(msg)),
  });
  try {
    s.linkOpened();
    s.receive(encodeMessageFrame(encodeAssociationAccept(ACCEPT_ALL)));
    s.receive(encodeMessageFrame(encodeMdsCreateEvent(1, 0, MDS_OBJECT, [])));
    const done = new Set<number>();
    for (let t = 0; t < ms; t += 10) {
      for (const p of polls) {
        if (done.has(p.invokeId) || Date.now() - t0 < p.at + (p.reply === 'answer' ? 0 : (p.reply.afterMs ?? 0))) continue;
        done.add(p.invokeId);
        if (p.reply !== 'answer') s.receive(encodeMessageFrame(encodeRemoteError(p.invokeId, p.reply.error)));
        else {
          const answer = { pollNumber: 1, sequenceNo: null, relTime: 0, absTime: null, objType: { partition: NOM_PART_OBJ, code: p.code }, attrGroup: 0, contexts: [] };
          s.receive(encodeMessageFrame(encodePollResult({ invokeId: p.invokeId, extended: p.extended, linked: null, reply: answer })));
        }
      }
      await vi.advanceTimersByTimeAsync(10);
    }
    const refusals = s.refusals;
    s.linkClosed();
    const ext = polls.filter((p) => p.extended && p.code === MOC.VMO_METRIC_NU);
    // The longest time with no extended numerics poll in force: each answered one covers its period (2000 ms).
    let gap = 0;
    let coveredTo = ext[0]?.at ?? 0;
    for (const p of ext.filter((q) => q.reply === 'answer')) {
      gap = Math.max(gap, p.at - coveredTo);
      coveredTo = p.at + 2000;
    }
    return { at: ext.map((p) => p.at), gap, counts, warns, refusals, polls };
  } finally {
    vi.useRealTimers();
  }
}

describe('IntelliVue session: a refused extended poll (rv116 M3)', () => {
  it('a renewal refused once with a transient error (PROCESSING_FAILURE) is asked again after one interval: no gap in polls in force', async () => {
    const r = await playMonitor(({ n }) => (n === 1 ? { error: 10 } : 'answer'));
    expect(r.at.slice(0, 3)).toEqual([0, 1800, 2000]); // waited for the next renewal (3600) before the fix
    expect(r.gap).toBeLessThanOrEqual(200); // 1600 ms before the fix (8 s at the 1 s default interval)
    expect(r.counts.get('polls_unanswered')).toBeUndefined();
    expect(r.warns.find((m) => /refused the numerics poll/.test(m))).toMatch(/PROCESSING_FAILURE \(10\); asked again in 200 ms/);
  });

  it('the first extended poll refused at association with a transient error is asked again after one interval', async () => {
    const r = await playMonitor(({ n }) => (n === 0 ? { error: 10 } : 'answer'), 1000);
    expect(r.at.slice(0, 2)).toEqual([0, 200]); // 1800 before the fix
  });

  it('a late transient refusal is asked again no later than the running poll period ends', async () => {
    // The renewal (sent at 1800) is refused 150 ms later: one interval on (2150) the running poll (0 + 2000) has ended.
    const r = await playMonitor(({ n }) => (n === 1 ? { error: 10, afterMs: 150 } : 'answer'), 3000);
    expect(r.at.slice(0, 3)).toEqual([0, 1800, 2000]);
    expect(r.gap).toBe(0);
  });

  it('a refusal that comes after the poll was sent again as unanswered sends nothing more', async () => {
    // Refused 250 ms after it was sent: the answer check (one interval) has sent it again already at 2000.
    const r = await playMonitor(({ n }) => (n === 1 ? { error: 10, afterMs: 250 } : 'answer'), 3000);
    expect(r.at).toEqual([0, 1800, 2000]);
  });

  it.each([
    ['NO_SUCH_OBJECT_CLASS', 0],
    ['ACCESS_DENIED', 2],
  ])('a renewal refused with %s (configuration) still waits for the next renewal', async (name, error) => {
    const r = await playMonitor(({ n }) => (n === 1 ? { error } : 'answer'), 4000);
    expect(r.at).toEqual([0, 1800, 3600]);
    expect(r.warns.find((m) => /refused the numerics poll/.test(m))).toMatch(new RegExp(`${name} \\(${error}\\); asked again at its next renewal \\(every 1800 ms\\)`));
  });

  it('the same transient refusal three times in a row waits for the renewal from then on', async () => {
    const r = await playMonitor(() => ({ error: 10 }), 6000);
    // Asked again after one interval twice, then at each renewal (not every 200 ms: about 30 polls).
    expect(r.at).toEqual([0, 200, 400, 2200, 4000, 5800]);
    expect(r.refusals).toBe('numerics polls refused by the monitor: PROCESSING_FAILURE (asked again at each renewal)');
    expect(r.counts.get('polls_unanswered')).toBeUndefined();
  });

  it('a monitor that refuses every wave poll with a non-configuration error is not polled for waves every interval (rv112 M4)', async () => {
    const r = await playMonitor(({ code }) => (code === MOC.VMO_METRIC_SA_RT ? { error: 10 } : 'answer'), 4000, { numerics: 'single', waves: { enabled: true, requestPeriodMs: 1000 } });
    const waves = r.polls.filter((p) => p.code === MOC.VMO_METRIC_SA_RT).map((p) => p.at);
    // The first goes out when the pacer lets it (after the association's frames); then two retries one interval after
    // each refusal, then one at each renewal (every 800 ms), not one every 200 ms.
    expect(waves.slice(1).map((at, i) => Math.round((at - waves[i]!) / 100) * 100)).toEqual([200, 200, 800, 800, 800, 800]);
  });

  it('an answer ends a run of refusals: a renewal refused once at every renewal is each time asked again after one interval', async () => {
    // Every renewal's first attempt is refused (odd n), its retry answered.
    const r = await playMonitor(({ n }) => (n % 2 === 1 ? { error: 10 } : 'answer'), 7900);
    expect(r.at).toEqual([0, 1800, 2000, 3800, 4000, 5800, 6000, 7800]);
    expect(r.gap).toBe(0);
  });
});
