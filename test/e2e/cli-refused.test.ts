// The agent's CLI for the messages the hub refused (`--refused`), run as a real process against a store with one set
// aside: what the README gives the engineer in place of the sqlite3 command line (no sqlite3 in the module's image).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../agent/store/outbox.js';
import { startAgentProcess, tempDir, writeConfig } from '../support/agent-process.js';

const wrap = (id: string, _s: string, entries: string[]) => JSON.stringify({ messageId: id }).slice(0, -1) + `,"records":[${entries.join(',')}]}`;

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = startAgentProcess(args, { env });
  let out = '';
  p.child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  // 'close', not only 'exit': stdout and stderr read to their end.
  const closed = new Promise((resolve) => p.child.on('close', resolve));
  const { code } = await p.exited;
  await closed;
  return { code, out, err: p.stderr() };
}

/** A store with one alarms message set aside (2 records) and one telemetry message queued behind it. */
function storeWithRefused() {
  const dir = tempDir();
  const storePath = join(dir, 'st', 'agent.db');
  const config = writeConfig(dir, { store: { path: storePath } });
  const box = new Outbox(storePath);
  box.append([{ stream: 'alarms', cls: 0, deviceId: 'mon1', body: '{"a":1}' }, { stream: 'alarms', cls: 0, deviceId: 'mon1', body: '{"a":2}' }]);
  const refused = box.pack('alarms', 4096, wrap)!;
  box.setAside(refused.id, 'MessageTooLargeError: Message size is greater than 256KiB', Date.UTC(2026, 0, 2, 3, 4, 5));
  box.append([{ stream: 'telemetry', cls: 1, deviceId: 'mon1', body: '{"t":1}' }]);
  const queued = box.pack('telemetry', 4096, wrap)!;
  box.close();
  return { dir, storePath, config, refused, queued };
}

describe('bedside-agent --refused', () => {
  it('list shows a message set aside, also while the agent holds the store; requeue is refused then (exit 1), and puts it back once stopped', async () => {
    const { storePath, config, refused, queued } = storeWithRefused();
    // Another process holding the store, as the running agent does (its lock).
    const agent = new Outbox(storePath);
    try {
      const list = await run(['--config', config, '--refused', 'list']);
      expect(list.code).toBe(0);
      expect(list.out).toContain(refused.id);
      expect(list.out).toMatch(new RegExp(`${refused.id.replace(/\./g, '\\.')}\\s+alarms\\s+2\\s+1\\s+2026-01-02T03:04:05Z\\s+MessageTooLargeError: Message size is greater than 256KiB`));
      const held = await run(['--config', config, '--refused', 'requeue']);
      expect(held.code).toBe(1);
      expect(held.err).toMatch(/the agent is running on this store|in use by another agent/);
      expect(held.err).toContain('stop the agent first');
      expect(held.err).toContain('nothing was changed');
      expect(agent.refusedList().map((r) => r.id)).toEqual([refused.id]);
    } finally {
      agent.close();
    }
    // Stopped: back into the queue with the same id and body, first as before; the set-aside table is empty.
    const requeue = await run(['--refused', 'requeue', refused.id], { AGENT_CONFIG: config });
    expect(requeue.err).toBe('');
    expect(requeue.code).toBe(0);
    expect(requeue.out).toMatch(/^1 message \(2 records\) put back into the queue/);
    const box = new Outbox(storePath);
    try {
      expect(box.refusedList()).toEqual([]);
      expect(box.nextMessage()).toMatchObject({ id: refused.id, body: refused.body, attempts: 0 });
      expect(box.nextMessage([refused.id])?.id).toBe(queued.id);
    } finally {
      box.close();
    }
    const none = await run(['--config', config, '--refused', 'list']);
    expect(none.code).toBe(0);
    expect(none.out).toMatch(/^none: no message is set aside/);
  }, 60_000);

  it('export ID writes the body to stdout; drop ID|all gives them up, saying how many; unknown ids and bad usage are refused', async () => {
    const { config, refused, dir } = storeWithRefused();
    const exported = await run(['-c', config, '--refused', 'export', refused.id]);
    expect(exported.code).toBe(0);
    expect(exported.out).toBe(refused.body);
    const unknown = await run(['-c', config, '--refused', 'export', 'no-such-id']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no message no-such-id is set aside/);
    for (const bad of [['--refused', 'drop'], ['--refused', 'sendall'], ['stray']]) {
      const r = await run(['-c', config, ...bad]);
      expect(r.code, bad.join(' ')).toBe(2);
      expect(r.err, bad.join(' ')).toContain('Usage: bedside-agent');
    }
    const dropped = await run(['-c', config, '--refused', 'drop', 'all']);
    expect(dropped.code).toBe(0);
    expect(dropped.out).toMatch(/^1 message \(2 records\) given up/);
    expect((await run(['-c', config, '--refused', 'drop', refused.id])).code).toBe(1);
    // A store that never set one aside (no table `refused`): none, and nothing created in it.
    new Outbox(join(dir, 'fresh.db')).close();
    const fresh = writeConfig(dir, { store: { path: join(dir, 'fresh.db') } }, 'fresh.json');
    const none = await run(['-c', fresh, '--refused', 'list']);
    expect(none.code).toBe(0);
    expect(none.out).toMatch(/^none: no message is set aside as refused by the hub in .*fresh\.db\n$/);
    // A config whose store does not exist (the wrong -c?): said, not "none", and not created.
    const missing = await run(['-c', writeConfig(dir, { store: { path: join(dir, 'missing.db') } }, 'missing.json'), '--refused', 'list']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no store at .*missing\.db/);
    expect(existsSync(join(dir, 'missing.db'))).toBe(false);
  }, 60_000);
});
