// Salvage of a damaged store file (review rv182 H2). Outbox.open moves a file that fails its integrity check aside
// and starts a fresh store; what can still be read of the old file's unsent data is copied into the fresh one here, so
// that a damaged page costs the rows on it, not the whole backlog:
//   - every class table's unsent rows (outbox_0/1/2, or an older format's `outbox`), with their seqs: they are packed
//     in the order they came, before any new row, as the fresh store's seq counter is first raised to the old file's
//     (review rv186 M2);
//   - the messages not yet acknowledged, with their ids and bodies: the hub and consumers de-duplicate a resend by id;
//   - the idempotency keys, so that a sender's resend of a batch stored just before the damage is not stored twice;
//     only when nothing was lost (review rv189 M4): a key of a batch whose rows were on a damaged page would turn the
//     sender's resend, the one repair of that loss, into a "duplicate". A record stored twice can be told downstream;
//     a resend refused cannot. So the keys go last, once the losses are known.
// Tables are read without their indexes (NOT INDEXED: a damaged index page, the commonest case, then costs nothing) in
// rowid order, a row at a time; a damaged page stops the read, and the read goes on after it (readsAgainAt). The rows
// that could not be read are counted from the table's index where that is readable; where it is not, their number is
// unknown, and said so. The old file is opened read-only and left as it is, for inspection or a salvage by hand.
// The copy is resumable (review rv186 H1): a note in the fresh store's `meta` (SALVAGE_MARKER) names the old file and
// says how far the copy got, with what it counted up to there; it is written in each transaction of copied rows, and
// the last replaces it with the result (SALVAGE_RESULT), kept until the agent has reported it (review rv189 L3). A stop
// (kill -9, a SIGTERM, a power cut, a full disk) leaves the note, and the next open goes on from there. A moved file
// missing at that point keeps the note, and says so (review rv189 M3). A damaged file that is itself a fresh store
// holding a note (damaged during a resume) hands that note on to the store it is salvaged into (review rv189 M2).
// Acknowledged messages (kept for replay), the `refused` and `unreadable` tables and the notes in `meta` are not copied.
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';

/** Seqs of unsent rows of a table of the old file that were not copied: `from` up to before `before` (null: to the end). */
export interface SkippedRange {
  table: string;
  from: number;
  before: number | null;
}

export interface SalvageResult {
  /** Unsent records copied into the fresh store (by this start, for a resumed salvage): those of unsent rows and of unacknowledged messages. */
  records: number;
  /** A salvage an earlier start began and a stop cut short, resumed (SALVAGE_MARKER). */
  resumed: boolean;
  /** Of a resumed salvage: the records copied before the stop (not in `records`). */
  already: number;
  /** Unacknowledged messages copied (by this start; their records are in `records`). */
  messages: number;
  /**
   * Rows (each of one or more records) and unacknowledged messages of the old file that could not be read or were not
   * what the store writes: counted from the tables' indexes where the table's own pages are damaged. Of the whole
   * salvage (a resumed one: those met before the stop too, which nothing reported then).
   */
  failedRows: number;
  /** Some damaged part could not be counted (its index unreadable too, or the file not readable at all): more is lost than failedRows. */
  unknown: boolean;
  /** Why the copy stopped before its end (the fresh store refused to take more: a full disk), or null; what was committed before is counted. */
  error: string | null;
  /**
   * The copy stopped (error) with its note kept: the next start goes on with it from where it stopped, once the disk
   * has room; the rows not yet copied are not in `skipped`. False when not even the note could be written: then
   * nothing was copied, and `skipped` lists every class table.
   */
  unfinished: boolean;
  /**
   * The seqs of unsent rows on damaged pages (every class table's, when not even the note could be written), per table
   * of the old file. None of them is in the fresh store, and every one is below nextSeq, so a salvage by hand (README)
   * can add rows of these ranges without a clash or sending any twice. At most MAX_SKIPPED; `skippedOmitted` counts the
   * ranges left out.
   */
  skipped: SkippedRange[];
  skippedOmitted: number;
  /**
   * The first seq the fresh store gives a new row: past the old file's seq counter (its sqlite_sequence, which counts
   * rows sent and deleted too), or, where that cannot be read, past every seq read plus SEQ_MARGIN.
   */
  nextSeq: number;
  /** Idempotency keys copied (by this start). Those past a damaged page of their table are not: a resend of such a batch within the hour is stored again. */
  keys: number;
  /**
   * No key was copied because rows or messages were lost (review rv189 M4): a sender's resend of a lost batch must be
   * stored. A resend of any batch of the last hour is then stored again, a duplicate downstream can tell by its values.
   */
  keysWithheld: boolean;
  /**
   * The moved file a resumed salvage copies from is not there (moved or deleted by hand, review rv189 M3): nothing was
   * copied, the note is kept (error says so), and the salvage goes on at the first start that finds the file back.
   */
  missing: boolean;
}

