// Messages the hub refuses are moved aside (table `refused`), kept across a restart, out of the queue, and can be put
// back with the documented query (review rv87 M1).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Outbox } from './outbox.js';
import { tempDir } from '../../test/support/agent-process.js';

const wrap = (id: string, _s: string, entries: string[]) => JSON.stringify({ messageId: id }).slice(0, -1) + `,"records":[${entries.join(',')}]}`;

describe('Outbox.setAside', () => {
  it('moves an unacknowledged message to `refused`, kept across a restart, and the next message comes up', () => {
    const path = join(tempDir(), 'agent.db');
    let box = new Outbox(path);
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: '{"a":1}' }]);
    const m = box.pack('alarms', 4096, wrap)!;
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: '{"a":2}' }]);
    const next = box.pack('alarms', 4096, wrap)!;
    box.recordAttempt(m.id);
    box.recordAttempt(m.id);
    expect(box.setAside(m.id, 'Connection closed', 1000)).toEqual({ stream: 'alarms', count: 1, attempts: 3 });
    expect(box.setAside(m.id, 'again', 1000)).toBeNull();
    expect(box.nextMessage()?.id).toBe(next.id);
    expect(box.unackedMessages()).toEqual({ alarms: 1, telemetry: 0 });
    box.close();
    box = new Outbox(path);
    expect(box.refusedMessages()).toEqual({ messages: 1, records: 1 });
    expect(box.refusedList()).toEqual([{ id: m.id, stream: 'alarms', count: 1, attempts: 3, createdAt: m.createdAt, refusedAt: 1000, lastError: 'Connection closed', bytes: Buffer.byteLength(m.body) }]);
    expect(box.enforceLimits(1e12, 1e12).refused).toEqual({ messages: 1, records: 1 });
    box.close();
    // The query README gives to send them again (agent stopped): back in the queue with the same id and body.
    const db = new Database(path);
    db.exec(`BEGIN;
INSERT INTO messages (id, stream, first_seq, last_seq, count, created_at, bytes, replay_of, body)
  SELECT id, stream, first_seq, last_seq, count, created_at, bytes, replay_of, body FROM refused;
DELETE FROM refused;
COMMIT;`);
    db.close();
    box = new Outbox(path);
    expect(box.refusedMessages()).toEqual({ messages: 0, records: 0 });
    expect(box.nextMessage()).toMatchObject({ id: m.id, body: m.body, attempts: 0 });
    box.close();
  });

  it('oldestPendingAt: the oldest unsent record or unacknowledged message (not a replay copy)', () => {
    const box = new Outbox(':memory:', { retainAckedMs: 3600_000 });
    expect(box.oldestPendingAt()).toBeNull();
    box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"i":1}' }], 5000);
    expect(box.oldestPendingAt()).toBe(5000);
    const m = box.pack('telemetry', 4096, wrap, 7000)!;
    expect(box.pending('telemetry').records).toBe(0);
    expect(box.oldestPendingAt()).toBe(7000); // packed when it was: records do not keep their own time in a message
    box.acknowledge(m.id);
    expect(box.oldestPendingAt()).toBeNull();
    box.replay(0, Date.now() + 1000);
    expect(box.unackedMessages().telemetry).toBe(1);
    expect(box.oldestPendingAt()).toBeNull();
    box.close();
  });
});
