// Shared by the IntelliVue tests: a pty pair at stable paths, the simulator (monitor) on one end,
// the driver (host) on the other, with the real serialport on both; and a link in memory on which a test plays the
// monitor with hand-made frames.
import { SerialPortLink } from '../serial/serialport-link.js';
import { deviceRig, fakeContext, MemoryLink, waitFor, type DeviceRig, type FakeContext } from '../serial/testing.js';
import { DIM_CODES, NOM } from './codes.js';
import { IntellivueDriver } from './index.js';
import { alarmListValue, IntellivueSimulator, type AlarmEntry, type SimulatorOptions } from './simulator.js';
import { buildPlan, type IntellivueOptions } from './options.js';
import {
  ALERT_INFO, ATTR, IntellivueFramer, MDS_OBJECT, MOC, NOM_PART_OBJ, POLL_EXT_PERIOD_NU_1SEC, POLL_EXT_PERIOD_RTSA, TICKS_PER_MS, Writer,
  encodeAbsoluteTime, encodeAssociationAccept, encodeFloat, encodeMdsCreateEvent, encodeMessageFrame, encodePollResult, epochToAbsoluteTime,
  parseMessage, parseTransportHeader,
  type AssociationParams, type LinkedId, type Message,
} from './protocol/index.js';

export type Rig = DeviceRig<IntellivueSimulator>;

const LINE = { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1, flowControl: 'none' } as const;

export function rig(simOpts: SimulatorOptions = {}): Promise<Rig> {
  return deviceRig('intellivue', async (devicePath) => {
    const s = new IntellivueSimulator(new SerialPortLink({ path: devicePath, ...LINE }), { clockOffsetMs: 3000, ...simOpts });
    await s.start();
    return s;
  });
}

/** Fast timings so a test sees several poll cycles in well under a second. */
export function fastOptions(path: string, extra: Partial<IntellivueOptions> = {}): IntellivueOptions {
  return {
    id: 'mx800-1',
    bed: 'ICU-7',
    path,
    pollIntervalMs: 200,
    waves: { enabled: true, requestPeriodMs: 1000 },
    maxMtu: 600,
    associationTimeoutMs: 500,
    refusedRetryMs: 300,
    reassociateDelayMs: 100,
    quietReassociateMs: 800,
    silenceMs: 2000,
    backoff: { initialMs: 50, maxMs: 200 },
    monitorUtcOffsetMinutes: 0,
    ...extra,
  };
}

/**
 * A link in memory, for tests that play the monitor with hand-made frames: what the driver writes is decoded into
 * `sent`; `rx` delivers the monitor's user data framed.
 */
export class MemLink extends MemoryLink {
  readonly sent: Message[] = [];
  private readonly framer = new IntellivueFramer();

  constructor() {
    super('mem');
    this.writeHook = (b) => {
      for (const ev of this.framer.push(b)) if (ev.type === 'frame') this.sent.push(parseMessage(parseTransportHeader(ev.body)));
    };
  }

  rx(userData: Buffer): void {
    this.rxRaw(encodeMessageFrame(userData));
  }

  rxRaw(bytes: Buffer): void {
    this.arrive(bytes);
  }

  /** Poll requests sent, optionally of one object type (a MOC code). */
  polls(objCode?: number): Array<Extract<Message, { kind: 'poll-request' }>> {
    return this.sent.filter((m): m is Extract<Message, { kind: 'poll-request' }> => m.kind === 'poll-request' && (objCode === undefined || m.objType.code === objCode));
  }

  /** The invoke id of the last poll of this object type. */
  lastPoll(objCode: number): number {
    const p = this.polls(objCode).at(-1);
    if (!p) throw new Error(`no poll of object type ${objCode} sent`);
    return p.invokeId;
  }
}

/** The monitor's accept granting what fastOptions asks for: its 200 ms minimum poll period, waves and 1-s numerics. */
export const ACCEPT_ALL: AssociationParams = {
  minPollPeriodTicks: 200 * TICKS_PER_MS,
  maxMtuRx: 1000,
  maxMtuTx: 1000,
  extOptions: POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA,
  systemType: 0x00800000,
  startupMode: 0x20000000,
};

/** The monitor's MDS Create event, its clock on UTC (fastOptions' monitorUtcOffsetMinutes 0) at relative time 8000. */
export function mdsCreate(now = Date.now()): Buffer {
  return encodeMdsCreateEvent(1, 8000, MDS_OBJECT, [
    { id: ATTR.TIME_ABS, value: encodeAbsoluteTime(epochToAbsoluteTime(now, 0)) },
    { id: ATTR.TIME_REL, value: new Writer().u32(8000).toBuffer() },
  ]);
}

