// An IntelliVue monitor simulator: the monitor side of the Data Export protocol over MIB/RS-232 on a
// SerialLink (normally one end of a pty pair). Answers the association (or refuses it), sends the
// MDS Create event, answers single and extended polls for numerics, waves and the alarm monitor,
// splitting big answers into linked results when they exceed the negotiated MTU. Faults can be
// injected for tests: refusals, corrupt FCS, aborted frames, silence, a restart, a poll dropped or answered late.
//
//   npx tsx drivers/intellivue/simulator.ts /dev/pts/7      (run against a port by hand)
import { pathToFileURL } from 'node:url';
import { SerialPortLink } from '../serial/serialport-link.js';
import type { SerialLink } from '../serial/link.js';
import { DIM_CODES, NOM } from './codes.js';
import {
  ALERT_INFO, ALERT_TYPE, ATTR, IntellivueFramer, IntellivueParseError, MOC, MSMT, NOM_PART_OBJ, NOM_PART_SCADA, NOM_PART_SETTINGS, POLL_EXT_PERIOD_NU_1SEC,
  POLL_EXT_PERIOD_RTSA, RORLS, TICKS_PER_MS,
  encodeAbort, encodeAbsoluteTime, encodeAssociationAccept, encodeAssociationRefuse, encodeFloat, encodeMdsCreateEvent, encodeMessageFrame,
  encodePollResult, encodeReleaseResponse, epochToAbsoluteTime, parseMessage, parseTransportHeader, Writer,
  type Message, type PollProfile, type PollReply,
} from './protocol/index.js';

/** One entry of a DevAlarmList as the simulator (and tests) write it. */
export interface AlarmEntry {
  source: number;
  code: number;
  type: number;
  /** AlertState bits (0: none). */
  state?: number;
  text: string;
  instance?: number;
}

/** A DevAlarmList attribute value: each entry with its alarm text as an AlMonGenInfo string. */
export function alarmListValue(items: readonly AlarmEntry[]): Buffer {
  const w = new Writer().u16(items.length);
  const len = w.lengthU16();
  for (const a of items) {
    w.u16(a.source).u16(a.code).u16(a.type).u16(a.state ?? 0).u16(MOC.VMO_METRIC_NU).u16(0).u16(0x0010).u16(ALERT_INFO.STR_ALMON_INFO);
    const infoLen = w.lengthU16();
    const text = Buffer.from(a.text, 'utf16le').swap16();
    w.u16(a.instance ?? 0).u32(0).u16(0).u16(0).u16(text.length + 2).raw(text).u16(0);
    infoLen();
  }
  len();
  return w.toBuffer();
}

export interface SimAlarm {
  list: 'P' | 'T';
  source: number;
  code: number;
  type: number;
  text: string;
  instance?: number;
}

export interface SimulatorOptions {
  /** Largest command we send (the host may ask for less in its association request). */
  mtu?: number;
  /** How far the monitor's wall clock is ahead of real time. */
  clockOffsetMs?: number;
  /** Zone of the monitor's wall clock, minutes ahead of UTC (default 0). */
  utcOffsetMinutes?: number;
  /** Mark every value as demo data (MeasurementState DEMO_DATA). */
  demo?: boolean;
  /** Period of extended-poll wave answers (the monitor uses 256 ms). */
  wavePeriodMs?: number;
  /** Period of extended-poll numerics answers (1000 ms, as the host asks for; shorter only to make tests quick). */
  numericsPeriodMs?: number;
  /** The monitor's own minimum poll period: its accept grants the host's, or this when longer (default: the host's). */
  minPollPeriodMs?: number;
  /** Poll profile extension options the monitor supports (default 1-s numerics and waves): its accept grants those the host asked for. */
  extOptions?: number;
}

type Attr = { id: number; value: Uint8Array };
type Obs = { handle: number; attributes: Attr[] };

const u16 = (v: number) => new Writer().u16(v).toBuffer();
const u32 = (v: number) => new Writer().u32(v).toBuffer();

function nuObs(physioId: number, unit: number, value: number, decimals: number, state = 0): Buffer {
  return new Writer().u16(physioId).u16(state).u16(unit).u32(encodeFloat(value, decimals)).toBuffer();
}

