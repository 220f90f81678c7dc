// A `string` sentinel must be text the decoder can produce (decode.ts decodeAscii: printable ASCII, trailing spaces
// removed, at most 2 characters a register), or the device's "no value" text would go out as a valid reading.
import { describe, expect, it } from 'vitest';
import { ModbusConfigError } from './errors.js';
import { buildPlan } from './plan.js';
import { judge } from './readings.js';

const field = 'options.buses[0].devices[0].points[0].sentinels[0].value';

function plan(value: unknown) {
  return buildPlan({
    buses: [{ id: 'b', transport: 'tcp', host: 'h', devices: [{ id: 'd', unitId: 1, points: [
      { name: 'mode', table: 'holding', address: 0, type: 'string', length: 2, sentinels: [{ value, quality: 'unavailable', reason: 'no-value' }] },
    ] }] }],
  });
}

function problems(value: unknown): Array<{ field: string; message: string }> {
  try {
    plan(value);
    return [];
  } catch (err) {
    if (err instanceof ModbusConfigError) return err.problems;
    throw err;
  }
}

const words = (text: string) => Array.from({ length: 2 }, (_, i) => ((text.charCodeAt(2 * i) || 0) << 8) | (text.charCodeAt(2 * i + 1) || 0));

describe('string sentinels that can never match', () => {
  it('are refused naming the field: trailing padding, longer than the register string, characters it cannot hold', () => {
    expect(problems('--  ')).toEqual([{ field, message: expect.stringMatching(/trailing spaces.*write "--"/) }]);
    expect(problems('-----')).toEqual([{ field, message: expect.stringMatching(/5 characters.*at most 4 \(length 2 registers\)/) }]);
    expect(problems('\t--')).toEqual([{ field, message: expect.stringMatching(/printable ASCII/) }]);
    expect(problems('°C')).toEqual([{ field, message: expect.stringMatching(/printable ASCII/) }]);
  });

  it('text the device can send is accepted and matches: "--" padded with spaces or NULs, a blank string, leading spaces', () => {
    for (const [sentinel, sent] of [['--', '--  '], ['--', '--'], ['', '    '], [' --', ' -- '], ['OFF?', 'OFF?']] as const) {
      const pt = plan(sentinel).buses[0]!.devices[0]!.groups[0]!.points[0]!.point;
      expect(judge(pt, pt.decode(words(sent))).quality, JSON.stringify([sentinel, sent])).toEqual({ state: 'unavailable', reasons: ['no-value'] });
    }
  });
});
