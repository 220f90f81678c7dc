// HL7 parse + map throughput: our strict parser + PCD mapper vs. the npm `hl7v2` parser (panates)
// on the same inputs in the same run. Prints a table. Run: npx tsx bench/hl7-parse.ts [--seconds 1]
//
// Baseline choice: `hl7v2` decodes escapes and is dictionary-driven, the closest like-for-like
// npm parser. (@medplum/core was tried first: its ESM bundle needs a global WebSocket at import
// and fails on Node 20, which the project supports.) The baseline only parses and reads every
// OBX-5; it does no PCD mapping, so its numbers are an upper bound for "parse + read".
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HL7Message } from 'hl7v2';
import { mapMessage } from '../drivers/hl7/pcd01.js';
import { parseFrame, readHeader } from '../drivers/hl7/protocol/index.js';
import { initialBeds, pcd01Message, rng, step } from '../drivers/hl7/ward.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' } } });
const budgetMs = Number(values.seconds) * 1000;
const CORPUS = join(import.meta.dirname, '../../shared/corpus/hl7');

interface Result {
  messages: number;
  readings: number;
  ms: number;
  failed: number;
}

function time(inputs: Buffer[], fn: (b: Buffer) => number): Result {
  for (let i = 0; i < Math.min(inputs.length, 50); i++) {
    try {
      fn(inputs[i]!); // warm-up
    } catch {
      /* counted in the timed loop */
    }
  }
  let messages = 0;
  let readings = 0;
  let failed = 0;
  const start = performance.now();
  while (performance.now() - start < budgetMs) {
    for (const b of inputs) {
      try {
        readings += fn(b);
      } catch {
        failed++;
      }
      messages++;
    }
  }
  return { messages, readings, ms: performance.now() - start, failed };
}

function ours(b: Buffer): number {
  const f = parseFrame(b);
  if (f.kind !== 'message') return 0;
  let h;
  try {
    h = readHeader(f.message);
    return mapMessage(f.message, h, { source: 'bench', receivedAt: 0 }).events.length;
  } catch {
    return 0; // not a PCD message: parsed, nothing to map
  }
}

function baseline(b: Buffer): number {
  const m = HL7Message.parse(b.toString('utf8'));
  let n = 0;
  for (const s of m.segments) {
    if (s.segmentType !== 'OBX') continue;
    if (s.field(5).getValue() != null) n++;
  }
  return n;
}

const rand = rng(7);
const beds = initialBeds(32, rand);
const ward: Buffer[] = [];
for (let r = 0; r < 8; r++) for (const bed of beds) {
  step(bed, rand);
  ward.push(Buffer.from(pcd01Message(bed, `B${bed.bed}R${r}`, Date.UTC(2024, 0, 1) + r * 1000), 'utf8'));
}
const sets: Array<[string, Buffer[]]> = [['ward (32 beds, 9 OBX + pleth)', ward]];
if (existsSync(CORPUS)) sets.unshift(['shared corpus (all files)', readdirSync(CORPUS).filter((f) => f.endsWith('.hl7')).sort().map((f) => readFileSync(join(CORPUS, f)))]);
else console.log(`(corpus ${CORPUS} absent: ward traffic only)`);

const rows: string[][] = [['input', 'parser', 'msgs/s', 'readings/s', 'rejected', 'ratio']];
for (const [name, inputs] of sets) {
  const a = time(inputs, ours);
  const b = time(inputs, baseline);
  const rate = (r: Result, x: number): number => (x * 1000) / r.ms;
  rows.push([name, 'ours (parse+map)', rate(a, a.messages).toFixed(0), rate(a, a.readings).toFixed(0), String(a.failed), (rate(a, a.messages) / rate(b, b.messages)).toFixed(2) + 'x']);
  rows.push([name, 'hl7v2 1.8 (parse+OBX-5)', rate(b, b.messages).toFixed(0), rate(b, b.readings).toFixed(0) + ' (OBX-5)', String(b.failed), '1.00x']);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
