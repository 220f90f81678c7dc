// The edge model on its own thread, seen from the agent. Feature extraction and onnxruntime-node's session.run are
// synchronous (onnxruntime runs the session inside a setImmediate on the calling thread), so on the agent's thread a
// slow or hung run would hold up ingest, alarm ticks and the display, and no timer could fire until it ended. Here
// they run in one worker thread (worker-entry.ts), created once and reused like the session it holds; a caller that
// gives up on an assessment (LiveModel's deadline) calls abandon(): the worker is retired and the next assessment
// starts a fresh one from the same verified bytes.
//
// A worker is never terminated (worker.terminate()) while it may be inside onnxruntime: a termination while it
// creates its session or runs it makes onnxruntime-node throw a C++ Napi::Error that nothing catches, and the whole
// process aborts (exit 134), not just the worker (a loop of session.run terminated after 5-25 ms aborted at the first
// termination in 5 of 5 tries). So a worker given up on is told to leave ({ type: 'exit' }): it handles that after
// whatever it is doing, releases its session and ends by itself. It stays ref'd until then, so that the process does
// not exit (and take it down mid-run) before it has. A worker that never returns from a native call cannot be
// stopped in-process: at most MAX_LEAVING are waited for before assessments are refused (see assess()).
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { AlarmType, Channel } from '../../models/features/index.js';
import { ModelLoadError } from './approval.js';
import type { ModelCard } from './card.js';
import { verifyModel, type Assessment, type EdgeModelOptions, type VerifiedModel } from './edge-model.js';

/** What the worker is started with. */
export interface WorkerData {
  model: VerifiedModel;
  blockFirstAssessmentMs?: number;
}
export type ToWorker =
  | { type: 'assess'; id: number; alarmType: AlarmType; channels: Channel[] }
  /** Leave: after what was asked before, release the session and end. */
  | { type: 'exit' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; assessment: Assessment }
  | { type: 'error'; id: number; message: string }
  /** After each assessment, once the worker collected its garbage: its heap in use and its typed arrays' memory. */
  | { type: 'heap'; usedBytes: number; externalBytes: number };

export interface WorkerModelOptions extends EdgeModelOptions {
  /**
   * For tests only (production never sets it): the first worker's first assessment keeps its thread in onnxruntime
   * runs this long, as a model whose run takes that long would.
   */
  blockFirstAssessmentMs?: number;
  /** For tests only, with blockFirstAssessmentMs: how many workers, from the first, hold their first assessment (default 1). */
  blockWorkers?: number;
}

// Built by `tsc -p tsconfig.build.json`, this file and the worker's entry are .js side by side in
// dist/agent/inference/. From sources (tsx, vitest) the worker starts through worker-from-sources.mjs, which
// registers tsx in the worker, then imports worker-entry.ts.
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const ENTRY = new URL(FROM_SOURCES ? './worker-from-sources.mjs' : './worker-entry.js', import.meta.url);
/** How long close() waits for the workers given up on to end (then the process is left to wait for them). */
const LEAVING_WAIT_MS = 5000;
/**
 * Workers given up on and not yet ended, past which no fresh one is started: each left is a thread still in a run
 * (or its start). Two lets one slow run be followed by a fresh worker; a model that hangs every run stops there
 * instead of piling up threads, and its assessments fail at once (LiveModel reports the model as failing).
 */
export const MAX_LEAVING = 2;

/** Waits for `p`, at most `ms`. */
async function within(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms).unref()))]);
  clearTimeout(timer);
}

/**
 * The worker's node options: built, the parent's (inherited); from sources, the parent's less tsx's own (its loader
 * does not carry over to a worker on Node 20; worker-from-sources.mjs registers it). Some of these a worker refuses
 * when they are given explicitly: see startWorker().
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

/**
 * Starts a worker with workerExecArgv(). From sources that list is explicit, and Node refuses a worker whose execArgv
 * holds a per-process option (V8's: --expose-gc, --max-old-space-size=..., --stack-size=...; --title=...): it throws
 * ERR_WORKER_INVALID_EXEC_ARGV naming them. Those are dropped and the worker started again: they are process-wide,
 * so the worker has them in effect anyway (the same as built, where execArgv is inherited). Node's own refusal is
 * what is dropped, rather than a list of ours that would have to track its options. An error that names nothing in
 * the list is thrown as is.
 */
function startWorker(options: Omit<WorkerOptions, 'execArgv'>): Worker {
  let execArgv = workerExecArgv();
  for (;;) {
    try {
      return new Worker(ENTRY, { ...options, execArgv });
    } catch (err) {
      const refused = refusedExecArgv(err);
      const kept = execArgv?.filter((a) => !refused.includes(a));
      if (!kept || kept.length === execArgv!.length) throw err;
      execArgv = kept;
    }
  }
}

