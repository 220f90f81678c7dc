// Review rv149: a plug-order port name is warned of (H1), and a port that hangs up says why in words a person can act
// on, not "bad file descriptor" (L1).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SerialPortLink, serialPathWarning } from './serialport-link.js';
import { openPtyPair, waitFor } from './testing.js';

const LINE = { baudRate: 19200, dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' } as const;

describe('a plug-order port name (rv149 H1)', () => {
  it('/dev/ttyUSB<n>, /dev/ttyACM<n>: warned, existing or not, with the stable names to use', () => {
    for (const path of ['/dev/ttyUSB0', '/dev/ttyUSB12', '/dev/ttyACM3']) {
      expect(serialPathWarning(path, {}), path).toMatch(/numbered in plug-in order.*another bed's device.*\/dev\/serial\/by-id\/.*\/dev\/serial\/by-path\//);
    }
    // One that does not exist says that too.
    expect(serialPathWarning('/dev/ttyUSB97', {})).toMatch(/does not exist: .*numbered in plug-in order/);
  });

  it('in an IoT Edge module the name is the manifest\'s PathInContainer: its PathOnHost is what must be stable', () => {
    expect(serialPathWarning('/dev/ttyUSB0', { IOTEDGE_MODULEID: 'bedside-agent' })).toMatch(/PathOnHost.*\/dev\/serial\/by-id\/.*PathInContainer/);
  });

  it('stable names, other devices and on-board UARTs (/dev/ttyS<n>: no replug, no by-id name; rv150 F2): no plug-order warning', async () => {
    for (const path of ['/dev/ttyS0', '/dev/ttyS1', '/dev/serial/by-id/usb-FTDI_FT232R_A10K1ABC-if00-port0', '/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0', '/dev/bedside/bed03', '/dev/ttyBED01', '/dev/ttyUSB0x']) {
      expect(serialPathWarning(path, {}) ?? '', path).not.toMatch(/plug-in order/);
    }
    const pty = await openPtyPair();
    try {
      expect(serialPathWarning(pty.a, {})).toBeUndefined();
    } finally {
      await pty.close();
    }
  });
});

describe('a port that hangs up (rv149 L1)', () => {
  it('the close reason names the unplugged adapter, not only serialport\'s "bad file descriptor"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rv149-'));
    const pty = await openPtyPair({ a: join(dir, 'host'), b: join(dir, 'device') });
    const link = new SerialPortLink({ path: pty.a, ...LINE });
    const reasons: Array<Error | undefined> = [];
    link.onClose((err) => reasons.push(err));
    try {
      await link.open();
      await pty.close(); // the adapter is pulled
      await waitFor('closed', () => reasons.length > 0, 8000);
      expect(reasons[0]?.message).toMatch(/(hung up|path is gone): USB serial adapter unplugged/);
      expect(reasons[0]?.message.startsWith(link.describe)).toBe(true);
    } finally {
      await link.close();
      await pty.close();
    }
  }, 20_000);

  it('in an IoT Edge module it says to restart the module once the adapter is back', async () => {
    const pty = await openPtyPair();
    const link = new SerialPortLink({ path: pty.a, ...LINE }, { IOTEDGE_MODULEID: 'bedside-agent' });
    const reasons: Array<Error | undefined> = [];
    link.onClose((err) => reasons.push(err));
    try {
      await link.open();
      await pty.close();
      await waitFor('closed', () => reasons.length > 0, 8000);
      expect(reasons[0]?.message).toMatch(/adapter unplugged.*restart the module/);
    } finally {
      await link.close();
    }
  }, 20_000);

  it('a close we asked for gives no reason', async () => {
    const pty = await openPtyPair();
    const link = new SerialPortLink({ path: pty.a, ...LINE });
    const reasons: Array<Error | undefined> = [];
    link.onClose((err) => reasons.push(err));
    try {
      await link.open();
      await link.close();
      expect(reasons).toEqual([undefined]);
    } finally {
      await pty.close();
    }
  }, 20_000);
});
