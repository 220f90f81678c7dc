// A capture is a diagnostic aid that must not fill the store's disk (review rv131 M3): it stops at captureMaxBytes
// (said once, counted, shown in health), health says while it records, and --check/start warn that it is on.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureWriter, DEFAULT_CAPTURE_MAX_BYTES, readCapture } from './capture.js';
import { LineDamage, SerialDeviceDriver, type SerialDevicePlan, type SerialSession } from './device-driver.js';
import { MemoryLink, fakeContext, waitFor, type FakeContext } from './testing.js';
import { captureWarnings } from './warnings.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'capture-bound-'));
const MiB = 1024 * 1024;

describe('capture size bound', () => {
  it('stops at its bound: the file never passes it, the stop is told once with the size, and the file still reads', async () => {
    const file = join(tmp(), 'c.jsonl');
    const full: number[] = [];
    const w = new CaptureWriter(file, 'mem', () => 1_700_000_000_000, 4096);
    w.open(undefined, (size) => full.push(size));
    expect(w.active).toBe(true);
    for (let i = 0; i < 200; i++) w.record(i % 2 ? 'tx' : 'rx', Buffer.alloc(40, i));
    expect(w.stoppedAtBound).toBe(true);
    expect(w.active).toBe(false);
    await w.close();
    const size = statSync(file).size;
    expect(size).toBeLessThanOrEqual(4096);
    expect(size).toBeGreaterThan(4096 - 512); // it filled the bound, not stopped early
    expect(w.size).toBe(size);
    expect(full).toEqual([size]);
    // The last line says why the capture ends there; readers skip it as they skip the header.
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ capture: 'serial', stopped: 'captureMaxBytes', maxBytes: 4096 });
    const entries = readCapture(file);
    expect(entries.length).toBe(lines.length - 2);
    expect(entries.length).toBeGreaterThan(10);
  });

  it('counts what an earlier run left in the file (it appends): a file already at its bound does not grow', async () => {
    const file = join(tmp(), 'c.jsonl');
    writeFileSync(file, 'x'.repeat(4000));
    const full: number[] = [];
    const w = new CaptureWriter(file, 'mem', Date.now, 4096);
    w.open(undefined, (size) => full.push(size));
    w.record('rx', Buffer.alloc(100, 1));
    w.record('rx', Buffer.alloc(100, 1));
    await w.close();
    expect(statSync(file).size).toBeLessThanOrEqual(4096);
    expect(full).toHaveLength(1);
    expect(w.stoppedAtBound).toBe(true);
  });

  it('defaults to 256 MiB', () => {
    expect(DEFAULT_CAPTURE_MAX_BYTES).toBe(256 * MiB);
    expect(new CaptureWriter('/nonexistent/x.jsonl', 'mem').maxBytes).toBe(256 * MiB);
  });
});

class QuietDriver extends SerialDeviceDriver<SerialDevicePlan> {
  readonly memory: MemoryLink;
  private readonly s: SerialSession = { state: 'polling', lineDamage: new LineDamage(), linkOpened() {}, receive() {}, linkClosed() {}, shutdown: async () => undefined };
  constructor(ctx: FakeContext, extra: Partial<SerialDevicePlan>) {
    const link = new MemoryLink('mem:dev');
    const line = { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' } as const;
    super({ id: 'd1', path: '/dev/x', line, listenOnly: false, silenceMs: 0, backoff: { initialMs: 50, maxMs: 50 }, ...extra }, ctx, 'test', () => link, Date.now);
    this.memory = link;
  }
  protected get session(): SerialSession {
    return this.s;
  }
  protected sessionOnline(): boolean {
    return true;
  }
  protected linkLost(): void {}
}

describe('a driver recording a capture', () => {
  it('shows the capture in health while it records, says its stop at the bound once (log, counter), then shows it stopped', async () => {
    const file = join(tmp(), 'dev.jsonl');
    const ctx = fakeContext();
    const d = new QuietDriver(ctx, { captureFile: file, captureMaxBytes: MiB });
    await d.start();
    await waitFor('open', () => d.memory.isOpen);
    expect(d.health().detail).toMatch(new RegExp(`; capturing every byte to ${file} \\(0\\.0 MiB of 1 MiB\\)$`));
    expect(d.health().devices?.d1?.detail).toBe(d.health().detail);
    d.memory.arrive(Buffer.alloc(200_000, 0x55)); // ~400 kB of hex
    expect(d.health().detail).toContain(`capturing every byte to ${file} (0.4 MiB of 1 MiB)`);
    for (let i = 0; i < 10; i++) d.memory.arrive(Buffer.alloc(200_000, 0x55));
    expect(d.health().detail).toMatch(/; capture stopped at its 1 MiB bound$/);
    expect(d.health().detail).not.toContain('capturing every byte');
    expect(ctx.counter('capture_stopped_at_bound')).toBe(1);
    const said = ctx.logs.filter((l) => l.msg === 'test capture stopped at its size bound (captureMaxBytes): the device is read as usual, without a capture; remove captureFile when done');
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 40, device: 'd1', captureFile: file, captureMaxBytes: MiB, bytes: expect.any(Number) });
    await d.stop();
    expect(statSync(file).size).toBeLessThanOrEqual(MiB);
    expect(said[0]!.bytes).toBe(statSync(file).size);
  });

  it('a driver without a capture says nothing of one', async () => {
    const ctx = fakeContext();
    const d = new QuietDriver(ctx, {});
    await d.start();
    await waitFor('open', () => d.memory.isOpen);
    expect(d.health().detail).not.toMatch(/captur/);
    await d.stop();
  });
});

describe('capture warning', () => {
  it('names captureFile, the patient data, the growth and the bound; nothing without a capture', () => {
    const [w, ...rest] = captureWarnings({ captureFile: '/var/lib/bedside-agent/captures/icu7.jsonl' });
    expect(rest).toEqual([]);
    expect(w?.field).toBe('options.captureFile');
    expect(w?.message).toContain('/var/lib/bedside-agent/captures/icu7.jsonl');
    expect(w?.message).toMatch(/patient data/);
    expect(w?.message).toMatch(/0\.6 GB a day/);
    expect(w?.message).toMatch(/256 MiB/);
    expect(w?.message).toMatch(/remove captureFile/);
    expect(captureWarnings({ captureFile: '/x.jsonl', captureMaxBytes: 8 * MiB })[0]?.message).toMatch(/8 MiB/);
    expect(captureWarnings({})).toEqual([]);
    // A replay records nothing live, but a capture named beside it still writes: still warned.
    const replaying = { captureFile: '/x.jsonl', replay: { file: '/y.jsonl' } };
    expect(captureWarnings(replaying)).toHaveLength(1);
  });
});
