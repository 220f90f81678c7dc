// Run by worker-model.test.ts in a child process, as an abort takes the whole process with it. Assessments given up
// on (abandon()) while the worker they wait for is still starting or already running them, then the agent's stop
// (close()) while one is: each at a delay after the worker's start, swept in small steps across the time a start and
// a run take, so that some land while onnxruntime creates its session and some while it runs. Prints
// "worker-stop done"; the process then exits by itself.
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import type { Channel } from '../../models/features/index.js';
import { COMMITTED_MODEL } from './approved.js';
import { WorkerModel } from './worker-model.js';

const opts = { modelPath: join(PACKAGE_ROOT, 'models', 'edge-model.onnx'), approved: [{ ...COMMITTED_MODEL }] };
const window = (): Channel[] => [{ name: 'II', sampleRateHz: 250, samples: new Float32Array(250 * 30) }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const m = await WorkerModel.start(opts);
// How long an assessment waits for a fresh worker here (its start, then a run of a few ms): the median of three.
const took: number[] = [];
for (let i = 0; i < 3; i++) {
  m.abandon();
  const t = performance.now();
  await m.assess('Ventricular_Tachycardia', window());
  took.push(performance.now() - t);
}
const startMs = took.sort((x, y) => x - y)[1]!;
// Twice: the session is made in the last 20-60 ms of a start, and the run follows it.
let refused = 0;
for (let pass = 0; pass < 2; pass++) {
  for (let d = Math.max(0, startMs - 70); d < startMs + 10; d += 2) {
    m.abandon();
    // Waits for a fresh worker; refused at once while MAX_LEAVING workers given up on have not ended yet.
    void m.assess('Ventricular_Tachycardia', window()).catch((err: Error) => (refused += /ran over time/.test(err.message) ? 1 : 0));
    await sleep(d);
  }
}
m.abandon();
void m.assess('Ventricular_Tachycardia', window()).catch(() => undefined);
await sleep(startMs - 20);
await m.close();
console.log(`worker-stop done (${refused} assessments refused while workers given up on were ending)`);
