// A device's state when one of its reads fails while its other reads still answer: the failing read's values are
// lost, so the device must not stay 'online' (the alarm pipeline turns a lasting 'error' into a technical alarm).
import { describe, expect, it } from 'vitest';
import type { DeviceStatusEvent, DriverEvent } from '../../agent/model/reading.js';
import { DeviceRunner } from './device.js';
import { classify } from './faults.js';
import { buildPlan, type ReadGroup } from './plan.js';

function runner(): { dev: DeviceRunner; hr: ReadGroup; spo2: ReadGroup } {
  const plan = buildPlan({
    buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'mon-1', unitId: 1, points: [
      { name: 'hr', table: 'holding', address: 0, type: 'int16' },
      { name: 'spo2', table: 'holding', address: 200, type: 'int16' },
    ] }] }],
  });
  const device = plan.buses[0]!.devices[0]!;
  const dev = new DeviceRunner(device, { source: 's', offlineAfterFailures: 3, backoff: { initialMs: 1000, maxMs: 30_000 } }, 0);
  const group = (address: number) => device.groups.find((g) => g.address === address)!;
  return { dev, hr: group(0), spo2: group(200) };
}

const statuses = (events: Array<DriverEvent | undefined>) =>
  events.filter((e): e is DeviceStatusEvent => e?.kind === 'device-status').map((e) => e.state);

