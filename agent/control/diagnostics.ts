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

/** Builds the bundle, newest log lines first into the budget; what did not fit is said, not silently dropped. */
export function buildDiagnostics(x: DiagnosticsInputs, maxBytes: number): DiagnosticsBundle {
  const bundle: DiagnosticsBundle = {
    generatedAt: new Date(x.now).toISOString(),
    agent: x.agent,
    configStatus: x.configStatus,
    config: redactSecrets(x.config),
    overlay: redactSecrets(x.overlay),
    health: redactSecrets(x.health),
    captures: captureFiles(x.config),
    logs: { lines: [], available: x.logLines.length, included: 0 },
    bytes: 0,
  };
  // Health carries every metric; on a very busy gateway it could crowd out the rest.
  if (size(bundle) > maxBytes / 2 && isObject(bundle.health)) {
    bundle.health = { ...bundle.health, metrics: '[omitted: too large]' };
  }
  if (size(bundle) > maxBytes - 1024) {
    bundle.overlay = '[omitted: too large]';
    bundle.captures = bundle.captures.slice(0, 20);
    if (size(bundle) > maxBytes - 1024) bundle.config = '[omitted: too large]';
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
