// Which device and bed a PCD-01 message's readings belong to, from what the message carries (review rv126 H1, M1, M5,
// L2): through the real parser and mapper, and over real MLLP on loopback for a sender that names itself only in MSH-4.
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LimitEvaluator } from '../../agent/alarms/limits.js';
import type { DriverEvent, NumericReading } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';
import { createHl7MllpDriver, type Hl7MllpDriver } from './index.js';
import { mapMessage, type Hl7Context, type MapOptions, type MapResult } from './pcd01.js';
import { MllpFramer, frame, parseMessage, readHeader } from './protocol/index.js';

const mapText = (text: string, opts: Partial<MapOptions> = {}): MapResult => {
  const m = parseMessage(text);
  return mapMessage(m, readHeader(m), { source: 's', receivedAt: 0, ...opts });
};
const numerics = (r: MapResult) => r.events.filter((e): e is NumericReading & { context: Hl7Context } => e.kind === 'numeric');
const counters = (r: MapResult) => r.notices.map((n) => n.counter);

/**
 * A Comen NC5 message as the monitor sends it (public verbatim capture, review rv126 H1): MSH-3 empty, the monitor's
 * serial in MSH-4, the bed as an HD subcomponent in PV1-3 (`^^&24`), no OBX-18. `msh3` / `obx18` to vary it.
 */
const nc5 = (o: { serial: string; bed?: string; mrn?: string; id?: string; spo2?: string; msh3?: string; obx18?: string }): string =>
  [
    `MSH|^~\\&|${o.msh3 ?? ''}|${o.serial}|||20260726231332.1106+0800||ORU^R01|${o.id ?? '20260726231332.11090007'}|P|2.6`,
    `PID|||${o.mrn ?? 'MRN12123'}||Doe^|||M`,
    `PV1||I|^^&${o.bed ?? '24'}|0|||99999`,
    'OBR||||2^MON_SPOT_DATA^99COMEN|||20260726231331',
    'OBX||NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.1.9.150301|120|266016^MDC_DIM_MMHG^MDC|90^160||||F|||20260726231331+0800',
    `OBX||NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|${o.spo2 ?? '98'}|262688^MDC_DIM_PERCENT^MDC|85^100||||F|||20260726231331+0800${o.obx18 ? `||||${o.obx18}` : ''}`,
  ].join('\r') + '\r';

