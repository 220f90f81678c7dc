// Long fuzz run of every framer and parser that reads untrusted input (on demand, not in CI):
//
//   npx tsx scripts/fuzz.ts                      # 1,000,000 inputs per target, all targets
//   npx tsx scripts/fuzz.ts --inputs 50000 --targets hl7-mllp,config --seed 7
//
// Each target runs in its own worker thread with a heap cap (bounded memory: exceeding it is a finding), a
// per-input time limit (slower inputs are listed), and a watchdog: an input that does not finish within
// --hang-ms is a hang — the worker is stopped and the input is written out. The property checked: arbitrary
// input gives a result or the module's own error, never another exception, a hang or unbounded growth.
// Exit code 0 when no target has a finding.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { allTargets } from './fuzz/targets.js';
import type { WorkerInput, WorkerResult } from './fuzz/worker.js';

const { values: args } = parseArgs({
  options: {
    inputs: { type: 'string', default: '1000000' },
    targets: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'slow-ms': { type: 'string', default: '100' },
    'hang-ms': { type: 'string', default: '10000' },
    'heap-mb': { type: 'string', default: '256' },
    parallel: { type: 'string', default: String(availableParallelism()) },
    out: { type: 'string', default: join(tmpdir(), 'fuzz-findings') },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`Usage: npx tsx scripts/fuzz.ts [--inputs 1000000] [--targets a,b] [--seed 1] [--slow-ms 100]
       [--hang-ms 10000] [--heap-mb 256] [--parallel n] [--out dir]
Findings (exceptions, slow inputs, hangs, heap exhaustion) are written to --out as JSON with the input in hex.
`);
  process.exit(0);
}

const BOOT = new URL('./fuzz/boot.mjs', import.meta.url);
const MAX_SHARED = 1 << 20;

interface Outcome {
  result?: WorkerResult;
  failure?: string;
  hangInput?: string;
}

function runTarget(name: string): Promise<Outcome> {
  const shared = new SharedArrayBuffer(12 + MAX_SHARED);
  const meta = new Int32Array(shared, 0, 3);
  const bytes = new Uint8Array(shared, 12, MAX_SHARED);
  const data: WorkerInput = { target: name, inputs: Number(args.inputs), seed: Number(args.seed), slowMs: Number(args['slow-ms']), shared, maxShared: MAX_SHARED };
  const worker = new Worker(BOOT, {
    workerData: data,
    resourceLimits: { maxOldGenerationSizeMb: Number(args['heap-mb']) },
  });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      void worker.terminate();
      resolve(o);
    };
    // Watchdog: the same input index running for longer than --hang-ms is a hang.
    let lastIndex = -2;
    let since = Date.now();
    let lastDone = 0;
    const watch = setInterval(() => {
      const running = Atomics.load(meta, 1);
      const done = Atomics.load(meta, 0);
      if (running !== lastIndex || done !== lastDone) {
        lastIndex = running;
        lastDone = done;
        since = Date.now();
        return;
      }
      if (running >= 0 && Date.now() - since > Number(args['hang-ms'])) {
        const len = Math.min(Atomics.load(meta, 2), MAX_SHARED);
        finish({ failure: `hang: input #${running} did not finish within ${args['hang-ms']} ms`, hangInput: Buffer.from(bytes.subarray(0, len)).toString('hex') });
      }
    }, 250);
    worker.on('message', (m: WorkerResult | { crashed: string }) => {
      if ('crashed' in m) finish({ failure: `crashed at input #${Atomics.load(meta, 1)}: ${m.crashed}`, hangInput: Buffer.from(bytes.subarray(0, Math.min(Atomics.load(meta, 2), MAX_SHARED))).toString('hex') });
      else finish({ result: m });
    });
    worker.on('error', (err) => finish({ failure: `worker error at input #${Atomics.load(meta, 1)} (${(err as NodeJS.ErrnoException).code ?? err.name}): ${err.message}` }));
    worker.on('exit', (code) => finish({ failure: `worker exited with ${code} at input #${Atomics.load(meta, 1)}` }));
  });
}

