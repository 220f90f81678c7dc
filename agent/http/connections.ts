// Which client addresses the per-address caps (connections, live streams) count as one. An IPv6 host is normally
// given a whole /64 and may use any address in it (privacy addresses change by the day), so one machine keyed by its
// full address could take every per-address slot by itself (review rv132 M2): IPv6 is counted by its /64. An
// IPv4-mapped address (a dual-stack socket) is its IPv4 address. The logs keep the full address.
import { isIP } from 'node:net';

/** The key of `address` for the per-address caps: IPv4 as it is, IPv6 as its /64 (`2001:db8:0:1::/64`). */
export function addressKey(address: string): string {
  const zone = address.indexOf('%');
  const bare = (zone >= 0 ? address.slice(0, zone) : address).toLowerCase();
  if (isIP(bare) !== 6) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return mapped[1]!;
  return `${hextets(bare).slice(0, 4).map((h) => h.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (isIP checked it: one `::` at most). */
function hextets(address: string): number[] {
  let a = address;
  // A trailing dotted IPv4 part (64:ff9b::192.0.2.1) is the last two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head = '', tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - h.length - t.length }, () => '0');
  return [...h, ...zeros, ...t].map((g) => parseInt(g, 16));
}
