// Review rv120 L1 and L3: the cross-driver listen check judged on addresses, not spellings; and refusals that name
// what is missing (a Modbus bus's transport), hint at the list form of `drivers`, and say a bad `options` once.
import { describe, expect, it } from 'vitest';
import { configProblems } from '../../test/support/config-problems.js';
import { parseConfigText } from './load.js';

const problems = configProblems;

describe('two listeners on one port, however their addresses are written (review rv120 L1)', () => {
  const hl7 = (a: string, b: string, port = 18090) => problems({ drivers: [{ name: 'a', type: 'hl7-mllp', options: { host: a, port } }, { name: 'b', type: 'hl7-mllp', options: { host: b, port } }] });

  it('an expanded IPv6 form, or an IPv4-mapped IPv6 address, is the same address: refused, naming both as written', () => {
    expect(hl7('0.0.0.0', '0:0:0:0:0:0:0:0')).toEqual([
      { path: 'drivers[1].options.port', message: '[0:0:0:0:0:0:0:0]:18090 is already listened on by drivers[0].options.port (driver "a") (0.0.0.0:18090); use another port' },
    ]);
    expect(hl7('127.0.0.1', '::ffff:127.0.0.1').map((p) => p.path)).toEqual(['drivers[1].options.port']);
    expect(hl7('::ffff:7f00:1', '127.0.0.1').map((p) => p.path)).toEqual(['drivers[1].options.port']);
    expect(hl7('::1', '0:0:0:0:0:0:0:1').map((p) => p.path)).toEqual(['drivers[1].options.port']);
    expect(hl7('::1', '0::1').map((p) => p.path)).toEqual(['drivers[1].options.port']);
    // 0.0.0.0 takes an IPv4-mapped address too (it is an IPv4 one).
    expect(hl7('0.0.0.0', '::FFFF:10.0.0.5').map((p) => p.path)).toEqual(['drivers[1].options.port']);
  });

  it('other addresses still pass: another IPv4 address mapped, and ::1 beside 0.0.0.0', () => {
    expect(hl7('10.0.0.5', '::ffff:10.0.0.6')).toEqual([]);
    expect(hl7('0.0.0.0', '0:0:0:0:0:0:0:1')).toEqual([]);
    expect(hl7('fe80::1%eth0', 'fe80::2%eth0')).toEqual([]);
  });
});

describe('refusals that say what is expected (review rv120 L3)', () => {
  const fromYaml = (yaml: string) => problems(parseConfigText(yaml, 'test.yaml'));

  it('a Modbus bus without transport names `transport` and its values; one with an unknown transport says so', () => {
    expect(fromYaml('drivers:\n  - name: m\n    type: modbus\n    options:\n      buses:\n        - id: b\n          host: 10.0.0.1\n          devices: []\n')).toEqual([
      { path: 'drivers[0].options.buses[0].transport', message: 'is required: one of "tcp", "rtu"' },
    ]);
    expect(fromYaml('drivers:\n  - name: m\n    type: modbus\n    options:\n      buses:\n        - id: b\n          transport: udp\n          host: 10.0.0.1\n          devices: []\n')).toEqual([
      { path: 'drivers[0].options.buses[0].transport', message: 'must be one of "tcp", "rtu" (got "udp")' },
    ]);
  });

  it('`drivers` written as a map (the twin\'s form): a hint that the file takes a list', () => {
    expect(fromYaml('drivers:\n  sim:\n    type: simulator\n')).toEqual([
      { path: 'drivers', message: expect.stringMatching(/^must be array \(got \{"sim":\{"type":"simulator"\}\}\); in the file `drivers` is a list of entries, each with its name \(- name: sim\), .*the twin/) },
    ]);
  });

  it('`options` that is not a mapping: said once, not again by the driver\'s own schema', () => {
    expect(fromYaml('drivers:\n  - name: a\n    type: simulator\n    options: beds=4\n')).toEqual([{ path: 'drivers[0].options', message: 'must be object (got "beds=4")' }]);
    expect(fromYaml('drivers:\n  - name: a\n    type: simulator\n    options: [4]\n')).toEqual([{ path: 'drivers[0].options', message: 'must be object (got [4])' }]);
  });
});
