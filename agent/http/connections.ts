// Which client addresses the per-address limits count as one. An IPv6 host may use any address of its /64 (privacy
// addresses change by the day), so a limit against one guesser counts a /64 as one (addressKey, review rv132 M2). But
// a ward's IPv6 LAN is one /64 shared by every screen and PC on it, so the caps on connections and live streams count
// each full address (hostKey, review rv135 H2): one host rotating its address can take more slots, and the
// gateway-wide caps still bound it, which is a smaller harm than refusing the ward's real screens. An IPv4-mapped
// address (a dual-stack socket) is its IPv4 address in both. The logs keep the full address.
import { isIP } from 'node:net';

/** The key of `address` for the connection and live-stream caps: one per host, IPv6 written in full (`2001:db8:0:0:0:0:0:1`). */
export function hostKey(address: string): string {
  const v6 = ipv6(address);
  // The zone stays: fe80::1 on two links is two hosts.
  return typeof v6 === 'string' ? v6 : `${v6.groups.map((h) => h.toString(16)).join(':')}${v6.zone}`;
}

/** The key of `address` for limits against one guesser: IPv4 as it is, IPv6 as its /64 (`2001:db8:0:1::/64`). */
export function addressKey(address: string): string {
  const v6 = ipv6(address);
  return typeof v6 === 'string' ? v6 : `${v6.groups.slice(0, 4).map((h) => h.toString(16)).join(':')}::/64`;
}

/**
 * An IPv6 address's eight groups and its zone (`%eth0`, or ''); anything else as its key: an IPv4-mapped address as its
 * IPv4 address, other addresses as they are.
 */
function ipv6(address: string): { groups: number[]; zone: string } | string {
  const at = address.indexOf('%');
  const bare = (at >= 0 ? address.slice(0, at) : address).toLowerCase();
  if (isIP(bare) !== 6) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return mapped[1]!;
  return { groups: hextets(bare), zone: at >= 0 ? address.slice(at) : '' };
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
