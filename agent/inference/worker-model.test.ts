// The model's worker thread when assessments are given up on, and at a stop. Terminating a worker while onnxruntime
// creates or runs its session aborts the whole process (a C++ Napi::Error nothing catches: exit 134), so the sweep
// across those moments runs in a child process (worker-stop.script.ts) and its exit is what is checked.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import type { Channel } from '../../models/features/index.js';
import { PACKAGE_ROOT } from '../paths.js';
import { COMMITTED_MODEL } from './approved.js';
import { MAX_LEAVING, WorkerModel } from './worker-model.js';

const TSX = pathToFileURL(join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
const opts = { modelPath: join(PACKAGE_ROOT, 'models', 'edge-model.onnx'), approved: [{ ...COMMITTED_MODEL }] };
const window = (): Channel[] => [{ name: 'II', sampleRateHz: 250, samples: new Float32Array(250 * 30) }];
const open: WorkerModel[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()));
});

it('time-outs and a stop while a fresh worker is still starting or running: the process lives on and exits normally', async () => {
  const child = spawn(process.execPath, ['--import', TSX, join(PACKAGE_ROOT, 'agent', 'inference', 'worker-stop.script.ts')], { cwd: PACKAGE_ROOT });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
  expect({ code, signal, out }).toMatchObject({ code: 0, signal: null, out: expect.stringContaining('worker-stop done') });
}, 90_000);

it('from sources with V8 options on the command line (--expose-gc, --max-old-space-size: `npm run bench`), the model loads and assesses', async () => {
  // A worker refuses per-process V8 options in its execArgv (ERR_WORKER_INVALID_EXEC_ARGV); --enable-source-maps is
  // one it takes, passed on as before.
  const flags = ['--expose-gc', '--max-old-space-size=512', '--enable-source-maps'];
  const child = spawn(process.execPath, [...flags, '--import', TSX, join(PACKAGE_ROOT, 'agent', 'inference', 'worker-v8-flags.script.ts')], { cwd: PACKAGE_ROOT });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  expect({ code, out }).toMatchObject({ code: 0, out: expect.stringMatching(/^loaded \S+/m) });
}, 30_000);

it(`workers given up on in a long run end after it; while ${MAX_LEAVING} have not, assessments are refused at once, then a fresh worker assesses`, async () => {
  // Each of the first MAX_LEAVING workers keeps its thread in onnxruntime runs for 1.5 s at its first assessment.
  const m = await WorkerModel.start({ ...opts, blockFirstAssessmentMs: 1500, blockWorkers: MAX_LEAVING });
  open.push(m);
  const given: Promise<unknown>[] = [];
  for (let i = 0; i < MAX_LEAVING; i++) {
    const a = m.assess('Ventricular_Tachycardia', window());
    given.push(a.catch((err: Error) => err.message));
    await new Promise((r) => setTimeout(r, i === 0 ? 200 : 0)); // the first is running; the second may be starting
    m.abandon();
  }
  expect(await Promise.all(given)).toEqual(Array(MAX_LEAVING).fill('assessment abandoned'));
  await expect(m.assess('Ventricular_Tachycardia', window())).rejects.toThrow(new RegExp(`still finishing ${MAX_LEAVING} earlier assessments that ran over time`));
  expect(m.leaving).toBe(MAX_LEAVING);
  let result: unknown;
  for (const end = Date.now() + 10_000; result === undefined && Date.now() < end; ) {
    result = await m.assess('Ventricular_Tachycardia', window()).catch(() => new Promise((r) => setTimeout(() => r(undefined), 100)));
  }
  expect(result).toMatchObject({ modelSha256: COMMITTED_MODEL.sha256, verdict: expect.any(String) });
  // The other ends once its run does (a fresh worker started as soon as one had).
  for (const end = Date.now() + 5000; m.leaving > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
  expect(m.leaving).toBe(0);
}, 20_000);