/** What a salvage tells while it runs, for the log: it runs before the agent starts, about a minute per GB. */
export type SalvageEvent =
  | { kind: 'start'; movedTo: string; bytes: number; resumed: boolean }
  | { kind: 'progress'; movedTo: string; records: number; messages: number; already: number; elapsedMs: number };

export interface SalvageOptions {
  /** Why the file was moved aside (kept in the note, for a resumed salvage's report). */
  reason: string;
  onEvent?: (e: SalvageEvent) => void;
  /** How often a progress event is told (default PROGRESS_MS). */
  progressMs?: number;
  /** Called once the note of a new salvage is committed: from then on a stop is resumed from it (Outbox drops its pending mark). */
  onNoted?: () => void;
}

/** Key in the fresh store's `meta` of a salvage under way: a JSON SalvageMarker. */
export const SALVAGE_MARKER = 'salvage-in-progress';
/** Prefix of the keys in `meta` of a finished salvage's result, per moved file, kept until it is reported (a JSON SalvageDone). */
export const SALVAGE_RESULT = 'salvage-result:';

/** A finished salvage, as its result note keeps it: the moved file's name beside the store, why, and the result. */
export interface SalvageDone {
  file: string;
  reason: string;
  result: SalvageResult;
}

/** A salvage note that is there but cannot be read, or is of another shape (review rv189 L1): why, and the file, if named. */
export interface UnreadableNote {
  unreadable: string;
  file: string | null;
}

/** What was counted up to a point of the copy. */
interface Tally {
  records: number;
  messages: number;
  keys: number;
  failedRows: number;
  unknown: boolean;
  skipped: SkippedRange[];
  skippedOmitted: number;
}

/** A salvage under way, as its note keeps it (committed with the rows copied). */
export interface SalvageMarker {
  /** The moved file's name, beside the store (a folder moved whole still finds it). */
  file: string;
  reason: string;
  nextSeq: number;
  /** The table of the old file read at the last commit, and the rowid read on from: everything before is copied or counted. */
  at: { table: string; rowid: number };
  tally: Tally;
}

/**
 * The salvage a stop cut short in the store `db`, or null. A note that cannot be parsed or is of another shape (a hand
 * edit, a torn page) is returned as unreadable, never ignored: the rest of its file would be left uncopied unsaid.
 */
export function unfinishedSalvage(db: Database.Database): SalvageMarker | UnreadableNote | null {
  const row = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(SALVAGE_MARKER);
  if (!row) return null;
  let v: Partial<SalvageMarker> | null = null;
  try {
    v = JSON.parse(row.value) as Partial<SalvageMarker> | null;
  } catch (err) {
    return { unreadable: `not JSON: ${(err as Error).message}`, file: null };
  }
  const t = v?.tally;
  const ok =
    typeof v?.file === 'string' &&
    v.file !== '' &&
    typeof v.reason === 'string' &&
    isInt(v.nextSeq) &&
    typeof v.at?.table === 'string' &&
    isInt(v.at.rowid) &&
    isInt(t?.records) &&
    isInt(t.messages) &&
    isInt(t.keys) &&
    isInt(t.failedRows) &&
    typeof t.unknown === 'boolean' &&
    Array.isArray(t.skipped) &&
    isInt(t.skippedOmitted);
  if (ok) return v as SalvageMarker;
  return { unreadable: 'not of the shape this agent writes', file: typeof v?.file === 'string' && v.file !== '' ? v.file : null };
}

