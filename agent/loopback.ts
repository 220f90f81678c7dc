// Whether a configured listening address is this machine's loopback: one rule for the display's checks
// (agent/config/check.ts) and a driver's listener (drivers/hl7: the MLLP exposure warning).
import { BlockList, isIP } from 'node:net';

/** Loopback addresses: inside a container, the container's own, which no published port reaches. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6'); // IPv4-mapped (`::ffff:7f00:1`)

/**
 * Whether a listening host (display.host, an MLLP listener's host) is this machine's loopback, judged on the parsed address, not its spelling: Node binds
 * `0:0:0:0:0:0:0:1`, `::0:1` or `::ffff:7f00:1` to loopback as it does `::1` (review rv106 L1). A name is read as
 * the resolver reads it: `127.1` is 127.0.0.1, and `LOCALHOST.` is localhost.
 */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (!isIP(h)) {
    try {
      h = new URL(`http://${h}`).hostname.replace(/\.$/, ''); // IPv4 shorthands (127.1) become dotted quads
    } catch {
      return false;
    }
    if (h === 'localhost') return true;
  }
  const family = isIP(h);
  if (!family) return false;
  try {
    return LOOPBACK.check(h, family === 6 ? 'ipv6' : 'ipv4');
  } catch {
    return false; // with a zone id (fe80::1%eth0): link-local, not loopback
  }
}
