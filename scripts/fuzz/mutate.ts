// Input generation for the long fuzz run: a seeded PRNG, byte-level mutations of valid seeds (what a broken
// cable or a misconfigured device produces), and structure-aware mutations of JSON values (what a
// mistyped config produces). Deterministic: the same seed and index give the same input.

export type Rand = () => number;

/** xorshift32; `seed` 0 is mapped to 1. */
export function prng(seed: number): Rand {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

export const int = (r: Rand, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

/** Bytes the parsers treat specially; mutations favour them. */
const INTERESTING = [0x00, 0x01, 0x03, 0x0b, 0x0d, 0x0a, 0x11, 0x13, 0x15, 0x1b, 0x1c, 0x20, 0x26, 0x2d, 0x2e, 0x5c, 0x5e, 0x7c, 0x7d, 0x7e, 0x7f, 0x80, 0xc0, 0xc1, 0xe1, 0xfe, 0xff];

function randomBytes(r: Rand, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r() < 0.3 ? pick(r, INTERESTING) : int(r, 256);
  return b;
}

/** One to several mutations of `seed`, capped at `maxLen` bytes. */
export function mutateBytes(r: Rand, seed: Buffer, maxLen: number, other?: Buffer): Buffer {
  let b = Buffer.from(seed);
  const rounds = 1 + int(r, r() < 0.8 ? 4 : 32);
  for (let k = 0; k < rounds; k++) {
    const at = b.length ? int(r, b.length) : 0;
    switch (int(r, 11)) {
      case 0: // bit flip
        if (b.length) b[at] = b[at]! ^ (1 << int(r, 8));
        break;
      case 1: // interesting byte
        if (b.length) b[at] = pick(r, INTERESTING);
        break;
      case 2: // random byte
        if (b.length) b[at] = int(r, 256);
        break;
      case 3: // delete a run
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(r, 16))]);
        break;
      case 4: // insert random bytes
        b = Buffer.concat([b.subarray(0, at), randomBytes(r, 1 + int(r, 16)), b.subarray(at)]);
        break;
      case 5: // duplicate a run (repeated fields, segments)
        {
          const len = 1 + int(r, 64);
          const run = b.subarray(at, at + len);
          const times = 1 + int(r, r() < 0.9 ? 3 : 200);
          b = Buffer.concat([b.subarray(0, at), ...Array<Buffer>(times).fill(run), b.subarray(at)]);
        }
        break;
      case 6: // truncate
        b = b.subarray(0, at);
        break;
      case 7: // splice with another seed
        if (other?.length) b = Buffer.concat([b.subarray(0, at), other.subarray(int(r, other.length))]);
        break;
      case 8: // swap two bytes
        if (b.length > 1) {
          const j = int(r, b.length);
          const t = b[at]!;
          b[at] = b[j]!;
          b[j] = t;
        }
        break;
      case 9: // overwrite a 16/32-bit number with an edge value (lengths, counts)
        if (b.length >= at + 4) {
          const v = pick(r, [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0xffffffff]);
          if (r() < 0.5) b.writeUInt16BE(v & 0xffff, at);
          else b.writeUInt32BE(v >>> 0, at);
        }
        break;
      default: // ASCII digit / sign / separator edits (text protocols)
        if (b.length) b[at] = '0123456789-+.eE |^~\\&'.charCodeAt(int(r, 21));
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

/** Pure random bytes, sometimes long. */
export function randomInput(r: Rand, maxLen: number): Buffer {
  return randomBytes(r, int(r, r() < 0.9 ? 64 : maxLen));
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const EDGE_VALUES: Json[] = [
  null, true, false, 0, -1, 1, 0.5, -0.0, 1e308, -1e308, 2 ** 53, 65535, 65536, 4294967296, '', ' ', 'x', '0', '-1', 'null',
  '__proto__', 'constructor', 'toString', '${env}', '\u0000', '\uffff', '💥', 'a'.repeat(300), [], {}, [null], { '': null },
];

function randomJson(r: Rand, depth: number): Json {
  const k = int(r, depth > 2 ? 4 : 6);
  if (k === 0) return pick(r, EDGE_VALUES);
  if (k === 1) return r() * 2e6 - 1e6;
  if (k === 2) return int(r, 2 ** 31) * (r() < 0.5 ? -1 : 1);
  if (k === 3) return Buffer.from(randomBytes(r, int(r, 12))).toString('latin1');
  if (k === 4) return Array.from({ length: int(r, 4) }, () => randomJson(r, depth + 1));
  const o: Record<string, Json> = {};
  for (let i = int(r, 4); i > 0; i--) o[pick(r, ['name', 'type', 'id', 'options', 'port', 'path', 'enabled', 'x', '__proto__', 'constructor'])] = randomJson(r, depth + 1);
  return o;
}

/** Paths to every value in a JSON tree. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** Structure-aware mutations: replace, delete, duplicate, retype values somewhere in a deep copy of `seed`. */
export function mutateJson(r: Rand, seed: unknown): unknown {
  const root = { v: structuredClone(seed) as Json };
  const rounds = 1 + int(r, 4);
  for (let k = 0; k < rounds; k++) {
    const all = paths(root.v);
    const path = pick(r, all);
    if (path.length === 0) {
      if (r() < 0.05) root.v = randomJson(r, 0);
      continue;
    }
    let parent: Json = root.v;
    for (const p of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[p]!;
    const key = path[path.length - 1]!;
    const container = parent as Record<string | number, Json>;
    const cur = container[key]!;
    switch (int(r, 6)) {
      case 0:
        container[key] = randomJson(r, path.length);
        break;
      case 1:
        container[key] = pick(r, EDGE_VALUES);
        break;
      case 2:
        if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete container[key];
        break;
      case 3:
        if (Array.isArray(parent)) parent.push(structuredClone(cur));
        else container[`${String(key)}${int(r, 3)}`] = structuredClone(cur);
        break;
      case 4: // a number nudged across a limit, or a string where a number was
        container[key] = typeof cur === 'number' ? pick(r, [cur + 1, cur - 1, -cur, cur * 1000, String(cur), Number.NaN]) as Json : typeof cur === 'string' ? `${cur}${pick(r, ['x', ' ', '\n', '%', '0'])}` : cur;
        break;
      default:
        container[key] = Array.isArray(cur) ? [] : cur && typeof cur === 'object' ? null : [cur];
    }
  }
  return root.v;
}
