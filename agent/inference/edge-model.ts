// Runtime of the alarm-validation model: loads an approved ONNX model once, keeps one onnxruntime
// InferenceSession for its lifetime, and scores the window before an alarm with the same feature code
// training used (models/features).
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { extractFeatures, featureChannels, FEATURE_NAMES, FEATURE_VERSION, type AlarmType, type Channel } from '../../models/features/index.js';
import { ModelLoadError, requireApproved, type ApprovedModel } from './approval.js';
import { parseCard, type ModelCard } from './card.js';

export type Verdict = 'likely-true' | 'likely-false' | 'uncertain';

export interface Assessment {
  /** Model probability that the alarm is true (0..1). */
  probability: number;
  /** Operating threshold for this alarm type (below it: likely false). */
  threshold: number;
  verdict: Verdict;
  /** Why the verdict is 'uncertain', when it is. */
  reason?: string;
  /**
   * ECG leads the features read (the first two) that carry at least MIN_WINDOW_S of signal. Every training window had
   * two: with none the verdict is 'uncertain'; with one it stands, but the model was not validated on such windows.
   */
  ecgLeads: number;
  modelVersion: string;
  modelSha256: string;
  /** Time spent in onnxruntime (session.run), ms. */
  inferenceMs: number;
  /** Time spent computing the features, ms. */
  featureMs: number;
}

export interface EdgeModelOptions {
  /** Path of the .onnx file. */
  modelPath: string;
  /** Path of its model card; default: the model path with `.onnx` replaced by `.card.json`. */
  cardPath?: string;
  /** Approved models by SHA-256 (from config). A file not listed is refused. */
  approved: readonly ApprovedModel[];
}

type CreateSession = (model: Uint8Array) => Promise<ort.InferenceSession>;

const defaultCreateSession: CreateSession = (model) =>
  // One intra-op thread: the trees are tiny, and the gateway's event loop shares a 2-core box.
  ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });

/** Least window that rhythm features (16 s spans) are meaningful for; also the least signal an ECG lead must carry to count. */
export const MIN_WINDOW_S = 16;
/**
 * Most of the end of the window a channel the model reads may miss (samples not received by the alarm, or marked
 * invalid) and still be judged. The corpus puts the event in the last 10 s, and the model was not validated on
 * windows cut short there. Of the 236 true alarms (601 windows), judged likely-false: with the last 3 s missing on
 * every channel none, 4 s: 4, 6 s: 6; with the end missing on every channel but PLETH or ABP, 3 s: 1, 4 s: 5; with
 * 2 s missing, none either way (.scratch/rv30/probe-tail-missing.ts, and the same with one channel kept whole, run
 * for this bound with the committed model). So more than 2 s missing on
 * any channel that has signal gives 'uncertain'; a device sending its waveforms in batches of up to 2 s still
 * gets verdicts.
 */
export const MAX_MISSING_AT_END_S = 2;
const USABLE_CHANNELS = FEATURE_NAMES.indexOf('all_nBeatChannels');

