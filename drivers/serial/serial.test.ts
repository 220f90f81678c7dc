import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SerialPort } from 'serialport';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { CaptureFormatError, CaptureWriter, parseCaptureText, readCapture } from './capture.js';
import { CapturingLink } from './capturing-link.js';
import { ListenOnlyError, lineShorthand } from './link.js';
import { listSerialDevices } from './listing.js';
import { ReplayLink } from './replay-link.js';
import { RepeatLog } from '../../agent/repeat-log.js';
import { SerialPortLink, openAdvice, serialPathWarning } from './serialport-link.js';
import { LinkSupervisor, type LinkState } from './supervisor.js';
import { LineDamage, SerialDeviceDriver, type SerialDevicePlan, type SerialSession } from './device-driver.js';
import { MemoryLink, fakeContext, openPtyPair, waitFor, type FakeContext } from './testing.js';

const LINE = { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' } as const;
const tmp = () => mkdtempSync(join(tmpdir(), 'serial-'));

describe('device listing without udevadm', () => {
  it('merges /dev/serial/by-id symlinks with serialport list() by real path', async () => {
    const dir = tmp();
    const dev = join(dir, 'ttyUSB0');
    writeFileSync(dev, '');
    const byId = join(dir, 'by-id');
    mkdirSync(byId);
    symlinkSync(dev, join(byId, 'usb-FTDI_FT232R_A1B2C3-if00-port0'));
    symlinkSync(join(dir, 'gone'), join(byId, 'usb-dangling')); // unplugged: dangling link ignored
    const list = await listSerialDevices({
      byIdDir: byId,
      list: async () => [{ path: dev, manufacturer: 'FTDI', serialNumber: 'A1B2C3' }, { path: '/dev/ttyS0' }],
    });
    expect(list).toEqual([
      { path: '/dev/ttyS0', byId: [] },
      { path: dev, byId: [join(byId, 'usb-FTDI_FT232R_A1B2C3-if00-port0')], manufacturer: 'FTDI', serialNumber: 'A1B2C3' },
    ].sort((a, b) => a.path.localeCompare(b.path)));
  });
  it('still lists by-id links when list() fails, and nothing when the directory is missing', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'ttyACM0'), '');
    mkdirSync(join(dir, 'by-id'));
    symlinkSync(join(dir, 'ttyACM0'), join(dir, 'by-id', 'usb-x'));
    const failing = async () => {
      throw new Error('no sysfs');
    };
    expect((await listSerialDevices({ byIdDir: join(dir, 'by-id'), list: failing })).map((d) => d.path)).toEqual([join(dir, 'ttyACM0')]);
    expect(await listSerialDevices({ byIdDir: join(dir, 'missing'), list: async () => [] })).toEqual([]);
  });
});

describe('backoff', () => {
  it('grows exponentially and is capped; jitter stays within the band', () => {
    const s = { initialMs: 1000, maxMs: 30000 };
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, s))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    const j = backoffDelay(3, { ...s, jitter: 0.5 }, () => 0);
    expect(j).toBe(4000);
  });
});

describe('repeated trouble log', () => {
  it('logs the first of a row, then one summary per interval with the count since, and starts again once cleared', () => {
    const log = new RepeatLog(60_000);
    expect(log.hit(1000)).toEqual({ first: true, repeats: 1, inARow: 1, since: 1000 });
    expect(log.hit(4000)).toBeNull();
    expect(log.hit(7000)).toBeNull();
    expect(log.hit(61_000)).toEqual({ first: false, repeats: 3, inARow: 4, since: 1000 });
    expect(log.hit(64_000)).toBeNull();
    expect(log.clear()).toBe(5);
    expect(log.hit(65_000)).toEqual({ first: true, repeats: 1, inARow: 1, since: 65_000 });
  });
});

describe('capture format', () => {
  it('round-trips rx/tx chunks with timestamps and a header', async () => {
    const file = join(tmp(), 'c.jsonl');
    let now = 1_700_000_000_000;
    const w = new CaptureWriter(file, '/dev/x@9600 8E1', () => now++);
    w.record('tx', Buffer.from([0x1b, 0x51]));
    w.record('rx', Buffer.from([0x01, 0x51, 0x35, 0x32, 0x0d]));
    await w.close();
    const e = readCapture(file);
    expect(e).toEqual([
      { t: 1_700_000_000_001, dir: 'tx', bytes: Buffer.from([0x1b, 0x51]) },
      { t: 1_700_000_000_002, dir: 'rx', bytes: Buffer.from([0x01, 0x51, 0x35, 0x32, 0x0d]) },
    ]);
  });
  it('says which line is wrong', () => {
    expect(() => parseCaptureText('{"t":1,"dir":"rx","hex":"0"}\n', 'f')).toThrow(CaptureFormatError);
    expect(() => parseCaptureText('{"t":1,"dir":"rx","hex":"00"}\n{"dir":"up","hex":""}', 'f')).toThrow(/f:2: dir/);
    expect(() => parseCaptureText('nope', 'f')).toThrow(/f:1/);
  });
  it('reads .raw/.bin dumps as rx chunks without times', () => {
    const file = join(tmp(), 'monitor.raw');
    writeFileSync(file, Buffer.alloc(150, 7));
    const e = readCapture(file);
    expect(e.every((x) => x.dir === 'rx' && x.t === null)).toBe(true);
    expect(Buffer.concat(e.map((x) => x.bytes))).toEqual(Buffer.alloc(150, 7));
  });
});

