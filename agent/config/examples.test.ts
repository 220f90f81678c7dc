// Every full configuration in config/ (the default, the examples, the IoT Edge gateway config) passes the same
// validation as at start-up, and --check's pass beyond the schema finds only the placeholders the file's header names;
// driver-entry profiles (a single `type`/`options` entry) are checked by their driver.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkBeyondSchema } from './check.js';
import { loadConfigFile } from './load.js';
import { registry } from '../../drivers/registry.js';
import { PACKAGE_ROOT } from '../paths.js';

const dir = join(PACKAGE_ROOT, 'config', 'examples');
const full = [
  join(PACKAGE_ROOT, 'config', 'default.yaml'),
  join(PACKAGE_ROOT, 'deploy', 'iotedge', 'gateway-config.yaml'),
  ...readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && Array.isArray((parse(readFileSync(join(dir, f), 'utf8')) as { drivers?: unknown }).drivers))
    .map((f) => join(dir, f)),
];

describe('example configurations', () => {
  it('include full agent configs, not only driver profiles', () => {
    expect(full.length).toBeGreaterThanOrEqual(4);
  });
  for (const path of full) {
    it(`${path.slice(PACKAGE_ROOT.length + 1)} is valid`, () => {
      const config = loadConfigFile(path, registry);
      for (const d of config.drivers) expect(registry.has(d.type)).toBe(true);
    });
  }
});

/**
 * What --check reports for a config as shipped: the secrets, certificates and password hash it only points to, which
 * the engineer makes first; its header lists them (review rv48 L2). Every other config passes as it is.
 */
const PLACEHOLDERS: Readonly<Record<string, readonly { path: string; message: RegExp }[]>> = {
  'config/examples/central-station-hl7.yaml': [
    { path: 'display.users[0] (charge-nurse)', message: /^its password hash is of the examples' published password/ },
    { path: 'hub.connectionString', message: /^cannot read secret file \/etc\/bedside-agent\/iothub-connection-string/ },
    { path: 'privacy.pseudonymKey', message: /^environment variable BEDSIDE_PSEUDONYM_KEY is not set/ },
    { path: 'display.tls.certFile', message: /^cannot read \/etc\/bedside-agent\/display\.crt/ },
  ],
};

describe('example configurations, --check beyond the schema', () => {
  for (const path of full) {
    const name = path.slice(PACKAGE_ROOT.length + 1);
    const expected = PLACEHOLDERS[name] ?? [];
    it(`${name}: ${expected.length ? `only its placeholders (${expected.map((p) => p.path).join(', ')}), each named in its header` : 'no problem'}`, async () => {
      // An empty environment: no pseudonym key, no connection string, no IoT Edge, TZ unset (as on a fresh host).
      const problems = await checkBeyondSchema(loadConfigFile(path, registry), registry, {});
      expect(problems).toEqual(expected.map((p) => ({ path: p.path, message: expect.stringMatching(p.message) })));
      // The comment lines before the first setting.
      const lines = readFileSync(path, 'utf8').split('\n');
      const header = lines.slice(0, lines.findIndex((l) => l.trim() !== '' && !l.startsWith('#'))).join('\n');
      for (const p of expected) expect(header).toContain(p.path);
    });
  }
});
