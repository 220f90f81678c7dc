// Raw capture files: every byte received and sent, with timestamps, so a biomedical engineer can send
// us a problem and a test can pin real behaviour.
//
// Format (JSON lines, UTF-8, one object per line):
//   line 1 (optional header): {"capture":"serial","v":1,"describe":"/dev/ttyUSB0@19200 8E1","startedAt":"2025-…Z"}
//   then one line per chunk:  {"t":1718000000123,"dir":"rx","hex":"01245233…"}
//     t   – gateway time in ms since the Unix epoch when the chunk was read / handed to the OS
//     dir – "rx" (from the device) or "tx" (from us)
//     hex – the bytes, lowercase or uppercase hex, no separators
// Plain one-direction dumps (`.raw`, `.bin`, as other capture tools write them) are also read: all
// bytes become "rx" chunks without times.
// A capture stopped at its size bound ends with {"capture":"serial","v":1,"stopped":"captureMaxBytes",…}, skipped by
// readers as the header is.
import { chmodSync, constants, createWriteStream, lstatSync, openSync, readFileSync, type Stats, type WriteStream } from 'node:fs';
import { extname } from 'node:path';

export type Direction = 'rx' | 'tx';

export interface CaptureEntry {
  /** ms since epoch, or null for raw dumps that carry no time. */
  t: number | null;
  dir: Direction;
  bytes: Buffer;
}

export class CaptureFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = 'CaptureFormatError';
  }
}

/**
 * Default size bound of a capture file (`captureMaxBytes`): a forgotten capture of an IntelliVue with waves grows about
 * 0.6 GB a day on the store's disk, where a full disk evicts unsent data and then stops storage (review rv131 M3).
 */
export const DEFAULT_CAPTURE_MAX_BYTES = 256 * 1024 * 1024;

/** A size bound in MiB for health and warnings: whole when it is (the default), else to a tenth. */
export function mibText(bytes: number): string {
  const m = bytes / (1024 * 1024);
  return `${Number.isInteger(m) ? m : m.toFixed(1)} MiB`;
}

/**
 * The most a capture file's mode keeps: it holds every byte from the device, patient data included, so other local
 * users get no access (as the store's own files, agent/store/outbox.ts STORE_FILE_MODE); the default mode made it
 * world-readable (0644).
 */
export const CAPTURE_FILE_MODE = 0o640;

/** Room kept below the bound for the line that says the capture stopped there (it is under 200 bytes). */
const STOP_LINE_ROOM = 256;

export class CaptureWriter {
  private stream: WriteStream | null = null;
  private failed: Error | undefined;
  private onFailure: ((err: Error) => void) | undefined;
  private onFull: ((size: number) => void) | undefined;
  private bytes = 0;
  private full = false;

  constructor(
    readonly file: string,
    private readonly describe: string,
    private readonly clock: () => number = Date.now,
    /** The file never grows past this; at it the capture stops (no rotation: the start of a problem is kept). */
    readonly maxBytes: number = DEFAULT_CAPTURE_MAX_BYTES,
    private readonly chmod: (file: string, mode: number) => void = chmodSync,
  ) {}

  /**
   * Opens the file (appending) and writes the header; a failure (no such folder, not writable, disk full) is told
   * once to `onError`, the stop at `maxBytes` once to `onFull` with the file's size. Called by the driver's start,
   * not when the driver is made: --check makes drivers too.
   */
  open(onError?: (err: Error) => void, onFull?: (size: number) => void): void {
    if (onError) this.onFailure = onError;
    if (onFull) this.onFull = onFull;
    if (this.stream || this.failed || this.full) return;
    // Appending: what an earlier run left counts towards the bound, else each restart would allow as much again.
    let st: Stats | null = null;
    try {
      st = lstatSync(this.file);
      this.bytes = st.size;
    } catch {
      this.bytes = 0; // no file yet (or none can be made: the stream's error says so)
    }
    const refused = st && this.refusal(st);
    if (refused) {
      this.failed = new Error(`capture file ${this.file} ${refused}: not written to; give captureFile a file of the agent's own (or a new name)`);
      this.onFailure?.(this.failed);
      return;
    }
    // Not through a link made in its place meanwhile (O_NOFOLLOW: the open fails, told as any open failure).
    let fd: number;
    try {
      fd = openSync(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, CAPTURE_FILE_MODE);
    } catch (err) {
      this.failed = err as Error;
      this.onFailure?.(this.failed);
      return;
    }
    this.stream = createWriteStream(this.file, { fd });
    this.stream.on('error', (err) => {
      if (this.failed) return;
      this.failed = err;
      this.onFailure?.(err);
    });
    this.writeLine({ capture: 'serial', v: 1, describe: this.describe, startedAt: new Date(this.clock()).toISOString() });
  }