describe('device id when no OBX-18 names the device (review rv126 H1)', () => {
  it('MSH-4 names the device when MSH-3 is empty: two NC5 monitors are two devices, each fallback noticed', () => {
    const a = mapText(nc5({ serial: 'KC575235977G' }));
    const b = mapText(nc5({ serial: 'KC575239999X', bed: '25', mrn: 'MRN77777' }));
    expect(numerics(a).map((e) => e.deviceId)).toEqual(['KC575235977G', 'KC575235977G']);
    expect(numerics(b).map((e) => e.deviceId)).toEqual(['KC575239999X', 'KC575239999X']);
    // Counted once per message, said once per sender (oncePerSender).
    const n = a.notices.find((x) => x.counter === 'device_id_from_msh4');
    expect(n).toMatchObject({ by: 1, oncePerSender: true });
    expect(n?.text).toMatch(/MSH-3.*empty.*MSH-4/);
  });

  it('the order is OBX-18, then MSH-3, then MSH-4; no notice while OBX-18 or MSH-3 gives the id', () => {
    const own = mapText(nc5({ serial: 'KC575235977G', msh3: 'NC5APP', obx18: '0011223344556677^EUI-64' }));
    expect(numerics(own).map((e) => e.deviceId)).toEqual(['NC5APP', '0011223344556677']); // the cuff row has no OBX-18
    expect(counters(own)).not.toContain('device_id_from_msh4');
    const noMsh3 = mapText(nc5({ serial: 'KC575235977G', obx18: '0011223344556677^EUI-64' }));
    expect(numerics(noMsh3).map((e) => e.deviceId)).toEqual(['KC575235977G', '0011223344556677']);
    const onlyObx18 = mapText(`${nc5({ serial: 'KC575235977G', obx18: '0011223344556677^EUI-64' }).split('\r').filter((s) => !s.includes('150301')).join('\r')}`);
    expect(numerics(onlyObx18).map((e) => e.deviceId)).toEqual(['0011223344556677']);
    expect(counters(onlyObx18)).not.toContain('device_id_from_msh4');
  });

  it('MSH-4 as an HD typed EUI-64 gives its universal id, as MSH-3 does', () => {
    const r = mapText(nc5({ serial: 'NC5^0011223344AABBCC^EUI-64' }));
    expect(numerics(r)[0]?.deviceId).toBe('0011223344AABBCC');
  });

  it('with MSH-3, MSH-4 and OBX-18 all empty, the sender address is the id (IPv4-mapped written plain), noticed', () => {
    const text = nc5({ serial: '' });
    const a = mapText(text, { senderAddress: '10.0.0.5' });
    const b = mapText(text, { senderAddress: '::ffff:10.0.0.6' });
    expect(numerics(a)[0]?.deviceId).toBe('peer:10.0.0.5');
    expect(numerics(b)[0]?.deviceId).toBe('peer:10.0.0.6');
    expect(a.notices.find((x) => x.counter === 'device_id_from_peer')).toMatchObject({ by: 1, oncePerSender: true });
    // Without an address (the mapper called on its own), the last resort is still named and noticed.
    const none = mapText(text);
    expect(numerics(none)[0]?.deviceId).toBe('unknown-sender');
    expect(counters(none)).toContain('device_id_from_peer');
  });

  // Without a bed (PV1-3 empty: not assigned), only the device id keeps the two patients' SpO2 apart. With one shared id
  // (the old `unknown-sender`) their values interleaved on one track and B's desaturation raised nothing.
  it("monitor B's SpO2 82 raises spo2-low although A's 98 arrives in between, with no bed to tell them apart", () => {
    const ev = new LimitEvaluator();
    const raised = new Set<string>();
    const t0 = Date.UTC(2026, 6, 26, 15, 13, 31);
    for (let s = 0; s < 60; s++) {
      const now = t0 + s * 1000;
      if (s % 2 === 0) {
        for (const [serial, mrn, v] of [
          ['KC575235977G', 'MRN1', '98'],
          ['KC575239999X', 'MRN2', '82'],
        ] as const) {
          const r = numerics(mapText(nc5({ serial, bed: '', mrn, spo2: v }), { receivedAt: now })).find((e) => e.mdc?.code === 150456)!;
          expect(r.bed).toBeUndefined();
          for (const u of ev.reading({ ...r, receivedAt: now })) if (u.present) raised.add(u.spec.key);
        }
      }
      for (const u of ev.tick(now)) if (u.present) raised.add(u.spec.key);
    }
    expect([...raised].filter((k) => k.includes('spo2'))).not.toHaveLength(0);
    expect([...raised].every((k) => !k.includes('KC575235977G'))).toBe(true);
    expect([...raised].some((k) => k.includes('KC575239999X') && k.includes('spo2'))).toBe(true);
  });
});

describe('PV1-3 bed given as HD subcomponents (review rv126 M1)', () => {
  const withPv1 = (pv1: string | undefined) =>
    `MSH|^~\\&|MON|WARD|||20240101120000+0000||ORU^R01|C1|P|2.6\rPID|||P1\r${pv1 === undefined ? '' : `PV1||I|${pv1}\r`}OBR|1|||x|||20240101120000+0000\r` +
    'OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r';
  const bedOf = (pv1: string | undefined) => numerics(mapText(withPv1(pv1)))[0]?.bed;

  it('the bed the message gives in a subcomponent (^^&24, as the Comen NC5 sends it) is that bed, keyed as ^^24 is', () => {
    expect(bedOf('^^&24')).toBe('//24');
    expect(bedOf('^^24')).toBe('//24');
    expect(numerics(mapText(nc5({ serial: 'KC575235977G' })))[0]?.bed).toBe('//24');
    // Each component: its namespace, else its universal id.
    expect(bedOf('ICU&1.2.3&ISO^&12^&A')).toBe('ICU/12/A');
    expect(bedOf('ICU^5')).toBe('ICU/5');
  });

  it('a PV1-3 that names no point of care, room or bed is counted and said once per sender; an absent one is not', () => {
    const r = mapText(withPv1('^^^HOSP'));
    expect(numerics(r)[0]?.bed).toBeUndefined();
    expect(r.notices.find((n) => n.counter === 'bed_unreadable')).toMatchObject({ by: 1, oncePerSender: true });
    expect(counters(mapText(withPv1(undefined)))).not.toContain('bed_unreadable');
    expect(counters(mapText(withPv1('')))).not.toContain('bed_unreadable');
    expect(counters(mapText(withPv1('""')))).not.toContain('bed_unreadable'); // HL7 null: no location, said so
    // Counted per PV1 that gives none, in one notice per message.
    const two = mapText(withPv1('^^^HOSP').replace('PV1||I|^^^HOSP\r', 'PV1||I|^^^HOSP\rPV1||I|&&ISO\r'));
    expect(two.notices.filter((n) => n.counter === 'bed_unreadable').map((n) => n.by)).toEqual([2]);
    expect(counters(mapText(withPv1('ICU^1^A')))).not.toContain('bed_unreadable');
  });
});

