// The edge model on its own thread, seen from the agent. Feature extraction and onnxruntime-node's session.run are
// synchronous (onnxruntime runs the session inside a setImmediate on the calling thread), so on the agent's thread a
// slow or hung run would hold up ingest, alarm ticks and the display, and no timer could fire until it ended. Here
// they run in one worker thread (worker-entry.ts), created once and reused like the session it holds; a caller that
// gives up on an assessment (LiveModel's deadline) calls abandon(): the worker is terminated and a fresh one
// started from the same verified bytes.
import { Worker } from 'node:worker_threads';
import type { AlarmType, Channel } from '../../models/features/index.js';
import { ModelLoadError } from './approval.js';
import type { ModelCard } from './card.js';
import { verifyModel, type Assessment, type EdgeModelOptions, type VerifiedModel } from './edge-model.js';

/** What the worker is started with. */
export interface WorkerData {
  model: VerifiedModel;
  blockFirstAssessmentMs?: number;
}
export interface ToWorker {
  id: number;
  alarmType: AlarmType;
  channels: Channel[];
}
export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; assessment: Assessment }
  | { type: 'error'; id: number; message: string };

export interface WorkerModelOptions extends EdgeModelOptions {
  /**
   * For tests only (production never sets it): the first worker's first assessment holds its thread this long, as
   * a native run that hangs would.
   */
  blockFirstAssessmentMs?: number;
}

// Built by `tsc -p tsconfig.build.json`, this file and the worker's entry are .js side by side in
// dist/agent/inference/. From sources (tsx, vitest) the worker starts through worker-from-sources.mjs, which
// registers tsx in the worker, then imports worker-entry.ts.
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const ENTRY = new URL(FROM_SOURCES ? './worker-from-sources.mjs' : './worker-entry.js', import.meta.url);

/**
 * The worker's node options: built, the parent's (inherited); from sources, the parent's less tsx's own (its loader
 * does not carry over to a worker on Node 20; worker-from-sources.mjs registers it).
 */
function workerExecArgv(): string[] | undefined {
  if (!FROM_SOURCES) return undefined;
  const out: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const a = process.execArgv[i]!;
    if ((a === '--require' || a === '--import') && process.execArgv[i + 1]?.includes('/tsx/')) i++;
    else out.push(a);
  }
  return out;
}

interface Pending {
  worker: Worker;
  resolve: (a: Assessment) => void;
  reject: (e: Error) => void;
}

export class WorkerModel {
  /** The current worker, from its start; null before the first and after abandon() until the next assessment. */
  private worker: Worker | null = null;
  /** Settles when the current worker has created its session (rejects if it cannot). */
  private started: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly verified: VerifiedModel,
    private blockFirstAssessmentMs: number | undefined,
  ) {}

  /** As EdgeModel.version: the approved entry's label when it has one, else the card's modelVersion. */
  get version(): string {
    return this.verified.label ?? this.verified.card.modelVersion;
  }
  get sha256(): string {
    return this.verified.sha256;
  }
  get card(): ModelCard {
    return this.verified.card;
  }

  /**
   * Verifies the model on this thread (hash approved, card, features: as EdgeModel.load) and starts its worker, which
   * creates the session from the very bytes that were hashed. Rejects with ModelNotApprovedError / ModelLoadError.
   */
  static async start(opts: WorkerModelOptions): Promise<WorkerModel> {
    const m = new WorkerModel(await verifyModel(opts), opts.blockFirstAssessmentMs);
    m.spawn();
    try {
      await m.started;
    } catch (err) {
      await m.close();
      throw err;
    }
    return m;
  }

  /**
   * Scores the window on the worker. The channels' sample buffers are transferred, not copied: the caller's arrays
   * are empty afterwards (LiveModel hands over windows the ring made for this call).
   */
  async assess(alarmType: AlarmType, channels: readonly Channel[]): Promise<Assessment> {
    if (this.closed) throw new Error('the model is closed');
    if (!this.worker) this.spawn();
    const worker = this.worker!;
    await this.started;
    if (this.worker !== worker) throw new Error('the model worker was replaced before the assessment started');
    const transfer = [...new Set(channels.map((c) => c.samples.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    return new Promise<Assessment>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { worker, resolve, reject });
      worker.ref();
      const msg: ToWorker = { id, alarmType, channels: channels.map((c) => ({ name: c.name, sampleRateHz: c.sampleRateHz, samples: c.samples })) };
      worker.postMessage(msg, transfer);
    });
  }

  /**
   * Gives up on the assessment in flight (it rejects now; its result, should it come, is never seen): the worker is
   * terminated and a fresh one started for the next assessment. A worker stuck inside a native call cannot be
   * stopped until that call returns; it no longer holds anything up, here or in the agent.
   */
  abandon(): void {
    const old = this.worker;
    this.worker = null;
    this.started = null;
    if (old) {
      this.fail(old, new Error('assessment abandoned'));
      void old.terminate().catch(() => undefined);
    }
    if (!this.closed) this.spawn(); // ready (session created) by the next alarm
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    this.started = null;
    if (!w) return;
    this.fail(w, new Error('the model is closed'));
    // Terminating also releases the session with the thread. Bounded: a worker stuck in a native call ends later.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([w.terminate().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 1000).unref()))]);
    clearTimeout(timer);
  }

  private spawn(): void {
    const data: WorkerData = { model: this.verified, ...(this.blockFirstAssessmentMs !== undefined && { blockFirstAssessmentMs: this.blockFirstAssessmentMs }) };
    this.blockFirstAssessmentMs = undefined;
    // workerData is a structured clone: the worker gets a copy of the verified bytes, never the file again.
    const worker = new Worker(ENTRY, { workerData: data, execArgv: workerExecArgv(), name: 'edge-model' });
    this.worker = worker;
    let ready: () => void = () => undefined;
    let refused: (e: Error) => void = () => undefined;
    const started = new Promise<void>((res, rej) => ((ready = res), (refused = rej)));
    started.catch(() => undefined); // awaited by the next assess() or start(); a spare worker may never be used
    this.started = started;
    const lost = (err: Error) => {
      refused(err);
      this.fail(worker, err);
      if (this.worker === worker) {
        this.worker = null;
        this.started = null;
      }
    };
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        worker.unref(); // idle: an idle model does not keep the process alive
        ready();
      } else if (m.type === 'failed') lost(new ModelLoadError(m.message));
      else this.settle(m);
    });
    worker.on('error', (err) => lost(new Error(`model worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => lost(new Error(`model worker exited (code ${code})`)));
  }

  private settle(m: Extract<FromWorker, { id: number }>): void {
    const p = this.pending.get(m.id);
    if (!p) return; // abandoned: dropped
    this.pending.delete(m.id);
    if (![...this.pending.values()].some((q) => q.worker === p.worker)) p.worker.unref();
    if (m.type === 'result') p.resolve(m.assessment);
    else p.reject(new Error(m.message));
  }

  /** Rejects every request this worker still owes. */
  private fail(worker: Worker, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.reject(err);
    }
  }
}

/** As tryLoadEdgeModel, with the model on its own thread: `{ model: null, error }` says why it cannot be used. */
export async function tryStartWorkerModel(opts: WorkerModelOptions): Promise<{ model: WorkerModel; error: null } | { model: null; error: Error }> {
  try {
    return { model: await WorkerModel.start(opts), error: null };
  } catch (err) {
    return { model: null, error: err instanceof Error ? err : new Error(String(err)) };
  }
}
