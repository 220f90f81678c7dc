// Runs every benchmark, each in its own process, and prints one table: each figure beside a ceiling or baseline
// measured in the same run on the same machine, their ratio, the issue's target (issue 8; the edge model's: issue 11) and whether it is met.
//   npm run bench                 quick run (a few minutes; the memory run and the soak are short and say so)
//   npm run bench -- --full       full run (10-minute memory runs at 32 and 128 beds, a 60-minute soak, longer runs)
//   npm run bench -- --only ingest,wire-cost      a subset (names as in BENCHES below)
//   npm run bench -- --markdown   the table as Markdown (for the README)
// Benchmarks are never tests: nothing here fails a build. A benchmark that crashes is reported as such.
import { spawn } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../agent/paths.js';
import { arg, flag, JSON_PREFIX, round, type Figure } from './lib/figures.js';

const full = flag('full');
const markdown = flag('markdown');
const only = arg('only', '').split(',').filter(Boolean);

interface Bench {
  name: string;
  file: string;
  args: string[];
  /** For benchmarks that print tables rather than figures: turns their output into figures. */
  parse?: (stdout: string) => Figure[];
}

/** The rows of every console.table in a text, as records of column → cell text. */
export function consoleTables(text: string): Record<string, string>[][] {
  const tables: Record<string, string>[][] = [];
  let header: string[] | null = null;
  let rows: Record<string, string>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('│')) {
      if (header && line.startsWith('└')) {
        tables.push(rows);
        header = null;
        rows = [];
      }
      continue;
    }
    const cells = line.split('│').slice(1, -1).map((c) => c.trim().replace(/^'(.*)'$/, '$1'));
    if (!header) header = cells;
    else rows.push(Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ''])));
  }
  return tables;
}

const num = (s: string | undefined): number => Number(String(s ?? '').replace(/[^0-9.eE+-]/g, ''));

function parseAlarmLatency(out: string): Figure[] {
  const rows = consoleTables(out)[0] ?? [];
  const base = rows.find((r) => r.scenario?.startsWith('bare SSE'));
  // Too few samples for a p99 (the bench prints '-'): the max is the figure, and the target is judged on it (stricter).
  const worst = (r: Record<string, string>) => {
    const p99 = num(r['p99 ms']);
    return Number.isNaN(p99) ? { label: `max of ${r.samples}`, value: num(r['max ms']) } : { label: 'p99', value: p99 };
  };
  return rows
    .filter((r) => r !== base)
    .map((r) => {
      const w = worst(r);
      return {
        bench: 'latency',
        measure: `${r.beds} beds, ${w.label}: ingest.accept → alarm at a display client, driver parsing not included (p50 ${r['p50 ms']} ms)`,
        value: w.value,
        unit: 'ms',
        lowerIsBetter: true,
        ...(base && { baseline: { label: `bare SSE push ${worst(base).label}, same run`, value: worst(base).value } }),
        ...(r.beds === '128' && { target: { text: `p99 < 50 ms at 128 beds${w.label === 'p99' ? '' : ` (judged on the ${w.label})`}`, met: w.value < 50 } }),
        note: `${r['events/s']} events/s; commit p50 ${r['commit p50 ms']} ms`,
      };
    });
}

function parseHl7(out: string): Figure[] {
  // A plain table: input, parser, msgs/s, readings/s, rejected, ratio.
  const lines = out.split('\n').filter((l) => /\s(ours|hl7v2)/.test(l));
  const figures: Figure[] = [];
  for (const l of lines.filter((x) => x.includes('ours'))) {
    const input = l.split(/\s{2,}/)[0]!;
    const base = lines.find((x) => x.startsWith(input) && x.includes('hl7v2'));
    const cols = (x: string) => x.split(/\s{2,}/);
    figures.push({
      bench: 'drivers',
      measure: `HL7 PCD-01 parse + map (${input}): messages/s`,
      value: num(cols(l)[2]),
      unit: 'msgs/s',
      ...(base && { baseline: { label: 'npm hl7v2 parse + OBX-5 read', value: num(cols(base)[2]) } }),
    });
  }
  return figures;
}