describe('one-level OBX-4 rows, each with its own OBX-18 (review rv126 M5)', () => {
  const head = 'MSH|^~\\&|GW|WARD|||20240101120000+0000||ORU^R01^ORU_R01|F1|P|2.6\rPID|||123^^^^MR\rPV1||I|ICU^1^A\rOBR|1|||x|||20240101120000+0000\r';
  const row = (n: number, code: string, v: string, eq: string) => `OBX|${n}|NM|${code}|1|${v}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F|||||||${eq}\r`;

  it('each row keeps its own device: a metric sibling at the same node is not the MDS', () => {
    const r = mapText(
      head +
        row(1, '147842^MDC_ECG_HEART_RATE^MDC', '72', 'MONITOR-A^EUI-64') +
        row(2, '150456^MDC_PULS_OXIM_SAT_O2^MDC', '97', 'OXIMETER-B^EUI-64') +
        row(3, '151562^MDC_RESP_RATE^MDC', '14', 'VENT-C^EUI-64'),
    );
    expect(numerics(r).map((e) => e.deviceId)).toEqual(['MONITOR-A', 'OXIMETER-B', 'VENT-C']);
  });

  it("a row at that node without OBX-18 still takes its sibling's, and a real MDS header row still wins below it", () => {
    const r = mapText(head + row(1, '147842^MDC_ECG_HEART_RATE^MDC', '72', 'MONITOR-A^EUI-64') + row(2, '150456^MDC_PULS_OXIM_SAT_O2^MDC', '97', ''));
    expect(numerics(r).map((e) => e.deviceId)).toEqual(['MONITOR-A', 'MONITOR-A']);
    const mds = 'OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||AAAAAAAAAAAAAAAA^^^EUI-64\r';
    const below = 'OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F|||||||BBBBBBBBBBBBBBBB^^^EUI-64\r';
    expect(numerics(mapText(head + mds + below)).map((e) => e.deviceId)).toEqual(['AAAAAAAAAAAAAAAA']);
  });
});

describe('OBX-7 reference range sent as components (review rv126 L2)', () => {
  it('90^160 is kept whole, as the lower-upper text HL7 gives it (90-160); a range sent as text is unchanged', () => {
    // A lab sender (corpus simple-hl7_3) leads with the text form and repeats the bounds: the text form is the range.
    expect(numerics(mapText(nc5({ serial: 'X' }).replace('90^160', '35-150^35^150')))[0]?.context.referenceRange).toBe('35-150');
    expect(numerics(mapText(nc5({ serial: 'X' }).replace('90^160', '>40^>40')))[0]?.context.referenceRange).toBe('>40');
    const [sys, spo2] = numerics(mapText(nc5({ serial: 'KC575235977G' })));
    expect(sys?.context.referenceRange).toBe('90-160');
    expect(spo2?.context.referenceRange).toBe('85-100');
    const text = mapText(nc5({ serial: 'X' }).replace('90^160', '90-160'));
    expect(numerics(text)[0]?.context.referenceRange).toBe('90-160');
    // Other shapes are kept as sent rather than guessed at.
    expect(numerics(mapText(nc5({ serial: 'X' }).replace('90^160', '^160')))[0]?.context.referenceRange).toBe('^160');
  });
});

