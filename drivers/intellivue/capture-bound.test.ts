// The capture's size bound and warning reach this driver (review rv131 M3): the option is in its schema, goes into its
// plan, and its factory warns at --check and start while a capture is on.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { intellivueDriver } from './index.js';
import { buildPlan } from './options.js';
import { configSchema } from './schema.js';

const base = { id: 'mx800', bed: 'ICU-7', path: '/dev/ttyUSB0' };
const MiB = 1024 * 1024;

describe('intellivue capture bound and warning', () => {
  it('takes captureMaxBytes (at least 1 MiB) beside captureFile and puts it in the plan', () => {
    const validate = new Ajv({ allErrors: true }).compile(configSchema);
    expect(validate({ ...base, captureFile: '/c/x.jsonl', captureMaxBytes: 64 * MiB })).toBe(true);
    expect(validate({ ...base, captureFile: '/c/x.jsonl', captureMaxBytes: MiB - 1 })).toBe(false);
    expect(buildPlan({ ...base, captureFile: '/c/x.jsonl', captureMaxBytes: 64 * MiB }).captureMaxBytes).toBe(64 * MiB);
    expect(buildPlan({ ...base, captureFile: '/c/x.jsonl' }).captureMaxBytes).toBeUndefined(); // the serial default
  });
  it('warns that a capture is on, naming captureFile; not without one', () => {
    const ws = intellivueDriver.warnings?.({ ...base, captureFile: '/c/x.jsonl' }) ?? [];
    expect(ws.filter((w) => w.field === 'options.captureFile')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^capture is on: .*\/c\/x\.jsonl.*patient data.*256 MiB.*remove captureFile/) }),
    ]);
    expect((intellivueDriver.warnings?.(base) ?? []).filter((w) => w.field === 'options.captureFile')).toEqual([]);
  });
});
