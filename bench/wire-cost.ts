// Wire cost: what a 32-bed ward costs at IoT Hub, which meters device-to-cloud messages in 4 KB chunks (a 6 KB
// message counts as 2 against the daily quota; S1 allows 400,000 per unit per day). The simulated ward's records
// are packed by the real outbox and envelopes exactly as the forwarder does at the default batching
// (hub.batchDelayMs 1000, hub.maxMessageBytes 64 KB, waveforms not forwarded), once per encoding, against one
// message per reading (the baseline). Message size = body + the properties sent with it (message id, content type
// and encoding, kind, schemaVersion, gatewayId), as they travel in the MQTT topic.
//   npx tsx bench/wire-cost.ts [--beds 32] [--minutes 10]
import { toRecord } from '../agent/ingest.js';
import type { DriverEvent } from '../agent/model/reading.js';
import { Outbox, type OutboxRecord } from '../agent/store/outbox.js';
import { envelope, messageProperties, type Encoding } from '../agent/forward/wire.js';
import { arg, emitFigures, round, type Figure } from './lib/figures.js';
import { generateWard } from './lib/ward.js';

const beds = Number(arg('beds', '32'));
const minutes = Number(arg('minutes', '10'));
const MAX_BYTES = 65536;
const BATCH_DELAY_MS = 1000;
const CHUNK = 4096;
const S1_DAILY = 400_000;
const GATEWAY = 'ward3-gw';


function messageBytes(id: string, body: string): number {
  const props = { ...messageProperties('telemetry', GATEWAY, body), '$.mid': id, '$.ct': 'application/json', '$.ce': 'utf-8' };
  const bag = Object.entries(props).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return Buffer.byteLength(body) + Buffer.byteLength(bag);
}

interface Cost {
  readings: number;
  messages: number;
  chunks: number;
  bytes: number;
  packMs: number;
}

/** Replays the ward through an outbox, packing telemetry when the forwarder would. */
function replay(batches: { at: number; records: OutboxRecord[] }[], encoding: Encoding): Cost {
  const box = new Outbox(':memory:', { retainAckedMs: 0 });
  const wrap = envelope(GATEWAY, encoding);
  const cost: Cost = { readings: 0, messages: 0, chunks: 0, bytes: 0, packMs: 0 };
  const pack = (now: number) => {
    const t = performance.now();
    const m = box.pack('telemetry', MAX_BYTES, wrap, now);
    cost.packMs += performance.now() - t;
    if (!m) return false;
    const bytes = messageBytes(m.id, m.body);
    cost.messages++;
    cost.readings += m.count;
    cost.bytes += bytes;
    cost.chunks += Math.ceil(bytes / CHUNK);
    box.acknowledge(m.id);
    return true;
  };
  const due = (now: number) => {
    const p = box.pending('telemetry');
    return p.records > 0 && (p.bytes >= MAX_BYTES * 0.9 || now - (p.oldestAt ?? now) >= BATCH_DELAY_MS);
  };
  for (const b of batches) {
    while (due(b.at)) pack(b.at);
    box.append(b.records, b.at);
  }
  while (pack(Number.MAX_SAFE_INTEGER));
  box.close();
  return cost;
}

const batches: { at: number; records: OutboxRecord[] }[] = [];
const at = (e: DriverEvent) => (e.kind === 'device-status' ? e.at : e.receivedAt);
await generateWard({ beds, seed: 21, waveforms: false }, minutes * 60, undefined, (events) => {
  const records = events.map((e) => toRecord(e, false)).filter((r): r is OutboxRecord => r !== null && r.stream === 'telemetry');
  if (records.length) batches.push({ at: at(events[0]!), records });
});
const seconds = minutes * 60;
const readings = batches.reduce((n, b) => n + b.records.length, 0);
// Baseline: every reading its own message (a v1 body with one record).
let oneChunks = 0;
let oneBytes = 0;
const single = envelope(GATEWAY, 'records');
for (const b of batches) {
  for (const r of b.records) {
    const bytes = messageBytes('xxxxxxxx-t-000000', single('xxxxxxxx-t-000000', 'telemetry', [r.body]));
    oneBytes += bytes;
    oneChunks += Math.ceil(bytes / CHUNK);
  }
}
const costs = { records: replay(batches, 'records'), compact: replay(batches, 'compact') };
const rows = [
  { encoding: 'one message per reading (baseline)', messages: readings, chunks: oneChunks, bytes: oneBytes, packMs: 0 },
  ...(['records', 'compact'] as const).map((e) => ({ encoding: `${e} (${e === 'records' ? 'schema 1, default' : 'schema 2, opt-in'})`, ...costs[e] })),
].map((c) => ({
  encoding: c.encoding,
  'readings/chunk': round(readings / c.chunks),
  'bytes/reading': round(c.bytes / readings),
  'messages/s': round(c.messages / seconds),
  'chunks/s': round(c.chunks / seconds),
  'chunks/day': Math.round((c.chunks / seconds) * 86400),
  'S1 units': round((c.chunks / seconds) * 86400 / S1_DAILY, 2),
  'pack µs/reading': round((c.packMs * 1000) / readings),
}));
console.log(`${beds} beds, ${minutes} simulated minutes, ${readings} telemetry records (${round(readings / seconds)}/s), batchDelayMs ${BATCH_DELAY_MS}, maxMessageBytes ${MAX_BYTES}`);
console.table(rows);

const perChunk = (c: { chunks: number }) => readings / c.chunks;
const figures: Figure[] = (['records', 'compact'] as const).map((e) => ({
  bench: 'wire cost',
  measure: `${beds}-bed ward, ${e} encoding: readings per 4 KB chunk`,
  value: round(perChunk(costs[e])),
  unit: 'readings/chunk',
  baseline: { label: 'one message per reading', value: round(perChunk({ chunks: oneChunks })) },
  target: { text: '≥ 40 readings per 4 KB chunk', met: perChunk(costs[e]) >= 40 },
  note: `${round(costs[e].messages / seconds)} messages/s (baseline ${round(readings / seconds)}), ${round(costs[e].chunks / seconds)} chunks/s = ${round((costs[e].chunks / seconds) * 86400 / S1_DAILY, 2)} S1 units`,
}));
figures.push({
  bench: 'wire cost',
  measure: `${beds}-bed ward: messages/s at default batching`,
  value: round(costs.records.messages / seconds),
  unit: 'messages/s',
  lowerIsBetter: true,
  baseline: { label: 'one message per reading', value: round(readings / seconds) },
  note: 'both encodings pack the same records per message (the size budget is counted in schema 1)',
});
emitFigures(figures);
