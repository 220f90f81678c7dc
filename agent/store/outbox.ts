// The durable store-and-forward outbox on SQLite (better-sqlite3, WAL).
//
// Two kinds of table:
//   outbox   — accepted records not yet packed into a message, in arrival order (seq). Consecutive records of one
//              append from one device, stream and class share a row (`count` records, their bodies joined by
//              commas, at most ROW_MAX_BYTES): SQLite's cost is mostly per row, and a monitor emits its numerics
//              together. A row joined this way is also a valid run of array entries for an older agent.
//              A waveform segment keeps its samples in binary (`samples`, see samples.ts) and its row to itself;
//              the JSON is written when it is packed.
//              `outbox` is a view over one table per eviction class (outbox_0 alarms, outbox_1 numerics and events,
//              outbox_2 waveforms) sharing one seq: evicting a class must free whole pages, and rows of several
//              classes in one table share pages (evicting every waveform freed an eighth of their room).
//   messages — packed messages awaiting the hub's acknowledgement. A message's id and body are fixed when it is
//              packed, so a resend after a restart carries the same id and the same content.
// A record counts as accepted once append() has committed. Rows leave `outbox` only by being packed into a
// message in the same transaction, and a message is deleted only when the hub acknowledged it.
// The store does not send; the forwarder reads from it. One agent at a time has the store open (lock.ts).
// Evictions (enforceLimits) are noted in `meta` with the rows they delete, until the agent has reported them.
import { accessSync, chmodSync, closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { mountHolding, parseMountinfo } from './volume.js';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { recordJson, samplesJsonBytes, SAMPLES_PLACEHOLDER, UnreadableRecordError } from './samples.js';
import { realStorePath, StoreLock } from './lock.js';
import { finishedSalvages, salvage, SALVAGE_RESULT, unfinishedSalvage, unreadableNoteResult, type SalvageDone, type SalvageEvent, type SalvageMarker, type SalvageResult } from './salvage.js';
import { replayBody } from '../forward/wire.js';

export { StoreInUseError } from './lock.js';
export type { SalvageEvent, SalvageResult } from './salvage.js';

export type Stream = 'alarms' | 'telemetry';
/** Order in which streams are drained: alarms first. */
export const STREAMS: readonly Stream[] = ['alarms', 'telemetry'];

/** Eviction class, lowest evicted last: 0 alarms and audit, 1 numerics and events, 2 waveforms. */
export type RecordClass = 0 | 1 | 2;

export interface OutboxRecord {
  stream: Stream;
  cls: RecordClass;
  deviceId: string;
  /** One JSON value (an entry of a message's `records` array); with `samples`, a placeholder stands for them. */
  body: string;
  /** A waveform's samples in the store's binary form (samples.ts encodeSamples). */
  samples?: Uint8Array;
  /** recordBytes(this), when its writer knows it (measuring a record built by concatenation copies it first). */
  bytes?: number;
}

/** One row of the outbox table: `count` records of one stream, class and device, bodies joined by commas. */
export interface OutboxRow {
  stream: Stream;
  cls: RecordClass;
  deviceId: string;
  count: number;
  /** UTF-8 bytes of the records' JSON (with the samples' text, for a waveform). */
  bytes: number;
  body: string;
  samples: Uint8Array | null;
}

/**
 * Most JSON a row holds, by default: half the smallest message the agent packs (hub.maxMessageBytes ≥ 4096), so
 * that a row always fits a message. The agent uses at most an eighth of hub.maxMessageBytes, so that a message's
 * last row leaves little of it unused.
 */
export const ROW_MAX_BYTES = 2048;

/** UTF-8 bytes of a record's JSON as it travels (with its samples' text, for a waveform): what maxRecordBytes limits. */
export function recordBytes(r: OutboxRecord): number {
  return Buffer.byteLength(r.body) + (r.samples ? samplesJsonBytes(r.samples) - SAMPLES_PLACEHOLDER.length : 0);
}

/**
 * The rows records are stored in: consecutive records of the same stream, class and device share a row up to
 * rowMaxBytes. Throws RecordTooLargeError for a record over maxRecordBytes. Exported for the ingest benchmark,
 * whose ceiling inserts the very same rows.
 */
export function* toRows(records: Iterable<OutboxRecord>, maxRecordBytes: number, rowMaxBytes = ROW_MAX_BYTES): Generator<OutboxRow> {
  let row: OutboxRow | null = null;
  for (const r of records) {
    const samples = r.samples ?? null;
    const bytes = r.bytes ?? recordBytes(r);
    if (bytes > maxRecordBytes) throw new RecordTooLargeError(bytes, maxRecordBytes, r.deviceId);
    if (row && !row.samples && !samples && row.stream === r.stream && row.cls === r.cls && row.deviceId === r.deviceId && row.bytes + 1 + bytes <= rowMaxBytes) {
      row.body += `,${r.body}`;
      row.bytes += 1 + bytes;
      row.count++;
      continue;
    }
    if (row) yield row;
    row = { stream: r.stream, cls: r.cls, deviceId: r.deviceId, count: 1, bytes, body: r.body, samples };
  }
  if (row) yield row;
}

export interface AppendBatch {
  /**
   * Iterated once, inside the transaction, and only if the batch is stored (not for a duplicate): an iterable that
   * serialises when iteration starts keeps every body short-lived (cheap for the collector).
   */
  records: Iterable<OutboxRecord>;
  /** Stable key of what the sender sent (e.g. HL7 sender + control id + content hash). */
  idempotencyKey?: string;
}
export type AppendOutcome = 'stored' | 'duplicate';

export interface PackedMessage {
  id: string;
  stream: Stream;
  firstSeq: number;
  lastSeq: number;
  count: number;
  body: string;
  createdAt: number;
  attempts: number;
  /** Set on a copy re-queued by replay(): the id of the message it repeats. */
  replayOf?: string;
}

export interface PendingStats {
  records: number;
  bytes: number;
  /** created_at of the oldest unpacked record, or null. */
  oldestAt: number | null;
}

export interface OutboxOptions {
  synchronous?: 'full' | 'normal';
  /** A single record larger than this is refused at append (it could never be sent). */
  maxRecordBytes?: number;
  /** How long acknowledged messages are kept for replay(); 0 deletes them at once. Over capacity the oldest go sooner. */
  retainAckedMs?: number;
  /**
   * Most JSON one row holds (records of one append, device, stream and class share a row up to this). Must be at
   * most half of the smallest message packed, or a message could exceed its size; 0 stores a row per record.
   * Default ROW_MAX_BYTES.
   */
  rowMaxBytes?: number;
  /** Free bytes on the store's disk. Default: statfs of the store's folder. Tests simulate a nearly full disk with it. */
  freeDiskBytes?: () => number;
  /**
   * Told when open() salvages a damaged file (salvage.ts): before it copies anything, and its progress every
   * salvageProgressMs (default 5000) while it runs, for the log: it runs before open() returns.
   */
  onSalvage?: (event: SalvageEvent) => void;
  salvageProgressMs?: number;
}

/**
 * Unsent records evicted and not yet reported, by reason and class. Each eviction adds to it in the transaction that
 * deletes the records, so that a process killed before it reported them still leaves the loss written down; the
 * agent reports it and clears it with settleEvictions().
 */
export interface EvictionTally {
  age: Record<RecordClass, number>;
  capacity: Record<RecordClass, number>;
  /** Some capacity eviction was for the disk (its free space), not store.maxBytes. */
  disk: boolean;
  /** When the first of these records was evicted. */
  since: number;
}

const EVICTED_KEY = 'evicted-unreported';
/** Records of unreadable rows deleted to make room before they were settled: still to report (meta, a number). */
const UNREADABLE_TRIMMED_KEY = 'unreadable-trimmed-unreported';
/** Messages set aside (`refused`) deleted for room or age and not yet settled: still to report (meta, JSON). */
const REFUSED_TRIMMED_KEY = 'refused-trimmed-unreported';

/** Messages set aside (`refused`) deleted for room or age: a loss (nobody sent them). */
export interface RefusedTrimmed {
  messages: number;
  records: number;
  /** Of those records, alarm-stream ones. */
  alarmRecords: number;
  /** The tally was unreadable (a torn write, a hand edit): an unknown number of records more went (review rv96 L1). */
  unknown?: true;
}

function parseTally(text: string | undefined): EvictionTally | null {
  if (text === undefined) return null;
  let v: Partial<EvictionTally> | null = null;
  try {
    v = JSON.parse(text) as Partial<EvictionTally> | null;
  } catch {
    // Written only by this file, in transactions: unreadable means a damaged file, which the start's check finds.
  }
  const counts = (c: Partial<Record<RecordClass, unknown>> | undefined): Record<RecordClass, number> => ({
    0: Number(c?.[0]) || 0,
    1: Number(c?.[1]) || 0,
    2: Number(c?.[2]) || 0,
  });
  return { age: counts(v?.age), capacity: counts(v?.capacity), disk: v?.disk === true, since: Number(v?.since) || Date.now() };
}

/** Records in a tally (both reasons, every class). */
function tallyTotal(t: EvictionTally): number {
  return t.age[0] + t.age[1] + t.age[2] + t.capacity[0] + t.capacity[1] + t.capacity[2];
}

/** Records in deleted rows, by class. */
function classCounts(rows: readonly { cls: RecordClass; count: number }[]): Record<RecordClass, number> {
  const counts: Record<RecordClass, number> = { 0: 0, 1: 0, 2: 0 };
  for (const r of rows) counts[r.cls] += r.count;
  return counts;
}

/**
 * The disk is a capacity too: a backlog that filled the disk could never be sent, as packing a message needs pages
 * before it frees any. So the store's data stays below what its files and the free space can hold, less:
 * room for the WAL (it grows to ~4 MB between automatic checkpoints, more in a large transaction), a reserve the
 * database file never takes (checkpoint, -shm, lock file), and headroom for what ingest adds between two checks
 * (10 s): the database file may grow into the headroom (max_page_count), not beyond it, so the WAL and the reserve
 * stay free even when ingest outruns the checks. All this only once the store's files and the free space come to
 * twice what is kept free (32 MiB): less (a tiny disk, or another program filled it while the store is small) and
 * evicting could not make that room, only discard data; the store then takes what the disk gives, as before. (Its file
 * is not capped then: once its backlog fills such a disk and no reserve is left, the WAL cannot be checkpointed and
 * nothing can be written, an eviction neither, until space is freed by hand; review rv59 M1, open.)
 */
const DISK_WAL_ROOM_BYTES = 6 * 1024 * 1024;
/**
 * journal_size_limit: SQLite keeps a WAL file at the largest size it ever grew to (a replay, up to REPLAY_MAX_BYTES in
 * one transaction), outside the room the disk limit keeps for it, for the rest of the run. With this limit the file is
 * cut back to the WAL's room at the first commit after a checkpoint (review rv100 L1). The WAL between automatic
 * checkpoints (~4 MB) stays under it, so it is not cut at every checkpoint.
 */
const WAL_SIZE_LIMIT_BYTES = DISK_WAL_ROOM_BYTES;
/**
 * SQLite's page cache for the store's connection, in KiB (negative cache_size). better-sqlite3 builds SQLite with 16 MB
 * (SQLITE_DEFAULT_CACHE_SIZE=-16000), which the store's appends fill within minutes and keep: 12 MB of the agent's RSS
 * at 128 beds (bench/memory.ts). Appends touch the B-trees' right edges and the forwarder reads the oldest rows once,
 * so a small cache serves them; the OS's page cache holds the file anyway.
 */
export const STORE_CACHE_KIB = 4096;
const DISK_RESERVE_BYTES = 2 * 1024 * 1024;
const DISK_HEADROOM_BYTES = 8 * 1024 * 1024;
/** SQLite's own largest max_page_count: no cap. */
const NO_PAGE_CAP = 0xfffffffe;
/**
 * While the disk is full (a write failed with SQLITE_FULL), rows are deleted in passes of at most this many of their
 * bytes, with a checkpoint between passes: each pass's transaction must fit in the room the WAL file already has (or the
 * reserve gave), whereas one large eviction needed more WAL than the disk had and failed whole. A pass that still
 * fails is tried at a quarter of its size, down to MIN_PASS_BYTES (a row).
 */
const TIGHT_PASS_BYTES = 1024 * 1024;
const MIN_PASS_BYTES = 1;
const NO_ROWID_LIMIT = Number.MAX_SAFE_INTEGER;
/**
 * Rows of unsent records one enforceLimits() call evicts at most (its slice): the check runs on the agent's only
 * thread, and evicting a day's backlog in one call held HL7 ACKs, alarms and the display for seconds (~25 µs a row).
 * Past it the call returns `more` and the caller calls again soon; the eviction goes on where it stopped.
 */
export const EVICT_SLICE_ROWS = 2000;

/**
 * How long an idempotency key is kept. A key is there for one thing: a sender's resend of a batch whose
 * acknowledgement was lost when the agent stopped after the commit (crash, kill -9, update). Senders resend within
 * seconds to minutes; an hour is the HL7 driver's default duplicateWindow.ttlMs, the memory the running driver has
 * of what it stored, which the store's keys carry across a restart. At ~171 B per HL7 message, 64 messages/s keep
 * ~40 MB of keys (24 h of them were ~1 GB). Over capacity, keys are trimmed, oldest first, before any unsent record.
 */
export const IDEMPOTENCY_TTL_MS = 3_600_000;
/** Expired keys at which the key table is rebuilt from the ones kept instead of deleting the expired ones one by one. */
const KEY_REBUILD_MIN = 10_000;

/** What enforceLimits() removed, by record class, and how full the store is. */
export interface LimitsReport {
  /**
   * Bytes the store's data occupies, less the sent messages kept for replay (retainedBytes): those are trimmed,
   * oldest first, before any unsent record, so they put no data at risk and do not count as usage.
   */
  usedBytes: number;
  /** usedBytes / limitBytes. */
  fraction: number;
  /** Bytes of acknowledged messages kept for replay (store.retainSentHours). */
  retainedBytes: number;
  /**
   * The capacity eviction kept to: store.maxBytes, or less when the disk cannot take that much (limitedBy 'disk'). On a
   * full disk with the store too small for the disk limit (nothing evicted for it), usedBytes: the store is full.
   */
  limitBytes: number;
  limitedBy: 'maxBytes' | 'disk';
  /** Free bytes on the store's disk when checked (Infinity for ':memory:' or when it cannot be read). */
  freeDiskBytes: number;
  /** Acknowledged messages dropped from the replay retention at its end (not a loss: already delivered). */
  trimmedAcked: number;
  /**
   * Acknowledged messages dropped before the end of the replay retention, oldest first, to keep the store within its
   * capacity (not a loss: already delivered; a replay can no longer resend them).
   */
  trimmedAckedForCapacity: number;
  /**
   * Idempotency keys dropped before IDEMPOTENCY_TTL_MS to keep the store within its capacity (before any unsent record):
   * a sender's resend of one of those batches after a restart would be stored again, under new message ids.
   */
  trimmedKeys: number;
  /** Unsent records evicted by this call, by class. */
  evicted: Record<RecordClass, number>;
  evictedFor: 'capacity' | 'age' | null;
  /**
   * The eviction stopped at its slice (sliceRows rows) with more to evict: call again soon (not in 10 s). The next
   * call goes on with it, to the same 90 % target, walking the whole order again (evictRun).
   */
  more: boolean;
  /**
   * Every eviction not yet reported (this call's, and any an earlier run did not live to report): the loss to
   * report. Stays in the store until settleEvictions().
   */
  unreported: EvictionTally | null;
  /**
   * Records that could not be read back to pack them (moved to `unreadable`, not sent) and not yet settled: the loss
   * to report. Counted again at every check, across restarts too, until settleUnreadable().
   */
  unreadable: number;
  /** Unreadable records deleted from the `unreadable` table to make room (counted in `unreadable` until settled). */
  trimmedUnreadable: number;
  /** Replay copies dropped unsent to make room (their originals reached the hub). */
  trimmedReplays: number;
  /** Messages set aside as refused by the hub (table `refused`, kept until someone sends them again). */
  refused: { messages: number; records: number };
  /**
   * Messages set aside deleted for room (before any unsent record) or past store.maxAgeHours since they were set
   * aside, not yet settled: the loss to report. Counted again at every check, across restarts too, until
   * settleRefusedTrimmed().
   */
  refusedTrimmed: RefusedTrimmed;
  /** Whether the reserve file (RESERVE_BYTES) is in place. */
  reserve: boolean;
  /**
   * The disk filled while the store was open (a write failed with SQLITE_FULL): the reserve file was deleted since the
   * last report to give the store room to evict, pack and acknowledge. It is made again once the disk has room.
   */
  reserveReleased: boolean;
}

/**
 * Version of how records are kept, in the meta table: 1 one JSON record per row; 2 rows of several records
 * (`count`) and binary waveform samples (`samples`); 3 a table per record class (outbox_0/1/2) behind the view
 * `outbox`. A store of a newer format is refused, not misread (an agent of format 2 would not see outbox_1/2).
 */
export const STORE_FORMAT = 3;

/**
 * The table of each record class's unsent rows. A store upgraded from format 2 or older keeps its earlier rows,
 * of every class, in outbox_0 (its old `outbox` table, renamed): every query below selects by stream or class
 * over all three, so those rows are sent or evicted like the others.
 */
const CLASS_TABLES = ['outbox_0', 'outbox_1', 'outbox_2'] as const;

function classTableSql(table: string): string {
  // Index of outbox_0: the name it had as `outbox`'s index, so that an upgraded store keeps its index.
  const index = table === 'outbox_0' ? 'outbox_stream_seq' : `${table}_stream_seq`;
  return `
CREATE TABLE IF NOT EXISTS ${table} (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  stream     TEXT    NOT NULL,
  cls        INTEGER NOT NULL,
  device_id  TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  bytes      INTEGER NOT NULL,
  body       TEXT    NOT NULL,
  count      INTEGER NOT NULL DEFAULT 1,
  samples    BLOB
) STRICT;
CREATE INDEX IF NOT EXISTS ${index} ON ${table} (stream, seq);`;
}

export class StoreFormatError extends Error {
  constructor(readonly found: number) {
    super(`store format ${found} was written by a newer agent (this one reads up to ${STORE_FORMAT}); run that agent version, or move the store file aside`);
    this.name = 'StoreFormatError';
  }
}

/** The store file is damaged (integrity check failed, or SQLite says so). */
export class CorruptStoreError extends Error {
  constructor(readonly detail: string) {
    super(`store is corrupt: ${detail}`);
    this.name = 'CorruptStoreError';
  }
}

function isCorruption(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return err instanceof CorruptStoreError || code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB';
}

/** A damaged store file moved aside (Outbox.open). */
export interface RecoveredStore {
  /**
   * Where the file (and its -wal) was moved: kept, for inspection or a salvage by hand. For a salvage resumed after a
   * stop (salvage.resumed), by the start that was stopped.
   */
  movedTo: string;
  reason: string;
  /**
   * What of its unsent data was copied into the fresh store (salvage.ts); null when no fresh store on disk could take
   * it (the disk full at start: the store in memory), so nothing was copied.
   */
  salvage: SalvageResult | null;
  /**
   * Another moved file's salvage reported with this one: one whose note the damaged file held (a fresh store damaged
   * during a resume, gone on with after it, review rv189 M2), or one more finished salvage not yet reported (L3).
   */
  then: RecoveredStore | null;
}

export interface OpenedOutbox {
  outbox: Outbox;
  /** Set when the file was damaged: where it was moved and why, and what was salvaged into the fresh store. */
  recovered: RecoveredStore | null;
  /** The disk was too full to open the store: its reserve file was deleted to make room (see RESERVE_BYTES). */
  reserveReleased: boolean;
  /**
   * The disk was too full to open the store as usual, and no reserve (or not enough) was left (review rv100 H2):
   * 'exclusive' — opened in exclusive locking mode, which needs no -shm file; it refuses data until space returns,
   * and no other process (`--refused list`) can read it until the agent restarts. 'memory' — not even so: an empty
   * store in memory (the file's lock still held), so that the agent runs; nothing it takes is kept across a restart.
   */
  noRoom: 'exclusive' | 'memory' | null;
  /**
   * The store's disk failed at open (an SQLite I/O error with room on the disk: bad blocks, a disk going away), not a
   * full one: `outbox` is an empty store in memory that takes no data (the file's lock still held), so that the agent
   * runs; `message` names the store and its free space (null: unreadable).
   */
  diskError: { code: string; freeDiskBytes: number | null; message: string; readOnly?: true } | null;
  /**
   * Failing-disk errors of the first open that were tried again (OPEN_ATTEMPTS), in order, for the caller to log: a
   * transient one (an SD or USB hiccup at boot) is followed by a store opened on its file.
   */
  openRetries: { code: string; freeDiskBytes: number | null; message: string }[];
}

/**
 * How often open() tries the store when the disk fails with room on it, and the pause before each try again: a
 * single transient I/O error at boot must not cost the whole run on the store in memory that takes no data (review
 * rv116 M2). Short and bounded (200 ms at most), as the start waits for it.
 */
const OPEN_ATTEMPTS = 3;
const OPEN_RETRY_PAUSE_MS = 100;

/**
 * A file of this size kept beside the store (`<store>.reserve`) while the disk has room: when another program has
 * filled the disk, opening the store (its -wal and -shm files, the schema check) needs a little space, and without it
 * the agent could not start at all — no display, no alarms. The reserve is deleted to open the store then, or, when the
 * disk fills while the store is open, to let it checkpoint, evict, pack and acknowledge (enforceLimits(), withRoom()).
 * 8 MiB: the checkpoint that must come first writes the WAL's new pages past the end of the database file, up to the
 * ~4 MB the WAL holds between automatic checkpoints, and a large ingest transaction on top. The disk limit keeps its
 * room free whether the file is there or not (diskRoom()), and it is made again once the disk has that room plus what
 * the disk limit keeps free beside the store's files (keptFreeBytes(): 10 to 16 MiB free): a store the disk limits
 * keeps just that free, so a reserve made only at more would never come back.
 */
export const RESERVE_BYTES = 8 * 1024 * 1024;

const reservePath = (path: string) => `${path}.reserve`;

/** The mode of a store folder the agent makes: the store holds patient ids (docs/security.md; review rv119 L3). */
export const STORE_DIR_MODE = 0o750;
/** The most the store's files keep when other local users could read them (0644 becomes 0640). */
export const STORE_FILE_MODE = 0o640;

/**
 * Limits the store file and its -wal and -shm to STORE_FILE_MODE where other users have any access to them (SQLite
 * makes them 0644 under the usual umask; a new -wal or -shm takes the file's mode); no permission is added (a file made
 * read-only stays so). Returns the files it could not change (a file owned by another user), for the caller to log:
 * the store opens all the same (review rv119 L3).
 */
export function restrictStoreFiles(path: string, chmod: (file: string, mode: number) => void = chmodSync): { file: string; code: string }[] {
  const failed: { file: string; code: string }[] = [];
  let real = path;
  try {
    real = realStorePath(path); // SQLite puts the -wal and -shm beside the link's target
  } catch {
    // judged on the path as given
  }
  for (const suffix of ['', '-wal', '-shm']) {
    const file = real + suffix;
    try {
      const mode = statSync(file).mode;
      if ((mode & 0o007) === 0) continue;
      chmod(file, mode & STORE_FILE_MODE);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') failed.push({ file, code: code ?? String((err as Error).message) });
    }
  }
  return failed;
}

/** Why the store in memory (Outbox.open, noRoom 'memory') refuses data: told to ingest, logged, and so to senders. */
const MEMORY_STORE_REFUSAL =
  'the store runs in memory (the disk was full at start): it takes no data, senders are told to resend; free disk space and restart the agent';

/** ...and the one Outbox.open falls back to on a failing disk (diskError). */
const failingDiskRefusal = (code: string) =>
  `the store's disk is failing (${code}): the store could not be opened and runs in memory; it takes no data, senders are told to resend; check the disk and restart the agent`;

/** ...and on a filesystem mounted read-only (diskError.readOnly). */
const readOnlyDiskRefusal = (code: string) =>
  `the store's disk is read-only (${code}): the store could not be opened and runs in memory; it takes no data, senders are told to resend; check the disk (Linux remounts a filesystem read-only after a disk error) and restart the agent`;

/** Key prefix in `meta` of a damaged file noted as reported by an agent before rv106: still read (upgrade), no longer written. */
const CORRUPT_NOTED = 'corrupt-noted:';

/**
 * The damaged files moved aside that were reported (noteCorruptFiles), a JSON list of file names beside the store:
 * not in it, where a store damaged in turn and moved aside took its marks along (review rv106 M3). Its name must not
 * start with `<store>.corrupt-`, or it would be listed as a damaged file.
 */
const reportedPath = (path: string) => `${path}.damaged-reported.json`;

/**
 * A damaged file being moved aside whose salvage has not yet written its note in the fresh store (review rv189 M1): a
 * JSON { file, reason } beside the store, made durable before the move and removed once the note is committed.
 */
const pendingPath = (path: string) => `${path}.salvage-pending`;

function writePending(path: string, p: { file: string; reason: string }): void {
  const fd = openSync(pendingPath(path), 'w');
  try {
    writeSync(fd, JSON.stringify(p));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncFolder(dirname(path));
}

/** The pending move of a damaged file, or null (none, or torn by a power cut before its fsync: the move came after it). */
function readPending(path: string): { file: string; reason: string } | null {
  try {
    const p = JSON.parse(readFileSync(pendingPath(path), 'utf8')) as { file?: unknown; reason?: unknown } | null;
    return typeof p?.file === 'string' && p.file !== '' && typeof p.reason === 'string' ? { file: p.file, reason: p.reason } : null;
  } catch {
    return null;
  }
}

/** Moves a damaged store file and its -wal and -shm aside, the file itself last: while it is not at `to`, the move is not done. */
function moveAside(path: string, to: string): void {
  for (const suffix of ['-wal', '-shm', '']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, to + suffix);
  }
  fsyncFolder(dirname(path));
}

function fsyncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Free space below which an SQLITE_IOERR_* is taken for a full disk. A full disk gives SQLITE_FULL (a write that found
 * no room), except where SQLite's unix VFS turns ENOSPC into an I/O error: the -shm file that cannot grow by its next
 * 32 KiB region (SQLITE_IOERR_SHMSIZE, at open or at a write; seen on a full tmpfs with 0 to 32 KiB left), an fsync or
 * a size hint (fallocate) on some filesystems. All fail within a few KiB of a full disk; the disk limit keeps at least
 * DISK_RESERVE_BYTES free whenever it can, so less than that is a full disk by the store's own measure. With more
 * free (or the free space unreadable: a disk gone), an I/O error is a failing disk, and room would not help it.
 */
const FULL_DISK_FREE_BYTES = DISK_RESERVE_BYTES;
/**
 * Free space a store reported full (see keepWithinLimits) must have again before it is reported by its real figure:
 * twice FULL_DISK_FREE_BYTES. Free space moves by hundreds of kB between checks (WAL checkpoints, another program's log
 * rotation); without this band a disk hovering at the line raised and resolved the store alarm at every crossing
 * (review rv155 F1). The reserve file is not counted: it is room to pack and acknowledge, not to take data.
 */
const FULL_DISK_LEAVE_BYTES = 2 * FULL_DISK_FREE_BYTES;

/** Free bytes on the disk of the store at `path`: opts.freeDiskBytes, else statfs of its folder. */
function diskFreeBytes(path: string, opts: OutboxOptions): () => number {
  return opts.freeDiskBytes ?? (() => {
    const fs = statfsSync(dirname(path));
    return fs.bavail * fs.bsize;
  });
}

/** Free bytes now, or null when they cannot be read. */
function readFree(free: () => number): number | null {
  try {
    return free();
  } catch {
    return null;
  }
}

/**
 * Out of disk space: SQLITE_FULL or ENOSPC, or an SQLite I/O error while the disk has less than FULL_DISK_FREE_BYTES
 * free. Only then do the full-disk fallbacks run (the reserve, small passes, the store in exclusive mode or in memory).
 */
function isDiskFull(err: unknown, free: () => number): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return true;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_IOERR')) return false;
  const bytes = readFree(free);
  return bytes !== null && bytes < FULL_DISK_FREE_BYTES;
}

