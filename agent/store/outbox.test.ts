import { closeSync, copyFileSync, existsSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { IDEMPOTENCY_TTL_MS, Outbox, RecordTooLargeError, RefusedReader, REPLAY_MAX_BYTES, ReplayRefusedError, STORE_CACHE_KIB, STORE_FORMAT, StoreFormatError, StoreInUseError, toRows, type LimitsReport, type OpenedOutbox, type OutboxRecord, type Stream } from './outbox.js';
import { encodeSamples } from './samples.js';
import { toRecord } from '../ingest.js';
import type { DriverEvent } from '../model/reading.js';
import { MDC, UNITS } from '../model/mdc.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { PACKAGE_ROOT } from '../paths.js';
import { envelope, schemaVersionOf } from '../forward/wire.js';
import { expandCompact } from '../forward/compact.js';
import { tempDbs } from './test-support.js';

/**
 * enforceLimits() called again until its eviction is done (report.more false), as the agent does: the last report,
 * with every call's evictions added up (these tests are about what is evicted, not in how many slices).
 */
function enforceAll(box: Outbox, maxBytes: number, maxAgeMs: number, now?: number): LimitsReport {
  const evicted: LimitsReport['evicted'] = { 0: 0, 1: 0, 2: 0 };
  let evictedFor: LimitsReport['evictedFor'] = null;
  let reserveReleased = false;
  for (let i = 0; ; i++) {
    if (i > 10_000) throw new Error('the eviction never ends');
    const r = box.enforceLimits(maxBytes, maxAgeMs, now);
    for (const c of [0, 1, 2] as const) evicted[c] += r.evicted[c];
    evictedFor ??= r.evictedFor;
    reserveReleased ||= r.reserveReleased;
    if (!r.more) return { ...r, evicted, evictedFor, reserveReleased };
  }
}

const tempDb = tempDbs('outbox-');

const env = (id: string, stream: Stream, entries: string[]) => `{"id":"${id}","s":"${stream}","r":[${entries.join(',')}]}`;
const rec = (i: number, stream: Stream = 'telemetry', deviceId = 'dev-1'): OutboxRecord => ({
  stream,
  cls: stream === 'alarms' ? 0 : 1,
  deviceId,
  body: JSON.stringify({ i, deviceId }),
});

/** Numeric records of one device, as ingest writes them (compact packs these smaller than v1). */
function numerics(n: number): OutboxRecord[] {
  const origin = { deviceId: 'mon-1', bed: 'ICU-1', source: 'ward-sim', receivedAt: 1000, quality: { state: 'valid' as const } };
  return Array.from({ length: n }, (_, i) => toRecord({ kind: 'numeric', ...origin, mdc: MDC.ECG_HEART_RATE, value: 60 + i, unit: UNITS.BEAT_PER_MIN, deviceTime: 1000 + i * 1000 }, false)!);
}

// The published message schemas (agent/forward/schema/), as a consumer validates with them.
const schemaDir = join(PACKAGE_ROOT, 'agent/forward/schema');
const ajv = new Ajv({ allErrors: true, strict: false });
// ajv-formats is CommonJS; its default export arrives as the module namespace under NodeNext.
(addFormats as unknown as { default: (a: Ajv) => void }).default(ajv);
const validateV1 = ajv.compile(JSON.parse(readFileSync(join(schemaDir, 'message-v1.schema.json'), 'utf8')) as object);
const validateV2 = ajv.compile(JSON.parse(readFileSync(join(schemaDir, 'message-v2.schema.json'), 'utf8')) as object);
function schemaErrors(body: Record<string, unknown>): unknown[] {
  const validate = body.schemaVersion === 2 ? validateV2 : validateV1;
  return validate(body) ? [] : (validate.errors ?? []);
}

describe('Outbox', () => {
  it('keeps SQLite\'s page cache at STORE_CACHE_KIB, not the 16 MB better-sqlite3 builds SQLite with (RSS at 128 beds)', () => {
    const box = new Outbox(tempDb());
    // The connection is private: read through a cast, as only this setting is asked for.
    const db = (box as unknown as { db: { pragma(sql: string, o: { simple: true }): unknown } }).db;
    expect(db.pragma('cache_size', { simple: true })).toBe(-STORE_CACHE_KIB);
    expect(STORE_CACHE_KIB).toBeLessThan(16000);
    box.close();
  });

  it('packs records in arrival order into messages within the size limit', () => {
    // One record per row (rowMaxBytes 0): rows must stay under half the message size, and 400 bytes is tiny.
    const box = new Outbox(tempDb(), { rowMaxBytes: 0 });
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

  it('never packs a message under an id already delivered, even from a store restored from a backup; resends keep their id after a crash', () => {
    const path = tempDb();
    const backup = join(dirname(path), 'backup.db');
    // Every id the hub took, with its body: consumers de-duplicate on it (docs/cloud-consumers.md).
    const delivered = new Map<string, string>();
    const sendAll = (box: Outbox, from: number, to: number) => {
      for (let i = from; i < to; i++) {
        box.append([rec(i)]);
        const m = box.pack('telemetry', 10_000, env)!;
        expect(delivered.get(m.id), `${m.id} was delivered before with other records`).toBeUndefined();
        delivered.set(m.id, m.body);
        box.acknowledge(m.id);
      }
    };
    let box = new Outbox(path);
    sendAll(box, 0, 3);
    box.close();
    copyFileSync(path, backup); // a clean stop leaves agent.db alone holding everything
    box = new Outbox(path);
    sendAll(box, 3, 6);
    box.close();
    // The disk is replaced and the backup restored, as the deploy guide says: the seq counter is back at 3.
    for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
    copyFileSync(backup, path);
    box = new Outbox(path);
    sendAll(box, 6, 9);

    // Killed (kill -9) with a message packed and not acknowledged: the files as they are on disk at that moment.
    box.append([rec(9)]);
    const inFlight = box.pack('telemetry', 10_000, env)!;
    const crashed = join(dirname(path), 'crashed.db');
    for (const s of ['', '-wal']) copyFileSync(path + s, crashed + s);
    box.close();
    const after = new Outbox(crashed);
    // The restart resends it under the same id, with the same body, so consumers can drop the copy they may have.
    expect(after.nextMessage()).toMatchObject({ id: inFlight.id, body: inFlight.body });
    after.acknowledge(inFlight.id);
    sendAll(after, 10, 12);
    after.close();
    expect(delivered.size).toBe(11);
  });

  it('refuses a record too large to ever send, and commits nothing of that append', () => {
    const box = new Outbox(tempDb(), { maxRecordBytes: 100 });
    const big: OutboxRecord = { ...rec(1), body: JSON.stringify({ x: 'y'.repeat(200) }) };
    expect(() => box.append([rec(0), big])).toThrow(RecordTooLargeError);
    expect(box.pending('telemetry').records).toBe(0);
    box.close();
  });

  it('keeps open-alarm notes across a reopen: the latest per alarm, gone when cleared', () => {
    const path = tempDb();
    let box = new Outbox(path);
    box.setOpenAlarmNotes(new Map([['a-1', '{"n":1}'], ['a-2', '{"n":2}']]));
    box.setOpenAlarmNotes(new Map([['a-1', null], ['a-2', '{"n":2.1}']]));
    box.close();
    box = new Outbox(path);
    expect(box.openAlarmNotes()).toEqual(new Map([['a-2', '{"n":2.1}']]));
    box.clearOpenAlarmNotes(['a-2', 'a-9']);
    expect(box.openAlarmNotes().size).toBe(0);
    box.close();
  });

  it('moves a single record larger than the message target on its own rather than never', () => {
    const box = new Outbox(tempDb(), { rowMaxBytes: 0 });
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

describe('Outbox retention and replay', () => {
  it('keeps acknowledged messages for replay, re-queued under new ids that name the original', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 3600_000 });
    box.append([rec(1), rec(2)], 1000);
    const m = box.pack('telemetry', 10_000, env, 1000)!;
    box.acknowledge(m.id, 1500);
    expect(box.nextMessage()).toBeNull();
    expect(box.unackedMessages().telemetry).toBe(0);

    expect(box.replay(0, 500)).toEqual({ messages: 0, records: 0 });
    expect(box.replay(900, 1100)).toEqual({ messages: 1, records: 2 });
    const copy = box.nextMessage()!;
    expect(copy.id).toBe(`${m.id}.r${box.runId}-2`);
    expect(copy.replayOf).toBe(m.id);
    box.acknowledge(copy.id, 1600);
    // A second replay of the same range makes a fresh copy, still naming the original.
    expect(box.replay(900, 1100)).toEqual({ messages: 1, records: 2 });
    expect(box.nextMessage()).toMatchObject({ id: `${m.id}.r${box.runId}-3`, replayOf: m.id });
    box.close();
  });

  /** A store whose one message, of one record packed at `at`, the hub acknowledged 500 ms later. */
  function sentOnce(box: Outbox, at = 1000, seq = 1) {
    box.append([rec(seq)], at);
    const m = box.pack('telemetry', 10_000, env, at)!;
    box.acknowledge(m.id, at + 500);
    return m;
  }

  it('refuses a replay while an earlier one is not all sent, and a range holding more than REPLAY_MAX_BYTES', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 3600_000 });
    sentOnce(box);
    expect(box.replay(900, 1100)).toEqual({ messages: 1, records: 1 });
    // A retry after the caller timed out must not copy it all again.
    expect(() => box.replay(900, 1100)).toThrow(new ReplayRefusedError('1 messages of an earlier replay are not sent yet: ask again once they are'));
    box.acknowledge(box.nextMessage()!.id, 1600);
    expect(box.replay(900, 1100)).toEqual({ messages: 1, records: 1 });
    box.acknowledge(box.nextMessage()!.id, 1700);
    // Sent messages of ~190 kB each, beyond the bound in all: refused with the size, nothing copied.
    const big = 'x'.repeat(190_000);
    const n = Math.ceil(REPLAY_MAX_BYTES / 190_000) + 1;
    for (let i = 0; i < n; i++) {
      box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, big }) }], 5000 + i);
      const m = box.pack('telemetry', 256_000, env, 5000 + i)!;
      box.acknowledge(m.id, 5000 + i);
    }
    expect(() => box.replay(5000, 5000 + n)).toThrow(/^the range holds \d+ MB of sent messages, more than the 32 MB one replay may copy: ask for a shorter range$/);
    expect(box.nextMessage()).toBeNull();
    expect(box.replay(5000, 5001)).toEqual({ messages: 2, records: 2 });
    box.close();
  });

  /** `n` sent messages of ~190 kB each, packed (and acknowledged) at 5000 + i. */
  function sentLarge(box: Outbox, n: number) {
    const big = 'x'.repeat(190_000);
    for (let i = 0; i < n; i++) {
      box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, big }) }], 5000 + i);
      box.acknowledge(box.pack('telemetry', 256_000, env, 5000 + i)!.id, 5000 + i);
    }
  }

  it('refuses plainly a replay whose copy the disk has no room for, beyond what the store keeps free (review rv100 L1)', () => {
    // 12 MiB free: after the 2 MiB for SQLite's files and the 8 MiB headroom, ~2 MB to write the copy to the WAL and
    // then into the database file.
    const box = new Outbox(tempDb(), { retainAckedMs: 3600_000, freeDiskBytes: () => 12 * 2 ** 20 });
    sentLarge(box, 20);
    expect(() => box.replay(5000, 5020)).toThrow(/^the range holds 4 MB of sent messages, and the store's disk has room to copy about \d MB now: ask for a shorter range$/);
    expect(box.nextMessage()).toBeNull();
    expect(box.replay(5000, 5002)).toEqual({ messages: 3, records: 3 });
    box.close();
  });

  it('lets the WAL shrink back after a large replay, at the next write after a checkpoint (journal_size_limit, review rv100 L1)', () => {
    const path = tempDb();
    const box = new Outbox(path, { retainAckedMs: 3600_000 });
    sentLarge(box, 80);
    expect(box.replay(5000, 5080).messages).toBe(80);
    // The copy's ~15 MB went through the WAL in one transaction.
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(12 * 2 ** 20);
    box.append([rec(1)]);
    box.append([rec(2)]);
    expect(statSync(`${path}-wal`).size).toBeLessThanOrEqual(6 * 2 ** 20);
    box.close();
  });

  it('drops unsent replay copies before evicting any unsent record when the store runs short', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 3600_000 });
    for (let i = 0; i < 200; i++) sentOnce(box, 1000 + i, i + 1);
    expect(box.replay(0, 2000).messages).toBe(200);
    box.append([rec(1000), rec(1001)], 3000);
    // The originals leave at the end of the retention; their copies, not sent yet, stay (a replay asked for).
    expect(box.enforceLimits(1e12, 1e12, 3600_000 + 3000).trimmedAcked).toBe(200);
    const report = box.enforceLimits(box.usedBytes() - 1, 1e12, 3600_000 + 3100);
    expect(report.trimmedReplays).toBe(200);
    expect(box.pending('telemetry').records).toBe(2);
    expect(report.evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
    box.close();
  });

  it('never gives a replay copy an id already delivered, even from a store restored from a backup', () => {
    const path = tempDb();
    const backup = join(dirname(path), 'backup.db');
    let box = new Outbox(path, { retainAckedMs: 3600_000 });
    const m = sentOnce(box, Date.now());
    box.close();
    copyFileSync(path, backup);
    // A replay after the backup was taken: its copy reaches the hub.
    box = new Outbox(path, { retainAckedMs: 3600_000 });
    expect(box.replay(0, Date.now() + 1000).messages).toBe(1);
    const before = box.nextMessage()!;
    box.acknowledge(before.id);
    box.close();
    // The backup is restored (its count of replays is back where it was), and the range replayed again.
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    copyFileSync(backup, path);
    box = new Outbox(path, { retainAckedMs: 3600_000 });
    expect(box.replay(0, Date.now() + 1000).messages).toBe(1);
    const after = box.nextMessage()!;
    expect(after.replayOf).toBe(m.id);
    expect(after.id).not.toBe(before.id);
    box.close();
  });

  it('copies only originals: a replay over a range replayed before does not re-send the earlier copies', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 3600_000 });
    const m = sentOnce(box);
    for (let round = 1; round <= 3; round++) {
      // Each replay: one copy of the one original, as the method reports it.
      expect(box.replay(900, 1100)).toEqual({ messages: 1, records: 1 });
      const copy = box.nextMessage()!;
      expect(copy).toMatchObject({ id: `${m.id}.r${box.runId}-${round}`, replayOf: m.id });
      box.acknowledge(copy.id, 1500 + round);
      expect(box.nextMessage()).toBeNull();
    }
    box.close();
  });

  it('trims a replayed copy with its original, so the store never holds a copy a replay would not send', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 1000 });
    sentOnce(box);
    box.replay(900, 1100);
    box.acknowledge(box.nextMessage()!.id, 2400); // the copy, acknowledged later than its original
    // The original's retention is over: both go, and a replay of the range says so (nothing), not a copy kept.
    expect(box.enforceLimits(1e12, 1e12, 2600).trimmedAcked).toBe(2);
    expect(box.replay(900, 1100)).toEqual({ messages: 0, records: 0 });
    // An unsent copy stays whatever happened to its original.
    const m2 = sentOnce(box, 3000, 2);
    box.replay(2900, 3100);
    box.enforceLimits(1e12, 1e12, 4200);
    expect(box.nextMessage()).toMatchObject({ replayOf: m2.id });
    box.close();
  });

  it('gives a replayed copy its own messageId in the body, with replayOf: not a duplicate by the documented rule', () => {
    // docs/cloud-consumers.md: de-duplicate on gatewayId and the body's messageId (= the system message id).
    const dedupKey = (body: string) => {
      const b = JSON.parse(body) as { gatewayId: string; messageId: string };
      return `${b.gatewayId}/${b.messageId}`;
    };
    for (const encoding of ['records', 'compact'] as const) {
      const box = new Outbox(tempDb(), { retainAckedMs: 3600_000 });
      box.append(numerics(40), 1000);
      const m = box.pack('telemetry', 65_536, envelope('ward3-gw', encoding), 1000)!;
      expect(schemaVersionOf(m.body)).toBe(encoding === 'compact' ? 2 : 1);
      box.acknowledge(m.id, 1500);
      box.replay(900, 1100);
      const copy = box.nextMessage()!;
      const body = JSON.parse(copy.body) as Record<string, unknown>;
      expect(body.messageId).toBe(copy.id);
      expect(body.replayOf).toBe(m.id);
      expect(dedupKey(copy.body)).not.toBe(dedupKey(m.body));
      expect(schemaErrors(body)).toEqual([]);
      // Expanded to v1 (the consumers' decoder), a compact copy still says what it is a copy of.
      expect(expandCompact(copy.body)).toMatchObject({ messageId: copy.id, replayOf: m.id });
      // Nothing else changed: the same records, under the copy's head.
      expect({ ...body, messageId: m.id, replayOf: undefined }).toEqual({ ...(JSON.parse(m.body) as object), replayOf: undefined });
      box.close();
    }
  });

  it('gives unsent copies left by an older agent (body naming the original) the body of a copy when the store is opened', () => {
    const path = tempDb();
    const box = new Outbox(path, { retainAckedMs: 3600_000 });
    box.append([rec(1)], 1000);
    const m = box.pack('telemetry', 10_000, envelope('gw'), 1000)!;
    box.acknowledge(m.id, 1500);
    box.replay(900, 1100);
    box.close();
    // As an older agent left it: the copy `<id>.r1` with the original's body.
    const db = new Database(path);
    db.prepare('UPDATE messages SET id = ?, body = ?, bytes = ? WHERE replay_of = ?').run(`${m.id}.r1`, m.body, Buffer.byteLength(m.body), m.id);
    db.close();
    const again = new Outbox(path, { retainAckedMs: 3600_000 });
    const copy = again.nextMessage()!;
    expect(JSON.parse(copy.body)).toMatchObject({ messageId: `${m.id}.r1`, replayOf: m.id });
    again.close();
    // Opened once more: the copy's body stays as it is.
    const third = new Outbox(path, { retainAckedMs: 3600_000 });
    expect(third.nextMessage()!.body).toBe(copy.body);
    third.close();
  });

  it('renames unsent replay copies of the old `~r` form (not a character IoT Hub allows) when the store is opened', () => {
    const path = tempDb();
    const box = new Outbox(path, { retainAckedMs: 3600_000 });
    box.append([rec(1)], 1000);
    const m = box.pack('telemetry', 10_000, env, 1000)!;
    box.acknowledge(m.id, 1500);
    box.replay(900, 1100);
    box.close();
    // As an older agent left it: the copy under `<id>~r1`.
    const db = new Database(path);
    db.prepare('UPDATE messages SET id = ? WHERE replay_of = ?').run(`${m.id}~r1`, m.id);
    db.close();
    const again = new Outbox(path, { retainAckedMs: 3600_000 });
    const copy = again.nextMessage()!;
    expect(copy.id).toBe(`${m.id}.r1`);
    expect(copy.replayOf).toBe(m.id);
    again.close();
  });

  it('with retainAckedMs 0, deletes a message when it is acknowledged: the next one comes up and the store shrinks (review rv85 L1)', () => {
    const path = tempDb();
    const box = new Outbox(path, { retainAckedMs: 0 });
    // Large bodies (past a page), so that deleting one frees pages usedBytes can see.
    const big = (i: number): OutboxRecord => ({ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, pad: 'p'.repeat(20_000) }) });
    box.append([big(1)]);
    const first = box.pack('telemetry', 65536, env)!;
    box.append([big(2)]);
    const second = box.pack('telemetry', 65536, env)!;
    expect(second.id).not.toBe(first.id);
    expect(box.nextMessage()!.id).toBe(first.id);
    const before = box.usedBytes();
    box.acknowledge(first.id);
    expect(box.nextMessage()!.id).toBe(second.id);
    expect(box.unackedMessages().telemetry).toBe(1);
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT id FROM messages').all()).toEqual([{ id: second.id }]);
    db.close();
    // Nothing is kept for replay either.
    expect(box.replay(0, Number.MAX_SAFE_INTEGER).messages).toBe(0);
    expect(box.usedBytes()).toBeLessThan(before);
    box.close();
  });

  it('drops acknowledged messages after the retention period', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 1000 });
    box.append([rec(1)], 0);
    const m = box.pack('telemetry', 10_000, env, 0)!;
    box.acknowledge(m.id, 10);
    expect(box.enforceLimits(1e12, 1e12, 500).trimmedAcked).toBe(0);
    expect(box.enforceLimits(1e12, 1e12, 2000).trimmedAcked).toBe(1);
    expect(box.replay(0, 10_000).messages).toBe(0);
    box.close();
  });

  /** `n` messages of one 2 KB record each, packed at 1000 + i s and acknowledged at once (nothing left unsent). */
  function sentMessages(box: Outbox, n: number, t0 = Date.now() - 12 * 3600_000) {
    for (let i = 0; i < n; i++) {
      box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, pad: 'p'.repeat(2000) }) }], t0 + i * 1000);
      box.acknowledge(box.pack('telemetry', 65536, env, t0 + i * 1000)!.id, t0 + i * 1000 + 100);
    }
    return t0;
  }

  it('does not count sent messages kept for replay as usage: a store of delivered messages is not "nearly full"', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 24 * 3600_000 });
    sentMessages(box, 2000);
    const used = box.usedBytes();
    const r = box.enforceLimits(Math.floor(used / 0.95), 1e12);
    expect(r.retainedBytes).toBeGreaterThan(0.9 * used);
    // Nothing is at risk: the alarm's measure stays low though the file is 95 % of the capacity.
    expect(r.fraction).toBeLessThan(0.2);
    expect(r.trimmedAckedForCapacity).toBe(0);
    box.close();
  });

  it('past capacity, trims sent messages kept for replay oldest first and only as many as needed, each counted', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 24 * 3600_000 });
    const t0 = sentMessages(box, 2000);
    box.append([rec(1)]);
    const used = box.usedBytes();
    const r = box.enforceLimits(Math.floor(used * 0.8), 1e12);
    // About a third goes (down to 90 % of the capacity), not the whole replay window.
    expect(r.trimmedAckedForCapacity).toBeGreaterThan(400);
    expect(r.trimmedAckedForCapacity).toBeLessThan(1000);
    expect(r.evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
    expect(box.pending('telemetry').records).toBe(1);
    // The oldest went; the newest can still be replayed.
    expect(box.replay(t0, t0 + (r.trimmedAckedForCapacity - 1) * 1000).messages).toBe(0);
    expect(box.replay(t0 + 1900 * 1000, t0 + 2000 * 1000).messages).toBe(100);
    box.close();
  });
});