function parseModbus(out: string): Figure[] {
  const rows = consoleTables(out)[0] ?? [];
  const bare = (c: string) => rows.find((r) => r.scenario?.startsWith('baseline') && r.connections === c);
  return rows
    .filter((r) => r.scenario?.startsWith('driver'))
    .map((r) => {
      const b = bare(r.connections ?? '');
      return {
        bench: 'drivers',
        measure: `Modbus TCP ${r.scenario}: readings/s`,
        value: num(r['readings/s']),
        unit: 'readings/s',
        ...(b && { baseline: { label: `bare modbus-serial loop, ${r.connections} connection(s)`, value: num(b['readings/s']) } }),
      };
    });
}

function parseIntellivue(out: string): Figure[] {
  const rows = consoleTables(out)[0] ?? [];
  const base = rows.find((r) => r.stage?.startsWith('baseline'));
  return rows
    .filter((r) => r !== base && r.stage?.includes('readings'))
    .map((r) => ({
      bench: 'drivers',
      measure: `IntelliVue ${r.stage}: MB/s (${r['readings/s']} readings/s)`,
      value: num(r['MB/s']),
      unit: 'MB/s',
      // A floor, not a competing parser: the ratio is the share of a byte copy's speed the parser keeps.
      ...(base && { baseline: { label: 'copying the same bytes (a floor, not a parser)', value: num(base['MB/s']) } }),
    }));
}

function parseModel(out: string): Figure[] {
  const rows = consoleTables(out)[0] ?? [];
  const base = rows.find((r) => r.scenario?.startsWith('baseline'));
  const all = rows.find((r) => r.scenario?.startsWith('assess()'));
  const features = rows.find((r) => r.scenario?.trim() === 'features  all');
  const inference = rows.find((r) => r.scenario?.startsWith('inference all'));
  const warm = rows.find((r) => r.scenario?.startsWith('inference back to back'));
  if (!all) return [];
  /** A p99 figure of one row, in ms, judged against `below` when given. */
  const p99 = (r: Record<string, string>, measure: string, target?: { text: string; below: number }): Figure => ({
    bench: 'edge model',
    measure: `${measure}: p99 (p50 ${r['p50 ms']} ms)`,
    value: num(r['p99 ms']),
    unit: 'ms',
    lowerIsBetter: true,
    ...(target && { target: { text: target.text, met: num(r['p99 ms']) < target.below } }),
  });
  const inferenceTarget = { text: 'inference p99 < 2 ms', below: 2 };
  // "Well under 50 ms" is judged with a margin, p99 < 25 ms: a p99 just under 50 on one run leaves nothing for the
  // ingest, display and other beds' work that share the gateway's CPU (review rv193: p99 43 ms under a CI run, 9.4 ms on an idle machine).
  const featuresTarget = { text: 'well under 50 ms per window (judged: p99 < 25 ms)', below: 25 };
  return [
    ...(features ? [p99(features, 'feature extraction per 30 s window', featuresTarget)] : []),
    ...(inference ? [p99(inference, 'inference (session.run) right after each window\'s feature extraction', inferenceTarget)] : []),
    ...(warm ? [p99(warm, 'inference (session.run) back to back, warm', inferenceTarget)] : []),
    {
      ...p99(all, 'assess() per alarm window (features + inference)'),
      ...(base && { baseline: { label: 'reading + decoding the window p99', value: num(base['p99 ms']) } }),
    },
  ];
}

const BENCHES: Bench[] = [
  { name: 'ingest', file: 'ingest.ts', args: full ? ['--seconds', '120', '--flood-seconds', '300', '--repeat', '5'] : ['--seconds', '120', '--flood-seconds', '120', '--repeat', '5'] },
  { name: 'end-to-end', file: 'end-to-end.ts', args: ['--seconds', full ? '30' : '8'] },
  { name: 'wire-cost', file: 'wire-cost.ts', args: ['--minutes', full ? '60' : '10'] },
  // 20 s per scenario give 200 samples, enough for a p99; the quick run's 3 s give 30, reported as their max.
  { name: 'latency', file: 'alarm-latency.ts', args: [full ? '20' : '3'], parse: parseAlarmLatency },
  {
    name: 'drain',
    file: 'drain.ts',
    // The quick run drains a 15-minute outage (a quarter of the backlog; rates are what matter).
    args: full ? ['--outage-min', '60', '--encoding', 'records'] : ['--outage-min', '15'],
  },
  { name: 'memory', file: 'memory.ts', args: full ? ['--minutes', '10', '--soak-minutes', '60'] : ['--minutes', '1', '--soak-minutes', '2'] },
  { name: 'hl7', file: 'hl7-parse.ts', args: ['--seconds', '1'], parse: parseHl7 },
  { name: 'modbus', file: 'modbus-poll.ts', args: [full ? '2' : '1'], parse: parseModbus },
  { name: 'intellivue', file: 'intellivue-parse.ts', args: ['1'], parse: parseIntellivue },
  { name: 'model', file: 'model.ts', args: [], parse: parseModel },
  { name: 'model-live', file: 'model-live.ts', args: ['--rounds', full ? '10' : '3'] },
  { name: 'rhythm', file: 'rhythm.ts', args: [] },
];

