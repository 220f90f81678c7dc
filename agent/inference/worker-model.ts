// The edge model on its own thread, seen from the agent. Feature extraction and onnxruntime-node's session.run are
// synchronous (onnxruntime runs the session inside a setImmediate on the calling thread), so on the agent's thread a
// slow or hung run would hold up ingest, alarm ticks and the display, and no timer could fire until it ended. Here
// they run in one worker thread (worker-entry.ts), created once and reused like the session it holds; a caller that
// gives up on an assessment (LiveModel's deadline) calls abandon(): the worker is terminated and the next assessment
// starts a fresh one from the same verified bytes.
//
// A worker is never terminated while it creates its onnxruntime session (before it says ready or failed): a
// termination inside InferenceSession.create makes onnxruntime-node throw a C++ Napi::Error that nothing catches,
// and the whole process aborts (exit 134), not just the worker. The same happens when the process exits, by
// process.exit or by its event loop running empty, with such a worker unref'd. So a loading worker given up on is
// only marked retired, stays ref'd, and is terminated when it reports (see end()).
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
/** How long close() waits for workers still creating their session to report (then they are terminated). */
const LOADING_WAIT_MS = 5000;

/** Waits for `p`, at most `ms`. */
async function within(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms).unref()))]);
  clearTimeout(timer);
}

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
  /**
   * Workers still creating their session: `reported` settles when one says ready or failed (or exits), `refuse`
   * rejects its start for whoever waits on it. Never terminated or unref'd while here (see the top of this file).
   */
  private readonly loading = new Map<Worker, { reported: Promise<void>; refuse: (e: Error) => void }>();
  /** Loading workers given up on (abandon, close): terminated as soon as they report. */
  private readonly retired = new Set<Worker>();
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
   * ended (end()) and the next assessment starts a fresh one. Not started here: it would be loading when a stop
   * follows the time-out, and a worker that is loading cannot be terminated. A worker stuck inside a native call
   * cannot be stopped until that call returns; it no longer holds anything up, here or in the agent.
   */
  abandon(): void {
    const old = this.worker;
    this.worker = null;
    this.started = null;
    if (!old) return;
    const err = new Error('assessment abandoned');
    this.fail(old, err);
    this.end(old, err);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    this.started = null;
    const err = new Error('the model is closed');
    if (w) this.fail(w, err);
    // Terminating also releases the session with the thread. Bounded: a worker stuck in a native call ends later.
    const ended = w ? this.end(w, err) : undefined;
    // Workers still loading are terminated when they report (well under a second, normally). Past the bound they are
    // left loading and ref'd, so the process lives on until they report: exiting with one loading would abort it.
    const reported = Promise.all([...this.loading.values()].map((l) => l.reported));
    await Promise.all([within(ended, 1000), within(reported, LOADING_WAIT_MS)]);
  }

  /**
   * Ends a worker given up on. One still loading is marked retired (terminated when it reports) and its start refused
   * now; any other is terminated and unref'd: one stuck in a native call ends only when the call returns, and unref'd
   * it does not keep the event loop alive (the process reaches its exit; Node still joins the thread before it ends).
   */
  private end(worker: Worker, err: Error): Promise<unknown> | undefined {
    const loading = this.loading.get(worker);
    if (loading) {
      this.retired.add(worker);
      loading.refuse(err);
      return undefined;
    }
    worker.unref();
    return worker.terminate().catch(() => undefined);
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
    started.catch(() => undefined); // awaited by the next assess() or start(); may be refused with no one waiting
    this.started = started;
    let reported: () => void = () => undefined;
    this.loading.set(worker, { reported: new Promise<void>((r) => (reported = r)), refuse: refused });
    /** The worker is done loading (ready, failed or gone): true if it was retired meanwhile, and is now terminated. */
    const loaded = (): boolean => {
      this.loading.delete(worker);
      reported();
      if (!this.retired.delete(worker)) return false;
      void worker.terminate().catch(() => undefined);
      return true;
    };
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
        if (loaded()) return;
        worker.unref(); // idle: an idle model does not keep the process alive
        ready();
      } else if (m.type === 'failed') {
        loaded(); // it exits by itself
        lost(new ModelLoadError(m.message));
      } else this.settle(m);
    });
    worker.on('error', (err) => lost(new Error(`model worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      loaded();
      lost(new Error(`model worker exited (code ${code})`));
    });
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
