// The configuration reference renders the fields under maps (per bed, per device) as rows with a placeholder key:
// what NEWS2 assumes for a bed was in no row before (review rv48 L1).
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from './docs.js';
import { DEFAULT_LIMIT_RULES } from '../alarms/limits.js';

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

  it('names each limit rule\'s unit and the range its limits must lie in; low and high say they are in it (review rv91 H1)', () => {
    const beds = doc.split('\n').find((l) => l.startsWith('| `alarms.limits.beds` |'))!;
    for (const r of DEFAULT_LIMIT_RULES) expect(beds).toContain(` ${r.id} (${r.unit}`);
    expect(beds).toContain('temp (Cel = °C, 10–45)'); // deep hypothermia (review rv94 M2)
    expect(beds).toContain('hr (/min, 0–300)');
    expect(beds).toContain('nibp-sys (mm[Hg] = mmHg, 0–300)');
    expect(doc).toMatch(/\| `alarms\.limits\.beds\.<bed>\.<rule>\.high` \| number \\\| null \|  \| In the rule's unit, within the range it accepts \(both listed under alarms\.limits\.beds/);
    expect(doc).toMatch(/\| `alarms\.limits\.beds\.<bed>\.<rule>\.low` \| number \\\| null \|  \| In the rule's unit, within the range it accepts/);
  });

  it('renders exclusiveMinimum as "> n" (review rv91 L4)', () => {
    expect(doc).toMatch(/\| `options\.scenario\[\]\.durationS` \| number \|  \| Length of that episode; random when absent\. > 0, ≤ 604800 \|/);
    expect(doc).toMatch(/\| `store\.maxAgeHours` \| number \| `168` \| .* > 0 \|$/m);
  });
});
