// The edge model's own thread (started by worker-model.ts): feature extraction and onnxruntime's session.run are
// synchronous, so they run here and never hold up the agent's event loop. One session, created once from the
// bytes the main thread hashed and approved, reused for every assessment this worker makes.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { sha256Hex } from './approval.js';
import { EdgeModel } from './edge-model.js';
import { FEATURE_NAMES } from '../../models/features/index.js';
import type { FromWorker, ToWorker, WorkerData } from './worker-model.js';

function portOf(): MessagePort {
  if (!parentPort) throw new Error('agent/inference/worker-entry is a worker thread entry, not a module to import');
  return parentPort;
}
const port = portOf();
const data = workerData as WorkerData;
const post = (m: FromWorker) => port.postMessage(m);

let model: EdgeModel;
try {
  // The bytes are a copy of those approved on the main thread; a session is only made of what was approved.
  if (sha256Hex(data.model.bytes) !== data.model.sha256) throw new Error(`the model bytes handed to the worker do not hash to ${data.model.sha256}`);
  model = await EdgeModel.fromVerified(data.model);
} catch (err) {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  post({ type: 'failed', message: (err instanceof Error ? err.message : String(err)) + cause });
  process.exit(1);
}
let blockMs = data.blockFirstAssessmentMs ?? 0;

/**
 * A collection of this thread's garbage after each assessment (issue 8). An assessment leaves a few hundred KB of typed
 * arrays (the window handed over, the filtered signals) and the thread is idle until the next alarm: V8 collects
 * when a heap fills or its typed arrays' memory has grown by tens of MB, so without this they stayed, in the process's
 * malloc arena, for hours (a 25-min soak at 128 beds: main arena +4 MB without, flat with). A full collection of this
 * small heap takes a few ms, after the result has gone. `gc` from a fresh context once --expose-gc is set: V8 options
 * are the process's, but only contexts made after it see `gc`, and no other code here makes one.
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** After the collection: what this thread's heap holds (WorkerModel.workerHeap, the model_worker_* gauges). */
function heapReport(): FromWorker {
  const h = getHeapStatistics();
  return { type: 'heap', usedBytes: h.used_heap_size, externalBytes: h.external_memory };
}

async function handle(m: ToWorker): Promise<void> {
  if (m.type === 'exit') {
    // Ends the thread from here, between runs: the agent never terminates a worker that may be inside onnxruntime.
    await model.close();
    port.close();
    return;
  }
  if (blockMs > 0) {
    // Tests only (WorkerModelOptions.blockFirstAssessmentMs): runs back to back, as a model whose run takes this long.
    const end = Date.now() + blockMs;
    blockMs = 0;
    while (Date.now() < end) await model.score(new Float32Array(FEATURE_NAMES.length));
  }
  try {
    post({ type: 'result', id: m.id, assessment: await model.assess(m.alarmType, m.channels) });
  } catch (err) {
    post({ type: 'error', id: m.id, message: err instanceof Error ? err.message : String(err) });
  }
  collect();
  post(heapReport());
}

// One message at a time, in order: an 'exit' waits for the runs asked before it.
let queue = Promise.resolve();
port.on('message', (m: ToWorker) => (queue = queue.then(() => handle(m))));
post({ type: 'ready' });
