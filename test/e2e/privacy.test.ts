// PHI minimisation end to end: patient ids are pseudonymised (keyed HMAC) before they are stored and forwarded,
// and no log line of a whole run — at the most verbose level — carries a patient id or a secret.
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { MDC } from '../../agent/model/mdc.js';
import { pseudonymizer } from '../../agent/privacy.js';
import { registry } from '../../drivers/registry.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';
import { startHubStandin, type HubStandin } from '../hub-standin/index.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { MllpClient, freePort } from '../support/mllp-client.js';
import { messageSchemaErrors } from '../support/message-schema.js';
import { TOKENS, call, reading, testUsers } from '../browser/display-fixtures.js';

/** Occurrences of `text` in the bytes of the store file and its WAL (as they are on disk, whatever SQLite keeps). */
/** The store's note, read as any copy of the store could be. */
function storedNote(dir: string): string {
  const db = new Database(join(dir, 'agent.db'), { readonly: true });
  try {
    return (db.prepare("SELECT value FROM meta WHERE key = 'news2-observations'").get() as { value: string }).value;
  } finally {
    db.close();
  }
}

function storeBytesHits(dir: string, text: string): number {
  let hits = 0;
  for (const f of ['agent.db', 'agent.db-wal']) {
    const p = join(dir, f);
    if (existsSync(p)) hits += readFileSync(p).toString('latin1').split(text).length - 1;
  }
  return hits;
}

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

  it('stores no raw patient id outside the outbox either: the NEWS2 observations note holds pseudonyms (review rv82 H1)', async () => {
    const dir = tempDir();
    const config = testConfig(dir, {
      privacy: { pseudonymizePatientIds: true, pseudonymKey: PSEUDONYM_KEY },
      display: { enabled: true, port: 0, ...(await testUsers()) },
    });
    agent = new Agent({ config, registry, log: captureLog('trace').log, transport: null });
    await agent.start();
    const withPatient = (mdc: typeof MDC.RESP_RATE, v: number, deviceId: string, patientId: string) => ({ ...reading(mdc, v, { bed: 'bed-p1', deviceId }), patientId });
    await agent.ingest.accept('test-source', [withPatient(MDC.RESP_RATE, 18, 'mon-1', 'MRN-PRIV-0001'), withPatient(MDC.PULS_OXIM_SAT_O2, 97, 'ox-1', 'VISIT-PRIV-0002')]);
    const r = await call(agent.display!.address().url, 'POST', '/api/beds/bed-p1/observations', { token: TOKENS.clinician, body: { oxygen: 'oxygen', consciousness: 'C' } });
    expect(r.status).toBe(200);
    // The store file and its WAL as they are while running, then once stopped (the WAL checkpointed into the file).
    for (const id of ['MRN-PRIV-0001', 'VISIT-PRIV-0002']) expect(storeBytesHits(dir, id), id).toBe(0);
    await agent.stop();
    agent = null;
    for (const id of ['MRN-PRIV-0001', 'VISIT-PRIV-0002']) expect(storeBytesHits(dir, id), id).toBe(0);
    const note = JSON.parse(storedNote(dir)) as Record<string, unknown>;
    const pseudonym = pseudonymizer(PSEUDONYM_KEY);
    expect(note['bed-p1']).toMatchObject({ patientId: pseudonym('MRN-PRIV-0001'), patientIds: { 'mon-1': pseudonym('MRN-PRIV-0001'), 'ox-1': pseudonym('VISIT-PRIV-0002') } });

    // Restarted: the observations still count for the same patient (pseudonym of the id given now = the one kept).
    const cap = captureLog('info');
    agent = new Agent({ config, registry, log: cap.log, transport: null });
    await agent.start();
    expect(cap.find('NEWS2 observations recorded before the restart restored')).toMatchObject({ beds: ['bed-p1'] });
    await agent.ingest.accept('test-source', [withPatient(MDC.RESP_RATE, 18, 'mon-1', 'MRN-PRIV-0001')]);
    const score = agent.alarms.engine.news2('bed-p1', Date.now())!;
    expect(score.assumed).toEqual([]);
  }, 30_000);

  it('a NEWS2 observations note with raw ids (written before pseudonymisation) still restores for the same patient, rewritten with pseudonyms', async () => {
    const dir = tempDir();
    const display = { enabled: true, port: 0, ...(await testUsers()) };
    agent = new Agent({ config: testConfig(dir, { display }), registry, log: captureLog('info').log, transport: null });
    await agent.start();
    const withPatient = { ...reading(MDC.RESP_RATE, 18, { bed: 'bed-p2', deviceId: 'mon-2' }), patientId: 'MRN-PRIV-0003' };
    await agent.ingest.accept('test-source', [withPatient]);
    expect((await call(agent.display!.address().url, 'POST', '/api/beds/bed-p2/observations', { token: TOKENS.clinician, body: { oxygen: 'oxygen' } })).status).toBe(200);
    await agent.stop();
    expect(storeBytesHits(dir, 'MRN-PRIV-0003')).toBeGreaterThan(0); // pseudonymisation was off: the note has it

    const cap = captureLog('info');
    const config = testConfig(dir, { display, privacy: { pseudonymizePatientIds: true, pseudonymKey: PSEUDONYM_KEY } });
    agent = new Agent({ config, registry, log: cap.log, transport: null });
    await agent.start();
    expect(cap.find('NEWS2 observations recorded before the restart restored')).toMatchObject({ beds: ['bed-p2'] });
    expect(cap.find('NEWS2 observations note held raw patient ids (written before pseudonymisation): rewritten with pseudonyms')).toBeDefined();
    await agent.ingest.accept('test-source', [{ ...withPatient, receivedAt: Date.now() }]);
    expect(agent.alarms.engine.news2('bed-p2', Date.now())!.assumed).not.toContain('oxygen');
    await agent.stop();
    agent = null;
    const note = storedNote(dir);
    expect(note).not.toContain('MRN-PRIV-0003');
    expect(JSON.parse(note)).toMatchObject({ 'bed-p2': { patientId: pseudonymizer(PSEUDONYM_KEY)('MRN-PRIV-0003'), pseudonyms: true } });
  }, 30_000);

  for (const [label, privacyAfter, reason, cause] of [
    ['the pseudonym key rotated', { pseudonymizePatientIds: true, pseudonymKey: 'another-long-pseudonymisation-key-after-rotation' }, 'key-changed', /the pseudonym key changed/],
    ['pseudonymisation switched off', { pseudonymizePatientIds: false }, 'pseudonyms-off', /pseudonymisation was switched off/],
  ] as const) {
    it(`after a restart with ${label}, the NEWS2 observations are dropped with one warning saying so, and counted (review rv83 L1)`, async () => {
      const dir = tempDir();
      const display = { enabled: true, port: 0, ...(await testUsers()) };
      agent = new Agent({ config: testConfig(dir, { display, privacy: { pseudonymizePatientIds: true, pseudonymKey: PSEUDONYM_KEY } }), registry, log: captureLog('info').log, transport: null });
      await agent.start();
      const withPatient = () => ({ ...reading(MDC.RESP_RATE, 18, { bed: 'bed-p3', deviceId: 'mon-3' }), patientId: 'MRN-PRIV-0004' });
      await agent.ingest.accept('test-source', [withPatient()]);
      expect((await call(agent.display!.address().url, 'POST', '/api/beds/bed-p3/observations', { token: TOKENS.clinician, body: { oxygen: 'oxygen' } })).status).toBe(200);
      await agent.stop();
      const note = storedNote(dir);
      expect(JSON.parse(note)['bed-p3'].keyFingerprint).toMatch(/^[0-9a-f]{8}$/);
      expect(note).not.toContain(PSEUDONYM_KEY);

      const cap = captureLog('info');
      agent = new Agent({ config: testConfig(dir, { display, privacy: privacyAfter }), registry, log: cap.log, transport: null });
      await agent.start();
      // Told at start, before any reading, with its cause; not "restored".
      expect(cap.find(/^NEWS2 observations recorded before the restart \(oxygen, ACVPU\) not restored/)).toMatchObject({ level: 40, beds: ['bed-p3'], reason, msg: expect.stringMatching(cause) });
      expect(cap.find('NEWS2 observations recorded before the restart restored')).toBeUndefined();
      expect(agent.metrics.get('news2_observations_not_restored_total', { reason })).toBe(1);
      await agent.ingest.accept('test-source', [{ ...withPatient(), receivedAt: Date.now() }]);
      expect(agent.alarms.engine.news2('bed-p3', Date.now())!.assumed).toContain('oxygen');
      expect(cap.find(/now gives another patient id/)).toBeUndefined();
      expect(cap.lines.filter((l) => /^NEWS2 observations/.test(String(l.msg)))).toHaveLength(1);
    }, 30_000);
  }

  it('open-alarm notes keep no raw patient id, an acknowledged alarm\'s neither; a note written with pseudonyms off closes with the pseudonym (review rv188 M3)', async () => {
    const base = { alarms: { limits: { beds: { 'bed-1': { hr: { delayS: 0 } }, 'bed-2': { hr: { delayS: 0 } } } }, news2: { beds: { 'bed-1': { enabled: false }, 'bed-2': { enabled: false } } } } };
    const on = { privacy: { pseudonymizePatientIds: true, pseudonymKey: PSEUDONYM_KEY } };
    const pseudonym = pseudonymizer(PSEUDONYM_KEY);
    const ids = ['MRN-NOTE-0001', 'MRN-NOTE-0002'];
    /** HR 150 for each patient on its bed, the second acknowledged; stopped with both open. */
    const run1 = async (dir: string, privacy: object) => {
      agent = new Agent({ config: testConfig(dir, { ...base, ...privacy }), registry, log: captureLog('info').log, transport: null });
      await agent.start();
      await agent.ingest.accept('test-source', [{ ...reading(MDC.ECG_HEART_RATE, 150, { bed: 'bed-1', deviceId: 'mon-1' }), patientId: ids[0] }]);
      await agent.ingest.accept('test-source', [{ ...reading(MDC.ECG_HEART_RATE, 150, { bed: 'bed-2', deviceId: 'mon-2' }), patientId: ids[1] }]);
      const [acked] = agent.alarms.engine.list({ bed: 'bed-2' });
      expect(agent.alarms.acknowledge(acked!.id, { user: 'n', role: 'clinician', from: 't' }).ok).toBe(true);
      await agent.stop();
      agent = null;
    };
    // Pseudonyms on throughout: nothing in the store file holds a raw id (the acknowledged alarm's note held it).
    const dirOn = tempDir();
    await run1(dirOn, on);
    for (const id of ids) expect(storeBytesHits(dirOn, id), id).toBe(0);

    // Notes written with pseudonyms off, read with them on: the closing records carry the pseudonyms.
    const dirOff = tempDir();
    await run1(dirOff, {});
    agent = new Agent({ config: testConfig(dirOff, { ...base, ...on }), registry, log: captureLog('info').log, transport: null });
    await agent.start();
    await agent.stop();
    agent = null;
    const db = new Database(join(dirOff, 'agent.db'), { readonly: true });
    const closing: { patientId?: string; why: string }[] = [];
    try {
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'outbox%'").all() as { name: string }[]) {
        for (const { body } of db.prepare(`SELECT body FROM "${name}" WHERE stream = 'alarms'`).all() as { body: string }[]) {
          const r = JSON.parse(body) as { change: string; why: string; patientId?: string };
          if (r.change === 'resolved' && r.why.startsWith('no longer tracked: the agent restarted')) closing.push(r);
        }
      }
    } finally {
      db.close();
    }
    expect(closing.map((r) => r.patientId).sort()).toEqual(ids.map(pseudonym).sort());
  }, 30_000);

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
