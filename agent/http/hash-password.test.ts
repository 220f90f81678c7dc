// The password-hash helper as an engineer runs it: password on stdin, hash on stdout.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../paths.js';
import { EXAMPLE_PASSWORD, parsePasswordHash, verifyPassword } from './passwords.js';

const TSX = pathToFileURL(join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
const run = (input: string, ...args: string[]) =>
  spawnSync(process.execPath, ['--import', TSX, join(PACKAGE_ROOT, 'agent', 'http', 'hash-password.ts'), ...args], { input, encoding: 'utf8' });

it('hashes a password from stdin into a hash the display accepts; refuses short ones and the examples\' one', async () => {
  const ok = run('a-good-ward-password\n');
  expect(ok.status).toBe(0);
  const parsed = parsePasswordHash(ok.stdout.trim());
  expect(parsed).not.toBeNull();
  expect(parsed).toMatchObject({ N: 16384, r: 8, p: 5 }); // OWASP's low-memory equivalent of N = 2^17, p = 1
  expect(await verifyPassword('a-good-ward-password', parsed!)).toBe(true);
  expect(run('short\n').status).toBe(2);
  const example = run(`${EXAMPLE_PASSWORD}\n`);
  expect(example.status).toBe(2);
  expect(example.stderr).toContain("examples' published password");
  expect(run('', '--help').stdout).toMatch(/^usage: /);
}, 30_000);

// At a terminal: the password is typed into a real pseudo-terminal (Python's pty module drives it), and what the
// terminal shows must not contain it. Python waits for the prompt before typing: typed earlier, the terminal
// would echo it before the helper turned echo off.
const PTY_DRIVER = `
import os, pty, sys, select, signal, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
# One deadline for the whole run: a helper that hangs is killed, and what it printed is still shown.
deadline = time.monotonic() + 40
def read_until(pred):
    global out
    while not pred(out):
        r, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
        if not r: break
        try: chunk = os.read(fd, 4096)
        except OSError: break
        if not chunk: break
        out += chunk
read_until(lambda o: b'password (not shown): ' in o)
os.write(fd, b'ward-pass' + bytes([0x7f]) + b'\\x1b[D\\x1bOHWord-42\\r')
read_until(lambda o: False)
if time.monotonic() >= deadline:
    os.kill(pid, signal.SIGKILL)
    out += b'\\n[killed at the deadline]'
os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
`;

it('at a terminal, asks without showing what is typed (backspace works, arrow keys are not typed) and prints the hash', async () => {
  const script = join(PACKAGE_ROOT, 'agent', 'http', 'hash-password.ts');
  const r = spawnSync('/usr/bin/python3', ['-c', PTY_DRIVER, process.execPath, '--import', TSX, script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('password (not shown): ');
  expect(r.stdout).not.toContain('ward-pas');
  expect(r.stdout).not.toContain('Word-42');
  const hash = r.stdout.split(/\r?\n/).map((l) => l.trim()).find((l) => parsePasswordHash(l) !== null);
  expect(hash).toBeDefined();
  // "ward-pass", one backspace, Left arrow, Home, "Word-42": the password is "ward-pasWord-42".
  expect(await verifyPassword('ward-pasWord-42', parsePasswordHash(hash!)!)).toBe(true);
}, 60_000);