function compound(values: Buffer[]): Buffer {
  const w = new Writer().u16(values.length);
  const len = w.lengthU16();
  for (const v of values) w.raw(v);
  len();
  return w.toBuffer();
}

interface WaveDef {
  handle: number;
  physioId: number;
  unit: number;
  periodTicks: number;
  /** Absolute value range ↔ scaled range; null absolute = no absolute meaning (NaN). */
  lowerAbs: number | null;
  upperAbs: number | null;
  scaledMax: number;
  fn: (t: number) => number; // absolute value (or scaled value when no absolute range)
}

const WAVES: WaveDef[] = [
  { handle: 0x0101, physioId: NOM.ECG_ELEC_POTL_II, unit: DIM_CODES.MILLI_VOLT, periodTicks: 16, lowerAbs: -2.048, upperAbs: 2.047, scaledMax: 4095, fn: (t) => (t % 800 < 40 ? 1.2 : 0.05 * Math.sin(t / 100)) },
  { handle: 0x0102, physioId: NOM.PLETH, unit: DIM_CODES.DIMLESS, periodTicks: 64, lowerAbs: null, upperAbs: null, scaledMax: 4095, fn: (t) => Math.round(2000 + 1500 * Math.sin((2 * Math.PI * t) / 800)) },
  { handle: 0x0103, physioId: NOM.ABP, unit: DIM_CODES.MMHG, periodTicks: 64, lowerAbs: -40, upperAbs: 360, scaledMax: 4000, fn: (t) => 93 + 27 * Math.sin((2 * Math.PI * t) / 800) },
  { handle: 0x0104, physioId: NOM.AWAY_CO2, unit: DIM_CODES.MMHG, periodTicks: 128, lowerAbs: 0, upperAbs: 100, scaledMax: 1000, fn: (t) => (t % 3750 < 1800 ? 0.5 : 38) },
];

export class IntellivueSimulator {
  private readonly framer = new IntellivueFramer();
  private associated = false;
  private operating = false;
  private mtu: number;
  private relOrigin = Date.now() - 1000;
  private invokeId = 0x1000;
  private tick = 0;
  private timers = new Set<NodeJS.Timeout>();
  private waveTimer: NodeJS.Timeout | undefined;
  private downUntil = 0;
  private corrupt = 0;
  private aborted = 0;
  private refuse = 0;
  /** Object type (MOC code) → poll requests still to drop / to answer late (dropNextPoll, holdNextPoll). */
  private readonly dropPolls = new Map<number, number>();
  private readonly holdPolls = new Map<number, number>();
  private readonly held = new Map<number, Extract<Message, { kind: 'poll-request' }>>();
  /** Every message kind received from the host, in order (for assertions). */
  readonly received: string[] = [];
  readonly alarms: SimAlarm[] = [];
  /** When true the monitor ignores everything (switched off, cable pulled at its end). */
  mute = false;
  /** Linked-result messages sent (tests check the path was exercised). */
  linkedSent = 0;
  /**
   * Answers to extended numerics polls: all, and those to a poll a newer one has replaced (this monitor keeps an old
   * numerics poll running until its period ends, unlike its wave polls: which a real monitor does is not known).
   */
  numericsAnswersSent = 0;
  numericsAnswersFromOlderPolls = 0;
  private latestNumericsPoll: number | undefined;
  fcsErrorsSeen = 0;

  /** How far the monitor's wall clock is ahead of real time (opts.clockOffsetMs, or as set since). */
  private clockOffsetMs: number;

  constructor(
    readonly link: SerialLink,
    private readonly opts: SimulatorOptions = {},
  ) {
    this.mtu = opts.mtu ?? 1000;
    this.clockOffsetMs = opts.clockOffsetMs ?? 0;
    link.onData((b) => this.receive(b));
  }

  async start(): Promise<void> {
    await this.link.open();
  }

  async stop(): Promise<void> {
    this.reset();
    await this.link.close();
  }

  setAlarms(list: SimAlarm[]): void {
    this.alarms.splice(0, this.alarms.length, ...list);
  }

  /** The monitor's wall clock set (a nurse or biomed sets the time): from now on it runs offsetMs ahead of real time. */
  setClockOffset(offsetMs: number): void {
    this.clockOffsetMs = offsetMs;
  }

  /** The next n frames we send get a wrong FCS. */
  corruptNext(n: number): void {
    this.corrupt += n;
  }

