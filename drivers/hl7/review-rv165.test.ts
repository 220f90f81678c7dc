// rv165 F3: a time without an offset (MSH-7 has none either) borrows an offset only from times of the same device:
// another device's zoned OBX-14, or an OBR-7/8 of a message with several devices, says nothing of its clock.
import { describe, expect, it } from 'vitest';
import type { AlarmEvent, NumericReading } from '../../agent/model/reading.js';
import { mapMessage, type MapOptions, type MapResult } from './pcd01.js';
import { parseMessage, readHeader } from './protocol/index.js';

const map = (text: string, o: Partial<MapOptions> = {}): MapResult => {
  const m = parseMessage(text);
  return mapMessage(m, readHeader(m), { source: 'icu', receivedAt: Date.UTC(2024, 0, 1, 11, 0, 5), defaultTimeZone: 'Europe/Berlin', ...o });
};
const numerics = (r: MapResult): NumericReading[] => r.events.filter((e): e is NumericReading => e.kind === 'numeric');
const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());
const A = 'AAAAAAAAAAAAAAAA^^AAAAAAAAAAAAAAAA^EUI-64';
const B = 'BBBBBBBBBBBBBBBB^^BBBBBBBBBBBBBBBB^EUI-64';
const MSH = (type = 'ORU^R01^ORU_R01') => `MSH|^~\\&|GW|WARD|||20240101120000||${type}|C1|P|2.6|||AL|NE`;
/** One PID/PV1/OBR group per bed; `obr7` is OBR-7. */
const group = (patient: string, bed: string, obr7: string, ...obx: string[]) => [`PID|||${patient}`, `PV1||I|ICU^${bed}`, `OBR|1|||x|||${obr7}`, ...obx];
const spo2 = (time: string, eq: string, obx19 = '') => `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F|||${time}||||${eq}|${obx19}`;
const hr = (time: string, eq: string) => `OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|60|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F|||${time}||||${eq}`;
const message = (...lines: string[]) => lines.join('\r') + '\r';
const byDevice = (r: MapResult, dev: string) => numerics(r).filter((n) => n.deviceId === dev);

describe("rv165 F3: a time without an offset borrows only its own device's offset", () => {
  it("device B's unzoned OBX-14 is not placed by device A's +0000: the configured zone, marked time-zone-assumed", () => {
    // The rv165 probe: a gateway (MSH-7 without offset), A writes UTC, B its local (Berlin) time without a zone.
    const r = map(message(MSH(), ...group('P1', '1^A', '', spo2('20240101110000+0000', A)), ...group('P2', '2^B', '', hr('20240101120000', B))));
    const [a] = byDevice(r, 'AAAAAAAAAAAAAAAA');
    const [b] = byDevice(r, 'BBBBBBBBBBBBBBBB');
    expect(iso(a?.deviceTime)).toBe('2024-01-01T11:00:00.000Z');
    expect(a!.quality.reasons ?? []).not.toContain('time-zone-assumed');
    // Berlin's 12:00 in January is 11:00Z.
    expect(iso(b?.deviceTime)).toBe('2024-01-01T11:00:00.000Z');
    expect(b!.quality.reasons).toContain('time-zone-assumed');
  });

  it("a zoned OBX-14 / OBX-19 of the same device's other rows is taken, not another device's before it", () => {
    // A's +0000 comes first in the message; B's own OBX-19 (+0100) and OBX-14 (-0500) in other rows are B's clock.
    const r = map(
      message(
        MSH(),
        ...group('P1', '1^A', '', spo2('20240101110000+0000', A)),
        ...group('P2', '2^B', '', hr('20240101120000', B), spo2('20240101120000', B, '20231231120000+0100')),
      ),
    );
    const b = byDevice(r, 'BBBBBBBBBBBBBBBB');
    expect(b.map((n) => iso(n.deviceTime))).toEqual(['2024-01-01T11:00:00.000Z', '2024-01-01T11:00:00.000Z']);
    for (const n of b) expect(n.quality.reasons ?? []).not.toContain('time-zone-assumed');
    // Without B's OBX-19, B's -0500 in another row (written after it) is its clock's offset.
    const r2 = map(
      message(
        MSH(),
        ...group('P1', '1^A', '', spo2('20240101110000+0000', A)),
        ...group('P2', '2^B', '', hr('20240101120000', B)),
        ...group('P2', '2^B', '', spo2('20240101120000-0500', B)),
      ),
    );
    expect(iso(byDevice(r2, 'BBBBBBBBBBBBBBBB')[0]?.deviceTime)).toBe('2024-01-01T17:00:00.000Z');
  });

  it('with two devices in the message, no OBR-7 lends its offset (not even the row\'s own): the configured zone, assumed', () => {
    // OBR-7 may be written by the gateway or by A: it says nothing certain of B's clock.
    const r = map(message(MSH(), ...group('P1', '1^A', '20240101110000+0000', spo2('20240101110000+0000', A)), ...group('P2', '2^B', '20240101120000+0000', hr('20240101120000', B))));
    const [b] = byDevice(r, 'BBBBBBBBBBBBBBBB');
    expect(iso(b?.deviceTime)).toBe('2024-01-01T11:00:00.000Z');
    expect(b!.quality.reasons).toContain('time-zone-assumed');
  });

  it('one device in the message (OBX-18 on some rows, the MDS header naming it for the rest): OBR-7 of another OBR is taken', () => {
    const mds = `OBX|1||69798^MDC_DEV_MON^MDC|1.0.0.0|||||||X|||||||${A}`;
    const r = map(message(MSH(), ...group('P1', '1^A', '', mds, hr('20240101120000', '')), `OBR|2|||y|||20240101120000-0500`, spo2('20240101120000', A)));
    const n = numerics(r);
    expect(n.map((x) => x.deviceId)).toEqual(['AAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAA']);
    expect(n.map((x) => iso(x.deviceTime))).toEqual(['2024-01-01T17:00:00.000Z', '2024-01-01T17:00:00.000Z']);
    for (const x of n) expect(x.quality.reasons ?? []).not.toContain('time-zone-assumed');
  });

  it("a PCD-04 alarm of device B is not placed by device A's zoned OBX-14 either", () => {
    const evt = (eq: string, time: string) => `OBX|1|ST|196670^MDC_EVT_LO^MDC|1.1.1.1|alarm|||PH~SP|||F|||${time}||||${eq}`;
    const phase = `OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.3|start||||||F`;
    const r = map(
      message(MSH('ORU^R40^ORU_R40'), ...group('P1', '1^A', '', evt(A, '20240101110000+0000'), phase), ...group('P2', '2^B', '', evt(B, '20240101120000'), phase)),
    );
    const b = r.events.find((e): e is AlarmEvent => e.kind === 'alarm' && e.deviceId === 'BBBBBBBBBBBBBBBB');
    // Berlin's 12:00 (an alarm carries no quality to mark the assumption in).
    expect(iso(b?.deviceTime)).toBe('2024-01-01T11:00:00.000Z');
  });
});