describe('replay and listen-only links', () => {
  it('replays only rx, refuses to write, and closes at the end', async () => {
    const link = new ReplayLink(
      [
        { t: 1, dir: 'tx', bytes: Buffer.from('Q') },
        { t: 2, dir: 'rx', bytes: Buffer.from('ab') },
        { t: 3, dir: 'rx', bytes: Buffer.from('c') },
      ],
      'replay:test',
    );
    const got: string[] = [];
    let closed: Error | undefined;
    link.onData((b) => got.push(b.toString()));
    link.onClose((err) => (closed = err));
    await link.open();
    await expect(link.write(Buffer.from('x'))).rejects.toBeInstanceOf(ListenOnlyError);
    await link.done;
    expect(got).toEqual(['ab', 'c']);
    expect(closed?.message).toMatch(/end of capture/);
  });
  it('a listen-only serial port refuses to write with a clear error', async () => {
    const link = new SerialPortLink({ path: '/dev/null-not-opened', ...LINE, listenOnly: true });
    await expect(link.write(Buffer.from('x'))).rejects.toThrow(/listen-only/);
    expect(lineShorthand({ ...LINE, flowControl: 'rtscts' })).toBe('9600 8E1 rtscts');
  });
});

describe('serialport link on a pty pair', () => {
  it('moves bytes both ways, captures them, reconnects after unplug/replug and reports silence', async () => {
    const dir = tmp();
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    let pty = await openPtyPair({ a, b });
    const file = join(dir, 'cap.jsonl');
    const writer = new CaptureWriter(file, a);
    const host = new CapturingLink(new SerialPortLink({ path: a, ...LINE }), writer);
    const states: Array<[LinkState, string]> = [];
    const received: Buffer[] = [];
    let opens = 0;
    const sup = new LinkSupervisor(
      host,
      { backoff: { initialMs: 50, maxMs: 200 }, silenceMs: 300, reconnect: true },
      { onState: (s, d) => states.push([s, d]), onOpen: () => opens++, onData: (x) => received.push(x) },
    );
    sup.start();
    await waitFor('open', () => sup.state === 'open');
    let peer = new SerialPortLink({ path: b, ...LINE });
    const peerGot: Buffer[] = [];
    peer.onData((x) => peerGot.push(x));
    await peer.open();
    await host.write(Buffer.from('ping'));
    await waitFor('ping', () => Buffer.concat(peerGot).toString() === 'ping');
    await peer.write(Buffer.from('pong'));
    await waitFor('pong', () => Buffer.concat(received).toString() === 'pong');
    await waitFor('silence reported', () => states.some(([s, d]) => s === 'silent' && d.includes('no data')));

    // Unplug: kill socat. The supervisor reports closed and keeps retrying with backoff.
    await peer.close();
    await pty.close();
    await waitFor('closed', () => states.some(([s]) => s === 'closed'));
    await new Promise((r) => setTimeout(r, 250));
    expect(states.filter(([s]) => s === 'connecting').length).toBeGreaterThan(1);
    // Replug at the same (stable) path.
    pty = await openPtyPair({ a, b });
    await waitFor('reopened', () => opens === 2);
    peer = new SerialPortLink({ path: b, ...LINE });
    await peer.open();
    await peer.write(Buffer.from('again'));
    await waitFor('data after replug', () => Buffer.concat(received).toString().endsWith('again'));

    await sup.stop();
    await peer.close();
    await pty.close();
    await writer.close();
    const cap = readCapture(file);
    expect(cap.filter((e) => e.dir === 'tx').map((e) => e.bytes.toString())).toEqual(['ping']);
    expect(Buffer.concat(cap.filter((e) => e.dir === 'rx').map((e) => e.bytes)).toString()).toBe('pongagain');
  });

  it('a device path that comes to name another device (replugged while the old one lingers) closes the port and reconnects', async () => {
    // The old pty stays alive, so the open port sees no hang-up: only the path check can tell.
    const dir = tmp();
    const first = await openPtyPair({ a: join(dir, 'a1'), b: join(dir, 'b1') });
    const second = await openPtyPair({ a: join(dir, 'a2'), b: join(dir, 'b2') });
    const path = join(dir, 'by-id-port');
    symlinkSync(realpathSync(first.a), path);
    const states: Array<[LinkState, string]> = [];
    const received: Buffer[] = [];
    let opens = 0;
    const sup = new LinkSupervisor(
      new SerialPortLink({ path, ...LINE, pathCheckMs: 50 }),
      { backoff: { initialMs: 50, maxMs: 200 }, silenceMs: 0, reconnect: true },
      { onState: (s, d) => states.push([s, d]), onOpen: () => opens++, onData: (x) => received.push(x) },
    );
    sup.start();
    await waitFor('open', () => sup.state === 'open');
    symlinkSync(realpathSync(second.a), `${path}.new`);
    renameSync(`${path}.new`, path); // replaced at once, as udev does
    await waitFor('closed', () => states.some(([s, d]) => s === 'closed' && d.includes('the device path now names another device')));
    await waitFor('reopened', () => opens === 2 && sup.state === 'open');
    const peer = new SerialPortLink({ path: second.b, ...LINE });
    await peer.open();
    await peer.write(Buffer.from('new'));
    await waitFor('data from the new device', () => Buffer.concat(received).toString() === 'new');
    await sup.stop();
    await peer.close();
    await first.close();
    await second.close();
  });
});

