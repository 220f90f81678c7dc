// The `captureDiagnostics` bundle: recent log lines, the effective config with secrets removed, health, and
// the drivers' capture files. Bounded (a direct-method response is at most 128 KB; we stay under maxBytes).
import { statSync } from 'node:fs';
import type { AgentConfig } from '../config/load.js';
import { SECRET_FIELDS } from '../config/schema.js';
import { isObject } from './overlay.js';

export const REDACTED = '[redacted]';

/**
 * Field names whose values are secrets (or hashes of them, which must not leave the gateway either): every field the
 * config schema types as a secret (SECRET_FIELDS: connection string, pseudonym key…), and these names wherever they
 * appear (log lines, health).
 */
const SECRET_KEY = /connectionString|password|passwordHash|tokenHash|^token$|tokens?Secret|secret|sharedAccessKey|privateKey|keyFile$|^key$/i;
const isSecretKey = (key: string) => SECRET_FIELDS.has(key) || SECRET_KEY.test(key);
/** Values that carry a secret whatever their field is called (hashes anywhere in the text: a log line cut short is not JSON). */
const SECRET_VALUE = /SharedAccessKey=|SharedAccessSignature|-----BEGIN [A-Z ]*PRIVATE KEY-----|\bscrypt\$|\bsha256\$/;
/** `"name":"value"` in text that is not JSON any more (a log line cut short), the last value maybe cut inside. */
const QUOTED_FIELD = /"([A-Za-z_]+)":"((?:[^"\\]|\\.)*)("|$)/g;

/** A deep copy with secret fields and secret-looking values replaced. */
export function redactSecrets(v: unknown, key = ''): unknown {
  if (key && isSecretKey(key)) return v === undefined || v === null ? v : REDACTED;
  if (typeof v === 'string') return SECRET_VALUE.test(v) ? REDACTED : v;
  if (Array.isArray(v)) return v.map((x) => redactSecrets(x));
  if (isObject(v) || (v !== null && typeof v === 'object')) {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, redactSecrets(x, k)]));
  }
  return v;
}

export interface CaptureFileInfo {
  driver: string;
  file: string;
  bytes: number | null;
  modifiedAt: string | null;
  error?: string;
}

/** Capture files named in driver options (`captureFile`), with size and age, for asking the site to send them. */
export function captureFiles(config: AgentConfig): CaptureFileInfo[] {
  const out: CaptureFileInfo[] = [];
  for (const d of config.drivers) {
    const file = (d.options as { captureFile?: unknown }).captureFile;
    if (typeof file !== 'string') continue;
    try {
      const st = statSync(file);
      out.push({ driver: d.name, file, bytes: st.size, modifiedAt: st.mtime.toISOString() });
    } catch (err) {
      out.push({ driver: d.name, file, bytes: null, modifiedAt: null, error: (err as NodeJS.ErrnoException).code ?? 'unreadable' });
    }
  }
  return out;
}

export interface DiagnosticsInputs {
  agent: Record<string, unknown>;
  health: unknown;
  config: AgentConfig;
  configStatus: unknown;
  overlay: unknown;
  logLines: readonly string[];
  now: number;
}

export interface DiagnosticsBundle {
  generatedAt: string;
  agent: Record<string, unknown>;
  configStatus: unknown;
  config: unknown;
  overlay: unknown;
  health: unknown;
  captures: CaptureFileInfo[];
  logs: { lines: unknown[]; available: number; included: number; note?: string };
  bytes: number;
}

const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

/**
 * Devices listed per driver in getStatus and captureDiagnostics; the others are counted. A driver's device list can
 * hold thousands (the HL7 driver keeps every device id it has seen): listed whole, the answers went over IoT Hub's
 * cap and came back 500 (review rv68 M3). 100 HL7-style entries are about 10 KB.
 */
export const DEVICES_LISTED_PER_DRIVER = 100;

