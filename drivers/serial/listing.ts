// Device listing that works without udevadm (minimal containers, IoT Edge images): the kernel's own
// /dev/serial/by-id symlinks plus serialport's list() (sysfs on Linux), merged by the real device path.
import { readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialPort } from 'serialport';

export interface SerialDeviceInfo {
  /** The real device node, e.g. /dev/ttyUSB0. */
  path: string;
  /** Stable names pointing at it (from /dev/serial/by-id), best for config. */
  byId: string[];
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
}

export interface ListingSources {
  byIdDir?: string;
  /** serialport's list(); injectable so tests and odd platforms can replace it. */
  list?: () => Promise<Array<{ path: string; manufacturer?: string; serialNumber?: string; vendorId?: string; productId?: string }>>;
}

/** Symlinks in a by-id style directory, resolved: [link path, real path]. Missing directory → []. */
export async function readByIdLinks(dir: string): Promise<Array<[string, string]>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: Array<[string, string]> = [];
  for (const name of names.sort()) {
    const link = join(dir, name);
    try {
      out.push([link, await realpath(link)]);
    } catch {
      // A dangling link (device just unplugged) is not a device.
    }
  }
  return out;
}

export async function listSerialDevices(sources: ListingSources = {}): Promise<SerialDeviceInfo[]> {
  const byIdDir = sources.byIdDir ?? '/dev/serial/by-id';
  const list = sources.list ?? (() => SerialPort.list());
  const byPath = new Map<string, SerialDeviceInfo>();
  let listed: Awaited<ReturnType<NonNullable<ListingSources['list']>>> = [];
  try {
    listed = await list();
  } catch {
    // list() can fail where sysfs is restricted; the by-id links still work.
  }
  for (const p of listed) {
    const info: SerialDeviceInfo = { path: p.path, byId: [] };
    if (p.manufacturer) info.manufacturer = p.manufacturer;
    if (p.serialNumber) info.serialNumber = p.serialNumber;
    if (p.vendorId) info.vendorId = p.vendorId;
    if (p.productId) info.productId = p.productId;
    byPath.set(p.path, info);
  }
  for (const [link, real] of await readByIdLinks(byIdDir)) {
    const info = byPath.get(real) ?? { path: real, byId: [] };
    info.byId.push(link);
    byPath.set(real, info);
  }
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}
