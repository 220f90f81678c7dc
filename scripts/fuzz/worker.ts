// One fuzz target in a worker thread (started by scripts/fuzz.ts). Before each input it publishes the input's
// index and bytes in shared memory, so that when an input hangs the main thread can name it and stop us.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { mutateBytes, pick, prng, randomInput } from './mutate.js';
import { allTargets } from './targets.js';

export interface WorkerInput {
  target: string;
  inputs: number;
  seed: number;
  slowMs: number;
  /** [0] inputs done, [1] index of the input now running (-1 idle), [2] its length; then up to maxLen bytes. */
  shared: SharedArrayBuffer;
  maxShared: number;
}

export interface Finding {
  kind: 'exception' | 'slow' | 'unbounded';
  index: number;
  /** Exceptions: how many inputs failed the same way (same error message and throwing frame). */
  count?: number;
  detail: string;
  inputHex: string;
  ms?: number;
}

export interface WorkerResult {
  target: string;
  what: string;
  inputs: number;
  elapsedMs: number;
  findings: Finding[];
  exceptions: number;
  slow: number;
  /** Slow inputs that were slow again when re-timed alone (of the first MAX_FINDINGS findings). */
  slowConfirmed: number;
  maxMs: number;
  heapStartMb: number;
  heapPeakMb: number;
  heapEndMb: number;
  rssPeakMb: number;
  maxHeld: number;
  counters: Record<string, number>;
}

const MAX_FINDINGS = 20;

async function main(): Promise<void> {
  const w = workerData as WorkerInput;
  const { targets } = await allTargets();
  const target = targets.find((t) => t.name === w.target);
  if (!target) throw new Error(`unknown target ${w.target}`);
  const runner = await target.setup();
  const meta = new Int32Array(w.shared, 0, 3);
  const bytes = new Uint8Array(w.shared, 12, w.maxShared);
  const findings: Finding[] = [];
  let exceptions = 0;
  let slow = 0;
  let maxMs = 0;
  let maxHeld = 0;
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  global.gc?.();
  const heapStart = process.memoryUsage().heapUsed;
  let heapPeak = heapStart;
  let rssPeak = process.memoryUsage().rss;
  const started = performance.now();
  const note = (f: Finding) => {
    if (findings.length < MAX_FINDINGS) findings.push(f);
  };
  // One finding per distinct exception (message + throwing frame), with a count, so one frequent bug does not
  // hide the others.
  const bySignature = new Map<string, Finding>();

  // Each input from its own PRNG stream: reproducible from (seed, index) alone.
  const make = (i: number) => {
    const r = prng((w.seed * 0x9e3779b1) ^ (i * 0x85ebca6b) ^ 0x5bd1e995);
    const input = runner.generate ? runner.generate(r) : r() < 0.9 ? mutateBytes(r, pick(r, runner.seeds), runner.maxLen, pick(r, runner.seeds)) : randomInput(r, runner.maxLen);
    return { r, input };
  };
  for (let i = 0; i < w.inputs; i++) {
    const { r, input } = make(i);
    const n = Math.min(input.length, w.maxShared);
    bytes.set(input.subarray(0, n));
    Atomics.store(meta, 2, input.length);
    Atomics.store(meta, 1, i);
    const t0 = performance.now();
    try {
      await runner.run(input, r);
    } catch (err) {
      if (!runner.allowed(err)) {
        exceptions++;
        const e = err as Error;
        const signature = `${e?.name}: ${String(e?.message).split('\n')[0]} @ ${(e?.stack ?? '').split('\n')[1]?.trim() ?? ''}`;
        const seen = bySignature.get(signature);
        if (seen) seen.count = (seen.count ?? 1) + 1;
        else if (bySignature.size < MAX_FINDINGS) {
          const f: Finding = { kind: 'exception', index: i, count: 1, detail: `${e?.name}: ${e?.message}\n${(e?.stack ?? '').split('\n').slice(1, 6).join('\n')}`, inputHex: input.subarray(0, 2048).toString('hex') };
          bySignature.set(signature, f);
          findings.push(f);
        }
      }
    }
    const ms = performance.now() - t0;
    if (ms > maxMs) maxMs = ms;
    if (ms > (runner.slowMs ?? w.slowMs)) {
      slow++;
      note({ kind: 'slow', index: i, detail: `took ${ms.toFixed(1)} ms (limit ${runner.slowMs ?? w.slowMs} ms)`, inputHex: input.subarray(0, 2048).toString('hex'), ms });
    }
    if (runner.held) {
      const h = runner.held();
      if (h > maxHeld) maxHeld = h;
      if (runner.heldLimit !== undefined && h > runner.heldLimit) note({ kind: 'unbounded', index: i, detail: `holds ${h} bytes (limit ${runner.heldLimit})`, inputHex: '' });
    }
    Atomics.store(meta, 1, -1);
    Atomics.store(meta, 0, i + 1);
    if (i % 20_000 === 0) {
      const m = process.memoryUsage();
      if (m.heapUsed > heapPeak) heapPeak = m.heapUsed;
      if (m.rss > rssPeak) rssPeak = m.rss;
    }
  }
  const elapsedMs = performance.now() - started;
  // A slow input on a busy machine may be a GC pause or another process; time it again, alone, three times.
  // Only an input that is slow every time counts.
  let slowConfirmed = 0;
  for (const f of findings.filter((x) => x.kind === 'slow')) {
    let best = Infinity;
    for (let k = 0; k < 3; k++) {
      const { r, input } = make(f.index);
      const t0 = performance.now();
      try {
        await runner.run(input, r);
      } catch {
        // counted above
      }
      best = Math.min(best, performance.now() - t0);
    }
    const confirmed = best > (runner.slowMs ?? w.slowMs);
    if (confirmed) slowConfirmed++;
    f.detail += confirmed ? `; again alone: ${best.toFixed(1)} ms (confirmed)` : `; again alone: ${best.toFixed(1)} ms (not reproducible: machine load or GC)`;
  }
  await runner.close?.();
  global.gc?.();
  const result: WorkerResult = {
    target: target.name,
    what: target.what,
    inputs: w.inputs,
    elapsedMs,
    findings,
    exceptions,
    slow,
    slowConfirmed,
    maxMs,
    heapStartMb: mb(heapStart),
    heapPeakMb: mb(heapPeak),
    heapEndMb: mb(process.memoryUsage().heapUsed),
    rssPeakMb: mb(rssPeak),
    maxHeld,
    counters: runner.counters,
  };
  parentPort!.postMessage(result);
}

process.on('uncaughtException', (err) => {
  // A throw from inside an event handler of the code under test (e.g. a socket/serial 'data' handler).
  parentPort!.postMessage({ crashed: `${err.name}: ${err.message}\n${err.stack ?? ''}` });
});

main().catch((err: unknown) => {
  parentPort!.postMessage({ crashed: `${(err as Error)?.stack ?? String(err)}` });
});