describe('close() while the port is still opening (a driver stopped or reloaded during a (re)connect)', () => {
  it('releases the port: a new link can open it, and the closed link hands on no bytes', async () => {
    const pty = await openPtyPair();
    try {
      const link = new SerialPortLink({ path: pty.a, ...LINE, pathCheckMs: 0 });
      const stale: Buffer[] = [];
      let closes = 0;
      link.onData((b) => stale.push(b));
      link.onClose(() => closes++);
      const opening = link.open().then(() => 'opened', (err: Error) => err.message);
      await link.close(); // before the open completes
      expect(await opening).toMatch(/closed while opening/);
      expect(link.isOpen).toBe(false);

      const again = new SerialPortLink({ path: pty.a, ...LINE, pathCheckMs: 0 });
      const got: Buffer[] = [];
      again.onData((b) => got.push(b));
      await again.open(); // before the fix: "Cannot lock port", the first open still held it
      const peer = new SerialPortLink({ path: pty.b, ...LINE, pathCheckMs: 0 });
      await peer.open();
      await peer.write(Buffer.from('HELLO'));
      await waitFor('bytes on the new link', () => Buffer.concat(got).toString() === 'HELLO');
      expect(stale).toEqual([]);
      expect(closes).toBe(0); // the closed link never opened, as far as its user knows
      await peer.close();
      await again.close();
    } finally {
      await pty.close();
    }
  });

  it('a supervisor stopped while opening leaves the port free for its replacement', async () => {
    const pty = await openPtyPair();
    try {
      const settings = { backoff: { initialMs: 50, maxMs: 200 }, silenceMs: 0, reconnect: true };
      const first = new LinkSupervisor(new SerialPortLink({ path: pty.a, ...LINE, pathCheckMs: 0 }), settings, { onState: () => undefined, onData: () => undefined });
      first.start();
      await first.stop();
      const failures: string[] = [];
      const second = new LinkSupervisor(new SerialPortLink({ path: pty.a, ...LINE, pathCheckMs: 0 }), settings, {
        onState: () => undefined,
        onData: () => undefined,
        onOpenFailed: (err) => failures.push(err.message),
      });
      second.start();
      await waitFor('the replacement open', () => second.state === 'open', 3000);
      expect(failures).toEqual([]);
      await second.stop();
    } finally {
      await pty.close();
    }
  });
});

describe('a port that cannot be opened says what to do (review rv49 L1)', () => {
  it('held by another program (its lock): "another program holds it"', async () => {
    const pty = await openPtyPair();
    const other = new SerialPort({ path: pty.a, baudRate: 9600 }); // serialport locks the port it opens
    await new Promise((r) => other.on('open', r));
    try {
      const link = new SerialPortLink({ path: pty.a, ...LINE });
      await expect(link.open()).rejects.toThrow(`another program holds it (see \`fuser ${pty.a}\`)`);
    } finally {
      await new Promise((r) => other.close(r));
      await pty.close();
    }
  });

  // Root opens any pty whatever its mode: then the open runs in a child as `nobody`, as the agent's user would be.
  const asRoot = process.getuid?.() === 0;
  const setpriv = spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(asRoot && !setpriv)('a pty the agent\'s user may not open: "needs the dialout group"', async () => {
    const pty = await openPtyPair();
    try {
      chmodSync(realpathSync(pty.a), 0o000);
      const repo = fileURLToPath(new URL('../..', import.meta.url));
      const script = `import { SerialPortLink } from './drivers/serial/serialport-link.ts';
        new SerialPortLink({ path: process.argv[1], baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' })
          .open().then(() => console.log('opened'), (e) => console.log(e.message));`;
      const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script, pty.a];
      const cmd = asRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node;
      const out = spawnSync(cmd[0]!, cmd.slice(1), { cwd: repo, encoding: 'utf8', env: { ...process.env, HOME: tmpdir() }, timeout: 20_000 });
      expect(out.stdout).toMatch(/Permission denied.*: the agent's user needs the dialout group \(docs\/deploy-guide\.md\)/);
    } finally {
      await pty.close();
    }
  }, 30_000);
});