/** The results of finished salvages not yet reported (SALVAGE_RESULT), in the order of their keys; notes that cannot be read are left out. */
export function finishedSalvages(db: Database.Database): SalvageDone[] {
  const done: SalvageDone[] = [];
  for (const r of db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key LIKE ? || '%' ORDER BY key").all(SALVAGE_RESULT)) {
    try {
      const d = JSON.parse(r.value) as Partial<SalvageDone> | null;
      if (typeof d?.file === 'string' && typeof d.reason === 'string' && typeof d.result === 'object' && d.result !== null) done.push(d as SalvageDone);
    } catch {
      // a result note is a report only: the data is in the store either way
    }
  }
  return done;
}

/** What a note that cannot be read (L1) gives as a salvage result: nothing copied, and the rest not copied, said in `error`. */
export function unreadableNoteResult(note: UnreadableNote): SalvageResult {
  return {
    records: 0,
    resumed: true,
    already: 0,
    messages: 0,
    failedRows: 0,
    unknown: true,
    error: `the salvage note in the store (meta ${SALVAGE_MARKER}) cannot be read (${note.unreadable}), so the salvage cannot go on: what the stopped start had not copied is only in the old file (README: Damaged store, salvage by hand)`,
    unfinished: false,
    skipped: [],
    skippedOmitted: 0,
    nextSeq: 0,
    keys: 0,
    keysWithheld: false,
    missing: false,
  };
}

const putMeta = (db: Database.Database, key: string, value: string) =>
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);

/** Progress is told this often (a log line every ~5 s). */
const PROGRESS_MS = 5000;

/**
 * Added to the highest seq read when the old file's seq counter cannot be read: rows past the last one read may have
 * taken seqs the fresh store must not hand out again. Seqs are 64-bit; the gap costs nothing.
 */
const SEQ_MARGIN = 1_000_000_000;

/** Ranges of unreadable seqs listed at most (the log line carries them). */
const MAX_SKIPPED = 100;

/** Columns copied, per kind of table, in the order of the fresh store's INSERT. */
const ROW_COLUMNS = ['seq', 'stream', 'cls', 'device_id', 'created_at', 'bytes', 'body', 'count', 'samples'] as const;
const MESSAGE_COLUMNS = ['id', 'stream', 'first_seq', 'last_seq', 'count', 'created_at', 'attempts', 'bytes', 'replay_of', 'body'] as const;

/** What a column an older format did not have reads as (the upgrades in Outbox's constructor give the same). */
const COLUMN_DEFAULTS: Readonly<Record<string, string>> = {
  count: '1',
  samples: 'NULL',
  bytes: 'length(CAST(body AS BLOB))',
  acked_at: 'NULL',
  replay_of: 'NULL',
  attempts: '0',
};

/** Rows copied per transaction into the fresh store: a large backlog neither builds one huge WAL nor is lost whole on a full disk. */
const COMMIT_ROWS = 1000;
const COMMIT_BYTES = 8 * 1024 * 1024;

type Row = Record<string, unknown>;

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isStream = (v: unknown): boolean => v === 'alarms' || v === 'telemetry';

/** An unsent row as the store writes it, as the INSERT's values, or null. */
function rowValues(r: Row): unknown[] | null {
  const ok =
    isInt(r.seq) &&
    isStream(r.stream) &&
    (r.cls === 0 || r.cls === 1 || r.cls === 2) &&
    typeof r.device_id === 'string' &&
    isInt(r.created_at) &&
    isInt(r.bytes) &&
    typeof r.body === 'string' &&
    isInt(r.count) &&
    r.count >= 1 &&
    (r.samples === null || r.samples instanceof Uint8Array);
  // The body's JSON is checked when the row is packed, as for any row (a row that fails is moved to `unreadable`, counted).
  return ok ? ROW_COLUMNS.map((c) => r[c]) : null;
}