describe('Outbox limits', () => {
  const wave = (i: number): OutboxRecord => ({ stream: 'telemetry', cls: 2, deviceId: 'd', body: JSON.stringify({ w: i, s: 'x'.repeat(2000) }) });
  const numeric = (i: number): OutboxRecord => ({ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ n: i, s: 'y'.repeat(2000) }) });
  const alarm = (i: number): OutboxRecord => ({ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ a: i, s: 'z'.repeat(2000) }) });

  it('evicts waveforms first, then numerics, and alarms only as a last resort', () => {
    const box = new Outbox(tempDb());
    box.append(Array.from({ length: 200 }, (_, i) => alarm(i)));
    box.append(Array.from({ length: 200 }, (_, i) => numeric(i)));
    box.append(Array.from({ length: 200 }, (_, i) => wave(i)));
    const used = box.usedBytes();
    // Room for a bit more than the alarms and numerics: only waveforms should go.
    const r1 = box.enforceLimits(Math.floor(used * 0.75), 1e12);
    expect(r1.evictedFor).toBe('capacity');
    expect(r1.evicted[2]).toBeGreaterThan(0);
    expect(r1.evicted[1]).toBe(0);
    expect(r1.evicted[0]).toBe(0);
    expect(r1.usedBytes).toBeLessThanOrEqual(used * 0.75);
    // Much less room: all waveforms go, then the oldest numerics, alarms untouched.
    const r2 = box.enforceLimits(Math.floor(used * 0.45), 1e12);
    expect(r2.evicted[1]).toBeGreaterThan(0);
    expect(r2.evicted[0]).toBe(0);
    expect(box.pending('alarms').records).toBe(200);
    // The numerics left are the newest ones.
    const m = box.pack('telemetry', 1e9, (id, _s, entries) => `[${entries.join(',')}]`)!;
    const left = (JSON.parse(m.body) as { n?: number }[]).map((x) => x.n);
    expect(left.at(-1)).toBe(199);
    expect(left[0]).toBeGreaterThan(0);
    box.close();
  });

  it('with classes arriving interleaved, evicts only the oldest waveforms the excess needs, no numeric and no alarm', () => {
    // Each class has its own table, so removing the oldest waveforms frees whole pages. (In one shared table they
    // shared pages with numerics: 2 % over the limit evicted every waveform and an eighth of the numerics.)
    const path = tempDb();
    const box = new Outbox(path, { retainAckedMs: 0 });
    const t0 = 1_790_000_000_000;
    const events1s = (s: number) => {
      const events: DriverEvent[] = [];
      for (let d = 0; d < 16; d++) {
        const origin = { deviceId: `m${d}`, source: 'sim', receivedAt: t0 + s * 1000 + 100, quality: { state: 'valid' as const } };
        const samples = Array.from({ length: 250 }, (_, k) => Math.round(Math.sin(k / 10 + s) * 1500) / 1000);
        events.push({ kind: 'waveform', ...origin, mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT, startTime: t0 + s * 1000, sampleRateHz: 250, samples });
        for (let n = 0; n < 6; n++) events.push({ kind: 'numeric', ...origin, mdc: MDC.ECG_HEART_RATE, value: 60 + n, unit: UNITS.BEAT_PER_MIN, deviceTime: t0 + s * 1000 });
      }
      return events.map((e) => toRecord(e, true)!);
    };
    for (let s = 0; s < 300; s++) {
      box.append(events1s(s), t0 + s * 1000);
      if (s % 10 === 0) box.append(Array.from({ length: 16 }, (_, d) => alarm(s * 100 + d)), t0 + s * 1000);
    }
    const db = new Database(path, { readonly: true });
    const byClass = () => Object.fromEntries(db.prepare<[], { cls: number; n: number }>('SELECT cls, sum(count) AS n FROM outbox GROUP BY cls').all().map((r) => [r.cls, r.n]));
    expect(byClass()).toEqual({ 0: 480, 1: 28800, 2: 4800 });
    const used = box.usedBytes();
    const r = enforceAll(box, Math.floor(used * 0.98), 1e12);
    expect(r.evicted[1]).toBe(0);
    expect(r.evicted[0]).toBe(0);
    expect(r.evicted[2]).toBeGreaterThan(0);
    // About the share of waveform bytes that brings the store to 90 % of the limit, not all of them.
    expect(r.evicted[2]).toBeLessThan(4800 / 2);
    expect(r.usedBytes).toBeLessThanOrEqual(used * 0.98 * 0.9);
    expect(r.usedBytes).toBeGreaterThan(used * 0.98 * 0.85); // and not much more than that
    expect(byClass()).toEqual({ 0: 480, 1: 28800, 2: 4800 - r.evicted[2] });
    // The oldest went: the first waveform left is the one after them (16 per second, in order).
    const first = db.prepare<[], { created_at: number }>('SELECT created_at FROM outbox WHERE cls = 2 ORDER BY seq LIMIT 1').get()!;
    expect(first.created_at).toBe(t0 + Math.floor(r.evicted[2] / 16) * 1000);
    // Between 90 % and 100 % of the capacity nothing is evicted: eviction starts only past it.
    box.append(events1s(300), t0 + 300_000);
    expect(box.usedBytes()).toBeGreaterThan(r.usedBytes);
    expect(box.enforceLimits(Math.floor(used * 0.98), 1e12).evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
    db.close();
    box.close();
  });

  it('evicts telemetry older than the age limit but keeps alarms', () => {
    const box = new Outbox(tempDb());
    box.append([numeric(1), alarm(1)], 1000);
    box.append([numeric(2)], 5000);
    const r = box.enforceLimits(1e12, 2000, 6000);
    expect(r).toMatchObject({ evictedFor: 'age', evicted: { 0: 0, 1: 1, 2: 0 } });
    expect(box.pending('telemetry').records).toBe(1);
    expect(box.pending('alarms').records).toBe(1);
    box.close();
  });

  it('does not age out rows of this run when the wall clock steps forward (NTP after a boot with a stale clock)', () => {
    const DAY = 24 * 3600_000;
    const path = tempDb();
    // A row of an earlier run, an hour old: aged by its wall-clock time, as always.
    const earlier = new Outbox(path);
    earlier.append([numeric(0)], Date.now() - 3600_000);
    earlier.close();
    const box = new Outbox(path);
    box.appendBatches([{ records: [numeric(1), numeric(2), alarm(1)], idempotencyKey: 'hl7:a|1' }]);
    // The clock is set 8 days ahead: this run's rows were accepted moments ago, whatever the wall clock says now.
    const stepped = Date.now() + 8 * DAY;
    const clock = vi.spyOn(Date, 'now').mockReturnValue(stepped);
    try {
      const r = box.enforceLimits(1e12, 7 * DAY);
      expect(r.evicted).toEqual({ 0: 0, 1: 1, 2: 0 }); // the earlier run's row only
      expect(box.pending('telemetry').records).toBe(2);
      // Nor is the key of that batch dropped as a day old: the sender's resend is still known.
      expect(box.appendBatches([{ records: [numeric(1)], idempotencyKey: 'hl7:a|1' }])).toEqual(['duplicate']);
      // Appended after the step, at the new time: aged from there, like any other.
      box.append([numeric(3)]);
      box.appendBatches([{ records: [numeric(4)], idempotencyKey: 'hl7:a|2' }]);
      expect(box.enforceLimits(1e12, 7 * DAY).evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
      // ...and aged out in time: 8 days on the new clock (the monotonic clock has hardly moved), the rows and the key
      // written after the step go; those accepted before it are still within their age.
      clock.mockReturnValue(stepped + 8 * DAY);
      expect(box.enforceLimits(1e12, 7 * DAY).evicted).toEqual({ 0: 0, 1: 2, 2: 0 });
      expect(box.pending('telemetry').records).toBe(2);
      expect(box.appendBatches([{ records: [numeric(4)], idempotencyKey: 'hl7:a|2' }])).toEqual(['stored']);
      expect(box.appendBatches([{ records: [numeric(1)], idempotencyKey: 'hl7:a|1' }])).toEqual(['duplicate']);
    } finally {
      clock.mockRestore();
    }
    box.close();
  });

  /** Keys as the HL7 driver makes them: sender, control id, SHA-256 of the content. */
  const hl7Key = (i: number) => `hl7:MONITORS|WARD-3|${String(i).padStart(10, '0')}|${createHash('sha256').update(String(i)).digest('hex')}`;

  it('keeps idempotency keys for IDEMPOTENCY_TTL_MS (1 h), a sender resend\'s reach, not a day', () => {
    expect(IDEMPOTENCY_TTL_MS).toBe(3600_000);
    const box = new Outbox(tempDb(), { retainAckedMs: 0 });
    const now = Date.now();
    // 12,000 batches of two hours ago (more than half the table: it is rebuilt from the keys kept), one of a minute ago.
    for (let k = 0; k < 12; k++) {
      box.appendBatches(Array.from({ length: 1000 }, (_, i) => ({ records: [numeric(k * 1000 + i)], idempotencyKey: hl7Key(k * 1000 + i) })), now - 2 * 3600_000);
    }
    box.appendBatches([{ records: [numeric(-1)], idempotencyKey: hl7Key(-1) }], now - 60_000);
    box.enforceLimits(1e12, 1e12, now);
    expect(box.appendBatches([{ records: [numeric(-1)], idempotencyKey: hl7Key(-1) }], now)).toEqual(['duplicate']);
    expect(box.appendBatches([{ records: [numeric(5)], idempotencyKey: hl7Key(5) }], now)).toEqual(['stored']);
    box.close();
  });

  it('over capacity, trims the oldest idempotency keys before any unsent record, and keeps the newest', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 0 });
    const now = Date.now();
    // An hour of a busy HL7 feed, all delivered: only the keys are left.
    for (let k = 0; k < 30; k++) {
      box.appendBatches(Array.from({ length: 1000 }, (_, i) => ({ records: [numeric(k * 1000 + i)], idempotencyKey: hl7Key(k * 1000 + i) })), now - 3000_000 + k * 1000);
      for (let m = box.pack('telemetry', 65536, env); m; m = box.pack('telemetry', 65536, env)) box.acknowledge(m.id);
    }
    box.enforceLimits(1e12, 1e12, now);
    // Then unsent records, alarms among them.
    box.append(Array.from({ length: 50 }, (_, i) => numeric(i)), now);
    box.append(Array.from({ length: 50 }, (_, i) => alarm(i)), now);
    const used = box.usedBytes();
    const r = box.enforceLimits(Math.floor(used * 0.8), 1e12, now);
    expect(r.evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
    expect(r.unreported).toBeNull();
    expect(r.trimmedKeys).toBeGreaterThan(0);
    expect(r.trimmedKeys).toBeLessThan(30_000);
    expect(r.usedBytes).toBeLessThanOrEqual(r.limitBytes);
    expect(box.pending('telemetry').records).toBe(50);
    expect(box.pending('alarms').records).toBe(50);
    // The newest keys are kept (a resend is still known), the oldest went.
    expect(box.appendBatches([{ records: [numeric(1)], idempotencyKey: hl7Key(29_999) }], now)).toEqual(['duplicate']);
    expect(box.appendBatches([{ records: [numeric(1)], idempotencyKey: hl7Key(0) }], now)).toEqual(['stored']);
    box.close();
  });

  it('notes each eviction in the store with the records it deletes, until the report of it is settled with its loss note', () => {
    const path = tempDb();
    const box = new Outbox(path);
    box.append(Array.from({ length: 100 }, (_, i) => numeric(i)), Date.now() - 10_000);
    box.append(Array.from({ length: 200 }, (_, i) => wave(i)));
    box.append(Array.from({ length: 200 }, (_, i) => numeric(i)));
    const r = box.enforceLimits(Math.floor(box.usedBytes() * 0.6), 5000);
    expect(r.evicted[1]).toBeGreaterThanOrEqual(100);
    expect(r.evicted[2]).toBeGreaterThan(0);
    expect(r.unreported).toMatchObject({ age: { 0: 0, 1: 100, 2: 0 }, capacity: { 0: 0, 1: r.evicted[1] - 100, 2: r.evicted[2] }, disk: false });
    // The process dies before anyone reported it: the next one finds it in the store.
    box.close();
    const again = new Outbox(path);
    const tally = again.unreportedEvictions()!;
    expect(tally).toEqual(r.unreported);
    // More evictions before the report is settled are kept for the next report.
    again.append([numeric(1000)], Date.now() - 10_000);
    again.enforceLimits(1e12, 5000);
    const loss = { text: 'Store full: n unsent records discarded', priority: 'medium' as const, at: 1 };
    again.settleEvictions(tally, { key: 'store-evicted', loss });
    expect(again.unacknowledgedLosses().get('store-evicted')).toEqual(loss);
    expect(again.unreportedEvictions()).toMatchObject({ age: { 0: 0, 1: 1, 2: 0 }, capacity: { 0: 0, 1: 0, 2: 0 } });
    again.settleEvictions(again.unreportedEvictions()!);
    expect(again.unreportedEvictions()).toBeNull();
    again.close();
  });

  it('treats the disk as a capacity: a backlog that leaves too little free space is evicted, oldest telemetry first, and packing goes on', () => {
    const path = tempDb();
    let free = 1e12;
    const box = new Outbox(path, { freeDiskBytes: () => free, retainAckedMs: 0 });
    box.append(Array.from({ length: 20 }, (_, i) => alarm(i)));
    for (let k = 0; k < 16; k++) box.append(Array.from({ length: 1500 }, (_, i) => numeric(k * 1500 + i)));
    expect(box.enforceLimits(4 * 2 ** 30, 1e12)).toMatchObject({ limitedBy: 'maxBytes', evictedFor: null, unreported: null });
    // The backlog filled the disk: nothing is free beyond the store's own files.
    free = 0;
    const used = box.usedBytes();
    const r = enforceAll(box, 4 * 2 ** 30, 1e12);
    expect(r.limitedBy).toBe('disk');
    expect(r.limitBytes).toBeLessThan(used);
    expect(r.evictedFor).toBe('capacity');
    expect(r.evicted[0]).toBe(0);
    expect(r.evicted[1]).toBeGreaterThan(0);
    expect(r.usedBytes).toBeLessThanOrEqual(r.limitBytes * 0.9);
    expect(r.unreported).toMatchObject({ disk: true, capacity: { 0: 0, 1: r.evicted[1], 2: 0 } });
    // The newest are kept, and the store still packs and acknowledges (alarms first).
    const a = box.pack('alarms', 65536, env)!;
    box.acknowledge(a.id);
    const t = box.pack('telemetry', 65536, env)!;
    expect((JSON.parse(t.body) as { r: { n: number }[] }).r[0]!.n).toBe(r.evicted[1]);
    box.acknowledge(t.id);
    // The file does not grow past what the disk can take (less the room kept for the WAL): an append that would
    // is refused as on a full disk, before the disk is actually full.
    expect(() => box.append(Array.from({ length: 20_000 }, (_, i) => numeric(i)))).toThrow(/database or disk is full/);
    box.close();
  });

  it('leaves a disk too small to keep room free (or filled by another program while the store is small) to fill up', () => {
    const box = new Outbox(tempDb(), { freeDiskBytes: () => 0 });
    box.append(Array.from({ length: 3000 }, (_, i) => numeric(i)));
    // 6 MB of data, nothing free: evicting all of it would not make the room kept free; it would only discard it.
    // The report says the store is full all the same: limited by the disk at what it holds (review rv152 R3).
    for (let check = 0; check < 2; check++) {
      const r = box.enforceLimits(4 * 2 ** 30, 1e12);
      expect(r).toMatchObject({ limitedBy: 'disk', freeDiskBytes: 0, evicted: { 0: 0, 1: 0, 2: 0 }, evictedFor: null, more: false, unreported: null });
      expect(r.usedBytes).toBeGreaterThan(1e6);
      expect(r.limitBytes).toBe(r.usedBytes);
      expect(r.fraction).toBeGreaterThanOrEqual(1);
    }
    expect(box.pending('telemetry').records).toBe(3000);
    box.close();
  });

  it('does not evict alarm records for the disk, only for store.maxBytes', () => {
    const box = new Outbox(tempDb(), { freeDiskBytes: () => 0 });
    for (let k = 0; k < 16; k++) box.append(Array.from({ length: 1500 }, (_, i) => alarm(k * 1500 + i)));
    box.append(Array.from({ length: 100 }, (_, i) => numeric(i)));
    const r = box.enforceLimits(4 * 2 ** 30, 1e12);
    expect(r).toMatchObject({ limitedBy: 'disk', evicted: { 0: 0, 1: 100, 2: 0 } });
    expect(box.pending('alarms').records).toBe(24_000);
    expect(box.enforceLimits(1_048_576, 1e12).evicted[0]).toBeGreaterThan(0);
    box.close();
  });
});

