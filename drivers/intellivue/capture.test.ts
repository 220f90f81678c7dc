// A live session recorded to a capture file, then replayed (listen-only) through the same parser:
// the replay gives the same readings, waves and alarms. So does a plain one-direction raw dump of
// the monitor's output, as a Y-cable tap or another capture tool would record it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverEvent } from '../../agent/model/reading.js';
import { readCapture } from '../serial/capture.js';
import { ListenOnlyError } from '../serial/link.js';
import { fakeContext, waitFor, type FakeContext } from '../serial/testing.js';
import { IntellivueDriver } from './index.js';
import { buildPlan } from './options.js';
import { SIM_ALARMS } from './simulator.js';
import { fastOptions, rig, type Rig } from './test-support.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

/** What must be identical between live and replay (receivedAt differs by nature). */
function key(e: DriverEvent): string {
  if (e.kind === 'numeric') return `n ${e.raw?.code} ${String(e.value)} ${e.quality.state} t=${e.deviceTime}`;
  if (e.kind === 'waveform') return `w ${e.raw?.code} ${e.sampleRateHz} t=${e.startTime} ${e.samples.join(',')}`;
  if (e.kind === 'alarm') return `a ${e.alarmId} ${e.phase} ${e.priority}`;
  return '';
}
const data = (ctx: FakeContext) => ctx.events.filter((e) => e.kind !== 'device-status' && !(e.kind === 'alarm' && e.phase === 'end')).map(key);

async function replay(file: string, name: string): Promise<FakeContext> {
  const ctx = fakeContext(name);
  const d = new IntellivueDriver(buildPlan({ id: 'mx800-1', bed: 'ICU-7', replay: { file }, monitorUtcOffsetMinutes: 0 }), ctx);
  await d.start();
  await d.replayDone;
  await waitFor('replay finished', () => d.sessionState === 'idle');
  await expect(d.link.write(Buffer.from([0xc0]))).rejects.toBeInstanceOf(ListenOnlyError);
  await d.stop();
  return ctx;
}

describe('capture and replay', () => {
  it('records both directions with timestamps; the capture and a raw dump of the monitor output replay to the same readings', async () => {
    r = await rig();
    r.sim.setAlarms([SIM_ALARMS.hrHigh, SIM_ALARMS.leadsOff]);
    const file = join(r.dir, 'session.jsonl');
    const live = fakeContext('live');
    const d = new IntellivueDriver(buildPlan(fastOptions(r.hostPath, { captureFile: file })), live);
    await d.start();
    await waitFor('a few cycles with waves', () => live.readings().filter((x) => x.raw?.code === '2:16770').length >= 3 && live.waveforms().length >= 8);
    await d.stop();

    const entries = readCapture(file);
    expect(entries.some((e) => e.dir === 'tx' && e.bytes[0] === 0xc0 && e.bytes[5] === 0x0d)).toBe(true); // our association request
    expect(entries.some((e) => e.dir === 'rx')).toBe(true);
    expect(entries.every((e) => typeof e.t === 'number')).toBe(true);

    const fromCapture = await replay(file, 'replay');
    expect(data(fromCapture)).toEqual(data(live));
    expect(fromCapture.counter('linked_results')).toBe(live.counter('linked_results'));

    // Listen-only decoding of monitor-to-host traffic only (what a Y-cable on the monitor's TX sees).
    const raw = join(r.dir, 'monitor.raw');
    writeFileSync(raw, Buffer.concat(entries.filter((e) => e.dir === 'rx').map((e) => e.bytes)));
    const fromRaw = await replay(raw, 'raw');
    expect(data(fromRaw)).toEqual(data(live));
    expect(fromRaw.counter('associations_accepted')).toBe(1);
    expect(fromRaw.counter('mds_create_events')).toBe(1);
    expect(fromRaw.statuses().map((s) => s.state)).toContain('online');
    expect(data(fromRaw).filter((k) => k.startsWith('a ')).length).toBe(2);
  });
});
