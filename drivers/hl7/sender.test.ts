// The sender CLI against the real driver on loopback.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverEvent } from '../../agent/model/reading.js';
import { createHl7MllpDriver, type Hl7MllpDriver } from './index.js';

const ROOT = join(import.meta.dirname, '../..');
const CORPUS = join(ROOT, '../shared/corpus/hl7');

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'drivers/hl7/sender.ts', ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

let driver: Hl7MllpDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

async function start(reject = false): Promise<{ port: number; emitted: DriverEvent[] }> {
  const emitted: DriverEvent[] = [];
  driver = createHl7MllpDriver(
    // A refusal the CLI can see: AR (the default, closing without an ACK, shows as a connection error, exit 2).
    { host: '127.0.0.1', port: 0, storeFailureAck: 'AR' },
    {
      name: 'sim',
      log: pino({ level: 'silent' }),
      emit: async (ev) => {
        if (reject) throw new Error('disk full');
        emitted.push(...ev);
      },
      count: () => {},
    },
  );
  await driver.start();
  return { port: driver.address()!.port, emitted };
}

describe('sender CLI', () => {
  it('streams N beds, all commit-ACKed, exit 0', async () => {
    const { port, emitted } = await start();
    const r = await run(['--port', String(port), '--beds', '3', '--rounds', '2', '--interval', '10', '--quiet']);
    expect(r.out).toContain('sent 6, accepted 6, rejected 0');
    expect(r.code).toBe(0);
    expect(emitted.filter((e) => e.kind === 'waveform')).toHaveLength(6);
    expect(new Set(emitted.map((e) => (e.kind === 'numeric' ? e.bed : '')).filter(Boolean))).toEqual(new Set(['ICU/101/1', 'ICU/102/1', 'ICU/103/1']));
  }, 60_000);

  it('exits 1 when the receiver NAKs', async () => {
    const { port } = await start(true);
    const r = await run(['--port', String(port), '--beds', '1', '--quiet']);
    expect(r.out).toContain('rejected 1');
    expect(r.code).toBe(1);
  }, 60_000);

  it.skipIf(!existsSync(CORPUS))('replays the corpus folder and reports each ACK', async () => {
    const { port, emitted } = await start();
    const r = await run(['--port', String(port), '--replay', CORPUS]);
    expect(r.err, 'sender stderr').toBe('');
    expect(r.out).toMatch(/ihe-pcd-tf_1\.hl7: CA/);
    expect(r.out).toMatch(/ipf_8\.hl7: AE .*MSH-10/); // MSH-10 missing: header unreadable → original-mode AE
    expect(r.out).toMatch(/hl7-standard_1\.hl7: AR/); // ADT is not taken
    expect(r.code).toBe(1);
    expect(emitted.some((e) => e.kind === 'alarm')).toBe(true);
  }, 60_000);
});