describe('Outbox rows holding several records', () => {
  const rows = (path: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare<[], { count: number; bytes: number; body: string; device_id: string }>('SELECT count, bytes, body, device_id FROM outbox ORDER BY seq').all();
    } finally {
      db.close();
    }
  };

  it('stores consecutive records of one append, device, stream and class in one row, up to rowMaxBytes', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 100 });
    // rec() bodies are ~25 bytes: three fit a 100-byte row (with the commas), the fourth starts a new one.
    box.append([rec(1), rec(2), rec(3), rec(4), rec(5, 'telemetry', 'dev-2'), rec(6, 'alarms'), rec(7)]);
    box.append([rec(8)]);
    const stored = rows(path);
    expect(stored.map((r) => r.count)).toEqual([3, 1, 1, 1, 1, 1]);
    expect(stored.map((r) => r.device_id)).toEqual(['dev-1', 'dev-1', 'dev-2', 'dev-1', 'dev-1', 'dev-1']);
    for (const r of stored) {
      expect(r.bytes).toBeLessThanOrEqual(100);
      expect(r.bytes).toBe(Buffer.byteLength(r.body));
    }
    // A row's body is its records' JSON joined by commas: a run of array entries.
    expect(JSON.parse(`[${stored[0]!.body}]`)).toEqual([1, 2, 3].map((i) => ({ i, deviceId: 'dev-1' })));
    expect(box.pending('telemetry').records).toBe(7);
    expect(box.pending('alarms').records).toBe(1);
    // Messages count records, not rows, and carry them in order.
    const m = box.pack('telemetry', 10_000, env)!;
    expect(m.count).toBe(7);
    expect((JSON.parse(m.body) as { r: { i: number }[] }).r.map((r) => r.i)).toEqual([1, 2, 3, 4, 5, 7, 8]);
    expect(box.pending('telemetry').records).toBe(0);
    box.close();
  });

  it('commits nothing of an append that fails after rows were inserted: no rows, no idempotency key', () => {
    const path = tempDb();
    const box = new Outbox(path, { maxRecordBytes: 100 });
    const big: OutboxRecord = { ...rec(9), body: JSON.stringify({ x: 'y'.repeat(200) }) };
    // Rows of dev-1 and dev-2 are inserted before the too-large record is reached.
    expect(() => box.appendBatches([{ records: [rec(1), rec(2, 'telemetry', 'dev-2')], idempotencyKey: 'k1' }, { records: [rec(3), big] }])).toThrow(RecordTooLargeError);
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT count(*) AS n FROM idempotency').get()).toEqual({ n: 0 });
    db.close();
    expect(box.pending('telemetry').records).toBe(0);
    // The key was not taken: the same batch is stored when sent again.
    expect(box.appendBatches([{ records: [rec(1)], idempotencyKey: 'k1' }])).toEqual(['stored']);
    box.close();
  });

  it('moves a row it cannot read back aside, counts it, and packs the rest instead of blocking the stream', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    const wave = (i: number): OutboxRecord => {
      const body = `{"w":${i},"samples":null}`;
      return { stream: 'telemetry', cls: 2, deviceId: 'w', body, samples: encodeSamples([i, 0.5], body.indexOf('null')) };
    };
    box.append([wave(1), rec(2), wave(3), rec(4)]);
    // Damage the second waveform's blob (an unknown format), as a newer agent's row or a bad disk could.
    const db = new Database(path);
    const blob = db.prepare<[], { samples: Buffer }>("SELECT samples FROM outbox WHERE body LIKE '{\"w\":3%'").get()!.samples;
    blob[0] = 7;
    db.prepare("UPDATE outbox_2 SET samples = ? WHERE body LIKE '{\"w\":3%'").run(blob);
    db.close();
    const m = box.pack('telemetry', 10_000, env)!;
    expect((JSON.parse(m.body) as { r: unknown[] }).r).toEqual([{ w: 1, samples: [1, 0.5] }, { i: 2, deviceId: 'dev-1' }, { i: 4, deviceId: 'dev-1' }]);
    expect(m.count).toBe(3);
    expect(box.pending('telemetry')).toEqual({ records: 0, bytes: 0, oldestAt: null });
    expect(box.unreadableRecords()).toEqual({ records: 1, reason: 'stored record unreadable: samples of unknown format 7' });
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(1);
    box.settleUnreadable();
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(0); // reported once
    box.close();
    // Kept in the file for inspection.
    const again = new Database(path, { readonly: true });
    expect(again.prepare('SELECT body FROM unreadable').all()).toEqual([{ body: '{"w":3,"samples":null}' }]);
    again.close();
  });

  const damagedWave = (i: number): OutboxRecord => {
    const body = `{"w":${i},"samples":null}`;
    const samples = encodeSamples([i, 0.5], body.indexOf('null'));
    samples[0] = 7; // a format this agent does not know
    return { stream: 'telemetry', cls: 2, deviceId: 'w', body, samples };
  };

  it('leaves its counts as they were when packing fails after moving a row aside (disk full), and reports that row once', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    box.append([damagedWave(1), ...Array.from({ length: 40 }, (_, i) => ({ ...rec(i), body: JSON.stringify({ i, pad: 'x'.repeat(200) }) }))]);
    const before = box.pending('telemetry');
    expect(before.records).toBe(41);
    // The store's own connection: max_page_count is a per-connection limit. No page may be added: the message
    // insert fails as on a full disk, after the unreadable row was moved in the same transaction.
    const db = (box as unknown as { db: Database.Database }).db;
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    expect(() => box.pack('telemetry', 65_536, env)).toThrow(/full/);
    expect(box.pending('telemetry')).toEqual(before);
    expect(box.unreadableRecords().records).toBe(0);
    db.pragma('max_page_count = 1073741823');
    const m = box.pack('telemetry', 65_536, env)!;
    expect(m.count).toBe(40);
    expect(box.pending('telemetry')).toEqual({ records: 0, bytes: 0, oldestAt: null });
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(1);
    box.settleUnreadable();
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(0);
    box.close();
  });

  it('reports after a restart the unreadable rows it moved aside before it', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    box.append([damagedWave(1), rec(2)]);
    expect(box.pack('telemetry', 10_000, env)!.count).toBe(1);
    box.close(); // stopped (or killed) before the next limits check reported it
    const again = new Outbox(path);
    expect(again.enforceLimits(1e12, 1e12).unreadable).toBe(1);
    again.settleUnreadable();
    expect(again.enforceLimits(1e12, 1e12).unreadable).toBe(0);
    again.close();
    expect(new Outbox(path).enforceLimits(1e12, 1e12).unreadable).toBe(0);
  });

  // The first write after the check counted unreadable rows fails: keepReserve() stands for it (the capacity
  // eviction or the page-cap pragma on a full disk).
  const failAfterCount = (box: Outbox, code: string, times: number) => {
    const p = box as unknown as { keepReserve: (f: number) => void };
    const orig = p.keepReserve.bind(box);
    let n = 0;
    p.keepReserve = (f: number) => {
      if (n++ < times) throw Object.assign(new Error('database or disk is full'), { code });
      orig(f);
    };
  };

  it('reports unreadable rows at every check until settled with their loss note, across a failing check and a restart (review rv74 M1)', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    box.append([damagedWave(1), rec(2)]);
    expect(box.pack('telemetry', 10_000, env)!.count).toBe(1);
    // A full disk: withRoom() runs the check again in small passes; the count is still there.
    failAfterCount(box, 'SQLITE_FULL', 1);
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(1);
    // An I/O error on a disk with room: the check throws (not retried as for a full disk); the next one still has the count.
    failAfterCount(box, 'SQLITE_IOERR_WRITE', 1);
    expect(() => box.enforceLimits(1e12, 1e12)).toThrow(expect.objectContaining({ code: 'SQLITE_IOERR_WRITE' }));
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(1);
    box.close(); // killed before the agent settled them: the next run reports them
    const again = new Outbox(path);
    expect(again.enforceLimits(1e12, 1e12).unreadable).toBe(1);
    const loss = { text: 'Store: 1 stored records could not be read back and were not sent', priority: 'medium' as const, at: 1 };
    again.settleUnreadable({ key: 'store-unreadable', loss });
    expect(again.unacknowledgedLosses()).toEqual(new Map([['store-unreadable', loss]]));
    expect(again.enforceLimits(1e12, 1e12).unreadable).toBe(0);
    again.close();
    const third = new Outbox(path);
    expect(third.enforceLimits(1e12, 1e12).unreadable).toBe(0);
    expect(third.unreadableRecords().records).toBe(1); // still kept for inspection
    third.close();
  });

  it('does not mark unreadable rows reported when writing their loss note fails', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    box.append([damagedWave(1), rec(2)]);
    box.pack('telemetry', 10_000, env);
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(1);
    const noteLoss = box.noteLoss.bind(box);
    box.noteLoss = () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    expect(() => box.settleUnreadable({ key: 'store-unreadable', loss: { text: 't', priority: 'medium', at: 1 } })).toThrow(/full/);
    box.noteLoss = noteLoss;
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(1);
    box.close();
  });

  it('deletes unreadable rows kept for inspection, not unsent alarms, when over capacity', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    const big = (i: number): OutboxRecord => {
      const body = `{"w":${i},"pad":"${'x'.repeat(3000)}","samples":null}`;
      const samples = encodeSamples([i], body.indexOf('null'));
      samples[0] = 7;
      return { stream: 'telemetry', cls: 2, deviceId: 'w', body, samples };
    };
    for (let k = 0; k < 10; k++) box.append(Array.from({ length: 30 }, (_, i) => big(k * 30 + i)));
    expect(box.pack('telemetry', 10_000, env)).toBeNull(); // all 300 moved aside
    box.append(Array.from({ length: 50 }, (_, i) => rec(i, 'alarms')));
    const used = box.enforceLimits(1e12, 1e12).usedBytes;
    const report = box.enforceLimits(used / 2, 1e12);
    expect(report.trimmedUnreadable).toBe(300);
    expect(report.evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
    expect(box.pending('alarms').records).toBe(50);
    expect(box.unreadableRecords().records).toBe(0);
    // Deleted before the agent settled them: still reported (their count kept in the store) until settled.
    expect(report.unreadable).toBe(300);
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(300);
    box.settleUnreadable();
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(0);
    box.close();
  });

  it('refuses a store written in a newer format instead of misreading it', () => {
    const path = tempDb();
    new Outbox(path).close();
    const db = new Database(path);
    expect(db.prepare("SELECT value FROM meta WHERE key = 'format'").get()).toEqual({ value: String(STORE_FORMAT) });
    db.prepare("UPDATE meta SET value = ? WHERE key = 'format'").run(String(STORE_FORMAT + 1));
    // A newer store without the tables this agent would create: the refusal must not add them.
    db.exec('DROP TABLE unreadable');
    const objects = () => db.prepare('SELECT type, name FROM sqlite_master ORDER BY name').all();
    const before = objects();
    expect(() => new Outbox(path)).toThrow(StoreFormatError);
    expect(() => Outbox.open(path)).toThrow(/written by a newer agent/);
    expect(objects()).toEqual(before);
    db.close();
  });

  it('groups the same way in toRows, which the ingest benchmark uses for its ceiling', () => {
    const out = [...toRows([rec(1), rec(2), rec(3, 'alarms')], 1000, 2048)];
    expect(out.map((r) => [r.stream, r.count])).toEqual([['telemetry', 2], ['alarms', 1]]);
    // The bound counts the comma: two bodies and a comma fit a row of exactly that size, and not one byte less.
    const two = Buffer.byteLength(rec(1).body) + 1 + Buffer.byteLength(rec(2).body);
    expect([...toRows([rec(1), rec(2)], 1000, two)].map((r) => r.count)).toEqual([2]);
    expect([...toRows([rec(1), rec(2)], 1000, two - 1)].map((r) => r.count)).toEqual([1, 1]);
    expect(() => [...toRows([rec(1)], 5, 2048)]).toThrow(RecordTooLargeError);
  });

  it('counts evicted records, not rows', () => {
    const numeric = (i: number): OutboxRecord => ({ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ n: i, s: 'y'.repeat(100) }) });
    const box = new Outbox(tempDb());
    box.append([numeric(1), numeric(2), numeric(3)], 1000);
    expect(box.enforceLimits(1e12, 2000, 6000)).toMatchObject({ evictedFor: 'age', evicted: { 0: 0, 1: 3, 2: 0 } });
    box.append(Array.from({ length: 300 }, (_, i) => numeric(i)), 7000);
    const r = box.enforceLimits(Math.floor(box.usedBytes() * 0.5), 1e12, 8000);
    expect(r.evicted[1]).toBeGreaterThan(0);
    expect(r.evicted[1]).toBe(300 - box.pending('telemetry').records);
    box.close();
  });

  it('opens a store of the first agent (format 1: messages without bytes, acked_at, replay_of) and sends what it holds', () => {
    const path = tempDb();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, cls INTEGER NOT NULL,
  device_id TEXT NOT NULL, created_at INTEGER NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL) STRICT;
CREATE INDEX outbox_stream_seq ON outbox (stream, seq);
CREATE TABLE messages (id TEXT PRIMARY KEY, stream TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  count INTEGER NOT NULL, created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL) STRICT;
INSERT INTO meta VALUES ('store_id', 'abcd1234');
INSERT INTO outbox (stream, cls, device_id, created_at, bytes, body) VALUES ('alarms', 0, 'd', 1, 7, '{"a":1}');
INSERT INTO messages (id, stream, first_seq, last_seq, count, created_at, body) VALUES ('abcd1234-t-1', 'telemetry', 1, 1, 1, 1, '{"records":[{"i":1}]}');`);
    db.close();
    const { outbox: box, recovered } = Outbox.open(path, { retainAckedMs: 3600_000 });
    expect(recovered).toBeNull();
    // The message it had packed goes out as it was (same id and body), then its unsent record.
    expect(box.nextMessage()).toMatchObject({ id: 'abcd1234-t-1', body: '{"records":[{"i":1}]}' });
    box.acknowledge('abcd1234-t-1');
    expect(box.pending('alarms').records).toBe(1);
    const a = box.pack('alarms', 10_000, env)!;
    expect(JSON.parse(a.body)).toMatchObject({ r: [{ a: 1 }] });
    box.acknowledge(a.id);
    expect(box.nothingToSend()).toBe(true);
    expect(box.enforceLimits(1e12, 1e12).retainedBytes).toBeGreaterThan(0);
    box.close();
  });

  it('opens a store written before rows held several records, and sends its rows as they are', () => {
    const path = tempDb();
    const old = new Database(path);
    old.exec(`CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, cls INTEGER NOT NULL,
      device_id TEXT NOT NULL, created_at INTEGER NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL) STRICT`);
    const ins = old.prepare('INSERT INTO outbox (stream, cls, device_id, created_at, bytes, body) VALUES (?, ?, ?, ?, ?, ?)');
    for (const r of [rec(1), rec(2)]) ins.run(r.stream, r.cls, r.deviceId, 1000, Buffer.byteLength(r.body), r.body);
    old.close();
    const box = new Outbox(path);
    expect(box.pending('telemetry').records).toBe(2);
    box.append([rec(3), rec(4)]);
    expect(rows(path).map((r) => r.count)).toEqual([1, 1, 2]);
    const m = box.pack('telemetry', 10_000, env)!;
    expect(m.count).toBe(4);
    expect((JSON.parse(m.body) as { r: { i: number }[] }).r.map((r) => r.i)).toEqual([1, 2, 3, 4]);
    box.close();
  });
});

/** A store as an agent of store format 2 left it: one outbox table for every class. */
const FORMAT2_SCHEMA = `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  INSERT INTO meta (key, value) VALUES ('format', '2'), ('store_id', 'abcd1234');
  CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, cls INTEGER NOT NULL,
    device_id TEXT NOT NULL, created_at INTEGER NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1, samples BLOB) STRICT;`;

describe('Outbox upgrade from one table for every class (store format 2)', () => {
  it('sends and evicts the old rows with the new, never reuses a seq, and opens again', () => {
    const path = tempDb();
    const old = new Database(path);
    old.exec(`${FORMAT2_SCHEMA}
      CREATE INDEX outbox_stream_seq ON outbox (stream, seq);`);
    const ins = old.prepare('INSERT INTO outbox (stream, cls, device_id, created_at, bytes, body, count, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const waveBody = '{"w":1,"samples":null}';
    const wave = encodeSamples([1, 2], waveBody.indexOf('null'));
    ins.run('telemetry', 1, 'd', 1000, 10, '{"i":1}', 1, null);
    ins.run('alarms', 0, 'd', 1000, 10, '{"a":1}', 1, null);
    ins.run('telemetry', 2, 'd', 1000, 10, waveBody, 1, wave);
    ins.run('telemetry', 1, 'd', 1000, 10, '{"i":2}', 1, null);
    ins.run('telemetry', 1, 'd', 1000, 10, '{"gone":1}', 1, null);
    old.exec('DELETE FROM outbox WHERE seq = 5'); // seq 5 was used: it must not come again
    old.close();

    const box = new Outbox(path);
    expect(box.storeId).toBe('abcd1234');
    expect(box.pending('telemetry').records).toBe(3);
    box.append([rec(3), { stream: 'telemetry', cls: 2, deviceId: 'd', body: waveBody, samples: wave }, rec(4, 'alarms')]);
    const m = box.pack('telemetry', 10_000, env)!;
    expect(m.firstSeq).toBe(1);
    expect((JSON.parse(m.body) as { r: unknown[] }).r).toEqual([{ i: 1 }, { w: 1, samples: [1, 2] }, { i: 2 }, { i: 3, deviceId: 'dev-1' }, { w: 1, samples: [1, 2] }]);
    expect(m.lastSeq).toBeGreaterThan(5);
    const a = box.pack('alarms', 10_000, env)!;
    expect((JSON.parse(a.body) as { r: unknown[] }).r).toEqual([{ a: 1 }, { i: 4, deviceId: 'dev-1' }]);
    box.close();

    // Reopened (now format 3): a waveform in the old table and one in its own are both evicted as waveforms.
    const db = new Database(path);
    db.prepare('INSERT INTO outbox_0 (stream, cls, device_id, created_at, bytes, body, count, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run('telemetry', 2, 'd', 2000, 10, waveBody, 1, wave);
    db.close();
    const again = new Outbox(path);
    again.append([{ stream: 'telemetry', cls: 2, deviceId: 'd', body: waveBody, samples: wave }, rec(5)], 3000);
    expect(again.enforceLimits(1e12, 500, 3100)).toMatchObject({ evicted: { 0: 0, 1: 0, 2: 1 } });
    expect(again.enforceLimits(1, 1e12, 3100).evicted).toEqual({ 0: 0, 1: 1, 2: 1 });
    expect(again.pending('telemetry').records).toBe(0);
    again.close();
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT value FROM meta WHERE key = 'format'").get()).toEqual({ value: String(STORE_FORMAT) });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'outbox%' ORDER BY name").all().map((r) => (r as { name: string }).name)).toEqual([
      'outbox',
      'outbox_0',
      'outbox_1',
      'outbox_1_stream_seq',
      'outbox_2',
      'outbox_2_stream_seq',
      'outbox_stream_seq',
    ]);
    check.close();
  });
});

describe('Outbox upgrade that fails', () => {
  it('leaves the store as it was and does not keep the file open', async () => {
    const { readdirSync, readlinkSync } = await import('node:fs');
    const path = tempDb();
    const old = new Database(path);
    old.exec(`${FORMAT2_SCHEMA}
      CREATE TABLE outbox_0 (x INTEGER) STRICT; -- in the way of the rename: the upgrade fails half-way
      INSERT INTO outbox (stream, cls, device_id, created_at, bytes, body) VALUES ('telemetry', 1, 'd', 1, 7, '{"i":1}');`);
    old.close();
    const openFds = () => readdirSync('/proc/self/fd').filter((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`) === path; } catch { return false; } }).length;
    expect(openFds()).toBe(0);
    expect(() => new Outbox(path)).toThrow(/outbox_0/);
    expect(openFds()).toBe(0);
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT value FROM meta WHERE key = 'format'").get()).toEqual({ value: '2' });
    expect(check.prepare('SELECT body FROM outbox').all()).toEqual([{ body: '{"i":1}' }]);
    expect(check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('outbox_1', 'outbox_2', 'messages')").get()).toEqual({ n: 0 });
    check.close();
  });
});

