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
  expect(await verifyPassword('a-good-ward-password', parsed!)).toBe(true);
  expect(run('short\n').status).toBe(2);
  const example = run(`${EXAMPLE_PASSWORD}\n`);
  expect(example.status).toBe(2);
  expect(example.stderr).toContain("examples' published password");
  expect(run('', '--help').stdout).toMatch(/^usage: /);
}, 30_000);