export class EdgeModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly card: ModelCard,
    readonly sha256: string,
    /** Label of the approved entry this model matched, if it has one. */
    private readonly approvedLabel: string | undefined,
  ) {}

  /**
   * The version audited and reported: the approved entry's label when it has one (the approval covers the
   * .onnx bytes, not the card, so an edited card cannot rename the model), else the card's modelVersion.
   */
  get version(): string {
    return this.approvedLabel ?? this.card.modelVersion;
  }

  /**
   * Loads and verifies a model: SHA-256 approved (ModelNotApprovedError otherwise), card matching the
   * file and the feature code (ModelLoadError otherwise). Creates the inference session once.
   */
  static async load(opts: EdgeModelOptions, createSession: CreateSession = defaultCreateSession): Promise<EdgeModel> {
    return EdgeModel.fromVerified(await verifyModel(opts), createSession);
  }

  /**
   * Creates the session from a model verifyModel() accepted: from its very bytes, the ones that were hashed, so no
   * other file can be swapped in between (the worker of worker-model.ts is handed these bytes, not the path).
   */
  static async fromVerified(v: VerifiedModel, createSession: CreateSession = defaultCreateSession): Promise<EdgeModel> {
    let session: ort.InferenceSession;
    try {
      session = await createSession(v.bytes);
    } catch (err) {
      throw new ModelLoadError(`onnxruntime could not load ${v.path}`, { cause: err });
    }
    if (!session.inputNames.includes('features') || !['probability', 'threshold'].every((n) => session.outputNames.includes(n))) {
      await session.release();
      throw new ModelLoadError(`model ${v.path} lacks input "features" or outputs "probability"/"threshold"`);
    }
    return new EdgeModel(session, v.card, v.sha256, v.label);
  }

  /** Runs the model on one feature vector (FEATURE_NAMES order). */
  async score(features: Float32Array): Promise<{ probability: number; threshold: number; inferenceMs: number }> {
    if (features.length !== FEATURE_NAMES.length) throw new RangeError(`expected ${FEATURE_NAMES.length} features, got ${features.length}`);
    const t0 = performance.now();
    const out = await this.session.run({ features: new ort.Tensor('float32', features, [1, features.length]) });
    const inferenceMs = performance.now() - t0;
    const p = out.probability?.data[0];
    const t = out.threshold?.data[0];
    if (typeof p !== 'number' || typeof t !== 'number') throw new ModelLoadError('model returned no probability/threshold');
    // NaN passes `typeof` and fails `p >= t`: it would be called likely-false (and held under `delay`) on no evidence.
    // A failure instead: the live path annotates the alarm "not assessed" and counts an error.
    for (const [name, v] of [['probability', p], ['threshold', t]] as const) {
      if (!Number.isFinite(v)) throw new ModelLoadError(`model returned a ${name} that is not a finite number (${v})`);
    }
    return { probability: p, threshold: t, inferenceMs };
  }

  /** Scores the window that ends at the alarm (ideally the last 30 s; at least 16 s). */
  async assess(alarmType: AlarmType, channels: readonly Channel[]): Promise<Assessment> {
    const f0 = performance.now();
    const features = extractFeatures(alarmType, channels);
    const featureMs = performance.now() - f0;
    const { probability, threshold, inferenceMs } = await this.score(features);
    const windowS = signalSeconds(channels);
    const ecgLeads = ecgLeadsWithSignal(channels);
    const cutShort = endsMissing(channels);
    let verdict: Verdict = probability >= threshold ? 'likely-true' : 'likely-false';
    let reason: string | undefined;
    // Never call an alarm likely false without evidence to judge it by.
    if (windowS < MIN_WINDOW_S) reason = `window ${windowS.toFixed(1)} s is shorter than ${MIN_WINDOW_S} s`;
    // Pulse or pressure alone: every training window had two ECG leads, and on their pulse channels alone 63 of the
    // corpus's 71 true VT alarms were likely-false (.scratch/rv71 p6).
    else if (ecgLeads === 0) reason = `no ECG in the window (no lead with ${MIN_WINDOW_S} s of signal): not a window the model was trained on`;
    else if (cutShort.length > 0)
      reason =
        `the last seconds before the alarm are missing (${cutShort.map((c) => `${c.name} ${c.missingS.toFixed(1)} s`).join(', ')}; ` +
        `more than ${MAX_MISSING_AT_END_S} s): the alarm's event may be in them`;
    else if (features[USABLE_CHANNELS] === 0) reason = 'no usable ECG or pulse signal in the window';
    if (reason !== undefined) verdict = 'uncertain';
    return {
      probability,
      threshold,
      verdict,
      ...(reason !== undefined ? { reason } : {}),
      ecgLeads,
      modelVersion: this.version,
      modelSha256: this.sha256,
      inferenceMs,
      featureMs,
    };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** A model file read, hashed, approved and checked against its card and the feature code: what a session is made of. */
export interface VerifiedModel {
  path: string;
  /** The bytes that were hashed. */
  bytes: Uint8Array;
  sha256: string;
  card: ModelCard;
  /** Label of the approved entry this model matched, if it has one. */
  label: string | undefined;
}

/** Why a file could not be read, in words an engineer can act on (a missing file, permissions, a folder). */
function readError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'a folder, not a file' : null;
  return why !== null ? `${why} (${String(code)})` : err instanceof Error ? err.message : String(err);
}

