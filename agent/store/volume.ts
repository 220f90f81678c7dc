// Is the store on an encrypted volume? The project's choice for data at rest is full-disk encryption of the
// gateway (LUKS / dm-crypt; see docs/security.md). This checks it from what Linux exposes: the mount that holds
// the store (/proc/self/mountinfo), its block device, and that device's device-mapper stack in sysfs, looking for
// a dm-crypt layer (dm uuid "CRYPT-…") anywhere below it (e.g. LVM on LUKS).
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type VolumeEncryption = { state: 'encrypted' | 'not-encrypted'; device: string } | { state: 'unknown'; why: string };

export interface VolumeRoots {
  mountinfo: string;
  sysDevBlock: string;
}
const LINUX: VolumeRoots = { mountinfo: '/proc/self/mountinfo', sysDevBlock: '/sys/dev/block' };

/** Unescapes mountinfo's octal escapes (\040 for a space, …). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** A mount as /proc/self/mountinfo lists it (proc(5)). */
export interface MountEntry {
  point: string;
  /** major:minor of the filesystem's device. */
  dev: string;
  source: string;
  /** Field 6: this mount's options (`ro` here alone: a read-only bind, a container's read-only root). */
  mountOptions: string[];
  /** The last field after the ' - ' separator: the filesystem's (super block's) options (`ro`: the filesystem itself). */
  superOptions: string[];
}

/** Parses /proc/self/mountinfo; a line without its ' - ' separator and three fields after it is skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    // Optional fields (shared:N, master:N) come between field 6 and the separator, so it is looked for.
    const sep = f.indexOf('-', 6);
    if (f.length < 6 || sep < 0 || f.length < sep + 4) continue;
    out.push({
      point: unescape(f[4]!),
      dev: f[2]!,
      source: unescape(f[sep + 2]!),
      mountOptions: f[5]!.split(','),
      superOptions: f[sep + 3]!.split(','),
    });
  }
  return out;
}

/**
 * The mount holding the real path `dir`: the longest mount point; of two on the same point, the one listed last:
 * mountinfo lists mounts in the order they were made, and the later one is on top (the one the store writes to; rv38
 * §8: a plain disk mounted over a LUKS one read as encrypted).
 */
export function mountHolding(dir: string, mounts: readonly MountEntry[]): MountEntry | null {
  let found: MountEntry | null = null;
  for (const m of mounts) {
    if (dir !== m.point && !dir.startsWith(m.point.endsWith('/') ? m.point : `${m.point}/`)) continue;
    if (!found || m.point.length >= found.point.length) found = m;
  }
  return found;
}

function cryptBelow(sysDevice: string, depth = 0): boolean {
  if (depth > 8) return false;
  const uuidFile = join(sysDevice, 'dm', 'uuid');
  if (existsSync(uuidFile) && readFileSync(uuidFile, 'utf8').startsWith('CRYPT-')) return true;
  const slaves = join(sysDevice, 'slaves');
  if (!existsSync(slaves)) return false;
  return readdirSync(slaves).some((s) => cryptBelow(realpathSync(join(slaves, s)), depth + 1));
}

/** The mount point holding the store's folder (or its nearest existing ancestor), or null when it cannot be told. */
export function storeMountPoint(storePath: string, roots: VolumeRoots = LINUX): string | null {
  const found = mountOf(storePath, roots);
  return 'mount' in found ? found.mount.point : null;
}

function mountOf(storePath: string, roots: VolumeRoots): { mount: MountEntry } | { why: string } {
  // A store file that is a link: SQLite writes the database (and its WAL) where the link points, so that volume counts.
  let target = storePath;
  try {
    target = realpathSync(storePath);
  } catch {
    // not there yet (first start): its folder decides
  }
  let dir: string | null = null;
  for (let d = dirname(target); dir === null; d = dirname(d)) {
    try {
      dir = realpathSync(d);
    } catch {
      if (dirname(d) === d) return { why: `cannot resolve ${dirname(storePath)}` };
    }
  }
  let mounts: MountEntry[];
  try {
    mounts = parseMountinfo(readFileSync(roots.mountinfo, 'utf8'));
  } catch {
    return { why: 'no mount information (not Linux?)' };
  }
  const mount = mountHolding(dir, mounts);
  return mount ? { mount } : { why: `no mount holds ${dir}` };
}

export function storeVolumeEncryption(storePath: string, roots: VolumeRoots = LINUX): VolumeEncryption {
  if (storePath === ':memory:') return { state: 'unknown', why: 'in-memory store' };
  // The store's folder may not exist yet (first start: the store creates it). It will be made on the volume of its
  // nearest existing ancestor, so that is the one checked (store.requireEncryptedVolume must not fail a first start).
  const found = mountOf(storePath, roots);
  if ('why' in found) return { state: 'unknown', why: found.why };
  const mount = found.mount;
  const sysDevice = join(roots.sysDevBlock, mount.dev);
  if (!existsSync(sysDevice)) return { state: 'unknown', why: `${mount.source} on ${mount.point} is not a block device (${mount.dev})` };
  const real = realpathSync(sysDevice);
  return { state: cryptBelow(real) ? 'encrypted' : 'not-encrypted', device: mount.source };
}