/** Errors storeError() made: passed on as they are. */
const explained = new WeakSet<object>();

/**
 * An error of the store as its callers should see it. An SQLite I/O error on a full disk becomes SQLITE_FULL (ingest
 * refuses as on a full disk, and its alarm says so); any other I/O error keeps its code and says it is a failing disk,
 * naming the store and its free space (the logs of ingest, the forwarder and the store check show the message).
 */
function storeError(err: unknown, path: string, free: () => number): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_IOERR') || explained.has(err as object)) return err;
  const bytes = readFree(free);
  const out =
    bytes !== null && bytes < FULL_DISK_FREE_BYTES
      ? new Database.SqliteError(`database or disk is full (${code} on ${path}, ${bytes} bytes free)`, 'SQLITE_FULL')
      : new Database.SqliteError(failingDiskMessage(code, path, bytes), code);
  explained.add(out);
  return Object.assign(out, { cause: err });
}

function failingDiskMessage(code: string, path: string, bytes: number | null): string {
  return `disk I/O error (${code}) on ${path}, ${bytes === null ? 'its free space unreadable' : `${(bytes / 2 ** 20).toFixed(1)} MiB free`}: the disk is failing, not full`;
}

/**
 * How the store's folder (or its nearest existing parent) is read-only, or null when it is writable: access(2) says
 * EROFS there to anyone, root too, where a real permission problem (a wrong owner) says EACCES. A filesystem that is
 * itself read-only (super options `ro`: ext4's errors=remount-ro after a disk error) is a failing disk ('filesystem');
 * a read-only mount of a writable one (a `:ro` bind, a container's read-only root) is a set-up mistake: its mount
 * point (review rv136 M1). Without mount information (not Linux), a failing disk, as before.
 */
export function storeReadOnly(path: string, mountinfo = '/proc/self/mountinfo'): { filesystem: true } | { mount: string } | null {
  let dir = dirname(path);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EROFS') return null;
  }
  try {
    const mount = mountHolding(realpathSync(dir), parseMountinfo(readFileSync(mountinfo, 'utf8')));
    if (mount?.mountOptions.includes('ro') && !mount.superOptions.includes('ro')) return { mount: mount.point };
  } catch {
    // no mount information: taken for the filesystem's, as before
  }
  return { filesystem: true };
}

/** The start's refusal of a store on a read-only mount (storeProblems says the same), with EROFS as its code. */
export function readOnlyMountError(mountPoint: string, cause: unknown): Error {
  return Object.assign(new Error(`store.path is on a read-only mount (${mountPoint}): mount the store volume read-write`), { code: 'EROFS', cause });
}

/**
 * A failing disk (an SQLite I/O error that isDiskFull() does not take for a full one), with the free space read, or
 * null. Also a filesystem gone read-only under the store (ext4's errors=remount-ro on a disk error; review rv133 H2):
 * SQLite says SQLITE_CANTOPEN (no -wal or -shm can be made) or SQLITE_READONLY*, the folder's mkdir EROFS (ENOENT when
 * recursive: Node names the deepest folder); the same codes on a writable filesystem are not the disk's.
 */
function diskFailure(err: unknown, path: string, free: () => number): OpenedOutbox['diskError'] {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  const readOnly = /^(SQLITE_(CANTOPEN|READONLY|IOERR)|EROFS$|ENOENT$)/.test(code) ? storeReadOnly(path) : null;
  // A read-only mount is the set-up's, not the disk's: the start is refused, naming it.
  if (readOnly && 'mount' in readOnly) throw readOnlyMountError(readOnly.mount, err);
  if (readOnly) {
    const message = `${code} on ${path}: the store is on a read-only filesystem (remounted so after a disk error?): the disk is failing, not a permission problem`;
    return { code, freeDiskBytes: readFree(free), message, readOnly: true };
  }
  if (!code.startsWith('SQLITE_IOERR')) return null;
  const bytes = readFree(free);
  if (bytes !== null && bytes < FULL_DISK_FREE_BYTES) return null;
  return { code, freeDiskBytes: bytes, message: failingDiskMessage(code, path, bytes) };
}

/** Blocks for `ms` (open() is synchronous: the agent's constructor opens the store). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** How far a stamp may run ahead of the store's own clock (see enforceLimits) before it counts as after a clock step. */
const CLOCK_SLACK_MS = 60_000;

export class RecordTooLargeError extends Error {
  constructor(readonly bytes: number, readonly limit: number, readonly deviceId: string) {
    super(`record of ${bytes} bytes from device ${deviceId} exceeds the limit of ${limit} bytes`);
    this.name = 'RecordTooLargeError';
  }
}

/** A loss noted by noteLoss(): the alarm's text and priority, and when it was (last) raised. */
export interface StoredLoss {
  text: string;
  priority: 'high' | 'medium' | 'low';
  at: number;
}

