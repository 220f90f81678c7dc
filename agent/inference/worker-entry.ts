// The edge model's own thread (started by worker-model.ts): feature extraction and onnxruntime's session.run are
// synchronous, so they run here and never hold up the agent's event loop. One session, created once from the
// bytes the main thread hashed and approved, reused for every assessment this worker makes.
import { parentPort, workerData } from 'node:worker_threads';
import { sha256Hex } from './approval.js';
import { EdgeModel } from './edge-model.js';
import type { FromWorker, ToWorker, WorkerData } from './worker-model.js';

const port = parentPort;
if (!port) throw new Error('agent/inference/worker-entry is a worker thread entry, not a module to import');
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

port.on('message', (m: ToWorker) => {
  if (blockMs > 0) {
    // Tests only (WorkerModelOptions.blockFirstAssessmentMs): a model that holds its thread, as a native run that hangs does.
    const end = Date.now() + blockMs;
    blockMs = 0;
    while (Date.now() < end);
  }
  model.assess(m.alarmType, m.channels).then(
    (assessment) => post({ type: 'result', id: m.id, assessment }),
    (err: unknown) => post({ type: 'error', id: m.id, message: err instanceof Error ? err.message : String(err) }),
  );
});
post({ type: 'ready' });
