// Salvage of a damaged store file (review rv182 H2). Outbox.open moves a file that fails its integrity check aside
// and starts a fresh store; what can still be read of the old file's unsent data is copied into the fresh one here, so
// that a damaged page costs the rows on it, not the whole backlog:
//   - every class table's unsent rows (outbox_0/1/2, or an older format's `outbox`), with their seqs: they are packed
//     in the order they came, and the fresh store's seqs continue after them;
//   - the messages not yet acknowledged, with their ids and bodies: the hub and consumers de-duplicate a resend by id.
// Tables are read without their indexes (NOT INDEXED: a damaged index page, the commonest case, then costs nothing) in
// rowid order, a row at a time; a damaged page stops the read, and the read goes on after it (readsAgainAt). The rows
// that could not be read are counted from the table's index where that is readable; where it is not, their number is
// unknown, and said so. The old file is opened read-only and left as it is, for inspection or a salvage by hand.
// Acknowledged messages (kept for replay), the `refused` and `unreadable` tables and the notes in `meta` are not copied.
import Database from 'better-sqlite3';

export interface SalvageResult {
  /** Unsent records copied into the fresh store: those of unsent rows and of unacknowledged messages. */
  records: number;
  /** Unacknowledged messages copied (their records are in `records`). */
  messages: number;
  /**
   * Rows (each of one or more records) and unacknowledged messages of the old file that could not be read or were not
   * what the store writes: counted from the tables' indexes where the table's own pages are damaged.
   */
  failedRows: number;
  /** Some damaged part could not be counted (its index unreadable too, or the file not readable at all): more is lost than failedRows. */
  unknown: boolean;
  /** Why the copy stopped before its end (the fresh store refused to take more: a full disk), or null; what was committed before is counted. */
  error: string | null;
  /**
   * The seqs of unsent rows on damaged pages, per table of the old file: `from` up to before `before` (null: to the
   * end). None of them is in the fresh store, so a salvage by hand (README) can add rows of these ranges without sending
   * any twice. At most MAX_SKIPPED; `skippedOmitted` counts the ranges left out.
   */
  skipped: { table: string; from: number; before: number | null }[];
  skippedOmitted: number;
}

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

/** Writes into the fresh store in transactions of COMMIT_ROWS; counts only what was committed. */
class Copier {
  records = 0;
  messages = 0;
  failedRows = 0;
  private pending = { rows: 0, bytes: 0, records: 0, messages: 0 };
  /** Per class table of the old file, the first seq of the transaction not yet committed: where a stop leaves off. */
  readonly uncommitted = new Map<string, number>();

  constructor(private readonly db: Database.Database) {}

  /**
   * Inserts one row (values null: not what the store writes, counted as failed). `row`: the table of the old file and
   * the seq of an unsent row (none for a message: those are told apart by their ids).
   */
  put(insert: Database.Statement, values: unknown[] | null, records: number, bytes: number, row?: { table: string; seq: number }): void {
    if (values === null) {
      this.failedRows++;
      return;
    }
    if (row && !this.uncommitted.has(row.table)) this.uncommitted.set(row.table, row.seq);
    try {
      if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
      insert.run(...values);
    } catch (err) {
      // A row the fresh store's schema refuses (a type, a duplicate id): that row; anything else stops the copy.
      const code = (err as { code?: string }).code ?? '';
      if (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH') {
        this.failedRows++;
        return;
      }
      throw new CopyStopped(`${code || 'error'}: ${(err as Error).message}`, { cause: err });
    }
    this.pending.rows++;
    this.pending.bytes += bytes;
    this.pending.records += records;
    if (!row) this.pending.messages++;
    if (this.pending.rows >= COMMIT_ROWS || this.pending.bytes >= COMMIT_BYTES) this.commit();
  }