/** An unacknowledged message as the store writes it (its body JSON: it is sent as it is), as the INSERT's values, or null. */
function messageValues(r: Row): unknown[] | null {
  const ok =
    typeof r.id === 'string' &&
    r.id.length > 0 &&
    isStream(r.stream) &&
    isInt(r.first_seq) &&
    isInt(r.last_seq) &&
    isInt(r.count) &&
    r.count >= 1 &&
    isInt(r.created_at) &&
    isInt(r.attempts) &&
    isInt(r.bytes) &&
    (r.replay_of === null || typeof r.replay_of === 'string') &&
    typeof r.body === 'string' &&
    isJson(r.body);
  return ok ? MESSAGE_COLUMNS.map((c) => r[c]) : null;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The fresh store refused a write that is not about one row (a full disk, an I/O error): the copy stops there. */
class CopyStopped extends Error {}

const stopped = (err: unknown) => new CopyStopped(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`, { cause: err });

/** The class tables of the fresh store (outbox.ts CLASS_TABLES). */
const CLASS_TABLES = ['outbox_0', 'outbox_1', 'outbox_2'] as const;

/**
 * Writes into the fresh store in transactions of COMMIT_ROWS, each with the note of how far the copy got (`at`) and
 * what it counted up to there, so that a stop loses nothing and a resume copies nothing twice.
 */
class Copier {
  /** Counted so far: copies as committed, failures and ranges as met. */
  readonly tally: Tally;
  /** What the note said at the start (a resumed salvage), to tell this start's copies apart. */
  readonly before: Tally;
  /** Whether the note is in the fresh store (begin() committed, or a resumed salvage): a stop can then be resumed. */
  noted: boolean;
  /** Where the copy is: the next rowid of the table read. */
  at: { table: string; rowid: number };
  private pending = { rows: 0, bytes: 0, records: 0, messages: 0, keys: 0 };
  private readonly startedAt = performance.now();
  private toldAt = this.startedAt;

  constructor(
    private readonly db: Database.Database,
    private readonly movedTo: string,
    private readonly marker: SalvageMarker,
    private readonly opts: SalvageOptions,
    resumed: boolean,
  ) {
    this.before = marker.tally;
    this.tally = { ...marker.tally, skipped: [...marker.tally.skipped] };
    this.noted = resumed;
    this.at = { ...marker.at };
  }

  /**
   * Before anything is copied, in one transaction: the fresh store's seq counter raised to the old file's, so that no
   * new row takes a seq of the old file (review rv186 M2), and the note that makes a stop resumable.
   */
  begin(): void {
    try {
      this.db.exec('BEGIN IMMEDIATE');
      const lastSeq = this.marker.nextSeq - 1;
      for (const table of CLASS_TABLES) {
        const raised = this.db.prepare('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?').run(lastSeq, table).changes;
        if (raised === 0) this.db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(table, lastSeq);
      }
      this.note();
      this.db.exec('COMMIT');
    } catch (err) {
      throw stopped(err);
    }
    this.noted = true;
    this.opts.onNoted?.();
  }

  /**
   * Inserts one row, message or key (values null: not what the store writes; a row or message is then counted as
   * failed). `at`: the table of the old file and the rowid it was read at (read on from the next one after a stop).
   */
  put(kind: 'row' | 'message' | 'key', insert: Database.Statement, values: unknown[] | null, records: number, bytes: number, at: { table: string; rowid: number }): void {
    this.tell();
    let inserted = false;
    if (values === null) {
      if (kind !== 'key') this.tally.failedRows++;
    } else {
      try {
        if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
        inserted = insert.run(...values).changes > 0; // 0: a key there already (INSERT OR IGNORE)
      } catch (err) {
        // A row the fresh store's schema refuses (a type, a duplicate id): that row; anything else stops the copy.
        const code = (err as { code?: string }).code ?? '';
        if (!code.startsWith('SQLITE_CONSTRAINT') && code !== 'SQLITE_MISMATCH') throw stopped(err);
        if (kind !== 'key') this.tally.failedRows++;
      }
    }
    this.at = { table: at.table, rowid: at.rowid + 1 };
    if (!inserted) return;
    this.pending.rows++;
    this.pending.bytes += bytes;
    this.pending.records += records;
    if (kind === 'message') this.pending.messages++;
    if (kind === 'key') this.pending.keys++;
    if (this.pending.rows >= COMMIT_ROWS || this.pending.bytes >= COMMIT_BYTES) this.commit();
  }

  /**
   * `finish`: the last commit, which replaces the note with the result (finish writes it, given the final tally) with
   * the last rows: a stop before it leaves both as they were.
   */
  commit(finish?: (final: Tally) => void): void {
    if (!this.db.inTransaction && !finish) return;
    const copied = { records: this.tally.records + this.pending.records, messages: this.tally.messages + this.pending.messages, keys: this.tally.keys + this.pending.keys };
    try {
      if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
      if (finish) finish({ ...this.tally, ...copied });
      else this.note(copied);
      this.db.exec('COMMIT');
    } catch (err) {
      throw stopped(err);
    }
    Object.assign(this.tally, copied);
    this.pending = { rows: 0, bytes: 0, records: 0, messages: 0, keys: 0 };
  }

  /**
   * The copy stopped short (the fresh store refused a write): the uncommitted rows are not in it. The note stays, as
   * after a kill: the next start goes on from the last commit, which no row past it was copied before (the agent,
   * running meanwhile, adds rows only above nextSeq), so nothing is copied twice.
   */
  rollback(): void {
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } catch {
      // SQLite rolled it back itself (some I/O errors do)
    }
    this.pending = { rows: 0, bytes: 0, records: 0, messages: 0, keys: 0 };
  }

  /** The salvage ends short of its end for good (the old file cannot be read on): the note goes, as at the end. */
  end(finish: (final: Tally) => void): void {
    this.rollback();
    try {
      this.db.transaction(() => finish(this.tally))();
    } catch {
      // the fresh store refused it: the next start goes on and meets the same end, and tries again
    }
  }

  /** The note, with the position and the tally as they will be once this transaction commits. */
  private note(copied: Pick<Tally, 'records' | 'messages' | 'keys'> = this.tally): void {
    const marker: SalvageMarker = { ...this.marker, at: this.at, tally: { ...this.tally, ...copied } };
    putMeta(this.db, SALVAGE_MARKER, JSON.stringify(marker));
  }

  /** A progress event every progressMs: what this start copied so far. */
  private tell(): void {
    const now = performance.now();
    if (!this.opts.onEvent || now - this.toldAt < (this.opts.progressMs ?? PROGRESS_MS)) return;
    this.toldAt = now;
    this.opts.onEvent({
      kind: 'progress',
      movedTo: this.movedTo,
      records: this.tally.records - this.before.records,
      messages: this.tally.messages - this.before.messages,
      already: this.before.records,
      elapsedMs: Math.round(now - this.startedAt),
    });
  }
}

/**
 * Copies what can be read of the damaged store file `from` (opened read-only, not changed) into the fresh store `to`
 * (made by Outbox: its schema is there, its tables empty). `resume`: the note of a salvage of `from` into `to` that a
 * stop cut short: it goes on where that note says. Never throws for the old file's damage: that is the result.
 */
export function salvage(from: string, to: Database.Database, opts: SalvageOptions, resume: SalvageMarker | null = null): SalvageResult {
  const resultOf = (t: Tally, before: Tally, error: string | null, unfinished: boolean, keysWithheld: boolean, missing = false): SalvageResult => ({
    records: t.records - before.records,
    resumed: resume !== null,
    already: before.records,
    messages: t.messages - before.messages,
    failedRows: t.failedRows,
    unknown: t.unknown,
    error,
    unfinished,
    skipped: t.skipped,
    skippedOmitted: t.skippedOmitted,
    nextSeq: resume?.nextSeq ?? 0,
    keys: t.keys - before.keys,
    keysWithheld,
    missing,
  });
  // The file a resumed salvage copies from is gone (moved, deleted by hand; review rv189 M3): nothing to read, and
  // nothing lost yet. The note stays: the first start that finds the file back goes on with it.
  if (resume && !existsSync(from)) {
    return resultOf(resume.tally, resume.tally, `the damaged file ${from} the salvage copies from is missing (moved or deleted)`, true, false, true);
  }
  opts.onEvent?.({ kind: 'start', movedTo: from, bytes: fileBytes(from), resumed: resume !== null });
  let src: Database.Database | null = null;
  let tables = new Set<string>();
  let counter = { seq: 0, exact: false };
  // The note of a salvage the damaged file itself held (a fresh store damaged during a resume, review rv189 M2).
  let inner: SalvageMarker | null = null;
  try {
    src = new Database(from, { readonly: true, fileMustExist: true });
    // SQLite refuses a file shorter than its header says (cut short: "malformed" at the first read) unless the schema is
    // writable, which better-sqlite3's defensive mode (unsafeMode off) forbids; with both, the pages there are read and
    // those missing are damaged pages like any other. The connection is read-only: nothing can be written either way.
    src.unsafeMode(true);
    src.pragma('writable_schema = ON');
    tables = new Set(src.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name));
    if (!resume) counter = seqCounter(src, [...CLASS_TABLES, 'outbox'].filter((t) => tables.has(t)));
    if (tables.has('meta')) inner = innerNote(src, basename(from));
  } catch (err) {
    src?.close();
    if (!(err instanceof Database.SqliteError)) throw err;
    // The old file's schema cannot be read (not a database, page 1 damaged): nothing of it can be counted.
    src = null;
  }
  // What is copied, in this order: the class tables of format 3 (an older format kept every class in `outbox`, which
  // its upgrade makes outbox_0), the unacknowledged messages, then the keys, once the losses are known (M4). Rows go in
  // rowid order.
  const present = [...CLASS_TABLES.map((t) => [t, t] as const), ['outbox', 'outbox_0'] as const].filter(([t]) => tables.has(t));
  const phases = [...present.map(([t]) => t), ...(tables.has('messages') ? ['messages'] : []), ...(tables.has('idempotency') ? ['idempotency'] : [])];
  const marker: SalvageMarker = resume ?? {
    file: basename(from),
    reason: opts.reason,
    nextSeq: counter.seq + (counter.exact ? 0 : SEQ_MARGIN) + 1,
    at: { table: phases[0] ?? '', rowid: 1 },
    tally: { records: 0, messages: 0, keys: 0, failedRows: 0, unknown: false, skipped: [], skippedOmitted: 0 },
  };
  const copier = new Copier(to, from, marker, opts, resume !== null);
  const { tally } = copier;
  const skip = (table: string, from: number, before: number | null) => {
    if (tally.skipped.length < MAX_SKIPPED) tally.skipped.push({ table, from, before });
    else tally.skippedOmitted++;
  };
  // A damaged stretch of a table: its rows are lost (their number from the index, or unknown).
  const damaged = (table: string | null, from: number, before: number | null, lost: number | null) => {
    if (lost === null) tally.unknown = true;
    else tally.failedRows += lost;
    if (table !== null) skip(table, from, before);
  };
  const lossy = () => tally.failedRows > 0 || tally.unknown;
  // The result, in the store with the last rows (L3), and the note the damaged file held handed on (M2).
  const finish = (final: Tally) => {
    to.prepare('DELETE FROM meta WHERE key = ?').run(SALVAGE_MARKER);
    const done: SalvageDone = { file: marker.file, reason: marker.reason, result: { ...resultOf(final, copier.before, null, false, lossy()), nextSeq: marker.nextSeq } };
    putMeta(to, SALVAGE_RESULT + marker.file, JSON.stringify(done));
    if (inner) putMeta(to, SALVAGE_MARKER, JSON.stringify(inner));
  };
  // A store file always has `messages` and one of the class tables; without them, what the file held cannot be known.
  if (!tables.has('messages') || present.length === 0) tally.unknown = true;
  let error: string | null = null;
  try {
    if (!resume) copier.begin();
    // A resumed salvage skips the tables copied before the stop, and goes on in the one it was in from its rowid.
    // A note of an agent that copied the keys first (a816705), in its keys phase: nothing past them was copied then.
    const keysFirst = resume?.at.table === 'idempotency' && resume.tally.records === 0 && resume.tally.messages === 0;
    const first = resume && !keysFirst ? Math.max(0, phases.indexOf(resume.at.table)) : 0;
    for (const [i, phase] of phases.entries()) {
      if (i < first || !src) continue;
      const start = resume && i === first ? resume.at.rowid : 1;
      const at = (rowid: number) => ({ table: phase, rowid });
      if (phase === 'idempotency') {
        if (lossy()) continue;
        // No rowid to go on from: read again from the start (a key there already is not inserted again).
        const insert = to.prepare('INSERT OR IGNORE INTO idempotency (key, at) VALUES (?, ?)');
        copyKeys(src, (key, time) => copier.put('key', insert, typeof key === 'string' && isInt(time) ? [key, time] : null, 0, String(key).length, at(0)));
      } else if (phase === 'messages') {
        const insert = to.prepare(`INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')}) VALUES (${MESSAGE_COLUMNS.map(() => '?').join(', ')})`);
        copyTable(src, 'messages', MESSAGE_COLUMNS, true, 'messages_unacked', start, (f, b, lost) => damaged(null, f, b, lost), (r) => {
          const values = messageValues(r);
          copier.put('message', insert, values, values ? (r.count as number) : 0, values ? (r.bytes as number) : 0, at(r._rowid as number));
        });
      } else {
        const into = present.find(([t]) => t === phase)![1];
        const insert = to.prepare(`INSERT INTO ${into} (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map(() => '?').join(', ')})`);
        copyTable(src, phase, ROW_COLUMNS, false, indexOf(phase), start, (f, b, lost) => damaged(phase, f, b, lost), (r) => {
          const values = rowValues(r);
          copier.put('row', insert, values, values ? (r.count as number) : 0, values ? (r.bytes as number) : 0, at(r._rowid as number));
        });
      }
    }
    copier.commit(finish);
  } catch (err) {
    if (err instanceof CopyStopped) {
      error = err.message;
      copier.rollback();
      // Not even the note could be written (nothing was copied): a salvage by hand (README) may add every class table.
      if (!copier.noted) for (const [table] of present) skip(table, 1, null);
    } else if (err instanceof Database.SqliteError) {
      // A table of the old file that cannot be read at all (its columns): what it held cannot be counted.
      tally.unknown = true;
      copier.end(finish);
    } else {
      copier.end(finish);
      throw err;
    }
  } finally {
    src?.close();
  }
  return { ...resultOf(tally, copier.before, error, error !== null && copier.noted, lossy()), nextSeq: marker.nextSeq };
}

