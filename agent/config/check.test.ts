// What --check (and a twin change) finds beyond the schema, that would otherwise stop the start: the hub section as
// the start reads it, and the process's time zone.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../../drivers/registry.js';
import { STANDIN_CA_FILE, testConfig } from '../../test/support/agent-config.js';
import { randomKey, startHubStandin } from '../../test/hub-standin/hub-standin.js';
import { startAgentProcess, tempDir, writeConfig } from '../../test/support/agent-process.js';
import { saveOverlay } from '../control/persist.js';
import { decideStartup } from '../control/control.js';
import { chooseTransport } from '../forward/choose.js';
import { EXAMPLE_PASSWORD, hashPassword } from '../http/passwords.js';
import { PACKAGE_ROOT } from '../paths.js';
import { buildProblems, configWarnings, savedOverlayNote, displayHostProblems, displayHostWarnings, displayListenProblem, driverProblems, storeMountProblems, timeZoneProblems } from './check.js';
import { ConfigError, loadConfigFile, validateConfig } from './load.js';

const hubProblems = (hub: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
  buildProblems(testConfig(tempDir(), { hub }), registry, env).filter((p) => p.path.startsWith('hub') || p.path.startsWith('IOTHUB'));

describe('hub section, as the start reads it', () => {
  it('device mode without any connection string', () => {
    expect(hubProblems({ mode: 'device' })).toEqual([{ path: 'hub.connectionString', message: expect.stringMatching(/^hub\.mode is device but no connection string is configured/) }]);
  });

  it('a connection string the agent cannot use: x509, no key, no HostName; from the file or from the environment', () => {
    expect(hubProblems({ mode: 'device', connectionString: 'HostName=h.azure-devices.net;DeviceId=d;x509=true' })).toEqual([
      { path: 'hub.connectionString', message: expect.stringMatching(/^says x509=true: X\.509 device authentication is not supported yet/) },
    ]);
    expect(hubProblems({ mode: 'auto' }, { IOTHUB_DEVICE_CONNECTION_STRING: 'HostName=h;DeviceId=d' })).toEqual([
      { path: 'IOTHUB_DEVICE_CONNECTION_STRING (environment)', message: 'must contain SharedAccessKey (or a ready-made SharedAccessSignature)' },
    ]);
    expect(hubProblems({ mode: 'device', connectionString: 'DeviceId=d;SharedAccessKey=a2V5' })).toEqual([{ path: 'hub.connectionString', message: 'must contain HostName and DeviceId' }]);
    expect(hubProblems({ mode: 'device', connectionString: 'HostName=h;DeviceId=d;SharedAccessKey=a2V5' })).toEqual([]);
  });

  it('a ready-made SharedAccessSignature: warned of (at start and by --check) once expired or when it ends within 7 days, never refused for it (review rv87 L2)', () => {
    const sas = (inS: number) =>
      `HostName=h.azure-devices.net;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=h.azure-devices.net%2Fdevices%2Fd&sig=c2ln%3D&se=${Math.floor(Date.now() / 1000) + inS}`;
    const hubWarnings = (hub: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
      configWarnings(testConfig(tempDir(), { hub }), undefined, true, env).filter((w) => w.path.startsWith('hub') || w.path.startsWith('IOTHUB'));
    // Expired: warned of, not refused (the agent starts; forwarding fails with auth until a new one is put in).
    expect(hubProblems({ mode: 'device', connectionString: sas(-60) })).toEqual([]);
    expect(hubWarnings({ mode: 'device', connectionString: sas(-60) })).toEqual([
      { path: 'hub.connectionString', message: expect.stringMatching(/^its SharedAccessSignature expired at \d{4}-\d\d-\d\dT.*cannot be renewed: IoT Hub refuses every connection/) },
    ]);
    expect(hubWarnings({ mode: 'auto' }, { IOTHUB_DEVICE_CONNECTION_STRING: sas(-60) })).toEqual([
      { path: 'IOTHUB_DEVICE_CONNECTION_STRING (environment)', message: expect.stringMatching(/expired at/) },
    ]);
    expect(hubProblems({ mode: 'device', connectionString: sas(2 * 86400) })).toEqual([]);
    expect(hubWarnings({ mode: 'device', connectionString: sas(2 * 86400) })).toEqual([
      { path: 'hub.connectionString', message: expect.stringMatching(/^its SharedAccessSignature expires at .* \(in 2 days\) and cannot be renewed: forwarding stops at /) },
    ]);
    expect(hubWarnings({ mode: 'auto' }, { IOTHUB_DEVICE_CONNECTION_STRING: sas(3600) })).toEqual([
      { path: 'IOTHUB_DEVICE_CONNECTION_STRING (environment)', message: expect.stringMatching(/\(in 1 h\)/) },
    ]);
    expect(hubWarnings({ mode: 'device', connectionString: sas(30 * 86400) })).toEqual([]);
    expect(hubWarnings({ mode: 'off', connectionString: sas(3600) })).toEqual([]);
  });

  it("a ready-made SharedAccessSignature made for another device is refused, naming the field (the SDK would connect as the token's device, not the string's: review rv113 M4)", () => {
    const se = Math.floor(Date.now() / 1000) + 86400 * 30;
    const cs = (sr: string) => `HostName=h.azure-devices.net;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=${encodeURIComponent(sr)}&sig=c2ln%3D&se=${se};GatewayHostName=edge.ward.local`;
    expect(hubProblems({ mode: 'device', connectionString: cs('h.azure-devices.net/devices/d') })).toEqual([]);
    expect(hubProblems({ mode: 'device', connectionString: cs('h.azure-devices.net/devices/other') })).toEqual([
      { path: 'hub.connectionString', message: expect.stringMatching(/^has a SharedAccessSignature made for "h\.azure-devices\.net\/devices\/other" \(its sr=\), not for this string's device "h\.azure-devices\.net\/devices\/d"/) },
    ]);
    expect(hubProblems({ mode: 'auto' }, { IOTHUB_DEVICE_CONNECTION_STRING: cs('h.azure-devices.net/devices/other') })).toEqual([
      { path: 'IOTHUB_DEVICE_CONNECTION_STRING (environment)', message: expect.stringMatching(/made for "h\.azure-devices\.net\/devices\/other"/) },
    ]);
  });

  it('hub.caFile in module mode (judged by the file: --check may run outside the module)', () => {
    expect(hubProblems({ mode: 'module', caFile: '/etc/ssl/ca.pem' })[0]).toEqual({ path: 'hub.caFile', message: expect.stringMatching(/^is for a connection string; as an IoT Edge module/) });
    expect(hubProblems({ mode: 'module' })).toEqual([]);
    expect(hubProblems({ mode: 'off', connectionString: 'nonsense' })).toEqual([]);
  });

  it('the start refuses what --check reports, and module mode outside IoT Edge; the same problems, named by field', () => {
    const start = (hub: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => {
      try {
        return chooseTransport(testConfig(tempDir(), { hub }), env).why;
      } catch (err) {
        return err instanceof ConfigError ? err.problems : err;
      }
    };
    // A connection string named in the file is meant to be used: its variable not being set is not "no hub".
    expect(hubProblems({ mode: 'auto', connectionString: { env: 'WARD_HUB' } })).toEqual([{ path: 'hub.connectionString', message: 'environment variable WARD_HUB is not set' }]);
    expect(start({ mode: 'auto', connectionString: { env: 'WARD_HUB' } })).toEqual([{ path: 'hub.connectionString', message: 'environment variable WARD_HUB is not set' }]);
    expect(start({ mode: 'device' })).toEqual(hubProblems({ mode: 'device' }));
    expect(start({ mode: 'module' })).toEqual([{ path: 'hub.mode', message: expect.stringMatching(/^is module but the IoT Edge environment .* is missing/) }]);
    expect(hubProblems({ mode: 'module' })).toEqual([]);
    // Nothing configured in auto mode: forwarding is off, and says why.
    expect(start({ mode: 'auto' })).toBe('no hub is configured (no IoT Edge environment, no connection string)');
    expect(start({ mode: 'auto' }, { IOTHUB_DEVICE_CONNECTION_STRING: 'HostName=h;DeviceId=d;SharedAccessKey=a2V5' })).toBe('connection string');
  });
});

describe('time zone', () => {
  it('a TZ Node.js cannot read (a typo, a POSIX rule, a file) is a problem; an IANA zone, UTC, empty or none is not', () => {
    expect(timeZoneProblems({ TZ: 'Europe/Berln' }, () => undefined)).toEqual([{ path: 'TZ (environment)', message: expect.stringMatching(/^"Europe\/Berln" is not an IANA time zone Node\.js knows/) }]);
    // What Node.js makes of them: UTC, whatever the rule says.
    expect(timeZoneProblems({ TZ: 'CET-1CEST,M3.5.0,M10.5.0/3' }, () => 'UTC')).toHaveLength(1);
    expect(timeZoneProblems({ TZ: ':/etc/localtime' }, () => undefined)).toHaveLength(1);
    expect(timeZoneProblems({ TZ: 'Europe/Berlin' }, () => 'Europe/Berlin')).toEqual([]);
    expect(timeZoneProblems({ TZ: 'EST5EDT' }, () => 'America/New_York')).toEqual([]);
    for (const utc of ['', 'UTC', 'UTC0', 'Etc/UTC', 'GMT']) expect(timeZoneProblems({ TZ: utc }, () => undefined)).toEqual([]);
    expect(timeZoneProblems({}, () => 'UTC')).toEqual([]);
  });
});

describe('HL7 times without an offset on a gateway whose zone is set (review rv119 L2)', () => {
  const hl7 = (options: Record<string, unknown> = {}, enabled = true) => ({ name: `cs-${String(options.port ?? 0)}`, type: 'hl7-mllp', enabled, options: { port: 0, ...options } });
  const zoneWarnings = (drivers: unknown[], tz: string | undefined) => {
    const before = process.env.TZ;
    // Node.js reads the zone again when TZ is assigned: the process's zone is what the drivers use.
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
    try {
      return configWarnings(testConfig(tempDir(), { drivers }), registry, false, {}).filter((w) => w.path.includes('defaultTimeZone'));
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  };

  it('an enabled hl7-mllp entry with neither defaultTimeZone nor defaultUtcOffsetMinutes is warned of, naming the field and the zone; --check and the start say it', () => {
    // The schema fills in defaultUtcOffsetMinutes: 0, so a 0 written in the file cannot be told from none: warned too.
    const warned = zoneWarnings([hl7(), { name: 'sim', type: 'simulator' }, hl7({ port: 2576, defaultUtcOffsetMinutes: 0 })], 'Europe/Berlin');
    expect(warned).toEqual([
      {
        path: 'drivers[0].options.defaultTimeZone',
        message: expect.stringMatching(/^not set, and defaultUtcOffsetMinutes is 0 \(its default\): HL7 times sent without an offset .* are read as UTC, while this gateway's zone is Europe\/Berlin/),
      },
      { path: 'drivers[2].options.defaultTimeZone', message: expect.stringMatching(/set defaultTimeZone to the senders' zone \(e\.g\. "Europe\/Berlin"\), or defaultTimeZone: UTC if they send UTC$/) },
    ]);
  });

  it('not when either is set (UTC said as defaultTimeZone), the entry is disabled, or the gateway runs on UTC', () => {
    expect(
      zoneWarnings([hl7({ defaultTimeZone: 'Europe/Berlin' }), hl7({ port: 2576, defaultUtcOffsetMinutes: 60 }), hl7({ port: 2577, defaultTimeZone: 'UTC' }), hl7({ port: 2578 }, false)], 'Europe/Berlin'),
    ).toEqual([]);
    for (const tz of [undefined, 'UTC', 'Etc/UTC']) expect(zoneWarnings([hl7()], tz)).toEqual([]);
  });
});

describe('a store folder other users can list or read, as the start sees it (review rv119 L3)', () => {
  const folderWarnings = (dir: string, atStart = true) => configWarnings(testConfig(dir, { drivers: [] }), registry, atStart, {}).filter((w) => w.path === 'store.path');

  it('warned at start, naming the folder, its mode and the chmod to run; not by --check or a twin change', () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    expect(folderWarnings(dir)).toEqual([{ path: 'store.path', message: `the store's folder ${dir} can be listed by every local user (mode 755), and the store holds patient ids: run chmod 750 ${dir} as its owner, or keep the store in a folder of its own (the agent makes a missing one with mode 750)` }]);
    chmodSync(dir, 0o751); // listable by path: others can still open a file they can read
    expect(folderWarnings(dir)).toEqual([{ path: 'store.path', message: expect.stringContaining('can be entered (not listed) by every local user (mode 751)') }]);
    expect(folderWarnings(dir, false)).toEqual([]);
  });

  it('a shared folder (sticky, as /tmp): keep the store in a folder of its own', () => {
    const dir = join(tempDir(), 'shared');
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    expect(folderWarnings(dir)).toEqual([{ path: 'store.path', message: expect.stringContaining(`${dir} is a folder shared by every local user (mode 1777), and the store holds patient ids: keep the store in a folder of its own`) }]);
  });

  it('not for a folder only its owner and group reach, one the agent will make, or a store in memory', () => {
    const dir = tempDir();
    chmodSync(dir, 0o750);
    expect(folderWarnings(dir)).toEqual([]);
    expect(folderWarnings(join(dir, 'new'))).toEqual([]);
    expect(configWarnings(testConfig(dir, { drivers: [], store: { path: ':memory:' } }), registry, true, {}).filter((w) => w.path === 'store.path')).toEqual([]);
  });
});

describe('store on a mounted volume under IoT Edge', () => {
  const edge = { IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock', IOTEDGE_MODULEID: 'bedside-agent', IOTEDGE_DEVICEID: 'gw', IOTEDGE_IOTHUBHOSTNAME: 'h', IOTEDGE_MODULEGENERATIONID: 'g', IOTEDGE_GATEWAYHOSTNAME: 'gw', IOTEDGE_AUTHSCHEME: 'sasToken', IOTEDGE_APIVERSION: '2019-01-30' };
  const config = testConfig(tempDir(), { store: { path: '/var/lib/bedside-agent/agent.db' } });

  it('in the container\'s own file system (mounted at /): refused, naming store.path and the bind', () => {
    expect(storeMountProblems(config, edge, () => '/')).toEqual([
      { path: 'store.path', message: expect.stringMatching(/^\/var\/lib\/bedside-agent\/agent\.db is not on a mounted volume but in the container's own file system, lost at the next update: bind the host folder/) },
    ]);
  });

  it('on a bind mount, or outside IoT Edge, or when the mount cannot be told: nothing', () => {
    expect(storeMountProblems(config, edge, () => '/var/lib/bedside-agent')).toEqual([]);
    expect(storeMountProblems(config, {}, () => '/')).toEqual([]);
    expect(storeMountProblems(config, edge, () => null)).toEqual([]);
  });
});

describe('password hashes, as --check sees them', () => {
  it('warns per user whose stored hash costs less than OWASP asks (N·r·p below 2^19), as the start does (review rv48 L5)', async () => {
    const users = [
      { name: 'cheap', role: 'clinician', passwordHash: await hashPassword('cheap-pass-1', { N: 1024, r: 8, p: 1 }) },
      { name: 'dear', role: 'viewer', passwordHash: await hashPassword('dear-pass-1', { N: 65536, r: 8, p: 1 }) },
    ];
    const warned = (enabled: boolean) => configWarnings(testConfig(tempDir(), { display: { enabled, users } })).filter((w) => w.path.startsWith('display.users'));
    expect(warned(true)).toEqual([{ path: 'display.users[0] (cheap)', message: expect.stringMatching(/^the password hash of this user is cheap to guess if the config leaks \(scrypt N=1024, r=8, p=1: .*npx tsx agent\/http\/hash-password\.ts/) }]);
    // No display, no logins.
    expect(warned(false)).toEqual([]);
  });
});

describe('who can acknowledge an alarm, as --check sees it (review rv91 M4)', () => {
  const monitor = { name: 'icu7', type: 'intellivue', options: { id: 'MX800-DE12345678', bed: 'ICU-07', path: '/dev/ttyBED01' } };
  const acking = (overrides: Record<string, unknown>) =>
    configWarnings(testConfig(tempDir(), { drivers: [monitor], ...overrides }), registry).filter((w) => w.path === 'display.enabled' || w.path === 'display.users');

  it('the display off: warned, naming display.enabled (it is the only way to acknowledge; latched alarms stay)', () => {
    expect(acking({ display: { enabled: false } })).toEqual([
      { path: 'display.enabled', message: expect.stringMatching(/^false: nobody can acknowledge an alarm on this gateway .*no direct method does.*latch.*stay latched for good/) },
    ]);
    // The shipped example with the display off says so too.
    const gas = loadConfigFile(join(PACKAGE_ROOT, 'config', 'examples', 'modbus-gas-monitor-rtu.yaml'), registry);
    expect(configWarnings(gas, registry, false, {}).map((w) => w.path)).toContain('display.enabled');
  });

  it('the display on: the clinician warning as before, and no display.enabled warning; no driver: only "no enabled driver"', () => {
    expect(acking({ display: { enabled: true } }).map((w) => w.path)).toEqual(['display.users']);
    expect(configWarnings(testConfig(tempDir(), { drivers: [], display: { enabled: false } }), registry).map((w) => w.path)).toEqual(['drivers']);
  });
});

/** An address no interface of this machine has (TEST-NET-3, RFC 5737). */
const FOREIGN = '203.0.113.9';

describe('display.host, as the display would listen on it (review rv60 M1)', () => {
  it('precondition: no interface here has the foreign test address', () => {
    expect(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address))).not.toContain(FOREIGN);
  });

  it('brackets are refused naming display.host; another machine\'s address, a malformed IPv4 address, a name that does not resolve: warned by --check, not refused', async () => {
    expect(displayHostProblems('[::1]')).toEqual([{ path: 'display.host', message: '"[::1]" is an IPv6 address written as in a URL: give it without the brackets ("::1")' }]);
    // A link without carrier is not in the interface list, yet listening on its address works: a refusal kept the whole
    // agent from starting (review rv62 H1); a file for the ward's gateway checked on a laptop is valid (rv62 M1).
    for (const host of [FOREIGN, '10.0.0.999', 'no-such-host.invalid']) expect(displayHostProblems(host)).toEqual([]);
    expect(await displayHostWarnings(FOREIGN)).toEqual([{ path: 'display.host', message: expect.stringMatching(/^203\.0\.113\.9 is not an address of this machine now \(this machine's addresses: .*127\.0\.0\.1.*\): fine if this file is for another machine, or the link is down/) }]);
    expect(await displayHostWarnings('10.0.0.999')).toEqual([{ path: 'display.host', message: expect.stringMatching(/^"10\.0\.0\.999" does not resolve here \(ENOTFOUND\)/) }]);
    expect(await displayHostWarnings('no-such-host.invalid')).toEqual([{ path: 'display.host', message: expect.stringMatching(/^"no-such-host\.invalid" does not resolve here \(ENOTFOUND\)/) }]);
  });

  it('wildcards, loopback, localhost and the addresses of this machine\'s interfaces: no warning', async () => {
    const own = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address));
    for (const host of ['0.0.0.0', '::', '127.0.0.1', '127.0.0.2', '127.1', '::1', 'localhost', ...own]) expect(await displayHostWarnings(host)).toEqual([]);
  });

  it('what a real listen failure on display.host says, naming display.host (it named display.port, or nothing)', async () => {
    const listenError = (host: string) =>
      new Promise<unknown>((resolve) => {
        const server = createServer();
        server.on('error', resolve);
        server.listen(0, host, () => server.close(() => resolve(null)));
      });
    const display = (host: string) => ({ enabled: true, host, port: 0 });
    expect(displayListenProblem(await listenError(FOREIGN), display(FOREIGN))).toEqual({ path: 'display.host', message: expect.stringMatching(/^cannot listen on 203\.0\.113\.9:0 \(EADDRNOTAVAIL\): 203\.0\.113\.9 is not an address of this machine/) });
    expect(displayListenProblem(await listenError('no-such-host.invalid'), display('no-such-host.invalid'))).toEqual({ path: 'display.host', message: expect.stringMatching(/"no-such-host\.invalid" does not resolve \(ENOTFOUND\)/) });
  });

  it('--check warns of an address that is not this machine\'s (exit 0); the start tries it, and its failed listen exits 2 naming display.host (it exited 1)', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'st', 'agent.db');
    const config = writeConfig(dir, { store: { path: storePath }, hub: { mode: 'off' }, display: { enabled: true, host: FOREIGN, port: 0 }, drivers: [{ name: 'sim', type: 'simulator' }] });
    const check = startAgentProcess(['--check', '--config', config]);
    expect((await check.exited).code).toBe(0);
    expect(check.lines.map((l) => l.msg)).toContainEqual(expect.stringMatching(/^ {2}warning: display\.host: 203\.0\.113\.9 is not an address of this machine now/));
    const start = startAgentProcess(['--config', config]);
    expect((await start.exited).code).toBe(2);
    expect(start.stderr()).toMatch(/^invalid configuration in .*config\.json:\n {2}- display\.host: cannot listen on 203\.0\.113\.9:0 \(EADDRNOTAVAIL\)/);
  });
});

describe('per-bed settings and expected devices that no driver names (review rv60 M2)', () => {
  const monitor = { name: 'icu7', type: 'intellivue', options: { id: 'MX800-DE12345678', bed: 'ICU-07', path: '/dev/ttyBED01' } };
  const warned = (overrides: Record<string, unknown>) => configWarnings(testConfig(tempDir(), overrides), registry).filter((w) => w.path.startsWith('alarms.'));

  it('a bed key no driver names, a device id no driver has: warned, with the nearest configured name', () => {
    expect(warned({ drivers: [monitor], alarms: { limits: { beds: { 'ICU-7': { hr: { high: 100 } } } }, news2: { beds: { 'ICU-7': { spo2Scale: 2 } } }, devices: { 'MX800-DE1234567': { silentAfterS: 60 } } } })).toEqual([
      { path: 'alarms.devices.MX800-DE1234567', message: expect.stringMatching(/^no enabled driver has a device with id "MX800-DE1234567": it is expected from the start .*the nearest configured id is "MX800-DE12345678"$/) },
      { path: 'alarms.limits.beds.ICU-7', message: expect.stringMatching(/^no enabled driver names a bed "ICU-7", so this setting applies to no patient .*the nearest configured bed is "ICU-07"$/) },
      { path: 'alarms.news2.beds.ICU-7', message: expect.stringMatching(/the nearest configured bed is "ICU-07"$/) },
    ]);
    // Nothing near: the configured names instead.
    expect(warned({ drivers: [monitor], alarms: { limits: { beds: { 'PED-3': { hr: { high: 100 } } } } } })).toEqual([{ path: 'alarms.limits.beds.PED-3', message: expect.stringMatching(/the configured beds are "ICU-07"$/) }]);
  });

  it('beds and ids named by any driver kind (simulator, IntelliVue, Medibus, Modbus, wfdb-replay, alarms.devices.*.bed), and "unassigned": no warning', () => {
    const record = join(PACKAGE_ROOT, 'models', 'fixtures', 'records', 'v100s');
    const drivers = [
      monitor,
      { name: 'sim', type: 'simulator', options: { beds: 2, bedPrefix: 'SIM-' } },
      { name: 'vent', type: 'medibus', options: { id: 'EVITA-1', bed: 'ICU-08', path: '/dev/ttyBED02' } },
      { name: 'gas', type: 'modbus', options: { buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'pump-1', unitId: 1, bed: 'ICU-09', points: [{ name: 'x', table: 'holding', address: 0 }] }] }] } },
      { name: 'replay', type: 'wfdb-replay', options: { record, bed: 'DEMO-1' } },
    ];
    const beds = Object.fromEntries(['ICU-07', 'SIM-02', 'ICU-08', 'ICU-09', 'DEMO-1', 'unassigned'].map((b) => [b, { hr: { high: 100 } }]));
    const devices = { 'MX800-DE12345678': {}, 'sim-monitor-01': {}, 'EVITA-1': {}, 'pump-1': {}, 'wfdb-v100s': {}, 'EVITA-2': { bed: 'HALL-1' } };
    expect(warned({ drivers, alarms: { limits: { beds }, devices } })).toEqual([{ path: 'alarms.devices.EVITA-2', message: expect.stringMatching(/the nearest configured id is "EVITA-1"$/) }]);
    // The bed of a configured device whose driver names none, given in alarms.devices, is a configured bed; that of a
    // device no driver has is not (one whose driver names another is warned of: review rv120 M6, claims-checks.test.ts).
    const unbedded = [...drivers, { name: 'vent-3', type: 'medibus', options: { id: 'EVITA-3', path: '/dev/ttyBED03' } }];
    expect(warned({ drivers: unbedded, alarms: { limits: { beds: { 'HALL-1': {} } }, devices: { 'EVITA-3': { bed: 'HALL-1' } } } })).toEqual([]);
    expect(warned({ drivers, alarms: { limits: { beds: { 'HALL-1': {} } }, devices: { 'EVITA-2': { bed: 'HALL-1' } } } }).map((w) => w.path)).toEqual(['alarms.devices.EVITA-2', 'alarms.limits.beds.HALL-1']);
  });

  it('with an HL7 listener (beds and ids come in its messages) only a look-alike of another driver\'s own id or bed is said (reviews rv170 M2, rv171 M2); nothing with no driver, nor from a disabled driver', () => {
    const alarms = { limits: { beds: { 'ICU-7': { hr: { high: 100 } } } }, devices: { 'mx800-de12345678': {} } };
    const withListener = [monitor, { name: 'cs', type: 'hl7-mllp', options: { port: 0 } }];
    expect(warned({ drivers: withListener, alarms })).toEqual([
      { path: 'alarms.devices.mx800-de12345678', message: 'no driver names a device "mx800-de12345678"; a configured driver\'s id "MX800-DE12345678" differs only in case, separators or leading zeros, unless "cs" sends it (ids learnt from data)' },
      { path: 'alarms.limits.beds.ICU-7', message: 'no driver names a bed "ICU-7" (bed names must match exactly); a configured driver\'s bed "ICU-07" differs only in case, separators or leading zeros, unless "cs" sends it (beds learnt from data)' },
    ]);
    // Other names may well come from the listener, neighbours in the ward's numbering among them: not said.
    expect(warned({ drivers: withListener, alarms: { limits: { beds: { 'CS-BED-12': { hr: { high: 100 } }, 'ICU-06': { hr: { high: 100 } }, 'ICU-08': {} } }, devices: { '0012A1FFFE000003': {}, 'MX800-DE12345679': {} } } })).toEqual([]);
    expect(warned({ drivers: [], alarms })).toEqual([]);
    expect(warned({ drivers: [monitor, { ...monitor, name: 'old', enabled: false, options: { ...monitor.options, id: 'MX800-DE1234567', bed: 'ICU-7', path: '/dev/ttyBED09' } }], alarms })).toHaveLength(2);
  });
});

describe('the edge model as the start will load it (review rv60 L1)', () => {
  const modelWarned = (model: Record<string, unknown>) => configWarnings(testConfig(tempDir(), { model })).filter((w) => w.path.startsWith('model.'));

  it('a model.path that cannot be read, a model whose SHA-256 is not approved: warned by --check', () => {
    expect(modelWarned({ path: 'models/edge-modle.onnx' })).toEqual([{ path: 'model.path', message: expect.stringMatching(/^cannot read .*models\/edge-modle\.onnx \(ENOENT\): the agent would run on rules only, with a technical alarm$/) }]);
    expect(modelWarned({ approved: [{ sha256: '0'.repeat(64) }] })).toEqual([{ path: 'model.approved', message: expect.stringMatching(/^.*models\/edge-model\.onnx has SHA-256 [0-9a-f]{64}, which is not listed/) }]);
  });

  it('the shipped model as shipped, a model turned off, or at start (the model says it itself, with an alarm): nothing', () => {
    expect(modelWarned({})).toEqual([]);
    expect(modelWarned({ enabled: false, path: 'models/edge-modle.onnx' })).toEqual([]);
    expect(configWarnings(testConfig(tempDir(), { model: { path: 'models/edge-modle.onnx' } }), registry, true).filter((w) => w.path.startsWith('model.'))).toEqual([]);
  });
});

describe('wfdb-replay, as --check and the start see it (review rv60 L1)', () => {
  const record = join(PACKAGE_ROOT, 'models', 'fixtures', 'records', 'v100s');

  it('a record that is not there: refused naming options.record', () => {
    const config = testConfig(tempDir(), { drivers: [{ name: 'demo', type: 'wfdb-replay', options: { record: join(PACKAGE_ROOT, 'models', 'fixtures', 'records', 'v100') } }] });
    expect(driverProblems(config, registry)).toEqual([{ path: 'drivers[0].options.record', message: expect.stringMatching(/^cannot read the record's header .*records\/v100\.hea \(ENOENT\)/) }]);
  });

  it('two replays with one device id, given or defaulted from the record: refused like any duplicate id', () => {
    const two = (a: Record<string, unknown>, b: Record<string, unknown>) => () => validateConfig({ drivers: [{ name: 'a', type: 'wfdb-replay', options: a }, { name: 'b', type: 'wfdb-replay', options: b }] }, registry, 'test.yaml');
    expect(two({ record, deviceId: 'mon-1' }, { record: `${record}.hea`, deviceId: 'mon-1' })).toThrow(/drivers\[1\]\.options\.deviceId: device id "mon-1" is already used by drivers\[0\]\.options\.deviceId \(driver "a"\)/);
    expect(two({ record }, { record: `${record}.hea` })).toThrow(/drivers\[1\]\.options\.record: device id "wfdb-v100s" is already used by drivers\[0\]\.options\.record/);
    expect(two({ record }, { record, deviceId: 'mon-2' })).not.toThrow();
  });
});

describe('the saved twin overlay, as --check and the start see it (review rv60 M3)', () => {
  it('--check says the start applies it (file, desired version, what it changes) and judges the file with it; the start says it as a warning', async () => {
    const hub = await startHubStandin({ identities: [{ deviceId: 'gw', key: randomKey() }] });
    try {
      const dir = tempDir();
      const config = writeConfig(dir, {
        store: { path: join(dir, 'st', 'agent.db') },
        hub: { mode: 'device', connectionString: hub.connectionString('gw'), caFile: STANDIN_CA_FILE },
        // A per-bed setting for the file's ward: in use with the file's drivers, for no patient with the overlay's.
        alarms: { limits: { beds: { 'A-01': { spo2: { low: 85 } } } } },
        drivers: [{ name: 'ward-a', type: 'simulator', options: { beds: 2, bedPrefix: 'A-', waveforms: false } }],
      });
      mkdirSync(join(dir, 'st'));
      const file = join(dir, 'st', 'desired-overlay.json');
      saveOverlay(file, { desiredVersion: 7, appliedAt: '2026-12-01T00:00:00.000Z', overlay: { drivers: [{ name: 'old-ward', type: 'simulator', options: { beds: 1, bedPrefix: 'OLD-', waveforms: false } }] } });
      const check = startAgentProcess(['--check', '--config', config]);
      expect((await check.exited).code).toBe(0);
      const out = check.lines.map((l) => l.msg);
      expect(out).toContain(`  note: ${file} (desired version 7, applied at 2026-12-01T00:00:00.000Z) is applied over this file at start, until the twin is read: it changes drivers (runs old-ward; not ward-a); checked here as the start runs it, with the overlay`);
      expect(out).toContainEqual(expect.stringMatching(/^ {2}warning: alarms\.limits\.beds\.A-01: no enabled driver names a bed "A-01"/));

      // An overlay the start's checks refuse (an example password) is ignored at start: --check says so, and judges the file.
      const users = [{ name: 'nurse', role: 'clinician', passwordHash: await hashPassword(EXAMPLE_PASSWORD) }];
      saveOverlay(file, { desiredVersion: 8, appliedAt: '2026-12-02T00:00:00.000Z', overlay: { display: { users } } }); // (the twin may set neither the display's port nor its switch: review rv91 M5)
      const refused = startAgentProcess(['--check', '--config', config]);
      expect((await refused.exited).code).toBe(0);
      expect(refused.lines.map((l) => l.msg)).toContainEqual(expect.stringMatching(new RegExp(`^ {2}note: ${file.replace(/[.]/g, '\\.')} \\(the saved twin overlay\\) is ignored at start, as it does not fit this file: display\\.users: .*; this file runs alone$`)));
      expect(refused.lines.map((l) => l.msg).join('\n')).not.toMatch(/warning: alarms\.limits\.beds\.A-01/);

      saveOverlay(file, { desiredVersion: 7, appliedAt: '2026-12-01T00:00:00.000Z', overlay: { drivers: [{ name: 'old-ward', type: 'simulator', options: { beds: 1, bedPrefix: 'OLD-', waveforms: false } }] } });
      const start = startAgentProcess(['--config', config]);
      await start.waitForLog('agent running');
      expect(start.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('is applied over this file at start'))).toMatchObject({ level: 40, file, desiredVersion: 7, msg: expect.stringContaining('it changes drivers (runs old-ward; not ward-a)') });
      start.child.kill('SIGTERM');
      expect((await start.exited).code).toBe(0);
    } finally {
      await hub.stop();
    }
  }, 60_000);
});

describe('a saved overlay holding fields this version takes from the file only (review rv94 H3)', () => {
  it('--check and the start\'s warning say they are ignored, and what the rest changes', () => {
    const dir = tempDir();
    const local = testConfig(dir, { hub: { mode: 'module' }, drivers: [{ name: 'ward-a', type: 'simulator', options: { beds: 1, waveforms: false } }] });
    saveOverlay(join(dir, 'desired-overlay.json'), { desiredVersion: 4, appliedAt: '2026-12-03T00:00:00.000Z', overlay: { display: { port: 9999, enabled: true }, log: { level: 'trace' } } });
    const d = decideStartup(local, registry);
    expect(d.step.kind).toBe('use');
    const note = savedOverlayNote(d, join(dir, 'desired-overlay.json'), '2026-12-03T00:00:00.000Z');
    expect(note).toMatch(/it changes log\.level; it also sets display\.port, display\.enabled, ignored: this version takes them from this file only \(a gateway alarm says so while the overlay is in force\)$/);
  });
});

describe('a serial path that is not there now (review rv90 L2)', () => {
  const vent = (options: Record<string, unknown>) => ({ name: 'vent', type: 'medibus', options: { id: 'EVITA-1', ...options } });
  const warned = (options: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, atStart = false) =>
    configWarnings(testConfig(tempDir(), { drivers: [{ name: 'sim', type: 'simulator' }, vent(options)] }), registry, atStart, env).filter((w) => w.path.startsWith('drivers['));

  it('a path that does not exist, or is no character device: warned (not refused: the adapter may be unplugged), naming the field', () => {
    expect(warned({ path: '/dev/ttyBED99' })).toEqual([
      { path: 'drivers[1].options.path', message: expect.stringMatching(/^\/dev\/ttyBED99 does not exist: .*not plugged in, or a wrong path \(see `ls -l \/dev\/serial\/by-id`\)/) },
    ]);
    // In an IoT Edge module the path is the manifest's PathInContainer: that is where to look.
    expect(warned({ path: '/dev/ttyBED99' }, { IOTEDGE_MODULEID: 'bedside-agent', IOTEDGE_WORKLOADURI: 'unix:///x' })).toEqual([
      { path: 'drivers[1].options.path', message: expect.stringMatching(/^\/dev\/ttyBED99 does not exist: .*HostConfig\.Devices.*PathInContainer/) },
    ]);
    const file = join(tempDir(), 'not-a-tty');
    writeFileSync(file, '');
    expect(warned({ path: file })).toEqual([{ path: 'drivers[1].options.path', message: expect.stringMatching(/is not a character device/) }]);
  });

  it('a character device, a replay (its path is not opened), or at start (the driver says it as it opens): nothing', () => {
    expect(warned({ path: '/dev/null' })).toEqual([]);
    expect(warned({ path: '/dev/ttyBED99', replay: { file: 'x.jsonl' } })).toEqual([]);
    expect(warned({ path: '/dev/ttyBED99' }, {}, true)).toEqual([]);
  });
});

describe('the display under IoT Edge, as --check and the start see it (review rv103 M1, L1)', () => {
  const EDGE = { IOTEDGE_MODULEID: 'bedside-agent', IOTEDGE_DEVICEID: 'ward3-gw', IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock' };
  const sim = { name: 'sim', type: 'simulator', options: { beds: 1 } };
  const moduleWarnings = (display: Record<string, unknown>, env: NodeJS.ProcessEnv, atStart = false) =>
    configWarnings(testConfig(tempDir(), { drivers: [sim], display }), registry, atStart, env).filter(
      (w) => w.path === 'display.host' || w.path === 'HEALTHCHECK_URL (environment)',
    );

  it('a loopback display.host inside the module (the default 127.0.0.1, ::1, localhost): warned at --check and at start with the fix; not outside IoT Edge, nor for 0.0.0.0', () => {
    // Other spellings Node binds to loopback too (review rv106 L1).
    for (const host of [undefined, '127.0.0.1', '::1', 'localhost', 'LOCALHOST', 'localhost.', '127.1', '127.9.9.9', '0:0:0:0:0:0:0:1', '::0:1', '0000::1', '::ffff:7f00:1', '::ffff:127.0.0.1']) {
      for (const atStart of [false, true]) {
        expect(moduleWarnings(host === undefined ? { enabled: true } : { enabled: true, host }, EDGE, atStart), `${host} ${atStart}`).toEqual([
          {
            path: 'display.host',
            message: expect.stringMatching(
              /^.*inside the module .* is the container's own loopback: the published port reaches nothing .*no screen.*acknowledge.*set display\.host: 0\.0\.0\.0 \(docs\/deploy-guide\.md\)/,
            ),
          },
        ]);
      }
    }
    expect(moduleWarnings({ enabled: true }, {})).toEqual([]);
    for (const host of ['0.0.0.0', '::', '::ffff:10.0.0.1', '10.0.0.1', '128.0.0.1', 'gw.example', 'localhost.example']) expect(moduleWarnings({ enabled: true, host }, EDGE), host).toEqual([]);
    expect(moduleWarnings({ enabled: true, host: '0.0.0.0' }, { EdgeHubConnectionString: 'HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=a2V5' })).toEqual([]);
  });

  it("the module's health check: warned when the display is off, on TLS or on another port than it calls without HEALTHCHECK_URL; AGENT_DISPLAY_PORT is followed", () => {
    const health = (display: Record<string, unknown>, env: NodeJS.ProcessEnv) => moduleWarnings({ host: '0.0.0.0', ...display }, env).filter((w) => w.path.startsWith('HEALTHCHECK_URL'));
    expect(health({ enabled: false }, EDGE)).toEqual([
      { path: 'HEALTHCHECK_URL (environment)', message: expect.stringMatching(/^display\.enabled is false: the module's health check .*unhealthy for good; .*display\.enabled: true/) },
    ]);
    const tls = { certFile: join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs', 'server.pem'), keyFile: join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs', 'server-key.pem') };
    expect(health({ enabled: true, tls }, EDGE)).toEqual([
      { path: 'HEALTHCHECK_URL (environment)', message: expect.stringMatching(/display\.tls is on: the module's health check calls http:\/\/127\.0\.0\.1:8080\/healthz.*set HEALTHCHECK_URL to https:\/\/127\.0\.0\.1:8080\/healthz/) },
    ]);
    expect(health({ enabled: true, port: 8090 }, EDGE)).toEqual([
      { path: 'HEALTHCHECK_URL (environment)', message: expect.stringMatching(/display\.port is 8090: the module's health check calls http:\/\/127\.0\.0\.1:8080\/healthz.*set AGENT_DISPLAY_PORT=8090 .*or HEALTHCHECK_URL to http:\/\/127\.0\.0\.1:8090\/healthz/) },
    ]);
    // What the health check will call reaches the display: nothing said.
    expect(health({ enabled: true }, EDGE)).toEqual([]);
    expect(health({ enabled: true, port: 8090 }, { ...EDGE, AGENT_DISPLAY_PORT: '8090' })).toEqual([]);
    // A leading zero: the agent and the check's URL both read 08080 as 8080 (review rv106 L2).
    expect(health({ enabled: true, port: 8080 }, { ...EDGE, AGENT_DISPLAY_PORT: '08080' })).toEqual([]);
    expect(health({ enabled: true, port: 8090 }, { ...EDGE, AGENT_DISPLAY_PORT: ' 08080 ' })).toEqual([
      { path: 'HEALTHCHECK_URL (environment)', message: expect.stringMatching(/display\.port is 8090: the module's health check calls http:\/\/127\.0\.0\.1:8080\/healthz/) },
    ]);
    expect(health({ enabled: true, tls }, { ...EDGE, HEALTHCHECK_URL: 'https://127.0.0.1:8080/healthz' })).toEqual([]);
    // Outside IoT Edge there is no container health check to fail.
    expect(health({ enabled: false }, {})).toEqual([]);
    expect(health({ enabled: true, tls }, {})).toEqual([]);
  });
});
