// The stand-in as a program (run.ts): prints a config an agent can connect with, lists what arrives, stops on SIGTERM.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { connect } from 'node:tls';
import { readFileSync } from 'node:fs';

it('prints a device connection string and the CA, answers TLS on the printed port, and stops on SIGTERM', async () => {
  const tsx = pathToFileURL(join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
  const child = spawn(process.execPath, ['--import', tsx, join(PACKAGE_ROOT, 'test', 'hub-standin', 'run.ts'), '--device', 'bench-gw'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const end = Date.now() + 20_000;
  while (!out.includes('Messages as they arrive') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  const cs = /connectionString: "([^"]+)"/.exec(out)?.[1] ?? '';
  expect(cs).toMatch(/^HostName=[^;]+;DeviceId=bench-gw;SharedAccessKey=[^;]+;GatewayHostName=localhost:\d+$/);
  const ca = /caFile: (\S+)/.exec(out)![1]!;
  const port = Number(/localhost:(\d+)/.exec(cs)![1]);
  // A TLS handshake against the printed CA succeeds: the config works as printed.
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'localhost' }, () => (s.end(), resolve()));
    s.on('error', reject);
  });
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
}, 30_000);
