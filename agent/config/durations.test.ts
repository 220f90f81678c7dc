// Every duration in the configuration has an upper bound a timer can wait (review rv60 H1): Node's timers cannot wait
// longer than 2^31-1 ms (24.8 days) and fire after 1 ms instead, so an HL7 idleTimeoutMs of 30 days, written to mean
// "never", closed every connection as it opened, and a serial back-off of 30 days retried every millisecond.
import { describe, expect, it } from 'vitest';
import { registry } from '../../drivers/registry.js';
import { ConfigError, validateConfig } from './load.js';
import { configSchema } from './schema.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Capped in the code, with a warning, rather than refused (see its schema comment). */
const CAPPED_IN_CODE = new Set(['hub.sendTimeoutMs']);

type Node = Record<string, unknown>;

/** Numeric fields named as durations (…Ms, …S), with their path and the most they may be, in milliseconds. */
function durations(node: unknown, path: string, name: string, out: Array<{ path: string; maxMs: number | undefined }>): void {
  if (!node || typeof node !== 'object') return;
  const n = node as Node;
  const types = ([] as unknown[]).concat(n.type);
  if ((types.includes('integer') || types.includes('number')) && /(Ms|S)$/.test(name)) {
    const max = typeof n.maximum === 'number' ? n.maximum : typeof n.exclusiveMaximum === 'number' ? n.exclusiveMaximum : undefined;
    out.push({ path, maxMs: max === undefined ? undefined : name.endsWith('Ms') ? max : max * 1000 });
  }
  for (const [k, v] of Object.entries(n)) {
    if (k === 'properties') for (const [p, s] of Object.entries(v as Node)) durations(s, path ? `${path}.${p}` : p, p, out);
    else if (k === 'items' || k === 'additionalProperties') durations(v, `${path}[]`, name, out);
    else if (k === 'oneOf' || k === 'anyOf' || k === 'allOf') for (const s of v as unknown[]) durations(s, path, name, out);
  }
}

describe('configuration durations', () => {
  const found: Array<{ path: string; maxMs: number | undefined }> = [];
  durations(configSchema, '', '', found);
  for (const [type, factory] of registry) durations(factory.configSchema, `drivers(${type}).options`, '', found);

  it('finds the durations it checks, in the agent and in the drivers', () => {
    expect(found.map((f) => f.path)).toEqual(expect.arrayContaining(['hub.retry.maxDelayMs', 'drivers(hl7-mllp).options.idleTimeoutMs', 'drivers(modbus).options.backoff.maxMs']));
  });

  it('bounds every one within what a timer can wait (2^31-1 ms)', () => {
    const unbounded = found.filter((f) => !CAPPED_IN_CODE.has(f.path) && !(f.maxMs !== undefined && f.maxMs <= MAX_TIMER_MS));
    expect(unbounded).toEqual([]);
  });

  it('refuses an HL7 idle timeout of 30 days (meant as "never"), naming the field and its limit', () => {
    const config = { display: { enabled: false }, drivers: [{ name: 'cs', type: 'hl7-mllp', options: { port: 2575, idleTimeoutMs: 30 * 86_400_000 } }] };
    let problems: unknown = [];
    try {
      validateConfig(config, registry, 'test.yaml');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual([expect.objectContaining({ path: 'drivers[0].options.idleTimeoutMs', message: 'must be <= 604800000 (got 2592000000)' })]);
  });
});
