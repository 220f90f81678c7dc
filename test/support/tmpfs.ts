// A small real filesystem for disk-full tests: a tmpfs of a given size (needs root, as on CI and the dev machines),
// filled up on demand; and a bounded wait for a condition (a bound, not a timing assertion).
import { execFileSync } from 'node:child_process';
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Mounts a tmpfs of `size` (e.g. '8m') at <dir>/mnt and returns its path; unmount it with unmountTmpfs. */
export function mountTmpfs(dir: string, size: string): string {
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]);
  } catch (err) {
    throw new Error(`this test mounts a small tmpfs and needs root: ${(err as Error).message}`);
  }
  return mnt;
}

export function unmountTmpfs(mnt: string): void {
  execFileSync('umount', [mnt]);
}

export const freeBytes = (path: string) => statfsSync(path).bavail * statfsSync(path).bsize;

/** Fills the filesystem at `mnt` up to a few KB with the file `name`; returns its path (remove it to free the space). */
export function fillDisk(mnt: string, name = 'filler'): string {
  const path = join(mnt, name);
  try {
    writeFileSync(path, Buffer.alloc(Math.max(0, freeBytes(mnt) - 4096)));
  } catch {
    // ENOSPC while writing the filler: the disk is full either way.
  }
  return path;
}

export async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
