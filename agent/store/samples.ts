// Waveform samples as the store keeps them: binary, not JSON text. A 1 s ECG segment is ~1.5 KB of JSON and
// 0.5 KB as 16-bit integers, and writing JSON digits is the costliest part of ingesting a segment; the JSON is
// written when the segment is packed into a message instead, and it is the very text JSON.stringify(samples)
// gives (samples.test.ts holds it to that on arbitrary doubles).
//
// Blob layout: byte 0 the format, bytes 1–3 where the samples go in the record's stored body (uint24 LE, a string
// index), bytes 4–7 the length of the samples' JSON text (uint32 LE, for the store's size accounting without
// writing it), then from byte 8 the samples, little-endian:
//   1  int16 thousandths — every sample is exactly k / 1000 with |k| ≤ 32767 (ECG in mV, HL7 text, ADC steps)
//   2  int32 thousandths — exactly k / 1000 with |k| < 1e9
//   3  float64           — anything else, as is
// A stored waveform record's body is its JSON with `null` (SAMPLES_PLACEHOLDER) where the samples' array goes: still
// valid JSON, so an older agent that knows nothing of the blob sends the record, without its samples, rather than
// a broken message.

export const SAMPLES_PLACEHOLDER = 'null';
/** Most a placeholder's index can be (24 bits); record bodies are far smaller (maxRecordBytes). */
const MAX_AT = 0xffffff;

const HEADER = 8;
/** Typed arrays use the machine's byte order; the blob is little-endian on every machine. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const INT16 = 1;
const INT32 = 2;
const FLOAT64 = 3;

/** Bytes of the JSON text of a sample of k thousandths. */
function thousandthsLength(k: number): number {
  let a = k < 0 ? -k : k;
  let n = k < 0 ? 1 : 0;
  const whole = (a / 1000) | 0;
  n += whole < 10 ? 1 : whole < 100 ? 2 : whole < 1000 ? 3 : whole < 1e4 ? 4 : whole < 1e5 ? 5 : whole < 1e6 ? 6 : 7;
  a -= whole * 1000;
  return n + FRAC_LEN[a]!;
}

let scratch = new Int32Array(1024);

/** The samples in the store's binary form; `at`: the index of SAMPLES_PLACEHOLDER in the record's stored body. */
export function encodeSamples(samples: readonly number[], at = 0): Buffer {
  if (!(Number.isInteger(at) && at >= 0 && at <= MAX_AT)) throw new RangeError(`samples placeholder at ${at}: out of range`);
  const n = samples.length;
  if (scratch.length < n) scratch = new Int32Array(Math.max(n, 2 * scratch.length));
  let json = n > 1 ? n + 1 : 2; // brackets and commas
  let format = INT16;
  for (let i = 0; i < n; i++) {
    const v = samples[i]!;
    const k = Math.round(v * 1000);
    // Exact only if k / 1000 gives back the very same double (then its shortest text is k's digits).
    if (!(k / 1000 === v && k > -1e9 && k < 1e9)) {
      format = FLOAT64;
      break;
    }
    scratch[i] = k;
    if (k > 32767 || k < -32767) {
      format = INT32;
      json += thousandthsLength(k);
    } else json += INT16_LEN[k + 32767]!;
  }
  if (format === FLOAT64) {
    const out = Buffer.allocUnsafe(HEADER + 8 * n);
    json = n > 1 ? n + 1 : 2;
    for (let i = 0; i < n; i++) {
      const v = samples[i]!;
      out.writeDoubleLE(v, HEADER + 8 * i);
      json += (JSON.stringify(v) ?? 'null').length;
    }
    return header(out, FLOAT64, at, json);
  }
  const width = format === INT16 ? 2 : 4;
  if (!LITTLE_ENDIAN) {
    const out = Buffer.allocUnsafe(HEADER + width * n);
    for (let i = 0; i < n; i++) format === INT16 ? out.writeInt16LE(scratch[i]!, HEADER + 2 * i) : out.writeInt32LE(scratch[i]!, HEADER + 4 * i);
    return header(out, format, at, json);
  }
  // A typed view copies the samples in one call. A fresh ArrayBuffer (not a slice of Buffer's pool) is aligned for it.
  const ab = new ArrayBuffer(HEADER + width * n);
  (format === INT16 ? new Int16Array(ab, HEADER, n) : new Int32Array(ab, HEADER, n)).set(scratch.subarray(0, n));
  return header(Buffer.from(ab), format, at, json);
}

function header(out: Buffer, format: number, at: number, jsonBytes: number): Buffer {
  out[0] = format;
  out.writeUIntLE(at, 1, 3);
  out.writeUInt32LE(jsonBytes, 4);
  return out;
}

/** Length in bytes of the JSON text of the encoded samples. */
export function samplesJsonBytes(blob: Uint8Array): number {
  return Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).readUInt32LE(4);
}

/** The JSON text of the encoded samples: what JSON.stringify(samples) wrote. */
export function samplesText(blob: Uint8Array): string {
  const text = decodeSamples(blob);
  // The header's length sized the message this text goes into: a blob whose text differs is damaged.
  if (text.length !== samplesJsonBytes(blob)) throw new UnreadableRecordError(`samples text of ${text.length} bytes, header says ${samplesJsonBytes(blob)}`);
  return text;
}

