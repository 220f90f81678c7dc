// Review rv121: the bed "*" (the gateway's own id) refused wherever the config names a bed (M4); display.allowedOrigins
// entries a browser's Origin can never equal as written, warned of with the form browsers send (L2).
import { describe, expect, it } from 'vitest';
import { configProblems } from '../../test/support/config-problems.js';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { tempDir } from '../../test/support/agent-process.js';
import { configWarnings } from './check.js';
import { canonicalOrigin, validateConfig } from './load.js';

const problems = configProblems;

const spo2 = { name: 'spo2', table: 'holding', address: 0, type: 'uint16', mdc: 'MDC_PULS_OXIM_SAT_O2', unit: '%' };

describe('the bed "*", reserved for the gateway\'s own alarms (review rv121 M4)', () => {
  it('is warned of as a driver\'s bed, an expected device\'s bed, and a per-bed limit or NEWS2 key, naming each field; not refused: a file that started before still starts (review rv123 M1)', () => {
    const data = {
      drivers: [
        { name: 'iv', type: 'intellivue', options: { id: 'mon-1', path: '/dev/ttyIV1', bed: '*' } },
        { name: 'vent', type: 'medibus', options: { id: 'v-1', path: '/dev/ttyMB1', bed: '*' } },
        { name: 'gas', type: 'modbus', options: { buses: [{ id: 'b', transport: 'tcp', host: '10.0.0.9', devices: [{ id: 'pox-1', unitId: 1, bed: '*', points: [spo2] }] }] } },
      ],
      alarms: {
        devices: { 'mon-9': { bed: '*' } },
        limits: { beds: { '*': { hr: { high: 130 } } } },
        news2: { beds: { '*': { enabled: false } } },
      },
    };
    expect(problems(data)).toEqual([]);
    const found = configWarnings(validateConfig(data, registry, 'test.yaml'), registry, false, {}).filter((w) => w.message.startsWith('"*"'));
    expect(found.map((p) => p.path).sort()).toEqual([
      'alarms.devices.mon-9.bed',
      'alarms.limits.beds.*',
      'alarms.news2.beds.*',
      'drivers[0].options.bed',
      'drivers[1].options.bed',
      'drivers[2].options.buses[0].devices[0].bed',
    ]);
    for (const p of found) expect(p.message).toMatch(/^"\*" is the bed id reserved for the gateway's own alarms \(store, hub, screens\): it is used as no bed/);
    // Two monitors on "*" share no bed: no shared-bed warning beside the reserved one (review rv124 L1).
    const two = validateConfig({ drivers: [
      { name: 'iv', type: 'intellivue', options: { id: 'mon-1', path: '/dev/ttyIV1', bed: '*' } },
      { name: 'iv2', type: 'intellivue', options: { id: 'mon-2', path: '/dev/ttyIV2', bed: '*' } },
    ] }, registry, 'test.yaml');
    expect(configWarnings(two, registry, false, {}).filter((w) => w.path === 'drivers[1].options.bed').map((w) => w.message.slice(0, 3))).toEqual(['"*"']);
  });

  it('other beds pass, "*" inside a name too', () => {
    expect(problems({ drivers: [{ name: 'iv', type: 'intellivue', options: { id: 'mon-1', path: '/dev/ttyIV1', bed: 'ICU-*' } }], alarms: { devices: { 'mon-1': { bed: 'ICU-*' } } } })).toEqual([]);
  });
});

describe('display.allowedOrigins as browsers send Origin (review rv121 L2)', () => {
  it('canonicalOrigin: lower-case host, default port dropped; null for what is no origin', () => {
    expect(canonicalOrigin('https://ward3.example.org')).toBe('https://ward3.example.org');
    expect(canonicalOrigin('https://ward3.example.org:443')).toBe('https://ward3.example.org');
    expect(canonicalOrigin('http://Ward3.Example.org:80')).toBe('http://ward3.example.org');
    expect(canonicalOrigin('https://ward3.example.org:8443')).toBe('https://ward3.example.org:8443');
    expect(canonicalOrigin('http://a b')).toBeNull();
  });

  it('an entry written otherwise than its origin is warned of by --check, with the form to write', () => {
    const dir = tempDir();
    const config = testConfig(dir, { display: { enabled: true, allowedOrigins: ['https://ward3.example.org', 'https://ward3.example.org:443', 'https://Ward3.example.org', 'http://a b'] } });
    const w = configWarnings(config, registry).filter((p) => p.path.startsWith('display.allowedOrigins'));
    expect(w).toEqual([
      { path: 'display.allowedOrigins[1]', message: expect.stringMatching(/^"https:\/\/ward3\.example\.org:443" is compared as "https:\/\/ward3\.example\.org", the form browsers send in Origin .*write "https:\/\/ward3\.example\.org"$/) },
      { path: 'display.allowedOrigins[2]', message: expect.stringMatching(/^"https:\/\/Ward3\.example\.org" is compared as "https:\/\/ward3\.example\.org"/) },
      { path: 'display.allowedOrigins[3]', message: expect.stringMatching(/^"http:\/\/a b" is not an origin a browser can send/) },
    ]);
    // Entries as browsers send them: nothing said.
    expect(configWarnings(testConfig(dir, { display: { enabled: true, allowedOrigins: ['https://ward3.example.org', 'http://10.0.0.5:8080'] } }), registry).filter((p) => p.path.startsWith('display.allowedOrigins'))).toEqual([]);
  });
});
