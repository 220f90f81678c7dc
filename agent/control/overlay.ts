// The configuration overlay carried by the module twin (`desired.agentConfig`) on top of the local config file.
// Pure: the merge rules, what may not be changed remotely, and validation with the same validator as the file.
import { ConfigError, validateConfig, type AgentConfig, type ConfigProblem, type DriverEntry } from '../config/load.js';
import type { DriverFactory } from '../../drivers/types.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/**
 * Sections a remote change may not touch, and why. They could cut the agent off from the hub (hub, control),
 * change what the agent is and where it keeps data (store, gateway id), expose patient ids to the cloud side
 * (privacy), or let the cloud side approve an edge model or let it hold alarms (model) — those need a local change
 * and a restart.
 */
export const REFUSED_SECTIONS: Readonly<Record<string, string>> = {
  hub: 'the uplink cannot be changed remotely: a mistake would cut the gateway off; change the local config file',
  store: 'the store cannot be changed remotely: it needs a restart and a mistake could lose accepted data; change the local config file',
  control: 'remote control settings cannot be changed remotely: a mistake could cut off remote management; change the local config file',
  gateway: "the gateway's identity cannot be changed remotely: it is part of every message id and alarm id; change the local config file",
  // Whoever controls the twin (the cloud side) must not be able to switch pseudonymisation off, nor set a key it knows
  // and so reverse the pseudonyms (review rv38 §2; docs/security.md).
  privacy: 'patient privacy cannot be changed remotely: the cloud side could read patient ids in clear or reverse their pseudonyms; change the local config file',
  // The edge model's governance is the ward's: which model files are approved (by SHA-256), which file is loaded and
  // whether it may hold an alarm's audio are decided by those who validated it locally (review rv46 M3).
  model: "the edge model cannot be changed remotely: its approval (by SHA-256), its file and its policy are the ward's decision; change the local config file",
};

/** Sections applied while running; other changed sections take effect at the next start. */
export const LIVE_SECTIONS = ['drivers', 'log'] as const;

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Merge of a twin-style patch into a value: objects merge key by key, `null` removes the key (so the local value
 * applies again), anything else (arrays included) replaces.
 */
export function mergePatch(base: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * `drivers` in the overlay is either a list (replaces the local list) or a map keyed by driver name, which suits
 * twin patches: each entry is merged into the local entry of that name (or added, then it needs a `type`);
 * `{ enabled: false }` switches a local driver off. Names with `.`, `$` or spaces cannot be twin keys: use the list.
 */
function overlayDrivers(local: DriverEntry[], overlay: unknown): unknown {
  if (!isObject(overlay)) return structuredClone(overlay);
  const out: unknown[] = local.map((d) => structuredClone(d));
  for (const [name, patch] of Object.entries(overlay)) {
    const i = out.findIndex((d) => isObject(d) && d.name === name);
    if (patch === null) continue; // removing an override: the local entry (if any) stays as it is
    if (i >= 0) out[i] = { ...(mergePatch(out[i], patch) as object), name };
    else out.push({ ...(isObject(patch) ? patch : { invalid: patch }), name });
  }
  return out;
}

/** The local config with the overlay on top, not yet validated. */
export function applyOverlay(local: AgentConfig, overlay: JsonObject): Record<string, unknown> {
  const out = structuredClone(local) as unknown as Record<string, unknown>;
  for (const [section, value] of Object.entries(overlay)) {
    if (value === null) continue;
    out[section] = section === 'drivers' ? overlayDrivers(local.drivers, value) : mergePatch(out[section], value);
  }
  return out;
}

export type OverlayResult = { ok: true; config: AgentConfig } | { ok: false; problems: ConfigProblem[] };

/** Validates the overlay on top of the local config: refused sections, then the agent's own validation. */
export function resolveOverlay(
  local: AgentConfig,
  overlay: unknown,
  registry: ReadonlyMap<string, DriverFactory>,
): OverlayResult {
  if (overlay === undefined || overlay === null) return { ok: true, config: structuredClone(local) };
  if (!isObject(overlay)) return { ok: false, problems: [{ path: 'agentConfig', message: 'must be an object' }] };
  const problems: ConfigProblem[] = [];
  for (const [section, value] of Object.entries(overlay)) {
    const why = REFUSED_SECTIONS[section];
    if (why && value !== null) problems.push({ path: section, message: why });
  }
  if (problems.length) return { ok: false, problems };
  try {
    return { ok: true, config: validateConfig(applyOverlay(local, overlay), registry, 'module twin desired properties') };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, problems: err.problems };
    throw err;
  }
}

/** Stable JSON for comparing configs: object keys sorted. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    isObject(value) ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, value[k]])) : value,
  );
}

export interface ChangePlan {
  /** Drivers to stop: removed, disabled, or changed (these are started again from their new entry). */
  stop: string[];
  /** Entries to start: added, enabled, or changed. */
  start: DriverEntry[];
  logLevel: AgentConfig['log']['level'] | null;
  /** Changed sections that take effect only at the next start. */
  pendingRestart: string[];
}

/** What it takes to go from one valid config to another while running. */
export function planChange(from: AgentConfig, to: AgentConfig): ChangePlan {
  const running = (c: AgentConfig) => new Map(c.drivers.filter((d) => d.enabled).map((d) => [d.name, canonical(d)]));
  const before = running(from);
  const after = running(to);
  const stop = [...before.keys()].filter((name) => after.get(name) !== before.get(name));
  const start = to.drivers.filter((d) => d.enabled && before.get(d.name) !== after.get(d.name));
  const pendingRestart: string[] = [];
  const sections = new Set([...Object.keys(from), ...Object.keys(to)]);
  for (const s of sections) {
    if (s === 'drivers') continue;
    const a = (from as unknown as Record<string, unknown>)[s];
    const b = (to as unknown as Record<string, unknown>)[s];
    if (s === 'log') {
      if (a && b && canonical({ ...(a as object), level: null }) !== canonical({ ...(b as object), level: null })) pendingRestart.push('log.pretty');
      continue;
    }
    if (canonical(a) !== canonical(b)) pendingRestart.push(s);
  }
  return { stop, start, logLevel: from.log.level !== to.log.level ? to.log.level : null, pendingRestart };
}