/**
 * Reads and verifies a model without creating its session: SHA-256 approved (ModelNotApprovedError otherwise), card
 * matching the file and the feature code (ModelLoadError otherwise).
 */
export async function verifyModel(opts: EdgeModelOptions): Promise<VerifiedModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(opts.modelPath);
  } catch (err) {
    throw new ModelLoadError(`cannot read model ${opts.modelPath}: ${readError(err)}`, { cause: err });
  }
  // Hash the very bytes handed to onnxruntime, so nothing can change between check and load.
  const sha = requireApproved(opts.modelPath, bytes, opts.approved);
  const cardPath = opts.cardPath ?? opts.modelPath.replace(/\.onnx$/, '') + '.card.json';
  let cardText: string;
  try {
    cardText = await readFile(cardPath, 'utf8');
  } catch (err) {
    throw new ModelLoadError(`cannot read model card ${cardPath}: ${readError(err)}`, { cause: err });
  }
  const card = parseCard(cardText, cardPath);
  if (card.modelSha256 !== sha) throw new ModelLoadError(`${cardPath} describes model ${card.modelSha256}, not ${sha}`);
  if (card.featureVersion !== FEATURE_VERSION || card.featureNames.join(',') !== FEATURE_NAMES.join(','))
    throw new ModelLoadError(
      `model ${card.modelVersion} was trained on features ${card.featureVersion} (${card.featureNames.length}), ` +
        `this agent computes ${FEATURE_VERSION} (${FEATURE_NAMES.length})`,
    );
  const label = opts.approved.find((a) => a.sha256.toLowerCase() === sha)?.label || undefined;
  return { path: opts.modelPath, bytes, sha256: sha, card, label };
}

/** The channels the features read (first two ECG leads, PLETH, ABP), in that order. */
function readChannels(channels: readonly Channel[]): Channel[] {
  const { ecgs, ppg, abp } = featureChannels(channels);
  return [...ecgs, ...(ppg ? [ppg] : []), ...(abp ? [abp] : [])];
}

/**
 * Seconds of real signal (finite samples) in the richest channel the model reads. NaN — a channel padded up to the
 * alarm or at its front, or samples marked invalid — is no evidence and must not make a short window look long enough.
 */
export function signalSeconds(channels: readonly Channel[]): number {
  let most = 0;
  for (const c of readChannels(channels)) {
    let real = 0;
    for (const v of c.samples) if (Number.isFinite(v)) real++;
    most = Math.max(most, real / c.sampleRateHz);
  }
  return most;
}

/** How many of the ECG leads the features read carry at least MIN_WINDOW_S of real (finite) signal. */
export function ecgLeadsWithSignal(channels: readonly Channel[]): number {
  let n = 0;
  for (const c of featureChannels(channels).ecgs) {
    let real = 0;
    for (const v of c.samples) if (Number.isFinite(v)) real++;
    if (real / c.sampleRateHz >= MIN_WINDOW_S) n++;
  }
  return n;
}

/**
 * The channels the model reads that carry signal in the window but miss more than MAX_MISSING_AT_END_S before the
 * alarm (not received yet, or invalid), with the seconds missing. A channel with no signal at all is left out: the
 * features treat it as absent, as in training.
 */
export function endsMissing(channels: readonly Channel[]): { name: string; missingS: number }[] {
  const out: { name: string; missingS: number }[] = [];
  for (const c of readChannels(channels)) {
    let end = c.samples.length;
    while (end > 0 && !Number.isFinite(c.samples[end - 1]!)) end--;
    const missingS = (c.samples.length - end) / c.sampleRateHz;
    if (end > 0 && missingS > MAX_MISSING_AT_END_S) out.push({ name: c.name, missingS });
  }
  return out;
}
