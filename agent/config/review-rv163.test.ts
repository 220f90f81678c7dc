// Review rv163 (deployment as a biomedical engineer meets it): a HEALTHCHECK_URL in the module's env that misses the
// display (F1), an empty TZ logged as "Etc/Unknown" while the agent runs in UTC (F4).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { startAgentProcess, tempDir, writeConfig } from '../../test/support/agent-process.js';
import { hashPassword } from '../http/passwords.js';
import { PACKAGE_ROOT } from '../paths.js';
import { configWarnings, emptyTimeZoneAsUtc } from './check.js';
import { applyEnvOverrides } from './load.js';

const EDGE = { IOTEDGE_MODULEID: 'bedside-agent', IOTEDGE_DEVICEID: 'ward3-gw', IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock' };
const SIM = { name: 'sim', type: 'simulator', options: { beds: 1 } };
const TLS = { certFile: join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs', 'server.pem'), keyFile: join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs', 'server-key.pem') };

describe('F1: HEALTHCHECK_URL set in the module env is compared with the display', () => {
  /** The HEALTHCHECK_URL warnings --check (atStart false) and the start (true) give; both must agree. */
  const health = (display: Record<string, unknown>, env: NodeJS.ProcessEnv) => {
    const config = applyEnvOverrides(testConfig(tempDir(), { drivers: [SIM], display: { enabled: true, host: '0.0.0.0', ...display } }), registry, 'test', env);
    const [check, start] = [false, true].map((atStart) => configWarnings(config, registry, atStart, env).filter((w) => w.path.startsWith('HEALTHCHECK_URL')));
    expect(start).toEqual(check);
    return check!;
  };
  const warned = (message: RegExp) => [{ path: 'HEALTHCHECK_URL (environment)', message: expect.stringMatching(message) }];

  it('https while display.tls is off (the guide\'s TLS value left in place): one warning naming the scheme and the right URL', () => {
    expect(health({ port: 8080 }, { ...EDGE, HEALTHCHECK_URL: 'https://127.0.0.1:8080/healthz' })).toEqual(
      warned(/^https:\/\/127\.0\.0\.1:8080\/healthz .*https while display\.tls is off.*unhealthy.*set HEALTHCHECK_URL to http:\/\/127\.0\.0\.1:8080\/healthz/),
    );
    // And the other way: plain http to a display on TLS.
    expect(health({ port: 8443, tls: TLS }, { ...EDGE, HEALTHCHECK_URL: 'http://127.0.0.1:8443/healthz' })).toEqual(
      warned(/http while display\.tls is on.*set HEALTHCHECK_URL to https:\/\/127\.0\.0\.1:8443\/healthz/),
    );
  });

  it('a port other than display.port (after AGENT_DISPLAY_PORT), default ports included: one warning naming both ports', () => {
    expect(health({ port: 8080 }, { ...EDGE, HEALTHCHECK_URL: 'http://127.0.0.1:8443/healthz' })).toEqual(
      warned(/port 8443 while display\.port is 8080.*set HEALTHCHECK_URL to http:\/\/127\.0\.0\.1:8080\/healthz/),
    );
    // AGENT_DISPLAY_PORT moved the display; the URL still names the file's port.
    expect(health({ port: 8080 }, { ...EDGE, AGENT_DISPLAY_PORT: '8090', HEALTHCHECK_URL: 'http://127.0.0.1:8080/healthz' })).toEqual(
      warned(/port 8080 while display\.port is 8090.*set HEALTHCHECK_URL to http:\/\/127\.0\.0\.1:8090\/healthz/),
    );
    expect(health({ port: 8443, tls: TLS }, { ...EDGE, HEALTHCHECK_URL: 'https://127.0.0.1/healthz' })).toEqual(warned(/port 443 while display\.port is 8443/));
  });

  it('not a URL, a host that is neither loopback nor the display\'s, another path, or the display off: warned', () => {
    expect(health({}, { ...EDGE, HEALTHCHECK_URL: '127.0.0.1:8080/healthz' })).toEqual(warned(/^"127\.0\.0\.1:8080\/healthz" .*not .*http:\/\/ or https:\/\/.*set HEALTHCHECK_URL to http:\/\/127\.0\.0\.1:8080\/healthz/));
    expect(health({}, { ...EDGE, HEALTHCHECK_URL: 'not a url' })).toEqual(warned(/^"not a url" is not a URL/));
    expect(health({}, { ...EDGE, HEALTHCHECK_URL: 'http://10.20.30.40:8080/healthz' })).toEqual(warned(/host 10\.20\.30\.40 is not .*loopback/));
    expect(health({}, { ...EDGE, HEALTHCHECK_URL: 'http://127.0.0.1:8080/health' })).toEqual(warned(/path \/health is not \/healthz/));
    // Several at once: still one warning, naming each.
    expect(health({}, { ...EDGE, HEALTHCHECK_URL: 'https://127.0.0.1:8443/healthz' })).toEqual(warned(/https while display\.tls is off.*port 8443 while display\.port is 8080/));
    expect(health({ enabled: false }, { ...EDGE, HEALTHCHECK_URL: 'http://127.0.0.1:8080/healthz' })).toEqual(warned(/^display\.enabled is false: the module's health check/));
  });

  it('loopback spellings the health check cannot use (review rv168 F6): ::1 to a display on 0.0.0.0 (IPv4 only), https to a name it verifies', () => {
    expect(health({ port: 8080 }, { ...EDGE, HEALTHCHECK_URL: 'http://[::1]:8080/healthz' })).toEqual(warned(/host \[::1\] does not reach a display listening on 0\.0\.0\.0/));
    expect(health({ port: 8080, host: '::' }, { ...EDGE, HEALTHCHECK_URL: 'http://[::1]:8080/healthz' })).toEqual([]);
    expect(health({ port: 8443, tls: TLS }, { ...EDGE, HEALTHCHECK_URL: 'https://127.0.0.2:8443/healthz' })).toEqual(warned(/https to 127\.0\.0\.2: the check verifies the certificate/));
    expect(health({ port: 8443, tls: TLS }, { ...EDGE, HEALTHCHECK_URL: 'https://0.0.0.0:8443/healthz' })).toEqual(warned(/https to 0\.0\.0\.0: the check verifies/));
    for (const url of ['https://127.0.0.1:8443/healthz', 'https://localhost:8443/healthz', 'https://[::1]:8443/healthz']) {
      expect(health({ port: 8443, tls: TLS, host: '::' }, { ...EDGE, HEALTHCHECK_URL: url }), url).toEqual([]);
    }
    expect(health({ port: 8080 }, { ...EDGE, HEALTHCHECK_URL: 'http://127.0.0.2:8080/healthz' })).toEqual([]);
    // localhost is 127.0.0.1 in the container (review rv169 F6): not a display on ::1, and a display on localhost is not reached over ::1 or 127.0.0.2.
    expect(health({ port: 8080, host: '::1' }, { ...EDGE, HEALTHCHECK_URL: 'http://localhost:8080/healthz' })).toEqual(warned(/host localhost does not reach a display listening on ::1/));
    expect(health({ port: 8080, host: 'localhost' }, { ...EDGE, HEALTHCHECK_URL: 'http://[::1]:8080/healthz' })).toEqual(warned(/does not reach a display listening on localhost/));
    expect(health({ port: 8080, host: 'localhost' }, { ...EDGE, HEALTHCHECK_URL: 'http://127.0.0.2:8080/healthz' })).toEqual(warned(/does not reach a display listening on localhost/));
    expect(health({ port: 8080, host: 'localhost' }, { ...EDGE, HEALTHCHECK_URL: 'http://127.0.0.1:8080/healthz' })).toEqual([]);
  });

  it('a URL that reaches the display: nothing said; nor outside IoT Edge', () => {
    for (const url of ['http://127.0.0.1:8080/healthz', 'http://localhost:8080/healthz', 'http://127.0.0.1:8080/healthz?x=1', ' http://127.0.0.1:8080/healthz ']) {
      expect(health({ port: 8080 }, { ...EDGE, HEALTHCHECK_URL: url }), url).toEqual([]);
    }
    expect(health({ port: 8443, tls: TLS }, { ...EDGE, HEALTHCHECK_URL: 'https://127.0.0.1:8443/healthz' })).toEqual([]);
    expect(health({ port: 8090 }, { ...EDGE, AGENT_DISPLAY_PORT: '8090', HEALTHCHECK_URL: 'http://127.0.0.1:8090/healthz' })).toEqual([]);
    // The display bound to one address: that address reaches it.
    expect(health({ host: '10.20.30.40', port: 8080 }, { ...EDGE, HEALTHCHECK_URL: 'http://10.20.30.40:8080/healthz' })).toEqual([]);
    expect(health({ port: 8080 }, { HEALTHCHECK_URL: 'https://127.0.0.1:9/x' })).toEqual([]);
  });
});

describe('F4: an empty TZ (GATEWAY_TIME_ZONE not filled in)', () => {
  it('emptyTimeZoneAsUtc: empty becomes UTC (what runs); a zone, or no TZ, is left as it is', () => {
    const empty: NodeJS.ProcessEnv = { TZ: '' };
    expect(emptyTimeZoneAsUtc(empty)).toBe(true);
    expect(empty).toEqual({ TZ: 'UTC' });
    const berlin: NodeJS.ProcessEnv = { TZ: 'Europe/Berlin' };
    expect(emptyTimeZoneAsUtc(berlin)).toBe(false);
    expect(berlin).toEqual({ TZ: 'Europe/Berlin' });
    const unset: NodeJS.ProcessEnv = {};
    expect(emptyTimeZoneAsUtc(unset)).toBe(false);
    expect(unset).toEqual({});
  });

  it('--check says the zone is UTC because TZ is empty', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, { gateway: { id: 'rv163-tz' }, store: { path: join(dir, 'agent.db') }, hub: { mode: 'off' }, display: { enabled: false }, drivers: [] });
    const check = startAgentProcess(['--check', '--config', config], { env: { TZ: '' } });
    expect((await check.exited).code).toBe(0);
    expect(check.lines.map((l) => l.msg)).toContain('  note: TZ is empty (GATEWAY_TIME_ZONE not filled in): clocks without a zone (an IntelliVue monitor, HL7 times without an offset) are read as UTC');
  }, 30_000);

  it('the first log line names the zone in use, UTC, not "Etc/Unknown"', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, { gateway: { id: 'rv163-tz' }, log: { level: 'info', pretty: 'never' }, store: { path: join(dir, 'agent.db') }, hub: { mode: 'off' }, display: { enabled: false }, drivers: [] });
    const start = startAgentProcess(['--config', config], { env: { TZ: '' } });
    const first = await start.waitForLog('bedside edge gateway agent starting');
    start.child.kill('SIGTERM');
    await start.exited;
    expect(first).toMatchObject({ timeZone: 'UTC', timeZoneFrom: expect.stringMatching(/^TZ is empty/) });
  }, 30_000);
});

