// The store's files are set to 0640 at open; a chmod that fails (a file owned by another user) is logged at start, with
// the file and the command to run, and does not stop the agent (review rv119 L3).
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Agent } from './agent.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  // As for a store file owned by another user: this process may not change its mode.
  const chmodSync: typeof fs.chmodSync = (path, mode) => {
    if (/agent\.db(-wal|-shm)?$/.test(String(path))) throw Object.assign(new Error(`EPERM: operation not permitted, chmod '${String(path)}'`), { code: 'EPERM' });
    fs.chmodSync(path, mode);
  };
  return { ...fs, chmodSync, default: { ...fs, chmodSync } };
});

describe('store file modes at start (review rv119 L3)', () => {
  it('a store file whose mode cannot be restricted is logged as a warning naming it, and the agent starts', async () => {
    const cap = captureLog('info');
    const dir = tempDir();
    const agent = new Agent({ config: testConfig(dir, { drivers: [] }), registry, log: cap.log });
    try {
      const warned = cap.lines.filter((l) => l.level === 40 && String(l.msg).startsWith('cannot make the store file'));
      expect(warned.map((l) => l.file)).toEqual([join(dir, 'agent.db'), join(dir, 'agent.db-wal'), join(dir, 'agent.db-shm')]);
      expect(warned[0]).toMatchObject({
        store: join(dir, 'agent.db'),
        code: 'EPERM',
        msg: `cannot make the store file ${join(dir, 'agent.db')} unreadable by other users (EPERM): it holds patient ids; run chmod 640 ${join(dir, 'agent.db')} as its owner`,
      });
    } finally {
      await agent.stop();
    }
  });
});
