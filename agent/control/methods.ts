// Direct methods: a table of named handlers. Answers follow HTTP status conventions, as IoT Hub passes them
// through to the caller: 200 done, 400 refused with reasons, 404 unknown method, 500 failed.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { isObject } from './overlay.js';

export interface MethodResult {
  status: number;
  payload: unknown;
}

export type MethodHandler = (payload: unknown) => Promise<MethodResult> | MethodResult;

/** IoT Hub caps a method response payload at 128 KB; keep well under it. */
export const MAX_RESPONSE_BYTES = 120 * 1024;

/** The method label of names not in the table: a caller must not make up label values (one series per name). */
export const UNKNOWN_METHOD = '(unknown)';

export class MethodTable {
  constructor(
    private readonly handlers: Readonly<Record<string, MethodHandler>>,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  get names(): string[] {
    return Object.keys(this.handlers);
  }

  async call(name: string, payload: unknown): Promise<MethodResult> {
    const result = await this.answer(name, payload);
    const known = Object.hasOwn(this.handlers, name);
    this.metrics.inc('control_methods_total', { method: known ? name : UNKNOWN_METHOD, status: String(result.status) });
    return result;
  }

  /** A name the transport answered 404 itself (no handler registered for it): counted like one answered here. */
  unknown(name: string): void {
    this.log.warn({ method: name }, 'unknown direct method called');
    this.metrics.inc('control_methods_total', { method: UNKNOWN_METHOD, status: '404' });
  }

  private async answer(name: string, payload: unknown): Promise<MethodResult> {
    const handler = Object.hasOwn(this.handlers, name) ? this.handlers[name] : undefined;
    if (!handler) {
      this.log.warn({ method: name }, 'unknown direct method called');
      return { status: 404, payload: { error: `unknown method "${name}"; available: ${this.names.join(', ')}` } };
    }
    const started = Date.now();
    let result: MethodResult;
    try {
      result = await handler(payload);
    } catch (err) {
      this.log.error({ err, method: name }, 'direct method failed');
      return { status: 500, payload: { error: `${name} failed: ${(err as Error)?.message ?? String(err)}` } };
    }
    const bytes = Buffer.byteLength(JSON.stringify(result.payload) ?? 'null');
    if (bytes > MAX_RESPONSE_BYTES) {
      this.log.error({ method: name, bytes }, 'direct method answer too large; not sent');
      return { status: 500, payload: { error: `${name}: answer of ${bytes} bytes exceeds ${MAX_RESPONSE_BYTES}` } };
    }
    this.log.info({ method: name, status: result.status, ms: Date.now() - started }, 'direct method answered');
    return result;
  }
}

/** `{ from, to }` as ISO 8601 times → milliseconds, or the reason it is refused. */
export function parseReplayRange(payload: unknown, now = Date.now()): { fromMs: number; toMs: number } | { error: string } {
  if (!isObject(payload)) return { error: 'payload must be an object { "from": ISO time, "to": ISO time }' };
  const parse = (field: 'from' | 'to'): number | string => {
    const v = payload[field];
    if (v === undefined && field === 'to') return now;
    if (typeof v !== 'string') return `${field}: must be an ISO 8601 time string (got ${JSON.stringify(v) ?? 'nothing'})`;
    // Date.parse accepts more than ISO 8601; insist on a date with a time zone so the range is unambiguous.
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
      return `${field}: must be an ISO 8601 time with a time zone, e.g. 2026-11-22T06:00:00Z (got ${JSON.stringify(v)})`;
    }
    const ms = Date.parse(v);
    return Number.isFinite(ms) ? ms : `${field}: not a valid time (got ${JSON.stringify(v)})`;
  };
  const fromMs = parse('from');
  const toMs = parse('to');
  const errors = [fromMs, toMs].filter((x): x is string => typeof x === 'string');
  if (errors.length) return { error: errors.join('; ') };
  if ((fromMs as number) > (toMs as number)) return { error: 'from: must not be after to' };
  return { fromMs: fromMs as number, toMs: toMs as number };
}
