// Shared set-up for the store tests: each store file in a temporary directory of its own, removed after each test.
// Not a *.test.ts file, so vitest does not collect it; tsconfig.build.json leaves test-support.ts out of dist.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/**
 * Call at a test file's top level: returns tempDb(), a path agent.db in a new directory under tmpdir named `prefix`…,
 * and registers an afterEach that removes every directory it made. Call it before the file's own afterEach: after-hooks
 * run last-registered first (vitest's default sequence.hooks 'stack'), so the file's steps (closing, restoring mocks)
 * run before the directories go.
 */
export function tempDbs(prefix: string): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return join(dir, 'agent.db');
  };
}
