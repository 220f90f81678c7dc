// Long kill -9 fault run (on demand, not in CI):
//
//   npx tsx scripts/fault-kill9.ts --iterations 50
//
// Starts the IoT Hub stand-in, runs the real agent CLI as a child process with the ward simulator and an
// hl7-mllp listener, feeds the listener from in-process MLLP senders (generated PCD-01 traffic), and kills the
// agent with SIGKILL at random moments — during start-up, mid-commit, mid-pack, with messages in flight to a
// hub whose PUBACKs are delayed — then restarts it on the same store. At the end it drains everything and
// proves, from the outside:
//   1. every HL7 message a sender was told was accepted (CA/AA) has all its readings at the hub;
//   2. every record found in the store after any kill (= committed, i.e. accepted) is at the hub;
//   3. what the store held at one kill is still held (or delivered) at the next: nothing accepted vanishes;
//   4. a record reaches the hub under one message id only, once per distinct message; a message id always
//      carries the same body (duplicates are resends, nothing else).
// Prints a summary and exits 1 on any violation.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { rng } from '../drivers/hl7/ward.js';
import { recordJson } from '../agent/store/samples.js';
import { Hl7Sender, PCD01_REFIDS as HL7_REFIDS } from '../test/fault/hl7-traffic.js';
import { startHubStandin, type HubStandin, type ReceivedMessage } from '../test/hub-standin/index.js';
import { startAgentProcess, tempDir, writeConfig, type AgentProcess } from '../test/support/agent-process.js';
import { STANDIN_CA_FILE } from '../test/support/agent-config.js';
import { freePort } from '../test/support/mllp-client.js';

