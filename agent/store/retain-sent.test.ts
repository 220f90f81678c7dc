// Acknowledged messages kept for replay (store.retainSentHours) are aged by the time that passed, as unsent rows and
// messages set aside are: a forward step of the wall clock (NTP after a boot with a stale clock) must not delete the
// replay window at the next check (review rv152 R2).
import { describe, expect, it, vi } from 'vitest';
import { Outbox, type Stream } from './outbox.js';
import { tempDbs } from './test-support.js';

const tempDb = tempDbs('retain-sent-');
const env = (id: string, s: Stream, entries: string[]) => `{"id":"${id}","s":"${s}","r":[${entries.join(',')}]}`;
const DAY = 24 * 3600_000;
const MAX_BYTES = 4 * 2 ** 30;

/** Appends, packs and acknowledges one telemetry message at `at`; its id. */
function sent(box: Outbox, at: number, i = 1): string {
  box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i }) }], at);
  const m = box.pack('telemetry', 65536, env, at)!;
  box.acknowledge(m.id, at);
  return m.id;
}

describe('acknowledged messages kept for replay, under a step of the wall clock', () => {
  it('acknowledged under a clock 3 days behind, still kept (and replayed) at a check a moment later with the clock stepped forward', () => {
    const real = Date.now();
    const stale = real - 3 * DAY; // the gateway's clock at boot, 3 days behind
    const clock = vi.spyOn(Date, 'now').mockReturnValue(stale);
    try {
      const box = new Outbox(tempDb(), { retainAckedMs: DAY });
      sent(box, stale);
      box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"unsent":1}' }], stale);
      expect(box.enforceLimits(MAX_BYTES, 7 * DAY, stale + 1000).trimmedAcked).toBe(0);
      // NTP steps the clock 3 days forward; the next check runs moments later by the time that passed.
      clock.mockReturnValue(real);
      const r = box.enforceLimits(MAX_BYTES, 7 * DAY);
      expect(r.trimmedAcked).toBe(0);
      expect(r.retainedBytes).toBeGreaterThan(0);
      expect(box.pending('telemetry').records).toBe(1); // the unsent record of the same moment, as before
      expect(box.replay(stale - 60_000, stale + 60_000)).toEqual({ messages: 1, records: 1 });
      box.close();
    } finally {
      clock.mockRestore();
    }
  });

  it('still trims a message acknowledged longer ago than retainSentHours by the time that passed, whatever the clock says', async () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 200 });
    const t = Date.now();
    sent(box, t);
    // Stepped 3 days forward at once: 200 ms have not passed.
    expect(box.enforceLimits(MAX_BYTES, 7 * DAY, t + 3 * DAY).trimmedAcked).toBe(0);
    await new Promise((r) => setTimeout(r, 400));
    const r = box.enforceLimits(MAX_BYTES, 7 * DAY, t + 3 * DAY);
    expect(r.trimmedAcked).toBe(1);
    expect(r.retainedBytes).toBe(0);
    box.close();
  });

  it('a message acknowledged after the step, on the new clock, is aged from there', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: DAY });
    const t = Date.now();
    sent(box, t + 3 * DAY, 1);
    expect(box.enforceLimits(MAX_BYTES, 7 * DAY, t + 3 * DAY).trimmedAcked).toBe(0);
    expect(box.enforceLimits(MAX_BYTES, 7 * DAY, t + 4 * DAY + 1000).trimmedAcked).toBe(1);
    box.close();
  });

  it('after a restart, messages acknowledged in an earlier run are aged by the wall clock, as before', () => {
    const path = tempDb();
    const real = Date.now();
    const stale = real - 3 * DAY;
    const clock = vi.spyOn(Date, 'now').mockReturnValue(stale);
    try {
      const earlier = new Outbox(path, { retainAckedMs: DAY });
      sent(earlier, stale);
      earlier.close();
      clock.mockReturnValue(real);
      const box = new Outbox(path, { retainAckedMs: DAY });
      const r = box.enforceLimits(MAX_BYTES, 7 * DAY);
      expect(r.trimmedAcked).toBe(1);
      expect(box.replay(stale - 60_000, stale + 60_000)).toEqual({ messages: 0, records: 0 });
      box.close();
    } finally {
      clock.mockRestore();
    }
  });
});