/** A salvage note in the damaged file `src` (a fresh store damaged during a resume) of another file, or null. */
function innerNote(src: Database.Database, self: string): SalvageMarker | null {
  try {
    const note = unfinishedSalvage(src);
    return note && !('unreadable' in note) && note.file !== self ? note : null;
  } catch (err) {
    if (!(err instanceof Database.SqliteError)) throw err;
    return null; // its meta unreadable: the note, if there was one, is lost with it
  }
}

/** Bytes of a store file with its -wal (what the salvage reads); 0 for one that cannot be read. */
function fileBytes(path: string): number {
  let n = 0;
  for (const f of [path, `${path}-wal`]) {
    try {
      n += statSync(f).size;
    } catch {
      // none
    }
  }
  return n;
}

/**
 * The old file's seq counter, the highest seq it ever handed out: its sqlite_sequence (AUTOINCREMENT keeps it for every
 * class table, rows sent and deleted included). `exact` false when that cannot be read: then the highest rowid of each
 * class table that can be read, a floor only.
 */
function seqCounter(src: Database.Database, tables: readonly string[]): { seq: number; exact: boolean } {
  let seq = 0;
  let exact = false;
  if (tables.length === 0) return { seq, exact };
  try {
    const names = tables.map((t) => `'${t}'`).join(', ');
    seq = src.prepare<[], { s: number | null }>(`SELECT max(seq) AS s FROM sqlite_sequence WHERE name IN (${names})`).get()?.s ?? 0;
    exact = true;
  } catch (err) {
    if (!(err instanceof Database.SqliteError)) throw err;
  }
  for (const t of tables) {
    try {
      seq = Math.max(seq, src.prepare<[], { s: number | null }>(`SELECT max(rowid) AS s FROM ${t}`).get()?.s ?? 0);
    } catch (err) {
      if (!(err instanceof Database.SqliteError)) throw err;
    }
  }
  return { seq, exact };
}

