// Review rv144 (first run and deployment): a simulated driver forwarded as the ward's data (F1), a store.path naming
// the config file or another non-SQLite file (F2), ~ and $VAR in path fields (F3), literal secrets in the file (F4).
import { chmodSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { startAgentProcess, tempDir } from '../../test/support/agent-process.js';
import { DEFAULT_CONFIG_PATH, PACKAGE_ROOT } from '../paths.js';
import { checkBeyondSchema, configWarnings } from './check.js';
import { loadConfigFile } from './load.js';

const CS = 'HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=a2V5a2V5a2V5a2V5';
const KEY = '9f2c4a7d1e8b3f6a0c5d9e2b7a4f1c8d';
const SIM = { name: 'ward-sim', type: 'simulator', options: { beds: 4 } };
const HL7 = { name: 'central', type: 'hl7-mllp', options: { port: 0, defaultTimeZone: 'UTC' } };

describe('F1: a simulated driver while forwarding is on', () => {
  const at = (path: string) => (w: { path: string }) => w.path === path;

  it('the embedded default with hub.mode device: one warning at drivers[0] (--check and start), none with hub.mode off', () => {
    const dir = tempDir();
    const text = readFileSync(DEFAULT_CONFIG_PATH, 'utf8').replace(/^ {2}mode: off$/m, '  mode: device\n  connectionString: { env: IOTHUB_DEVICE_CONNECTION_STRING }');
    const ward = join(dir, 'my-ward.yaml');
    writeFileSync(ward, `${text}  - name: central\n    type: hl7-mllp\n    options: { port: 2575, defaultTimeZone: UTC }\n`);
    const config = loadConfigFile(ward, registry);
    expect(config.hub.mode).toBe('device');
    const env = { IOTHUB_DEVICE_CONNECTION_STRING: CS };
    for (const atStart of [false, true]) {
      const warned = configWarnings(config, registry, atStart, env).filter((w) => /^drivers\[\d+\]$/.test(w.path));
      expect(warned).toEqual([{ path: 'drivers[0]', message: expect.stringMatching(/simulator "ward-sim" makes up its patients.*go to the hub as this ward's data.*hub\.mode: off/) }]);
    }
    const demo = loadConfigFile(DEFAULT_CONFIG_PATH, registry);
    expect(demo.hub.mode).toBe('off');
    expect(configWarnings(demo, registry, false, env).filter((w) => /^drivers\[\d+\]$/.test(w.path))).toEqual([]);
  });

  it('wfdb-replay and hub.mode auto are warned of too; a disabled simulator, or hub.mode off, is not', () => {
    const dir = tempDir();
    const replay = { name: 'replay', type: 'wfdb-replay', options: { record: join(PACKAGE_ROOT, 'models', 'fixtures', 'records', 'v100s') } };
    const warned = (drivers: unknown[], hub: Record<string, unknown>, atStart = true) =>
      configWarnings(testConfig(dir, { hub, drivers }), registry, atStart, {}).filter((w) => /^drivers\[\d+\]$/.test(w.path));
    // auto: --check cannot tell (the gateway may have a hub); at start, only when auto found one.
    expect(warned([HL7, SIM], { mode: 'auto' }, false).map((w) => w.path)).toEqual(['drivers[1]']);
    expect(warned([HL7, SIM], { mode: 'auto' }, true)).toEqual([]);
    expect(warned([HL7, replay], { mode: 'device', connectionString: CS }).find(at('drivers[1]'))?.message).toMatch(/^wfdb-replay "replay" replays a recording/);
    expect(warned([HL7, { ...SIM, enabled: false }], { mode: 'device', connectionString: CS })).toEqual([]);
    expect(warned([HL7, SIM, replay], { mode: 'off' })).toEqual([]);
  });
});

describe('F2: a store.path that is the configuration file, or another file that is no SQLite store', () => {
  it('store.path resolving to the config file itself (also through a symlink): a problem at store.path, at --check and at start', async () => {
    const dir = tempDir();
    const file = join(dir, 'ward.yaml');
    writeFileSync(file, 'hub: { mode: off }\n');
    const link = join(dir, 'link.yaml');
    symlinkSync(file, link);
    for (const storePath of [file, link]) {
      const config = testConfig(dir, { store: { path: storePath } });
      for (const atStart of [false, true]) {
        const problems = await checkBeyondSchema(config, registry, {}, atStart, file);
        expect(problems).toContainEqual({ path: 'store.path', message: expect.stringMatching(/is this configuration file/) });
      }
    }
    // Another store path, or no config path given (a twin reload): no such problem.
    const other = await checkBeyondSchema(testConfig(dir, { store: { path: join(dir, 'agent.db') } }), registry, {}, true, file);
    expect(other.filter((p) => /configuration file/.test(p.message))).toEqual([]);
  });

  it('--check and the start exit 2 naming store.path, and the config file is left as it was', async () => {
    const dir = tempDir();
    const file = join(dir, 'ward.yaml');
    const text = 'store: { path: ./ward.yaml }\nhub: { mode: off }\ndisplay: { enabled: false }\n';
    writeFileSync(file, text);
    for (const args of [['--check', '--config', 'ward.yaml'], ['--config', 'ward.yaml']]) {
      const p = startAgentProcess(args, { cwd: dir });
      const { code } = await p.exited;
      expect(code).toBe(2);
      expect(p.stderr()).toMatch(/store\.path: .*is this configuration file/);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  }, 30_000);

  it('an existing non-empty file that is not SQLite: warned by --check, not at start; an SQLite store, an empty file or none: nothing', () => {
    const dir = tempDir();
    const warned = (path: string, atStart: boolean) => configWarnings(testConfig(dir, { store: { path } }), registry, atStart, {}).filter((w) => w.path === 'store.path');
    const text = join(dir, 'notadb.yaml');
    writeFileSync(text, 'drivers: []\n');
    expect(warned(text, false)).toEqual([{ path: 'store.path', message: expect.stringMatching(/is not an SQLite store.*move it aside as damaged/) }]);
    expect(warned(text, true)).toEqual([]);
    const db = join(dir, 'real.db');
    new Database(db).exec('CREATE TABLE t (x)').close();
    expect(warned(db, false)).toEqual([]);
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    expect(warned(empty, false)).toEqual([]);
    expect(warned(join(dir, 'none.db'), false)).toEqual([]);
  });
});

describe('F3: ~ and $VAR in path fields (YAML expands neither)', () => {
  const MESSAGE = expect.stringMatching(/YAML does not expand ~ or \$VAR: write the absolute path/);

  it('--check: a problem naming each field (store, hub CA, display TLS, model, a secret file, a driver option)', async () => {
    const dir = tempDir();
    const config = testConfig(dir, {
      store: { path: '~/bedside/agent.db' },
      hub: { mode: 'off', caFile: '$CERTS/ca.pem', connectionString: { file: '${SECRETS}/cs' } },
      display: { enabled: true, tls: { certFile: '~/d.crt', keyFile: '/etc/d-$HOST.key' } },
      model: { enabled: true, path: '$HOME/edge-model.onnx' },
      privacy: { pseudonymizePatientIds: true, pseudonymKey: { file: '~/key' } },
      drivers: [{ name: 'mon', type: 'intellivue', options: { id: 'mon-7', path: '/dev/ttyS0', bed: 'b1', captureFile: '~/capture.jsonl' } }],
    });
    const problems = await checkBeyondSchema(config, registry, {}, false);
    for (const field of ['store.path', 'hub.caFile', 'hub.connectionString.file', 'display.tls.certFile', 'display.tls.keyFile', 'model.path', 'privacy.pseudonymKey.file', 'drivers[0].options.captureFile']) {
      expect(problems).toContainEqual({ path: field, message: MESSAGE });
    }
  });

  it('at start: warned, not refused (a file that started before must still start); a ~ inside a path: nothing', async () => {
    const dir = tempDir();
    const tilde = testConfig(dir, { store: { path: join(dir, '~x', 'agent.db') } });
    expect((await checkBeyondSchema(tilde, registry, {}, false)).filter((p) => /YAML/.test(p.message))).toEqual([]);
    const config = testConfig(dir, { store: { path: '~/bedside/agent.db' } });
    expect((await checkBeyondSchema(config, registry, {}, true)).filter((p) => /YAML/.test(p.message))).toEqual([]);
    expect(configWarnings(config, registry, true, {})).toContainEqual({ path: 'store.path', message: MESSAGE });
  });
});

describe('F4: literal secrets in the configuration file', () => {
  it('a literal privacy.pseudonymKey: warned at --check and start; { env } or { file }: not', () => {
    const dir = tempDir();
    const warned = (pseudonymKey: unknown, atStart: boolean) =>
      configWarnings(testConfig(dir, { privacy: { pseudonymizePatientIds: true, pseudonymKey } }), registry, atStart, { K: KEY }).filter((w) => w.path === 'privacy.pseudonymKey');
    for (const atStart of [false, true]) {
      expect(warned(KEY, atStart)).toEqual([{ path: 'privacy.pseudonymKey', message: expect.stringMatching(/written in the configuration file.*\{ file: PATH \}.*\{ env: NAME \}/) }]);
      expect(warned({ env: 'K' }, atStart)).toEqual([]);
    }
  });

  it('a literal hub.connectionString: warned when the config file is group- or world-readable; not at 0600, nor for { env }', () => {
    const dir = tempDir();
    const file = join(dir, 'ward.yaml');
    writeFileSync(file, '# the file\n');
    const warned = (connectionString: unknown, mode: number) => {
      chmodSync(file, mode);
      return configWarnings(testConfig(dir, { hub: { mode: 'device', connectionString } }), registry, true, { CS }, file).filter((w) => w.path === 'hub.connectionString');
    };
    expect(warned(CS, 0o644)).toEqual([{ path: 'hub.connectionString', message: expect.stringMatching(/written in .*ward\.yaml, which other local users can read \(mode 644\)/) }]);
    expect(warned(CS, 0o640).map((w) => w.path)).toEqual(['hub.connectionString']);
    expect(warned(CS, 0o600)).toEqual([]);
    expect(warned({ env: 'CS' }, 0o644)).toEqual([]);
  });
});
