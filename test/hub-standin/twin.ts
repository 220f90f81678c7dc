import { HubStandinError } from './errors.js';

/**
 * Device/module twin state and IoT Hub's JSON merge-patch rules: objects merge key by key,
 * `null` deletes a key, anything else (numbers, strings, arrays) replaces. Each patch bumps the
 * section's `$version`. Pure apart from the small mutable TwinState holder.
 */
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** IoT Hub limits twin nesting (10 levels in current docs); deeper patches are refused. */
export const MAX_TWIN_DEPTH = 10;

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepCopy<T extends Json>(v: T): T {
  return structuredClone(v);
}

/**
 * Checks a patch the device or a test sends: a JSON object, keys without `$` prefix
 * (reserved for `$version`, `$metadata`), nesting within MAX_TWIN_DEPTH.
 */
export function validatePatch(patch: unknown, path = ''): asserts patch is JsonObject {
  if (!isJsonObject(patch)) throw new HubStandinError('twin-patch', `${path || 'patch'} must be a JSON object`);
  const depth = path === '' ? 0 : path.split('.').length;
  if (depth >= MAX_TWIN_DEPTH) throw new HubStandinError('twin-patch', `nesting deeper than ${MAX_TWIN_DEPTH} at ${path}`);
  for (const [key, value] of Object.entries(patch)) {
    if (key === '' || key.startsWith('$')) {
      throw new HubStandinError('twin-patch', `property name ${JSON.stringify(key)} at ${path || '(root)'} is reserved or empty`);
    }
    if (isJsonObject(value)) validatePatch(value, path ? `${path}.${key}` : key);
  }
}

/** Returns a new object: `target` with `patch` merged in (null deletes). Inputs are not changed. */
export function mergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = Object.create(null) as JsonObject;
  for (const [k, v] of Object.entries(target)) out[k] = deepCopy(v);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete out[k];
    } else if (isJsonObject(v)) {
      const current = out[k];
      out[k] = mergePatch(isJsonObject(current) ? current : {}, v);
    } else {
      out[k] = deepCopy(v);
    }
  }
  return out;
}

/** Plain (prototype-carrying) deep copy for handing state to callers and JSON.stringify. */
export function toPlain(v: JsonObject): JsonObject {
  return JSON.parse(JSON.stringify(v)) as JsonObject;
}

export interface TwinSnapshot {
  desired: JsonObject;
  reported: JsonObject;
  desiredVersion: number;
  reportedVersion: number;
}

/** One identity's twin. Versions start at 1, as on a freshly created IoT Hub identity. */
export class TwinState {
  private desired: JsonObject;
  private reported: JsonObject;
  private desiredVersion = 1;
  private reportedVersion = 1;

  constructor(initial?: { desired?: JsonObject; reported?: JsonObject }) {
    const desired = initial?.desired ?? {};
    const reported = initial?.reported ?? {};
    validatePatch(desired);
    validatePatch(reported);
    this.desired = mergePatch({}, desired);
    this.reported = mergePatch({}, reported);
  }

  snapshot(): TwinSnapshot {
    return {
      desired: toPlain(this.desired),
      reported: toPlain(this.reported),
      desiredVersion: this.desiredVersion,
      reportedVersion: this.reportedVersion,
    };
  }

  /** Body of the `$iothub/twin/res/200` answer to a GET. */
  getResponseBody(): JsonObject {
    return {
      desired: { ...toPlain(this.desired), $version: this.desiredVersion },
      reported: { ...toPlain(this.reported), $version: this.reportedVersion },
    };
  }

  /** Applies a reported patch; returns the new reported `$version`. */
  patchReported(patch: unknown): number {
    validatePatch(patch);
    this.reported = mergePatch(this.reported, patch);
    this.reportedVersion += 1;
    return this.reportedVersion;
  }

  /** Applies a desired patch; returns the new desired `$version`. */
  patchDesired(patch: unknown): number {
    validatePatch(patch);
    this.desired = mergePatch(this.desired, patch);
    this.desiredVersion += 1;
    return this.desiredVersion;
  }
}