describe('Outbox lock: one agent per store', () => {
  it('refuses a second Outbox on the same file while the first is open, naming the store; the file stays readable', () => {
    const path = tempDb();
    const a = new Outbox(path);
    a.append([rec(1)]);
    // Both ways in: the constructor, and open() (what the agent uses), which must refuse before it checks or moves anything.
    expect(() => new Outbox(path)).toThrow(StoreInUseError);
    expect(() => Outbox.open(path)).toThrow(`store ${path} is in use by another agent`);
    // A tool can still read the store while the agent runs.
    const reader = new Database(path, { readonly: true });
    expect(reader.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 1 });
    reader.close();
    a.append([rec(2)]);
    a.close();
    // Released at close: the next agent opens it, and goes on from the same seq.
    const b = Outbox.open(path).outbox;
    b.append([rec(3)]);
    expect(b.pack('telemetry', 10_000, env)).toMatchObject({ firstSeq: 1, lastSeq: 3, count: 3 });
    b.close();
  });

  it('is released when a store cannot be opened (a newer format), so that the next try is not refused as in use', () => {
    const path = tempDb();
    new Outbox(path).close();
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'format'").run();
    db.close();
    expect(() => Outbox.open(path)).toThrow(StoreFormatError);
    expect(() => new Outbox(path)).toThrow(StoreFormatError);
  });
});