/** A driver's health with the first `max` devices listed, and counts by state of all of them. */
function listDevices(driver: unknown, max: number): unknown {
  if (!isObject(driver) || !isObject(driver.devices)) return driver;
  const entries = Object.entries(driver.devices);
  const byState: Record<string, number> = {};
  for (const [, d] of entries) {
    const state = isObject(d) && typeof d.state === 'string' ? d.state : 'unknown';
    byState[state] = (byState[state] ?? 0) + 1;
  }
  return {
    ...driver,
    devices: Object.fromEntries(entries.slice(0, max)),
    deviceCounts: { total: entries.length, byState },
    devicesOmitted: Math.max(0, entries.length - max),
  };
}

/** Health (agent.health()'s shape) with every driver's devices cut to the first `max`, with their counts. */
export function withDevicesListed(health: unknown, max: number): unknown {
  if (!isObject(health) || !isObject(health.drivers)) return health;
  return { ...health, drivers: Object.fromEntries(Object.entries(health.drivers).map(([name, d]) => [name, listDevices(d, max)])) };
}

/**
 * Health made to fit: DEVICES_LISTED_PER_DRIVER devices per driver, fewer (halved down to counts alone) while
 * `fits` says no, then the metrics left out. `fits` judges the answer the health goes into.
 */
export function boundedHealth(health: unknown, fits: (h: unknown) => boolean): unknown {
  let max = DEVICES_LISTED_PER_DRIVER;
  let h = withDevicesListed(health, max);
  while (!fits(h) && max > 0) {
    max = Math.floor(max / 2);
    h = withDevicesListed(health, max);
  }
  if (!fits(h) && isObject(h)) h = { ...h, metrics: '[omitted: too large]' };
  return h;
}

/** Builds the bundle, newest log lines first into the budget; what did not fit is said, not silently dropped. */
export function buildDiagnostics(x: DiagnosticsInputs, maxBytes: number): DiagnosticsBundle {
  const bundle: DiagnosticsBundle = {
    generatedAt: new Date(x.now).toISOString(),
    agent: x.agent,
    configStatus: x.configStatus,
    config: redactSecrets(x.config),
    overlay: redactSecrets(x.overlay),
    health: null,
    captures: captureFiles(x.config),
    logs: { lines: [], available: x.logLines.length, included: 0 },
    bytes: 0,
  };
  // Health lists devices (thousands on a central-station feed) and carries every metric: cut to half the budget, so
  // that it cannot crowd out the log lines, devices first.
  const withHealth = (h: unknown) => size({ ...bundle, health: h }) <= maxBytes / 2;
  bundle.health = boundedHealth(redactSecrets(x.health), withHealth);
  if (size(bundle) > maxBytes - 1024) {
    bundle.overlay = '[omitted: too large]';
    bundle.captures = bundle.captures.slice(0, 20);
    if (size(bundle) > maxBytes - 1024) bundle.config = '[omitted: too large]';
    // Whatever is left is too large to send with anything else: the bundle must stay within maxBytes.
    if (size(bundle) > maxBytes - 1024) bundle.health = '[omitted: too large]';
    if (size(bundle) > maxBytes - 1024) bundle.configStatus = '[omitted: too large]';
  }
  // Room for the counts and the note added below.
  let used = size(bundle) + 256;
  const picked: unknown[] = [];
  for (let i = x.logLines.length - 1; i >= 0; i--) {
    const raw = x.logLines[i]!;
    let line: unknown;
    try {
      line = redactSecrets(JSON.parse(raw));
    } catch {
      // Cut short: secret fields are found in the text, then a secret-looking value anywhere takes the whole line.
      line = redactSecrets(raw.replace(QUOTED_FIELD, (all, name: string, _value: string, end: string) => (isSecretKey(name) ? `"${name}":"${REDACTED}${end}` : all)));
    }
    const n = size(line) + 1;
    if (used + n > maxBytes) break;
    used += n;
    picked.push(line);
  }
  bundle.logs = { lines: picked.reverse(), available: x.logLines.length, included: picked.length };
  if (picked.length < x.logLines.length) bundle.logs.note = `oldest ${x.logLines.length - picked.length} lines left out to stay within ${maxBytes} bytes`;
  if (x.logLines.length === 0) bundle.logs.note = 'no log buffer on this logger';
  bundle.bytes = size(bundle);
  return bundle;
}