describe('modbus device state with one failing read', () => {
  it('a read that never answers while the other reads do: error after offlineAfterFailures, online once it answers', () => {
    const { dev, hr, spo2 } = runner();
    const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    const seen: Array<DriverEvent | undefined> = [];
    for (let i = 0; i < 3; i++) {
      seen.push(...dev.succeeded(hr, [72], i * 1000).events);
      seen.push(dev.failed(spo2, timeout, i * 1000 + 500));
    }
    expect(statuses(seen)).toEqual(['online', 'error']);
    expect(dev.state).toBe('error');
    expect(dev.detail).toMatch(/no response \(timeout\) on holding 200\.\.200/);
    // The heart rate still answering does not end it; the SpO2 read answering does.
    expect(statuses(dev.succeeded(hr, [72], 4000).events)).toEqual([]);
    expect(dev.state).toBe('error');
    expect(statuses(dev.succeeded(spo2, [97], 4500).events)).toEqual(['online']);
  });

  it('an answer that does not decode (fewer registers than asked for) is a failing read: error, then online once it decodes', () => {
    const { dev, hr, spo2 } = runner();
    const seen: Array<DriverEvent | undefined> = [];
    const decodeFaults: string[] = [];
    for (let i = 0; i < 3; i++) {
      seen.push(...dev.succeeded(hr, [72], i * 1000).events);
      const r = dev.succeeded(spo2, [], i * 1000 + 500);
      seen.push(...r.events);
      decodeFaults.push(...r.decodeFaults.map((f) => f.point));
    }
    expect(decodeFaults).toEqual(['spo2', 'spo2', 'spo2']);
    expect(statuses(seen)).toEqual(['online', 'error']);
    expect(dev.detail).toMatch(/cannot decode spo2/);
    expect(statuses(dev.succeeded(hr, [72], 4000).events)).toEqual([]);
    expect(statuses(dev.succeeded(spo2, [97], 4500).events)).toEqual(['online']);
  });

  it('failures during an outage are forgiven when the device is back; one timeout after it is not "3 in a row"', () => {
    const { dev, hr, spo2 } = runner();
    const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    dev.succeeded(hr, [72], 0);
    expect(statuses([dev.failed(spo2, timeout, 500), dev.failed(hr, timeout, 1000), dev.failed(spo2, timeout, 1500)])).toEqual(['offline']);
    expect(statuses(dev.succeeded(hr, [72], 5000).events)).toEqual(['online']);
    expect(dev.failed(spo2, timeout, 6000)).toBeUndefined();
    expect(dev.state).toBe('online');
  });

  it('back from an outage, a read in error for an illegal address stays in error: offline → error, never online between', () => {
    const { dev, hr, spo2 } = runner();
    const illegal = classify(Object.assign(new Error('Modbus exception 2'), { modbusCode: 2 }));
    const seen: Array<DriverEvent | undefined> = [...dev.succeeded(hr, [72], 0).events, dev.failed(spo2, illegal, 10)];
    seen.push(dev.busDown('connection to 127.0.0.1:502 lost', 5000));
    seen.push(...dev.succeeded(hr, [72], 5100).events); // the probe is answered
    expect(statuses(seen)).toEqual(['online', 'error', 'offline', 'error']);
    expect(dev.detail).toMatch(/illegal data address .* on holding 200\.\.200/);
    // Its values are read again at once all the same: an answer with data ends the error.
    expect(dev.next().group).toBe(spo2);
    expect(statuses(dev.succeeded(spo2, [97], 5200).events)).toEqual(['online']);
  });

  it('back from an outage, a read in error for answers that do not decode stays in error', () => {
    const { dev, hr, spo2 } = runner();
    const seen: Array<DriverEvent | undefined> = [];
    for (let i = 0; i < 3; i++) seen.push(...dev.succeeded(hr, [72], i * 1000).events, ...dev.succeeded(spo2, [], i * 1000 + 500).events);
    seen.push(dev.busDown('connection to 127.0.0.1:502 lost', 5000));
    seen.push(...dev.succeeded(hr, [72], 5100).events);
    expect(statuses(seen)).toEqual(['online', 'error', 'offline', 'error']);
    expect(dev.detail).toMatch(/cannot decode spo2/);
  });

  it('poll ticks skipped because a read came late are reported; not those missed during an outage or before the first answer', () => {
    const { dev, hr } = runner(); // hr every 1000 ms, due at 0
    expect(dev.succeeded(hr, [72], 2500).skipped).toBe(0); // the first answer: late because of connecting, not the bus
    expect(dev.succeeded(hr, [72], 3100).skipped).toBe(0); // due 3000
    expect(dev.succeeded(hr, [72], 6300).skipped).toBe(2); // due 4000, read at 6300: the ticks at 5000 and 6000 are skipped
    dev.busDown('connection to 127.0.0.1:502 lost', 6500);
    expect(dev.succeeded(hr, [72], 60_000).skipped).toBe(0); // back from offline: the outage missed them, not the bus
    expect(dev.succeeded(hr, [72], 61_050).skipped).toBe(0);
  });

  it('failures of different kinds are not in a row: two timeouts and one transient "busy" exception stay online', () => {
    const { dev, hr, spo2 } = runner();
    const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    const busy = classify(Object.assign(new Error('busy'), { modbusCode: 6 }));
    for (let i = 0; i < 2; i++) {
      dev.succeeded(hr, [72], i * 1000);
      dev.failed(spo2, timeout, i * 1000 + 500);
    }
    dev.succeeded(hr, [72], 2000);
    expect(dev.failed(spo2, busy, 2500)).toBeUndefined();
    expect(dev.state).toBe('online');
  });

  it('a read that never delivers data, failing alternately with no answer and "busy", puts the device in error naming the read (review rv89 H1)', () => {
    const { dev, hr, spo2 } = runner();
    const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    const busy = classify(Object.assign(new Error('busy'), { modbusCode: 6 }));
    const seen: Array<DriverEvent | undefined> = [];
    for (let i = 0; i < 10; i++) {
      seen.push(...dev.succeeded(hr, [72], i * 1000).events);
      seen.push(dev.failed(spo2, i % 2 ? busy : timeout, i * 1000 + 500));
    }
    expect(statuses(seen)).toEqual(['online', 'error']);
    expect(dev.state).toBe('error');
    expect(dev.detail).toMatch(/on holding 200\.\.200 \(\d+ failures since it last delivered data\)/);
    // The heart rate answering does not end it; SpO2 delivering data does.
    expect(statuses(dev.succeeded(hr, [72], 11_000).events)).toEqual([]);
    expect(statuses(dev.succeeded(spo2, [97], 11_500).events)).toEqual(['online']);
  });

  it('a decode fault alternating with an exception also puts the device in error', () => {
    const { dev, hr, spo2 } = runner();
    const busy = classify(Object.assign(new Error('busy'), { modbusCode: 6 }));
    const seen: Array<DriverEvent | undefined> = [];
    for (let i = 0; i < 10; i++) {
      seen.push(...dev.succeeded(hr, [72], i * 1000).events);
      if (i % 2) seen.push(dev.failed(spo2, busy, i * 1000 + 500));
      else seen.push(...dev.succeeded(spo2, [], i * 1000 + 500).events);
    }
    expect(statuses(seen)).toEqual(['online', 'error']);
  });

  it('a device that stops answering altogether goes offline, not error', () => {
    const { dev, hr, spo2 } = runner();
    const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    dev.succeeded(hr, [72], 0);
    const seen = [dev.failed(spo2, timeout, 500), dev.failed(hr, timeout, 1000), dev.failed(spo2, timeout, 1500)];
    expect(statuses(seen)).toEqual(['offline']);
  });
});