export type TestAlarm = AlarmEntry;
export { alarmListValue };

type Obs = { handle: number; attributes: Array<{ id: number; value: Uint8Array }> };

/** The alarm monitor object with its P and T lists (a Buffer given as it is, e.g. malformed). */
export function alarmMonitor(p: TestAlarm[] | Buffer, t: TestAlarm[] | Buffer = []): Obs {
  const v = (x: TestAlarm[] | Buffer) => (Buffer.isBuffer(x) ? x : alarmListValue(x));
  return { handle: 1, attributes: [{ id: ATTR.AL_MON_P_AL_LIST, value: v(p) }, { id: ATTR.AL_MON_T_AL_LIST, value: v(t) }] };
}

/** A numeric observation (unit /min). */
export function numericObs(handle: number, physioId: number, value: number): Obs {
  return { handle, attributes: [{ id: ATTR.NU_VAL_OBS, value: new Writer().u16(physioId).u16(0).u16(0x0aa0).u32(encodeFloat(value)).toBuffer() }] };
}

/**
 * A real-time ECG II wave observation as the simulator sends it (static attributes with the samples): `n` samples at
 * 500 Hz (2 ms, 16 ticks), scaled -2.048..2.047 mV over 0..4095, each `raw`.
 */
export function ecgWaveObs(n: number, raw = 2048, handle = 0x0101): Obs {
  const u16 = (v: number) => new Writer().u16(v).toBuffer();
  const samples = new Writer();
  for (let i = 0; i < n; i++) samples.u16(raw);
  const sa = samples.toBuffer();
  return {
    handle,
    attributes: [
      { id: ATTR.SA_SPECN, value: new Writer().u16(n).u8(16).u8(12).u16(0x1000).toBuffer() },
      { id: ATTR.SCALE_SPECN_I16, value: new Writer().u32(encodeFloat(-2.048, 3)).u32(encodeFloat(2.047, 3)).u16(0).u16(4095).toBuffer() },
      { id: ATTR.TIME_PD_SAMP, value: new Writer().u32(16).toBuffer() },
      { id: ATTR.UNIT_CODE, value: u16(DIM_CODES.MILLI_VOLT) },
      { id: ATTR.SA_VAL_OBS, value: new Writer().u16(NOM.ECG_ELEC_POTL_II).u16(0).u16(sa.length).raw(sa).toBuffer() },
    ],
  };
}

/** A single-poll result (or one linked part) of an object type, its observations in naming context 0 unless `contexts` says. */
export function pollResult(
  invokeId: number,
  objCode: number,
  observations: Obs[],
  o: { linked?: LinkedId | null; contexts?: Array<{ contextId: number; observations: Obs[] }>; relTime?: number; now?: number } = {},
): Buffer {
  return encodePollResult({
    invokeId,
    extended: false,
    linked: o.linked ?? null,
    reply: {
      pollNumber: 1,
      sequenceNo: null,
      relTime: o.relTime ?? 16000,
      absTime: epochToAbsoluteTime(o.now ?? Date.now(), 0),
      objType: { partition: NOM_PART_OBJ, code: objCode },
      attrGroup: 0,
      contexts: o.contexts ?? [{ contextId: 0, observations }],
    },
  });
}

/**
 * A driver (fastOptions, waves off unless `extra` says) on a MemLink; associated and polling unless `accept` is null.
 * `now` is the driver's wall clock, `mono` its monotonic clock (the alarm-list timing).
 */
export async function memDriver(
  extra: Partial<IntellivueOptions> = {},
  accept: AssociationParams | null = ACCEPT_ALL,
  now: () => number = Date.now,
  mono: () => number = () => performance.now(),
): Promise<{ link: MemLink; ctx: FakeContext; driver: IntellivueDriver }> {
  const link = new MemLink();
  const ctx = fakeContext('mem');
  const driver = new IntellivueDriver(buildPlan(fastOptions('/dev/null', { waves: { enabled: false }, ...extra })), ctx, () => link, now, mono);
  await driver.start();
  await waitFor('association request', () => link.sent.some((m) => m.kind === 'association'));
  if (accept) {
    link.rx(encodeAssociationAccept(accept));
    link.rx(mdsCreate());
    await waitFor('polling', () => driver.sessionState === 'polling' && link.polls().length > 0);
  }
  return { link, ctx, driver };
}
