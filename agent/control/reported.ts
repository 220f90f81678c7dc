// The reported properties: what the agent tells the cloud about itself through the twin. Pure.
// Bounded: IoT Hub caps the reported document at 32 KB (keys + values), so we stay well under it.
import { canonical, isObject, type Json, type JsonObject } from './overlay.js';

export const MAX_REPORTED_BYTES = 16 * 1024;
const MAX_DETAIL = 200;

export interface ConfigReport {
  status: 'applied' | 'rejected';
  /** `$version` of the desired properties this status is about (0: none read yet). */
  desiredVersion: number;
  /** Where the running config came from: the local file alone, with the saved overlay, or with the twin's. */
  source: 'local' | 'saved-overlay' | 'twin';
  at: string;
  errors?: string[];
  /** Changed sections that take effect at the next start. */
  pendingRestart?: string[];
  /** Fields of the overlay in force left out (a saved overlay from an older version holding fields now refused). */
  ignored?: string[];
  drivers?: string[];
  logLevel?: string;
}

export interface DriverHealthLike {
  state: string;
  detail?: string;
  devices?: Record<string, { state: string }>;
}

export interface ReportInputs {
  agent: { version: string; node: string; gatewayId: string; startedAt: string };
  models: Record<string, Json>;
  config: ConfigReport;
  drivers: Record<string, DriverHealthLike>;
  forward: { state: string; lastSuccessAt: number | null; lastError: string | null; sentMessages: number; sentRecords: number };
  /** The agent's health status ('degraded': health() says why), where the host gives it. */
  status?: 'ok' | 'degraded';
  /**
   * While the store cannot be read: `error` its code, the unread counts NaN and the age 'unknown', reported as
   * "unknown" (a null would delete the twin property, the same as "nothing waits"; review rv136 M2).
   */
  store: {
    pendingRecords: { telemetry: number; alarms: number };
    unackedMessages: { telemetry: number; alarms: number };
    oldestPendingAgeS: number | null | 'unknown';
    error?: string;
  };
  metrics: Record<string, number>;
  now: number;
}

/**
 * A name as a twin property name, which may not contain `.`, `$`, spaces or control characters. Those are written
 * as `%XX` (their UTF-8 bytes), and so is `%` itself, so that two names never share a key (a driver `icu.3` is
 * `icu%2E3`, `icu_3` stays `icu_3`; replacing them by `_` made both `icu_3`, one hiding the other) and
 * decodeURIComponent gives the name back. The name is cut to 100 characters before escaping, so that a key stays
 * within IoT Hub's 1 KB and no `%XX` is split: whole for every driver name the config allows (64 characters).
 */
export function twinKey(name: string): string {
  // The empty name (no config allows one) gets a key no other name can have: a `%` not followed by two hex digits.
  if (name === '') return '%';
  // eslint-disable-next-line no-control-regex
  return Array.from(name).slice(0, 100).join('').replace(/[%.$\s\u0000-\u001f\u007f-\u009f]/gu, escapeChar);
}

function escapeChar(c: string): string {
  return [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

function cut(s: string, n = MAX_DETAIL): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/**
 * Sums counters and gauges by name across labels: a handful of numbers instead of one per label set. At most `max`
 * names, those that moved first (a counter at 0 says little in the twin; Prometheus has them all); `omitted` counts
 * the rest. It kept the first `max` names met, so counters declared at start pushed out forward_messages_total.
 */
export function counterTotals(metrics: Record<string, number>, max = 40): { counters: Record<string, number>; omitted: number } {
  const all = new Map<string, number>();
  for (const [k, v] of Object.entries(metrics)) {
    const name = twinKey(k.replace(/\{.*$/, ''));
    all.set(name, (all.get(name) ?? 0) + v);
  }
  const names = [...all.keys()];
  const chosen = [...names.filter((n) => all.get(n) !== 0), ...names.filter((n) => all.get(n) === 0)].slice(0, max);
  return { counters: Object.fromEntries(chosen.map((n) => [n, all.get(n)!])), omitted: names.length - chosen.length };
}

/** Every string in a value cut to `n` characters: IoT Hub refuses a twin update with a string value over 4 KB. */
function cutStrings(v: Json, n = MAX_DETAIL): Json {
  if (typeof v === 'string') return cut(v, n);
  if (Array.isArray(v)) return v.map((e) => cutStrings(e, n));
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, cutStrings(e, n)]));
  return v;
}