async function main(): Promise<number> {
  const { targets, skipped } = await allTargets();
  const wanted = args.targets ? args.targets.split(',') : targets.map((t) => t.name);
  const queue = targets.filter((t) => wanted.includes(t.name));
  const unknown = wanted.filter((w) => !targets.some((t) => t.name === w));
  if (unknown.length) {
    process.stderr.write(`unknown target(s): ${unknown.join(', ')}; available: ${targets.map((t) => t.name).join(', ')}\n`);
    return 2;
  }
  process.stdout.write(`fuzz: ${args.inputs} inputs per target, seed ${args.seed}, ${args.parallel} in parallel, heap cap ${args['heap-mb']} MB, slow > ${args['slow-ms']} ms, hang > ${args['hang-ms']} ms\n`);
  for (const s of skipped) process.stdout.write(`skipped: ${s}\n`);
  const started = Date.now();
  const outcomes = new Map<string, Outcome>();
  const pending = [...queue];
  await Promise.all(
    Array.from({ length: Math.max(1, Number(args.parallel)) }, async () => {
      for (let t = pending.shift(); t; t = pending.shift()) {
        const o = await runTarget(t.name);
        outcomes.set(t.name, o);
        const r = o.result;
        process.stdout.write(
          r
            ? `  ${t.name}: ${r.inputs} inputs in ${(r.elapsedMs / 1000).toFixed(1)} s (${Math.round(r.inputs / (r.elapsedMs / 1000))}/s), ${r.exceptions} exceptions, ${r.slow} slow (${r.slowConfirmed} confirmed when re-timed alone)\n`
            : `  ${t.name}: FAILED: ${o.failure?.split('\n')[0]}\n`,
        );
      }
    }),
  );

  let bad = 0;
  const rows: string[] = [];
  rows.push('');
  rows.push('target          inputs     inputs/s  exceptions  slow (confirmed)  max ms  heap MB start/peak/end  rss peak  held max');
  for (const t of queue) {
    const o = outcomes.get(t.name)!;
    const r = o.result;
    if (!r) {
      bad++;
      rows.push(`${t.name.padEnd(15)} FAILED: ${o.failure}`);
      continue;
    }
    const heapGrew = r.heapEndMb - r.heapStartMb > 64;
    if (r.exceptions || r.slowConfirmed || heapGrew || r.findings.some((f) => f.kind === 'unbounded')) bad++;
    rows.push(
      `${t.name.padEnd(15)} ${String(r.inputs).padStart(8)} ${String(Math.round(r.inputs / (r.elapsedMs / 1000))).padStart(11)} ${String(r.exceptions).padStart(11)} ${`${r.slow} (${r.slowConfirmed})`.padStart(16)} ${r.maxMs.toFixed(1).padStart(7)}  ${`${r.heapStartMb}/${r.heapPeakMb}/${r.heapEndMb}`.padStart(22)} ${String(r.rssPeakMb).padStart(9)} ${String(r.maxHeld).padStart(9)}${heapGrew ? '  HEAP GREW' : ''}`,
    );
  }
  rows.push('');
  for (const t of queue) {
    const r = outcomes.get(t.name)?.result;
    if (r) rows.push(`${t.name}: ${r.what}\n    outcomes: ${JSON.stringify(r.counters)}`);
  }
  process.stdout.write(`${rows.join('\n')}\n\nelapsed ${((Date.now() - started) / 1000).toFixed(0)} s\n`);

  const findings = queue.flatMap((t) => {
    const o = outcomes.get(t.name)!;
    return o.result ? o.result.findings.map((f) => ({ target: t.name, ...f })) : [{ target: t.name, kind: 'failure', detail: o.failure, inputHex: o.hangInput ?? '' }];
  });
  if (findings.length) {
    mkdirSync(args.out!, { recursive: true });
    const file = join(args.out!, `findings-seed${args.seed}-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(findings, null, 2));
    process.stdout.write(`\n${findings.length} finding(s) written to ${file}\n`);
    for (const f of findings.slice(0, 25)) process.stdout.write(`  [${f.target}] ${f.kind} #${'index' in f ? f.index : '?'}${'count' in f && f.count ? ` (x${f.count})` : ''}: ${String(f.detail).split('\n')[0]}\n`);
  }
  process.stdout.write(bad ? `\nFAIL: ${bad} target(s) with findings\n` : '\nPASS: no exception, hang or unbounded growth\n');
  return bad ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(2);
  },
);