describe('over MLLP: NC5 monitors that name themselves only in MSH-4 (review rv126 H1)', () => {
  let driver: Hl7MllpDriver | undefined;
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await driver?.stop();
    driver = undefined;
  });

  const fakeCtx = () => {
    const logs: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
    const emitted: DriverEvent[] = [];
    const counts = new Map<string, number>();
    const ctx: DriverContext = {
      name: 'icu-mllp',
      log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
      emit: async (events) => void emitted.push(...events),
      count: (name, by = 1) => void counts.set(name, (counts.get(name) ?? 0) + by),
    };
    return { ctx, logs, emitted, counts };
  };
  /** Sends each message on its own connection (from `localAddress`, a loopback address) and waits for its ACK. */
  const send = async (port: number, text: string, localAddress = '127.0.0.1'): Promise<string> => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    sockets.push(s);
    const framer = new MllpFramer(1 << 20);
    return new Promise((resolve, reject) => {
      s.on('error', reject);
      s.on('data', (d) => {
        for (const e of framer.push(d)) if (e.type === 'frame') resolve(e.payload.toString('latin1'));
      });
      s.on('connect', () => s.write(frame(text)));
    });
  };

  it('two monitors are two devices in events and health; the fallback is counted per message and logged once per sender', async () => {
    const { ctx, logs, emitted, counts } = fakeCtx();
    driver = createHl7MllpDriver({ host: '127.0.0.1', port: 0, noSenderAfterS: 0 }, ctx);
    await driver.start();
    const port = driver.address()!.port;
    const a = (id: string) => nc5({ serial: 'KC575235977G', bed: '24', mrn: 'MRN12123', id });
    const b = (id: string) => nc5({ serial: 'KC575239999X', bed: '25', mrn: 'MRN77777', id, spo2: '82' });
    for (const text of [a('A1'), b('B1'), a('A2'), b('B2')]) expect(await send(port, text)).toMatch(/MSA\|AA\|/);
    const spo2 = emitted.filter((e): e is NumericReading => e.kind === 'numeric' && e.mdc?.code === 150456);
    expect(spo2.map((e) => [e.deviceId, e.bed, e.value])).toEqual([
      ['KC575235977G', '//24', 98],
      ['KC575239999X', '//25', 82],
      ['KC575235977G', '//24', 98],
      ['KC575239999X', '//25', 82],
    ]);
    expect(Object.keys(driver.health().devices ?? {}).sort()).toEqual(['KC575235977G', 'KC575239999X']);
    expect(counts.get('device_id_from_msh4')).toBe(4);
    expect(logs.filter((l) => l.counter === 'device_id_from_msh4').map((l) => l.sender)).toEqual(['|KC575235977G', '|KC575239999X']);
  });

  it('a message with no MSH-3, MSH-4 nor OBX-18 takes the sender address as its device, counted, logged once per address', async () => {
    const { ctx, logs, emitted, counts } = fakeCtx();
    driver = createHl7MllpDriver({ host: '127.0.0.1', port: 0, noSenderAfterS: 0 }, ctx);
    await driver.start();
    const port = driver.address()!.port;
    expect(await send(port, nc5({ serial: '', id: 'N1' }))).toMatch(/MSA\|AA\|/);
    expect(await send(port, nc5({ serial: '', id: 'N2' }))).toMatch(/MSA\|AA\|/);
    // Another monitor, at another address: another device, and its own log line.
    expect(await send(port, nc5({ serial: '', id: 'N3', bed: '25' }), '127.0.0.2')).toMatch(/MSA\|AA\|/);
    expect(emitted.map((e) => e.deviceId)).toEqual(['peer:127.0.0.1', 'peer:127.0.0.1', 'peer:127.0.0.1', 'peer:127.0.0.1', 'peer:127.0.0.2', 'peer:127.0.0.2']);
    expect(Object.keys(driver.health().devices ?? {}).sort()).toEqual(['peer:127.0.0.1', 'peer:127.0.0.2']);
    expect(counts.get('device_id_from_peer')).toBe(3);
    const lines = logs.filter((l) => l.counter === 'device_id_from_peer');
    expect(lines.map((l) => String(l.peer).replace(/:\d+$/, ''))).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(lines[0]?.msg).toMatch(/network address, 'peer:127\.0\.0\.1'/);
  });
});
