import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configProblems } from '../../test/support/config-problems.js';
import { applyEnvOverrides, ConfigError, loadConfigFile, parseConfigText, requireSecret, resolveSecret, validateConfig, type AgentConfig } from './load.js';
import { configWarnings, startupNotes } from './check.js';
import { registry } from '../../drivers/registry.js';
import { DEFAULT_CONFIG_PATH, PACKAGE_ROOT } from '../paths.js';

const EXAMPLES = join(PACKAGE_ROOT, 'config', 'examples');

const problems = configProblems;

describe('config', () => {
  it('loads the embedded default and fills in defaults', () => {
    const c = loadConfigFile(DEFAULT_CONFIG_PATH, registry);
    expect(c.store.synchronous).toBe('full');
    expect(c.hub.mode).toBe('off'); // the demo never forwards simulated patients
    expect(c.hub.maxMessageBytes).toBe(65536);
    expect(c.drivers[0]).toMatchObject({ name: 'ward-sim', type: 'simulator', enabled: true });
  });

  it('names the field and the allowed values for an enum', () => {
    expect(problems({ log: { level: 'verbose' } })).toEqual([
      { path: 'log.level', message: 'must be one of "fatal", "error", "warn", "info", "debug", "trace" (got "verbose")' },
    ]);
  });

  it('accepts a hub.sendTimeoutMs the Azure SDK cuts short at 30 s (a file that started must still start), and warns about it', async () => {
    const { configWarnings } = await import('./check.js');
    expect(problems({ hub: { sendTimeoutMs: 60000 } })).toEqual([]);
    const config = (sendTimeoutMs: number) => validateConfig({ hub: { mode: 'auto', sendTimeoutMs }, display: { enabled: false }, drivers: [{ name: 'a', type: 'simulator' }] }, registry, 'test');
    // (The display is off here: its own warning, that nobody can acknowledge, is tested in check.test.ts.)
    const hubWarnings = (c: AgentConfig) => configWarnings(c).filter((w) => w.path !== 'display.enabled');
    expect(hubWarnings(config(60000))).toEqual([{ path: 'hub.sendTimeoutMs', message: expect.stringMatching(/^60000 has no effect beyond 30000/) }]);
    expect(hubWarnings(config(30000))).toEqual([]);
    // No driver enabled: valid, but said (review rv41 §6).
    const none = validateConfig({ display: { enabled: false }, drivers: [{ name: 'a', type: 'simulator', enabled: false }] }, registry, 'test.yaml');
    expect(configWarnings(none)).toEqual([{ path: 'drivers', message: expect.stringMatching(/^no enabled driver: nothing is monitored/) }]);
  });

  it('store.maxAgeHours below 1 h is warned of, not refused (a file that started before must still start): 0.001 h evicts after 3.6 s of outage (review rv91 L4)', () => {
    expect(problems({ store: { maxAgeHours: 0.001 } })).toEqual([]);
    expect(problems({ store: { maxAgeHours: 0 } })).toEqual([{ path: 'store.maxAgeHours', message: expect.stringMatching(/^must be > 0/) }]);
    const warned = (maxAgeHours: number) => configWarnings(validateConfig({ store: { maxAgeHours } }, registry, 'test.yaml')).filter((w) => w.path === 'store.maxAgeHours');
    expect(warned(0.001)).toEqual([{ path: 'store.maxAgeHours', message: expect.stringMatching(/^0\.001 h: unsent telemetry older than 4 s is evicted during a hub outage/) }]);
    expect(warned(1)).toEqual([]);
  });

  it('names unknown fields and lists what is allowed there', () => {
    const p = problems({ store: { pth: 'x' } });
    expect(p).toHaveLength(1);
    expect(p[0]!.path).toBe('store.pth');
    expect(p[0]!.message).toMatch(/unknown field; allowed here: path, synchronous, commitIntervalMs/);
  });

  it('reports every problem at once, with array indices', () => {
    const p = problems({
      hub: { maxMessageBytes: 10 },
      drivers: [{ name: 'a', type: 'simulator' }, { name: 'a', type: 'no-such-driver' }, { type: 'simulator' }],
    });
    const paths = p.map((x) => x.path);
    expect(paths).toContain('hub.maxMessageBytes');
    expect(paths).toContain('drivers[1].name');
    expect(p.find((x) => x.path === 'drivers[1].type')!.message).toMatch(/unknown driver type "no-such-driver"; available: .*simulator/);
    expect(paths).toContain('drivers[2].name');
  });

  it("validates a driver's options against that driver's own schema", () => {
    const p = problems({ drivers: [{ name: 'sim', type: 'simulator', options: { beds: 'four' } }] });
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]!.path).toBe('drivers[0].options.beds');
  });

  it('validates expected display screens, naming the field: name, graceS, duplicates; graceS defaults to 30', () => {
    expect(problems({ display: { enabled: true, screens: [{ name: 'ward 3/station' }] } })).toEqual([
      { path: 'display.screens[0].name', message: 'must match pattern "^[A-Za-z0-9._-]{1,64}$" (got "ward 3/station")' },
    ]);
    expect(problems({ display: { enabled: true, screens: [{ name: 'a', graceS: 2 }, { name: 'b', graceS: 12.5 }, { name: 'c', graceS: 99999 }] } })).toEqual([
      { path: 'display.screens[0].graceS', message: 'must be >= 5 (got 2)' },
      { path: 'display.screens[1].graceS', message: 'must be integer (got 12.5)' },
      { path: 'display.screens[2].graceS', message: 'must be <= 3600 (got 99999)' },
    ]);
    expect(problems({ display: { enabled: true, screens: [{ graceS: 30 }] } })).toEqual([{ path: 'display.screens[0].name', message: 'is required' }]);
    expect(problems({ display: { enabled: true, screens: [{ name: 'a' }, { name: 'a', graceS: 60 }] } })).toEqual([{ path: 'display.screens[1].name', message: 'duplicate name "a"' }]);
    expect(validateConfig({ display: { enabled: true, screens: [{ name: 'ward3-station' }] } }, registry, 'test.yaml').display.screens).toEqual([{ name: 'ward3-station', graceS: 30 }]);
    // A list for a display that is off would watch nothing: said, not ignored.
    expect(problems({ display: { screens: [{ name: 'a' }] } })).toEqual([{ path: 'display.screens', message: 'has no effect while display.enabled is not true: turn the display on, or remove the list' }]);
    expect(validateConfig({}, registry, 'test.yaml').display.screens).toEqual([]);
  });

  it('explains a bad secret shape without printing it', () => {
    const p = problems({ hub: { connectionString: { vault: 'x' } } });
    expect(p).toEqual([{ path: 'hub.connectionString', message: expect.stringMatching(/must be a string, \{ env: NAME \} or \{ file: PATH \}/) }]);
  });

  it('reports YAML syntax errors and unreadable files as config errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'store: [unclosed\n');
    expect(() => loadConfigFile(bad, registry)).toThrow(/cannot parse/);
    expect(() => loadConfigFile(join(dir, 'missing.yaml'), registry)).toThrow(/cannot read file: ENOENT/);
  });

  it('resolves secrets from env and files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const f = join(dir, 'cs');
    writeFileSync(f, 'HostName=h;DeviceId=d;SharedAccessKey=k\n');
    expect(resolveSecret({ file: f }, 'hub.connectionString')).toBe('HostName=h;DeviceId=d;SharedAccessKey=k');
    expect(resolveSecret({ env: 'X_CS' }, 'hub.connectionString', { X_CS: 'abc' })).toBe('abc');
    expect(resolveSecret({ env: 'X_CS' }, 'hub.connectionString', {})).toBeUndefined();
    expect(() => resolveSecret({ file: join(dir, 'nope') }, 'hub.connectionString')).toThrow(/cannot read secret file .*ENOENT/);
  });
});

