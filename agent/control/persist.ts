// The last desired overlay that was applied, kept beside the store so that a restart without the hub
// (power cut during an outage) comes back with the configuration the hub last gave, not only the local file.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isObject, type JsonObject } from './overlay.js';

export const OVERLAY_FILE = 'desired-overlay.json';

export interface PersistedOverlay {
  overlay: JsonObject;
  desiredVersion: number;
  appliedAt: string;
}

/** Where the overlay is kept for a store at `storePath`; null for an in-memory store. */
export function overlayPath(storePath: string): string | null {
  return storePath === ':memory:' ? null : join(dirname(storePath), OVERLAY_FILE);
}

/** Reads the persisted overlay; null if there is none. Throws with the reason if the file is unreadable. */
export function loadOverlay(path: string): PersistedOverlay | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const data: unknown = JSON.parse(text);
  if (!isObject(data) || !isObject(data.overlay) || typeof data.desiredVersion !== 'number' || typeof data.appliedAt !== 'string') {
    throw new Error(`${path}: not a saved desired overlay`);
  }
  return { overlay: data.overlay, desiredVersion: data.desiredVersion, appliedAt: data.appliedAt };
}

/** Writes atomically (temp file, fsync, rename): a power cut leaves the old file or the new one, never half. */
export function saveOverlay(path: string, value: PersistedOverlay): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename itself is durable only once the folder is written.
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * A start with the saved overlay leaves this file until it completes. Found at the next start, it says that start
 * did not complete (a display port now taken, a file gone): the overlay is set aside then, so that the agent starts
 * on the local file and can reach the hub, instead of failing the same way at every restart.
 */
export function startingMarkerPath(path: string): string {
  return `${path}.starting`;
}

/** Where a saved overlay is moved when a start with it did not complete (kept for a person to look at). */
export function setAsidePath(path: string): string {
  return path.replace(/\.json$/, '') + '.failed.json';
}

export function removeOverlay(path: string): void {
  rmSync(path, { force: true });
}