/** The options named by an ERR_WORKER_INVALID_EXEC_ARGV ("Initiated Worker with invalid execArgv flags: a, b"). */
function refusedExecArgv(err: unknown): string[] {
  if ((err as NodeJS.ErrnoException | null)?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return [];
  const m = /invalid execArgv flags: (.*)$/s.exec((err as Error).message);
  return m ? m[1]!.split(', ') : [];
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
   * Workers not yet ended, from their start: `exited` settles at the worker's 'exit' event; `refuseStart` refuses its
   * start for whoever waits on it (a no-op once it has started).
   */
  private readonly alive = new Map<Worker, { exited: Promise<void>; refuseStart: (e: Error) => void }>();
  /** Workers told to leave and not yet ended. */
  private readonly givenUp = new Set<Worker>();
  private heap: { usedBytes: number; externalBytes: number } | null = null;
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly verified: VerifiedModel,
    private readonly blockFirstAssessmentMs: number | undefined,
    private blockWorkers: number,
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
  /** The worker's heap after its last assessment (null before the first): its own, not in the process's heap gauges. */
  get workerHeap(): { usedBytes: number; externalBytes: number } | null {
    return this.heap;
  }
  /** Workers given up on and not yet ended. */
  get leaving(): number {
    return this.givenUp.size;
  }

  /**
   * Verifies the model on this thread (hash approved, card, features: as EdgeModel.load) and starts its worker, which
   * creates the session from the very bytes that were hashed. Rejects with ModelNotApprovedError / ModelLoadError.
   */
  static async start(opts: WorkerModelOptions): Promise<WorkerModel> {
    const m = new WorkerModel(await verifyModel(opts), opts.blockFirstAssessmentMs, opts.blockWorkers ?? 1);
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
    if (!this.worker) {
      if (this.givenUp.size >= MAX_LEAVING)
        throw new Error(`the model is still finishing ${this.givenUp.size} earlier assessments that ran over time; no new one starts until one of them ends`);
      this.spawn();
    }
    const worker = this.worker!;
    await this.started;
    if (this.worker !== worker) throw new Error('the model worker was replaced before the assessment started');
    const transfer = [...new Set(channels.map((c) => c.samples.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    return new Promise<Assessment>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { worker, resolve, reject });
      worker.ref();
      const msg: ToWorker = { type: 'assess', id, alarmType, channels: channels.map((c) => ({ name: c.name, sampleRateHz: c.sampleRateHz, samples: c.samples })) };
      worker.postMessage(msg, transfer);
    });
  }

  /**
   * Gives up on the assessment in flight (it rejects now; its result, should it come, is never seen): the worker is
   * told to leave once that run ends, and the next assessment starts a fresh one. Not started here: a stop may
   * follow the time-out, and a fresh worker would then be creating its session.
   */
  abandon(): void {
    const old = this.worker;
    this.worker = null;
    this.started = null;
    this.heap = null; // the next worker's, from its first assessment
    if (old) this.retire(old, new Error('assessment abandoned'));
  }

  /**
   * Ends the model: the worker leaves (after a run in progress, normally a few ms) and every worker given up on is
   * waited for, at most LEAVING_WAIT_MS. Past that they are left ref'd, so the process lives on until they end:
   * exiting with one inside onnxruntime would abort it.
   */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    this.started = null;
    if (w) this.retire(w, new Error('the model is closed'));
    await within(Promise.all([...this.givenUp].map((l) => this.alive.get(l)?.exited)), LEAVING_WAIT_MS);
  }

  /** Rejects what the worker owes and tells it to leave; it stays ref'd until it has ended. */
  private retire(worker: Worker, err: Error): void {
    this.fail(worker, err);
    const alive = this.alive.get(worker);
    if (!alive) return; // already ended
    alive.refuseStart(err);
    this.givenUp.add(worker);
    worker.ref();
    worker.postMessage({ type: 'exit' } satisfies ToWorker);
  }

  private spawn(): void {
    const block = this.blockFirstAssessmentMs !== undefined && this.blockWorkers-- > 0;
    const data: WorkerData = { model: this.verified, ...(block && { blockFirstAssessmentMs: this.blockFirstAssessmentMs }) };
    // workerData is a structured clone: the worker gets a copy of the verified bytes, never the file again.
    const worker = startWorker({ workerData: data, name: 'edge-model' });
    this.worker = worker;
    let ready: () => void = () => undefined;
    let refused: (e: Error) => void = () => undefined;
    const started = new Promise<void>((res, rej) => ((ready = res), (refused = rej)));
    this.started = started;
    started.catch(() => undefined); // awaited by the next assess() or start(); may be refused with no one waiting
    this.alive.set(worker, { exited: new Promise<void>((r) => worker.once('exit', () => r())), refuseStart: refused });
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
        if (this.givenUp.has(worker)) return; // its start was refused when it was given up on; it leaves next
        worker.unref(); // idle: an idle model does not keep the process alive
        ready();
      } else if (m.type === 'failed') lost(new ModelLoadError(m.message)); // it ends by itself
      // The current worker's only: one given up on may still report as its last run ends (review rv150 F3).
      else if (m.type === 'heap') {
        if (worker === this.worker) this.heap = { usedBytes: m.usedBytes, externalBytes: m.externalBytes };
      }
      else this.settle(m);
    });
    worker.on('error', (err) => lost(new Error(`model worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (worker === this.worker) this.heap = null;
      this.alive.delete(worker);
      this.givenUp.delete(worker);
      lost(new Error(`model worker exited (code ${code})`));
    });
  }

  private settle(m: Extract<FromWorker, { id: number }>): void {
    const p = this.pending.get(m.id);
    if (!p) return; // abandoned: dropped
    this.pending.delete(m.id);
    if (!this.givenUp.has(p.worker) && ![...this.pending.values()].some((q) => q.worker === p.worker)) p.worker.unref();
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

/**
 * Starts the model on its own thread or explains why not (`{ model: null, error }`): the caller then runs on rules
 * only and raises a technical alarm with `error.message`.
 */
export async function tryStartWorkerModel(opts: WorkerModelOptions): Promise<{ model: WorkerModel; error: null } | { model: null; error: Error }> {
  try {
    return { model: await WorkerModel.start(opts), error: null };
  } catch (err) {
    return { model: null, error: err instanceof Error ? err : new Error(String(err)) };
  }
}