describe('Outbox close', () => {
  it('leaves an empty WAL, even while a tool reads the store, so that agent.db alone holds everything', () => {
    const path = tempDb();
    const box = new Outbox(path);
    box.append(Array.from({ length: 500 }, (_, i) => rec(i)));
    const reader = new Database(path, { readonly: true });
    expect(reader.prepare('SELECT sum(count) AS n FROM outbox').get()).toEqual({ n: 500 });
    box.close();
    const wal = `${path}-wal`;
    expect(existsSync(wal) ? statSync(wal).size : 0).toBe(0);
    reader.close();
    // What a copy of agent.db alone (without its -wal) holds: everything.
    const copy = join(dirname(path), 'copy.db');
    copyFileSync(path, copy);
    const check = new Database(copy, { readonly: true });
    expect(check.prepare('SELECT sum(count) AS n FROM outbox').get()).toEqual({ n: 500 });
    check.close();
  });
});

describe('Outbox integrity check', () => {
  it('moves a damaged file aside, keeps it, and starts a fresh store', async () => {
    const { writeFileSync, existsSync, readFileSync } = await import('node:fs');
    const path = tempDb();
    const box = new Outbox(path);
    box.append(Array.from({ length: 500 }, (_, i) => rec(i)));
    box.close();
    // Damage the file: overwrite pages in the middle with garbage, keep the header.
    const bytes = readFileSync(path);
    for (let i = 8192; i < bytes.length - 100; i += 1) bytes[i] = (i * 31) & 0xff;
    writeFileSync(path, bytes);

    const opened = Outbox.open(path, {}, Date.parse('2026-11-22T08:00:00Z'));
    expect(opened.recovered).not.toBeNull();
    expect(opened.recovered!.movedTo).toBe(`${path}.corrupt-2026-11-22T08-00-00-000Z`);
    expect(existsSync(opened.recovered!.movedTo)).toBe(true);
    expect(opened.recovered!.reason).toMatch(/corrupt|malformed|not a database/i);
    // The fresh store works.
    opened.outbox.append([rec(1)]);
    expect(opened.outbox.pending('telemetry').records).toBe(1);
    opened.outbox.close();
  });

  it('damaged files moved aside beside the store are listed until noted, without their -wal/-shm (review rv105 H2)', () => {
    const path = tempDb();
    const box = new Outbox(path);
    expect(box.unnotedCorruptFiles()).toEqual([]);
    const a = `${path}.corrupt-2026-12-06T07-00-00-000Z`;
    const b = `${path}.corrupt-2026-12-06T07-00-00-000Z-1`;
    for (const f of [a, `${a}-wal`, `${a}-shm`, b, `${path}.reserve`, `${path}.lock`]) writeFileSync(f, 'x');
    writeFileSync(join(dirname(path), 'other.db.corrupt-2026'), 'x'); // another store's: not this one's
    expect(box.unnotedCorruptFiles()).toEqual([a, b]);
    box.noteCorruptFiles([a]);
    expect(box.unnotedCorruptFiles()).toEqual([b]);
    box.close();
    // Kept in the store: a restart lists only what is not noted.
    const again = new Outbox(path);
    expect(again.unnotedCorruptFiles()).toEqual([b]);
    again.noteCorruptFiles([b]);
    expect(again.unnotedCorruptFiles()).toEqual([]);
    again.close();
    // A store in memory has no file beside it.
    const mem = new Outbox(':memory:');
    expect(mem.unnotedCorruptFiles()).toEqual([]);
    mem.close();
  });

  it('a damaged file noted as reported stays so when the store itself is damaged and replaced later (review rv106 M3)', () => {
    const path = tempDb();
    const old = `${path}.corrupt-2026-01-01T00-00-00-000Z`;
    writeFileSync(old, 'old damaged store');
    const box = new Outbox(path);
    box.noteCorruptFiles([old]);
    box.close();
    // The mark is kept beside the store, not in it, and is not itself listed as a damaged file.
    expect(JSON.parse(readFileSync(`${path}.damaged-reported.json`, 'utf8'))).toEqual([`agent.db.corrupt-2026-01-01T00-00-00-000Z`]);
    const bytes = readFileSync(path);
    for (let i = 0; i < Math.min(bytes.length, 200); i++) bytes[i] = 0x41;
    writeFileSync(path, bytes);
    const opened = Outbox.open(path, {}, Date.parse('2026-12-06T09:00:00Z'));
    expect(opened.recovered?.movedTo).toBe(`${path}.corrupt-2026-12-06T09-00-00-000Z`);
    // Only the file this open moved aside is unreported.
    expect(opened.outbox.unnotedCorruptFiles()).toEqual([opened.recovered!.movedTo]);
    opened.outbox.noteCorruptFiles([opened.recovered!.movedTo]);
    expect(opened.outbox.unnotedCorruptFiles()).toEqual([]);
    // A reported file deleted by hand leaves the list.
    rmSync(old);
    opened.outbox.noteCorruptFiles([opened.recovered!.movedTo]);
    expect(JSON.parse(readFileSync(`${path}.damaged-reported.json`, 'utf8'))).toEqual([`agent.db.corrupt-2026-12-06T09-00-00-000Z`]);
    opened.outbox.close();
  });

  it('the reported list beside the store: missing or unreadable lists every damaged file (unreadable told), marks in meta still count, a store in memory writes none (review rv106 M3)', () => {
    const path = tempDb();
    const a = `${path}.corrupt-2026-12-06T07-00-00-000Z`;
    const b = `${path}.corrupt-2026-12-06T08-00-00-000Z`;
    for (const f of [a, b]) writeFileSync(f, 'x');
    const box = new Outbox(path);
    const told: string[] = [];
    expect(box.unnotedCorruptFiles((err) => told.push(err.message))).toEqual([a, b]);
    expect(told).toEqual([]); // missing: nothing reported yet, not an error
    box.noteCorruptFiles([a, b]);
    writeFileSync(`${path}.damaged-reported.json`, '["agent.db.corr'); // cut short
    expect(box.unnotedCorruptFiles((err) => told.push(err.message))).toEqual([a, b]);
    expect(told).toHaveLength(1);
    // Noting again writes a whole list in its place (no temporary file left).
    box.noteCorruptFiles([a, b]);
    expect(box.unnotedCorruptFiles()).toEqual([]);
    expect(existsSync(`${path}.damaged-reported.json.tmp`)).toBe(false);
    box.close();
    // A mark an agent before rv106 left in the store's meta counts as reported (an upgrade does not alarm it again).
    rmSync(`${path}.damaged-reported.json`);
    const db = new Database(path);
    db.prepare("INSERT INTO meta (key, value) VALUES ('corrupt-noted:' || ?, 'x')").run('agent.db.corrupt-2026-12-06T07-00-00-000Z');
    db.close();
    const again = new Outbox(path);
    expect(again.unnotedCorruptFiles()).toEqual([b]);
    again.close();
    // A store in memory cannot say it is noted anywhere durable: nothing is written (the next start alarms them).
    const mem = new Outbox(':memory:');
    mem.noteCorruptFiles([b]);
    expect(existsSync(':memory:.damaged-reported.json')).toBe(false);
    mem.close();
  });

  it('opens a healthy store without moving anything', () => {
    const path = tempDb();
    new Outbox(path).close();
    const opened = Outbox.open(path);
    expect(opened.recovered).toBeNull();
    opened.outbox.close();
  });
});