  commit(): void {
    if (!this.db.inTransaction) return;
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      throw new CopyStopped(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`, { cause: err });
    }
    this.records += this.pending.records;
    this.messages += this.pending.messages;
    this.pending = { rows: 0, bytes: 0, records: 0, messages: 0 };
    this.uncommitted.clear();
  }

  /** After a stop: the uncommitted rows are not in the fresh store. */
  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.pending = { rows: 0, bytes: 0, records: 0, messages: 0 };
  }
}

/**
 * Copies what can be read of the damaged store file `from` (opened read-only, not changed) into the fresh store `to`
 * (made by Outbox: its schema is there, its tables empty). Never throws for the old file's damage: that is the result.
 */
export function salvage(from: string, to: Database.Database): SalvageResult {
  const copier = new Copier(to);
  const skipped: SalvageResult['skipped'] = [];
  let skippedOmitted = 0;
  let unknown = false;
  let error: string | null = null;
  let src: Database.Database | null = null;
  const skip = (table: string, from: number, before: number | null) => {
    if (skipped.length < MAX_SKIPPED) skipped.push({ table, from, before });
    else skippedOmitted++;
  };
  // A damaged stretch of a table: its rows are lost (their number from the index, or unknown).
  const damaged = (table: string | null, from: number, before: number | null, lost: number | null) => {
    if (lost === null) unknown = true;
    else copier.failedRows += lost;
    if (table !== null) skip(table, from, before);
  };
  // The class tables, in the order copied: after a stop, those not begun are left whole.
  let present: (readonly [string, string])[] = [];
  let begun = 0;
  try {
    src = new Database(from, { readonly: true, fileMustExist: true });
    // SQLite refuses a file shorter than its header says (cut short: "malformed" at the first read) unless the schema is
    // writable, which better-sqlite3's defensive mode (unsafeMode off) forbids; with both, the pages there are read and
    // those missing are damaged pages like any other. The connection is read-only: nothing can be written either way.
    src.unsafeMode(true);
    src.pragma('writable_schema = ON');
    const tables = new Set(src.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name));
    // The class tables of format 3; an older format kept every class in `outbox` (its upgrade makes it outbox_0).
    const sources = [...(['outbox_0', 'outbox_1', 'outbox_2'] as const).map((t) => [t, t] as const), ['outbox', 'outbox_0'] as const];
    present = sources.filter(([t]) => tables.has(t));
    // A store file always has `messages` and one of these; without them, what the file held cannot be known.
    if (!tables.has('messages') || present.length === 0) unknown = true;
    for (const [table, into] of present) {
      begun++;
      const insert = to.prepare(`INSERT INTO ${into} (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map(() => '?').join(', ')})`);
      copyTable(src, table, ROW_COLUMNS, false, indexOf(table), (from, before, lost) => damaged(table, from, before, lost), (r) => {
        const values = rowValues(r);
        copier.put(insert, values, values ? (r.count as number) : 0, values ? (r.bytes as number) : 0, { table, seq: r.seq as number });
      });
    }
    if (tables.has('messages')) {
      const insert = to.prepare(`INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')}) VALUES (${MESSAGE_COLUMNS.map(() => '?').join(', ')})`);
      copyTable(src, 'messages', MESSAGE_COLUMNS, true, 'messages_unacked', (from, before, lost) => damaged(null, from, before, lost), (r) => {
        const values = messageValues(r);
        copier.put(insert, values, values ? (r.count as number) : 0, values ? (r.bytes as number) : 0);
      });
    }
    copier.commit();
  } catch (err) {
    if (err instanceof CopyStopped) {
      error = err.message;
      copier.rollback();
      // What a salvage by hand may add (README): the rest of each table the stop cut short, and the tables not begun.
      for (const [table, seq] of copier.uncommitted) {
        // Damaged stretches within it are in that range already: one range each, so that adding them inserts no row twice.
        skipped.splice(0, skipped.length, ...skipped.filter((r) => r.table !== table || r.from < seq));
        skip(table, seq, null);
      }
      for (const [table] of present.slice(begun)) skip(table, 1, null);
    } else if (err instanceof Database.SqliteError) {
      // The old file's schema cannot be read (not a database, page 1 damaged): nothing of it can be counted.
      unknown = true;
      copier.rollback();
    } else {
      copier.rollback();
      throw err;
    }
  } finally {
    src?.close();
  }
  return { records: copier.records, messages: copier.messages, failedRows: copier.failedRows, unknown, error, skipped, skippedOmitted };
}

/** The index of a class table (see outbox.ts classTableSql: outbox_0 keeps the name it had as `outbox`'s index). */
function indexOf(table: string): string {
  return table === 'outbox' || table === 'outbox_0' ? 'outbox_stream_seq' : `${table}_stream_seq`;
}

/**
 * Reads every row of `table` it can, in rowid order, handing each to `take` (`unacked`: only messages not acknowledged).
 * Each stretch of damaged pages passed over is told to `damaged`: its rowids (`from` up to before `before`, null: to
 * the end) and the rows in it, counted from `index` (null: the index cannot be read there either).
 */
function copyTable(
  src: Database.Database,
  table: string,
  columns: readonly string[],
  unacked: boolean,
  index: string,
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
  let from = 1; // rowids of the store's tables start at 1
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
