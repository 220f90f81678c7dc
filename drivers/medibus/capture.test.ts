// A live session recorded to a capture file, then replayed through the same parser (listen-only):
// the replay gives the same readings. A one-direction raw dump of the device output does too.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NumericReading } from '../../agent/model/reading.js';
import { readCapture } from '../serial/capture.js';
import { fakeContext, waitFor } from '../serial/testing.js';
import { MedibusDriver } from './index.js';
import { buildPlan } from './options.js';
import { fastOptions, rig, type Rig } from './test-support.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const key = (x: NumericReading) => `${x.raw?.code}=${String(x.value)}`;

describe('capture and replay', () => {
  it('records rx and tx with timestamps; replaying the capture (and a raw dump) gives the same readings', async () => {
    r = await rig();
    r.sim.setAlarms(1, [{ priority: 12, code: 0x19, text: 'MIN VOL LOW' }]);
    const file = join(r.dir, 'session.jsonl');
    const live = fakeContext('live');
    const d = new MedibusDriver(buildPlan(fastOptions(r.hostPath, { captureFile: file })), live);
    await d.start();
    await waitFor('a few cycles', () => live.readings().filter((x) => x.raw?.code === 'cp1:7D').length >= 3);
    await d.stop();

    const entries = readCapture(file);
    expect(entries.some((e) => e.dir === 'tx' && e.bytes[0] === 0x1b && e.bytes[1] === 0x51)).toBe(true); // our ICC
    expect(entries.some((e) => e.dir === 'rx')).toBe(true);
    expect(entries.every((e) => typeof e.t === 'number')).toBe(true);

    const replayed = fakeContext('replay');
    const rd = new MedibusDriver(buildPlan({ id: 'vent-1', bed: 'ICU-3', replay: { file } }), replayed);
    await rd.start();
    await rd.replayDone;
    await waitFor('replay readings', () => replayed.readings().length >= live.readings().length);
    await rd.stop();
    expect(replayed.readings().map(key)).toEqual(live.readings().map(key));
    expect(replayed.alarms().filter((a) => a.phase === 'start').map((a) => a.alarmId)).toEqual(['vent-1:cp1:19']);

    // The same device output as a plain one-direction dump, as other capture tools write it.
    const raw = join(r.dir, 'device.raw');
    writeFileSync(raw, Buffer.concat(entries.filter((e) => e.dir === 'rx').map((e) => e.bytes)));
    const fromRaw = fakeContext('raw');
    const rr = new MedibusDriver(buildPlan({ id: 'vent-1', bed: 'ICU-3', replay: { file: raw } }), fromRaw);
    await rr.start();
    await rr.replayDone;
    await waitFor('raw replay readings', () => fromRaw.readings().length >= live.readings().length);
    await rr.stop();
    expect(fromRaw.readings().map(key)).toEqual(live.readings().map(key));
  });

  it('a capture file that cannot be written is said (log, counter, health) and the device is read as usual; making the driver opens nothing', async () => {
    r = await rig();
    const file = join(r.dir, 'no-such-folder', 'session.jsonl');
    const ctx = fakeContext('live');
    const d = new MedibusDriver(buildPlan(fastOptions(r.hostPath, { captureFile: file })), ctx);
    // --check makes drivers without starting them: no file, no error yet.
    expect(ctx.counter('capture_errors')).toBe(0);
    await d.start();
    await waitFor('the capture failure said', () => ctx.counter('capture_errors') === 1);
    await waitFor('readings anyway', () => ctx.readings().length >= 3);
    expect(ctx.logs.find((l) => l.msg === 'medibus capture file cannot be written: the device is read as usual, without a capture')).toMatchObject({ level: 40, captureFile: file, err: { code: 'ENOENT' } });
    expect(d.health().detail).toContain(`capture to ${file} failed: ENOENT`);
    await d.stop();
    expect(ctx.counter('capture_errors')).toBe(1);
    expect(existsSync(file)).toBe(false);
  });
});