  /**
   * Why an existing file is not written to, or null. A symbolic link could point the device's bytes at any file; a file
   * of another user is not the agent's to fill (nor to change the mode of: as root the agent could, and that user would
   * read what the device sent). One that other users can read is limited first, as the store's files are.
   */
  private refusal(st: Stats): string | null {
    if (st.isSymbolicLink()) return 'is a symbolic link';
    const uid = typeof process.getuid === 'function' ? process.getuid() : null;
    if (uid !== null && st.uid !== uid) return `belongs to another user (uid ${st.uid}; the agent runs as uid ${uid})`;
    if ((st.mode & 0o007) === 0) return null;
    try {
      this.chmod(this.file, st.mode & CAPTURE_FILE_MODE);
      return null;
    } catch (err) {
      return `is readable by other users and its mode could not be limited (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
  }

  /** The error that stopped the capture, if any (the link keeps working without it). */
  get error(): Error | undefined {
    return this.failed;
  }

  /** Whether the capture stopped at `maxBytes`. */
  get stoppedAtBound(): boolean {
    return this.full;
  }

  /** Whether bytes are being recorded now: opened, and neither failed nor stopped at its bound. */
  get active(): boolean {
    return this.stream !== null && !this.stream.writableEnded && !this.failed && !this.full;
  }

  /** The file's size in bytes as written so far (what was there before included). */
  get size(): number {
    return this.bytes;
  }

  record(dir: Direction, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.open();
    this.writeLine({ t: this.clock(), dir, hex: Buffer.from(bytes).toString('hex') });
  }

  close(): Promise<void> {
    const stream = this.stream;
    if (!stream) return Promise.resolve();
    return new Promise((resolve) => stream.end(() => resolve()));
  }

  private writeLine(obj: unknown): void {
    if (this.failed || this.full || !this.stream) return;
    const line = `${JSON.stringify(obj)}\n`;
    const n = Buffer.byteLength(line);
    if (this.bytes + n > this.maxBytes - STOP_LINE_ROOM) {
      this.stopAtBound();
      return;
    }
    this.bytes += n;
    this.stream.write(line);
  }

  /** Stops for good (until the writer is made anew): says why in the file when there is room, then tells onFull. */
  private stopAtBound(): void {
    this.full = true;
    const stop = `${JSON.stringify({ capture: 'serial', v: 1, stopped: 'captureMaxBytes', maxBytes: this.maxBytes, at: new Date(this.clock()).toISOString() })}\n`;
    const n = Buffer.byteLength(stop);
    // A file already at its bound from an earlier run gets no second stop line.
    if (this.stream && this.bytes + n <= this.maxBytes) {
      this.bytes += n;
      this.stream.write(stop);
    }
    this.onFull?.(this.bytes);
  }
}

const RAW_EXTENSIONS = new Set(['.raw', '.bin']);

/** Chunk size for raw dumps, so replays exercise re-assembly across reads like a real port does. */
const RAW_CHUNK = 64;

export function isRawDump(file: string): boolean {
  return RAW_EXTENSIONS.has(extname(file).toLowerCase());
}

export function readCapture(file: string): CaptureEntry[] {
  const data = readFileSync(file);
  if (isRawDump(file)) return rawEntries(data);
  return parseCaptureText(data.toString('utf8'), file);
}

export function rawEntries(data: Buffer): CaptureEntry[] {
  const out: CaptureEntry[] = [];
  for (let i = 0; i < data.length; i += RAW_CHUNK) out.push({ t: null, dir: 'rx', bytes: data.subarray(i, i + RAW_CHUNK) });
  return out;
}

export function parseCaptureText(text: string, file = '<capture>'): CaptureEntry[] {
  const out: CaptureEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new CaptureFormatError(file, i + 1, 'not a JSON object');
    }
    if (typeof obj !== 'object' || obj === null) throw new CaptureFormatError(file, i + 1, 'not a JSON object');
    const rec = obj as Record<string, unknown>;
    if ('capture' in rec) continue; // header
    const { t, dir, hex } = rec;
    if (dir !== 'rx' && dir !== 'tx') throw new CaptureFormatError(file, i + 1, `dir must be "rx" or "tx", got ${JSON.stringify(dir)}`);
    if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
      throw new CaptureFormatError(file, i + 1, 'hex must be an even-length hex string');
    }
    if (t !== null && t !== undefined && (typeof t !== 'number' || !Number.isFinite(t))) {
      throw new CaptureFormatError(file, i + 1, 't must be a number (ms since epoch) or null');
    }
    out.push({ t: typeof t === 'number' ? t : null, dir, bytes: Buffer.from(hex, 'hex') });
  }
  return out;
}