/**
 * Drives one device as the bus loop does, on a simulated clock: always the read it wants next, at the time it wants
 * it. `answer` says what the device does with a read; a read that is answered takes `okMs`, one that times out
 * `timeoutMs`. Returns what was read when, and the status changes.
 */
function drive(
  dev: DeviceRunner,
  answer: (group: ReadGroup, now: number) => 'ok' | 'silent',
  untilMs: number,
  { okMs = 10, timeoutMs = 200 } = {},
): { reads: Array<{ address: number; at: number; ok: boolean }>; states: Array<{ state: string; at: number; detail: string }> } {
  const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
  const reads: Array<{ address: number; at: number; ok: boolean }> = [];
  const states: Array<{ state: string; at: number; detail: string }> = [];
  let now = 0;
  while (now < untilMs) {
    const { group, at } = dev.next();
    now = Math.max(now, at);
    const ok = answer(group, now) === 'ok';
    reads.push({ address: group.address, at: now, ok });
    now += ok ? okMs : timeoutMs;
    const events = ok ? dev.succeeded(group, new Array<number>(group.count).fill(1), now).events : [dev.failed(group, timeout, now)];
    for (const e of events) if (e?.kind === 'device-status') states.push({ state: e.state, at: e.at, detail: e.detail });
  }
  return { reads, states };
}

function twoReads(first: { address: number; intervalMs: number }, second: { address: number; intervalMs: number }, backoff = { initialMs: 1000, maxMs: 30_000 }) {
  const plan = buildPlan({
    buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'd', unitId: 1, points: [
      { name: 'first', table: 'holding', address: first.address, pollIntervalMs: first.intervalMs },
      { name: 'second', table: 'holding', address: second.address, pollIntervalMs: second.intervalMs },
    ] }] }],
  });
  return new DeviceRunner(plan.buses[0]!.devices[0]!, { source: 's', offlineAfterFailures: 3, backoff }, 0);
}