describe('secrets written in the wrong shape, never printed (review rv60 M4: stderr ends up in the module log)', () => {
  const KEY = 'SECRETKEYvalue0123456789abcdef==';
  const CS = `HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=${KEY}`;
  // The whole error text, as --check and the start print it.
  const text = (data: unknown): string => {
    try {
      validateConfig(data, registry, 'test.yaml');
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return '';
  };

  it('a connection string given as the whole hub section (or any field that is not a secret) is not echoed, and the fix is named', () => {
    const data = parseConfigText(`hub: "${CS}"\n`, 'test.yaml');
    expect(problems(data)).toEqual([{ path: 'hub', message: 'must be object (got a string that holds a key (not shown)); a connection string goes in hub.connectionString' }]);
    expect(text(data)).not.toContain(KEY);
    // Elsewhere too (a list of them given as the gateway id), and a SAS token.
    const sas = `SharedAccessSignature sr=h.azure-devices.net%2Fdevices%2Fd&sig=${KEY}&se=1`;
    // YAML reads `hub: {<connection string>}` as a field name: not echoed either (review rv73 H1).
    const asName = parseConfigText(`hub: {${CS}}\n`, 'test.yaml');
    expect(problems(asName)).toEqual([{ path: 'hub', message: expect.stringMatching(/^a field whose name holds a key \(not shown\): unknown field; .*a connection string goes in hub\.connectionString$/) }]);
    expect(text(asName)).not.toContain(KEY);
    expect(text(parseConfigText(`hub:\n  ${CS}: \n`, 'test.yaml'))).not.toContain(KEY);
    const elsewhere = text({ gateway: { id: [CS, sas] } });
    expect(elsewhere).toMatch(/gateway\.id: .*an array that holds a key \(not shown\)/);
    expect(elsewhere).not.toContain(KEY);
  });

  it('a value pasted where the variable name goes: named as not a variable name, not echoed', () => {
    const data = parseConfigText(`hub: { mode: device, connectionString: { env: "${CS}" } }\n`, 'test.yaml');
    expect(problems(data)).toEqual([{ path: 'hub.connectionString.env', message: expect.stringMatching(/^must be the name of an environment variable .*looks like a value pasted in \(not shown\)/) }]);
    expect(text(data)).not.toContain(KEY);
    // A real name passes the schema; only an unreadable one is reported, by its name.
    expect(problems({ hub: { connectionString: { env: 'WARD_HUB_CS' } } })).toEqual([]);
  });

  it('a secret of the wrong type is described by its type: a list, a number, a map keyed by the secret', () => {
    expect(problems({ hub: { connectionString: [CS] } })).toEqual([{ path: 'hub.connectionString', message: 'must be a string, { env: NAME } or { file: PATH } (got an array)' }]);
    const key = parseConfigText('privacy: { pseudonymizePatientIds: true, pseudonymKey: 12345678901234567890123456789012345678901234 }\n', 'test.yaml');
    expect(problems(key)).toEqual([{ path: 'privacy.pseudonymKey', message: 'must be a string, { env: NAME } or { file: PATH } (got a number)' }]);
    expect(text(key)).not.toMatch(/1\.23|12345/);
    // YAML reads `{ HostName=…;SharedAccessKey=… }` (braces, no quotes) as a map whose one key is the string.
    const braces = parseConfigText(`hub: { connectionString: { ${CS} } }\n`, 'test.yaml');
    expect(problems(braces)).toEqual([{ path: 'hub.connectionString', message: 'must be a string, { env: NAME } or { file: PATH } (got an object)' }]);
    expect(text(braces)).not.toContain(KEY);
    expect(problems({ hub: { connectionString: { env: 12 } } })).toEqual([{ path: 'hub.connectionString.env', message: 'must be a string (got a number)' }]);
    expect(problems({ hub: { connectionString: { file: [KEY] } } })).toEqual([{ path: 'hub.connectionString.file', message: 'must be a string (got an array)' }]);
    expect(problems({ hub: { connectionString: { env: 'A', file: KEY } } })).toEqual([{ path: 'hub.connectionString', message: 'must be a string, { env: NAME } or { file: PATH }, not both env and file' }]);
    expect(text({ hub: { connectionString: { env: 'A', file: KEY } } })).not.toContain(KEY);
  });

  it('a secret pasted as { file }: the file is not found, its "path" not printed; a real path still is', () => {
    const cannot = (file: string) => {
      try {
        requireSecret({ file }, 'privacy.pseudonymKey', {});
      } catch (err) {
        if (err instanceof ConfigError) return err.message;
        throw err;
      }
      return '';
    };
    for (const pasted of ['my-very-secret-pseudonym-key-abcdefghijklmnop', KEY, 'ab3/Kq9ZxY2mN8pQ4rS7tU1vW+==', '/aB3dE5gH7jK9mN1pQ3sT5vX7zQ']) {
      const message = cannot(pasted);
      expect(message).toMatch(/privacy\.pseudonymKey: cannot read the secret file \(its name is not shown: it does not look like a path\): ENOENT/);
      expect(message).not.toContain(pasted);
    }
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    expect(cannot(join(dir, 'pseudonym.key'))).toContain(`cannot read secret file ${join(dir, 'pseudonym.key')}: ENOENT`);
    expect(cannot('secrets/hub-cs.txt')).toContain('cannot read secret file secrets/hub-cs.txt: ENOENT');
  });
});

describe('error texts that say what is wrong (review rv60 L3)', () => {
  it('.inf and .nan are named as YAML writes them, as not finite (JSON made them "got null")', () => {
    const data = parseConfigText('store: { maxAgeHours: .inf }\nalarms: { limits: { beds: { bed-01: { hr: { low: -.inf, high: .nan } } } } }\nhub: { retry: { maxDelayMs: [1, .inf] } }\n', 'test.yaml');
    expect(problems(data)).toEqual([
      { path: 'store.maxAgeHours', message: 'must be number (got .inf: must be a finite number)' },
      { path: 'hub.retry.maxDelayMs', message: 'must be integer (got [1,.inf])' },
      { path: 'alarms.limits.beds.bed-01.hr.low', message: 'must be number,null (got -.inf: must be a finite number)' },
      { path: 'alarms.limits.beds.bed-01.hr.high', message: 'must be number,null (got .nan: must be a finite number)' },
    ]);
  });

  it('an environment variable set but empty is called so, not "not set"', () => {
    expect(() => requireSecret({ env: 'WARD_HUB_CS' }, 'hub.connectionString', { WARD_HUB_CS: '' })).toThrow(/hub\.connectionString: environment variable WARD_HUB_CS is set but empty$/);
    expect(() => requireSecret({ env: 'WARD_HUB_CS' }, 'hub.connectionString', {})).toThrow(/hub\.connectionString: environment variable WARD_HUB_CS is not set$/);
    // A key pasted where the variable's name goes can pass the name pattern (hex, base64 without + / =): never printed.
    for (const key of ['a3f9c2e17b4d8e6f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f', 'qXk3ZmNlYjQ5ZTIxNGQ4Yjk0ZDU2ZTc4']) {
      let message = '';
      try {
        requireSecret({ env: key }, 'hub.connectionString', {});
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/hub\.connectionString: the environment variable named in the file \(its name is not shown/);
      expect(message).not.toContain(key.slice(0, 12));
    }
  });

  it('an empty secret file is called empty (it was judged as a connection string without HostName)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const f = join(dir, 'iothub-connection-string');
    writeFileSync(f, '\n');
    expect(() => requireSecret({ file: f }, 'hub.connectionString', {})).toThrow(new RegExp(`hub\\.connectionString: secret file ${f} is empty$`));
  });
});

describe('pairs the docs ask to keep in order (review rv60 L4)', () => {
  it('refuses a hub retry whose first wait is above its longest, on the field the file wrote', () => {
    expect(problems({ hub: { retry: { initialDelayMs: 60000, maxDelayMs: 10 } } })).toEqual([
      { path: 'hub.retry.maxDelayMs', message: expect.stringMatching(/^must be at least hub\.retry\.initialDelayMs \(60000\): .*retried every 5-10 ms/) },
    ]);
    expect(problems({ hub: { retry: { initialDelayMs: 120000 } } })).toEqual([
      { path: 'hub.retry.initialDelayMs', message: expect.stringMatching(/^must not exceed hub\.retry\.maxDelayMs \(60000, the default\)/) },
    ]);
    expect(problems({ hub: { retry: { maxDelayMs: 500 } } })).toEqual([
      { path: 'hub.retry.maxDelayMs', message: expect.stringMatching(/^must be at least hub\.retry\.initialDelayMs \(1000, the default\)/) },
    ]);
    expect(problems({ hub: { retry: { initialDelayMs: 500, maxDelayMs: 500 } } })).toEqual([]);
  });

  it('refuses display connections not above the live streams, on the field the file wrote', () => {
    expect(problems({ display: { limits: { maxConnections: 1, maxSseClients: 1000 } } })).toEqual([
      { path: 'display.limits.maxConnections', message: expect.stringMatching(/^must be above display\.limits\.maxSseClients \(1000\), well above/) },
    ]);
    expect(problems({ display: { limits: { maxConnections: 32 } } })).toEqual([
      { path: 'display.limits.maxConnections', message: expect.stringMatching(/^must be above display\.limits\.maxSseClients \(32, the default\)/) },
    ]);
    expect(problems({ display: { limits: { maxSseClients: 64 } } })).toEqual([
      { path: 'display.limits.maxSseClients', message: expect.stringMatching(/^must be below display\.limits\.maxConnections \(64, the default\)/) },
    ]);
    expect(problems({ display: { limits: { maxConnections: 33 } } })).toEqual([]);
  });

  it('exits 2 from --check, naming the fields', async () => {
    const { execFileSync } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const f = join(dir, 'pairs.yaml');
    writeFileSync(f, 'hub: { mode: off, retry: { initialDelayMs: 60000, maxDelayMs: 10 } }\ndisplay: { enabled: true, limits: { maxConnections: 1, maxSseClients: 1000 } }\ndrivers: [{ name: a, type: simulator }]\n');
    let status: number | null = 0;
    let stderr = '';
    try {
      execFileSync(join(PACKAGE_ROOT, 'node_modules', '.bin', 'tsx'), [join(PACKAGE_ROOT, 'agent', 'main.ts'), '-c', f, '--check'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      ({ status, stderr } = err as { status: number | null; stderr: string });
    }
    expect(status).toBe(2);
    expect(stderr).toContain('- hub.retry.maxDelayMs: must be at least hub.retry.initialDelayMs (60000)');
    expect(stderr).toContain('- display.limits.maxConnections: must be above display.limits.maxSseClients (1000)');
  }, 60_000);
});

describe('the shipped configurations', () => {
  // Whole configs, each valid as it stands (a fragment pasted into a config is not something --check can run).
  const files = [DEFAULT_CONFIG_PATH, ...readdirSync(EXAMPLES).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(EXAMPLES, f)), join(PACKAGE_ROOT, 'deploy', 'iotedge', 'gateway-config.yaml')];
  for (const f of files) {
    it(`${f.slice(PACKAGE_ROOT.length + 1)} is a valid whole configuration`, () => {
      expect(() => loadConfigFile(f, registry)).not.toThrow();
    });
  }
});

describe('--check beyond the schema', () => {
  it('applies the rules the agent applies at start, with the same words (a short pseudonym key)', async () => {
    const { checkBeyondSchema } = await import('./check.js');
    const { pseudonymizer } = await import('../privacy.js');
    const config = validateConfig({ privacy: { pseudonymizePatientIds: true, pseudonymKey: 'short' } }, registry, 'test.yaml');
    expect(await checkBeyondSchema(config, registry, {})).toEqual([{ path: 'privacy.pseudonymKey', message: 'must be at least 32 characters (it has 5)' }]);
    expect(() => pseudonymizer('short')).toThrow(/privacy\.pseudonymKey: must be at least 32 characters \(it has 5\)/);
  });
  it('refuses a display user with the examples\' published password, as the display does at start', async () => {
    const { checkBeyondSchema } = await import('./check.js');
    const { EXAMPLE_PASSWORD, hashPassword } = await import('../http/passwords.js');
    const passwordHash = await hashPassword(EXAMPLE_PASSWORD);
    const config = validateConfig({ display: { enabled: true, users: [{ name: 'charge-nurse', role: 'clinician', passwordHash }] } }, registry, 'test.yaml');
    expect(await checkBeyondSchema(config, registry, {})).toEqual([{ path: 'display.users[0] (charge-nurse)', message: expect.stringMatching(/^its password hash is of the examples' published password/) }]);
  });
  it('names hub.caFile once, with the file and why, when it cannot be read or holds no certificate (as at start)', async () => {
    const { checkBeyondSchema } = await import('./check.js');
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'check-ca-'));
    try {
      const notPem = join(dir, 'ca.pem');
      writeFileSync(notPem, 'not a certificate\n');
      const hub = (caFile: string) => validateConfig({ hub: { mode: 'off', caFile } }, registry, 'test.yaml');
      expect(await checkBeyondSchema(hub(join(dir, 'missing.pem')), registry, {})).toEqual([
        { path: 'hub.caFile', message: expect.stringMatching(/^cannot read .*missing\.pem: ENOENT/) },
      ]);
      expect(await checkBeyondSchema(hub(notPem), registry, {})).toEqual([{ path: 'hub.caFile', message: expect.stringMatching(/ca\.pem holds no PEM certificate/) }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errors inside a field that takes one of several shapes', () => {
  const bus = (point: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    drivers: [{ name: 'm', type: 'modbus', options: { buses: [{ id: 'b', transport: 'tcp', host: 'h', devices: [{ id: 'd', unitId: 1, points: [{ name: 'x', table: 'holding', address: 0, ...point }] }], ...extra }] } }],
  });
  it('names the field in the shape the value chose (a TCP bus), not "must be a string, { env } or { file }"', () => {
    expect(problems(bus({ address: 70000 }))).toEqual([{ path: 'drivers[0].options.buses[0].devices[0].points[0].address', message: 'must be <= 65535 (got 70000)' }]);
    expect(problems(bus({ write: true }))).toEqual([{ path: 'drivers[0].options.buses[0].devices[0].points[0].write', message: expect.stringMatching(/^unknown field; allowed here: name, table, address/) }]);
    expect(problems(bus({}, { baudRate: 9600 }))).toEqual([{ path: 'drivers[0].options.buses[0].baudRate', message: expect.stringMatching(/^unknown field/) }]);
  });
  it('a value that chose no shape still says so, naming the field that chooses it (review rv120 L3)', () => {
    const p = problems({ drivers: [{ name: 'm', type: 'modbus', options: { buses: [{ id: 'b', transport: 'udp', host: 'h', devices: [] }] } }] });
    expect(p).toContainEqual({ path: 'drivers[0].options.buses[0].transport', message: 'must be one of "tcp", "rtu" (got "udp")' });
  });
});

describe('configuration reference', () => {
  it('docs/configuration.md is generated from the current schemas (run `npm run config:docs` after a schema change)', async () => {
    const { renderConfigDocs, CONFIG_DOCS_PATH } = await import('./docs.js');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(CONFIG_DOCS_PATH, 'utf8')).toBe(renderConfigDocs());
  });
  it('documents the fields of items that take one of several shapes (Modbus buses: TCP or RTU), down to each point', async () => {
    const { renderConfigDocs } = await import('./docs.js');
    const doc = renderConfigDocs();
    for (const row of ['`options.buses[].transport` (required)', '`options.buses[].host` (transport: "tcp") (required)', '`options.buses[].baudRate` (transport: "rtu") (required)', '`options.buses[].devices[].unitId` (required)', '`options.buses[].devices[].points[].heartbeatMs`']) {
      expect(doc).toContain(`| ${row} |`);
    }
  });
});

describe('what two drivers cannot share', () => {
  const modbusRtu = (path: string, id: string) => ({ buses: [{ id: 'line', transport: 'rtu', path, baudRate: 19200, devices: [{ id, unitId: 1, points: [{ name: 'x', table: 'input', address: 0 }] }] }] });

  it('a device id used by two drivers is refused, naming both fields (Medibus, Modbus, IntelliVue, the simulator)', () => {
    expect(problems({
      drivers: [
        { name: 'vent', type: 'medibus', options: { id: 'DEV-1', model: 'v500', path: '/dev/ttyBED02' } },
        { name: 'gas', type: 'modbus', options: modbusRtu('/dev/ttyBED03', 'DEV-1') },
        { name: 'sim', type: 'simulator', options: { beds: 2, deviceIdPrefix: 'DEV-' } },
        { name: 'mon', type: 'intellivue', options: { id: 'DEV-02', path: '/dev/ttyBED04' } },
      ],
    })).toEqual([
      { path: 'drivers[1].options.buses[0].devices[0].id', message: 'device id "DEV-1" is already used by drivers[0].options.id (driver "vent"); give every device its own id' },
      { path: 'drivers[3].options.id', message: 'device id "DEV-02" is already used by drivers[2].options.deviceIdPrefix (driver "sim"); give every device its own id' },
    ]);
    // A disabled driver takes nothing; the default ward's ids are distinct from a second ward's prefix.
    expect(problems({ drivers: [{ name: 'a', type: 'simulator' }, { name: 'b', type: 'simulator', enabled: false }] })).toEqual([]);
    expect(problems({ drivers: [{ name: 'a', type: 'simulator' }, { name: 'b', type: 'simulator', options: { deviceIdPrefix: 'ward2-', bedPrefix: 'W2-' } }] })).toEqual([]);
  });

  it('two simulated wards with one bed name are accepted but warned about, naming bedPrefix (the display would show one patient of the two; review rv41 §5)', () => {
    const two = { drivers: [{ name: 'a', type: 'simulator', options: { beds: 2 } }, { name: 'b', type: 'simulator', options: { beds: 3, deviceIdPrefix: 'ward2-' } }] };
    expect(problems(two)).toEqual([]);
    // Less the warning that simulated patients would be forwarded (hub.mode auto, the default; review rv144 F1).
    const bedWarnings = (c: AgentConfig) => configWarnings(c, registry).filter((w) => w.path !== 'display.enabled' && !/^drivers\[\d+\]$/.test(w.path));
    expect(bedWarnings(validateConfig(two, registry, 'test.yaml'))).toEqual([
      { path: 'drivers[1].options.bedPrefix', message: 'bed "ICU-01" and 1 more already has its monitor from driver "a": the display shows one patient of the two there, and their alarms as one bed\'s; give each monitor its own bed (a copied entry?), each simulated ward its own bed names' },
    ]);
    const apart = { drivers: [two.drivers[0]!, { ...two.drivers[1]!, options: { ...two.drivers[1]!.options, bedPrefix: 'W2-' } }] };
    expect(bedWarnings(validateConfig(apart, registry, 'test.yaml'))).toEqual([]);
  });

  it('two patient monitors (IntelliVue) on one bed, or a monitor on a simulated bed, are warned about; a ventilator beside a monitor is not (review rv91 M1)', () => {
    const mx = (name: string, id: string, path: string, bed: string) => ({ name, type: 'intellivue', options: { id, path, bed } });
    const bedWarnings = (c: object) => configWarnings(validateConfig(c, registry, 'test.yaml'), registry).filter((w) => w.message.includes('already has its monitor'));
    // Bed 8's entry copied from bed 7's, its id and port changed, its bed left as it was.
    expect(bedWarnings({ drivers: [mx('icu7', 'MX-7', '/dev/ttyBED07', 'ICU-7'), mx('icu8', 'MX-8', '/dev/ttyBED08', 'ICU-7')] })).toEqual([
      { path: 'drivers[1].options.bed', message: expect.stringMatching(/^bed "ICU-7" already has its monitor from driver "icu7".*give each monitor its own bed/) },
    ]);
    expect(bedWarnings({ drivers: [{ name: 'sim', type: 'simulator' }, mx('icu1', 'MX-1', '/dev/ttyBED01', 'ICU-01')] })).toHaveLength(1);
    expect(bedWarnings({ drivers: [mx('icu7', 'MX-7', '/dev/ttyBED07', 'ICU-7'), { name: 'vent7', type: 'medibus', options: { id: 'EVITA-7', path: '/dev/ttyBED17', bed: 'ICU-7' } }] })).toEqual([]);
    expect(bedWarnings({ drivers: [mx('icu7', 'MX-7', '/dev/ttyBED07', 'ICU-7'), mx('icu8', 'MX-8', '/dev/ttyBED08', 'ICU-8')] })).toEqual([]);
  });

  it('a serial port opened by two drivers is refused, also through a link to it; a replay takes no port', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ports-'));
    const tty = join(dir, 'ttyUSB0');
    writeFileSync(tty, '');
    const byId = join(dir, 'usb-FTDI-if00');
    symlinkSync(tty, byId);
    expect(problems({
      drivers: [
        { name: 'vent-a', type: 'medibus', options: { id: 'EVITA-1', path: '/dev/ttyBED02' } },
        { name: 'vent-b', type: 'medibus', options: { id: 'EVITA-2', path: '/dev/ttyBED02' } },
        { name: 'gas', type: 'modbus', options: modbusRtu(tty, 'gas-1') },
        { name: 'mon', type: 'intellivue', options: { id: 'MP70', path: byId } },
        { name: 'replayed', type: 'medibus', options: { id: 'EVITA-3', path: '/dev/ttyBED02', replay: { file: 'x.jsonl' } } },
      ],
    })).toEqual([
      { path: 'drivers[1].options.path', message: '/dev/ttyBED02 is already used by drivers[0].options.path (driver "vent-a"); a serial port can be opened by one driver only' },
      { path: 'drivers[3].options.path', message: `${byId} is already used by drivers[2].options.buses[0].path (driver "gas") (both are ${tty}); a serial port can be opened by one driver only` },
    ]);
  });

  it('a TCP port listened on twice is refused: two HL7 listeners, or one on the display\'s port', () => {
    expect(problems({
      display: { enabled: true, host: '127.0.0.1', port: 18080 },
      drivers: [
        { name: 'hl7-a', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 18080 } },
        { name: 'hl7-b', type: 'hl7-mllp', options: { port: 2575 } },
        { name: 'hl7-c', type: 'hl7-mllp', options: { host: '10.0.0.5', port: 2575 } },
        { name: 'hl7-d', type: 'hl7-mllp', options: { host: '10.0.0.5', port: 2576 } },
        { name: 'hl7-e', type: 'hl7-mllp', options: { host: '10.0.0.6', port: 2576 } },
      ],
    })).toEqual([
      { path: 'drivers[0].options.port', message: '127.0.0.1:18080 is already listened on by display.port (127.0.0.1:18080); use another port' },
      { path: 'drivers[2].options.port', message: '10.0.0.5:2575 is already listened on by drivers[1].options.port (driver "hl7-b") (0.0.0.0:2575); use another port' },
    ]);
    // The display off, or port 0 (any free port), takes nothing.
    expect(problems({ display: { enabled: false, port: 2575 }, drivers: [{ name: 'a', type: 'hl7-mllp', options: { port: 2575 } }, { name: 'b', type: 'hl7-mllp', options: { port: 0 } }, { name: 'c', type: 'hl7-mllp', options: { port: 0 } }] })).toEqual([]);
    // 0.0.0.0 takes the IPv4 addresses only (Linux lets [::1] listen beside it); '::' takes every address.
    expect(problems({ display: { enabled: true, host: '::1', port: 18081 }, drivers: [{ name: 'a', type: 'hl7-mllp', options: { host: '0.0.0.0', port: 18081 } }] })).toEqual([]);
    expect(problems({ display: { enabled: true, host: '127.0.0.1', port: 18082 }, drivers: [{ name: 'a', type: 'hl7-mllp', options: { host: '::', port: 18082 } }] })).toEqual([
      { path: 'drivers[0].options.port', message: '[::]:18082 is already listened on by display.port (127.0.0.1:18082); use another port' },
    ]);
    // 'localhost' is a loopback address, whichever the resolver gives first.
    expect(problems({ display: { enabled: true, host: 'localhost', port: 18083 }, drivers: [{ name: 'a', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 18083 } }, { name: 'b', type: 'hl7-mllp', options: { host: '::1', port: 18083 } }, { name: 'c', type: 'hl7-mllp', options: { host: '10.0.0.5', port: 18083 } }] })).toEqual([
      { path: 'drivers[0].options.port', message: '127.0.0.1:18083 is already listened on by display.port (localhost:18083); use another port' },
      { path: 'drivers[1].options.port', message: '[::1]:18083 is already listened on by display.port (localhost:18083); use another port' },
    ]);
  });
});

describe('a driver\'s own checks, as --check and the start report them', () => {
  it('Medibus problems are named by their option, one line each, like Modbus ones', async () => {
    const { driverProblems } = await import('./check.js');
    const config = validateConfig({
      drivers: [
        { name: 'vent', type: 'medibus', options: { id: 'EVITA-1', path: '/dev/ttyBED02', keepAliveMs: 30000, quietReinitMs: 5000, backoff: { initialMs: 60000, maxMs: 1000 } } },
        { name: 'm', type: 'modbus', options: { buses: [{ id: 'b', transport: 'tcp', host: 'h', devices: [{ id: 'd', unitId: 1, points: [{ name: 'x', table: 'holding', address: 0, type: 'uint16', mdc: 'MDC_NO_SUCH', sentinels: [{ value: -1, quality: 'unavailable' }] }] }] }] } },
      ],
    }, registry, 'test.yaml');
    expect(driverProblems(config, registry)).toEqual([
      { path: 'drivers[0].options.keepAliveMs', message: expect.stringMatching(/^must be shorter than quietReinitMs \(5000 ms\), got 30000/) },
      { path: 'drivers[0].options.backoff.maxMs', message: 'must be at least backoff.initialMs (60000 ms), got 1000' },
      { path: 'drivers[1].options.buses[0].devices[0].points[0].sentinels[0].value', message: expect.stringMatching(/^-1 can never be read from a uint16/) },
      { path: 'drivers[1].options.buses[0].devices[0].points[0].mdc', message: expect.stringMatching(/MDC_NO_SUCH/) },
    ]);
  });
});

describe('AGENT_DISPLAY_PORT (review rv91 L1)', () => {
  const base = () => validateConfig({ display: { enabled: true, port: 8080 } }, registry, 'test.yaml');
  const withEnv = (value: string | undefined): number | { path: string; message: string }[] => {
    try {
      return applyEnvOverrides(base(), registry, 'test.yaml', value === undefined ? {} : { AGENT_DISPLAY_PORT: value }).display.port;
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('takes a port of digits only, 1-65535; unset or empty leaves the file\'s port', () => {
    expect(withEnv('8090')).toBe(8090);
    expect(withEnv('65535')).toBe(65535);
    expect(withEnv('1')).toBe(1);
    expect(withEnv(undefined)).toBe(8080);
    expect(withEnv('')).toBe(8080);
  });

  it('takes the port with whitespace around it, as versions before 5db4b97 did; blanks alone are unset (review rv94 L2)', () => {
    for (const v of ['8090 ', ' 8090', '8090\n', '\t8090\r\n']) expect(withEnv(v), JSON.stringify(v)).toBe(8090);
    expect(withEnv(' ')).toBe(8080);
    expect(withEnv('\n')).toBe(8080);
  });

  it('refuses other number syntaxes and out-of-range values, naming the variable and the value', () => {
    for (const v of ['0x1F91', '1e3', '-0', '+8090', '80.5', 'abc', '70000', '80 90', '123456']) {
      expect(withEnv(v), v).toEqual([{ path: 'display.port', message: `AGENT_DISPLAY_PORT must be a port number 1-65535, digits only (got ${JSON.stringify(v)})` }]);
    }
  });

  it('refuses 0 (any free port): nothing would know where the display listens', () => {
    for (const v of ['0', '00']) {
      expect(withEnv(v), v).toEqual([{ path: 'display.port', message: expect.stringMatching(/^AGENT_DISPLAY_PORT=0 \(any free port\) is refused: /) }]);
    }
  });

  it('--check says the port comes from the environment, not the file', () => {
    const local = base();
    const d = { local, config: local, overlay: null, desiredVersion: 0, source: 'local' as const, step: { kind: 'none' as const } };
    expect(startupNotes(d, {})).toEqual([]);
    const moved = applyEnvOverrides(base(), registry, 'test.yaml', { AGENT_DISPLAY_PORT: '8090' });
    expect(startupNotes({ ...d, local: moved, config: moved }, { AGENT_DISPLAY_PORT: '8090' })).toEqual([
      'display.port is 8090, set by the environment variable AGENT_DISPLAY_PORT (it overrides this file, and the twin may not change it)',
    ]);
  });
});

describe('YAML errors that say where and what (review rv91 L2)', () => {
  const parseProblems = (text: string) => {
    try {
      parseConfigText(text, 'test.yaml');
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it('say the line and column with the message, and quote no line of the file', () => {
    const [p] = parseProblems('store: { path: x }\ndisplay:\n  enabled: true\ndisplay:\n  port: 1\n');
    expect(p).toEqual({ path: '', message: 'cannot parse: Map keys must be unique at line 4, column 1' });
    const [indent] = parseProblems('drivers:\n  - name: s\n    type: simulator\n   options:\n     beds: 2\n');
    expect(indent!.message).toMatch(/^cannot parse: .* at line 4, column \d+$/);
  });

  it('never quote a secret written on the line in error or the line before it (review rv94 M1)', () => {
    const key = 'Pseud0nymKey-only-the-ward-holds-7f3a9c21e4';
    const texts = [
      `privacy:\n  pseudonymizePatientIds: true\n  key: ${key}\n   salt: x\nlog:\n  level: info\n`,
      `privacy:\n  pseudonymKey: ${key}\n\tpseudonymizePatientIds: true\n`,
      `hub:\n  connectionString: HostName=h.azure-devices.net;SharedAccessKey=${key}: x\n`,
      `display:\n  users:\n    - name: a\n      passwordHash: ${key}\n     role: admin\n`,
    ];
    for (const text of texts) {
      const [p] = parseProblems(text);
      expect(p!.message, text).toMatch(/^cannot parse: .+ at line \d+, column \d+$/);
      expect(p!.message, text).not.toContain(key.slice(0, 12));
    }
  });

  it('never quote a secret the parser names as a tag, an alias, a block scalar header, a directive or an escape (review rv96 L3)', () => {
    const key = 'S3cr3tKEY-Welcome1';
    const texts = [
      `display:\n  users:\n    - name: nurse\n      password: !${key}\n`,
      `hub:\n  connectionString: !${key} HostName=h\n`,
      `display:\n  users:\n    - name: nurse\n      password: *${key}\n`,
      `hub:\n  connectionString: *${key}\n`,
      `hub:\n  connectionString: |${key}\n    x\n`,
      `privacy:\n  pseudonymKey: !!${key}\n`,
      `privacy:\n  pseudonymKey: !<!${key}>\n`,
      `privacy:\n  pseudonymKey: "\\q${key}"\n`,
      `privacy:\n  pseudonymKey: "\\x${key}"\n`,
      `%${key} x\n---\nprivacy: {}\n`,
      `privacy:\n  pseudonymKey: !${key} [1]\n`,
    ];
    for (const text of texts) {
      const [p] = parseProblems(text);
      expect(p!.message, text).toMatch(/^cannot parse: .+ at line \d+, column \d+$/);
      expect(p!.message, text).not.toMatch(/S3|cr3t|KEY|Welc/);
    }
    // The wording still tells what to do.
    expect(parseProblems(texts[0]!)[0]!.message).toBe('cannot parse: an unknown tag (a value starting with !): quote the value if the ! is part of it at line 4, column 17');
    expect(parseProblems(texts[2]!)[0]!.message).toBe('cannot parse: an alias (a value starting with *) to no anchor set before it: quote the value if the * is part of it at line 4, column 17');
    expect(parseProblems(texts[4]!)[0]!.message).toMatch(/^cannot parse: Block scalar header includes extra characters at line 2, column \d+$/);
  });

  it('a second document (---) is named as such, not by the parser\'s API', () => {
    const [p] = parseProblems('store: { path: x }\ndrivers: []\n---\ndrivers: []\n');
    expect(p!.message).toBe('cannot parse: the file holds more than one YAML document (---): one is expected; the second starts at line 3, column 1');
    expect(p!.message).not.toContain('parseAllDocuments');
  });

  it('a merge key (<<) is said to be unsupported, with its field and line', () => {
    const text = 'x-common: &common\n  model: evita-xl\ndrivers:\n  - name: v1\n    type: medibus\n    options:\n      <<: *common\n      id: vent-1\n';
    expect(parseProblems(text)).toEqual([{ path: 'drivers[0].options.<<', message: 'YAML merge keys (<<) are not supported (line 7, column 7): write the keys out in each entry' }]);
  });
});