function runBench(b: Bench): Promise<{ figures: Figure[]; error: string | null; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    // --expose-gc: benchmarks that compare runs start each from a clean heap.
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(PACKAGE_ROOT, 'bench', b.file), ...b.args], {
      cwd: PACKAGE_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      for (const line of d.split('\n')) if (line && !line.startsWith(JSON_PREFIX)) process.stderr.write(`  [${b.name}] ${line}\n`);
    });
    const limit = setTimeout(() => child.kill('SIGKILL'), (full ? 150 : 15) * 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      const ms = performance.now() - t0;
      let figures: Figure[] = [];
      try {
        const line = out.split('\n').find((l) => l.startsWith(JSON_PREFIX));
        figures = line ? (JSON.parse(line.slice(JSON_PREFIX.length)) as Figure[]) : (b.parse?.(out) ?? []);
      } catch (err) {
        return resolve({ figures, error: `output not understood: ${(err as Error).message}`, ms });
      }
      const error = code === 0 ? (figures.length ? null : 'no figures') : `exited with ${signal ?? code}`;
      resolve({ figures, error, ms });
    });
  });
}

function fmt(x: number): string {
  const r = round(x, 3);
  return Math.abs(r) >= 10_000 ? r.toLocaleString('en-US') : String(r);
}

function table(rows: string[][]): string {
  if (markdown) {
    const [head, ...body] = rows;
    return [head!, head!.map(() => '---'), ...body].map((r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`).join('\n');
  }
  const widths = rows[0]!.map((_, i) => Math.min(70, Math.max(...rows.map((r) => r[i]!.length))));
  return rows.map((r) => r.map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

const selected = BENCHES.filter((b) => only.length === 0 || only.includes(b.name));
const load0 = loadavg();
const started = new Date();
const results: { bench: Bench; figures: Figure[]; error: string | null; ms: number }[] = [];
for (const b of selected) {
  process.stderr.write(`\n▶ ${b.name} (bench/${b.file} ${b.args.join(' ')})\n`);
  results.push({ bench: b, ...(await runBench(b)) });
}
const load1 = loadavg();

const rows: string[][] = [['benchmark', 'figure', 'value', 'ceiling / baseline (same run)', 'ratio', 'target (issue 8 or 11)', 'met']];
const notes: string[] = [];
for (const r of results) {
  if (r.error) rows.push([r.bench.name, `FAILED: ${r.error}`, '', '', '', '', '']);
  for (const f of r.figures) {
    const ratio = f.baseline && f.baseline.value ? `${fmt(f.value / f.baseline.value)}×` : '';
    rows.push([
      f.bench,
      f.measure,
      `${fmt(f.value)} ${f.unit}`,
      f.baseline ? `${fmt(f.baseline.value)} ${f.baseline.unit ?? f.unit} (${f.baseline.label})` : '',
      ratio,
      f.target?.text ?? '',
      f.target ? (f.target.met === null ? 'n/a' : f.target.met ? 'yes' : 'NO') : '',
    ]);
    if (f.note) notes.push(`${f.bench} — ${f.measure}: ${f.note}`);
  }
}
const cpu = cpus();
console.log(
  `\nBenchmarks (${full ? 'full' : 'quick'} run), ${started.toISOString()}: node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? '?'}, ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB; load average ${load0.map((l) => l.toFixed(1)).join(' ')} at start, ${load1.map((l) => l.toFixed(1)).join(' ')} at end; ` +
    `${Math.round(results.reduce((a, r) => a + r.ms, 0) / 1000)} s\n`,
);
console.log(table(rows));
console.log(`\nNotes:\n${notes.map((n) => `- ${n}`).join('\n')}`);