/**
 * Hands every idempotency key it can read to `take`, up to the first damaged page (the table has no rowid to read on
 * after it; a key lost costs at most a resend stored twice).
 */
function copyKeys(src: Database.Database, take: (key: unknown, at: unknown) => void): void {
  try {
    for (const r of src.prepare<[], { key: unknown; at: unknown }>('SELECT key, at FROM idempotency').iterate()) take(r.key, r.at);
  } catch (err) {
    if (!(err instanceof Database.SqliteError)) throw err;
  }
}

/** The index of a class table (see outbox.ts classTableSql: outbox_0 keeps the name it had as `outbox`'s index). */
function indexOf(table: string): string {
  return table === 'outbox' || table === 'outbox_0' ? 'outbox_stream_seq' : `${table}_stream_seq`;
}

/**
 * Reads every row of `table` it can from rowid `start` on, in rowid order, handing each to `take` (`unacked`: only
 * messages not acknowledged).
 * Each stretch of damaged pages passed over is told to `damaged`: its rowids (`from` up to before `before`, null: to
 * the end) and the rows in it, counted from `index` (null: the index cannot be read there either).
 */
function copyTable(
  src: Database.Database,
  table: string,
  columns: readonly string[],
  unacked: boolean,
  index: string,
  start: number,
  damaged: (from: number, before: number | null, lost: number | null) => void,
  take: (row: Row) => void,
): void {
  const present = new Set(src.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`).all().map((c) => c.name));
  const column = (c: string) => (present.has(c) ? c : `${COLUMN_DEFAULTS[c] ?? 'NULL'} AS ${c}`);
  // The first format had no acked_at: its messages were all unacknowledged (deleted on the hub's acknowledgement).
  const where = unacked && present.has('acked_at') ? 'acked_at IS NULL' : null;
  const rows = src.prepare<[number], Row>(`SELECT rowid AS _rowid, ${columns.map(column).join(', ')} FROM ${table} NOT INDEXED WHERE rowid >= ?${where ? ` AND ${where}` : ''} ORDER BY rowid`);
  const probe = src.prepare<[number], { r: number }>(`SELECT rowid AS r FROM ${table} NOT INDEXED WHERE rowid >= ? ORDER BY rowid LIMIT 1`);
  // Rows of the index from one rowid to before another (an index entry holds its row's rowid): a damaged stretch's.
  const countLost = (from: number, before: number): number | null => {
    try {
      const sql = `SELECT count(*) AS n FROM ${table} INDEXED BY ${index} WHERE rowid >= ? AND rowid < ? AND ${where ?? "stream IN ('alarms', 'telemetry')"}`;
      return src.prepare<[number, number], { n: number }>(sql).get(from, before)?.n ?? 0;
    } catch {
      return null;
    }
  };
  let from = start; // rowids of the store's tables start at 1
  for (;;) {
    try {
      for (const r of rows.iterate(from)) {
        from = (r._rowid as number) + 1;
        take(r);
      }
      return;
    } catch (err) {
      if (!(err instanceof Database.SqliteError)) throw err;
      const next = readsAgainAt(probe, from);
      damaged(from, next, countLost(from, next ?? Number.MAX_SAFE_INTEGER));
      if (next === null) return;
      from = next;
    }
  }
}

/**
 * Past a damaged stretch that starts at rowid `from`: the smallest rowid a seek reads from again (the rows before it
 * lie on the damaged pages), or null when nothing from `from` on can be read. A seek to a rowid fails while it lands on
 * the damaged pages: found by doubling the step, then halving the interval (about a hundred seeks at most).
 */
function readsAgainAt(probe: Database.Statement<[number], { r: number }>, from: number): number | null {
  const reads = (x: number): boolean => {
    try {
      probe.get(x);
      return true;
    } catch (err) {
      if (err instanceof Database.SqliteError) return false;
      throw err;
    }
  };
  let lo = from; // a seek to lo fails (the read just did)
  let step = 1;
  while (!reads(from + step)) {
    lo = from + step;
    step *= 2;
    if (from + step > Number.MAX_SAFE_INTEGER) return null;
  }
  let hi = from + step;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (reads(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
