// Drain: after an outage, how fast the backlog empties while the ward keeps sending. The store is pre-filled with
// the records of an outage of --outage-min minutes at 32 beds (generated with the simulator's manual clock and
// written in a few large transactions), then the real agent starts with the simulator driver (32 beds, real
// clock) and forwards to the IoT Hub stand-in in its own process. Drain time = until every pre-filled record is
// acknowledged; drain rate = those records / that time, against the live rate (the ward's telemetry records per
// second, which keep coming meanwhile). Target: drain ≥ 10× live.
// Hub models (stand-in PUBACK policy): 'loopback' acknowledges at once; 's1' acknowledges after --rtt-ms (default
// 50 ms: a round trip to the hub, an assumption) and at most 100 messages/s (IoT Hub S1's device-to-cloud throttle).
//   npx tsx bench/drain.ts [--outage-min 60] [--models loopback,s1] [--windows 1,8] [--encoding records]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toRecord } from '../agent/ingest.js';
import type { DriverEvent } from '../agent/model/reading.js';
import { Outbox, type AppendBatch, type OutboxRecord } from '../agent/store/outbox.js';
import { benchAgent } from './lib/agent.js';
import { arg, emitFigures, round, type Figure } from './lib/figures.js';
import { startStandinProcess, type StandinProcess } from './lib/standin.js';
import { generateWard } from './lib/ward.js';

const BEDS = 32;
const outageMin = Number(arg('outage-min', '60'));
const models = arg('models', 'loopback,s1').split(',');
const windows = arg('windows', '1,8').split(',').map(Number);
const encoding = arg('encoding', 'records') as 'records' | 'compact';
const rttMs = Number(arg('rtt-ms', '50'));
const S1_PER_S = 100;
const LIMIT_MS = Number(arg('limit-s', '600')) * 1000;

/** An hour (or the outage) of the ward's telemetry, as stored records with their times. */
async function outageRecords(): Promise<{ at: number; records: OutboxRecord[] }[]> {
  const out: { at: number; records: OutboxRecord[] }[] = [];
  const start = Date.now() - outageMin * 60_000;
  const at = (e: DriverEvent) => (e.kind === 'device-status' ? e.at : e.receivedAt);
  await generateWard({ beds: BEDS, seed: 41, waveforms: false }, outageMin * 60, start, (events) => {
    const records = events.map((e) => toRecord(e, false)).filter((r): r is OutboxRecord => r !== null && r.stream === 'telemetry');
    if (records.length) out.push({ at: at(events[0]!), records });
  });
  return out;
}

function prefill(path: string, batches: { at: number; records: OutboxRecord[] }[]): number {
  const box = new Outbox(path, { synchronous: 'normal' });
  let n = 0;
  for (let i = 0; i < batches.length; i += 2000) {
    const chunk = batches.slice(i, i + 2000);
    // One transaction per chunk; created_at = when the record would have been accepted.
    for (const b of chunk) n += b.records.length;
    box.appendBatches(chunk.map((b): AppendBatch => ({ records: b.records })), chunk[0]!.at);
  }
  box.close();
  return n;
}

async function drain(hub: StandinProcess, model: string, window: number, batches: { at: number; records: OutboxRecord[] }[]) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-drain-'));
  try {
    const backlog = prefill(join(dir, 'agent.db'), batches);
    await hub.setPuback(model === 's1' ? { delayMs: rttMs, maxPerSecond: S1_PER_S } : {});
    const { agent, swapped } = benchAgent({
      dir,
      hub,
      encoding,
      maxInFlight: window,
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: BEDS, seed: 42 } }],
    });
    const sent = () => agent.metrics.get('forward_records_total', { stream: 'telemetry' });
    const committed = () => agent.metrics.get('store_committed_total');
    const t0 = performance.now();
    await agent.start();
    const c0 = committed();
    while (sent() < backlog && performance.now() - t0 < LIMIT_MS) await new Promise((r) => setTimeout(r, 20));
    const ms = performance.now() - t0;
    const liveRecords = committed() - c0;
    const done = sent() >= backlog;
    await agent.stop();
    return { backlog, ms, measuredLive: (liveRecords * 1000) / ms, done, swapped, messages: agent.metrics.get('forward_messages_total', { stream: 'telemetry' }) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const t = performance.now();
const batches = await outageRecords();
console.log(`generated ${outageMin} min of ${BEDS}-bed telemetry (${batches.reduce((n, b) => n + b.records.length, 0)} records) in ${Math.round(performance.now() - t)} ms`);
const hub = await startStandinProcess();
const figures: Figure[] = [];
try {
  for (const model of models) {
    for (const window of windows) {
      const r = await drain(hub, model, window, batches);
      const rate = (r.backlog * 1000) / r.ms;
      // The live rate is the ward's own: the outage's records over its length (the same ward runs live; the rate
      // measured during a drain of a few seconds is inflated by the monitors' start-up burst).
      const live = r.backlog / (outageMin * 60);
      const label = model === 's1' ? `hub modelled as S1 (RTT ${rttMs} ms, ≤ ${S1_PER_S} msg/s)` : 'loopback hub (immediate acks)';
      console.log(
        `${label}, ${window} in flight, ${encoding}: ${r.backlog} records in ${Math.round(r.ms)} ms (${r.messages} messages)${r.done ? '' : ' — NOT drained, stopped at the limit'}; live ${round(live)} records/s (measured meanwhile ${round(r.measuredLive)})`,
      );
      figures.push({
        bench: 'drain',
        measure: `${outageMin}-min outage at ${BEDS} beds, ${label}, ${window} in flight: drain rate`,
        value: round(rate),
        unit: 'records/s',
        // Computed from the workload, not measured (see above): said so in the label.
        baseline: { label: 'live rate of the ward (its records per second, from the workload)', value: round(live) },
        target: { text: 'drain ≥ 10× live', met: r.done && rate >= 10 * live },
        note: `${r.backlog} records drained in ${round(r.ms / 1000)} s while live traffic continued${r.swapped ? '; forwarder given hub options agent.ts does not pass yet' : ''}`,
      });
    }
  }
} finally {
  await hub.stop();
}
console.table(figures.map((f) => ({ measure: f.measure, 'records/s': f.value, live: f.baseline?.value, ratio: f.baseline ? round(f.value / f.baseline.value) : '-' })));
emitFigures(figures);
