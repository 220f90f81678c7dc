// The shared store-test helper removes what it made, and only after the test file's own after-steps (which may still
// need the files: closing a store, reading what it left).
import { existsSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDbs } from './test-support.js';

const tempDb = tempDbs('test-support-');
const made: string[] = [];
const seenByOwnAfterEach: boolean[] = [];
afterEach(() => {
  // Registered after tempDbs: runs before its clean-up, so the directory is still there.
  for (const p of made) seenByOwnAfterEach.push(existsSync(dirname(p)));
});

describe('tempDbs', () => {
  it('gives agent.db in a new directory of its own under the prefix, each call another', () => {
    const a = tempDb();
    const b = tempDb();
    made.push(a, b);
    expect(a).toMatch(/[\\/]test-support-[^\\/]+[\\/]agent\.db$/);
    expect(dirname(a)).not.toBe(dirname(b));
    expect(existsSync(dirname(a))).toBe(true);
    writeFileSync(a, 'x');
    writeFileSync(`${a}-wal`, 'x');
  });

  it('removed those directories, with their files, after the test, once the file\'s own afterEach had run', () => {
    expect(made).toHaveLength(2);
    for (const p of made) expect(existsSync(dirname(p))).toBe(false);
    expect(seenByOwnAfterEach).toEqual([true, true]);
  });
});
