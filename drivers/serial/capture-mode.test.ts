// A capture holds every byte from the device, patient data included: other local users get no access to it, as to the
// store's files. A new file was made 0644 (world-readable) by the default mode. A file of another user, or a symbolic
// link, is not written to (as root the agent could change any file's mode, and that user would read what was captured).
import { chmodSync, chownSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureWriter } from './capture.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'capture-mode-'));
const mode = (file: string) => statSync(file).mode & 0o777;

describe('capture file mode', () => {
  it('a new capture file gives other users no access', async () => {
    const file = join(tmp(), 'c.jsonl');
    const w = new CaptureWriter(file, 'mem');
    w.open();
    w.record('rx', Buffer.from('PID|||123'));
    await w.close();
    expect(mode(file) & 0o007).toBe(0);
    expect(mode(file) & 0o600).toBe(0o600); // the agent can still write and read it
  });

  it('a file an earlier run left world-readable is limited before anything is added', async () => {
    const file = join(tmp(), 'c.jsonl');
    writeFileSync(file, '{"capture":"serial","v":1}\n');
    chmodSync(file, 0o664);
    const w = new CaptureWriter(file, 'mem');
    w.open();
    w.record('rx', Buffer.from([1, 2, 3]));
    await w.close();
    expect(mode(file)).toBe(0o640);
    expect(w.error).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toContain('"hex":"010203"');
  });

  it('one whose mode cannot be changed (another user\'s) is not written to, and the failure is told with the file and why', async () => {
    const file = join(tmp(), 'c.jsonl');
    writeFileSync(file, 'before\n');
    chmodSync(file, 0o644);
    const failures: Error[] = [];
    const w = new CaptureWriter(file, 'mem', Date.now, undefined, () => {
      throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });
    });
    w.open((err) => failures.push(err));
    w.record('rx', Buffer.from([1, 2, 3]));
    await w.close();
    expect(readFileSync(file, 'utf8')).toBe('before\n');
    expect(w.active).toBe(false);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toContain(file);
    expect(failures[0]!.message).toContain('EPERM');
    expect(w.error).toBe(failures[0]);
  });

  const root = process.getuid?.() === 0;
  // Only root can give a file to another user; CI and the gateway's tests run as root (the module itself does not).
  it.skipIf(!root)('a file of another user is not written to, nor its mode changed, even by an agent running as root', async () => {
    const file = join(tmp(), 'c.jsonl');
    writeFileSync(file, 'theirs\n');
    chmodSync(file, 0o644);
    chownSync(file, 65534, 65534); // nobody
    const failures: Error[] = [];
    const w = new CaptureWriter(file, 'mem');
    w.open((err) => failures.push(err));
    w.record('rx', Buffer.from([1, 2, 3]));
    await w.close();
    expect(readFileSync(file, 'utf8')).toBe('theirs\n');
    expect(mode(file)).toBe(0o644);
    expect(failures.map((e) => e.message)).toEqual([expect.stringMatching(/belongs to another user \(uid 65534; the agent runs as uid 0\): not written to/)]);
  });

  it('a symbolic link is not followed: its target is left as it was', async () => {
    const dir = tmp();
    const target = join(dir, 'agent.yaml');
    writeFileSync(target, 'hub: { mode: off }\n');
    chmodSync(target, 0o644);
    const link = join(dir, 'c.jsonl');
    symlinkSync(target, link);
    const failures: Error[] = [];
    const w = new CaptureWriter(link, 'mem');
    w.open((err) => failures.push(err));
    w.record('rx', Buffer.from([1, 2, 3]));
    await w.close();
    expect(readFileSync(target, 'utf8')).toBe('hub: { mode: off }\n');
    expect(mode(target)).toBe(0o644);
    expect(failures.map((e) => e.message)).toEqual([expect.stringMatching(/is a symbolic link: not written to/)]);
  });
});
