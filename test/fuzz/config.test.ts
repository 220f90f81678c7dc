// Property tests of the config loader (agent/config/load.ts): whatever text a config file holds — YAML or JSON,
// broken, hostile or merely mistyped — loading it gives a valid config or a ConfigError naming the problem,
// never another exception and never a hang. The long version (a million inputs) is scripts/fuzz.ts.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText, validateConfig } from '../../agent/config/load.js';
import { DEFAULT_CONFIG_PATH } from '../../agent/paths.js';
import { registry } from '../../drivers/registry.js';

/** Loads text as the agent does; returns 'valid' or the ConfigError, and lets anything else through. */
function load(text: string): 'valid' | ConfigError {
  try {
    const cfg = validateConfig(parseConfigText(text, 'fuzz'), registry, 'fuzz');
    expect(typeof cfg).toBe('object');
    return 'valid';
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
}

const defaultText = readFileSync(DEFAULT_CONFIG_PATH, 'utf8');
const defaultObject = parseConfigText(defaultText, 'default') as Record<string, unknown>;

const sample = {
  gateway: { id: 'gw-1', site: 'ward-3' },
  store: { path: '/data/agent.db', maxBytes: 1_000_000_000 },
  hub: { mode: 'device', connectionString: { env: 'CS' } },
  display: { port: 0 },
  drivers: [
    { name: 'sim', type: 'simulator', options: { beds: 2 } },
    { name: 'mllp', type: 'hl7-mllp', options: { port: 2575, tls: { certFile: 'a.pem', keyFile: 'b.pem', allowedClients: { cn: ['cs-1'] } } } },
  ],
};

/** A valid config with one value somewhere replaced by an arbitrary JSON value, or removed. */
function mutated(base: unknown) {
  return fc.tuple(fc.nat(), fc.oneof(fc.jsonValue(), fc.constant(undefined))).map(([n, value]) => {
    const copy = structuredClone(base) as Record<string, unknown>;
    const slots: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach((x, i) => (slots.push({ parent: v, key: i }), walk(x)));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (slots.push({ parent: v as Record<string, unknown>, key: k }), walk(x));
    };
    walk(copy);
    const slot = slots[n % slots.length]!;
    if (value === undefined) {
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
      else delete slot.parent[slot.key as string];
    } else (slot.parent as Record<string | number, unknown>)[slot.key] = value;
    return copy;
  });
}

describe('config loader under arbitrary input', () => {
  it('the shipped default and a full sample are valid (the properties below start from valid configs)', () => {
    expect(load(defaultText)).toBe('valid');
    expect(load(JSON.stringify(sample))).toBe('valid');
  });

  it('arbitrary text gives a config or a ConfigError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (t) => void load(t)), { numRuns: 400 });
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'{}[]:,-&*!|>#%@`"\'\n \t?abc01.~'), maxLength: 200 }), (t) => void load(t)), { numRuns: 400 });
  });

  it('arbitrary JSON and YAML documents give a config or a ConfigError', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => void load(JSON.stringify(v))), { numRuns: 300 });
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => void load(toYaml(v))), { numRuns: 300 });
  });

  it('a valid config with one value replaced or removed gives a config or a ConfigError naming a field', () => {
    for (const base of [sample, defaultObject]) {
      fc.assert(
        fc.property(mutated(base), fc.boolean(), (cfg, asYaml) => {
          const out = load(asYaml ? toYaml(cfg) : JSON.stringify(cfg));
          if (out !== 'valid') expect(out.problems.length).toBeGreaterThan(0);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('byte damage to the shipped default gives a config or a ConfigError', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 40 }), fc.string({ maxLength: 8 }), (at, cut, insert) => {
        const i = at % defaultText.length;
        void load(defaultText.slice(0, i) + insert + defaultText.slice(i + cut));
      }),
      { numRuns: 300 },
    );
  });

  it('hostile YAML: an alias bomb and deep nesting are refused quickly, tags and __proto__ keys are refused as fields', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]', 'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]'].join('\n');
    expect(load(bomb)).toBeInstanceOf(ConfigError);
    expect(load(`${'['.repeat(5000)}${']'.repeat(5000)}`)).toBeInstanceOf(ConfigError);
    expect(load('log: !!binary aGVsbG8=\n')).toBeInstanceOf(ConfigError);
    const proto = load('__proto__: {polluted: 1}\nlog: {level: info}\n');
    expect(proto).toBeInstanceOf(ConfigError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  // Found by scripts/fuzz.ts: a YAML alias that refers to its own anchor builds a circular object, and the error
  // formatter's JSON.stringify then throws a TypeError instead of a ConfigError. Needs the fix in load.ts
  // (parseConfigText must refuse circular documents).
  it('a self-referencing YAML alias gives a ConfigError', () => {
    expect(load('drivers: &d\n  - *d\n')).toBeInstanceOf(ConfigError);
    expect(load('gateway: &g {id: *g}\n')).toBeInstanceOf(ConfigError);
  });
});