describe('F3: the display listening beyond loopback without TLS, or with open viewing: --check says it too', () => {
  const exposure = (display: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, atStart = false) =>
    configWarnings(testConfig(tempDir(), { drivers: [SIM], display: { enabled: true, ...display } }), registry, atStart, env).filter((w) => w.path === 'display.tls' || w.path === 'display.viewing');

  it('0.0.0.0, plain HTTP, open viewing: both, at --check (the display says them itself as it starts listening)', () => {
    expect(exposure({ host: '0.0.0.0' })).toEqual([
      { path: 'display.tls', message: expect.stringMatching(/^not set while display\.host 0\.0\.0\.0 listens beyond loopback: logins and tokens travel in clear on any network that reaches it .*configure display\.tls/) },
      { path: 'display.viewing', message: expect.stringMatching(/^open while display\.host 0\.0\.0\.0 listens beyond loopback: anyone on a network that reaches it sees the ward/) },
    ]);
    expect(exposure({ host: '0.0.0.0' }, {}, true)).toEqual([]);
  });

  it('under IoT Edge: worded for the module (0.0.0.0 needed; the PortBindings and the module network decide who reaches it)', () => {
    const warned = exposure({ host: '0.0.0.0' }, EDGE);
    expect(warned.map((w) => w.path)).toEqual(['display.tls', 'display.viewing']);
    for (const w of warned) expect(w.message).toMatch(/inside the IoT Edge module 0\.0\.0\.0 is needed.*PortBindings.*127\.0\.0\.1/);
  });

  it('loopback, or TLS with authenticated viewing, or the display off: nothing', async () => {
    expect(exposure({ host: '127.0.0.1' })).toEqual([]);
    expect(exposure({ host: '::1' })).toEqual([]);
    const users = [{ name: 'nurse', role: 'clinician', passwordHash: await hashPassword('a long enough password for the test') }];
    expect(exposure({ host: '0.0.0.0', tls: TLS, viewing: 'authenticated', users })).toEqual([]);
    expect(exposure({ host: '0.0.0.0', enabled: false })).toEqual([]);
  });
});
