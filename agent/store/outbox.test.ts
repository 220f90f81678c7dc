import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, RecordTooLargeError, type OutboxRecord, type Stream } from './outbox.js';

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  dirs.push(dir);
  return join(dir, 'agent.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const env = (id: string, stream: Stream, entries: string[]) => `{"id":"${id}","s":"${stream}","r":[${entries.join(',')}]}`;
const rec = (i: number, stream: Stream = 'telemetry', deviceId = 'dev-1'): OutboxRecord => ({
  stream,
  cls: stream === 'alarms' ? 0 : 1,
  deviceId,
  body: JSON.stringify({ i, deviceId }),
});

describe('Outbox', () => {
  it('packs records in arrival order into messages within the size limit', () => {
    const box = new Outbox(tempDb());
    box.append(Array.from({ length: 100 }, (_, i) => rec(i)));
    expect(box.pending('telemetry').records).toBe(100);
    const seen: number[] = [];
    let m;
    while ((m = box.pack('telemetry', 400, env))) {
      expect(Buffer.byteLength(m.body)).toBeLessThanOrEqual(400);
      const parsed = JSON.parse(m.body) as { id: string; r: { i: number }[] };
      expect(parsed.id).toBe(m.id);
      seen.push(...parsed.r.map((r) => r.i));
      expect(m.count).toBe(parsed.r.length);
      box.acknowledge(m.id);
    }
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(box.pending('telemetry')).toEqual({ records: 0, bytes: 0, oldestAt: null });
    box.close();
  });

  it('keeps packed but unacknowledged messages, with the same id and body, across a reopen', () => {
    const path = tempDb();
    const box = new Outbox(path);
    box.append([rec(1), rec(2), rec(3, 'alarms')]);
    const t = box.pack('telemetry', 10_000, env)!;
    box.close();

    const again = new Outbox(path);
    expect(again.storeId).toBe(box.storeId);
    // Alarms are not packed yet; the packed telemetry message is still there, unchanged.
    const next = again.nextMessage()!;
    expect(next.id).toBe(t.id);
    expect(next.body).toBe(t.body);
    expect(again.pending('alarms').records).toBe(1);
    // Packing the alarm puts it ahead of telemetry.
    const a = again.pack('alarms', 10_000, env)!;
    expect(again.nextMessage()!.id).toBe(a.id);
    again.acknowledge(a.id);
    expect(again.nextMessage()!.id).toBe(t.id);
    again.acknowledge(t.id);
    expect(again.nextMessage()).toBeNull();
    again.close();
  });

  it('gives different stores different message ids for the same sequence numbers', () => {
    const a = new Outbox(tempDb());
    const b = new Outbox(tempDb());
    a.append([rec(1)]);
    b.append([rec(1)]);
    expect(a.pack('telemetry', 1000, env)!.id).not.toBe(b.pack('telemetry', 1000, env)!.id);
    a.close();
    b.close();
  });

  it('refuses a record too large to ever send, and commits nothing of that append', () => {
    const box = new Outbox(tempDb(), { maxRecordBytes: 100 });
    const big: OutboxRecord = { ...rec(1), body: JSON.stringify({ x: 'y'.repeat(200) }) };
    expect(() => box.append([rec(0), big])).toThrow(RecordTooLargeError);
    expect(box.pending('telemetry').records).toBe(0);
    box.close();
  });

  it('moves a single record larger than the message target on its own rather than never', () => {
    const box = new Outbox(tempDb());
    box.append([{ ...rec(1), body: JSON.stringify({ x: 'y'.repeat(500) }) }, rec(2)]);
    const m = box.pack('telemetry', 100, env)!;
    expect(m.count).toBe(1);
    box.close();
  });

  it('rebuilds its pending counts from disk when reopened', () => {
    const path = tempDb();
    const box = new Outbox(path);
    box.append([rec(1), rec(2), rec(3, 'alarms')], 1000);
    box.close();
    const again = new Outbox(path);
    expect(again.pending('telemetry')).toMatchObject({ records: 2, oldestAt: 1000 });
    expect(again.pending('alarms').records).toBe(1);
    again.close();
  });
});
