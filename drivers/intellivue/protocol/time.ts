// Time types: AbsoluteTime is 8 BCD bytes (century, year, month, day, hour, minute, second,
// fractions — the monitor's local wall clock, 1 s resolution, no time zone); RelativeTime is a u32
// count of 1/8 ms ticks since an arbitrary point (power-on), wrapping at 2^32 (~6.2 days).
import { IntellivueParseError } from './errors.js';

export interface AbsoluteTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function bcd(b: number): number | null {
  const hi = b >> 4;
  const lo = b & 0x0f;
  return hi > 9 || lo > 9 ? null : hi * 10 + lo;
}

/** Decode 8 BCD bytes; null when the monitor sends the unspecified time (all 0xFF). */
export function decodeAbsoluteTime(b: Uint8Array, offset = 0): AbsoluteTime | null {
  if (b.length < offset + 8) throw new IntellivueParseError('AbsoluteTime', offset, 'time', `needs 8 bytes, ${b.length - offset} left`);
  const bytes = Array.from(b.subarray(offset, offset + 7));
  if (bytes.every((x) => x === 0xff)) return null;
  const [century, year, month, day, hour, minute, second] = bytes.map(bcd);
  const names = ['century', 'year', 'month', 'day', 'hour', 'minute', 'second'];
  const vals = [century, year, month, day, hour, minute, second];
  for (let i = 0; i < 7; i++) {
    if (vals[i] === null) throw new IntellivueParseError('AbsoluteTime', offset + i, names[i] as string, `not BCD: 0x${(bytes[i] as number).toString(16)}`);
  }
  const t = { year: (century as number) * 100 + (year as number), month: month as number, day: day as number, hour: hour as number, minute: minute as number, second: second as number };
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > 31 || t.hour > 23 || t.minute > 59 || t.second > 60) {
    throw new IntellivueParseError('AbsoluteTime', offset, 'time', `out of range: ${JSON.stringify(t)}`);
  }
  return t;
}

function toBcd(n: number): number {
  return ((Math.floor(n / 10) % 10) << 4) | n % 10;
}

export function encodeAbsoluteTime(t: AbsoluteTime): Buffer {
  return Buffer.from([toBcd(Math.floor(t.year / 100)), toBcd(t.year % 100), toBcd(t.month), toBcd(t.day), toBcd(t.hour), toBcd(t.minute), toBcd(t.second), 0x00]);
}

/**
 * Wall-clock fields → ms since epoch. The monitor's clock has no zone: `utcOffsetMinutes` says how
 * far its local time is ahead of UTC (null = use the gateway's own zone at that date).
 */
export function absoluteTimeToEpoch(t: AbsoluteTime, utcOffsetMinutes: number | null): number {
  if (utcOffsetMinutes === null) return new Date(t.year, t.month - 1, t.day, t.hour, t.minute, t.second).getTime();
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second) - utcOffsetMinutes * 60000;
}

/**
 * Every instant whose wall clock reads `t` in the zone: one as a rule; in the gateway zone two, an hour apart, in the
 * hour repeated when daylight saving ends (earliest first). In the hour skipped when it begins there is none: then the
 * one absoluteTimeToEpoch gives.
 */
export function absoluteTimeEpochs(t: AbsoluteTime, utcOffsetMinutes: number | null): number[] {
  const first = absoluteTimeToEpoch(t, utcOffsetMinutes);
  if (utcOffsetMinutes !== null) return [first];
  const wall = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
  const zoneMs = (at: number) => -new Date(at).getTimezoneOffset() * 60_000;
  const out = new Set<number>();
  // The zone's offsets a day before and after cover both sides of a change; an instant fits when its own offset is the one tried.
  for (const probe of [wall - 86_400_000, wall, wall + 86_400_000]) {
    const epoch = wall - zoneMs(probe);
    if (zoneMs(epoch) === wall - epoch) out.add(epoch);
  }
  return out.size ? [...out].sort((a, b) => a - b) : [first];
}

/** Wall-clock fields of an epoch time, in the given zone (null = the gateway's own zone). */
export function epochToAbsoluteTime(ms: number, utcOffsetMinutes: number | null): AbsoluteTime {
  if (utcOffsetMinutes === null) {
    const d = new Date(ms);
    return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), second: d.getSeconds() };
  }
  const d = new Date(ms + utcOffsetMinutes * 60000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
}

/** Ticks from `from` to `to`, allowing for one u32 wrap-around. */
export function relativeDeltaTicks(from: number, to: number): number {
  return ((to - from) >>> 0) > 0x7fffffff ? -(((from - to) >>> 0)) : (to - from) >>> 0;
}