describe('modbus device schedule when reads fail', () => {
  it('one register never answered, polled more often than the answered one: error for that read, never offline, the other read keeps its rate', () => {
    const dev = twoReads({ address: 100, intervalMs: 500 }, { address: 0, intervalMs: 2000 });
    const { reads, states } = drive(dev, (g) => (g.address === 100 ? 'silent' : 'ok'), 60_000);
    expect(states.map((s) => s.state)).toEqual(['online', 'error']);
    expect(states[1]?.detail).toMatch(/no response \(timeout\) on holding 100\.\.100/);
    expect(dev.state).toBe('error');
    // Every 2 s tick of the answered read is read, and nothing else is lost: 60 s / 2 s.
    expect(reads.filter((r) => r.address === 0).length).toBeGreaterThanOrEqual(29);
  });

  it('a whole device that stops answering still goes offline, even when its other read is due only much later', () => {
    const dev = twoReads({ address: 0, intervalMs: 1000 }, { address: 50, intervalMs: 3_600_000 });
    const { states } = drive(dev, (_g, now) => (now < 5000 ? 'ok' : 'silent'), 20_000);
    expect(states.map((s) => s.state)).toEqual(['online', 'offline']);
  });

  it('an offline device is probed at its backoff, not at the poll interval of its first read, and is back at the first probe that answers', () => {
    // The first read is polled every hour (a model or settings register); backoff 100 ms → 400 ms.
    const dev = twoReads({ address: 50, intervalMs: 3_600_000 }, { address: 0, intervalMs: 200 }, { initialMs: 100, maxMs: 400 });
    const back = 10_000;
    const { reads, states } = drive(dev, (_g, now) => (now < 2000 || now >= back ? 'ok' : 'silent'), 20_000);
    expect(states.map((s) => s.state)).toEqual(['online', 'offline', 'online']);
    const firstAfter = reads.find((r) => r.at >= back);
    expect(firstAfter?.ok).toBe(true);
    // Probes while offline follow the backoff (capped at 400 ms), with the read that answered last.
    const probes = reads.filter((r) => r.at > states[1]!.at && r.at < back);
    const gaps = probes.slice(1).map((p, i) => p.at - probes[i]!.at);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(400 + 200);
    expect(probes[0]?.address).toBe(0);
    expect(states[2]!.at - back).toBeLessThanOrEqual(400 + 200 + 10);
    // And all its values are read at once: the hourly read too.
    expect(reads.some((r) => r.address === 50 && r.at >= back && r.at <= states[2]!.at + 20)).toBe(true);
  });

  it('a read that is never answered is retried with exponential backoff, not at its poll interval', () => {
    const dev = twoReads({ address: 100, intervalMs: 500 }, { address: 0, intervalMs: 300 }, { initialMs: 1000, maxMs: 8000 });
    const { reads } = drive(dev, (g) => (g.address === 100 ? 'silent' : 'ok'), 60_000);
    const tries = reads.filter((r) => r.address === 100).map((r) => r.at);
    // After each failed try (200 ms): its next poll (500 ms, sooner than 1 s), then 1 s, 2 s, 4 s, 8 s, 8 s, …
    // (rounded: a try may wait for the other read in progress).
    const waits = tries.slice(1, 7).map((t, i) => Math.round((t - tries[i]! - 200) / 100) * 100);
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
  });

  it('a read that answers is held back with the probes only once it goes unanswered twice in a row, not after one miss', () => {
    const plan = buildPlan({
      buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'd', unitId: 1, pollIntervalMs: 100, points: [{ name: 'a', table: 'holding', address: 0 }] }] }],
    });
    const group = plan.buses[0]!.devices[0]!.groups[0]!;
    const dev = new DeviceRunner(plan.buses[0]!.devices[0]!, { source: 's', offlineAfterFailures: 3, backoff: { initialMs: 1000, maxMs: 30_000 } }, 0);
    const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    const later = 1_000_000; // the bus holds reads that may go unanswered until then
    expect(dev.next(later)).toMatchObject({ at: later, unanswered: true }); // never answered yet
    dev.succeeded(group, [1], 10);
    expect(dev.next(later)).toMatchObject({ at: 100, unanswered: false });
    dev.failed(group, timeout, 300);
    expect(dev.next(later)).toMatchObject({ at: 400, unanswered: false }); // one miss: at its next poll
    dev.failed(group, timeout, 600);
    expect(dev.next(later)).toMatchObject({ at: later, unanswered: true });
  });

  it('an offline device that answers a probe with an exception is back (it is there), and is not probed in a loop', () => {
    const plan = buildPlan({
      buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'd', unitId: 1, points: [{ name: 'a', table: 'holding', address: 0 }] }] }],
    });
    const group = plan.buses[0]!.devices[0]!.groups[0]!;
    const dev = new DeviceRunner(plan.buses[0]!.devices[0]!, { source: 's', offlineAfterFailures: 2, backoff: { initialMs: 1000, maxMs: 30_000 } }, 0);
    const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    expect(dev.failed(group, timeout, 0)).toBeUndefined();
    expect(dev.failed(group, timeout, dev.next().at)?.state).toBe('offline');
    const busy = classify(Object.assign(new Error('busy'), { modbusCode: 6 }));
    const at = dev.next().at;
    expect(dev.failed(group, busy, at)?.state).toBe('online');
    expect(dev.next().at).toBeGreaterThanOrEqual(at + 1000);
  });
});

