// Kill -9 mid-stream and restart: nothing that was accepted (committed to the store) is lost, and the only
// duplicates at the hub are resends with the same message id.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startHubStandin, type HubStandin, type ReceivedMessage } from '../hub-standin/index.js';
import { startAgentProcess, tempDir, writeConfig, type AgentProcess } from '../support/agent-process.js';
import { STANDIN_CA_FILE } from '../support/agent-config.js';
import { recordJson } from '../../agent/store/samples.js';

const KEY = Buffer.from('crash-test-key-0123456789abcdef!').toString('base64');

interface WireRecord {
  type: string;
  deviceId: string;
  code: number | null;
  receivedAt: string;
}
const keyOf = (r: WireRecord) => `${r.deviceId}|${r.code}|${r.receivedAt}|${r.type}`;

/** What the store holds after a crash: everything accepted and not yet acknowledged by the hub. */
function acceptedInStore(path: string): Set<string> {
  const db = new Database(path, { readonly: true });
  try {
    const out = new Set<string>();
    // A row holds one record or several joined by commas.
    for (const { body, samples } of db.prepare<[], { body: string; samples: Buffer | null }>('SELECT body, samples FROM outbox').all()) {
      for (const r of JSON.parse(`[${recordJson(body, samples)}]`) as WireRecord[]) out.add(keyOf(r));
    }
    for (const { body } of db.prepare<[], { body: string }>('SELECT body FROM messages').all()) {
      for (const r of (JSON.parse(body) as { records: WireRecord[] }).records) out.add(keyOf(r));
    }
    return out;
  } finally {
    db.close();
  }
}

function hubKeys(messages: readonly ReceivedMessage[]): Set<string> {
  const out = new Set<string>();
  for (const m of messages) for (const r of (JSON.parse(m.body.toString('utf8')) as { records: WireRecord[] }).records) out.add(keyOf(r));
  return out;
}

let hub: HubStandin | null = null;
let procs: AgentProcess[] = [];
afterEach(async () => {
  for (const p of procs) p.child.kill('SIGKILL');
  procs = [];
  await hub?.stop();
  hub = null;
});

describe('crash safety', () => {
  it('after SIGKILL mid-stream, a restart delivers everything that had been accepted', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const dir = tempDir();
    const storePath = join(dir, 'agent.db');
    const config = writeConfig(dir, {
      gateway: { id: 'crash-gw' },
      log: { level: 'info', pretty: 'never' },
      store: { path: storePath, synchronous: 'full' },
      hub: {
        mode: 'device',
        connectionString: { env: 'TEST_HUB_CS' },
        caFile: STANDIN_CA_FILE,
        batchDelayMs: 150,
        maxMessageBytes: 8192,
        retry: { initialDelayMs: 100, maxDelayMs: 500 },
      },
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 20, waveforms: false, numericPeriodMs: 200 } }],
    });
    const env = { TEST_HUB_CS: hub.connectionString('gw-dev') };

    let acceptedAtKills = 0;
    for (let round = 0; round < 2; round++) {
      const p = startAgentProcess(['--config', config], { env });
      procs.push(p);
      await p.waitForLog('agent running');
      const before = hub.messages.length;
      await hub.waitFor((ms) => ms.length >= before + 2, 20_000);
      // Kill at an arbitrary moment between messages: mid-commit, mid-pack or mid-send.
      await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 400)));
      p.child.kill('SIGKILL');
      expect((await p.exited).signal).toBe('SIGKILL');

      const accepted = acceptedInStore(storePath);
      acceptedAtKills += accepted.size;

      const again = startAgentProcess(['--config', config], { env });
      procs.push(again);
      await again.waitForLog('agent running');
      await hub.waitFor((ms) => {
        const got = hubKeys(ms);
        return [...accepted].every((k) => got.has(k));
      }, 20_000);
      again.child.kill('SIGTERM');
      expect((await again.exited).code).toBe(0);
    }

    // The kills did catch accepted data in the store (otherwise this test proved nothing).
    expect(acceptedAtKills).toBeGreaterThan(0);

    // Duplicates only as resends: the same message id always carries the same body.
    const bodies = new Map<string, string>();
    for (const m of hub.messages) {
      const b = m.body.toString('utf8');
      expect(bodies.get(m.messageId!) ?? b).toBe(b);
      bodies.set(m.messageId!, b);
    }
  });
});
