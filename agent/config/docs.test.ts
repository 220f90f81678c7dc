// The configuration reference renders the fields under maps (per bed, per device) as rows with a placeholder key:
// what NEWS2 assumes for a bed was in no row before (review rv48 L1).
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from './docs.js';

describe('configuration reference: maps', () => {
  const doc = renderConfigDocs();

  it('has a row for each field under a per-bed or per-device map, with its allowed values', () => {
    expect(doc).toContain('| `alarms.news2.beds.<bed>.assume.consciousness` | `"A"` \\| `"C"` \\| `"V"` \\| `"P"` \\| `"U"` |');
    expect(doc).toContain('| `alarms.news2.beds.<bed>.assume.oxygen` | `"air"` \\| `"oxygen"` |');
    expect(doc).toMatch(/\| `alarms\.news2\.beds\.<bed>\.assume` \| \{ consciousness, oxygen \} \|  \| What NEWS2 assumes for this bed/);
    expect(doc).toContain('| `alarms.news2.beds.<bed>.spo2Scale` | `1` \\| `2` |');
    expect(doc).toMatch(/\| `alarms\.devices\.<deviceId>\.silentAfterS` \| integer \|  \| Seconds without any event .* ≥ 5, ≤ 86400 \|/);
    expect(doc).toContain('| `alarms.devices.<deviceId>.bed` | string |');
    expect(doc).toContain('| `alarms.limits.beds.<bed>.<rule>.delayS` | number |  | ≥ 0, ≤ 300 |');
  });

  it('names every map\'s key (no generic `<key>`: a new map gets its placeholder in docs.ts or the schema)', () => {
    expect(doc).not.toContain('<key>');
  });
});