  /** The next n frames are preceded by a frame we abort (7D C1) half-way. */
  abortNext(n: number): void {
    this.aborted += n;
  }

  /** Refuse the next n association requests. */
  refuseNext(n: number): void {
    this.refuse += n;
  }

  /**
   * The next n poll requests for this object type (a MOC code, e.g. MOC.VMO_METRIC_NU) are received and ignored, as a
   * monitor drops a poll over its rate limit. They show in `received` with " dropped" after the usual entry.
   */
  dropNextPoll(objCode: number, n = 1): void {
    this.dropPolls.set(objCode, (this.dropPolls.get(objCode) ?? 0) + n);
  }

  /**
   * The next poll request for this object type is answered late: only when the next request of that type arrives,
   * just before that one is answered. It shows in `received` with " held" after the usual entry.
   */
  holdNextPoll(objCode: number): void {
    this.holdPolls.set(objCode, (this.holdPolls.get(objCode) ?? 0) + 1);
  }

  /** A monitor restart: association gone, deaf for downMs, relative time starts again. */
  restart(downMs: number, sendAbort = false): void {
    if (sendAbort) void this.write(encodeAbort());
    this.reset();
    this.downUntil = Date.now() + downMs;
    this.relOrigin = Date.now();
  }

  private reset(): void {
    this.associated = false;
    this.operating = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.waveTimer = undefined;
    this.held.clear();
  }

  /** One of the faults counted in `m` for this object type is due: take it. */
  private take(m: Map<number, number>, code: number): boolean {
    const n = m.get(code) ?? 0;
    if (n <= 0) return false;
    m.set(code, n - 1);
    return true;
  }

