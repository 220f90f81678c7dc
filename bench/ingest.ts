// Ingest throughput: observations per second committed to the store through the real Ingest (normalise, serialise,
// group commit) and Outbox, against raw better-sqlite3 inserts of the very same rows into the same schema, in
// transactions of the same sizes (the store's ceiling on this machine). The store keeps the records of one emit
// of one device in shared rows (agent/store/outbox.ts toRows); the ceiling inserts those same rows.
//
// Counting: an OBSERVATION is one stored record — one numeric reading or one waveform segment (as in FHIR, where a
// segment of samples is one Observation with SampledData). The targets apply to observations. Samples per second
// (numeric values + waveform samples) are reported beside them.
//
// Scenarios: a simulated ward (numerics at 1 Hz, ECG 250 Hz + pleth 125 Hz in 1 s segments, everything stored:
// hub.forwardWaveforms on) and a flood (numerics only, 512 beds). A few seconds of traffic are generated beforehand
// with the simulator's manual clock and fed to ingest again and again, as fast as it takes them (a small working
// set, so that the benchmark's own heap does not slow the collector). Real SQLite file, WAL, synchronous=FULL and
// group commit every 10 ms (the defaults). Each scenario runs `repeat` times, alternating with its ceiling; medians.
// A second ceiling inserts the same rows in transactions of two working sets (10 s of traffic) each, whatever the
// transactions ingest chose: ingest commits early once COMMIT_AT_EVENTS are queued, and smaller transactions cost
// the ceiling too, so the ratio to the first alone would credit ingest with the ceiling's loss.
//   npx tsx bench/ingest.ts [--beds 128] [--seconds 30] [--flood-seconds 60] [--repeat 3] [--only ward|flood]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { Ingest, normalise, toRecord } from '../agent/ingest.js';
import { Metrics } from '../agent/metrics.js';
import type { DriverEvent } from '../agent/model/reading.js';
import { Outbox, STREAMS, toRows, type AppendBatch, type OutboxRecord, type OutboxRow } from '../agent/store/outbox.js';
import { arg, emitFigures, round, type Figure } from './lib/figures.js';
import { generateWard, type WardTraffic } from './lib/ward.js';

const beds = Number(arg('beds', '128'));
const seconds = Number(arg('seconds', '30'));
const floodSeconds = Number(arg('flood-seconds', '60'));
/** Seconds of traffic generated and then fed repeatedly. */
const WORKING_SET_S = 5;
const repeat = Number(arg('repeat', '3'));
const only = arg('only', 'all');
const COMMIT_MS = 10;

interface IngestResult {
  records: number;
  ms: number;
  /** CPU time of the process (user + system) over the run: steadier than wall time on a noisy machine. */
  cpuMs: number;
  /** Per transaction: records stored, and emits (batches) it held. */
  txSizes: number[];
  txBatches: number[];
}

async function throughIngest(path: string, batches: DriverEvent[][], rounds: number): Promise<IngestResult> {
  const outbox = new Outbox(path, { synchronous: 'full' });
  const txSizes: number[] = [];
  const txBatches: number[] = [];
  // Watch the transaction sizes (for the ceiling run), without changing them.
  const append = outbox.appendBatches.bind(outbox);
  const stored = () => STREAMS.reduce((n, s) => n + outbox.pending(s).records, 0);
  outbox.appendBatches = (bs: AppendBatch[], now?: number) => {
    const before = stored();
    const out = append(bs, now);
    txSizes.push(stored() - before);
    txBatches.push(bs.length);
    return out;
  };
  const ingest = new Ingest(outbox, { commitIntervalMs: COMMIT_MS, forwardWaveforms: true }, pino({ level: 'silent' }), new Metrics());
  let previous: Promise<void>[] = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let round = 0; round < rounds; round++) {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < batches.length; i++) {
      pending.push(ingest.accept('ward-sim', batches[i]!));
      // Let the group-commit timer run, as a driver's socket callbacks would.
      if (i % 32 === 31) await new Promise((r) => setImmediate(r));
    }
    // At most two rounds queued: what waits for a commit stays bounded, and ingest never runs dry.
    await Promise.all(previous);
    previous = pending;
  }
  await Promise.all(previous);
  const ms = performance.now() - t0;
  const cpuMs = cpuSince(c0);
  ingest.close();
  outbox.close();
  return { records: txSizes.reduce((a, b) => a + b, 0), ms, cpuMs, txSizes, txBatches };
}

function cpuSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

function rawInserts(path: string, rowsPerBatch: OutboxRow[][], txBatches: number[]): { ms: number; cpuMs: number } {
  // The same rows as ingest stored (the working set's emits, round after round, in the same transactions),
  // built before the clock starts, each body its own string as distinct data would be (one string reused for
  // every round would flatter the ceiling).
  const txs: OutboxRow[][] = [];
  let b = 0;
  for (const n of txBatches) {
    const rows: OutboxRow[] = [];
    for (let k = 0; k < n; k++, b++) {
      for (const r of rowsPerBatch[b % rowsPerBatch.length]!) rows.push({ ...r, body: Buffer.from(r.body).toString(), samples: r.samples && Buffer.from(r.samples) });
    }
    txs.push(rows);
  }
  new Outbox(path).close(); // the same schema and indexes
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // Into each class's own table, with the seq given, as the store does.
  const inserts = [0, 1, 2].map((c) => db.prepare(`INSERT INTO outbox_${c} (seq, stream, cls, device_id, created_at, bytes, body, count, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`));
  let seq = 1;
  const tx = db.transaction((rows: OutboxRow[], now: number) => {
    for (const r of rows) inserts[r.cls]!.run(seq++, r.stream, r.cls, r.deviceId, now, r.bytes, r.body, r.count, r.samples);
  });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const rows of txs) tx(rows, Date.now());
  const ms = performance.now() - t0;
  const cpuMs = cpuSince(c0);
  db.close();
  return { ms, cpuMs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs ingest and its ceiling `repeat` times, alternating, each on fresh files; the medians are reported. */
async function measure(dir: string, batches: DriverEvent[][], rounds: number) {
  const rowsPerBatch = batches.map((b) => [...toRows(b.map((e) => toRecord(normalise(e), true)).filter((r): r is OutboxRecord => r !== null), Infinity)]);
  const ingestMs: number[] = [];
  const rawMs: number[] = [];
  const ingestCpu: number[] = [];
  const rawCpu: number[] = [];
  const largeMs: number[] = [];
  let last: IngestResult | null = null;
  for (let i = 0; i < repeat; i++) {
    // Each run starts from a clean heap (run with node --expose-gc; bench/run.ts does).
    (globalThis as { gc?: () => void }).gc?.();
    last = await throughIngest(join(dir, `ingest-${i}.db`), batches, rounds);
    ingestMs.push(last.ms);
    ingestCpu.push(last.cpuMs);
    (globalThis as { gc?: () => void }).gc?.();
    const raw = rawInserts(join(dir, `raw-${i}.db`), rowsPerBatch, last.txBatches);
    rawMs.push(raw.ms);
    rawCpu.push(raw.cpuMs);
    (globalThis as { gc?: () => void }).gc?.();
    const large: number[] = [];
    for (let left = rounds * batches.length; left > 0; left -= 2 * batches.length) large.push(Math.min(left, 2 * batches.length));
    largeMs.push(rawInserts(join(dir, `raw-large-${i}.db`), rowsPerBatch, large).ms);
  }
  const rowsPerRound = rowsPerBatch.reduce((n, rows) => n + rows.length, 0);
  return { r: { ...last!, ms: median(ingestMs), cpuMs: median(ingestCpu) }, rawMs: median(rawMs), rawCpuMs: median(rawCpu), largeMs: median(largeMs), ingestMs, allRawMs: rawMs, allLargeMs: largeMs, rowsPerRound };
}

async function scenario(name: string, traffic: WardTraffic, spanS: number): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ingest-'));
  const rounds = Math.max(1, Math.round(spanS / WORKING_SET_S));
  spanS = rounds * WORKING_SET_S;
  try {
    const { r, rawMs, rawCpuMs, largeMs, ingestMs, allRawMs, allLargeMs, rowsPerRound } = await measure(dir, traffic.batches, rounds);
    console.log(`${name}: ingest runs ${ingestMs.map(Math.round).join(', ')} ms; raw runs ${allRawMs.map(Math.round).join(', ')} ms; raw runs in 10-s transactions ${allLargeMs.map(Math.round).join(', ')} ms`);
    console.log(`${name}: CPU time (medians) ingest ${Math.round(r.cpuMs)} ms, raw ${Math.round(rawCpuMs)} ms: ratio by CPU ${(rawCpuMs / r.cpuMs).toFixed(3)}`);
    const obsPerS = (r.records * 1000) / r.ms;
    const ceiling = (r.records * 1000) / rawMs;
    const samplesPerS = ((traffic.numerics + traffic.samples) * rounds * 1000) / r.ms;
    const meanTx = r.records / r.txSizes.length;
    console.log(
      `${name}: ${r.records} records (${rounds} × ${WORKING_SET_S} s of ${traffic.numerics} numerics, ${traffic.segments} segments, ${traffic.samples} samples, ` +
        `generated in ${Math.round(traffic.generateMs)} ms) → ingest ${Math.round(r.ms)} ms, raw ${Math.round(rawMs)} ms, ` +
        `${r.txSizes.length} transactions (mean ${Math.round(meanTx)} records); ${rowsPerRound} rows per ${WORKING_SET_S} s`,
    );
    const ceilingLarge = (r.records * 1000) / largeMs;
    return [
      {
        bench: 'ingest',
        measure: `${name}: observations/s committed`,
        value: round(obsPerS),
        unit: 'obs/s',
        baseline: { label: 'raw better-sqlite3 inserts, same rows and transactions', value: round(ceiling) },
        target: { text: '≥ 100,000 obs/s and ≥ 0.5 of ceiling', met: obsPerS >= 100_000 && obsPerS / ceiling >= 0.5 },
        note: `one observation = one record (numeric or waveform segment); ${Math.round(meanTx)} records per commit`,
      },
      {
        bench: 'ingest',
        measure: `${name}: observations/s committed, against raw inserts in 10-s transactions`,
        value: round(obsPerS),
        unit: 'obs/s',
        baseline: { label: 'raw better-sqlite3 inserts, same rows, two working sets (10 s of traffic) per transaction', value: round(ceilingLarge) },
        target: { text: '≥ 100,000 obs/s and ≥ 0.5 of ceiling', met: obsPerS >= 100_000 && obsPerS / ceilingLarge >= 0.5 },
        note: `the same ingest runs; a ceiling that does not follow ingest's transaction sizes (${Math.round(r.records / Math.ceil(rounds / 2))} records per transaction)`,
      },
      {
        bench: 'ingest',
        measure: `${name}: samples/s committed (numeric values + waveform samples)`,
        value: round(samplesPerS),
        unit: 'samples/s',
        note: `${round(r.records / spanS)} records and ${round(((traffic.numerics + traffic.samples) * rounds) / spanS)} samples per simulated second`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const figures: Figure[] = [];
if (only !== 'flood') {
  const ward = await generateWard({ beds, seed: 11, waveforms: true }, WORKING_SET_S);
  figures.push(...(await scenario(`simulated ward ${beds} beds (numerics + ECG/pleth)`, ward, seconds)));
  ward.batches.length = 0;
}
if (only !== 'ward') {
  const flood = await generateWard({ beds: 512, seed: 12, waveforms: false, episodesPerHour: 0 }, WORKING_SET_S);
  figures.push(...(await scenario('flood: numerics only, 512 beds', flood, floodSeconds)).filter((f) => f.unit === 'obs/s'));
}
console.table(figures.map((f) => ({ measure: f.measure, value: f.value, ceiling: f.baseline?.value ?? '-', ratio: f.baseline ? round(f.value / f.baseline.value) : '-' })));
emitFigures(figures);
