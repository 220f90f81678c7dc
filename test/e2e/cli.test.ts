// The agent's command line, run as a real process.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { startAgentProcess, tempDir, writeConfig } from '../support/agent-process.js';
import { randomKey, startHubStandin } from '../hub-standin/hub-standin.js';
import { STANDIN_CA_FILE } from '../hub-standin/certs.js';
import { saveOverlay } from '../../agent/control/persist.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { EXAMPLE_PASSWORD, hashPassword } from '../../agent/http/passwords.js';

describe('agent CLI', () => {
  it('refuses a bad config with exit code 2, naming every bad field, and starts nothing', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'store', 'agent.db');
    const config = writeConfig(dir, {
      store: { path: storePath },
      log: { level: 'loud' },
      drivers: [{ name: 'sim', type: 'simulator', options: { beds: 0 } }],
    });
    const p = startAgentProcess(['--config', config]);
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.stderr()).toContain(`invalid configuration in ${config}`);
    expect(p.stderr()).toMatch(/log\.level: must be one of "fatal", "error", "warn", "info", "debug", "trace" \(got "loud"\)/);
    expect(p.stderr()).toMatch(/drivers\[0\]\.options\.beds: must be >= 1/);
    expect(p.lines).toEqual([]);
    expect(existsSync(storePath)).toBe(false);
  });

  it('--check validates without starting', async () => {
    const dir = tempDir();
    const p = startAgentProcess(['--check', '--config', writeConfig(dir, { store: { path: join(dir, 'a.db') } })]);
    expect((await p.exited).code).toBe(0);
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('--check warns (still valid) when the display has nobody who could acknowledge an alarm; refuses authenticated viewing with no users', async () => {
    const dir = tempDir();
    const noOne = startAgentProcess(['--check', '--config', writeConfig(dir, { store: { path: join(dir, 'a.db') }, display: { enabled: true } })]);
    expect((await noOne.exited).code).toBe(0);
    expect(noOne.lines.map((l) => l.msg)).toContainEqual(expect.stringMatching(/^  warning: display\.users: no clinician or admin user \(or token\): nobody can acknowledge an alarm/));
    const blind = startAgentProcess(['--check', '--config', writeConfig(dir, { store: { path: join(dir, 'a.db') }, display: { enabled: true, viewing: 'authenticated' } }, 'blind.json')]);
    expect((await blind.exited).code).toBe(2);
    expect(blind.stderr()).toContain('  - display.viewing: is authenticated but there are no display.users or display.tokens: nobody could see the ward');
  });

  it('--check also runs what the start would find: secrets, TLS files, each driver\'s own checks (exit 2, fields named)', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, {
      store: { path: join(dir, 'a.db') },
      privacy: { pseudonymizePatientIds: true, pseudonymKey: { env: 'NO_SUCH_KEY_VAR' } },
      display: { enabled: true, tls: { certFile: join(dir, 'missing.crt'), keyFile: join(dir, 'missing.key') } },
      drivers: [
        { name: 'sim', type: 'simulator' },
        { name: 'm', type: 'modbus', options: { buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'd', unitId: 1, points: [{ name: 'x', table: 'holding', address: 0, mdc: 'MDC_NO_SUCH_THING' }] }] }] } },
      ],
    });
    // The start finds the same, the same way, before anything opens (review rv41 §2: it was exit 1 with a stack, after
    // the store was created).
    for (const args of [['--check', '--config', config], ['--config', config]]) {
      const p = startAgentProcess(args, { env: { NO_SUCH_KEY_VAR: '' } });
      expect((await p.exited).code).toBe(2);
      expect(p.stderr()).toContain('privacy.pseudonymKey: environment variable NO_SUCH_KEY_VAR is set but empty');
      expect(p.stderr()).toMatch(/display\.tls\.certFile: cannot read .*missing\.crt: ENOENT/);
      expect(p.stderr()).toMatch(/drivers\[1\]\.options\.buses\[0\]\.devices\[0\]\.points\[0\]\.mdc: .*MDC_NO_SUCH_THING/);
      expect(p.lines).toEqual([]);
      expect(readdirSync(dir)).toEqual(['config.json']); // nothing created
    }
  });

  it('the display\'s certificate is the local file\'s: one a saved twin overlay gives is refused, and a stale one in the file stops the start, exit 2 (review rv82 M1; was rv43 §2)', async () => {
    const hub = await startHubStandin({ identities: [{ deviceId: 'gw', key: randomKey() }] });
    try {
      const dir = tempDir();
      const certs = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');
      const config = writeConfig(dir, {
        store: { path: join(dir, 'st', 'agent.db') },
        hub: { mode: 'device', connectionString: hub.connectionString('gw'), caFile: STANDIN_CA_FILE },
        display: { enabled: true, port: 0, tls: { certFile: join(dir, 'renewed-away.pem'), keyFile: join(dir, 'renewed-away.key') } },
        drivers: [{ name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } }],
      });
      mkdirSync(join(dir, 'st'));
      saveOverlay(join(dir, 'st', 'desired-overlay.json'), { desiredVersion: 4, appliedAt: new Date().toISOString(), overlay: { display: { tls: { certFile: join(certs, 'server.pem'), keyFile: join(certs, 'server-key.pem') } } } });
      const p = startAgentProcess(['--config', config]);
      expect((await p.exited).code).toBe(2);
      expect(p.stderr()).toMatch(/display\.tls\.certFile: cannot read .*renewed-away\.pem: ENOENT/);
    } finally {
      await hub.stop();
    }
  }, 30_000);

  it('a saved twin overlay that the start\'s checks refuse (an example password, saved by an older version) is ignored with its problems logged; the file alone runs', async () => {
    const hub = await startHubStandin({ identities: [{ deviceId: 'gw', key: randomKey() }] });
    try {
      const dir = tempDir();
      const config = writeConfig(dir, {
        store: { path: join(dir, 'st', 'agent.db') },
        hub: { mode: 'device', connectionString: hub.connectionString('gw'), caFile: STANDIN_CA_FILE },
        display: { enabled: true, port: 0 },
        drivers: [{ name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } }],
      });
      mkdirSync(join(dir, 'st'));
      const users = [{ name: 'nurse', role: 'clinician', passwordHash: await hashPassword(EXAMPLE_PASSWORD) }];
      saveOverlay(join(dir, 'st', 'desired-overlay.json'), { desiredVersion: 7, appliedAt: new Date().toISOString(), overlay: { display: { users } } });
      const p = startAgentProcess(['--config', config]);
      await p.waitForLog('agent running');
      const ignored = p.lines.find((l) => l.msg === 'saved desired overlay does not fit the local config any more; ignored until the hub sends a new one');
      expect(ignored?.problems).toContainEqual(expect.objectContaining({ path: 'display.users', message: expect.stringMatching(/^the display's identities cannot be changed remotely/) }));
      expect(p.lines.some((l) => l.msg === 'starting with the desired overlay last applied from the twin')).toBe(false);
      // Kept on disk (the hub sends a new one), and no start is marked as made with it.
      expect(readdirSync(join(dir, 'st'))).toContain('desired-overlay.json');
      expect(readdirSync(join(dir, 'st'))).not.toContain('desired-overlay.json.starting');
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    } finally {
      await hub.stop();
    }
  }, 30_000);

  it('a store.path that is a folder, or requireEncryptedVolume on a volume not known to be encrypted: exit 2 naming the field, at start as with --check', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'data'));
    mkdirSync(join(dir, 'st')); // the store's folder exists here (on the gateway, or inside the module)
    const folder = writeConfig(dir, { store: { path: join(dir, 'data') }, drivers: [{ name: 'sim', type: 'simulator' }] });
    const plain = writeConfig(dir, { store: { path: join(dir, 'st', 'agent.db'), requireEncryptedVolume: true }, drivers: [{ name: 'sim', type: 'simulator' }] }, 'plain.json');
    for (const check of [true, false]) {
      const a = startAgentProcess([...(check ? ['--check'] : []), '--config', folder]);
      expect((await a.exited).code).toBe(2);
      expect(a.stderr()).toBe(`invalid configuration in ${folder}:\n  - store.path: ${join(dir, 'data')} is a folder: store.path names the store's file (e.g. ${join(dir, 'data', 'agent.db')})\n`);
      const b = startAgentProcess([...(check ? ['--check'] : []), '--config', plain]);
      expect((await b.exited).code).toBe(2);
      expect(b.stderr()).toMatch(/^invalid configuration in .*plain\.json:\n {2}- store\.requireEncryptedVolume: .*agent\.db is on .*; see docs\/security\.md\n$/);
    }
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'data', 'plain.json', 'st']);
    expect(readdirSync(join(dir, 'data'))).toEqual([]);
    expect(readdirSync(join(dir, 'st'))).toEqual([]);
    // --check away from the gateway, where the store's folder exists only inside the module (bound from a data
    // partition): the host's own volume is not judged (review rv43 §3); the start judges it.
    const away = writeConfig(dir, { store: { path: join(dir, 'only-in-the-module', 'agent.db'), requireEncryptedVolume: true }, drivers: [{ name: 'sim', type: 'simulator' }] }, 'away.json');
    expect((await startAgentProcess(['--check', '--config', away]).exited).code).toBe(0);
  });

  it('a start refused by a driver\'s own checks exits 2 with one line per field, as --check does, before the store opens', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'store', 'agent.db');
    const config = writeConfig(dir, {
      store: { path: storePath },
      drivers: [
        { name: 'vent', type: 'medibus', options: { id: 'EVITA-1', path: join(dir, 'no-such-tty'), responseTimeoutMs: 15000 } },
        { name: 'gas', type: 'modbus', options: { buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [
          { id: 'g1', unitId: 1, points: [{ name: 'x', table: 'holding', address: 0 }] },
          { id: 'g2', unitId: 1, points: [{ name: 'x', table: 'holding', address: 0 }] },
        ] }] } },
      ],
    });
    const p = startAgentProcess(['--config', config]);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toBe(
      `invalid configuration in ${config}:\n` +
        '  - drivers[0].options.responseTimeoutMs: must be shorter than quietReinitMs (10000 ms by default), got 15000: the line would count as quiet while an answer is still awaited; raise quietReinitMs too\n' +
        '  - drivers[1].options.buses[0].devices[1].unitId: unit id 1 is already used on this bus\n',
    );
    expect(p.lines).toEqual([]);
    expect(existsSync(storePath)).toBe(false);
  });

  it('a store folder the agent\'s user cannot write (bind mount not chown\'ed): exit 2 naming store.path, at start and with --check', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test runs the agent as uid 10001, as the IoT Edge image does, and needs root');
    const dir = tempDir();
    chmodSync(dir, 0o755); // the config must be readable by uid 10001; the store folder below stays root's
    const storeDir = join(dir, 'data');
    mkdirSync(storeDir, { mode: 0o755 });
    const config = writeConfig(dir, { store: { path: join(storeDir, 'agent.db') }, drivers: [{ name: 'sim', type: 'simulator' }] });
    const expected = `  - store.path: cannot write the store folder ${storeDir} as uid 10001 (EACCES): make it writable by the user the agent runs as (docs/deploy-guide.md: the store folder)\n`;
    const check = startAgentProcess(['--check', '--config', config], { uid: 10001, env: { HOME: dir } });
    expect((await check.exited).code).toBe(2);
    expect(check.stderr()).toBe(`invalid configuration in ${config}:\n${expected}`);
    const start = startAgentProcess(['--config', config], { uid: 10001, env: { HOME: dir } });
    expect((await start.exited).code).toBe(2);
    expect(start.stderr()).toBe(`invalid configuration in ${config}:\n${expected}`);
    expect(readdirSync(storeDir)).toEqual([]);
    // A store folder that does not exist yet, inside that folder: the agent could not make it.
    const deeper = writeConfig(dir, { store: { path: join(storeDir, 'sub', 'agent.db') }, drivers: [{ name: 'sim', type: 'simulator' }] }, 'deeper.json');
    const make = startAgentProcess(['--config', deeper], { uid: 10001, env: { HOME: dir } });
    expect((await make.exited).code).toBe(2);
    expect(make.stderr()).toContain(`  - store.path: cannot create the store folder ${join(storeDir, 'sub')}: ${storeDir} is not writable as uid 10001 (EACCES)`);
    // --check does not judge a folder that is not there: it may exist only on the gateway (inside the module).
    expect((await startAgentProcess(['--check', '--config', deeper], { uid: 10001, env: { HOME: dir } }).exited).code).toBe(0);
    // Writable by that user: valid.
    chownSync(storeDir, 10001, 10001);
    expect((await startAgentProcess(['--check', '--config', config], { uid: 10001, env: { HOME: dir } }).exited).code).toBe(0);
  });

  it('a TZ Node.js does not know (GATEWAY_TIME_ZONE misspelt) stops the start with exit 2, as --check says, instead of reading device clocks as UTC', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, { store: { path: join(dir, 'a.db') }, drivers: [{ name: 'sim', type: 'simulator' }] });
    for (const args of [['--check', '--config', config], ['--config', config]]) {
      const p = startAgentProcess(args, { env: { TZ: 'Europe/Berln' } });
      expect((await p.exited).code).toBe(2);
      expect(p.stderr()).toContain('  - TZ (environment): "Europe/Berln" is not an IANA time zone Node.js knows');
    }
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('a hub connection string named in the file whose variable is not set stops the start with exit 2, as --check says (not a silent "no hub")', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, { store: { path: join(dir, 'a.db') }, hub: { mode: 'auto', connectionString: { env: 'WARD_HUB_CS' } }, drivers: [{ name: 'sim', type: 'simulator' }] });
    for (const args of [['--check', '--config', config], ['--config', config]]) {
      const p = startAgentProcess(args, { env: { WARD_HUB_CS: '' } });
      expect((await p.exited).code).toBe(2);
      expect(p.stderr()).toBe(`invalid configuration in ${config}:\n  - hub.connectionString: environment variable WARD_HUB_CS is set but empty\n`);
    }
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('AGENT_DISPLAY_PORT set to a port an HL7 listener takes is refused like the same port in the file (exit 2)', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, {
      store: { path: join(dir, 'a.db') },
      display: { enabled: true, port: 0 },
      drivers: [{ name: 'hl7', type: 'hl7-mllp', options: { port: 18099 } }],
    });
    const p = startAgentProcess(['--check', '--config', config], { env: { AGENT_DISPLAY_PORT: '18099' } });
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toContain('  - drivers[0].options.port: 0.0.0.0:18099 is already listened on by display.port (127.0.0.1:18099); use another port (display.port set by AGENT_DISPLAY_PORT=18099)');
  });

  it('runs the embedded default with no cloud: simulated ward, local store, forwarding off; stops on SIGTERM', async () => {
    const cwd = tempDir();
    // A free port for the display (the file says 8080; AGENT_DISPLAY_PORT=0 is refused since review rv91 L1).
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    // A connection string left in the shell must not send simulated patients to a real hub.
    const env = { IOTHUB_DEVICE_CONNECTION_STRING: 'HostName=real-hub.example.net;DeviceId=gw;SharedAccessKey=a2V5', AGENT_CONFIG: '', AGENT_DISPLAY_PORT: String(port) };
    const p = startAgentProcess([], { cwd, env });
    const store = await p.waitForLog('store opened');
    expect(store.store).toBe(join(cwd, 'data', 'demo.db')); // the demo's own store, never a ward's (review rv119 H1)
    const off = await p.waitForLog(/forwarding is off/);
    expect(off.reason).toBe('hub.mode is off');
    const display = await p.waitForLog('display listening');
    expect(display.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    const health = (await (await fetch(`${String(display.url)}/healthz`)).json()) as { status: string };
    expect(['ok', 'degraded']).toContain(health.status);
    await p.waitForLog('driver started');
    await p.waitForLog('agent running');
    p.child.kill('SIGTERM');
    const { code } = await p.exited;
    expect(code).toBe(0);
    expect(p.lines.some((l) => l.msg === 'agent stopped')).toBe(true);
    expect(existsSync(join(cwd, 'data', 'demo.db'))).toBe(true);
  });

  it('a start that fails half-way (display port taken) stops what started and exits 1 instead of running on', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as AddressInfo).port;
    try {
      const cwd = tempDir();
      const p = startAgentProcess([], { cwd, env: { IOTHUB_DEVICE_CONNECTION_STRING: '', AGENT_CONFIG: '', AGENT_DISPLAY_PORT: String(port) } });
      const { code } = await p.exited;
      expect(code).toBe(1);
      const reason = `display.port: cannot listen on 127.0.0.1:${port} (EADDRINUSE): another program uses this port; choose another display.port, or set AGENT_DISPLAY_PORT`;
      expect(p.lines.find((l) => l.msg === `start failed: ${reason}; exiting`)).toMatchObject({
        level: 60,
        err: { message: expect.stringMatching(/EADDRINUSE/) },
        problem: reason,
      });
    } finally {
      holder.close();
    }
  });

  /**
   * Runs the agent against a "hub" that accepts TCP and never says a word (the SDK's connect hangs, and so would a stop
   * waiting for it), until it runs and has tried to connect; `stop` signals it; returns the process and its store.
   */
  async function againstSilentHub(stop: (p: ReturnType<typeof startAgentProcess>) => Promise<void>) {
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const dir = tempDir();
      const storePath = join(dir, 'agent.db');
      const config = writeConfig(dir, {
        store: { path: storePath },
        display: { enabled: false },
        hub: { mode: 'device', connectionString: `HostName=hub.example.net;DeviceId=gw;SharedAccessKey=a2V5;GatewayHostName=127.0.0.1:${port}`, sendTimeoutMs: 60000 },
        drivers: [{ name: 'sim', type: 'simulator', options: { beds: 2, waveforms: false, numericPeriodMs: 200 } }],
      });
      const p = startAgentProcess(['--config', config]);
      await p.waitForLog('agent running');
      await new Promise((r) => setTimeout(r, 1000)); // connecting, never connected
      await stop(p);
      const { code } = await p.exited;
      // Drivers were stopped and ingest closed before any wait on the hub: the readings are in the store.
      const db = new Database(storePath, { readonly: true });
      const stored = (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
      db.close();
      return { p, code, stored };
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  }

  it('on SIGTERM with a hub that never answers, commits what it has and exits within IoT Edge\'s 10 s', async () => {
    const { p, code, stored } = await againstSilentHub(async (p) => void p.child.kill('SIGTERM'));
    expect(code).toBe(0);
    expect(p.lines.find((l) => l.msg === 'stop is taking too long (a hub that does not answer?); exiting now, everything accepted is in the store')).toMatchObject({ deadlineMs: 8000 });
    expect(stored).toBeGreaterThan(0);
  }, 30_000);

  it('a second SIGINT while stopping exits without waiting for the hub, after committing', async () => {
    const { p, code, stored } = await againstSilentHub(async (p) => {
      // One Ctrl-C and its echo (npx tsx relays it) 0.1 s apart: not a second request. (Not waiting for the first one's
      // log line, which could take over the half second on a loaded runner; sent at once, the two would be one signal.)
      p.child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 100));
      p.child.kill('SIGINT');
      await p.waitForLog('stopping');
      await new Promise((r) => setTimeout(r, 700));
      expect(p.lines.some((l) => String(l.msg).startsWith('second SIGINT'))).toBe(false);
      p.child.kill('SIGINT');
    });
    expect(code).toBe(0);
    expect(p.lines.find((l) => l.msg === 'second SIGINT while stopping: not waiting for the hub any longer; exiting once everything accepted is in the store')).toMatchObject({ level: 40, signal: 'SIGINT' });
    // It did not sit out the 8 s deadline.
    expect(p.lines.some((l) => String(l.msg).startsWith('stop is taking too long'))).toBe(false);
    expect(stored).toBeGreaterThan(0);
  }, 30_000);

  it('SIGHUP (the session it ran in dropped) stops it cleanly, as SIGTERM does, instead of killing it (review rv41 §8)', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'agent.db');
    const config = writeConfig(dir, { store: { path: storePath }, drivers: [{ name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } }] });
    const p = startAgentProcess(['--config', config]);
    await p.waitForLog('agent running');
    p.child.kill('SIGHUP');
    expect((await p.exited).code).toBe(0);
    expect(p.lines.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SIGHUP' });
    expect(existsSync(`${storePath}-wal`)).toBe(false); // closed: the WAL was checkpointed and removed
  }, 30_000);
});