  private later(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  // ---- time ----

  relTime(): number {
    return Math.round((Date.now() - this.relOrigin) * TICKS_PER_MS) >>> 0;
  }

  private absTime() {
    return epochToAbsoluteTime(Date.now() + this.clockOffsetMs, this.opts.utcOffsetMinutes ?? 0);
  }

  // ---- receiving ----

  private receive(chunk: Buffer): void {
    if (this.mute || Date.now() < this.downUntil) return;
    for (const ev of this.framer.push(chunk)) {
      if (ev.type === 'bad-frame' && ev.reason === 'fcs') this.fcsErrorsSeen++;
      if (ev.type !== 'frame') continue;
      let msg: Message;
      try {
        msg = parseMessage(parseTransportHeader(ev.body));
      } catch (err) {
        if (err instanceof IntellivueParseError) continue;
        throw err;
      }
      this.handle(msg);
    }
  }

  private handle(msg: Message): void {
    switch (msg.kind) {
      case 'association':
        this.received.push(`assoc-${msg.spdu}`);
        if (msg.spdu === 'request') return this.associationRequest(msg.userInfo?.pollProfile ?? null);
        if (msg.spdu === 'release-request') {
          void this.write(encodeReleaseResponse());
          this.reset();
        }
        if (msg.spdu === 'abort') this.reset();
        return;
      case 'event-result':
        this.received.push('mds-create-result');
        if (this.associated) this.operating = true;
        return;
      case 'poll-request': {
        const code = msg.objType.code;
        const what = `${msg.extended ? 'ext-poll' : 'poll'}:${code}`;
        if (!this.operating) {
          this.received.push(what);
          return;
        }
        if (this.take(this.dropPolls, code)) {
          this.received.push(`${what} dropped`);
          return;
        }
        if (this.take(this.holdPolls, code)) {
          this.received.push(`${what} held`);
          this.held.set(code, msg);
          return;
        }
        this.received.push(what);
        const late = this.held.get(code);
        if (late) {
          this.held.delete(code);
          this.poll(late);
        }
        return this.poll(msg);
      }
      default:
        this.received.push(msg.kind);
    }
  }

  private associationRequest(host: PollProfile | null): void {
    this.reset();
    if (this.refuse > 0) {
      this.refuse--;
      void this.write(encodeAssociationRefuse());
      return;
    }
    if (host?.maxMtuRx) this.mtu = Math.min(this.opts.mtu ?? 1000, host.maxMtuRx);
    this.associated = true;
    // The poll profile answered: the host's minimum poll period unless ours is longer, the options asked for that we support.
    const minPollPeriodTicks = Math.max(host?.minPollPeriodTicks ?? 8000, (this.opts.minPollPeriodMs ?? 0) * TICKS_PER_MS);
    const extOptions = (host?.extOptions ?? POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA) & (this.opts.extOptions ?? POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA);
    void this.write(encodeAssociationAccept({ minPollPeriodTicks, maxMtuRx: this.mtu, maxMtuTx: this.mtu, extOptions: extOptions >>> 0, systemType: 0x00800000, startupMode: 0x20000000 }));
    this.later(() => {
      const attrs: Attr[] = [
        { id: ATTR.TIME_ABS, value: encodeAbsoluteTime(this.absTime()) },
        { id: ATTR.TIME_REL, value: u32(this.relTime()) },
      ];
      void this.write(encodeMdsCreateEvent(++this.invokeId & 0xffff, this.relTime(), { objClass: MOC.VMS_MDS, contextId: 0, handle: 0 }, attrs));
    }, 20);
  }

  private poll(req: Extract<Message, { kind: 'poll-request' }>): void {
    const code = req.objType.code;
    const answer = (seq: number | null) => {
      const obs = code === MOC.VMO_METRIC_NU ? this.numerics() : code === MOC.VMO_AL_MON ? this.alarmMonitor() : code === MOC.VMO_METRIC_SA_RT ? this.waves() : [];
      this.sendReply(req.invokeId, req.extended, { pollNumber: req.pollNumber, sequenceNo: seq, relTime: this.relTime(), absTime: this.absTime(), objType: req.objType, attrGroup: req.attrGroup }, obs);
    };
    if (!req.extended) {
      answer(null);
      return;
    }
    const pd = req.extAttributes.find((a) => a.id === ATTR.TIME_PD_POLL);
    const periodMs = pd && pd.value.length >= 4 ? pd.value.readUInt32BE(0) / TICKS_PER_MS : 0;
    const every = code === MOC.VMO_METRIC_SA_RT ? (this.opts.wavePeriodMs ?? 256) : (this.opts.numericsPeriodMs ?? 1000);
    if (code === MOC.VMO_METRIC_NU) this.latestNumericsPoll = req.invokeId;
    const until = Date.now() + periodMs;
    let seq = 0;
    if (code === MOC.VMO_METRIC_SA_RT && this.waveTimer) {
      clearTimeout(this.waveTimer);
      this.timers.delete(this.waveTimer);
    }
    const periodic = () => {
      if (!this.operating) return;
      if (code === MOC.VMO_METRIC_NU) {
        this.numericsAnswersSent++;
        if (req.invokeId !== this.latestNumericsPoll) this.numericsAnswersFromOlderPolls++;
      }
      answer(seq++);
      if (Date.now() + every <= until) {
        const t = this.later(periodic, every);
        if (code === MOC.VMO_METRIC_SA_RT) this.waveTimer = t;
      }
    };
    periodic();
  }

  /** One reply, or linked results when it would exceed the MTU. */
  private sendReply(invokeId: number, extended: boolean, head: Omit<PollReply, 'contexts'>, obs: Obs[]): void {
    const build = (part: Obs[], linked: { state: number; count: number } | null) =>
      encodePollResult({ invokeId, extended, linked, reply: { ...head, contexts: [{ contextId: 0, observations: part }] } });
    const parts: Obs[][] = [];
    let cur: Obs[] = [];
    for (const o of obs) {
      cur.push(o);
      // Command size = everything after the remote-operation header (what the MTU limits).
      if (build(cur, null).length - 10 > this.mtu && cur.length > 1) {
        cur.pop();
        parts.push(cur);
        cur = [o];
      }
    }
    parts.push(cur);
    if (parts.length === 1) {
      void this.write(build(parts[0] as Obs[], null));
      return;
    }
    parts.forEach((p, i) => {
      const state = i === 0 ? RORLS.FIRST : i === parts.length - 1 ? RORLS.LAST : RORLS.NOT_FIRST_NOT_LAST;
      this.linkedSent++;
      void this.write(build(p, { state, count: i + 1 }));
    });
  }

  // ---- content ----

  private state(): number {
    return this.opts.demo ? MSMT.DEMO_DATA : 0;
  }

  private numerics(): Obs[] {
    const t = this.tick++;
    const s = this.state();
    const typeAttr = (code: number) => ({ id: ATTR.ID_TYPE, value: new Writer().u16(NOM_PART_SCADA).u16(code).toBuffer() });
    const nibpTime = encodeAbsoluteTime(epochToAbsoluteTime(Date.now() + this.clockOffsetMs - 60000, this.opts.utcOffsetMinutes ?? 0));
    return [
      { handle: 0x0010, attributes: [typeAttr(NOM.ECG_CARD_BEAT_RATE), { id: ATTR.NU_VAL_OBS, value: nuObs(NOM.ECG_CARD_BEAT_RATE, DIM_CODES.BEAT_PER_MIN, 72 + (t % 5), 0, s) }] },
      { handle: 0x0011, attributes: [{ id: ATTR.NU_VAL_OBS, value: nuObs(NOM.PULS_OXIM_SAT_O2, DIM_CODES.PERCENT, 97, 0, s) }] },
      { handle: 0x0012, attributes: [{ id: ATTR.NU_VAL_OBS, value: nuObs(NOM.PLETH_PULS_RATE, DIM_CODES.BEAT_PER_MIN, 71, 0, s) }] },
      { handle: 0x0013, attributes: [{ id: ATTR.NU_VAL_OBS, value: nuObs(NOM.RESP_RATE, DIM_CODES.RESP_PER_MIN, 16, 0, s) }] },
      {
        handle: 0x0014,
        attributes: [
          { id: ATTR.NU_CMPD_VAL_OBS, value: compound([nuObs(NOM.NIBP_SYS, DIM_CODES.MMHG, 120, 0, s), nuObs(NOM.NIBP_DIA, DIM_CODES.MMHG, 80, 0, s), nuObs(NOM.NIBP_MEAN, DIM_CODES.MMHG, 93, 0, s)]) },
          { id: ATTR.TIME_STAMP_ABS, value: nibpTime },
        ],
      },
      {
        handle: 0x0015,
        attributes: [{ id: ATTR.NU_CMPD_VAL_OBS, value: compound([nuObs(NOM.ABP_SYS, DIM_CODES.MMHG, 118, 0, s), nuObs(NOM.ABP_DIA, DIM_CODES.MMHG, 76, 0, s), nuObs(NOM.ABP_MEAN, DIM_CODES.MMHG, 90, 0, s)]) }],
      },
      { handle: 0x0016, attributes: [{ id: ATTR.NU_VAL_OBS, value: nuObs(NOM.TEMP, DIM_CODES.DEGC, 36.7, 1, s) }] },
      { handle: 0x0017, attributes: [{ id: ATTR.NU_VAL_OBS, value: nuObs(NOM.AWAY_CO2_ET, DIM_CODES.MMHG, 38, 0, s) }] },
      // A code outside our table (kept raw) and a value the monitor cannot derive (NaN, unavailable).
      { handle: 0x0018, attributes: [{ id: ATTR.NU_VAL_OBS, value: nuObs(0x5c00, DIM_CODES.DIMLESS, 3, 0, s) }] },
      { handle: 0x0019, attributes: [{ id: ATTR.NU_VAL_OBS, value: new Writer().u16(19316).u16(MSMT.UNAVAILABLE | s).u16(DIM_CODES.DEGC).u32(0x007fffff).toBuffer() }] },
      // A ventilator setting (sAWRR): the measured airway RR's code, told apart only by the settings partition in TYPE.
      {
        handle: 0x001a,
        attributes: [
          { id: ATTR.ID_TYPE, value: new Writer().u16(NOM_PART_SETTINGS).u16(NOM.AWAY_RESP_RATE).toBuffer() },
          { id: ATTR.NU_VAL_OBS, value: nuObs(NOM.AWAY_RESP_RATE, DIM_CODES.RESP_PER_MIN, 14, 0, s) },
        ],
      },
    ];
  }

  private alarmMonitor(): Obs[] {
    const list = (which: 'P' | 'T') => alarmListValue(this.alarms.filter((a) => a.list === which));
    return [{ handle: 0x0001, attributes: [{ id: ATTR.DEV_AL_COND, value: new Writer().u16(0).u16(1).u16(0).u16(0).u16(0).toBuffer() }, { id: ATTR.AL_MON_P_AL_LIST, value: list('P') }, { id: ATTR.AL_MON_T_AL_LIST, value: list('T') }] }];
  }

  private waves(): Obs[] {
    const nowMs = Date.now();
    const windowMs = this.opts.wavePeriodMs ?? 256;
    return WAVES.map((w) => {
      const periodMs = w.periodTicks / TICKS_PER_MS;
      const n = Math.round(windowMs / periodMs);
      const samples = new Writer();
      for (let i = 0; i < n; i++) {
        const v = w.fn(nowMs - (n - i) * periodMs);
        const scaled = w.lowerAbs === null || w.upperAbs === null ? v : Math.round(((v - w.lowerAbs) * w.scaledMax) / (w.upperAbs - w.lowerAbs));
        samples.u16(Math.max(0, Math.min(w.scaledMax, scaled)));
      }
      const sa = samples.toBuffer();
      const spec = new Writer().u16(n).u8(16).u8(w.scaledMax > 4095 ? 14 : 12).u16(0x1000).toBuffer();
      const scale = new Writer()
        .u32(w.lowerAbs === null ? 0x007fffff : encodeFloat(w.lowerAbs, 3))
        .u32(w.upperAbs === null ? 0x007fffff : encodeFloat(w.upperAbs, 3))
        .u16(0)
        .u16(w.scaledMax)
        .toBuffer();
      return {
        handle: w.handle,
        attributes: [
          { id: ATTR.ID_TYPE, value: new Writer().u16(NOM_PART_SCADA).u16(w.physioId).toBuffer() },
          { id: ATTR.SA_SPECN, value: spec },
          { id: ATTR.SCALE_SPECN_I16, value: scale },
          { id: ATTR.TIME_PD_SAMP, value: u32(w.periodTicks) },
          { id: ATTR.UNIT_CODE, value: u16(w.unit) },
          { id: ATTR.SA_VAL_OBS, value: new Writer().u16(w.physioId).u16(this.state()).u16(sa.length).raw(sa).toBuffer() },
        ],
      };
    });
  }

  // ---- sending ----

  async sendRaw(bytes: Uint8Array): Promise<void> {
    await this.link.write(bytes);
  }

  private async write(userData: Buffer): Promise<void> {
    if (this.mute || !this.link.isOpen) return;
    let frame = encodeMessageFrame(userData);
    if (this.aborted > 0) {
      this.aborted--;
      // Half a frame, then the abort sequence: the host must drop it and read the next one.
      frame = Buffer.concat([frame.subarray(0, Math.max(2, frame.length >> 1)).filter((b, i) => i === 0 || (b !== 0xc1 && b !== 0x7d)), Buffer.from([0x7d, 0xc1]), frame]);
    }
    if (this.corrupt > 0) {
      this.corrupt--;
      const body = Buffer.from(frame);
      body[body.length - 2] = body[body.length - 2] === 0x00 ? 0x01 : 0x00; // damage the FCS (never creates C0/C1/7D)
      frame = body;
    }
    try {
      await this.link.write(frame);
    } catch {
      // The port went away (test pulled the cable): the simulator just stops talking.
    }
  }
}

// Alarms a test or a demo can set, by name.
export const SIM_ALARMS = {
  hrHigh: { list: 'P', source: NOM.ECG_CARD_BEAT_RATE, code: 40, type: ALERT_TYPE.MED_PRI_P_AL, text: '**HR High' },
  apnea: { list: 'P', source: NOM.RESP_RATE, code: 3072, type: ALERT_TYPE.HI_PRI_P_AL, text: '***Apnea' },
  leadsOff: { list: 'T', source: 0x0100, code: 274, type: ALERT_TYPE.MED_PRI_T_AL, text: 'ECG Leads Off' },
} satisfies Record<string, SimAlarm>;

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: tsx drivers/intellivue/simulator.ts <serial path> [baud]');
    process.exit(2);
  }
  const link = new SerialPortLink({ path, baudRate: Number(process.argv[3] ?? 115200), dataBits: 8, parity: 'none', stopBits: 1, flowControl: 'none' });
  const sim = new IntellivueSimulator(link);
  await sim.start();
  console.error(`IntelliVue simulator on ${link.describe}`);
  setInterval(() => sim.setAlarms(Math.random() < 0.3 ? [SIM_ALARMS.hrHigh] : []), 5000);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
