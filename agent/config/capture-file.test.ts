// A driver's capture appends every byte from the device to the file it names: naming the store's file (or one SQLite
// keeps beside it) or the configuration file must be refused before anything is written, naming the field.
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { startAgentProcess, tempDir } from '../../test/support/agent-process.js';
import { checkBeyondSchema } from './check.js';

const monitor = (captureFile: string, enabled = true) => ({
  name: 'mon',
  type: 'intellivue',
  enabled,
  options: { id: 'mx800', path: '/dev/ttyUSB7', bed: 'bed-1', captureFile },
});
const captureProblems = async (dir: string, store: string, captureFile: string, configPath?: string, enabled = true) =>
  (await checkBeyondSchema(testConfig(dir, { store: { path: store }, drivers: [monitor(captureFile, enabled)] }), registry, {}, false, configPath)).filter(
    (p) => p.path === 'drivers[0].options.captureFile',
  );

describe('captureFile naming the store or the configuration file', () => {
  it('the store file, its -wal, -shm, lock or reserve, also through a symlink or a relative path: a problem at the field', async () => {
    const dir = tempDir();
    const store = join(dir, 'data', 'agent.db');
    const link = join(dir, 'link.db');
    writeFileSync(join(dir, 'real.db'), '');
    symlinkSync(join(dir, 'real.db'), link);
    for (const file of [store, `${store}-wal`, `${store}-shm`, `${store}.lock`, `${store}.reserve`, join(dir, 'data', '..', 'data', 'agent.db')]) {
      expect(await captureProblems(dir, store, file)).toEqual([{ path: 'drivers[0].options.captureFile', message: expect.stringMatching(/is the store's file or one SQLite keeps beside it.*damage the store/) }]);
    }
    expect(await captureProblems(dir, join(dir, 'real.db'), link)).toHaveLength(1);
    // A capture beside the store, in its folder, is what the deploy guide advises: no problem; nor for a disabled driver.
    expect(await captureProblems(dir, store, join(dir, 'data', 'captures', 'mon.jsonl'))).toEqual([]);
    expect(await captureProblems(dir, store, join(dir, 'data', 'agent.db.capture.jsonl'))).toEqual([]);
    expect(await captureProblems(dir, store, store, undefined, false)).toEqual([]);
  });

  it('the saved twin overlay beside the store (or its temporary, starting or set-aside files): a problem at the field', async () => {
    const dir = tempDir();
    const store = join(dir, 'data', 'agent.db');
    for (const name of ['desired-overlay.json', 'desired-overlay.json.tmp', 'desired-overlay.json.starting', 'desired-overlay.failed.json']) {
      expect(await captureProblems(dir, store, join(dir, 'data', name))).toEqual([
        { path: 'drivers[0].options.captureFile', message: expect.stringMatching(/keeps the twin's configuration.*next start would ignore it/) },
      ]);
    }
  });

  it('two drivers with one capture file: a problem at the second, naming the first', async () => {
    const dir = tempDir();
    const file = join(dir, 'data', 'captures', 'both.jsonl');
    const medibus = { name: 'vent', type: 'medibus', options: { id: 'v500', path: '/dev/ttyUSB8', bed: 'bed-1', captureFile: file } };
    const config = testConfig(dir, { store: { path: join(dir, 'data', 'agent.db') }, drivers: [monitor(file), medibus] });
    const problems = (await checkBeyondSchema(config, registry, {}, false)).filter((p) => /captureFile/.test(p.path));
    expect(problems).toEqual([{ path: 'drivers[1].options.captureFile', message: expect.stringMatching(/is already the capture file of drivers\[0\] \(driver "mon"\): two devices' bytes would be mixed/) }]);
    // One of them disabled: no clash.
    const off = testConfig(dir, { store: { path: join(dir, 'data', 'agent.db') }, drivers: [monitor(file, false), medibus] });
    expect((await checkBeyondSchema(off, registry, {}, false)).filter((p) => /captureFile/.test(p.path))).toEqual([]);
  });

  it('the configuration file: a problem at the field', async () => {
    const dir = tempDir();
    const config = join(dir, 'ward.yaml');
    writeFileSync(config, 'hub: { mode: off }\n');
    expect(await captureProblems(dir, join(dir, 'agent.db'), config, config)).toEqual([
      { path: 'drivers[0].options.captureFile', message: expect.stringMatching(/is this configuration file/) },
    ]);
  });

  it('the start exits 2 naming the field, and neither the store nor the config file is written to', async () => {
    const dir = tempDir();
    const file = join(dir, 'ward.yaml');
    const text =
      'store: { path: ./agent.db }\nhub: { mode: off }\ndisplay: { enabled: false }\n' +
      'drivers:\n  - name: mon\n    type: intellivue\n    options: { id: mx800, path: /dev/ttyUSB7, bed: bed-1, captureFile: ./ward.yaml }\n';
    writeFileSync(file, text);
    const p = startAgentProcess(['--config', 'ward.yaml'], { cwd: dir });
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.stderr()).toMatch(/drivers\[0\]\.options\.captureFile: .*is this configuration file/);
    expect(readFileSync(file, 'utf8')).toBe(text);
  }, 30_000);
});
