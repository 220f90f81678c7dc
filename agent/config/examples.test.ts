// Every full configuration in config/ (the default, the examples, the IoT Edge gateway config) passes the same
// validation as at start-up; driver-entry profiles (a single `type`/`options` entry) are checked by their driver.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
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