describe('modbus device: a merged read refused as a whole', () => {
  const merged = () => {
    const plan = buildPlan({
      buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'mon-1', unitId: 1, points: [
        { name: 'hr', table: 'holding', address: 0, type: 'int16' },
        { name: 'spo2', table: 'holding', address: 1, type: 'int16' },
        { name: 'typo', table: 'holding', address: 2, type: 'int16' },
      ] }] }],
    });
    const device = plan.buses[0]!.devices[0]!;
    const dev = new DeviceRunner(device, { source: 's', offlineAfterFailures: 3, backoff: { initialMs: 1000, maxMs: 30_000 } }, 0);
    return { dev, read: device.groups[0]! };
  };
  const exception = (code: number) => classify(Object.assign(new Error(`Modbus exception ${code}`), { modbusCode: code }));

  it('exception 2 or 3 splits it in two, kept; the halves are read next, and only the point at fault ends in error, named', () => {
    for (const code of [2, 3]) {
      const { dev, read } = merged();
      expect(read.label).toBe('holding 0..2');
      const split = dev.split(read, exception(code), 10);
      expect(split?.into.map((g) => g.label)).toEqual(['holding 0..1', 'holding 2..2']);
      expect(dev.readCount).toBe(2);
      const [low, high] = split!.into;
      expect(dev.next().group).toBe(low);
      expect(statuses(dev.succeeded(low, [72, 97], 20).events)).toEqual(['online']);
      expect(dev.next().group).toBe(high);
      expect(dev.split(high, exception(code), 30)).toBeUndefined(); // one value: nothing to split
      expect(statuses([dev.failed(high, exception(code), 30)])).toEqual(['error']);
      expect(dev.detail).toContain('on holding 2..2 (point "typo")');
      // The merged read is gone: asking about it is a bug.
      expect(() => dev.failed(read, exception(code), 40)).toThrow(/not part of device/);
    }
  });

  it('other exceptions and unanswered reads are not split', () => {
    const { dev, read } = merged();
    expect(dev.split(read, exception(1), 10)).toBeUndefined();
    expect(dev.split(read, exception(6), 10)).toBeUndefined();
    expect(dev.split(read, classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' })), 10)).toBeUndefined();
    expect(dev.readCount).toBe(1);
  });

  it('an offline device whose probe is refused as a whole is back, and probes with a half from then on', () => {
    const { dev, read } = merged();
    dev.busDown('connection lost', 0);
    expect(dev.next().group).toBe(read);
    const split = dev.split(read, exception(2), 100);
    expect(split?.status?.state).toBe('online');
    dev.busDown('connection lost', 200);
    expect(split?.into).toContain(dev.next().group);
  });
});