describe('what the disk limit keeps free, as store.maxBytes documents it (review rv100 L2)', () => {
  it('the store.maxBytes description states what the code keeps free of the disk', async () => {
    const { configSchema } = await import('../config/schema.js');
    const path = tempDb();
    const free = 2 ** 30;
    const box = new Outbox(path, { freeDiskBytes: () => free });
    const r = box.enforceLimits(1e15, 1e12);
    const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    // The room the disk limit counts: the store's files, its reserve file and the free space.
    const room = size(path) + size(`${path}-wal`) + size(`${path}.reserve`) + free;
    const keptMiB = (room - r.limitBytes) / 2 ** 20;
    expect(keptMiB).toBe(24);
    expect(configSchema.properties.store.properties.maxBytes.description).toContain(`less ~${keptMiB} MiB kept free`);
    box.close();
  });
});

describe('Outbox on a disk another program filled (tmpfs)', () => {
  it('packs and acknowledges on its reserve, and a limits check after it evicts for the disk in small passes', async () => {
    const { fillDisk, mountTmpfs, unmountTmpfs } = await import('../../test/support/tmpfs.js');
    const mnt = mountTmpfs(dirname(tempDb()), '64m');
    let box: Outbox | null = null;
    try {
      const path = join(mnt, 'agent.db');
      box = new Outbox(path, { synchronous: 'full', retainAckedMs: 0 });
      box.enforceLimits(4 * 2 ** 30, 1e12);
      expect(existsSync(`${path}.reserve`)).toBe(true);
      let n = 0;
      const batch = () => Array.from({ length: 500 }, () => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'd', body: JSON.stringify({ n: n++, pad: 'x'.repeat(250) }) }));
      while (box.usedBytes() < 28 * 2 ** 20) box.append(batch());
      fillDisk(mnt);
      // New records no longer fit; what is stored must still go out, or the store never shrinks.
      let refused = false;
      for (let i = 0; i < 50 && !refused; i++) {
        try {
          box.append(batch());
        } catch {
          refused = true;
        }
      }
      expect(refused).toBe(true);
      const m = box.pack('telemetry', 65536, env)!;
      box.acknowledge(m.id);
      expect(existsSync(`${path}.reserve`)).toBe(false);
      const r = enforceAll(box, 4 * 2 ** 30, 1e12);
      expect(r).toMatchObject({ reserveReleased: true, reserve: false, limitedBy: 'disk', evictedFor: 'capacity' });
      expect(r.usedBytes).toBeLessThanOrEqual(r.limitBytes);
      // Reported once.
      expect(box.enforceLimits(4 * 2 ** 30, 1e12).reserveReleased).toBe(false);
      // The room eviction made inside the file takes data again, and the backlog drains.
      box.append(batch());
      for (let k = 0; k < 10_000; k++) {
        const next = box.pack('telemetry', 65536, env);
        if (!next) break;
        box.acknowledge(next.id);
      }
      expect(box.pending('telemetry').records).toBe(0);
    } finally {
      box?.close();
      unmountTmpfs(mnt);
    }
  }, 60_000);

  it('a replay the disk has no room for is refused plainly, not a raw SQLITE_FULL, and nothing is copied (review rv100 L1)', async () => {
    const { mountTmpfs, unmountTmpfs } = await import('../../test/support/tmpfs.js');
    const mnt = mountTmpfs(dirname(tempDb()), '64m');
    let box: Outbox | null = null;
    try {
      const path = join(mnt, 'agent.db');
      box = new Outbox(path, { synchronous: 'full', retainAckedMs: 3600_000 });
      // ~28 MB sent, kept for replay: the disk limit leaves too little to copy them all.
      const big = 'x'.repeat(190_000);
      for (let i = 0; i < 150; i++) {
        box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, big }) }], 5000 + i);
        box.acknowledge(box.pack('telemetry', 256_000, env, 5000 + i)!.id); // now: within the retention
      }
      expect(box.enforceLimits(4 * 2 ** 30, 1e12).trimmedAcked).toBe(0);
      expect(existsSync(`${path}.reserve`)).toBe(true);
      expect(() => box!.replay(5000, 5150)).toThrow(ReplayRefusedError);
      expect(box.nextMessage()).toBeNull();
      expect(existsSync(`${path}.reserve`)).toBe(true);
      // A shorter range goes.
      expect(box.replay(5000, 5009).messages).toBe(10);
    } finally {
      box?.close();
      unmountTmpfs(mnt);
    }
  }, 60_000);

  it('a replay that meets a full disk all the same (the free space misread) is refused plainly, rolled back, and the store writes on (review rv100 L1)', async () => {
    const { mountTmpfs, unmountTmpfs } = await import('../../test/support/tmpfs.js');
    const mnt = mountTmpfs(dirname(tempDb()), '64m');
    let box: Outbox | null = null;
    try {
      const path = join(mnt, 'agent.db');
      // The store believes the disk has room: its check lets the replay through, the disk does not.
      box = new Outbox(path, { synchronous: 'full', retainAckedMs: 3600_000, freeDiskBytes: () => 1e12 });
      const big = 'x'.repeat(190_000);
      for (let i = 0; i < 150; i++) {
        box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, big }) }], 5000 + i);
        box.acknowledge(box.pack('telemetry', 256_000, env, 5000 + i)!.id);
      }
      writeFileSync(join(mnt, 'other'), Buffer.alloc(10 * 2 ** 20)); // another program's file
      expect(() => box!.replay(5000, 5150)).toThrow(/^the store's disk has no room to copy the 29 MB of sent messages in the range \(.+\), nothing was copied: ask for a shorter range$/);
      expect(box.nextMessage()).toBeNull();
      box.append([rec(1)]);
      expect(box.pending('telemetry').records).toBe(1);
      expect(box.replay(5000, 5009).messages).toBe(10);
    } finally {
      box?.close();
      unmountTmpfs(mnt);
    }
  }, 60_000);

  /** A store alone on a 64 MiB disk (the disk is its limit), records of ~220 B in appends of 200. */
  async function storeOnSmallDisk(retainAckedMs = 24 * 3600_000) {
    const tmpfs = await import('../../test/support/tmpfs.js');
    const mnt = tmpfs.mountTmpfs(dirname(tempDb()), '64m');
    const path = join(mnt, 'agent.db');
    const box = new Outbox(path, { synchronous: 'full', retainAckedMs });
    let n = 0;
    const batch = () => Array.from({ length: 200 }, () => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'd', body: JSON.stringify({ n: n++, pad: 'x'.repeat(200) }) }));
    /** Appends until the store refuses (a burst between two checks); returns the refusal's code. */
    const burst = () => {
      for (;;) {
        try {
          box.append(batch());
        } catch (err) {
          return (err as { code?: string }).code;
        }
      }
    };
    return { ...tmpfs, mnt, path, box, batch, burst };
  }

  it('caps the file at the first check with its new reserve counted once: a burst before the next check leaves the disk its kept room (review rv59 L1)', async () => {
    const s = await storeOnSmallDisk();
    try {
      s.box.enforceLimits(4 * 2 ** 30, 1e12);
      expect(existsSync(`${s.path}.reserve`)).toBe(true);
      // The file stops at its cap; the disk keeps room for the WAL's growth and the -shm (it was filled to 0).
      expect(s.burst()).toBe('SQLITE_FULL');
      expect(s.freeBytes(s.mnt)).toBeGreaterThanOrEqual(2 * 2 ** 20);
    } finally {
      s.box.close();
      s.unmountTmpfs(s.mnt);
    }
  }, 60_000);

  it("a pack at the store's own page cap, the disk having room, goes past the cap: the reserve stays and nothing says the disk is full (review rv59 M2)", async () => {
    const s = await storeOnSmallDisk();
    try {
      s.box.enforceLimits(4 * 2 ** 30, 1e12);
      s.box.enforceLimits(4 * 2 ** 30, 1e12);
      expect(s.burst()).toBe('SQLITE_FULL');
      expect(s.freeBytes(s.mnt)).toBeGreaterThan(2 ** 20); // the cap refused it, not the disk
      const m = s.box.pack('telemetry', 65536, env)!;
      s.box.acknowledge(m.id);
      expect(existsSync(`${s.path}.reserve`)).toBe(true);
      // The next check evicts down to the disk limit, as for any burst past the headroom.
      const r = enforceAll(s.box, 4 * 2 ** 30, 1e12);
      expect(r).toMatchObject({ reserveReleased: false, reserve: true, limitedBy: 'disk', evictedFor: 'capacity' });
      expect(r.usedBytes + r.retainedBytes).toBeLessThanOrEqual(r.limitBytes);
    } finally {
      s.box.close();
      s.unmountTmpfs(s.mnt);
    }
  }, 60_000);

  /** Overwrites the store's header: SQLite then says "file is not a database" (SQLITE_NOTADB) at the first read. */
  function damageHeader(path: string): void {
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from('this is not an sqlite file at all'), 0, 33, 0);
    closeSync(fd);
  }

  it('a damaged store on a disk full at start is moved aside and reported, though making the fresh store needed the reserve (review rv100 H1)', async () => {
    const { fillDisk, mountTmpfs, unmountTmpfs } = await import('../../test/support/tmpfs.js');
    const mnt = mountTmpfs(dirname(tempDb()), '64m');
    let opened: OpenedOutbox | null = null;
    try {
      const path = join(mnt, 'agent.db');
      const box = new Outbox(path);
      for (let i = 0; i < 20; i++) box.append(Array.from({ length: 200 }, (_, j) => rec(i * 200 + j)));
      box.enforceLimits(4 * 2 ** 30, 1e12);
      expect(existsSync(`${path}.reserve`)).toBe(true);
      box.close();
      damageHeader(path);
      fillDisk(mnt);
      opened = Outbox.open(path, {}, Date.parse('2026-12-06T07:00:00Z'));
      // Salvaged into the store the reserve's room made (its header damaged: nothing of it can be read or counted).
      expect(opened.recovered).toEqual({
        movedTo: `${path}.corrupt-2026-12-06T07-00-00-000Z`,
        reason: expect.stringMatching(/not a database/),
        // Its seq counter unreadable: new seqs start past a margin (salvage.ts SEQ_MARGIN), above any a salvage by hand adds.
        salvage: { records: 0, resumed: false, already: 0, messages: 0, keys: 0, failedRows: 0, unknown: true, error: null, unfinished: false, skipped: [], skippedOmitted: 0, nextSeq: 1_000_000_001, keysWithheld: true, missing: false },
        then: null,
      });
      expect(existsSync(opened.recovered!.movedTo)).toBe(true);
      expect(opened).toMatchObject({ reserveReleased: true, noRoom: null });
    } finally {
      opened?.outbox.close();
      unmountTmpfs(mnt);
    }
  }, 60_000);

  it('a damaged store on a full disk with no reserve left: reported, and the agent gets an empty store in memory holding the lock (review rv100 H1, H2)', async () => {
    const { fillDisk, mountTmpfs, unmountTmpfs } = await import('../../test/support/tmpfs.js');
    const mnt = mountTmpfs(dirname(tempDb()), '64m');
    let opened: OpenedOutbox | null = null;
    try {
      const path = join(mnt, 'agent.db');
      const box = new Outbox(path);
      for (let i = 0; i < 20; i++) box.append(Array.from({ length: 200 }, (_, j) => rec(i * 200 + j)));
      box.close();
      damageHeader(path);
      fillDisk(mnt);
      expect(existsSync(`${path}.reserve`)).toBe(false);
      opened = Outbox.open(path, {}, Date.parse('2026-12-06T07:00:00Z'));
      expect(opened.recovered?.movedTo).toBe(`${path}.corrupt-2026-12-06T07-00-00-000Z`);
      expect(existsSync(opened.recovered!.movedTo)).toBe(true);
      expect(opened.recovered!.salvage).toBeNull(); // no store on disk to copy into: all of it is left in the moved file
      expect(opened).toMatchObject({ reserveReleased: false, noRoom: 'memory' });
      expect(opened.outbox.path).toBe(':memory:');
      // It takes nothing, as a full disk (review rv105 H1): what it took would be gone at the next stop, while an HL7
      // sender told 'stored' deletes its copy. Refused as SQLITE_FULL, so that senders are told to resend.
      expect(() => opened!.outbox.append([rec(1)])).toThrow(expect.objectContaining({ code: 'SQLITE_FULL', message: expect.stringMatching(/in memory/) }));
      expect(() => opened!.outbox.appendBatches([{ records: [rec(2)], idempotencyKey: 'k' }])).toThrow(expect.objectContaining({ code: 'SQLITE_FULL' }));
      expect(opened.outbox.pending('telemetry').records).toBe(0);
      expect(opened.outbox.nothingToSend()).toBe(true);
      // Its notes (open alarms, losses) are kept in memory as before.
      opened.outbox.noteLoss('store-recovered', { text: 't', priority: 'medium', at: 1 });
      expect(opened.outbox.unacknowledgedLosses().size).toBe(1);
      // The store's lock is held all the same: no second agent takes the file meanwhile.
      expect(() => Outbox.open(path)).toThrow(StoreInUseError);
    } finally {
      opened?.outbox.close();
      unmountTmpfs(mnt);
    }
  }, 60_000);

  it('the reserve spent at run time, a clean stop, the disk still full: the store opens in exclusive locking mode (no -shm), refuses data for room, and a reader is told why it cannot read (review rv100 H2)', async () => {
    const s = await storeOnSmallDisk();
    let opened: OpenedOutbox | null = null;
    try {
      for (let i = 0; i < 100; i++) s.box.append(s.batch());
      s.box.enforceLimits(4 * 2 ** 30, 1e12);
      expect(existsSync(`${s.path}.reserve`)).toBe(true);
      const other = [s.fillDisk(s.mnt, 'other-1')];
      for (let k = 0; k < 50; k++) {
        const m = s.box.pack('telemetry', 65536, env);
        if (m) s.box.acknowledge(m.id);
      }
      expect(s.box.enforceLimits(4 * 2 ** 30, 1e12)).toMatchObject({ reserveReleased: true, reserve: false });
      const pending = s.box.pending('telemetry').records;
      s.box.close(); // a clean stop: the WAL truncated, -wal and -shm deleted
      other.push(s.fillDisk(s.mnt, 'other-2')); // the other program takes what that freed
      expect(s.freeBytes(s.mnt)).toBeLessThan(32 * 1024);

      opened = Outbox.open(s.path);
      expect(opened).toMatchObject({ recovered: null, reserveReleased: false, noRoom: 'exclusive' });
      expect(opened.outbox.pending('telemetry').records).toBe(pending);
      // No -shm sized: the failed first attempt leaves one short of SQLite's 32 KiB, unused in exclusive mode.
      expect(existsSync(`${s.path}-shm`) ? statSync(`${s.path}-shm`).size : 0).toBeLessThan(32 * 1024);
      expect(() => opened!.outbox.append(s.batch())).toThrow(expect.objectContaining({ code: 'SQLITE_FULL' }));
      // Exclusive mode keeps tools out while the agent runs: said plainly, and at once, not after a 5 s wait (review
      // rv105 L1; a bound, not a timing assertion).
      const t0 = performance.now();
      expect(() => RefusedReader.open(s.path)).toThrow(/held alone by the running agent/);
      expect(performance.now() - t0).toBeLessThan(2000);
      opened.outbox.close();
      opened = null;

      // Once space is back, the next start opens it as usual.
      for (const f of other) rmSync(f);
      opened = Outbox.open(s.path);
      expect(opened).toMatchObject({ recovered: null, reserveReleased: false, noRoom: null });
      expect(existsSync(`${s.path}-shm`)).toBe(true);
      expect(opened.outbox.pending('telemetry').records).toBe(pending);
    } finally {
      opened?.outbox.close();
      s.box.close();
      s.unmountTmpfs(s.mnt);
    }
  }, 60_000);

  it('makes its reserve again while the disk limits it, once another program gives back what it took (review rv59 M2)', async () => {
    const s = await storeOnSmallDisk();
    try {
      s.box.enforceLimits(4 * 2 ** 30, 1e12);
      // The store at its disk limit, its file as large as the limit lets it grow.
      expect(s.burst()).toBe('SQLITE_FULL');
      s.box.enforceLimits(4 * 2 ** 30, 1e12);
      // Another program takes what the store keeps free; the store gives up its reserve to go on packing.
      const filler = s.fillDisk(s.mnt);
      s.burst();
      for (let k = 0; k < 20; k++) {
        const m = s.box.pack('telemetry', 65536, env);
        if (!m) break;
        s.box.acknowledge(m.id);
      }
      expect(existsSync(`${s.path}.reserve`)).toBe(false);
      expect(s.box.enforceLimits(4 * 2 ** 30, 1e12).reserveReleased).toBe(true);
      // It gives that room back: what the disk limit keeps free, and the reserve's 8 MiB.
      rmSync(filler);
      expect(s.box.enforceLimits(4 * 2 ** 30, 1e12).reserve).toBe(true);
      // And the store does not take the reserve's room while it goes on (the hub up, data coming).
      for (let cycle = 0; cycle < 10; cycle++) {
        for (let i = 0; i < 20; i++) s.box.append(s.batch());
        for (let m = s.box.pack('telemetry', 65536, env); m; m = s.box.pack('telemetry', 65536, env)) s.box.acknowledge(m.id);
        expect(s.box.enforceLimits(4 * 2 ** 30, 1e12).reserve).toBe(true);
      }
    } finally {
      s.box.close();
      s.unmountTmpfs(s.mnt);
    }
  }, 60_000);
});