describe('a device node with no device behind it, a path missing in an IoT Edge module (review rv90 L1, L2)', () => {
  const fail = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('ENXIO / ENODEV: the adapter is gone from behind the node; restart the module', () => {
    const want = 'the device node exists but no device is behind it: adapter unplugged, or (IoT Edge module) replugged; restart the module (docs/deploy-guide.md 4.3)';
    // serialport's own text carries no code.
    expect(openAdvice(new Error('No such device or address, cannot open /dev/ttyBED01'), '/dev/ttyBED01')).toBe(want);
    expect(openAdvice(fail('ENXIO', 'open failed'), '/dev/ttyBED01')).toBe(want);
    expect(openAdvice(fail('ENODEV', 'No such device'), '/dev/ttyBED01')).toBe(want);
  });

  it('ENOENT: /dev/serial/by-id on a host; in a module, the manifest\'s HostConfig.Devices', () => {
    const err = new Error('No such file or directory, cannot open /dev/ttyBED02');
    expect(openAdvice(err, '/dev/ttyBED02', {})).toBe('not plugged in, or a wrong path (see `ls -l /dev/serial/by-id`)');
    expect(openAdvice(err, '/dev/ttyBED02', { IOTEDGE_MODULEID: 'bedside-agent' })).toMatch(/HostConfig\.Devices.*PathInContainer.*docs\/deploy-guide\.md 4\.3/);
  });

  it('serialPathWarning: missing, or not a character device; a pty is one', async () => {
    expect(serialPathWarning('/dev/ttyBED99', {})).toMatch(/^\/dev\/ttyBED99 does not exist: .*serial\/by-id/);
    expect(serialPathWarning('/dev/ttyBED99', { IOTEDGE_MODULEID: 'm' })).toMatch(/HostConfig\.Devices/);
    const file = join(tmp(), 'plain');
    writeFileSync(file, '');
    expect(serialPathWarning(file, {})).toMatch(/is not a character device/);
    const pty = await openPtyPair();
    try {
      expect(serialPathWarning(pty.a, {})).toBeUndefined();
    } finally {
      await pty.close();
    }
  });
});

describe('stopping a serial device driver (review rv115 M2)', () => {
  /** The least driver: its link in memory, a session that does nothing, one alarm it holds until the link is lost. */
  class OneAlarmDriver extends SerialDeviceDriver<SerialDevicePlan> {
    readonly memory: MemoryLink;
    private readonly s: SerialSession = { state: 'polling', lineDamage: new LineDamage(), linkOpened() {}, receive() {}, linkClosed() {}, shutdown: async () => undefined };
    private holding = true;
    constructor(ctx: FakeContext) {
      const link = new MemoryLink('mem:dev');
      super({ id: 'd1', path: '/dev/x', line: { ...LINE }, listenOnly: false, silenceMs: 0, backoff: { initialMs: 50, maxMs: 50 } }, ctx, 'test', () => link, Date.now);
      this.memory = link;
    }
    protected get session(): SerialSession {
      return this.s;
    }
    protected sessionOnline(): boolean {
      return true;
    }
    protected linkLost(): void {
      if (!this.holding) return;
      this.holding = false;
      this.emit([{ deviceId: 'd1', source: 't', kind: 'alarm', alarmId: 'd1:a', condition: null, text: 'A', priority: 'high', category: 'physiological', phase: 'end', endedBy: 'link-lost', deviceTime: null, receivedAt: Date.now() }]);
    }
  }

  it('ends what the device can no longer confirm (linkLost) before its offline status', async () => {
    const ctx = fakeContext();
    const d = new OneAlarmDriver(ctx);
    await d.start();
    await waitFor('open', () => d.memory.isOpen);
    await d.stop();
    const kinds = ctx.events.map((e) => (e.kind === 'device-status' ? e.state : e.kind === 'alarm' ? `${e.phase} ${e.endedBy}` : e.kind));
    expect(kinds).toEqual(['connecting', 'online', 'end link-lost', 'offline']);
    expect(d.health().state).toBe('stopped');
  });
});
