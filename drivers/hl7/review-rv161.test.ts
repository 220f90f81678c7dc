// rv161 F1-F4: PCD-04 alarm ids (no OBR-2, the whole OBR-3, the bed when the device is the sender's), times without an
// offset placed by a zoned time of the same message, and blank MLLP frames not counted as refused messages.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from '../../agent/alarms/engine.js';
import type { AlarmEvent, NumericReading } from '../../agent/model/reading.js';
import { MessageHandler } from './handler.js';
import { mapMessage, type MapOptions, type MapResult } from './pcd01.js';
import { parseMessage, readHeader, str } from './protocol/index.js';
import { captureCtx, handlerOptions } from './test-support.js';

const map = (text: string, o: Partial<MapOptions> = {}): MapResult => {
  const m = parseMessage(text);
  return mapMessage(m, readHeader(m), { source: 'icu', receivedAt: Date.UTC(2024, 0, 1, 11, 0, 5), ...o });
};
const alarms = (r: MapResult): AlarmEvent[] => r.events.filter((e): e is AlarmEvent => e.kind === 'alarm');

/** A PCD-04 alarm from a central station (MSH-3 CENTRAL): OBR-2, OBR-3, bed, phase/state, optional OBX-18. */
const acm = (o: { id: string; obr2?: string; obr3: string; bed: string; phase: string; state: string; evt?: string; obx18?: string }): string =>
  [
    `MSH|^~\\&|CENTRAL|ICU|||20240101120000+0000||ORU^R40^ORU_R40|${o.id}|P|2.6|||AL|NE`,
    `PID|||P${o.bed}^^^^MR`,
    `PV1||I|ICU^^${o.bed}`,
    `OBR|1|${o.obr2 ?? ''}|${o.obr3}|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000`,
    `OBX|1|ST|${o.evt ?? '196670^MDC_EVT_LO^MDC'}|1.1.1.1|alarm|||PH~SP||F|||20240101120000+0000||||${o.obx18 ?? ''}`,
    `OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.3|${o.phase}||||||F`,
    `OBX|3|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.1.4|${o.state}||||||F`,
  ].join('\r') + '\r';

const CORPUS = join(import.meta.dirname, '../../../shared/corpus/hl7');
const noObr3 = (t: string): string => t.replace(/^(OBR\|[^|]*\|[^|]*\|)[^|]*/m, '$1');

describe('rv161 F1: without OBR-3 the alarm id is never OBR-2 (a placer number, new in every message)', () => {
  it('start and end of one alarm with OBR-2 changing and no OBR-3: one id, and alarm_id_fallback noticed once per sender', () => {
    const start = map(acm({ id: 'S', obr2: '634617284575713662^CENTRAL', obr3: '', bed: '1', phase: 'start', state: 'active' }));
    const end = map(acm({ id: 'E', obr2: '634617284662070628^CENTRAL', obr3: '', bed: '1', phase: 'end', state: 'inactive' }));
    const [a] = alarms(start);
    const [b] = alarms(end);
    expect(a!.alarmId).toBe(b!.alarmId);
    expect(a!.alarmId).not.toContain('634617284575713662');
    for (const r of [start, end]) {
      expect(r.notices.filter((n) => n.counter === 'alarm_id_fallback')).toEqual([expect.objectContaining({ by: 1, oncePerSender: true })]);
    }
    expect(start.notices.find((n) => n.counter === 'alarm_id_fallback')!.text).toMatch(/OBR-2/);
  });

  it.skipIf(!existsSync(CORPUS))('IHE PCD TF example P6013_4 (ihe-pcd-tf_9 start, _10 end) with OBR-3 removed: one id, no active alarm left in the engine', () => {
    const engine = new AlarmEngine();
    const ids: string[] = [];
    for (const f of ['ihe-pcd-tf_9.hl7', 'ihe-pcd-tf_10.hl7']) {
      const r = map(noObr3(readFileSync(join(CORPUS, f), 'latin1')));
      expect(r.notices.map((n) => n.counter)).toContain('alarm_id_fallback');
      for (const e of alarms(r)) {
        ids.push(e.alarmId);
        engine.deviceAlarm(e);
      }
    }
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(engine.list().filter((x) => x.state === 'active')).toEqual([]);
  });
});

