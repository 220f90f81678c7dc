// The model's worker collects its garbage after each assessment (issue 8): an assessment leaves a few hundred KB of
// typed arrays, and an idle worker would otherwise keep them for hours in the process's memory.
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { Channel } from '../../models/features/index.js';
import { PACKAGE_ROOT } from '../paths.js';
import { COMMITTED_MODEL } from './approved.js';
import { WorkerModel } from './worker-model.js';

const opts = { modelPath: join(PACKAGE_ROOT, 'models', 'edge-model.onnx'), approved: [{ ...COMMITTED_MODEL }] };
const open: WorkerModel[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()));
});

/** A 30 s window as the live path hands over: two ECG leads, pleth and ABP, with a pulse in them. */
function window(): Channel[] {
  const ch = (name: string, hz: number): Channel => {
    const samples = new Float32Array(hz * 30);
    for (let i = 0; i < samples.length; i++) samples[i] = Math.sin((i / hz) * 2 * Math.PI * 1.3) ** 9 + 0.05 * Math.sin(i);
    return { name, sampleRateHz: hz, samples };
  };
  return [ch('II', 250), ch('V', 250), ch('PLETH', 125), ch('ABP', 125)];
}

it("after each assessment the worker's typed arrays are collected: its external memory stays flat over 30 assessments", async () => {
  const m = await WorkerModel.start(opts);
  open.push(m);
  expect(m.workerHeap).toBeNull();
  const external: number[] = [];
  for (let i = 0; i < 30; i++) {
    const last = m.workerHeap;
    await m.assess(i % 2 ? 'Tachycardia' : 'Bradycardia', window());
    // The heap report follows the result (after the collection): a new report object.
    for (let t = 0; t < 200 && m.workerHeap === last; t++) await new Promise((r) => setTimeout(r, 10));
    if (m.workerHeap !== last) external.push(m.workerHeap!.externalBytes);
  }
  expect(external.length).toBe(30);
  // What the session and the model keep stays (a few MB); what each window leaves must not pile up. Uncollected, the
  // last ten stood ~2-3 MB above the first ones after the start (one window: ~0.4 MB handed over, plus its copies).
  // Medians, not means: one report taken before V8 freed an ArrayBuffer (a CI run under load: +1.06 MB by the means)
  // says nothing of a pile-up, which moves every one of the last ten.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  expect(median(external.slice(20)) - median(external.slice(2, 12))).toBeLessThan(2 ** 20);
  expect(m.workerHeap!.usedBytes).toBeGreaterThan(0);
}, 60_000);

it('a worker given up on that reports its heap as its last run ends does not overwrite the current worker\'s figures (review rv150 F3)', async () => {
  // The first worker's first assessment holds its thread 1.5 s: given up on, it still reports when that run ends.
  const m = await WorkerModel.start({ ...opts, blockFirstAssessmentMs: 1500 });
  open.push(m);
  const given = m.assess('Tachycardia', window()).then(
    () => 'answered',
    () => 'given up',
  );
  await new Promise((r) => setTimeout(r, 300)); // its run under way
  m.abandon();
  expect(await given).toBe('given up');
  expect(m.workerHeap).toBeNull();
  await m.assess('Tachycardia', window());
  for (let t = 0; t < 200 && m.workerHeap === null; t++) await new Promise((r) => setTimeout(r, 10));
  const current = m.workerHeap;
  expect(current).not.toBeNull();
  // The old worker's run ends ~1.5 s after it began, then it collects and reports: wait past that.
  await new Promise((r) => setTimeout(r, 2500));
  expect(m.workerHeap).toBe(current);
}, 30_000);
