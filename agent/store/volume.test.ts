import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeVolumeEncryption } from './volume.js';

/** A fake /proc/self/mountinfo and /sys/dev/block: `/` on a plain disk, the store folder on LVM-on-LUKS or plain. */
function world(storeOnCrypt: boolean) {
  const root = mkdtempSync(join(tmpdir(), 'vol-'));
  const store = join(root, 'store');
  mkdirSync(store);
  const sys = join(root, 'sys');
  const block = join(sys, 'dev', 'block');
  mkdirSync(block, { recursive: true });
  const dev = (name: string, dmUuid?: string, slaves: string[] = []) => {
    const d = join(sys, 'devices', name);
    mkdirSync(join(d, 'slaves'), { recursive: true });
    if (dmUuid) {
      mkdirSync(join(d, 'dm'));
      writeFileSync(join(d, 'dm', 'uuid'), dmUuid);
    }
    for (const s of slaves) symlinkSync(join(sys, 'devices', s), join(d, 'slaves', s));
    return d;
  };
  dev('sda1');
  dev('dm-0', 'CRYPT-LUKS2-1234-luks', ['sda1']);
  dev('dm-1', 'LVM-abc', [storeOnCrypt ? 'dm-0' : 'sda1']);
  symlinkSync(join(sys, 'devices', 'sda1'), join(block, '8:1'));
  symlinkSync(join(sys, 'devices', 'dm-1'), join(block, '253:1'));
  const mountinfo = join(root, 'mountinfo');
  writeFileSync(
    mountinfo,
    [
      `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw`,
      `40 22 253:1 / ${store} rw,relatime shared:2 - ext4 /dev/mapper/vg-data rw`,
      `41 22 0:5 / ${join(root, 'proc')} rw - proc proc rw`,
    ].join('\n') + '\n',
  );
  return { roots: { mountinfo, sysDevBlock: block }, store, root };
}

describe('store volume encryption check', () => {
  it('finds dm-crypt below LVM under the store', () => {
    const w = world(true);
    expect(storeVolumeEncryption(join(w.store, 'agent.db'), w.roots)).toEqual({ state: 'encrypted', device: '/dev/mapper/vg-data' });
  });
  it('checks the volume a store folder not yet made will be on (first start)', () => {
    const w = world(true);
    expect(storeVolumeEncryption(join(w.store, 'data', 'gw', 'agent.db'), w.roots)).toEqual({ state: 'encrypted', device: '/dev/mapper/vg-data' });
  });
  it('says not-encrypted for a plain stack', () => {
    const w = world(false);
    expect(storeVolumeEncryption(join(w.store, 'agent.db'), w.roots)).toEqual({ state: 'not-encrypted', device: '/dev/mapper/vg-data' });
  });
  it('uses the mount that holds the store, not a shorter prefix', () => {
    const w = world(true);
    mkdirSync(join(w.root, 'elsewhere'));
    expect(storeVolumeEncryption(join(w.root, 'elsewhere', 'agent.db'), w.roots)).toEqual({ state: 'not-encrypted', device: '/dev/sda1' });
  });
  it('of two mounts on the store folder, uses the one on top (listed last), not the hidden one below it', () => {
    const w = world(true);
    writeFileSync(w.roots.mountinfo, `${readFileSync(w.roots.mountinfo, 'utf8')}50 40 8:1 / ${w.store} rw,relatime shared:3 - ext4 /dev/sda1 rw\n`);
    expect(storeVolumeEncryption(join(w.store, 'agent.db'), w.roots)).toEqual({ state: 'not-encrypted', device: '/dev/sda1' });
  });
  it('follows a store file that is a link to where it points (SQLite writes there)', () => {
    const w = world(true);
    mkdirSync(join(w.root, 'elsewhere'));
    writeFileSync(join(w.store, 'agent.db'), '');
    symlinkSync(join(w.store, 'agent.db'), join(w.root, 'elsewhere', 'agent.db'));
    expect(storeVolumeEncryption(join(w.root, 'elsewhere', 'agent.db'), w.roots)).toEqual({ state: 'encrypted', device: '/dev/mapper/vg-data' });
    const plain = world(true);
    mkdirSync(join(plain.root, 'elsewhere'));
    writeFileSync(join(plain.root, 'elsewhere', 'agent.db'), '');
    symlinkSync(join(plain.root, 'elsewhere', 'agent.db'), join(plain.store, 'agent.db'));
    expect(storeVolumeEncryption(join(plain.store, 'agent.db'), plain.roots)).toEqual({ state: 'not-encrypted', device: '/dev/sda1' });
  });
  it('says unknown, with why, where it cannot tell', () => {
    expect(storeVolumeEncryption(':memory:').state).toBe('unknown');
    const w = world(true);
    mkdirSync(join(w.root, 'proc'));
    expect(storeVolumeEncryption(join(w.root, 'proc', 'x.db'), w.roots)).toMatchObject({ state: 'unknown', why: expect.stringMatching(/not a block device/) });
    expect(storeVolumeEncryption('/tmp/x.db', { mountinfo: join(w.root, 'none'), sysDevBlock: w.roots.sysDevBlock })).toMatchObject({
      state: 'unknown',
      why: expect.stringMatching(/mount information/),
    });
  });
});
