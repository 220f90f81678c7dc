// Model governance: only a model file whose SHA-256 is listed as approved in the config is loaded.
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

export interface ApprovedModel {
  /** SHA-256 of the .onnx file, lower-case hex. */
  sha256: string;
  /** Optional human label (e.g. the model version) for logs and audit. */
  label?: string;
}

export class ModelNotApprovedError extends Error {
  constructor(
    readonly path: string,
    readonly sha256: string,
  ) {
    super(
      `model ${path} (sha256 ${sha256}) is not in the approved model list; refusing to load it — alarms fall back to rules only`,
    );
    this.name = 'ModelNotApprovedError';
  }
}

/** Any other reason a model cannot be used (missing file, card mismatch, wrong inputs). */
export class ModelLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelLoadError';
  }
}

/** Where `model.path` points: relative paths are relative to the package, as the live model loads it. */
export function modelFilePath(path: string): string {
  return isAbsolute(path) ? path : resolve(PACKAGE_ROOT, path);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws ModelNotApprovedError unless `bytes` hash to an approved SHA-256. */
export function requireApproved(path: string, bytes: Uint8Array, approved: readonly ApprovedModel[]): string {
  const sha = sha256Hex(bytes);
  if (!approved.some((a) => a.sha256.toLowerCase() === sha)) throw new ModelNotApprovedError(path, sha);
  return sha;
}
