// The model's worker thread at a stop: terminating a worker while onnxruntime creates its session aborts the whole
// process (a C++ Napi::Error nothing catches: exit 134), so the scenario runs in a child process
// (worker-stop.script.ts) and its exit is what is checked.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../paths.js';

const TSX = pathToFileURL(join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;

it('time-outs and a stop while a fresh worker is still starting: the process lives on and exits normally', async () => {
  const child = spawn(process.execPath, ['--import', TSX, join(PACKAGE_ROOT, 'agent', 'inference', 'worker-stop.script.ts')], { cwd: PACKAGE_ROOT });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
  expect({ code, signal, out }).toMatchObject({ code: 0, signal: null, out: expect.stringContaining('worker-stop done') });
}, 90_000);