function decodeSamples(blob: Uint8Array): string {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const format = b[0];
  if (format === FLOAT64) {
    if ((b.length - HEADER) % 8 !== 0) throw new UnreadableRecordError(`float64 samples of ${b.length - HEADER} bytes`);
    const xs: number[] = [];
    for (let p = HEADER; p + 8 <= b.length; p += 8) xs.push(b.readDoubleLE(p));
    return JSON.stringify(xs);
  }
  if (format !== INT16 && format !== INT32) throw new UnreadableRecordError(`samples of unknown format ${String(format)}`);
  const width = format === INT16 ? 2 : 4;
  if ((b.length - HEADER) % width !== 0) throw new UnreadableRecordError(`${width * 8}-bit samples of ${b.length - HEADER} bytes`);
  const n = (b.length - HEADER) / width;
  // 12 bytes bound the text of one sample of thousandths below 1e9 (sign, 6 digits, ".ddd", comma).
  const need = 2 + n * 12;
  if (textBuf.length < need) textBuf = Buffer.allocUnsafe(Math.max(need, 2 * textBuf.length));
  const text = textBuf;
  let p = 0;
  text[p++] = 0x5b; // [
  for (let i = 0; i < n; i++) {
    if (i > 0) text[p++] = 0x2c; // ,
    let a = width === 2 ? b.readInt16LE(HEADER + 2 * i) : b.readInt32LE(HEADER + 4 * i);
    // The encoder writes |k| < 1e9 only; more would also overrun the text buffer's bound.
    if (a <= -1e9 || a >= 1e9) throw new UnreadableRecordError(`sample ${i} of ${a} thousandths: out of range`);
    if (a < 0) {
      text[p++] = 0x2d; // -
      a = -a;
    }
    const whole = (a / 1000) | 0;
    const frac = a - whole * 1000;
    p = writeUint(text, p, whole);
    if (frac !== 0) {
      // ".ddd" with trailing zeros dropped (.500 → .5, .050 → .05), copied from a table.
      const len = FRAC_LEN[frac]!;
      const t = frac * 4;
      for (let k = 0; k < len; k++) text[p + k] = FRAC_TEXT[t + k]!;
      p += len;
    }
  }
  text[p++] = 0x5d; // ]
  return text.toString('latin1', 0, p);
}

let textBuf = Buffer.allocUnsafe(4096);

/**
 * A stored row's JSON: its body (one record, or several joined by commas), with the samples' JSON in place of the
 * placeholder when it has samples. Throws UnreadableRecordError if the body is not a run of JSON values (damaged on
 * disk: SQLite keeps no checksum of a row's content, and one such row would make its whole message unreadable),
 * if body and blob do not belong together, or if the blob is of an unknown format.
 */
export function recordJson(body: string, samples: Uint8Array | null): string {
  // Checked here, when a row is packed, at no cost to ingest. A waveform's body is checked with its placeholder
  // (valid JSON, see above); the samples' text is checked by samplesText.
  checkEntries(body);
  if (samples === null) return body;
  if (samples.length < HEADER) throw new UnreadableRecordError(`samples blob of ${samples.length} bytes`);
  const at = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).readUIntLE(1, 3);
  if (body.slice(at, at + SAMPLES_PLACEHOLDER.length) !== SAMPLES_PLACEHOLDER) {
    throw new UnreadableRecordError(`no samples placeholder at ${at} of the stored body`);
  }
  return body.slice(0, at) + samplesText(samples) + body.slice(at + SAMPLES_PLACEHOLDER.length);
}

/** Throws UnreadableRecordError unless `body` is one or more JSON values joined by commas: an entry of a message's array. */
function checkEntries(body: string): void {
  let values: unknown;
  try {
    values = JSON.parse(`[${body}]`);
  } catch (err) {
    // Where, not what: the parser's message may quote the body (patient data), and the reason is logged.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new UnreadableRecordError(`stored body is not JSON${at === undefined ? '' : ` (at character ${Number(at) - 1})`}`);
  }
  // An empty body parses ("[]") but would leave an empty entry between two commas in the message.
  if ((values as unknown[]).length === 0) throw new UnreadableRecordError('stored body is empty');
}

/** A stored record that cannot be turned back into its JSON (a damaged body or blob, or a format this agent does not know). */
export class UnreadableRecordError extends Error {
  constructor(detail: string) {
    super(`stored record unreadable: ${detail}`);
    this.name = 'UnreadableRecordError';
  }
}

/** The text of each fraction of thousandths 1…999 (".001" … ".999", trailing zeros dropped), 4 bytes a slot. */
const FRAC_TEXT = new Uint8Array(4000);
const FRAC_LEN = new Uint8Array(1000);
for (let f = 1; f < 1000; f++) {
  const t = `.${String(f).padStart(3, '0').replace(/0+$/, '')}`;
  FRAC_LEN[f] = t.length;
  for (let k = 0; k < t.length; k++) FRAC_TEXT[f * 4 + k] = t.charCodeAt(k);
}

/** thousandthsLength(k) for the 16-bit range, at index k + 32767: one load per sample where most samples are. */
const INT16_LEN = new Uint8Array(2 * 32767 + 1);
for (let k = -32767; k <= 32767; k++) INT16_LEN[k + 32767] = thousandthsLength(k);

/** Writes a non-negative integer below 1e9 in decimal at p; returns the new end. */
function writeUint(b: Buffer, p: number, n: number): number {
  if (n < 10) {
    b[p] = 0x30 + n;
    return p + 1;
  }
  const len = n < 100 ? 2 : n < 1000 ? 3 : n < 1e4 ? 4 : n < 1e5 ? 5 : n < 1e6 ? 6 : n < 1e7 ? 7 : n < 1e8 ? 8 : 9;
  for (let d = len - 1; d >= 0; d--) {
    const q10 = (n / 10) | 0;
    b[p + d] = 0x30 + (n - q10 * 10);
    n = q10;
  }
  return p + len;
}
