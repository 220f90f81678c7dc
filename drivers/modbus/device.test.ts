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

  it('a device that stops answering altogether goes offline, not error', () => {
    const { dev, hr, spo2 } = runner();
    const timeout = classify(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    dev.succeeded(hr, [72], 0);
    const seen = [dev.failed(spo2, timeout, 500), dev.failed(hr, timeout, 1000), dev.failed(spo2, timeout, 1500)];
    expect(statuses(seen)).toEqual(['offline']);
  });
});