describe('rv161 F2: the alarm id keeps all of OBR-3, and the bed when the device is the sender (MSH-3/4, peer)', () => {
  it('two monitors behind one central station, OBR-3 differing only in EI.3: two alarm ids', () => {
    const [a] = alarms(map(acm({ id: '1', obr3: '17^^0011223344556677^EUI-64', bed: '1', phase: 'start', state: 'active' })));
    const [b] = alarms(map(acm({ id: '2', obr3: '17^^8899AABBCCDDEEFF^EUI-64', bed: '2', phase: 'start', state: 'active' })));
    expect(a!.deviceId).toBe('CENTRAL');
    expect(b!.deviceId).toBe('CENTRAL');
    expect(a!.alarmId).not.toBe(b!.alarmId);
    expect(a!.alarmId).toContain('0011223344556677^EUI-64');
  });

  it('the same OBR-3 at two beds of one central station (device from MSH-3): two ids, each stable across phases', () => {
    const id = (bed: string, phase: string, state: string) => alarms(map(acm({ id: bed + phase, obr3: '17^ACM', bed, phase, state })))[0]!.alarmId;
    expect(id('1', 'start', 'active')).not.toBe(id('2', 'start', 'active'));
    expect(id('1', 'start', 'active')).toBe(id('1', 'end', 'inactive'));
  });

  it('a device named by OBX-18: OBR-3 with EI.1/EI.2 only is the id as before; with EI.3/EI.4 all four are in it; no bed', () => {
    const two = alarms(map(acm({ id: 'a', obr3: 'A1^GW', bed: '1', phase: 'start', state: 'active', obx18: 'MON1^^0011223344556677^EUI-64' })))[0]!;
    expect(two.deviceId).not.toBe('CENTRAL');
    expect(two.alarmId).toBe('A1^GW');
    const one = alarms(map(acm({ id: 'b', obr3: 'A1', bed: '1', phase: 'start', state: 'active', obx18: 'MON1^^0011223344556677^EUI-64' })))[0]!;
    expect(one.alarmId).toBe('A1^');
    const four = alarms(map(acm({ id: 'c', obr3: '17^ACM^0011223344556677^EUI-64', bed: '1', phase: 'start', state: 'active', obx18: 'MON1^^0011223344556677^EUI-64' })))[0]!;
    expect(four.alarmId).toBe('17^ACM^0011223344556677^EUI-64');
  });

  it("in the engine, bed 2's start and end leave bed 1's alarm active (not latched as moved)", () => {
    const engine = new AlarmEngine();
    const feed = (text: string) => alarms(map(text)).forEach((e) => engine.deviceAlarm(e));
    feed(acm({ id: '1', obr3: '17^^0011223344556677^EUI-64', bed: '1', phase: 'start', state: 'active' }));
    feed(acm({ id: '2', obr3: '17^^8899AABBCCDDEEFF^EUI-64', bed: '2', phase: 'start', state: 'active', evt: '196674^MDC_EVT_HI^MDC' }));
    feed(acm({ id: '3', obr3: '17^^8899AABBCCDDEEFF^EUI-64', bed: '2', phase: 'end', state: 'inactive', evt: '196674^MDC_EVT_HI^MDC' }));
    const bed1 = engine.list().filter((x) => x.bed === 'ICU//1');
    expect(bed1.map((x) => x.state)).toEqual(['active']);
  });
});