export function buildReported(x: ReportInputs, maxBytes = MAX_REPORTED_BYTES): JsonObject {
  const drivers: JsonObject = {};
  for (const [name, h] of Object.entries(x.drivers)) {
    const entry: JsonObject = { state: h.state };
    if (h.detail) entry.detail = cut(h.detail);
    if (h.devices) {
      const byState: JsonObject = {};
      for (const d of Object.values(h.devices)) byState[twinKey(d.state)] = ((byState[twinKey(d.state)] as number | undefined) ?? 0) + 1;
      entry.devices = { total: Object.keys(h.devices).length, byState };
    }
    drivers[twinKey(name)] = entry;
  }
  const config: JsonObject = {
    status: x.config.status,
    desiredVersion: x.config.desiredVersion,
    source: x.config.source,
    at: x.config.at,
  };
  if (x.config.errors?.length) putList(config, 'errors', x.config.errors);
  if (x.config.pendingRestart?.length) putList(config, 'pendingRestart', x.config.pendingRestart);
  if (x.config.ignored?.length) putList(config, 'ignored', x.config.ignored);
  if (x.config.drivers) putList(config, 'drivers', x.config.drivers);
  if (x.config.logLevel) config.logLevel = x.config.logLevel;
  const doc: JsonObject = {
    agent: cutStrings({ ...x.agent }),
    // Model reports carry error texts of any length (a refused file's path and reason).
    models: cutStrings(x.models, 300) as JsonObject,
    config,
    drivers,
    ...(x.status !== undefined && { status: x.status }),
    store: {
      pendingRecords: x.store.pendingRecords,
      unackedMessages: { telemetry: known(x.store.unackedMessages.telemetry), alarms: known(x.store.unackedMessages.alarms) },
      oldestPendingAgeS: x.store.oldestPendingAgeS,
      ...(x.store.error !== undefined && { error: cut(x.store.error) }),
    },
    forward: {
      state: x.forward.state,
      lastSuccessAt: x.forward.lastSuccessAt === null ? null : new Date(x.forward.lastSuccessAt).toISOString(),
      lastError: x.forward.lastError === null ? null : cut(x.forward.lastError),
      sentMessages: x.forward.sentMessages,
      sentRecords: x.forward.sentRecords,
    },
    ...counterSection(x.metrics),
    updatedAt: new Date(x.now).toISOString(),
  };
  return bound(doc, maxBytes);
}

/**
 * Byte budgets (as JSON) of the config section's lists: together under half the document, so that a refused config
 * with long reasons leaves room for the driver states (it filled the document and pushed them all out: review rv183
 * L3). The `drivers` section names the drivers too.
 */
const CONFIG_LIST_BYTES = { errors: 4096, drivers: 2048, ignored: 1024, pendingRestart: 512 } as const;

/** The first entries of a config list (each cut to 300 characters) that fit its budget; `<key>Omitted` counts the rest. */
function putList(config: JsonObject, key: keyof typeof CONFIG_LIST_BYTES, list: readonly string[]): void {
  const kept: string[] = [];
  let bytes = 2; // []
  for (const entry of list) {
    const e = cut(entry, 300);
    bytes += Buffer.byteLength(JSON.stringify(e)) + 1;
    if (bytes > CONFIG_LIST_BYTES[key]) break;
    kept.push(e);
  }
  config[key] = kept;
  if (kept.length < list.length) config[`${key}Omitted`] = list.length - kept.length;
}

function counterSection(metrics: Record<string, number>): JsonObject {
  const { counters, omitted } = counterTotals(metrics);
  return omitted > 0 ? { counters, countersOmitted: omitted } : { counters };
}

/** A count as reported: one that could not be read (NaN) is "unknown", not null (which deletes a twin property). */
const known = (n: number): number | 'unknown' => (Number.isFinite(n) ? n : 'unknown');

/** Sheds detail until the document fits: driver details, then counters, then drivers beyond the first ones. */
function bound(doc: JsonObject, maxBytes: number): JsonObject {
  const size = () => Buffer.byteLength(JSON.stringify(doc));
  if (size() <= maxBytes) return doc;
  const drivers = doc.drivers as JsonObject;
  for (const d of Object.values(drivers)) if (isObject(d)) delete d.detail;
  if (size() <= maxBytes) return doc;
  doc.countersOmitted = ((doc.countersOmitted as number | undefined) ?? 0) + Object.keys(doc.counters as JsonObject).length;
  doc.counters = {};
  if (size() <= maxBytes) return doc;
  const names = Object.keys(drivers);
  let omitted = 0;
  for (let over = size() - maxBytes; over > 0 && names.length; over = size() - maxBytes) {
    // Drop as many (from the end) as the excess needs, judged by the average entry, plus the count field.
    const avg = Buffer.byteLength(JSON.stringify(drivers)) / names.length;
    for (let n = Math.max(1, Math.ceil((over + 32) / avg)); n > 0 && names.length; n--) {
      delete drivers[names.pop()!];
      omitted += 1;
    }
    doc.driversOmitted = omitted;
  }
  return doc;
}

/**
 * The patch that turns `prev` into `next` under twin merge rules: changed values, and `null` for keys that are
 * gone. Empty if nothing changed. Numbers that change all the time are only sent when something else is due.
 */
export function diffPatch(prev: JsonObject, next: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const k of Object.keys(prev)) if (!(k in next)) out[k] = null;
  for (const [k, v] of Object.entries(next)) {
    const p = prev[k];
    if (isObject(v) && isObject(p)) {
      const sub = diffPatch(p, v);
      if (Object.keys(sub).length) out[k] = sub;
    } else if (p === undefined || canonical(p) !== canonical(v)) {
      out[k] = v;
    }
  }
  return out;
}

/** The parts of the report whose change is worth a prompt update (states, config), not the running numbers. */
export function significant(doc: JsonObject): string {
  const drivers = isObject(doc.drivers)
    ? Object.fromEntries(Object.entries(doc.drivers).map(([k, v]) => [k, isObject(v) ? v.state : v]))
    : null;
  const fwd = isObject(doc.forward) ? doc.forward.state : null;
  // A store that can no longer (or again) be read is said at once, not with the next periodic report.
  const storeError = isObject(doc.store) ? (doc.store.error ?? null) : null;
  return canonical({ drivers, fwd, config: doc.config, models: doc.models, storeError });
}
