// The store's filesystem went read-only (Linux's answer to a disk error with errors=remount-ro; here a tmpfs remounted
// read-only after a clean stop) and IoT Edge restarts the agent: a failing disk, not a configuration error (review
// rv133 H2). The agent starts on the store in memory that takes no data (display, bedside alarms, HL7 told to resend),
// with a high gateway alarm naming the read-only disk; --check still reports the folder it cannot write. Needs root.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { GATEWAY_BED } from '../../agent/alarms/types.js';
import { Outbox } from '../../agent/store/outbox.js';
import { registry } from '../../drivers/registry.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';
import { captureLog } from '../support/log.js';
import { startAgentProcess, tempDir, writeConfig } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { mountTmpfs } from '../support/tmpfs.js';
import { MllpClient, freePort } from '../support/mllp-client.js';

const isRoot = process.getuid?.() === 0;
let agent: Agent | null = null;
const dirs: string[] = [];
const mounts: string[] = [];
afterEach(async () => {
  await agent?.stop().catch(() => undefined);
  agent = null;
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m]);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A store of one record on a tmpfs, closed as at a clean stop, then the tmpfs remounted read-only. */
function readOnlyStore(): { dir: string; storePath: string } {
  const dir = tempDir('ro-start-');
  dirs.push(dir);
  const mnt = mountTmpfs(dir, '32m');
  mounts.push(mnt);
  const storePath = join(mnt, 'agent.db');
  const box = Outbox.open(storePath).outbox;
  box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"a":1}' }]);
  box.close();
  execFileSync('mount', ['-o', 'remount,ro', mnt]);
  return { dir, storePath };
}

describe.skipIf(!isRoot)('a store disk gone read-only at start (needs root: mounts a tmpfs)', () => {
  it('the agent starts on the store in memory that takes no data, with a high gateway alarm naming the read-only disk; HL7 is refused; counted', async () => {
    const { dir, storePath } = readOnlyStore();
    const port = await freePort();
    const cap = captureLog('info');
    const config = testConfig(dir, {
      store: { path: storePath },
      display: { enabled: true, port: 0 },
      drivers: [
        { name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } },
        { name: 'mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } },
      ],
    });
    agent = new Agent({ config, registry, log: cap.log, transport: null });
    await agent.start();
    expect(agent.outbox.path).toBe(':memory:');
    const healthz = await fetch(`${agent.display!.address().url}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toMatchObject({ status: 'degraded' });

    expect(cap.find(/^the store's disk is read-only/)).toMatchObject({ level: 50, store: storePath, code: expect.stringMatching(/^SQLITE_(CANTOPEN|READONLY)/) });
    expect(agent.metrics.get('store_open_in_memory_total', { reason: 'read-only' })).toBe(1);
    expect(agent.metrics.get('store_open_in_memory_total', { reason: 'disk-error' })).toBe(0);
    const alarm = agent.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:store-in-memory' && a.state !== 'resolved');
    expect(alarm).toMatchObject({
      priority: 'high',
      condition: { text: expect.stringMatching(/^Gateway store disk is read-only \(filesystem error\?, SQLITE_\w+\): running on a store in memory that takes no data.*Check the disk and restart the agent$/) },
    });
    expect(alarm!.condition.text).not.toMatch(/permission|writable|free disk space/i);

    const client = await MllpClient.connect(port);
    const bed = initialBeds(1, rng(7))[0]!;
    const ack = await client.send(pcd01Message(bed, 'RO-1', Date.now(), { waveform: false }));
    client.close();
    // Refused (as the failing-disk start is): the sender keeps its copy.
    expect(['AR', 'CE']).toContain(ack.code);
  }, 60_000);

  it('main.ts starts (/healthz 200 degraded) where it used to exit 2 naming permissions; --check still reports the read-only folder', async () => {
    const { dir, storePath } = readOnlyStore();
    const port = await freePort();
    const config = writeConfig(dir, {
      gateway: { id: 'ro-probe' },
      store: { path: storePath },
      hub: { mode: 'off' },
      display: { enabled: true, port, host: '127.0.0.1' },
      drivers: [{ name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } }],
    });
    const check = startAgentProcess(['--check', '--config', config]);
    expect((await check.exited).code).toBe(2);
    expect(check.stderr()).toMatch(/store\.path: cannot write the store folder .* \(EROFS\)/);

    const p = startAgentProcess(['--config', config]);
    try {
      await p.waitForLog(/^the store's disk is read-only/, 30_000);
      let status = 0;
      let body: { status?: string } = {};
      // Bounded: 150 tries, 200 ms apart while the display is not up yet.
      for (let i = 0; i < 150 && status !== 200; i++) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/healthz`);
          status = r.status;
          body = (await r.json()) as { status?: string };
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect(status).toBe(200);
      expect(body.status).toBe('degraded');
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  }, 90_000);
});
