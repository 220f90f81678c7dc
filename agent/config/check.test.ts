// What --check (and a twin change) finds beyond the schema, that would otherwise stop the start: the hub section as
// the start reads it, and the process's time zone.
import { describe, expect, it } from 'vitest';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { tempDir } from '../../test/support/agent-process.js';
import { chooseTransport } from '../forward/choose.js';
import { hashPassword } from '../http/passwords.js';
import { buildProblems, configWarnings, storeMountProblems, timeZoneProblems } from './check.js';
import { ConfigError } from './load.js';

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
