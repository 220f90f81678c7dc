// Wire cost: what a 32-bed ward costs at IoT Hub, which meters device-to-cloud messages in 4 KB chunks (a 6 KB
// message counts as 2 against the daily quota; S1 allows 400,000 per unit per day). The simulated ward's records
// are packed by the real outbox and envelopes exactly as the forwarder does at the default batching
// (hub.batchDelayMs 1000, hub.maxMessageBytes 64 KB, waveforms not forwarded), once per encoding, against one
// message per reading (the baseline). Message size = body + the properties sent with it (message id, content type
// and encoding, kind, schemaVersion, gatewayId), as they travel in the MQTT topic. Each encoding is measured plain
// and gzipped (hub.compression gzip: the gzip of the JSON as the forwarder makes it, schemaVersion `1-gzip`, no
// content type and encoding).
// A message under 4 KB is one chunk, so for an encoding whose 1-s messages stay under 4 KB (gzip at 4 to 32 beds,
// compact at 4 and 8 but not 32) readings per chunk is the ward's readings per batch, readings/s × batchDelayMs: it
// grows with the ward, not the encoding (4 beds: ~20; review rv193 M2). The output names those encodings and the
// batching a ward of --beds needs for 40.
//   npx tsx bench/wire-cost.ts [--beds 32] [--minutes 10]
import { gzipSync } from 'node:zlib';
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


type Compression = 'none' | 'gzip';

function messageBytes(id: string, body: string, sentBytes: number, compression: Compression): number {
  const content = compression === 'gzip' ? {} : { '$.ct': 'application/json', '$.ce': 'utf-8' };
  const props = { ...messageProperties('telemetry', GATEWAY, body, compression === 'gzip'), '$.mid': id, ...content };
  const bag = Object.entries(props).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return sentBytes + Buffer.byteLength(bag);
}

interface Cost {
  readings: number;
  messages: number;
  chunks: number;
  bytes: number;
  packMs: number;
  gzipMs: number;
}

/** Replays the ward through an outbox, packing telemetry when the forwarder would. */
function replay(batches: { at: number; records: OutboxRecord[] }[], encoding: Encoding, compression: Compression): Cost {
  const box = new Outbox(':memory:', { retainAckedMs: 0 });
  const wrap = envelope(GATEWAY, encoding);
  const cost: Cost = { readings: 0, messages: 0, chunks: 0, bytes: 0, packMs: 0, gzipMs: 0 };
  const pack = (now: number) => {
    const t = performance.now();
    const m = box.pack('telemetry', MAX_BYTES, wrap, now);
    cost.packMs += performance.now() - t;
    if (!m) return false;
    let sent = Buffer.byteLength(m.body);
    if (compression === 'gzip') {
      const g = performance.now();
      sent = gzipSync(m.body).length;
      cost.gzipMs += performance.now() - g;
    }
    const bytes = messageBytes(m.id, m.body, sent, compression);
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
    const body = single('xxxxxxxx-t-000000', 'telemetry', [r.body]);
    const bytes = messageBytes('xxxxxxxx-t-000000', body, Buffer.byteLength(body), 'none');
    oneBytes += bytes;
    oneChunks += Math.ceil(bytes / CHUNK);
  }
}
const VARIANTS = [
  { key: 'records', encoding: 'records', compression: 'none', label: 'records (schema 1, default)' },
  { key: 'compact', encoding: 'compact', compression: 'none', label: 'compact (schema 2, opt-in)' },
  { key: 'records+gzip', encoding: 'records', compression: 'gzip', label: 'records, gzip (opt-in)' },
  { key: 'compact+gzip', encoding: 'compact', compression: 'gzip', label: 'compact, gzip (opt-in)' },
] as const;
const costs = Object.fromEntries(VARIANTS.map((v) => [v.key, replay(batches, v.encoding, v.compression)])) as Record<(typeof VARIANTS)[number]['key'], Cost>;
const rows = [
  { encoding: 'one message per reading (baseline)', messages: readings, chunks: oneChunks, bytes: oneBytes, packMs: 0, gzipMs: 0 },
  ...VARIANTS.map((v) => ({ ...costs[v.key], encoding: v.label })),
].map((c) => ({
  encoding: c.encoding,
  'readings/chunk': round(readings / c.chunks),
  'readings/message': round(readings / c.messages),
  'bytes/reading': round(c.bytes / readings),
  'messages/s': round(c.messages / seconds),
  'chunks/s': round(c.chunks / seconds),
  'chunks/day': Math.round((c.chunks / seconds) * 86400),
  'S1 units': round((c.chunks / seconds) * 86400 / S1_DAILY, 2),
  'pack µs/reading': round((c.packMs * 1000) / readings),
  'gzip µs/reading': round((c.gzipMs * 1000) / readings),
}));
console.log(`${beds} beds, ${minutes} simulated minutes, ${readings} telemetry records (${round(readings / seconds)}/s), batchDelayMs ${BATCH_DELAY_MS}, maxMessageBytes ${MAX_BYTES}`);
console.table(rows);
const TARGET = 40;
const perSecond = readings / seconds;
const oneChunk = VARIANTS.filter((v) => costs[v.key].chunks === costs[v.key].messages).map((v) => v.key);
if (oneChunk.length > 0)
  console.log(
    `Each message one chunk (under ${CHUNK} B) for ${oneChunk.join(', ')}: readings per chunk = readings per message ≈ ${round(perSecond)} readings/s × ` +
      `batchDelayMs ${BATCH_DELAY_MS}, set by the ward's size, not the encoding.` +
      (perSecond * (BATCH_DELAY_MS / 1000) < TARGET
        ? ` For ${TARGET} per chunk this ward needs hub.batchDelayMs ≥ ${Math.ceil((TARGET / perSecond) * 1000)} (while its messages stay under ${CHUNK} B).`
        : ''),
  );

const perChunk = (c: { chunks: number }) => readings / c.chunks;
const figures: Figure[] = VARIANTS.map(({ key, label }) => ({
  bench: 'wire cost',
  measure: `${beds}-bed ward, ${label}: readings per 4 KB chunk`,
  value: round(perChunk(costs[key])),
  unit: 'readings/chunk',
  baseline: { label: 'one message per reading', value: round(perChunk({ chunks: oneChunks })) },
  target: { text: '≥ 40 readings per 4 KB chunk', met: perChunk(costs[key]) >= 40 },
  note: `${round(costs[key].messages / seconds)} messages/s (baseline ${round(readings / seconds)}), ${round(costs[key].chunks / seconds)} chunks/s = ${round((costs[key].chunks / seconds) * 86400 / S1_DAILY, 2)} S1 units`,
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
