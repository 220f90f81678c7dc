// The example configurations config/examples/modbus-*.yaml: whole agent configs whose modbus entry is valid.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildPlan } from './plan.js';
import { configSchema } from './schema.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config', 'examples');
const files = readdirSync(dir).filter((f) => /^modbus-.*\.ya?ml$/.test(f));

describe('example modbus profiles', () => {
  it('exist', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });
  const validate = new Ajv({ allErrors: true, strict: false }).compile(configSchema);
  for (const f of files) {
    it(`${f} passes the schema and the plan`, () => {
      const doc = parse(readFileSync(join(dir, f), 'utf8')) as { drivers: { type: string; options: unknown }[] };
      const entry = doc.drivers.find((d) => d.type === 'modbus')!;
      expect(entry).toBeDefined();
      expect(validate(entry.options), JSON.stringify(validate.errors)).toBe(true);
      const plan = buildPlan(entry.options);
      expect(plan.buses.length).toBeGreaterThan(0);
    });
  }
});