const { values: args } = parseArgs({
  options: {
    iterations: { type: 'string', default: '50' },
    beds: { type: 'string', default: '16' },
    'hl7-senders': { type: 'string', default: '2' },
    'hl7-beds': { type: 'string', default: '4' },
    'max-run-ms': { type: 'string', default: '2500' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`Usage: npx tsx scripts/fault-kill9.ts [--iterations 50] [--beds 16] [--hl7-senders 2] [--hl7-beds 4]
       [--max-run-ms 2500] [--seed n] [--keep]
Kills the agent with SIGKILL at random points --iterations times and proves nothing accepted is lost.
Exit code 0: no loss, no foreign duplicate; 1: a violation (listed); 2: the harness itself failed.
`);
  process.exit(0);
}
const ITERATIONS = Number(args.iterations);
const SEED = Number(args.seed);
const MAX_RUN_MS = Number(args['max-run-ms']);
const rand = rng(SEED);
const KEY = Buffer.from('fault-kill9-device-key-0123456!!').toString('base64');
/** Device time of generated HL7 messages: one distinct second per message, so each reading is identifiable. */
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stdout.write(`${s}\n`);

interface WireRecord {
  type: string;
  source?: string;
  refid?: string | null;
  deviceTime?: string | null;
}

/** A record's identity: its exact JSON (the agent stores and sends each record's JSON verbatim). */
const canon = (r: unknown) => JSON.stringify(r);

/** Everything the store holds after a kill: unpacked records, and records of packed messages (sent or not). */
function storeSnapshot(path: string): Set<string> {
  const out = new Set<string>();
  if (!existsSync(path)) return out;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const has = (t: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t) !== undefined;
    // An outbox row holds one record or several joined by commas.
    if (has('outbox')) {
      const rows = db.prepare<[], { body: string; samples: Buffer | null }>('SELECT body, samples FROM outbox').iterate();
      for (const { body, samples } of rows) for (const r of JSON.parse(`[${recordJson(body, samples)}]`) as unknown[]) out.add(canon(r));
    }
    if (has('messages')) {
      // Replayed copies (replay_of set) repeat originals; none are made here, but skip them to be exact.
      for (const { body } of db.prepare<[], { body: string }>('SELECT body FROM messages WHERE replay_of IS NULL').iterate()) {
        for (const r of (JSON.parse(body) as { records: unknown[] }).records) out.add(canon(r));
      }
    }
  } finally {
    db.close();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = Date.now();
  const hub: HubStandin = await startHubStandin({ identities: [{ deviceId: 'k9-gw', key: KEY }], maxMessages: 5_000_000 });
  const dir = tempDir('fault-kill9-');
  const storePath = join(dir, 'agent.db');
  const port = await freePort();
  const drivers = [
    { name: 'ward-sim', type: 'simulator', options: { beds: Number(args.beds), waveforms: false, numericPeriodMs: 200 } },
    { name: 'ward-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } },
  ];
  const base = {
    gateway: { id: 'k9-gw' },
    log: { level: 'info', pretty: 'never' },
    store: { path: storePath, synchronous: 'full' },
    hub: {
      mode: 'device',
      connectionString: { env: 'TEST_HUB_CS' },
      caFile: STANDIN_CA_FILE,
      batchDelayMs: 150,
      maxMessageBytes: 8192,
      sendTimeoutMs: 3000,
      retry: { initialDelayMs: 100, maxDelayMs: 500 },
    },
  };
  const config = writeConfig(dir, { ...base, drivers });
  // Last round: the simulator off, so the backlog drains to an end.
  const drainConfig = writeConfig(dir, { ...base, drivers: [drivers[1]!] }, 'drain.json');
  const env = { TEST_HUB_CS: hub.connectionString('k9-gw') };

  let clock = 0;
  const nextTime = () => T0 + 1000 * clock++;
  const senders = Array.from({ length: Number(args['hl7-senders']) }, (_, i) => new Hl7Sender(i + 1, port, Number(args['hl7-beds']), nextTime, SEED).start());

  const violations: string[] = [];
  const accepted = new Set<string>(); // every record seen in the store after some kill
  let previous = new Set<string>();
  let killsWithData = 0;
  let earlyKills = 0;
  let unackedAtKills = 0;
  const procs: AgentProcess[] = [];

  log(`fault-kill9: ${ITERATIONS} iterations, seed ${SEED}, store ${storePath}, MLLP port ${port}, hub port ${hub.port}`);
  try {
    for (let i = 1; i <= ITERATIONS; i++) {
      // Slow acknowledgements in some rounds, so kills land with messages in flight.
      const pubackDelay = rand() < 0.5 ? Math.floor(rand() * 300) : 0;
      hub.setPubackPolicy(pubackDelay ? { delayMs: pubackDelay } : {});
      const p = startAgentProcess(['--config', config], { env });
      procs.push(p);
      const early = rand() < 0.15;
      let delay: number;
      if (early) {
        earlyKills++;
        delay = Math.floor(rand() * 1500); // during start-up: opening the store, integrity check, drivers starting
        await sleep(delay);
      } else {
        await p.waitForLog('agent running', 30_000);
        delay = 100 + Math.floor(rand() * MAX_RUN_MS);
        await sleep(delay);
      }
      const ackedBefore = senders.flatMap((s) => s.acked.map((m) => m.controlId));
      p.child.kill('SIGKILL');
      const exit = await p.exited;
      if (exit.signal !== 'SIGKILL') violations.push(`iteration ${i}: agent exited by itself (${JSON.stringify(exit)}) before the kill; stderr: ${p.stderr().slice(-500)}`);
      const fatal = p.lines.find((l) => l.level === 60);
      if (fatal) violations.push(`iteration ${i}: fatal log line: ${JSON.stringify(fatal).slice(0, 500)}`);

      const snap = storeSnapshot(storePath);
      // 3. Nothing accepted vanishes from the store (acknowledged messages are retained for replay, 24 h).
      const vanished = [...previous].filter((r) => !snap.has(r));
      if (vanished.length) violations.push(`iteration ${i}: ${vanished.length} record(s) held at the previous kill are gone from the store, e.g. ${vanished[0]}`);
      // 1 (at once). What HL7 senders were told was accepted must be in the store now.
      const snapHl7 = hl7Index(snap);
      for (const s of senders) {
        for (const m of s.acked) {
          if (!ackedBefore.includes(m.controlId)) continue;
          const missing = HL7_REFIDS.filter((r) => !snapHl7.has(`${m.deviceTime}|${r}`));
          if (missing.length) violations.push(`iteration ${i}: HL7 ${m.controlId} was acknowledged but ${missing.join(',')} not in the store after the kill`);
        }
      }
      for (const r of snap) accepted.add(r);
      const unacked = unackedCount(storePath);
      unackedAtKills += unacked;
      if (snap.size > previous.size) killsWithData++;
      previous = snap;
      log(
        `#${String(i).padStart(3)} kill ${early ? 'at start-up' : 'running'} +${delay} ms, puback delay ${pubackDelay} ms: ` +
          `store ${snap.size} records (${unacked} msgs unacked), hub ${hub.messages.length} msgs, HL7 acked ${senders.reduce((n, s) => n + s.acked.length, 0)}`,
      );
    }

    // Drain: no more new HL7 messages (the ones in flight finish), simulator off, hub healthy.
    hub.setPubackPolicy({});
    const drain = startAgentProcess(['--config', drainConfig], { env });
    procs.push(drain);
    await drain.waitForLog('agent running', 30_000);
    await Promise.all(senders.map((s) => s.finish()));
    // Everything accepted so far plus whatever the drain round itself accepted (HL7 resends) must arrive.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const now = storeSnapshot(storePath);
      for (const r of now) accepted.add(r);
      const got = hubRecords(hub.messages);
      const missing = [...accepted].filter((r) => !got.has(r)).length;
      if (missing === 0 && unackedCount(storePath) === 0 && pendingCount(storePath) === 0) break;
      if (Date.now() > deadline) {
        violations.push(`drain: ${missing} accepted record(s) not at the hub after 120 s`);
        break;
      }
      await sleep(250);
    }
    drain.child.kill('SIGTERM');
    const drained = await drain.exited;
    if (drained.code !== 0) violations.push(`drain round exited with ${JSON.stringify(drained)}`);
    for (const r of storeSnapshot(storePath)) accepted.add(r);
  } catch (err) {
    log(`harness failure: ${(err as Error).stack ?? String(err)}`);
    for (const p of procs) p.child.kill('SIGKILL');
    await hub.stop();
    return 2;
  }

  // 2. Every accepted record is at the hub.
  const hubSet = hubRecords(hub.messages);
  const lost = [...accepted].filter((r) => !hubSet.has(r));
  for (const r of lost.slice(0, 10)) violations.push(`lost: ${r}`);
  if (lost.length > 10) violations.push(`... and ${lost.length - 10} more lost records`);

  // 1. Every acknowledged HL7 message has all its readings at the hub.
  const hubHl7 = hl7Index(hubSet);
  const acked = senders.flatMap((s) => s.acked);
  let hl7Lost = 0;
  for (const m of acked) {
    const missing = HL7_REFIDS.filter((r) => !hubHl7.has(`${m.deviceTime}|${r}`));
    if (missing.length) {
      hl7Lost++;
      if (hl7Lost <= 10) violations.push(`HL7 ${m.controlId} acknowledged but ${missing.join(',')} never reached the hub`);
    }
  }

  // 4. Duplicates only as resends of the same message id, with the same body; each record in one message only.
  const bodyById = new Map<string, string>();
  const idsByRecord = new Map<string, Set<string>>();
  let resendCopies = 0;
  let recordDupes = 0;
  for (const m of hub.messages) {
    const id = m.messageId ?? '(none)';
    const body = m.body.toString('utf8');
    const prev = bodyById.get(id);
    if (prev !== undefined) {
      resendCopies++;
      if (prev !== body) violations.push(`message id ${id} arrived with two different bodies`);
      continue;
    }
    bodyById.set(id, body);
    const seenHere = new Set<string>();
    for (const r of (JSON.parse(body) as { records: unknown[] }).records) {
      const k = canon(r);
      if (seenHere.has(k)) recordDupes++;
      seenHere.add(k);
      const ids = idsByRecord.get(k) ?? new Set<string>();
      ids.add(id);
      idsByRecord.set(k, ids);
    }
  }
  const foreignDupes = [...idsByRecord.entries()].filter(([, ids]) => ids.size > 1);
  for (const [r, ids] of foreignDupes.slice(0, 10)) violations.push(`record under ${ids.size} message ids (${[...ids].join(', ')}): ${r}`);
  if (recordDupes) violations.push(`${recordDupes} record(s) repeated inside one message`);
  const hl7Records = [...hubSet].filter((r) => (JSON.parse(r) as WireRecord).source === 'ward-mllp').length;

  log('');
  log('fault-kill9 summary');
  log(`  iterations (SIGKILL)          ${ITERATIONS} (${earlyKills} during start-up), ${killsWithData} found new accepted data`);
  log(`  unacked messages at the kills ${unackedAtKills} (in flight or waiting: resent after restart)`);
  log(`  records accepted (store)      ${accepted.size}`);
  log(`  records at the hub (distinct) ${hubSet.size}, of which HL7 ${hl7Records}`);
  log(`  HL7 messages acknowledged     ${acked.length} (resent ${acked.filter((m) => m.attempts > 1).length} after a lost connection or NAK; NAKs ${senders.reduce((n, s) => n + s.naks, 0)}, lost connections ${senders.reduce((n, s) => n + s.connectionLosses, 0)})`);
  log(`  hub messages                  ${hub.messages.length} received, ${bodyById.size} distinct ids, ${resendCopies} resent copies (same id, same body)`);
  log(`  lost records                  ${lost.length}; acknowledged HL7 messages incomplete at the hub: ${hl7Lost}`);
  log(`  records under >1 message id   ${foreignDupes.length}`);
  log(`  elapsed                       ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${SEED}`);
  await hub.stop();
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
  if (violations.length) {
    log(`\nFAIL: ${violations.length} violation(s)`);
    for (const v of violations.slice(0, 50)) log(`  - ${v}`);
    return 1;
  }
  log('\nPASS: nothing accepted was lost; duplicates only as resends with the same message id');
  return 0;
}

function hubRecords(messages: readonly ReceivedMessage[]): Set<string> {
  const out = new Set<string>();
  for (const m of messages) for (const r of (JSON.parse(m.body.toString('utf8')) as { records: unknown[] }).records) out.add(canon(r));
  return out;
}

/** `deviceTime|refid` of HL7 numerics among records. */
function hl7Index(records: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const s of records) {
    const r = JSON.parse(s) as WireRecord;
    if (r.source === 'ward-mllp' && r.type === 'numeric') out.add(`${r.deviceTime}|${r.refid}`);
  }
  return out;
}

function count(path: string, sql: string): number {
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare<[], { n: number }>(sql).get()?.n ?? 0);
  } catch {
    return 0; // tables not created yet
  } finally {
    db.close();
  }
}
const unackedCount = (path: string) => count(path, 'SELECT count(*) AS n FROM messages WHERE acked_at IS NULL');
const pendingCount = (path: string) => count(path, 'SELECT coalesce(sum(count), 0) AS n FROM outbox');

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fault-kill9: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