describe("rv161 F3: a time without an offset takes the sender's offset from a zoned time of the same message", () => {
  const HEAD = (msh7: string, obr7: string) =>
    `MSH|^~\\&|MON|WARD|||${msh7}||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE\rPID|||P1\rPV1||I|ICU^1^A\rOBR|1|||x|||${obr7}\r`;
  const spo2 = (time: string, at = '1.1.1.1') => `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|${at}|97|262688^MDC_DIM_PERCENT^MDC|||||F|||${time}\r`;
  const hr = `OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|60|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r`;
  const numerics = (text: string, o: Partial<MapOptions> = {}) => map(text, o).events.filter((e): e is NumericReading => e.kind === 'numeric');
  const iso = (r: NumericReading | undefined) => (r?.deviceTime == null ? null : new Date(r.deviceTime).toISOString());

  it('MSH-7 without offset, OBR-7 +0100, OBX-14 without: OBR-7\'s offset, with no time-zone-assumed reason', () => {
    const [s, h] = numerics(HEAD('20240101120000', '20240101120000+0100') + spo2('20240101120000') + hr);
    expect(iso(h)).toBe('2024-01-01T11:00:00.000Z');
    expect(iso(s)).toBe('2024-01-01T11:00:00.000Z');
    expect(s!.quality.reasons ?? []).not.toContain('time-zone-assumed');
    // The message's offset wins over a configured zone as well.
    const [z] = numerics(HEAD('20240101120000', '20240101120000+0100') + spo2('20240101120000'), { defaultTimeZone: 'America/New_York' });
    expect(iso(z)).toBe('2024-01-01T11:00:00.000Z');
  });

  it("the nearest zoned ancestor OBX-14 wins over OBR-7; any zoned time of the message is taken before the default", () => {
    const channel = `OBX|1||70000^MDC_DEV_CHAN^MDC|1.1.1|||||||X|||20240101120000+0200\r`;
    const [s] = numerics(HEAD('20240101120000', '20240101120000+0100') + channel + spo2('20240101120000', '1.1.1.1'));
    expect(iso(s)).toBe('2024-01-01T10:00:00.000Z');
    // Only another OBR's OBR-7 carries an offset.
    const other = `OBR|2|||y|||20240101120000-0500\r` + hr;
    const [first] = numerics(HEAD('20240101120000', '20240101120000') + spo2('20240101120000') + other);
    expect(iso(first)).toBe('2024-01-01T17:00:00.000Z');
    expect(first!.quality.reasons ?? []).not.toContain('time-zone-assumed');
  });

  it('no zoned time anywhere: the configured default, marked time-zone-assumed (as before)', () => {
    const [s] = numerics(HEAD('20240101120000', '20240101120000') + spo2('20240101120000'), { defaultOffsetMinutes: 60 });
    expect(iso(s)).toBe('2024-01-01T11:00:00.000Z');
    expect(s!.quality.reasons).toContain('time-zone-assumed');
  });
});

describe('rv161 F4: an empty or blank MLLP frame is not a refused message', () => {
  // Refused (error 203): not HL7 v2.
  const garbage = (id: string) => `MSH|^~\\&|MON|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|3.0\rOBX|1|NM|x|1.1.1.1|97|||||F\r`;

  it('answered AE as before, counted frames_empty, not messages_malformed, and no refused run for the address', async () => {
    const ctx = captureCtx({});
    const h = new MessageHandler(ctx, handlerOptions(100));
    for (const p of ['', '\r', '\r\n', ' ']) {
      const r = await h.handleFrame(Buffer.from(p), '10.0.0.5:4000');
      expect(r.acks).toHaveLength(1);
      const ack = parseMessage(r.acks[0]!);
      expect(str(ack.segments[1]!, 1)).toBe('AE');
    }
    expect(ctx.counts.get('frames_empty')).toBe(4);
    expect(ctx.counts.get('messages_malformed')).toBeUndefined();
    expect(ctx.counts.get('messages_received')).toBeUndefined();
    expect(h.refusedSenders(Date.now())).toEqual([]);
  });

  it('blank frames between refused messages neither add to nor end their run', async () => {
    const ctx = captureCtx({});
    const h = new MessageHandler(ctx, handlerOptions(100));
    await h.handleFrame(Buffer.from(garbage('X1')), '10.0.0.5:4000');
    await h.handleFrame(Buffer.from(garbage('X2')), '10.0.0.5:4000');
    for (let i = 0; i < 3; i++) await h.handleFrame(Buffer.from('\r'), '10.0.0.5:4000');
    expect(h.refusedSenders(Date.now())).toEqual([]);
    await h.handleFrame(Buffer.from(garbage('X3')), '10.0.0.5:4000');
    expect(h.refusedSenders(Date.now()).map((r) => r.inARow)).toEqual([3]);
  });
});
