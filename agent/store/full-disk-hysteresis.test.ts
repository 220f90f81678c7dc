// The full-disk report (a small store on a disk with less than FULL_DISK_FREE_BYTES free: limitedBy 'disk', fraction 1)
// has hysteresis of its own: free space that hovers around the 2 MiB line (WAL checkpoints, log rotation by another
// program) must not switch the report between full and a fraction of a per cent at every check, which raised and
// resolved the "Gateway store nearly full" alarm again and again (review rv155 F1).
import { expect, it } from 'vitest';
import { Outbox, type OutboxRecord } from './outbox.js';
import { tempDbs } from './test-support.js';

const tempDb = tempDbs('full-disk-hysteresis-');
const MiB = 1024 * 1024;
const numeric = (i: number): OutboxRecord => ({ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ n: i, s: 'y'.repeat(200) }) });

it('once full, a small store stays reported full while free space hovers just above 2 MiB, and leaves it at 4 MiB', () => {
  let free = 1.9 * MiB;
  const box = new Outbox(tempDb(), { freeDiskBytes: () => free });
  try {
    box.append(Array.from({ length: 200 }, (_, i) => numeric(i)));
    const check = () => box.enforceLimits(4 * 2 ** 30, 1e12);
    const seen: string[] = [];
    for (const f of [1.9, 2.1, 1.95, 2.2, 1.9, 3.9, 2.05, 3.99]) {
      free = f * MiB;
      const r = check();
      seen.push(`${f}:${r.limitedBy}:${r.fraction >= 1 ? 'full' : 'not-full'}`);
      expect(r.evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
    }
    expect(seen.filter((s) => !s.endsWith(':disk:full'))).toEqual([]);
    // Clearly back (twice the threshold): the store's real figure again.
    free = 4 * MiB;
    const back = check();
    expect(back).toMatchObject({ limitedBy: 'maxBytes', limitBytes: 4 * 2 ** 30 });
    expect(back.fraction).toBeLessThan(0.01);
    // Under 4 MiB again, but not under 2 MiB: not full (entering needs less than FULL_DISK_FREE_BYTES).
    free = 2.5 * MiB;
    expect(check()).toMatchObject({ limitedBy: 'maxBytes' });
    free = 1.5 * MiB;
    expect(check()).toMatchObject({ limitedBy: 'disk', fraction: 1 });
    expect(box.pending('telemetry').records).toBe(200);
  } finally {
    box.close();
  }
});