describe('review rv176: a device with several reads across an outage', () => {
  const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
  const illegal = classify(Object.assign(new Error('Modbus exception 2'), { modbusCode: 2 }));

  /** Times every read out, as the bus would make them, until the device is offline; returns when it went. */
  function silenceUntilOffline(dev: DeviceRunner, from: number): { at: number; events: Array<DriverEvent | undefined>; reads: string[] } {
    let t = from;
    const events: Array<DriverEvent | undefined> = [];
    const reads: string[] = [];
    for (let i = 0; dev.state !== 'offline' && i < 20; i++) {
      const n = dev.next();
      t = Math.max(t, n.at) + 200;
      reads.push(n.group.label);
      events.push(dev.failed(n.group, timeout, t));
    }
    return { at: t, events, reads };
  }

  /** The probes an offline device makes until `until`, all unanswered (each of its reads in turn). */
  function probesFail(dev: DeviceRunner, from: number, until: number): Array<{ read: string; at: number }> {
    const probes: Array<{ read: string; at: number }> = [];
    for (let t = from; ; ) {
      const n = dev.next();
      if (n.at >= until) return probes;
      t = Math.max(t, n.at) + 200;
      probes.push({ read: n.group.label, at: t });
      expect(dev.failed(n.group, timeout, t)).toBeUndefined();
    }
  }

  it('M1: ticks missed while offline are skipped_polls of no read, the probe\'s nor the others\', after a lost connection and after timeouts', () => {
    for (const outage of ['connection lost', 'timeouts'] as const) {
      const { dev, hr, spo2 } = runner(); // two reads, every 1000 ms
      for (let t = 0; t < 5000; t += 1000) {
        expect(dev.succeeded(hr, [72], t).skipped).toBe(0);
        expect(dev.succeeded(spo2, [98], t + 10).skipped).toBe(0);
      }
      let t = 5000;
      if (outage === 'connection lost') dev.busDown('connection to 127.0.0.1:502 lost', t);
      else t = silenceUntilOffline(dev, t).at;
      expect(dev.state).toBe('offline');
      probesFail(dev, t, 65_000);
      // Back 60 s later: every read the device wants, answered at once.
      const skipped: Array<{ read: string; skipped: number }> = [];
      for (t = 65_000; t < 75_000; ) {
        const n = dev.next();
        t = Math.max(t, n.at) + 10;
        skipped.push({ read: n.group.label, skipped: dev.succeeded(n.group, [1], t).skipped });
      }
      expect(dev.state, outage).toBe('online');
      expect(new Set(skipped.map((s) => s.read)), outage).toEqual(new Set([hr.label, spo2.label]));
      expect(skipped.filter((s) => s.skipped > 0), outage).toEqual([]);
    }
  });

  it('M2: a read in error for an illegal address stays in error through an outage of timeouts (checked on the way offline, probed while offline): offline → error, never online', () => {
    const { dev, hr, spo2 } = runner();
    const answer = (g: ReadGroup, t: number): Array<DriverEvent | undefined> => (g === spo2 ? [dev.failed(spo2, illegal, t)] : dev.succeeded(hr, [72], t).events);
    const seen: Array<DriverEvent | undefined> = [];
    let t = 0;
    for (; t < 5000; t += 1000) seen.push(...answer(hr, t), ...answer(spo2, t + 10));
    expect(statuses(seen)).toEqual(['online', 'error']);
    const off = silenceUntilOffline(dev, t);
    seen.push(...off.events);
    const probes = probesFail(dev, off.at, 30_000);
    // The read in error timed out while the device was silent: the check on the way offline, and a probe in turn.
    expect(off.reads).toContain(spo2.label);
    expect(probes.map((p) => p.read)).toContain(spo2.label);
    // Back: whichever read it wants first, and the next ones.
    for (t = 30_000; t < 40_000; ) {
      const n = dev.next();
      t = Math.max(t, n.at) + 10;
      seen.push(...answer(n.group, t));
    }
    expect(statuses(seen)).toEqual(['online', 'error', 'offline', 'error']);
    expect(dev.detail).toMatch(/illegal data address .* on holding 200\.\.200/);
  });

  it('M2: back from an outage, the status comes before the readings of the same answer (the alarm monitor sees error before the data)', () => {
    const { dev, hr, spo2 } = runner();
    dev.succeeded(hr, [72], 0);
    dev.failed(spo2, illegal, 10);
    dev.busDown('connection to 127.0.0.1:502 lost', 5000);
    const back = dev.succeeded(hr, [72], 5100).events;
    expect(back.map((e) => (e.kind === 'device-status' ? e.state : e.kind))).toEqual(['error', 'numeric']);
  });

  it('L1: the offline status event carries no retry time (a technical alarm keeps its text); the health detail does', () => {
    const { dev, hr, spo2 } = runner();
    dev.succeeded(hr, [72], 0);
    dev.succeeded(spo2, [98], 10);
    const gone = silenceUntilOffline(dev, 1000);
    const off = gone.events.find((e): e is DeviceStatusEvent => e?.kind === 'device-status');
    expect(off?.state).toBe('offline');
    expect(off?.detail).toMatch(/^no response \(timeout\) on holding \d+\.\.\d+ \(3 failures in a row\)$/);
    expect(dev.detailAt(gone.at)).toMatch(/\(3 failures in a row; next try in \d+ ms\)$/);
  });

  it('review rv179 L3: the health detail\'s wait for the next probe is counted when read (not frozen at the failed probe), floored at 0', () => {
    const { dev, hr, spo2 } = runner();
    dev.succeeded(hr, [72], 0);
    dev.succeeded(spo2, [98], 10);
    let t = silenceUntilOffline(dev, 1000).at;
    for (let i = 0; i < 5; i++) {
      const n = dev.next();
      t = n.at;
      dev.failed(n.group, timeout, t);
    }
    const probeAt = dev.next().at;
    expect(probeAt - t).toBe(30_000); // backoff at its cap
    expect(dev.detailAt(t)).toMatch(/^no response \(timeout\) on holding \d+\.\.\d+ \(next try in 30000 ms\)$/);
    expect(dev.detailAt(probeAt - 5000)).toMatch(/\(next try in 5000 ms\)$/);
    expect(dev.detailAt(probeAt + 1000)).toMatch(/\(next try in 0 ms\)$/);
    // Back, the wait is gone from the detail.
    dev.succeeded(hr, [72], probeAt);
    expect(dev.detailAt(probeAt + 1000)).toBe('answering');
  });
});
