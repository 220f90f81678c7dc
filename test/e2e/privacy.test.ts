// PHI minimisation end to end: patient ids are pseudonymised (keyed HMAC) before they are stored and forwarded,
// and no log line of a whole run — at the most verbose level — carries a patient id or a secret.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';
import { startHubStandin, type HubStandin } from '../hub-standin/index.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { MllpClient, freePort } from '../support/mllp-client.js';
import { messageSchemaErrors } from '../support/message-schema.js';

const KEY = Buffer.from('privacy-test-device-key-0123456!').toString('base64');
const PSEUDONYM_KEY = 'a-long-pseudonymisation-key-for-the-privacy-test';

let hub: HubStandin | null = null;
let agent: Agent | null = null;
let client: MllpClient | null = null;
afterEach(async () => {
  client?.close();
  await agent?.stop();
  await hub?.stop();
  client = null;
  agent = null;
  hub = null;
});

describe('patient privacy', () => {
  it('forwards only pseudonyms, stable per patient, and never logs patient ids or secrets', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const port = await freePort();
    const cap = captureLog('trace');
    const config = testConfig(
      tempDir(),
      {
        privacy: { pseudonymizePatientIds: true, pseudonymKey: PSEUDONYM_KEY },
        drivers: [
          { name: 'ward-sim', type: 'simulator', options: { beds: 2, waveforms: false, numericPeriodMs: 200, patientIds: true } },
          { name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } },
        ],
      },
      hub.connectionString('gw-dev'),
    );
    agent = new Agent({ config, registry, log: cap.log });
    await agent.start();
    client = await MllpClient.connect(port);
    const [bed] = initialBeds(1, rng(3));
    expect((await client.send(pcd01Message(bed!, 'PRIV-1', Date.now(), { waveform: false }))).code).toBe('CA');
    await hub.waitFor((ms) => ms.some((m) => m.body.toString('utf8').includes('icu-mllp')), 15_000);
    expect(await agent.drain(15_000)).toBe(true);

    const bodies = hub.messages.map((m) => m.body.toString('utf8'));
    const all = bodies.join('\n');
    expect(all).not.toMatch(/sim-patient-/);
    expect(all).not.toMatch(/PAT0001/);
    // Every record with a patient carries a pseudonym, the same one for the same patient (bed).
    const byBed = new Map<string, Set<string>>();
    for (const b of bodies) {
      const parsed = JSON.parse(b) as { records: { bed?: string; patientId?: string }[] };
      expect(messageSchemaErrors(parsed)).toEqual([]);
      for (const r of parsed.records) {
        if (r.patientId === undefined) continue;
        expect(r.patientId).toMatch(/^p_[A-Za-z0-9_-]{22}$/);
        const set = byBed.get(r.bed ?? '') ?? new Set<string>();
        set.add(r.patientId);
        byBed.set(r.bed ?? '', set);
      }
    }
    expect(byBed.size).toBeGreaterThanOrEqual(3); // two simulated beds and the HL7 bed
    for (const ids of byBed.values()) expect(ids.size).toBe(1);

    // The whole run's log, at trace level: no patient id, no device key, no pseudonymisation key.
    const log = cap.lines.map((l) => JSON.stringify(l)).join('\n');
    // (The run did log: start-up, the listener, the hub connection, the HL7 message.)
    for (const msg of ['store opened', 'MLLP listener started', 'connected to hub; forwarding', 'agent running']) {
      expect(cap.find(msg), msg).toBeDefined();
    }
    expect(log).not.toMatch(/sim-patient-/);
    expect(log).not.toMatch(/PAT0001/);
    expect(log).not.toContain(KEY);
    expect(log).not.toContain(PSEUDONYM_KEY);
  });

  it('refuses a config that asks for pseudonyms without a key', async () => {
    expect(() => testConfig(tempDir(), { privacy: { pseudonymizePatientIds: true } })).toThrow(/privacy\.pseudonymKey: is required/);
    // A key from an environment variable that is not set: the agent does not start, and says which variable.
    const dir = tempDir();
    const config = testConfig(dir, { privacy: { pseudonymizePatientIds: true, pseudonymKey: { env: 'NO_SUCH_PSEUDONYM_KEY' } } });
    expect(() => new Agent({ config, registry, log: captureLog().log, env: {} })).toThrow(/privacy\.pseudonymKey: environment variable NO_SUCH_PSEUDONYM_KEY is not set/);
    // The store it had opened is closed again (SQLite removes the WAL file when its last connection closes).
    expect(existsSync(join(dir, 'agent.db'))).toBe(true);
    expect(existsSync(join(dir, 'agent.db-wal'))).toBe(false);
  });
});
