// The gateway's rhythm check (agent/alarms/rhythm.ts) over PhysioNet 2015 alarm windows: each 30 s window is streamed
// into the monitor as 1 s segments (ECG lead II, or the first lead; pleth when there is one), as a device would stream
// it, and what is present at the window's end (the monitor's alarm onset) is compared with the monitor's alarm type and
// the experts' label. Also its CPU cost per judgement (one per second of ECG per bed), against decoding the same
// segments (the baseline every consumer of the stream pays). An evaluation, not a test: the figures go in the README.
//   npx tsx bench/rhythm.ts [records dir, default: the shared corpus if present, else models/fixtures/records] [--pulse-veto]
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RHYTHM_CONFIG, RhythmMonitor, type RhythmType } from '../agent/alarms/rhythm.js';
import { MDC, UNITS } from '../agent/model/mdc.js';
import type { MdcCode, WaveformSegment } from '../agent/model/reading.js';
import { listRecords, readRecord } from '../models/records.js';
import { emitFigures, round } from './lib/figures.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const corpus = join(root, '..', 'shared', 'corpus', 'physionet-2015-false-alarms', 'windows-30s');
const pulseVeto = process.argv.includes('--pulse-veto');
const dir = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? (existsSync(corpus) ? corpus : join(root, 'models', 'fixtures', 'records'));
const T0 = Date.UTC(2026, 0, 1);
const SAME: Record<string, RhythmType> = { Asystole: 'asystole', Bradycardia: 'brady', Tachycardia: 'tachy' };
const LEADS: Record<string, MdcCode> = { II: MDC.ECG_ELEC_POTL_II, I: MDC.ECG_ELEC_POTL_I, III: MDC.ECG_ELEC_POTL_III };

interface Row {
  type: string;
  windows: number;
  /** The same alarm present at the window's end, in true / false alarm windows. */
  trueAtEnd: string;
  falseAtEnd: string;
  /** The same alarm raised at any time in the window. */
  trueEver: string;
  falseEver: string;
  /** Windows in which another of its alarms was raised at any time. */
  otherTypeEver: number;
}

type Tally = [windows: number, atEnd: number, ever: number];
const rows = new Map<string, { n: number; t: Tally; f: Tally; other: number }>();
let judgeMs = 0;
let baselineMs = 0;
let judgements = 0;
/** Windows the experts judged false, and those in which it raised another of its alarms at some time. */
let falseWindows = 0;
let falseWithOther = 0;
for (const name of listRecords(dir)) {
  const rec = readRecord(dir, name);
  const ecg = rec.channels.find((c) => c.name in LEADS) ?? rec.channels.find((c) => !['PLETH', 'ABP', 'RESP'].includes(c.name));
  if (!ecg) continue;
  const pleth = rec.channels.find((c) => c.name === 'PLETH');
  const fs = ecg.sampleRateHz;
  const segment = (mdc: MdcCode, x: Float32Array, s: number, unit: { ucum: string }): WaveformSegment => {
    const part = Array.from(x.subarray(s * fs, (s + 1) * fs));
    const bad = part.some((v) => !Number.isFinite(v));
    return {
      kind: 'waveform', deviceId: 'd', bed: 'b', source: 'bench', mdc, unit, startTime: T0 + s * 1000, sampleRateHz: fs,
      samples: bad ? part.map((v) => (Number.isFinite(v) ? v : 0)) : part, receivedAt: T0 + s * 1000 + 1000, quality: { state: bad ? 'invalid' : 'valid' },
    };
  };
  const m = new RhythmMonitor({ ...DEFAULT_RHYTHM_CONFIG, enabled: true, pulseVeto });
  const present = new Set<string>();
  const ever = new Set<string>();
  for (let s = 0; (s + 1) * fs <= ecg.samples.length; s++) {
    const b0 = performance.now();
    const p = pleth && segment(MDC.PULS_OXIM_PLETH, pleth.samples, s, { ucum: '{ratio}' });
    const e = segment(LEADS[ecg.name] ?? MDC.ECG_ELEC_POTL_II, ecg.samples, s, UNITS.MILLI_VOLT);
    baselineMs += performance.now() - b0;
    const t0 = performance.now();
    if (p) m.waveform(p);
    const updates = m.waveform(e);
    judgeMs += performance.now() - t0;
    judgements += 1;
    for (const u of updates) {
      if (u.present) {
        present.add(u.spec.key.split(':').at(-1)!);
        ever.add(u.spec.key.split(':').at(-1)!);
      }
      else present.delete(u.key.split(':').at(-1)!);
    }
  }
  const r = rows.get(rec.alarmType) ?? { n: 0, t: [0, 0, 0], f: [0, 0, 0], other: 0 };
  rows.set(rec.alarmType, r);
  r.n += 1;
  const same = SAME[rec.alarmType];
  const tally = rec.trueAlarm ? r.t : r.f;
  tally[0] += 1;
  if (same !== undefined && present.has(same)) tally[1] += 1;
  if (same !== undefined && ever.has(same)) tally[2] += 1;
  const other = [...ever].some((t) => t !== same);
  if (other) r.other += 1;
  if (rec.trueAlarm === false) {
    falseWindows += 1;
    if (other) falseWithOther += 1;
  }
}
const table: Row[] = [...rows].map(([type, r]) => ({
  type,
  windows: r.n,
  trueAtEnd: `${r.t[1]} of ${r.t[0]}`,
  falseAtEnd: `${r.f[1]} of ${r.f[0]}`,
  trueEver: `${r.t[2]} of ${r.t[0]}`,
  falseEver: `${r.f[2]} of ${r.f[0]}`,
  otherTypeEver: r.other,
}));
console.log(`rhythm check${pulseVeto ? ' (pulseVeto)' : ''} over ${dir} (node ${process.version}): the same alarm present at the window's end (the monitor's alarm onset), and raised at any time in it`);
console.table(table);
console.log(`windows the experts judged false with another of its alarms raised at some time: ${falseWithOther} of ${falseWindows}`);
console.log(`CPU per judgement (1 s of ECG and pleth of one bed): ${(judgeMs / judgements).toFixed(3)} ms; baseline, building the segments: ${(baselineMs / judgements).toFixed(3)} ms (${judgements} judgements)`);
// For bench/run.ts's table: the CPU figure against its baseline; the detection counts are in the table above.
emitFigures([
  {
    bench: 'rhythm',
    measure: 'rhythm check CPU per judgement (1 s of ECG and pleth of one bed)',
    value: round(judgeMs / judgements),
    unit: 'ms',
    lowerIsBetter: true,
    baseline: { label: 'building the same segments', value: round(baselineMs / judgements) },
    note: `${judgements} judgements over ${dir}; at the window's end, true / false alarms: ${table.map((r) => `${r.type} ${r.trueAtEnd} / ${r.falseAtEnd}`).join(', ')}`,
  },
]);
