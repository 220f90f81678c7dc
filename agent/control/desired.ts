// Our own copy of the twin's desired properties, kept with IoT Hub's merge rules and its `$version`.
// Not the SDK's cache: the SDK merges patches with lodash, which merges arrays index by index, where IoT Hub
// replaces them. Versions tell a stale or repeated update from a new one, and reveal a missed patch.
import { isObject, mergePatch, type JsonObject } from './overlay.js';

export type PatchOutcome = 'applied' | 'stale' | 'gap';

export class DesiredState {
  private doc: JsonObject | null = null;
  private ver = 0;

  get version(): number {
    return this.ver;
  }

  /** The desired document without `$` keys, or null before the twin was first read. */
  get document(): JsonObject | null {
    return this.doc;
  }

  /**
   * A full desired document (twin GET). Returns false if it is older than what we have, unless `startOver` (the twin
   * was made anew: its versions count from 1 again).
   */
  full(desired: unknown, startOver = false): boolean {
    if (!isObject(desired)) return false;
    const v = typeof desired.$version === 'number' ? desired.$version : 0;
    if (this.doc && v < this.ver && !startOver) return false;
    this.doc = withoutDollarKeys(desired);
    this.ver = v;
    return true;
  }

  /**
   * A desired patch. `gap`: one or more patches were missed (or the twin was never read): read the full twin.
   * `stale`: already seen.
   */
  patch(patch: unknown): PatchOutcome {
    if (!isObject(patch)) return 'stale';
    const v = typeof patch.$version === 'number' ? patch.$version : null;
    if (!this.doc || v === null) return 'gap';
    if (v <= this.ver) return 'stale';
    if (v > this.ver + 1) return 'gap';
    this.doc = mergePatch(this.doc, withoutDollarKeys(patch)) as JsonObject;
    this.ver = v;
    return 'applied';
  }
}

function withoutDollarKeys(o: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (!k.startsWith('$')) out[k] = structuredClone(v);
  return out;
}