function parseLoss(text: string): StoredLoss | null {
  try {
    const v = JSON.parse(text) as Partial<StoredLoss> | null;
    if (v && typeof v.text === 'string' && typeof v.at === 'number' && (v.priority === 'high' || v.priority === 'medium' || v.priority === 'low')) {
      return { text: v.text, priority: v.priority, at: v.at };
    }
  } catch {
    // not JSON: unreadable, below
  }
  return null;
}

/** Builds a message body from its id and entries (the forwarder owns the envelope format). */
export type Envelope = (messageId: string, stream: Stream, entries: string[]) => string;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS messages (
  id         TEXT    PRIMARY KEY,
  stream     TEXT    NOT NULL,
  first_seq  INTEGER NOT NULL,
  last_seq   INTEGER NOT NULL,
  count      INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  bytes      INTEGER NOT NULL,
  acked_at   INTEGER,
  replay_of  TEXT,
  body       TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS messages_unacked ON messages (acked_at, stream, first_seq);
-- Rows that could not be turned back into JSON when packed (a damaged blob, a format this agent does not know):
-- kept for inspection instead of blocking the stream behind them.
CREATE TABLE IF NOT EXISTS unreadable (
  seq INTEGER PRIMARY KEY, stream TEXT NOT NULL, cls INTEGER NOT NULL, device_id TEXT NOT NULL, created_at INTEGER NOT NULL,
  bytes INTEGER NOT NULL, body TEXT NOT NULL, count INTEGER NOT NULL, samples BLOB, reason TEXT NOT NULL, moved_at INTEGER NOT NULL,
  reported INTEGER NOT NULL DEFAULT 0 -- 1 once settleUnreadable() settled it: a restart before that still reports it
) STRICT;
-- Keys of batches already accepted, so that a sender's resend (e.g. an HL7 message whose ACK was lost when the
-- agent died after the commit) is not stored twice. Trimmed after IDEMPOTENCY_TTL_MS (1 h).
CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, at INTEGER NOT NULL) STRICT, WITHOUT ROWID;
`;

/**
 * Replay copies only: the check's search for copies whose original is gone reads them, not every message kept (review
 * rv133 M1). Made by the first replay() (or by a check that finds copies without it): a store that never replayed keeps
 * no page for it. An older agent keeps it up to date like any index.
 */
const REPLAY_INDEX_SQL = 'CREATE INDEX IF NOT EXISTS messages_replay_of ON messages (replay_of) WHERE replay_of IS NOT NULL';

/**
 * Messages the hub refuses every time (agent/forward/forwarder.ts), moved out of `messages` so that the stream behind
 * them goes on: kept, never sent again by the agent; README (store and forward) says how to send them again. Made by
 * the first setAside(): an empty table's pages would count in every store's size.
 */
const REFUSED_SQL = `
CREATE TABLE IF NOT EXISTS refused (
  id TEXT PRIMARY KEY, stream TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, count INTEGER NOT NULL,
  created_at INTEGER NOT NULL, attempts INTEGER NOT NULL, bytes INTEGER NOT NULL, replay_of TEXT, body TEXT NOT NULL,
  refused_at INTEGER NOT NULL, last_error TEXT NOT NULL
) STRICT;`;

/** A message set aside in `refused`, without its body. */
export interface RefusedMessage {
  id: string;
  stream: Stream;
  count: number;
  attempts: number;
  createdAt: number;
  refusedAt: number;
  lastError: string;
  bytes: number;
}

/** Whether the `refused` table exists (it is made by the first setAside()). */
const REFUSED_EXISTS_SQL = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refused'";
const REFUSED_BODY_SQL = 'SELECT body FROM refused WHERE id = ?';
const REFUSED_LIST_SQL =
  'SELECT id, stream, count, attempts, created_at AS createdAt, refused_at AS refusedAt, last_error AS lastError, bytes FROM refused ORDER BY refused_at, id';

/**
 * The messages set aside, read-only and without the store's lock: a look while the agent runs (lock.ts leaves the
 * store readable by tools), as the CLI's `--refused list` and `--refused export` do. Writes nothing, creates nothing.
 */
export class RefusedReader {
  private constructor(
    private readonly db: Database.Database,
    private readonly hasTable: boolean,
  ) {}

  /** Null when there is no store file at `path`. */
  static open(path: string): RefusedReader | null {
    if (!existsSync(path)) return null;
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      // Short: the agent never holds a store in WAL mode's read lock for long, and one in exclusive mode holds it until
      // it stops; waiting 5 s only delayed saying so (review rv105 L1).
      db.pragma('busy_timeout = 200');
      const hasTable = db.prepare(REFUSED_EXISTS_SQL).get() !== undefined;
      return new RefusedReader(db, hasTable);
    } catch (err) {
      db.close();
      // An agent that opened its store on a full disk holds it in exclusive locking mode (Outbox.open, noRoom).
      if ((err as { code?: string }).code === 'SQLITE_BUSY') {
        throw new Error(
          'the store is held alone by the running agent (it opened it on a full disk, see its log and gateway alarm): it can be read once disk space is freed and the agent restarted, or with the agent stopped',
          { cause: err },
        );
      }
      throw err;
    }
  }

  list(): RefusedMessage[] {
    return this.hasTable ? this.db.prepare<[], RefusedMessage>(REFUSED_LIST_SQL).all() : [];
  }

  body(id: string): string | null {
    if (!this.hasTable) return null;
    return this.db.prepare<[string], { body: string }>(REFUSED_BODY_SQL).get(id)?.body ?? null;
  }

  close(): void {
    this.db.close();
  }
}

interface MessageRow {
  id: string;
  stream: Stream;
  first_seq: number;
  last_seq: number;
  count: number;
  created_at: number;
  attempts: number;
  replay_of: string | null;
  body: string;
}

function toMessage(r: MessageRow): PackedMessage {
  return {
    id: r.id,
    stream: r.stream,
    firstSeq: r.first_seq,
    lastSeq: r.last_seq,
    count: r.count,
    createdAt: r.created_at,
    attempts: r.attempts,
    ...(r.replay_of !== null && { replayOf: r.replay_of }),
    body: r.body,
  };
}

/** The agent's notes in `meta`: devices heard from (agent/seen-devices.ts), NEWS2 observations people recorded. */
export type AgentNoteKey = 'seen-devices' | 'news2-observations' | 'running';

/** Most bytes of sent messages one replay copies (about half a second of copying on a small gateway). */
export const REPLAY_MAX_BYTES = 32_000_000;

/** A replay the store will not make (one still unsent, or a range too large); the message says what to do. */
export class ReplayRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayRefusedError';
  }
}

export class Outbox {
  readonly path: string;
  /** Random id of this store file, part of every message id so that a fresh store never reuses an id. */
  readonly storeId: string;
  /**
   * Random id of this open, part of the id of every message packed from now on. The seq counter lives in the file,
   * so a file restored from a backup (or rolled back by a power loss with synchronous: normal) hands out seqs again
   * that earlier messages were sent with; consumers that de-duplicate on the message id would drop those new
   * messages. A message's id is stored when it is packed, so its resends, after a restart too, keep it.
   */
  readonly runId = randomBytes(4).toString('hex');
  private readonly db: Database.Database;
  /** The store's files whose mode could not be restricted at open (restrictStoreFiles), for the agent to log. */
  readonly fileModeFailures: { file: string; code: string }[] = [];
  /** A single record larger than this is refused at append (RecordTooLargeError). */
  readonly maxRecordBytes: number;
  private readonly rowMaxBytes: number;
  private readonly retainAckedMs: number;
  private readonly pendingByStream = new Map<Stream, PendingStats>();
  /** INSERT into each class's table, by class. */
  private readonly insertStmts: Database.Statement[];
  /** Prepared statements by SQL text: preparing costs more than running the small ones on the forwarding path. */
  private readonly statements = new Map<string, Database.Statement>();
  private readonly appendTx: (batches: AppendBatch[], now: number) => { outcomes: AppendOutcome[]; added: Map<Stream, { records: number; bytes: number }> };
  /** Held from open to close(): one agent per store (lock.ts). Null for ':memory:'. */
  private readonly lock: StoreLock | null;
  private readonly freeDiskBytes: () => number;
  /**
   * The first seq this run writes, and both clocks when it opened: rows of this run are aged by the time that has
   * passed since (monotonic), so a step of the wall clock (NTP after a boot with a stale clock) does not age them.
   */
  private readonly thisRun: { firstSeq: number; wallAt: number; monoAt: number };
  /** Set while enforceLimits() works on a full disk: deletions go in small passes (TIGHT_PASS_BYTES). */
  private tight = false;
  /** Rows of unsent records one enforceLimits() call evicts at most (EVICT_SLICE_ROWS; tests set it lower). */
  sliceRows = EVICT_SLICE_ROWS;
  /**
   * A capacity eviction that stopped at its slice: the next checks evict down to 90 % of the limit (even once usage is
   * back under it) until one is done. Each walks the whole order afresh (review rv138 H1: records arrive and messages
   * are acknowledged between slices); only where it stopped is carried: the step of its class order, the file's bytes
   * per row byte it started with, the class's current estimate, and a pass cut short (the bytes it still wants, the
   * usage before it, what it removed so far), taken up again only if the walk reaches that step having removed
   * nothing before it. Kept in memory only: after a restart a store over its limit starts a new eviction. Null when
   * none is under way.
   */
  private evictRun: { step: number; fileRatio: number; perRowByte: number; pass: { left: number; before: number; n: number; b: number } | null } | null = null;
  /** Set by deleteOldest(): it stopped at its row cap with bytes still wanted (passLeft of them). */
  private passCut = false;
  private passLeft = 0;
  /**
   * Bytes (`bytes`) of the acknowledged messages kept for replay, kept up to date as they are acknowledged and
   * deleted, so that the check does not sum a day of them every 10 s (review rv133 M1). Null: summed at the next check.
   */
  private ackedBytes: number | null = null;
  /**
   * Per class table (CLASS_TABLES), how its rows' created_at run in seq order: `maxAt` the latest seen, `back` the most
   * any row is below a row before it (0 while the clock never stepped back). Every row's created_at is then at least
   * the first row's less `back`, so the age eviction reads the first row instead of every row (review rv133 H1).
   * Bounds only: rows deleted keep them true. Read at open (loadPendingStats), raised at append; `exact` once `back`
   * was read row by row (until then it is the spread of the table's times).
   */
  private readonly ageOrder = CLASS_TABLES.map(() => ({ maxAt: -Infinity, back: 0, exact: true }));
  /** Highest seq of a row of class 1 or 2 in outbox_0 (an upgraded store's earlier rows; none are added), or null. */
  private legacySeq: number | null = null;
  /** Whether the SQL function age_back (ageBound()) is defined on this connection. */
  private ageBackFn = false;
  /** A limits check failed partway: the next one reads the pending stats and ackedBytes afresh. */
  private statsStale = false;
  /** Whether `messages` has REPLAY_INDEX_SQL's index (false: it has no copy either); null until the first check reads it. */
  private replayIndex: boolean | null = null;
  /** The last limits report said the store full for a full disk (FULL_DISK_FREE_BYTES, FULL_DISK_LEAVE_BYTES). */
  private reportedFull = false;
  /** The reserve file was deleted at run time (a full disk) and no limits report has said so yet. */
  private reserveReleasedUnreported = false;
  /** The database file's max_page_count from the last limits check (diskRoom()), or null when it has none. */
  private pageCap: number | null = null;
  /** Whether the `refused` table exists (REFUSED_SQL: made by the first setAside()). */
  private hasRefused = false;
  /**
   * Set for the store in memory open() falls back to: every append is refused with this message and code (SQLITE_FULL
   * for a full disk, the disk's SQLITE_IOERR_* for a failing one: ingest counts and alarms the code).
   */
  private appendRefusal: { message: string; code: string } | null = null;

  /**
   * `lock`: the store's lock when the caller took it (open() keeps it across a recovery); otherwise the constructor
   * takes it (StoreInUseError if another agent holds it). close() releases it. `exclusive`: exclusive locking mode,
   * for a disk with no room for the -shm file (open(), noRoom).
   */
  constructor(path: string, opts: OutboxOptions = {}, lock?: StoreLock, exclusive = false) {
    this.path = path;
    this.maxRecordBytes = opts.maxRecordBytes ?? 200_000;
    this.rowMaxBytes = opts.rowMaxBytes ?? ROW_MAX_BYTES;
    this.retainAckedMs = opts.retainAckedMs ?? 24 * 3600_000;
    // A store in memory has no disk to fill: its I/O errors are never a full disk.
    this.freeDiskBytes = path === ':memory:' ? () => Infinity : diskFreeBytes(path, opts);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: STORE_DIR_MODE });
    this.lock = lock ?? (path === ':memory:' ? null : StoreLock.acquire(path));
    try {
      this.db = new Database(path);
    } catch (err) {
      if (!lock) this.lock?.release();
      throw err;
    }
    // Whatever fails from here (a newer format, a full disk during an upgrade) closes the file, and releases the
    // lock this call took, before it throws.
    try {
      // Set before the first access: SQLite then keeps the WAL index in heap memory and never makes the -shm file
      // (sqlite.org/wal.html, "Use of WAL without shared memory"); other processes cannot read the store meanwhile.
      if (exclusive) this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      this.db.pragma(`cache_size = -${STORE_CACHE_KIB}`);
      // A replayed copy's body names the copy (see replay()); SQL calls this so that copies are made in one statement.
      this.db.function('replay_body', { deterministic: true }, (body: unknown, originalId: unknown, copyId: unknown) =>
        typeof body === 'string' && typeof originalId === 'string' && typeof copyId === 'string' ? replayBody(body, originalId, copyId) : body,
      );
      // A store of a newer format is refused before anything is created in it.
      const hasMeta = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
      const format = hasMeta ? Number(this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'format'").get()?.value ?? 1) : 0; // 0: a new file
      if (format > STORE_FORMAT) throw new StoreFormatError(format);
      // Schema and upgrades in one transaction: a failure (a full disk) leaves the store as it was.
      this.db.transaction(() => {
        // The first agent's `messages` (format 1) had no bytes, acked_at or replay_of: added before SCHEMA indexes
        // acked_at. Its messages were all unacknowledged (it deleted them on the hub's acknowledgement).
        const messageColumns = this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('messages')").all().map((c) => c.name);
        if (messageColumns.length > 0) {
          if (!messageColumns.includes('bytes')) {
            this.db.exec('ALTER TABLE messages ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0');
            this.db.exec('UPDATE messages SET bytes = length(CAST(body AS BLOB))');
          }
          if (!messageColumns.includes('acked_at')) this.db.exec('ALTER TABLE messages ADD COLUMN acked_at INTEGER');
          if (!messageColumns.includes('replay_of')) this.db.exec('ALTER TABLE messages ADD COLUMN replay_of TEXT');
        }
        this.db.exec(SCHEMA);
        const isTable = (name: string) => this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
        if (isTable('outbox')) {
          // Format 1 or 2: one table for every class. Stores written before rows held several records or binary
          // samples get the columns (their rows hold one record each, all JSON); the table becomes outbox_0.
          const columns = this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('outbox')").all();
          if (!columns.some((c) => c.name === 'count')) this.db.exec('ALTER TABLE outbox ADD COLUMN count INTEGER NOT NULL DEFAULT 1');
          if (!columns.some((c) => c.name === 'samples')) this.db.exec('ALTER TABLE outbox ADD COLUMN samples BLOB');
          this.db.exec('ALTER TABLE outbox RENAME TO outbox_0');
        }
        for (const t of CLASS_TABLES) this.db.exec(classTableSql(t));
        this.db.exec(`CREATE VIEW IF NOT EXISTS outbox AS ${CLASS_TABLES.map((t) => `SELECT * FROM ${t}`).join(' UNION ALL ')}`);
        // Format-2 stores written before unreadable rows were marked once reported.
        if (!this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('unreadable')").all().some((c) => c.name === 'reported')) {
          this.db.exec('ALTER TABLE unreadable ADD COLUMN reported INTEGER NOT NULL DEFAULT 0');
        }
        // Replay copies were once named `<id>~r<n>`; '~' is not among the characters IoT Hub allows in a message id,
        // so unsent ones get the current name (`.r<n>`) before they are sent.
        this.db.exec("UPDATE messages SET id = replace(id, '~r', '.r') WHERE acked_at IS NULL AND id LIKE '%~r%'");
        // Unsent copies made by an older agent still carry the original's messageId in the body, so consumers would
        // drop them as duplicates: they get the body a copy has now (a no-op for those that have it).
        this.db.exec(
          `UPDATE messages SET body = replay_body(body, replay_of, id), bytes = length(CAST(replay_body(body, replay_of, id) AS BLOB))
           WHERE acked_at IS NULL AND replay_of IS NOT NULL`,
        );
        if (format < STORE_FORMAT) this.db.prepare("INSERT INTO meta (key, value) VALUES ('format', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(STORE_FORMAT));
      })();

      const existing = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'store_id'").get();
      if (existing) {
        this.storeId = existing.value;
      } else {
        this.storeId = randomBytes(4).toString('hex');
        this.db.prepare("INSERT INTO meta (key, value) VALUES ('store_id', ?)").run(this.storeId);
      }
      // The file, its -wal and -shm exist now: other users lose read access (review rv119 L3).
      if (path !== ':memory:') this.fileModeFailures = restrictStoreFiles(path);
      this.hasRefused = this.db.prepare(REFUSED_EXISTS_SQL).get() !== undefined;
      this.insertStmts = CLASS_TABLES.map((t) =>
        this.db.prepare(`INSERT INTO ${t} (seq, stream, cls, device_id, created_at, bytes, body, count, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      );
      const claimKey = this.db.prepare('INSERT INTO idempotency (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING');
      // One seq over the class tables (a message's id is built from it). AUTOINCREMENT keeps each table's highest seq
      // ever used, so a seq is never used twice; it is read inside the write transaction, so that another writer of
      // the same file (a second agent by mistake, a tool) cannot be handed the same one.
      const lastSeq = this.db.prepare<[], { s: number | null }>(
        `SELECT max(seq) AS s FROM sqlite_sequence WHERE name IN (${CLASS_TABLES.map((t) => `'${t}'`).join(', ')})`,
      );
      // A record too large throws inside the transaction, which then rolls back: nothing of the call is committed.
      const appendTx = this.db.transaction((batches: AppendBatch[], now: number) => {
        const added = new Map<Stream, { records: number; bytes: number }>();
        let seq = (lastSeq.get()?.s ?? 0) + 1;
        const outcomes = batches.map((b): AppendOutcome => {
          if (b.idempotencyKey !== undefined && claimKey.run(b.idempotencyKey, now).changes === 0) return 'duplicate';
          for (const r of toRows(b.records, this.maxRecordBytes, this.rowMaxBytes)) {
            this.insertStmts[r.cls]!.run(seq++, r.stream, r.cls, r.deviceId, now, r.bytes, r.body, r.count, r.samples);
            const a = added.get(r.stream);
            if (a) {
              a.records += r.count;
              a.bytes += r.bytes;
            } else added.set(r.stream, { records: r.count, bytes: r.bytes });
          }
          return 'stored';
        });
        return { outcomes, added };
      });
      // IMMEDIATE: the write lock is taken at BEGIN, before the seq is read.
      this.appendTx = appendTx.immediate;
      this.thisRun = { firstSeq: (lastSeq.get()?.s ?? 0) + 1, wallAt: Date.now(), monoAt: performance.now() };
      this.loadPendingStats();
    } catch (err) {
      if (this.db.open) this.db.close();
      if (!lock) this.lock?.release();
      throw err;
    }
  }

  /**
   * Opens the store after an integrity check. A damaged file (and its WAL) is moved aside, not deleted, and a
   * fresh store is started, so the agent keeps working; the caller must raise a technical alarm.
   */
  static open(path: string, opts: OutboxOptions = {}, now = Date.now()): OpenedOutbox {
    // The lock first: a store in use by another agent is refused before anything in it is read, checked or moved.
    let lock: StoreLock | undefined;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: STORE_DIR_MODE });
      lock = path === ':memory:' ? undefined : StoreLock.acquire(path);
    } catch (err) {
      // On a read-only filesystem neither the folder nor the lock file can be made, and no other agent can write there:
      // the store in memory, as for a store there that cannot be opened (below). The lock wraps SQLite's error.
      const cause = (err as { code?: unknown }).code === undefined ? ((err as { cause?: unknown }).cause ?? err) : err;
      const readOnly = path === ':memory:' ? null : diskFailure(cause, path, diskFreeBytes(path, opts));
      if (!readOnly?.readOnly) throw err;
      const inMemory = new Outbox(':memory:', opts);
      inMemory.appendRefusal = { message: readOnlyDiskRefusal(readOnly.code), code: readOnly.code };
      return { outbox: inMemory, recovered: null, reserveReleased: false, noRoom: null, diskError: readOnly, openRetries: [] };
    }
    // A damaged file moved aside is reported whatever opens after it: the fresh store made in its place may fail for
    // room, and the attempt that then succeeds finds a healthy empty file (review rv100 H1).
    let recovered: OpenedOutbox['recovered'] = null;
    const attempt = (exclusive: boolean) => Outbox.openChecked(path, opts, lock, now, exclusive, recovered, (moved) => (recovered ??= moved));
    let reserveReleased = false;
    const free = diskFreeBytes(path, opts);
    const full = (err: unknown) => isDiskFull(err, free);
    // A failing disk (an I/O error with room on it) gets none of the full-disk fallbacks (room would not help it), but
    // the store in memory that takes no data, saying so, so that the agent runs (display, bedside alarms). Any other
    // error (a lock held by another agent, permissions: SQLITE_READONLY*, a bad path: SQLITE_CANTOPEN, a newer format)
    // fails the start, naming the store.
    const openRetries: OpenedOutbox['openRetries'] = [];
    // A file moved aside this open that no store on disk could take: reported as not salvaged ("nothing of it was
    // salvaged"), as before; its pending mark (M1) goes, so that a later start does not copy it into a store the agent
    // has used meanwhile.
    const unsalvaged = () => {
      if (recovered?.salvage === null) rmSync(pendingPath(path), { force: true });
    };
    const notFull = (err: unknown): OpenedOutbox => {
      const diskError = diskFailure(err, path, free);
      if (!diskError) throw storeError(err, path, free);
      unsalvaged();
      const inMemory = new Outbox(':memory:', opts, lock);
      inMemory.appendRefusal = { message: (diskError.readOnly ? readOnlyDiskRefusal : failingDiskRefusal)(diskError.code), code: diskError.code };
      return { outbox: inMemory, recovered, reserveReleased, noRoom: null, diskError, openRetries };
    };
    try {
      // A failing-disk error is tried again a few times first (OPEN_ATTEMPTS), the reserve kept: it may be transient.
      for (let n = 1; ; n++) {
        try {
          return { outbox: attempt(false), recovered, reserveReleased, noRoom: null, diskError: null, openRetries };
        } catch (err) {
          if (path === ':memory:') throw err;
          const failing = diskFailure(err, path, free);
          // A read-only filesystem does not heal in a retry's pause, nor does room help it.
          if (failing?.readOnly) return notFull(err);
          if (full(err)) break;
          if (!failing || n >= OPEN_ATTEMPTS) return notFull(err);
          openRetries.push(failing);
          pause(OPEN_RETRY_PAUSE_MS);
        }
      }
      // A disk too full to open the store at all: the reserve makes room for it (the store then refuses data, alarmed,
      // but the agent runs: display, alarms).
      if (existsSync(reservePath(path))) {
        rmSync(reservePath(path), { force: true });
        reserveReleased = true;
        try {
          return { outbox: attempt(false), recovered, reserveReleased, noRoom: null, diskError: null, openRetries };
        } catch (err) {
          if (!full(err)) return notFull(err);
        }
      }
      // No reserve left (spent while running, then a clean stop deleted the -wal and -shm, and another program took
      // that room): without a -shm to make, an existing store opens; it refuses data until space returns (review rv100 H2).
      try {
        return { outbox: attempt(true), recovered, reserveReleased, noRoom: 'exclusive', diskError: null, openRetries };
      } catch (err) {
        if (!full(err)) return notFull(err);
      }
      // Not even so (a fresh store needs room for its schema): an empty store in memory, the file's lock kept, so that
      // the agent still runs (display, bedside alarms). It refuses data as a full disk does (review rv105 H1): what it
      // took would be gone at the next stop, while HL7 senders told it was stored delete their copy.
      unsalvaged();
      const inMemory = new Outbox(':memory:', opts, lock);
      inMemory.appendRefusal = { message: MEMORY_STORE_REFUSAL, code: 'SQLITE_FULL' };
      return { outbox: inMemory, recovered, reserveReleased, noRoom: 'memory', diskError: null, openRetries };
    } catch (err) {
      lock?.release();
      throw err;
    }
  }

  /**
   * Opens after an integrity check, moving a damaged file aside (told to `moved` at once, before the fresh store is
   * made: that can fail for room) and salvaging what can be read of it into the fresh store (salvage.ts). `earlier`: a
   * file an earlier attempt of this open moved aside, not yet salvaged (its fresh store failed for room): salvaged
   * into the store this attempt opens. A healthy store holding the note of a salvage a stop cut short goes on with that
   * salvage first. The caller releases the lock if this throws.
   */
  private static openChecked(
    path: string,
    opts: OutboxOptions,
    lock: StoreLock | undefined,
    now: number,
    exclusive: boolean,
    earlier: RecoveredStore | null,
    moved: (r: RecoveredStore) => void,
  ): Outbox {
    const open = () => new Outbox(path, opts, lock, exclusive);
    // A damaged file whose move aside a stop cut short, or whose salvage had not written its note yet (review rv189 M1).
    const pending = earlier || path === ':memory:' ? null : readPending(path);
    if (pending) {
      const movedTo = join(dirname(path), pending.file);
      // The file at `path` is moved last (moveAside): while it is not at movedTo, what is left at `path` is the damaged file's.
      if (!existsSync(movedTo) && existsSync(path)) moveAside(path, movedTo);
    }
    let box: Outbox | null = null;
    try {
      box = open();
      const result = box.quickCheck();
      if (result !== 'ok') throw new CorruptStoreError(result);
    } catch (err) {
      box?.closeFile();
      if (path === ':memory:' || !isCorruption(err)) throw err;
      // No repair in place: quick_check reports an index only by its damaged pages, and REINDEX, which must free the old
      // index's pages first, fails on them ("database disk image is malformed", review rv182 H2); the salvage below
      // rebuilds every index of what it copies.
      const base = `${path}.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
      // Never onto an earlier one (a second attempt of this open finding the fresh file damaged too).
      let movedTo = base;
      for (let n = 1; existsSync(movedTo); n++) movedTo = `${base}-${n}`;
      const reason = (err as Error).message;
      // Durable before the move: a stop between the move and the salvage's note would leave a healthy empty store and
      // the backlog in a file nothing salvages (review rv189 M1); the next open finishes what this one began.
      writePending(path, { file: basename(movedTo), reason });
      moveAside(path, movedTo);
      const recovered: RecoveredStore = { movedTo, reason, salvage: null, then: null };
      moved(recovered);
      return Outbox.salvaged(open(), recovered, open, opts, null);
    }
    if (earlier && earlier.salvage === null) return Outbox.salvaged(box, earlier, open, opts, null);
    // An attempt after one that salvaged, and ran out of room (a full disk): the note is left for the next start.
    if (earlier) return box;
    // A salvage that a stop (kill -9, a SIGTERM, a power cut, a full disk) cut short: resumed before the store is used
    // (review rv186 H1). Its file is beside the store (the note names it, so that a folder moved whole still finds it).
    let unfinished: ReturnType<typeof unfinishedSalvage>;
    let done: SalvageDone[];
    try {
      unfinished = unfinishedSalvage(box.db);
      done = finishedSalvages(box.db);
    } catch (err) {
      box.closeFile();
      throw err;
    }
    if (pending) {
      const movedTo = join(dirname(path), pending.file);
      // The store holds no note and no result of that file: the salvage never began; it does now, from the start.
      if (!unfinished && !done.some((d) => d.file === pending.file) && existsSync(movedTo)) {
        const recovered: RecoveredStore = { movedTo, reason: pending.reason, salvage: null, then: null };
        moved(recovered);
        return Outbox.salvaged(box, recovered, open, opts, null);
      }
      rmSync(pendingPath(path), { force: true }); // its salvage is under way or done (the note or result says so)
    }
    if (unfinished && 'unreadable' in unfinished) {
      // A note that cannot be read (review rv189 L1): said at every start, never taken for nothing pending.
      const file = unfinished.file === null ? '(the note does not say which)' : join(dirname(path), unfinished.file);
      moved({ movedTo: file, reason: 'a salvage a stop cut short', salvage: unreadableNoteResult(unfinished), then: null });
      return box;
    }
    if (unfinished) {
      const recovered: RecoveredStore = { movedTo: join(dirname(path), unfinished.file), reason: unfinished.reason, salvage: null, then: null };
      moved(recovered);
      return Outbox.salvaged(box, recovered, open, opts, unfinished);
    }
    // Salvages finished but not reported (a stop right after the last commit, review rv189 L3): reported now, until
    // noteCorruptFiles notes their files.
    let first: RecoveredStore | null = null;
    for (const d of [...done].reverse()) first = { movedTo: join(dirname(path), d.file), reason: d.reason, salvage: d.result, then: first };
    if (first) moved(first);
    return box;
  }

  /**
   * Copies what can be read of the damaged file `recovered` names into `box`, a fresh store (`resume`: the note of a
   * salvage into it that a stop cut short, gone on from), and opens it again, so that its pending stats, and the seq
   * this run starts at, include the rows copied. A full disk stops the copy (what was committed stays, said in the
   * result): the next start goes on with it.
   */
  private static salvaged(box: Outbox, recovered: RecoveredStore, open: () => Outbox, opts: OutboxOptions, resume: SalvageMarker | null): Outbox {
    let next: SalvageMarker | null = null;
    try {
      const events = { ...(opts.onSalvage && { onEvent: opts.onSalvage }), ...(opts.salvageProgressMs !== undefined && { progressMs: opts.salvageProgressMs }) };
      const dropPending = () => rmSync(pendingPath(box.path), { force: true });
      recovered.salvage = salvage(recovered.movedTo, box.db, { reason: recovered.reason, ...events, onNoted: dropPending }, resume);
      dropPending(); // also when not even the note could be written: nothing was copied, and the result says so
      // The damaged file was a fresh store holding the note of another file's salvage (review rv189 M2): handed on to
      // this store with the result, and gone on with now.
      const note = recovered.salvage.error === null ? unfinishedSalvage(box.db) : null;
      if (note && !('unreadable' in note)) next = note;
    } catch (err) {
      box.closeFile();
      throw err;
    }
    if (next) {
      recovered.then = { movedTo: join(dirname(box.path), next.file), reason: next.reason, salvage: null, then: null };
      return Outbox.salvaged(box, recovered.then, open, opts, next);
    }
    box.closeFile();
    return open();
  }

  /**
   * Makes the reserve file (RESERVE_BYTES) when there is none and the disk has room for it beside what the disk limit
   * keeps free; run at each limits check (the first at start).
   */
  private keepReserve(freeDiskBytes: number): void {
    if (this.path === ':memory:' || !(freeDiskBytes >= RESERVE_BYTES + this.keptFreeBytes())) return;
    const file = reservePath(this.path);
    if (existsSync(file)) return;
    try {
      const fd = openSync(file, 'w');
      try {
        writeSync(fd, Buffer.alloc(RESERVE_BYTES));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      rmSync(file, { force: true }); // a half-made reserve is no reserve; tried again at the next check
    }
  }

  /** SQLite's quick integrity check: 'ok' or the first problems it found. */
  quickCheck(): string {
    const rows = this.db.pragma('quick_check(5)') as { quick_check: string }[];
    return rows.map((r) => r.quick_check).join('; ');
  }

  private stmt<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st as unknown as Database.Statement<P, R>;
  }

  /** One stream's pending stats, read again from the table. */
  private reloadPendingStats(stream: Stream): void {
    const r = this.stmt<[Stream], { n: number | null; b: number | null; oldest: number | null }>(
      'SELECT sum(count) AS n, sum(bytes) AS b, min(created_at) AS oldest FROM outbox WHERE stream = ?',
    ).get(stream);
    this.pendingByStream.set(stream, { records: r?.n ?? 0, bytes: r?.b ?? 0, oldestAt: r?.oldest ?? null });
  }

  /** Every stream's pending stats, and each class table's ageOrder (and legacySeq), in one read of each table. */
  private loadPendingStats(): void {
    const stats = new Map<Stream, PendingStats>(STREAMS.map((s) => [s, { records: 0, bytes: 0, oldestAt: null }]));
    CLASS_TABLES.forEach((t, i) => {
      const rows = this.stmt<[], { stream: Stream; n: number; b: number; oldest: number; latest: number; legacy: number | null }>(
        `SELECT stream, sum(count) AS n, sum(bytes) AS b, min(created_at) AS oldest, max(created_at) AS latest, max(seq) FILTER (WHERE cls > 0) AS legacy FROM ${t} GROUP BY stream`,
      ).all();
      let oldest = Infinity;
      let latest = -Infinity;
      let legacy: number | null = null;
      for (const r of rows) {
        const p = stats.get(r.stream);
        if (p) {
          p.records += r.n;
          p.bytes += r.b;
          p.oldestAt = p.oldestAt === null ? r.oldest : Math.min(p.oldestAt, r.oldest);
        }
        oldest = Math.min(oldest, r.oldest);
        latest = Math.max(latest, r.latest);
        if (r.legacy !== null) legacy = Math.max(legacy ?? r.legacy, r.legacy);
      }
      // The spread of the table's times bounds how far a row is below one before it; read exactly only when needed
      // (ageBound()), not at every start.
      this.ageOrder[i] = { maxAt: latest, back: rows.length ? latest - oldest : 0, exact: rows.length === 0 };
      if (t === 'outbox_0') this.legacySeq = legacy;
    });
    for (const [s, p] of stats) this.pendingByStream.set(s, p);
  }

  /** Takes deleted rows (their stream, records `n` and bytes `b`) off the pending stats. */
  private unpend(rows: readonly { stream: Stream; n: number; b: number }[]): void {
    const streams = new Set<Stream>();
    for (const r of rows) {
      const p = this.pendingByStream.get(r.stream)!;
      p.records -= r.n;
      p.bytes -= r.b;
      streams.add(r.stream);
    }
    for (const s of streams) {
      const p = this.pendingByStream.get(s)!;
      // Below zero: they disagree with the table, which is the truth (as in pack()).
      if (p.records < 0 || p.bytes < 0) this.reloadPendingStats(s);
      else p.oldestAt = p.records === 0 ? null : this.oldestCreatedAt(s);
    }
  }

  /**
   * Commits records in one transaction. When this returns, they are accepted: on disk (per `synchronous`)
   * and they will be forwarded. Throws (nothing committed) if any record is too large or SQLite fails
   * (e.g. SQLITE_FULL when the disk is full).
   */
  append(records: OutboxRecord[], now = Date.now()): void {
    this.appendBatches([{ records }], now);
  }

  /**
   * Commits several batches in one transaction. A batch with an idempotency key already seen (within IDEMPOTENCY_TTL_MS) is
   * not stored again and comes back as 'duplicate'. Throws (nothing committed) as append() does.
   */
  appendBatches(batches: AppendBatch[], now = Date.now()): AppendOutcome[] {
    // The same error as a full (or failing) disk: ingest refuses the emit (senders told to resend), the alarm journal holds it.
    if (this.appendRefusal !== null) throw new Database.SqliteError(this.appendRefusal.message, this.appendRefusal.code);
    let result: ReturnType<typeof this.appendTx>;
    try {
      result = this.appendTx(batches, now);
    } catch (err) {
      throw this.storeError(err);
    }
    const { outcomes, added } = result;
    // Any table may have taken rows at `now` (bounds: a table that took none only gets a looser one).
    if (added.size > 0) {
      for (const o of this.ageOrder) {
        o.back = Math.max(o.back, o.maxAt - now);
        o.maxAt = Math.max(o.maxAt, now);
      }
    }
    for (const [stream, a] of added) {
      const p = this.pendingByStream.get(stream)!;
      p.records += a.records;
      p.bytes += a.bytes;
      p.oldestAt ??= now;
    }
    return outcomes;
  }

  /**
   * Keeps a note per open alarm: `notes` maps an alarm id to its note (text the caller reads back) or to null (the
   * alarm needs no note any more). What is left at a restart (openAlarmNotes) is what the previous run had open.
   */
  setOpenAlarmNotes(notes: ReadonlyMap<string, string | null>): void {
    const upsert = this.stmt("INSERT INTO meta (key, value) VALUES ('open-alarm:' || ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    const remove = this.stmt("DELETE FROM meta WHERE key = 'open-alarm:' || ?");
    this.db.transaction(() => {
      for (const [id, note] of notes) {
        if (note === null) remove.run(id);
        else upsert.run(id, note);
      }
    }).immediate();
  }

  /** The open-alarm notes left by setOpenAlarmNotes(), by alarm id. */
  openAlarmNotes(): Map<string, string> {
    const rows = this.stmt<[], { id: string; value: string }>("SELECT substr(key, 12) AS id, value FROM meta WHERE key LIKE 'open-alarm:%' ORDER BY key").all();
    return new Map(rows.map((r) => [r.id, r.value]));
  }

  /** A note the agent keeps across restarts (what it cannot learn again at once), or null. */
  note(key: AgentNoteKey): string | null {
    return this.stmt<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key)?.value ?? null;
  }

  /** Throws if the store refuses it (disk full). */
  setNote(key: AgentNoteKey, value: string): void {
    this.stmt<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Throws if the store refuses it. */
  clearNote(key: AgentNoteKey): void {
    this.stmt<[string]>('DELETE FROM meta WHERE key = ?').run(key);
  }

  clearOpenAlarmNotes(ids: Iterable<string>): void {
    this.setOpenAlarmNotes(new Map([...ids].map((id) => [id, null])));
  }

  pending(stream: Stream): PendingStats {
    return { ...this.pendingByStream.get(stream)! };
  }

  /**
   * Moves the oldest unpacked records of a stream into one message whose body stays within maxBytes
   * (`overheadBytes` reserved for the envelope). Returns null if nothing is pending.
   */
  pack(stream: Stream, maxBytes: number, envelope: Envelope, now = Date.now()): PackedMessage | null {
    const overhead = Buffer.byteLength(envelope('x'.repeat(40), stream, []));
    // What the transaction took out of the stream's pending records. The in-memory stats change only once it has
    // committed: a transaction that rolls back (SQLITE_FULL inserting the message) must leave them as they were.
    let taken = { records: 0, bytes: 0, oldestAt: null as number | null };
    // Rows that cannot be read back are moved aside (and the packing tried again) rather than blocking the stream.
    const tx = this.db.transaction((): PackedMessage | null | 'again' => {
      taken = { records: 0, bytes: 0, oldestAt: null };
      const rows = this
        .stmt<[Stream], { seq: number; bytes: number; count: number; body: string; samples: Uint8Array | null }>(
          'SELECT seq, bytes, count, body, samples FROM outbox WHERE stream = ? ORDER BY seq',
        )
        .iterate(stream);
      // An entry is a row's body: one record, or several joined by commas (the envelope joins entries by commas).
      const entries: string[] = [];
      const unreadable: { seq: number; count: number; bytes: number; reason: string }[] = [];
      let count = 0;
      let firstSeq = 0;
      let lastSeq = 0;
      let size = overhead;
      let bytes = 0;
      for (const row of rows) {
        // +1 for the comma between entries. The first entry always goes in, so a large record still moves.
        if (entries.length > 0 && size + row.bytes + 1 > maxBytes) {
          rows.return?.();
          break;
        }
        let entry: string;
        try {
          entry = recordJson(row.body, row.samples);
        } catch (err) {
          if (!(err instanceof UnreadableRecordError)) throw err;
          unreadable.push({ seq: row.seq, count: row.count, bytes: row.bytes, reason: err.message });
          continue;
        }
        entries.push(entry);
        count += row.count;
        if (!firstSeq) firstSeq = row.seq;
        lastSeq = row.seq;
        size += row.bytes + 1;
        bytes += row.bytes;
      }
      for (const u of unreadable) {
        this.stmt(
          `INSERT INTO unreadable (seq, stream, cls, device_id, created_at, bytes, body, count, samples, reason, moved_at)
           SELECT seq, stream, cls, device_id, created_at, bytes, body, count, samples, ?, ? FROM outbox WHERE seq = ?`,
        ).run(u.reason, now, u.seq);
        for (const t of CLASS_TABLES) this.stmt(`DELETE FROM ${t} WHERE seq = ?`).run(u.seq);
        taken.records += u.count;
        taken.bytes += u.bytes;
      }
      if (entries.length === 0) return unreadable.length > 0 ? 'again' : null;
      const id = `${this.storeId}.${this.runId}-${stream === 'alarms' ? 'a' : 't'}-${firstSeq}`;
      const body = envelope(id, stream, entries);
      this.stmt('INSERT INTO messages (id, stream, first_seq, last_seq, count, created_at, bytes, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(id, stream, firstSeq, lastSeq, count, now, Buffer.byteLength(body), body);
      for (const t of CLASS_TABLES) this.stmt(`DELETE FROM ${t} WHERE stream = ? AND seq BETWEEN ? AND ?`).run(stream, firstSeq, lastSeq);
      taken.records += count;
      taken.bytes += bytes;
      taken.oldestAt = this.oldestCreatedAt(stream);
      return { id, stream, firstSeq, lastSeq, count, body, createdAt: now, attempts: 0 };
    });
    for (;;) {
      const packed = this.withRoom(tx);
      // Committed: now the stats follow.
      const p = this.pendingByStream.get(stream)!;
      p.records -= taken.records;
      p.bytes -= taken.bytes;
      if (packed === 'again') continue;
      // Nothing to pack though stats said so, or stats below zero: they disagree with the table, which is the
      // truth. (Stats saying records are pending when none are would have the forwarder ask again and again.)
      if (packed === null || p.records < 0) this.reloadPendingStats(stream);
      else p.oldestAt = p.records === 0 ? null : taken.oldestAt;
      return packed;
    }
  }

  /** created_at of a stream's first unpacked row (by seq), or null. */
  private oldestCreatedAt(stream: Stream): number | null {
    // Each table's first row, by index: the view with ORDER BY ... LIMIT 1 would sort every pending row.
    let first: { seq: number; t: number } | undefined;
    for (const t of CLASS_TABLES) {
      const r = this.stmt<[Stream], { seq: number; t: number }>(`SELECT seq, created_at AS t FROM ${t} WHERE stream = ? ORDER BY seq LIMIT 1`).get(stream);
      if (r && (!first || r.seq < first.seq)) first = r;
    }
    return first?.t ?? null;
  }

  /**
   * A loss the agent raised an alarm for (records evicted, records unreadable), kept in the store until someone
   * acknowledges that alarm, so that a restart raises it again rather than forgetting it. One per `key`.
   */
  noteLoss(key: string, loss: StoredLoss): void {
    this.stmt("INSERT INTO meta (key, value) VALUES ('loss:' || ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, JSON.stringify(loss));
  }

  /** Losses noted and not yet cleared, by key; a note that cannot be read comes back as null (a loss all the same). */
  unacknowledgedLosses(): Map<string, StoredLoss | null> {
    const rows = this.stmt<[], { key: string; value: string }>("SELECT substr(key, 6) AS key, value FROM meta WHERE key LIKE 'loss:%' ORDER BY key").all();
    return new Map(rows.map((r) => [r.key, parseLoss(r.value)]));
  }

  clearLoss(key: string): void {
    this.stmt("DELETE FROM meta WHERE key = 'loss:' || ?").run(key);
  }

  /**
   * Damaged store files moved aside beside this one (`<store>.corrupt-*`, not their -wal/-shm) not noted as reported
   * (noteCorruptFiles), full paths in name order. One moved aside while the agent ran on a store in memory was not
   * noted (review rv105 H2). A reported list that cannot be read is told to `unreadable` and counts as empty: every
   * file is then listed, once, until noted again. None for a store in memory.
   */
  unnotedCorruptFiles(unreadable?: (err: Error) => void): string[] {
    if (this.path === ':memory:') return [];
    const prefix = `${basename(this.path)}.corrupt-`;
    const noted = this.reportedCorruptNames(unreadable);
    return readdirSync(dirname(this.path))
      .filter((f) => f.startsWith(prefix) && !/-(wal|shm)$/.test(f) && !noted.has(f))
      .sort()
      .map((f) => join(dirname(this.path), f));
  }

  /**
   * Notes damaged files as reported (their loss noted or acknowledged): unnotedCorruptFiles() leaves them out. Kept in
   * the list beside the store (written whole then renamed over it: a kill leaves the old list or the new one), with
   * the names already there whose file is still there. Not for a store in memory: its notes go at the stop, so the
   * next start must report the files again.
   */
  noteCorruptFiles(files: readonly string[]): void {
    if (this.path === ':memory:') return;
    const folder = readdirSync(dirname(this.path));
    const names = new Set([...this.reportedCorruptNames(), ...files.map((f) => basename(f))]);
    const file = reportedPath(this.path);
    const tmp = `${file}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, JSON.stringify([...names].filter((n) => folder.includes(n)).sort()));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    // Their salvages' results are reported now: a later start does not report them again (review rv189 L3).
    const del = this.stmt<[string]>('DELETE FROM meta WHERE key = ?');
    for (const f of files) del.run(SALVAGE_RESULT + basename(f));
  }

  /** Names in the reported list beside the store, and in `meta` marks of an agent before rv106. */
  private reportedCorruptNames(unreadable?: (err: Error) => void): Set<string> {
    const names = new Set(this.stmt<[], { key: string }>(`SELECT substr(key, ${CORRUPT_NOTED.length + 1}) AS key FROM meta WHERE key LIKE '${CORRUPT_NOTED}%'`).all().map((r) => r.key));
    let text: string;
    try {
      text = readFileSync(reportedPath(this.path), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') unreadable?.(err as Error); // missing: none reported yet
      return names;
    }
    try {
      const list: unknown = JSON.parse(text);
      if (!Array.isArray(list) || !list.every((n) => typeof n === 'string')) throw new Error('not a list of file names');
      for (const n of list) names.add(n);
    } catch (err) {
      unreadable?.(new Error(`${reportedPath(this.path)}: ${(err as Error).message}`));
    }
    return names;
  }

  /** Rows moved aside as unreadable: how many records, and the latest reason. */
  unreadableRecords(): { records: number; reason: string | null } {
    const r = this.stmt<[], { n: number | null; reason: string | null }>(
      'SELECT sum(count) AS n, (SELECT reason FROM unreadable ORDER BY moved_at DESC, seq DESC LIMIT 1) AS reason FROM unreadable',
    ).get();
    return { records: r?.n ?? 0, reason: r?.reason ?? null };
  }

  /**
   * The next message to send: a replay's copies after every other message, alarms before telemetry, then in packing
   * order. `skip`: ids already in flight (the forwarder's window), so that the one after them comes back.
   */
  nextMessage(skip: Iterable<string> = []): PackedMessage | null {
    const order = "ORDER BY replay_of IS NOT NULL, CASE stream WHEN 'alarms' THEN 0 ELSE 1 END, first_seq, id LIMIT 1";
    const ids = [...skip];
    const row = ids.length
      ? this.stmt<[string], MessageRow>(`SELECT * FROM messages WHERE acked_at IS NULL AND id NOT IN (SELECT value FROM json_each(?)) ${order}`).get(JSON.stringify(ids))
      : this.stmt<[], MessageRow>(`SELECT * FROM messages WHERE acked_at IS NULL ${order}`).get();
    return row ? toMessage(row) : null;
  }

  /**
   * Moves an unacknowledged message the hub refuses every time to the `refused` table (one transaction), so that the
   * messages behind it go on; it is kept there, not deleted. `attempts` there counts its sends, the first included.
   * Returns what was moved, or null if no such message waits.
   */
  setAside(id: string, lastError: string, now = Date.now()): { stream: Stream; count: number; attempts: number } | null {
    const moved = this.withRoom(() =>
      this.db.transaction(() => {
        if (!this.hasRefused) this.db.exec(REFUSED_SQL);
        const moved = this.stmt<[number, string, string], { stream: Stream; count: number; attempts: number }>(
          `INSERT INTO refused (id, stream, first_seq, last_seq, count, created_at, attempts, bytes, replay_of, body, refused_at, last_error)
           SELECT id, stream, first_seq, last_seq, count, created_at, attempts + 1, bytes, replay_of, body, ?, ? FROM messages WHERE id = ? AND acked_at IS NULL
           RETURNING stream, count, attempts`,
        ).get(now, lastError.slice(0, 2000), id);
        if (!moved) return null;
        this.stmt('DELETE FROM messages WHERE id = ?').run(id);
        return moved;
      })(),
    );
    // Committed (or the table was there): a statement prepared on it from now on is valid.
    this.hasRefused = true;
    return moved;
  }

  /** Messages set aside as refused by the hub (setAside), and their records. */
  refusedMessages(): { messages: number; records: number } {
    if (!this.hasRefused) return { messages: 0, records: 0 };
    const r = this.stmt<[], { n: number; records: number | null }>('SELECT count(*) AS n, sum(count) AS records FROM refused').get();
    return { messages: r?.n ?? 0, records: r?.records ?? 0 };
  }

  /** The messages set aside, oldest first, without their bodies. */
  refusedList(): RefusedMessage[] {
    if (!this.hasRefused) return [];
    return this.stmt<[], RefusedMessage>(REFUSED_LIST_SQL).all();
  }

  /** The body of a message set aside, as it was to be sent, or null if none of that id is kept. */
  refusedBody(id: string): string | null {
    if (!this.hasRefused) return null;
    return this.stmt<[string], { body: string }>(REFUSED_BODY_SQL).get(id)?.body ?? null;
  }

  /**
   * Puts messages set aside back into the queue with the same ids and bodies (their sends counted from 0 again), all
   * of them or the one `id`, in one transaction: a failure moves none. They go in their packing order, as before. For
   * the CLI (`--refused requeue`), with the agent stopped: the running forwarder does not look for new messages in
   * `messages`. Says how many were moved (0 when none of that id is kept).
   */
  requeueRefused(id?: string): { messages: number; records: number } {
    if (!this.hasRefused) return { messages: 0, records: 0 };
    const where = id === undefined ? '' : 'WHERE id = ?';
    const args = id === undefined ? [] : [id];
    return this.withRoom(() =>
      this.db.transaction(() => {
        const moved = this.db
          .prepare<unknown[], { count: number }>(
            `INSERT INTO messages (id, stream, first_seq, last_seq, count, created_at, bytes, replay_of, body)
             SELECT id, stream, first_seq, last_seq, count, created_at, bytes, replay_of, body FROM refused ${where} ORDER BY first_seq, id
             RETURNING count`,
          )
          .all(...args);
        this.db.prepare(`DELETE FROM refused ${where}`).run(...args);
        // A replay copy among them may be the store's first without REPLAY_INDEX_SQL's index: the next check looks.
        this.replayIndex = null;
        return { messages: moved.length, records: moved.reduce((a, m) => a + m.count, 0) };
      })(),
    );
  }

  /** Gives up messages set aside (deleted), all of them or the one `id`; says how many (0 when none of that id is kept). */
  dropRefused(id?: string): { messages: number; records: number } {
    if (!this.hasRefused) return { messages: 0, records: 0 };
    const where = id === undefined ? '' : 'WHERE id = ?';
    const gone = this.db.prepare<unknown[], { count: number }>(`DELETE FROM refused ${where} RETURNING count`).all(...(id === undefined ? [] : [id]));
    return { messages: gone.length, records: gone.reduce((a, m) => a + m.count, 0) };
  }

  /**
   * When the oldest data still to send was stored: an unpacked record's arrival, or a waiting message's packing (its
   * records' own times are not kept apart). A replay's copies are left out (they keep their originals' old times and
   * would read as a backlog of days). Null when nothing waits.
   */
  oldestPendingAt(): number | null {
    const packed = this.stmt<[], { t: number | null }>('SELECT min(created_at) AS t FROM messages WHERE acked_at IS NULL AND replay_of IS NULL').get()?.t ?? null;
    const times = [packed, ...STREAMS.map((s) => this.pendingByStream.get(s)!.oldestAt)].filter((t): t is number => t !== null);
    return times.length ? Math.min(...times) : null;
  }

  /** Messages packed but not yet acknowledged, per stream. */
  unackedMessages(): { alarms: number; telemetry: number } {
    const out = { alarms: 0, telemetry: 0 };
    for (const r of this.stmt<[], { stream: Stream; n: number }>('SELECT stream, count(*) AS n FROM messages WHERE acked_at IS NULL GROUP BY stream').all()) {
      out[r.stream] = r.n;
    }
    return out;
  }

  /** Nothing left to send: no pending record, no message waiting for its acknowledgement. */
  nothingToSend(): boolean {
    const u = this.unackedMessages();
    return this.pending('telemetry').records + this.pending('alarms').records + u.alarms + u.telemetry === 0;
  }

  recordAttempt(id: string): void {
    this.stmt('UPDATE messages SET attempts = attempts + 1 WHERE id = ?').run(id);
  }

  /** The hub acknowledged the message: it is done, and kept only for replay during the retention period. */
  acknowledge(id: string, now = Date.now()): void {
    // How the kept bytes change (ackedBytes), applied once the write has succeeded.
    const delta = this.withRoom(() => {
      const was = this.stmt<[string], { bytes: number; acked: number }>('SELECT bytes, acked_at IS NOT NULL AS acked FROM messages WHERE id = ?').get(id);
      if (this.retainAckedMs > 0) {
        this.stmt('UPDATE messages SET acked_at = ? WHERE id = ?').run(now, id);
        return was && !was.acked ? was.bytes : 0;
      }
      this.stmt('DELETE FROM messages WHERE id = ?').run(id);
      return was?.acked ? -was.bytes : 0;
    });
    if (this.ackedBytes !== null) this.ackedBytes += delta;
  }

  /**
   * Runs a write of the forwarding path (pack, acknowledge) or the limits check. When the disk is full (another program filled it faster
   * than the limits checks keep room), the reserve file is deleted and the WAL checkpointed, and the write is tried
   * once more: packing and acknowledging is what lets the backlog drain and the store shrink, so it gets the reserve,
   * not ingest. The next limits check reports the release (reserveReleased) and evicts in small passes. `again`: how
   * the write is tried once room is made (the limits check does it in small passes).
   */
  private withRoom<T>(write: () => T, again: () => T = write): T {
    try {
      return write();
    } catch (err) {
      // A failing disk (an I/O error with room on it) gets none of this: the reserve and eviction cannot help it.
      if (this.path === ':memory:' || !this.diskFull(err)) throw this.storeError(err);
      const past = this.pastPageCap(err, write);
      if (past) return past.value;
      this.makeRoom();
      try {
        return again();
      } catch (retryErr) {
        throw this.storeError(retryErr);
      }
    }
  }

  /**
   * A write that failed with SQLITE_FULL while the database file has a page cap (diskRoom()) may have hit the cap, not
   * a full disk: it is tried once more with the cap lifted into DISK_RESERVE_BYTES (room a pack or an acknowledgement
   * easily fits in), and the reserve file stays. Returns the write's result, or null when that failed for room too
   * (the disk is full).
   */
  private pastPageCap<T>(err: unknown, write: () => T): { value: T } | null {
    if ((err as { code?: string }).code !== 'SQLITE_FULL' || this.pageCap === null) return null;
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    this.db.pragma(`max_page_count = ${this.pageCap + Math.ceil(DISK_RESERVE_BYTES / pageSize)}`);
    try {
      return { value: write() };
    } catch (again) {
      if (!this.diskFull(again)) throw this.storeError(again);
      return null;
    } finally {
      // The cap of the last check (which may have run inside `write`): the next check evicts down to it.
      this.db.pragma(`max_page_count = ${this.pageCap ?? NO_PAGE_CAP}`);
    }
  }

  /** Deletes the reserve file, if there is one (noted for the next report), and checkpoints the WAL. */
  private makeRoom(): void {
    const file = reservePath(this.path);
    if (existsSync(file)) {
      rmSync(file, { force: true });
      this.reserveReleasedUnreported = true;
    }
    this.checkpoint();
  }

  /**
   * Copies the WAL into the database file, so that the next transaction writes the WAL from its start, in room the
   * WAL file already has. It may fail on a full disk (frames for pages past the end of the file): the write that
   * follows then fails and says so.
   */
  private checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // see above
    }
  }

  /**
   * Re-queues acknowledged messages packed in [fromMs, toMs] for sending again (backfill after a loss on the
   * cloud side). Copies get new ids `<original>.r<runId>-<n>`, in the body too (`messageId`, with `replayOf` naming
   * the original: replayBody() in forward/wire.ts), so consumers that de-duplicate on the message id still receive
   * them, and can tell them apart. `n` counts replays in the store file, which a restore from a backup rolls back;
   * the run's id (runId, as in the ids of messages packed) keeps a copy made after a restore from taking the id of
   * one delivered before it, which consumers would drop as a duplicate. Only originals are copied: copies from earlier replays are in the range too (they keep
   * the original's created_at), and copying them would send each message once more per earlier replay.
   * ('.' is among the characters IoT Hub allows in a message id: ASCII letters, digits and
   * - : . + % _ # * ? ! ( ) , = @ ; $ '.)
   */
  replay(fromMs: number, toMs: number): { messages: number; records: number } {
    // One replay at a time, and a bounded one: the copy runs in one transaction on the agent's only thread (ingest,
    // alarms and displays wait for it), and a retry after a caller's timeout must not copy everything again.
    const waiting = this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM messages WHERE replay_of IS NOT NULL AND acked_at IS NULL').get()?.n ?? 0;
    if (waiting > 0) throw new ReplayRefusedError(`${waiting} messages of an earlier replay are not sent yet: ask again once they are`);
    // What the range holds, read once (one connection, one thread: nothing changes it before the copy below).
    const range = this.db
      .prepare<[number, number], { r: number | null; b: number | null }>(
        'SELECT sum(count) AS r, sum(bytes) AS b FROM messages WHERE acked_at IS NOT NULL AND replay_of IS NULL AND created_at BETWEEN ? AND ?',
      )
      .get(fromMs, toMs);
    const bytes = range?.b ?? 0;
    const records = range?.r ?? 0;
    const mb = (n: number) => `${Math.round(n / 1e6)} MB`;
    if (bytes > REPLAY_MAX_BYTES) {
      throw new ReplayRefusedError(`the range holds ${mb(bytes)} of sent messages, more than the ${mb(REPLAY_MAX_BYTES)} one replay may copy: ask for a shorter range`);
    }
    // Refused before anything is written rather than failing partway with a raw SQLITE_FULL (review rv100 L1).
    const room = this.replayRoom();
    if (bytes > room) {
      throw new ReplayRefusedError(`the range holds ${mb(bytes)} of sent messages, and the store's disk has room to copy about ${mb(room)} now: ask for a shorter range`);
    }
    const copy = this.db.transaction(() => {
      this.db.exec(REPLAY_INDEX_SQL);
      const n = Number(this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'replays'").get()?.value ?? 0) + 1;
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('replays', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(n));
      const info = this.db
        .prepare(
          `INSERT INTO messages (id, stream, first_seq, last_seq, count, created_at, bytes, body, replay_of)
           SELECT copy_id, stream, first_seq, last_seq, count, created_at, length(CAST(b AS BLOB)), b, id
           FROM (SELECT *, replay_body(body, id, copy_id) AS b
                 FROM (SELECT *, id || '.r' || ? AS copy_id
                       FROM messages WHERE acked_at IS NOT NULL AND replay_of IS NULL AND created_at BETWEEN ? AND ?))`,
        )
        .run(`${this.runId}-${n}`, fromMs, toMs);
      return { messages: info.changes, records };
    });
    try {
      const copied = copy();
      this.replayIndex = true;
      return copied;
    } catch (err) {
      if (!this.diskFull(err)) throw this.storeError(err);
      // The room read above was taken meanwhile (another program): rolled back, nothing copied. The checkpoint lets the
      // WAL be cut back (WAL_SIZE_LIMIT_BYTES) at the next write.
      this.checkpoint();
      throw new ReplayRefusedError(`the store's disk has no room to copy the ${mb(bytes)} of sent messages in the range (${(err as Error).message}), nothing was copied: ask for a shorter range`);
    }
  }

  /**
   * Bytes of messages a replay may copy now. The copy is one transaction: its pages go to the WAL first (about its
   * bytes), then into the database file at the checkpoint (as much again, less the file's free pages). Neither may take
   * what the disk limit keeps free for SQLite's files and for ingest between two checks (DISK_RESERVE_BYTES,
   * DISK_HEADROOM_BYTES), nor pass the database file's cap (pageCap).
   */
  private replayRoom(): number {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const freeInFile = (this.db.pragma('freelist_count', { simple: true }) as number) * pageSize;
    const spare = this.freeBytesNow() - DISK_RESERVE_BYTES - DISK_HEADROOM_BYTES;
    // b + max(0, b - freeInFile) <= spare
    const forDisk = spare <= freeInFile ? spare : (spare + freeInFile) / 2;
    const forCap = this.pageCap === null ? Infinity : this.pageCap * pageSize - this.usedBytes();
    return Math.max(0, Math.min(forDisk, forCap));
  }

  /** Bytes the store's data occupies in its file (free pages excluded). */
  usedBytes(): number {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * pageSize;
  }

  /**
   * What the disk lets the store's data take (see DISK_WAL_ROOM_BYTES): `limit` for eviction, `maxPages` for the
   * database file. Null (no limit from the disk) for ':memory:', for a disk too small, or when the free space
   * cannot be read.
   */
  private diskRoom(free: number): { limit: number; maxPages: number } | null {
    if (!Number.isFinite(free)) return null;
    const size = (file: string) => {
      try {
        return statSync(file).size;
      } catch {
        return 0;
      }
    };
    const wal = size(`${this.path}-wal`);
    // The WAL file keeps its size once grown: what it holds already is room it reuses.
    const walRoom = Math.max(DISK_WAL_ROOM_BYTES, wal);
    // The reserve file is room the store has too (deleted when the disk fills): a store on a disk another program
    // filled is evicted for the disk once its files and its reserve come to twice what is kept free.
    const room = size(this.path) + wal + free + size(reservePath(this.path));
    if (room < 2 * (walRoom + DISK_RESERVE_BYTES + DISK_HEADROOM_BYTES)) return null;
    // It is not room for the database file (`fileCap`), whether it is there or was deleted: a file grown into it never
    // gives it back, and the reserve could not be made again (keepReserve()).
    const fileCap = room - walRoom - DISK_RESERVE_BYTES - RESERVE_BYTES;
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    return { limit: fileCap - DISK_HEADROOM_BYTES, maxPages: Math.floor(fileCap / pageSize) };
  }

  /**
   * What the disk limit keeps free beside the store's files, the reserve apart: the WAL's room it has not taken yet,
   * and DISK_RESERVE_BYTES. (The database file may grow into the headroom: that is not kept free.)
   */
  private keptFreeBytes(): number {
    let wal = 0;
    try {
      wal = statSync(`${this.path}-wal`).size;
    } catch {
      // no WAL file yet
    }
    return Math.max(DISK_WAL_ROOM_BYTES, wal) - wal + DISK_RESERVE_BYTES;
  }

  /** Free bytes on the store's disk; Infinity for ':memory:' or when it cannot be read. */
  private freeBytesNow(): number {
    try {
      return this.freeDiskBytes();
    } catch {
      return Infinity;
    }
  }

  /** isDiskFull() on this store's disk (an I/O error in a store in memory is no full disk). */
  private diskFull(err: unknown): boolean {
    return isDiskFull(err, this.freeDiskBytes);
  }

  /** storeError() on this store's disk. */
  private storeError(err: unknown): unknown {
    return storeError(err, this.path, this.freeDiskBytes);
  }

  private readTally(): EvictionTally | null {
    return parseTally(this.stmt<[], { value: string }>(`SELECT value FROM meta WHERE key = '${EVICTED_KEY}'`).get()?.value);
  }

  /** Adds evicted records to the tally in the store; called inside the transaction that deleted them. */
  private tallyEvicted(reason: 'age' | 'capacity', counts: Record<RecordClass, number>, disk: boolean, now: number): void {
    const t = this.readTally() ?? {
      age: { 0: 0, 1: 0, 2: 0 },
      capacity: { 0: 0, 1: 0, 2: 0 },
      disk: false,
      since: now,
    };
    for (const c of [0, 1, 2] as const) t[reason][c] += counts[c];
    t.disk ||= disk;
    this.writeTally(t);
  }

  private writeTally(t: EvictionTally): void {
    if (tallyTotal(t) === 0) this.stmt(`DELETE FROM meta WHERE key = '${EVICTED_KEY}'`).run();
    else this.stmt(`INSERT INTO meta (key, value) VALUES ('${EVICTED_KEY}', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(JSON.stringify(t));
  }

  /** Evictions not yet reported (see EvictionTally), or null. */
  unreportedEvictions(): EvictionTally | null {
    const t = this.readTally();
    return t && tallyTotal(t) > 0 ? t : null;
  }

  /**
   * The evictions of `reported` have been reported: taken off the tally, and the loss note (if any) written, in one
   * transaction, so that a restart finds either the tally (and reports it) or the note (and raises it again).
   */
  settleEvictions(reported: EvictionTally, note?: { key: string; loss: StoredLoss }): void {
    this.db.transaction(() => {
      if (note) this.noteLoss(note.key, note.loss);
      const t = this.readTally();
      if (!t) return;
      for (const reason of ['age', 'capacity'] as const) {
        for (const c of [0, 1, 2] as const) t[reason][c] = Math.max(0, t[reason][c] - reported[reason][c]);
      }
      this.writeTally(t);
    }).immediate();
  }

  /**
   * The unreadable records of the last check's report (`unreadable`) have been reported: marked so, and the loss note
   * (if any) written, in one transaction, so that a restart finds either the unmarked rows (and reports them) or the
   * note (and raises it again). Call it in the same synchronous turn as that check: it settles every unreadable row
   * not settled yet, and only pack() adds them.
   */
  settleUnreadable(note?: { key: string; loss: StoredLoss }): void {
    this.db.transaction(() => {
      if (note) this.noteLoss(note.key, note.loss);
      this.stmt('UPDATE unreadable SET reported = 1 WHERE reported = 0').run();
      this.stmt(`DELETE FROM meta WHERE key = '${UNREADABLE_TRIMMED_KEY}'`).run();
    }).immediate();
  }

  /**
   * The trimmed messages set aside of the last check's report (`refusedTrimmed`) have been reported: their tally
   * cleared, and the loss note (if any) written, in one transaction (a kill in between neither loses nor double-counts).
   */
  settleRefusedTrimmed(note?: { key: string; loss: StoredLoss }): void {
    this.db.transaction(() => {
      if (note) this.noteLoss(note.key, note.loss);
      this.stmt(`DELETE FROM meta WHERE key = '${REFUSED_TRIMMED_KEY}'`).run();
    }).immediate();
  }

  private refusedTrimmed(): RefusedTrimmed {
    const raw = this.stmt<[], { value: string }>(`SELECT value FROM meta WHERE key = '${REFUSED_TRIMMED_KEY}'`).get()?.value;
    const none = { messages: 0, records: 0, alarmRecords: 0 };
    if (!raw) return none;
    try {
      const t = JSON.parse(raw) as Partial<RefusedTrimmed>;
      return { messages: Number(t.messages) || 0, records: Number(t.records) || 0, alarmRecords: Number(t.alarmRecords) || 0, ...(t.unknown === true && { unknown: true as const }) };
    } catch {
      // Unreadable tally: a loss all the same, of an unknown size (kept as such when more are added to it).
      return { ...none, messages: 1, unknown: true };
    }
  }

  /**
   * Deletes messages set aside, oldest first (`where`, up to `upToBytes`), adding them to the unreported tally in the
   * same transaction. Returns how many went.
   */
  private trimRefused(where: string, params: readonly unknown[], upToBytes: number): number {
    if (!this.hasRefused) return 0;
    const rows = this.deleteOldest<{ count: number; stream: Stream }>('refused', where, params, 'count, stream', upToBytes, (rs) => {
      const t = this.refusedTrimmed();
      for (const r of rs) {
        t.messages += 1;
        t.records += r.count;
        if (r.stream === 'alarms') t.alarmRecords += r.count;
      }
      this.stmt(`INSERT INTO meta (key, value) VALUES ('${REFUSED_TRIMMED_KEY}', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(JSON.stringify(t));
    });
    return rows.length;
  }

  /** Unreadable records not yet settled: rows still kept, and rows deleted to make room before settleUnreadable(). */
  private unsettledUnreadable(): number {
    const kept = this.stmt<[], { n: number | null }>('SELECT sum(count) AS n FROM unreadable WHERE reported = 0').get()?.n ?? 0;
    const trimmed = Number(this.stmt<[], { value: string }>(`SELECT value FROM meta WHERE key = '${UNREADABLE_TRIMMED_KEY}'`).get()?.value) || 0;
    return kept + trimmed;
  }

  /**
   * Keeps the store within its limits. First what has done its job goes: idempotency keys past IDEMPOTENCY_TTL_MS
   * and acknowledged messages past the replay retention; and unsent telemetry older than `maxAgeMs` is evicted. Then,
   * if over its capacity, what is not unsent data goes first, oldest first and only as much as needed: acknowledged
   * messages kept for replay, then idempotency keys; then unsent replay copies and unreadable rows kept for inspection,
   * then messages set aside (`refused`, oldest first: a loss, tallied; they also go store.maxAgeHours after set aside).
   * Only then are unsent records evicted, oldest first in priority order: waveforms, then numerics and events, and
   * alarms and audit only as a last resort. The capacity is `maxBytes`, or what the disk can take if that is less
   * (diskRoom()). Eviction frees down to 90 % of it so that it does not run at every append. Each eviction is added to
   * the store's tally of unreported evictions in the transaction that deletes the records (`unreported` in the report).
   *
   * A disk that another program filled faster than the checks keep room (more than the headroom in 10 s) leaves no
   * room for the WAL: every write fails with SQLITE_FULL, eviction included, and nothing could be packed, acknowledged
   * or evicted until someone freed space by hand. So then the reserve file is deleted, the WAL checkpointed, and the
   * work done again in small passes (TIGHT_PASS_BYTES), each with a checkpoint after it, so that each fits the room the
   * WAL has. The reserve is made again once the disk has room (keepReserve()).
   */
  enforceLimits(maxBytes: number, maxAgeMs: number, now = Date.now()): LimitsReport {
    const check = () => {
      try {
        return this.keepWithinLimits(maxBytes, maxAgeMs, now);
      } catch (err) {
        this.statsStale = true;
        // Its figures may be partway (a pass's rows deleted, not counted): the next check starts the eviction afresh.
        this.evictRun = null;
        throw err;
      }
    };
    return this.withRoom(check, () => {
      this.tight = true;
      try {
        return check();
      } finally {
        this.tight = false;
      }
    });
  }

  private keepWithinLimits(maxBytes: number, maxAgeMs: number, now: number): LimitsReport {
    const evicted: Record<RecordClass, number> = { 0: 0, 1: 0, 2: 0 };
    let evictedFor: LimitsReport['evictedFor'] = null;
    // Rows of unsent records this call may still evict (its slice); more: it stopped there with more to evict.
    let budget = this.sliceRows;
    let more = false;
    // Now as measured since the store was opened (see thisRun): it does not jump with the wall clock.
    const runNow = Math.min(now, this.thisRun.wallAt + (performance.now() - this.thisRun.monoAt));
    // Stamped later than that (plus slack), a row or key was written after a forward step, on the new clock: aged by
    // the wall clock like any other, or nothing written after a step would ever age out in this run.
    const steppedAfter = runNow + CLOCK_SLACK_MS;
    // A check that failed partway (its deletions committed, its figures not kept up to date) is followed by a read.
    if (this.statsStale) {
      this.loadPendingStats();
      this.ackedBytes = null;
      this.statsStale = false;
    }
    this.ackedBytes ??= this.stmt<[], { b: number }>('SELECT coalesce(sum(bytes), 0) AS b FROM messages WHERE acked_at IS NOT NULL').get()?.b ?? 0;
    this.expireKeys(steppedAfter, runNow, now);
    // Messages acknowledged in this run before a forward step of the clock are aged by runNow, as this run's rows are:
    // the step must not take the replay window (review rv152 R2). The plain wall-clock bound (runNow <= now) lets the
    // messages_unacked index rule out the young rather than every row being read.
    const [ackedAged, ackedParams] = this.stampedAged('acked_at', this.retainAckedMs, steppedAfter, runNow, now);
    const acked = `acked_at IS NOT NULL AND acked_at < ? AND ${ackedAged}`;
    let trimmedAcked = this.unkeep(this.deleteOldest<{ b: number }>('messages', acked, [now - this.retainAckedMs, ...ackedParams], 'bytes AS b', Infinity));
    trimmedAcked += this.dropOrphanCopies();
    // Telemetry too old to be of use: evict by age (alarms are kept; they go only for capacity). Rows this run wrote
    // are aged by runNow: a forward step of the wall clock must not make readings accepted seconds ago "older than
    // maxAgeHours". Earlier runs' rows have only their wall-clock time. Either way a row past its age is older than
    // now - maxAgeMs: the rows read are only those ageBound() cannot rule out (none, while the backlog is younger).
    for (const [i, t] of CLASS_TABLES.entries()) {
      const below = this.ageBound(i, t, now - maxAgeMs);
      if (below === null) continue;
      if (budget <= 0) {
        more = true;
        break;
      }
      const aged = this.deleteOldest<{ cls: RecordClass; count: number; stream: Stream; b: number }>(
        t,
        'cls > 0 AND created_at < CASE WHEN seq >= ? AND created_at <= ? THEN ? ELSE ? END',
        [this.thisRun.firstSeq, steppedAfter, runNow - maxAgeMs, now - maxAgeMs],
        'cls, count, stream, bytes AS b',
        Infinity,
        (rows) => this.tallyEvicted('age', classCounts(rows), false, now),
        below,
        budget,
      );
      budget -= aged.length;
      // Cut at the slice: the next call ages the rest (same condition, oldest first), then checks the capacity.
      if (this.passCut) more = true;
      if (!aged.length) continue;
      this.unpend(aged.map((r) => ({ stream: r.stream, n: r.count, b: r.b })));
      const counts = classCounts(aged);
      for (const c of [0, 1, 2] as const) evicted[c] += counts[c];
      evictedFor = 'age';
    }
    // Messages set aside are kept store.maxAgeHours from when they were set aside (time to look at them and send them
    // again), alarms too: nothing sends them by itself. A loss, tallied as they go (review rv92 H2). Those set aside in
    // this run before a forward step of the clock are aged by runNow, as this run's rows are (review rv100 M1).
    this.trimRefused(...this.stampedAged('refused_at', maxAgeMs, steppedAfter, runNow, now), Infinity);

    this.keepReserve(this.freeBytesNow());
    // Read after the reserve is made: a reading from before counts its 8 MiB as free, and the file could take them.
    const freeDiskBytes = this.freeBytesNow();
    const disk = this.diskRoom(freeDiskBytes);
    // The database file may grow into the headroom, not into the WAL's room and the reserve (SQLite keeps this
    // above the file's current size by itself); past it, a write fails with SQLITE_FULL as on a full disk.
    this.pageCap = disk?.maxPages ?? null;
    this.db.pragma(`max_page_count = ${this.pageCap ?? NO_PAGE_CAP}`);
    const limitedBy: LimitsReport['limitedBy'] = disk !== null && disk.limit < maxBytes ? 'disk' : 'maxBytes';
    const limit = limitedBy === 'disk' ? disk!.limit : maxBytes;
    let used = this.usedBytes();
    let trimmedAckedForCapacity = 0;
    let trimmedKeys = 0;
    let trimmedUnreadable = 0;
    let trimmedReplays = 0;
    // Over capacity: first what is not unsent data, then unsent records, down to 90 % of it, so that eviction does not
    // run at every check. Below the capacity nothing is evicted, but an eviction an earlier call stopped at its slice
    // goes on (to 90 %), after any age eviction still under way: each slice walks the whole order again, as records
    // arrive and messages are acknowledged between slices (review rv138 H1).
    const prev = this.evictRun;
    let run = prev;
    if (!more && (used > limit || run)) {
      const target = limit * 0.9;
      // Acknowledged messages kept for replay, oldest first and only as many as needed: the replay window shrinks
      // from its old end rather than going all at once. (A replay copy goes with its original.)
      while (used > target) {
        const trimmed = this.unkeep(this.deleteOldest<{ b: number }>('messages', 'acked_at IS NOT NULL', [], 'bytes AS b', (used - target) / this.fileBytesPerRowByte(used)));
        if (trimmed === 0) break;
        trimmedAckedForCapacity += trimmed + this.dropOrphanCopies();
        used = this.usedBytes();
      }
      // Idempotency keys, oldest first: a resend after a restart stored twice is better than unsent data evicted.
      while (used > target) {
        const trimmed = this.trimKeys(used - target);
        if (trimmed === 0) break;
        trimmedKeys += trimmed;
        used = this.usedBytes();
      }
      // Unsent replay copies (the hub acknowledged their originals once), and unreadable rows kept for inspection
      // (not sent, and reported as lost): or a large `unreadable` table would have unsent records, alarms too, evicted
      // for it. Rows not yet settled leave their count in meta in the same transaction: still reported until settled.
      if (used > target) {
        trimmedReplays = this.deleteOldest('messages', 'replay_of IS NOT NULL AND acked_at IS NULL', [], 'id', Infinity).length;
        trimmedUnreadable = this.deleteOldest<{ count: number; reported: number }>('unreadable', '1', [], 'count, reported', Infinity, (rows) => {
          const n = rows.reduce((a, r) => a + (r.reported ? 0 : r.count), 0);
          if (n === 0) return;
          this.stmt(
            `INSERT INTO meta (key, value) VALUES ('${UNREADABLE_TRIMMED_KEY}', ?) ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)`,
          ).run(String(n), n);
        }).reduce((a, r) => a + r.count, 0);
        used = this.usedBytes();
      }
      // Messages set aside (not sent, and only sent again by hand), oldest first and only as many as needed: or a
      // large `refused` table would have unsent records, alarms too, evicted for it (review rv92 H2). A loss, tallied.
      let trimmedRefused = 0;
      while (used > target) {
        const trimmed = this.trimRefused('1', [], (used - target) / this.fileBytesPerRowByte(used));
        if (trimmed === 0) break;
        trimmedRefused += trimmed;
        used = this.usedBytes();
      }
      // Where the last slice stopped is taken up only while this walk has removed nothing before it: otherwise what
      // came between slices changed the sizes, and the step is sized afresh.
      // (An age eviction in this call counts as removing: review rv140 M1.)
      let resumable = prev !== null && evictedFor === null && trimmedAckedForCapacity + trimmedKeys + trimmedReplays + trimmedUnreadable + trimmedRefused === 0;
      // Records take more room in the file than their JSON (pages, indexes), or less (binary samples). A class's first
      // pass scales the excess by the whole file's bytes per record byte; the next by what its last pass freed per
      // byte it removed, so that a class whose rows are smaller on disk than the average is not evicted in many passes.
      // From the figures kept up to date, not a sum over the whole store (review rv133 H1).
      const rowBytes =
        STREAMS.reduce((a, s) => a + this.pendingByStream.get(s)!.bytes, 0) +
        this.messageBytes() +
        (this.hasRefused ? (this.stmt<[], { b: number }>('SELECT coalesce(sum(bytes), 0) AS b FROM refused').get()?.b ?? 0) : 0);
      const fileRatio = rowBytes > 0 ? used / rowBytes : 1;
      // The run's ratio is kept across its slices (one call's would be), so that with nothing arriving they size as it.
      run = { step: 0, fileRatio: prev?.fileRatio ?? fileRatio, perRowByte: prev?.fileRatio ?? fileRatio, pass: null };
      // A pass counts as having freed room once 16 pages went (smaller moves are the measure's own noise).
      const minFreed = 16 * (this.db.pragma('page_size', { simple: true }) as number);
      // Oldest first within a class: an upgraded store's rows of every class in outbox_0 are older than any in the
      // class tables.
      const order: [RecordClass, string][] = [[2, 'outbox_0'], [2, 'outbox_2'], [1, 'outbox_0'], [1, 'outbox_1'], [0, 'outbox_0']];
      // The class's estimate (perRowByte) starts from the file's ratio. A pass cut at the slice goes on at the next
      // call (when resumable) with the bytes it still wanted, and is measured once whole: with nothing arriving between
      // slices, the rows evicted are those one call would.
      for (; run.step < order.length; run.step++, run.perRowByte = run.fileRatio) {
        const [cls, table] = order[run.step]!;
        // Alarms and audit records go only for store.maxBytes, never for the disk: they are small and rare (evicting
        // them frees next to nothing), and another program that fills the disk must not take them.
        const clsTarget = cls === 0 ? Math.max(target, maxBytes * 0.9) : target;
        if (resumable && prev && prev.step === run.step) {
          run.perRowByte = prev.perRowByte;
          // Never more than the excess now: usage may have fallen since (sends, acknowledgements; review rv140 M1).
          const excess = (used - clsTarget) / prev.perRowByte;
          run.pass = prev.pass && excess > 0 ? { ...prev.pass, left: Math.min(prev.pass.left, excess) } : null;
        }
        while (run.pass || used > clsTarget) {
          if (budget <= 0) {
            more = true;
            break;
          }
          const pass = run.pass ?? { left: (used - clsTarget) / run.perRowByte, before: used, n: 0, b: 0 };
          // Each pass and its note in the tally commit together: killed in between, neither happened.
          const rows = this.deleteOldest<{ n: number; b: number; stream: Stream }>(table, 'cls = ?', [cls], 'count AS n, bytes AS b, stream', pass.left, (rs) => {
            const n = rs.reduce((a, r) => a + r.n, 0);
            if (n > 0) this.tallyEvicted('capacity', { 0: 0, 1: 0, 2: 0, [cls]: n }, limitedBy === 'disk' && cls !== 0, now);
          }, Infinity, budget);
          this.unpend(rows);
          budget -= rows.length;
          const removed = rows.reduce((a, x) => ({ n: a.n + x.n, b: a.b + x.b }), { n: 0, b: 0 });
          evicted[cls] += removed.n;
          if (removed.n > 0) {
            evictedFor = 'capacity';
            resumable = false;
          }
          pass.n += removed.n;
          pass.b += removed.b;
          if (this.passCut) {
            run.pass = { ...pass, left: this.passLeft };
            more = true;
            break;
          }
          run.pass = null;
          if (pass.n === 0) break;
          used = this.usedBytes();
          // Rows removed from pages that still hold other rows free no page (rows of several classes in an upgraded
          // store's outbox_0, a page partly kept), so the measure may not move: the class is then evicted further,
          // never skipped, and the ratio is kept. A lower class (alarms last) goes only once every row of the higher
          // one is gone. Each pass removes rows, so this ends.
          if (pass.before - used >= minFreed) run.perRowByte = (pass.before - used) / pass.b;
        }
        if (more) break;
      }
      // Measured for the report when stopped partway (the pass's own measure waits for its end).
      if (more) used = this.usedBytes();
    }
    this.evictRun = more ? run : null;
    const ackedBytes = this.ackedBytes ?? 0;
    const retainedBytes = ackedBytes > 0 ? Math.min(used, Math.round(ackedBytes * this.fileBytesPerRowByte(used))) : 0;
    const usedBytes = Math.max(0, used - retainedBytes);
    // A disk full while the store is too small for the disk limit (diskRoom() null: rv59 M1, open): nothing is evicted
    // for it (that would only discard data), but the store can take no more than it holds, and says so: limited by the
    // disk at its usage, not store.maxBytes at a fraction of a per cent (review rv152 R3). For the report only. Once
    // full, it stays so until FULL_DISK_LEAVE_BYTES are free (or the disk limit applies): review rv155 F1.
    const full = disk === null && freeDiskBytes < (this.reportedFull ? FULL_DISK_LEAVE_BYTES : FULL_DISK_FREE_BYTES);
    this.reportedFull = full;
    const reportLimit = full ? usedBytes : limit;
    const reserveReleased = this.reserveReleasedUnreported;
    this.reserveReleasedUnreported = false;
    return {
      usedBytes,
      fraction: reportLimit > 0 ? usedBytes / reportLimit : 1,
      retainedBytes,
      limitBytes: reportLimit,
      limitedBy: full ? 'disk' : limitedBy,
      freeDiskBytes,
      trimmedAcked,
      trimmedAckedForCapacity,
      trimmedKeys,
      evicted,
      evictedFor,
      more,
      unreported: this.unreportedEvictions(),
      // Read last, not marked: a check that fails or is retried (withRoom) after this cannot lose the count.
      unreadable: this.unsettledUnreadable(),
      trimmedUnreadable,
      trimmedReplays,
      refused: this.refusedMessages(),
      refusedTrimmed: this.refusedTrimmed(),
      reserve: this.path !== ':memory:' && existsSync(reservePath(this.path)),
      reserveReleased,
    };
  }

  /**
   * Deletes the rows of `table` matching `where`, lowest rowid (oldest) first, until at least `upToBytes` of their
   * `bytes` went (Infinity: all of them), and returns the `returning` columns of every row deleted. One transaction;
   * while the disk is full (`tight`), passes of at most TIGHT_PASS_BYTES with a checkpoint after each, and a pass that
   * fails for room is tried smaller. `inTx` runs in each pass's transaction with its rows (the eviction tally).
   * At most `maxRows` rows go (an eviction's slice): stopped there with bytes still wanted, it sets passCut and
   * passLeft (the bytes still wanted), and a call with those goes on as if it had not stopped.
   */
  private deleteOldest<R = { id: string }>(
    table: string,
    where: string,
    params: readonly unknown[],
    returning: string,
    upToBytes: number,
    inTx?: (rows: R[]) => void,
    below = Infinity,
    maxRows = Infinity,
  ): R[] {
    const deleted: R[] = [];
    let left = upToBytes;
    let passBytes = TIGHT_PASS_BYTES;
    // Rows from `below` (a rowid) on are not read.
    const bounded = Number.isFinite(below);
    const capped = Number.isFinite(maxRows);
    this.passCut = false;
    while (left > 0) {
      const want = this.tight ? Math.min(left, passBytes) : left;
      const rowsLeft = maxRows - deleted.length;
      if (rowsLeft <= 0) {
        this.passCut = true;
        break;
      }
      // Capped: the same walk also stops at the row past the cap (n > rowsLeft); the rows before it go.
      const hit =
        Number.isFinite(want) || capped
          ? this.stmt<unknown[], { r: number; n?: number }>(
              `SELECT r${capped ? ', n' : ''} FROM (SELECT rowid AS r, sum(bytes) OVER (ORDER BY rowid) AS cum${capped ? ', row_number() OVER (ORDER BY rowid) AS n' : ''} FROM ${table} WHERE ${bounded ? 'rowid < ? AND ' : ''}(${where})) WHERE cum >= ?${capped ? ' OR n > ?' : ''} LIMIT 1`,
            ).get(...(bounded ? [below] : []), ...params, Number.isFinite(want) ? want : Number.MAX_VALUE, ...(capped ? [rowsLeft] : []))
          : undefined;
      const cut = hit !== undefined && hit.n !== undefined && hit.n > rowsLeft && hit.r - 1 < below - 1;
      const upTo = Math.min(below - 1, cut ? hit.r - 1 : (hit?.r ?? NO_ROWID_LIMIT));
      let rows: (R & { _b: number })[];
      try {
        rows = this.db.transaction(() => {
          const rs = this.stmt<unknown[], R & { _b: number }>(`DELETE FROM ${table} WHERE rowid <= ? AND (${where}) RETURNING bytes AS _b, ${returning}`).all(upTo, ...params);
          if (rs.length > 0) inTx?.(rs);
          return rs;
        })();
      } catch (err) {
        if (!this.tight || !this.diskFull(err) || passBytes <= MIN_PASS_BYTES) throw err;
        passBytes = Math.max(MIN_PASS_BYTES, Math.floor(passBytes / 4));
        this.checkpoint();
        continue;
      }
      if (rows.length === 0) break;
      for (const r of rows) {
        left -= r._b;
        delete (r as { _b?: number })._b;
        deleted.push(r);
      }
      if (this.tight) this.checkpoint();
      if (cut) {
        // The rows past the cap wait for the next call (with the tight passes' room, it may have gone on).
        if (left > 0 && deleted.length >= maxRows) {
          this.passCut = true;
          break;
        }
        continue;
      }
      if (upTo === NO_ROWID_LIMIT || upTo === below - 1) break;
    }
    this.passLeft = left;
    return deleted;
  }

  /**
   * The rowid below which rows of class table `t` (CLASS_TABLES[i]) may have been stored before `before` (so may be
   * past their age), or null when none may: read from the first row and the table's ageOrder, by rowid, not from
   * every row. Rows of class 1 or 2 in outbox_0 are an upgraded store's earlier rows: none past legacySeq.
   */
  private ageBound(i: number, t: string, before: number): number | null {
    if (t === 'outbox_0' && this.legacySeq === null) return null;
    const o = this.ageOrder[i]!;
    const first = this.stmt<[], { seq: number; at: number }>(`SELECT seq, created_at AS at FROM ${t} WHERE seq = (SELECT min(seq) FROM ${t})`).get();
    if (!first) {
      // Empty: the order starts afresh.
      this.ageOrder[i] = { maxAt: -Infinity, back: 0, exact: true };
      return null;
    }
    // Every row was stored at first.at - back or later.
    if (first.at - o.back >= before) return null;
    if (!o.exact) {
      // Once a run, and only for a backlog about as old as its age limit: how far rows are out of order, read in seq order.
      if (!this.ageBackFn) {
        type Acc = { seq: number; max: number; back: number };
        const step = (a: Acc, seq: unknown, at: unknown): void => {
          // Rows not read in seq order: the spread stays the bound.
          if (typeof seq !== 'number' || typeof at !== 'number' || seq <= a.seq) a.back = Infinity;
          a.seq = Number(seq);
          if (Number(at) < a.max) a.back = Math.max(a.back, a.max - Number(at));
          else a.max = Number(at);
        };
        this.db.aggregate<Acc>('age_back', {
          start: () => ({ seq: -Infinity, max: -Infinity, back: 0 }),
          // @types/better-sqlite3 types a step of one argument; SQLite passes it each of the call's (two here).
          step: step as unknown as (a: Acc) => void,
          result: (a) => (Number.isFinite(a.back) ? a.back : null),
        });
        this.ageBackFn = true;
      }
      // Of every row now in the table (those appended since open too); null: the spread stays the bound.
      const back = this.stmt<[], { back: number | null }>(`SELECT age_back(seq, created_at) AS back FROM ${t}`).get()?.back ?? null;
      if (back !== null) o.back = Math.min(o.back, back);
      o.exact = true;
      if (first.at - o.back >= before) return null;
    }
    // Nor is any row after one stored at before + back or later (each is at most `back` below it).
    const stop = this.stmt<[number, number], { seq: number }>(`SELECT seq FROM ${t} WHERE seq > ? AND created_at >= ? ORDER BY seq LIMIT 1`).get(first.seq, before + o.back)?.seq ?? Infinity;
    return t === 'outbox_0' ? Math.min(stop, this.legacySeq! + 1) : stop;
  }

  /** Takes deleted acknowledged messages (their bytes `b`) off ackedBytes; returns how many. */
  private unkeep(rows: readonly { b: number }[]): number {
    if (this.ackedBytes !== null) for (const r of rows) this.ackedBytes -= r.b;
    return rows.length;
  }

  /** Bytes (`bytes`) of every message in `messages`: those kept for replay (ackedBytes) and those still to send (by index). */
  private messageBytes(): number {
    const unacked = this.stmt<[], { b: number }>('SELECT coalesce(sum(bytes), 0) AS b FROM messages WHERE acked_at IS NULL').get()?.b ?? 0;
    return (this.ackedBytes ?? 0) + unacked;
  }

  /**
   * Bytes of the file per byte of its rows' JSON (`bytes`), idempotency keys apart: what a row takes in pages, indexes
   * and page slack. A small message takes a page of its own (twice its size); a 64 KB one little more than its size.
   * (The per-table page count SQLite could give reads every overflow page: gigabytes at each check.)
   */
  private fileBytesPerRowByte(used: number): number {
    const rows = (this.stmt<[], { b: number }>(
      `SELECT (SELECT coalesce(sum(bytes), 0) FROM unreadable)${this.hasRefused ? ' + (SELECT coalesce(sum(bytes), 0) FROM refused)' : ''} AS b`,
    ).get()?.b ?? 0) + this.messageBytes();
    const pending = STREAMS.reduce((a, s) => a + this.pendingByStream.get(s)!.bytes, 0);
    let keys = 0;
    try {
      keys = this.stmt<[], { b: number | null }>("SELECT pgsize AS b FROM dbstat WHERE name = 'idempotency' AND aggregate = 1").get()?.b ?? 0;
    } catch {
      // no dbstat in this SQLite: keys count as rows' room
    }
    return rows + pending > 0 ? Math.max(0, used - keys) / (rows + pending) : 1;
  }

  /** Deletes acknowledged replay copies whose original is gone; returns how many. */
  private dropOrphanCopies(): number {
    // A copy sent by a replay goes with its original: acknowledged later, it would outlive it, and a later replay
    // (which copies originals only) would find nothing to send for a range the store seems to hold.
    // Once a run, a store without the index is looked at for copies (an older agent's replay): with none, there is
    // nothing to do until replay() makes one (and the index).
    if (this.replayIndex === null) {
      let indexed = this.stmt("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'messages_replay_of'").get() !== undefined;
      if (!indexed && this.stmt('SELECT 1 FROM messages WHERE replay_of IS NOT NULL LIMIT 1').get() !== undefined) {
        this.db.exec(REPLAY_INDEX_SQL);
        indexed = true;
      }
      this.replayIndex = indexed;
    }
    if (!this.replayIndex) return 0;
    // NOT EXISTS, by the id's index, for each copy (messages_replay_of): NOT IN read every message's id (review rv133 M1).
    return this.unkeep(
      this.stmt<[], { b: number }>(
        'DELETE FROM messages WHERE acked_at IS NOT NULL AND replay_of IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.id = messages.replay_of) RETURNING bytes AS b',
      ).all(),
    );
  }

  /**
   * Deletes the idempotency keys older than IDEMPOTENCY_TTL_MS. A forward step of the clock must not drop the keys of
   * batches just accepted (a sender's resend would be stored again, under new message ids): keys this run stamped
   * before a step are aged by runNow.
   */
  /**
   * The condition (and its parameters) on a wall-clock stamp `column` older than `ageMs`: a stamp of this run from before
   * a forward step of the clock (thisRun.wallAt up to steppedAfter) by runNow, the time that passed; any other by the
   * wall clock (reviews rv100 M1, rv152 R2).
   */
  private stampedAged(column: string, ageMs: number, steppedAfter: number, runNow: number, now: number): [string, number[]] {
    return [`${column} < CASE WHEN ${column} >= ? AND ${column} <= ? THEN ? ELSE ? END`, [this.thisRun.wallAt, steppedAfter, runNow - ageMs, now - ageMs]];
  }

  private expireKeys(steppedAfter: number, runNow: number, now: number): void {
    const expired = 'at < CASE WHEN at <= ? THEN ? ELSE ? END';
    const params = [steppedAfter, runNow - IDEMPOTENCY_TTL_MS, now - IDEMPOTENCY_TTL_MS];
    try {
      const c = this.stmt<unknown[], { total: number; expired: number }>(`SELECT count(*) AS total, coalesce(sum(${expired}), 0) AS expired FROM idempotency`).get(...params)!;
      if (c.expired === 0) return;
      // Most of a large table expired (a store kept 24 h of keys before, or the agent was down): rebuilt from the keys
      // kept, as deleting keys scattered over every page would rewrite every page of the table.
      if (c.expired >= KEY_REBUILD_MIN && c.expired * 2 >= c.total) this.rebuildKeys(c.total - c.expired, `NOT (${expired})`, params);
      else this.stmt(`DELETE FROM idempotency WHERE ${expired}`).run(...params);
    } catch (err) {
      // On a full disk, expired keys wait for a later check: they do no harm meanwhile.
      if (!this.tight || !this.diskFull(err)) throw err;
    }
  }

  /**
   * Keeps only the `keep` newest keys matching `where`, in a table written afresh. Keys are ordered by key, not by
   * time, so deleting the oldest here and there would free no page (and the measure of the store's size would not
   * move); a table written in key order from the keys kept takes only the pages they need.
   */
  private rebuildKeys(keep: number, where = '1', params: readonly unknown[] = []): void {
    this.db.transaction(() => {
      const kept = this.stmt<unknown[], { key: string; at: number }>(
        `SELECT key, at FROM (SELECT key, at FROM idempotency WHERE ${where} ORDER BY at DESC LIMIT ?) ORDER BY key`,
      ).all(...params, keep);
      this.stmt('DELETE FROM idempotency').run();
      const insert = this.stmt('INSERT INTO idempotency (key, at) VALUES (?, ?)');
      for (const k of kept) insert.run(k.key, k.at);
    })();
  }

  /**
   * Over capacity: deletes the oldest idempotency keys, about `excess` bytes of them, before any unsent record goes.
   * Returns how many went.
   */
  private trimKeys(excess: number): number {
    const n = this.stmt<[], { n: number }>('SELECT count(*) AS n FROM idempotency').get()?.n ?? 0;
    if (n === 0) return 0;
    let bytes = n * 200;
    try {
      bytes = this.stmt<[], { b: number | null }>("SELECT pgsize AS b FROM dbstat WHERE name = 'idempotency' AND aggregate = 1").get()?.b ?? bytes;
    } catch {
      // no dbstat in this SQLite: the estimate above
    }
    // A tenth more than the estimate: pages hold a little less than their share, and each try rewrites the table.
    const drop = Math.min(n, Math.ceil((1.1 * excess) / (bytes / n)));
    if (drop < n) {
      try {
        this.rebuildKeys(n - drop);
        return drop;
      } catch (err) {
        // The disk has no room to write the keys kept: all go (the table is then cleared, which needs next to none).
        if (!this.diskFull(err)) throw err;
        this.checkpoint();
      }
    }
    this.stmt('DELETE FROM idempotency').run();
    return n;
  }

  close(): void {
    this.closeFile();
    this.lock?.release();
  }

  /** Closes the database, keeping the lock (open() reuses it for the fresh store after moving a damaged one). */
  private closeFile(): void {
    if (!this.db.open) return;
    // A clean stop leaves an empty WAL even with a tool reading the store: agent.db alone then holds everything,
    // and a copy taken or restored without its -wal loses nothing (a stale -wal beside it would replace its content).
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // A full disk or a damaged file: closing still does what it can.
    }
    this.db.close();
  }
}
