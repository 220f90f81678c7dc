// The limit rules and NEWS2 take the same unit spellings, from one table in units.ts (review rv114 M4: a systolic of
// 70 sent as "mmHg" scored NEWS2 3 but raised no NIBP SYS LOW).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalUcum, MDC, UNIT_SPELLINGS } from '../model/mdc.js';
import { PACKAGE_ROOT } from '../paths.js';
import { numeric, s } from './fixtures.js';
import { LimitEvaluator } from './limits.js';
import { News2Monitor } from './news2.js';
import { convert } from './units.js';

const u = (ucum: string) => ({ unit: { ucum } });

describe('non-UCUM unit spellings (review rv114 M4)', () => {
  it('convert takes mmHg, degC and degF as mm[Hg], Cel and [degF]; other spellings still do not convert', () => {
    expect(convert(70, 'mmHg', 'mm[Hg]')).toBe(70);
    expect(convert(40.5, 'degC', 'Cel')).toBe(40.5);
    expect(convert(104, 'degF', 'Cel')).toBeCloseTo(40, 10);
    expect(convert(1, 'mmHg', '%')).toBeNull();
    expect(convert(310, 'K', 'Cel')).toBeNull();
  });

  it('limit rules: a systolic of 70 "mmHg" raises NIBP SYS LOW and a 40.5 "degC" raises TEMP HIGH, nothing counted unconvertible', () => {
    const ev = new LimitEvaluator();
    const raised: string[] = [];
    for (let t = 0; t <= 10; t++) {
      for (const up of [...ev.reading(numeric(MDC.PRESS_BLD_NONINV_SYS, 70, t, u('mmHg'))), ...ev.reading(numeric(MDC.TEMP_BODY, 40.5, t, u('degC'))), ...ev.tick(s(t))]) {
        if (up.present) raised.push(up.spec.condition.text);
      }
    }
    expect(raised).toEqual(['NIBP SYS LOW 70 < 90 mmHg', 'TEMP HIGH 40.5 > 39 °C']);
    expect(ev.takeUnconvertible().count).toBe(0);
  });

  it('NEWS2 scores the same readings', () => {
    const m = new News2Monitor();
    expect(m.reading(numeric(MDC.PRESS_BLD_NONINV_SYS, 70, 0, u('mmHg')))).toBe(true);
    expect(m.reading(numeric(MDC.TEMP_BODY, 40.5, 0, u('degC')))).toBe(true);
    const params = m.score('bed-1', s(0))!.params;
    expect(params.find((p) => p.param === 'systolic')).toMatchObject({ status: 'measured', value: 70, score: 3 });
    expect(params.find((p) => p.param === 'temperature')).toMatchObject({ status: 'measured', value: 40.5, score: 2 });
  });
});

describe('review rv185 L3: the README\'s units.ts entry', () => {
  it('points at UNIT_SPELLINGS, whose every spelling convert takes (it named only mmHg, degC and degF)', () => {
    for (const [spelling, ucum] of Object.entries(UNIT_SPELLINGS)) expect(convert(7, spelling, ucum), spelling).toBe(7);
    expect(convert(150, 'bpm', canonicalUcum('/min'))).toBe(150);
    const row = readFileSync(join(PACKAGE_ROOT, 'agent/alarms/README.md'), 'utf8').split('\n').find((l) => l.startsWith('| `units.ts`'))!;
    expect(row).toContain('UNIT_SPELLINGS');
    expect(row).not.toContain('anything else is not compared');
  });
});
