// Run by worker-model.test.ts in a child process started with V8 options (`node --expose-gc ... --import tsx`, as
// `npm run bench` does): loads the edge model as the agent does (LiveModel's loader, tryStartWorkerModel, so through
// its worker) and prints "loaded <verdict>" after one assessment, or "not loaded: <why>".
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { COMMITTED_MODEL } from './approved.js';
import { tryStartWorkerModel } from './worker-model.js';

const { model, error } = await tryStartWorkerModel({ modelPath: join(PACKAGE_ROOT, 'models', 'edge-model.onnx'), approved: [{ ...COMMITTED_MODEL }] });
if (!model) {
  console.log(`not loaded: ${error.message}`);
} else {
  const a = await model.assess('Ventricular_Tachycardia', [{ name: 'II', sampleRateHz: 250, samples: new Float32Array(250 * 30) }]);
  console.log(`loaded ${a.verdict}`);
  await model.close();
}
