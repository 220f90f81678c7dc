// What the long fuzz run feeds, and what it accepts as an outcome. Each target wraps the production code path
// for untrusted input (the same functions the drivers and the agent call), keeps stateful framers alive across
// inputs (a long stream), and says which errors are the module's own, expected, refusals.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify as toYaml } from 'yaml';
import { PACKAGE_ROOT, DEFAULT_CONFIG_PATH } from '../../agent/paths.js';
import { ConfigError, parseConfigText, validateConfig } from '../../agent/config/load.js';
import { registry } from '../../drivers/registry.js';
import type { DriverContext } from '../../drivers/types.js';
import { MessageHandler } from '../../drivers/hl7/handler.js';
import { MllpFramer, frame as mllpFrame } from '../../drivers/hl7/protocol/mllp.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';
import * as medibus from '../../drivers/medibus/protocol/index.js';
import { ModbusConfigError, ModbusDecodeError } from '../../drivers/modbus/errors.js';
import { BYTE_ORDERS, VALUE_TYPES, applyScale, decodeBit, decodeRegisters, registerCount, type RegisterSpec } from '../../drivers/modbus/decode.js';
import { buildPlan } from '../../drivers/modbus/plan.js';
import { knownPointOptions } from '../../drivers/modbus/simulator.js';
import { crc16, withCrc } from '../../drivers/modbus/crc.js';
import { int, mutateBytes, mutateJson, pick, randomInput, type Rand } from './mutate.js';

export interface Runner {
  /** Valid inputs to mutate. */
  seeds: Buffer[];
  /** Longest generated input. */
  maxLen: number;
  /** Makes one input; default: a byte mutation of a seed (or random bytes). */
  generate?(r: Rand): Buffer;
  /** Feeds one input. Throws (or rejects) only with what `allowed` accepts, unless there is a bug. */
  run(input: Buffer, r: Rand): void | Promise<void>;
  /** Errors that are the module's own refusal of bad input. */
  allowed(err: unknown): boolean;
  /** Per-input time limit for this target, when it must differ from --slow-ms (e.g. it waits on a timeout). */
  slowMs?: number;
  /** Bytes a stateful part holds now; must stay bounded. */
  held?(): number;
  heldLimit?: number;
  /** Outcome counters for the summary. */
  counters: Record<string, number>;
  close?(): Promise<void>;
}

export interface Target {
  name: string;
  what: string;
  setup(): Promise<Runner>;
}

const bump = (c: Record<string, number>, k: string, n = 1) => (c[k] = (c[k] ?? 0) + n);

/** Feeds `input` to a stream parser in 1–3 chunks (a stream arrives split anywhere). */
function chunks(r: Rand, input: Buffer): Buffer[] {
  if (input.length < 2 || r() < 0.5) return [input];
  const a = int(r, input.length);
  const b = a + int(r, input.length - a);
  return [input.subarray(0, a), input.subarray(a, b), input.subarray(b)];
}

// ---------------------------------------------------------------------------------------------------------
// HL7 over MLLP: the MLLP framer and the driver's MessageHandler (parse → header → PCD-01/04 mapping → ACK).

const hl7: Target = {
  name: 'hl7-mllp',
  what: 'MllpFramer (persistent stream) + MessageHandler.handle: parseFrame, readHeader, PCD-01/04 mapping, ACK build',
  async setup() {
    const counters: Record<string, number> = {};
    let internal: unknown = null;
    const ctx: DriverContext = {
      name: 'fuzz-mllp',
      log: pino({ level: 'silent' }),
      emit: async () => {},
      count: (c, by = 1) => {
        if (c === 'internal_errors') internal ??= new Error('handler counted internal_errors');
        bump(counters, c, by);
      },
    };
    // A bug inside the handler is caught there and answered with AR/AE 207; capture it to report it here.
    ctx.log.error = ((obj: { err?: unknown }) => {
      internal = obj?.err ?? internal ?? new Error('handler logged an internal error');
    }) as typeof ctx.log.error;
    const handler = new MessageHandler(ctx, {
      application: 'FUZZ',
      facility: '',
      storeFailureAck: 'AR',
      acceptProcessingIds: ['P', 'D', 'T'], // reach the mapping with every message
      defaultUtcOffsetMinutes: 0,
      duplicateWindow: { maxEntries: 10_000, ttlMs: 3_600_000 },
    });
    const framer = new MllpFramer(1 << 16);
    const seeds: Buffer[] = [];
    const rand = rng(1);
    for (const b of initialBeds(6, rand)) {
      seeds.push(Buffer.from(pcd01Message(b, `FZ${b.bed}`, Date.UTC(2026, 0, 1) + b.bed * 1000, { waveform: b.bed % 2 === 0 })));
    }
    const corpus = join(PACKAGE_ROOT, '..', 'shared', 'corpus', 'hl7');
    if (existsSync(corpus)) for (const f of readdirSync(corpus).filter((x) => x.endsWith('.hl7')).sort()) seeds.push(readFileSync(join(corpus, f)));
    seeds.push(Buffer.from(`BHS|^~\\&|MON\r${seeds[0]!.toString('latin1')}${seeds[1]!.toString('latin1')}BTS|2\r`, 'latin1'));
    return {
      seeds,
      maxLen: 1 << 16,
      generate(r) {
        const s = pick(r, seeds);
        const m = r() < 0.9 ? mutateBytes(r, s, 1 << 16, pick(r, seeds)) : randomInput(r, 4096);
        // Mostly well framed (so the parser gets the load); sometimes raw bytes (framing errors, noise).
        return r() < 0.8 ? mllpFrame(m) : m;
      },
      async run(input, r) {
        // After each input the listener's wait for the byte after an FS has run out: flush(), as the server does.
        for (const c of [...chunks(r, input), null]) {
          for (const ev of c === null ? framer.flush() : framer.push(c)) {
            bump(counters, `framer_${ev.type}`);
            if (ev.type !== 'frame') continue;
            internal = null;
            // As the server passes them: an FS inside the message, a frame taken unterminated.
            const opts = { ...(ev.innerFs !== undefined && { innerFs: ev.innerFs }), ...(ev.unterminated && { unterminated: ev.unterminated }) };
            const { acks } = await handler.handleFrame(ev.payload, 'fuzz', opts);
            if (internal) throw internal;
            for (const a of acks) bump(counters, `ack_${/\rMSA\|(\w\w)/.exec(a)?.[1] ?? 'none'}`);
          }
        }
      },
      allowed: () => false, // handle() never rejects; anything thrown here is a bug
      held: () => framer.buffered,
      heldLimit: 1 << 16,
      counters,
    };
  },
};

// ---------------------------------------------------------------------------------------------------------
// Dräger Medibus: framer (commands, responses, realtime bytes, handshake), realtime decoder, data parsers.

const medibusTarget: Target = {
  name: 'medibus',
  what: 'MedibusFramer (persistent stream) + RealtimeDecoder + parseMeasured/Settings/Alarms/TextMessages/DeviceId/DateTime/RealtimeConfig',
  async setup() {
    const counters: Record<string, number> = {};
    const framer = new medibus.MedibusFramer();
    const rt = new medibus.RealtimeDecoder();
    const { CMD } = medibus;
    const f4 = (v: number) => String(v).padStart(4, ' ');
    const seeds = [
      medibus.encodeResponse(CMD.DATA_CP1, `7D${f4(22)}78${f4(5)}73${f4(11)}88${f4(450)}B912.5D6${f4(14)}F0${f4(40)}5C----`),
      medibus.encodeResponse(CMD.DATA_CP2, `21${f4(445)}22${f4(455)}`),
      medibus.encodeResponse(CMD.SETTINGS, `01${f4(40)}04${f4(450)}`),
      medibus.encodeResponse(CMD.ALARMS_CP1, '1234APNEA       ' + '0567PAW HIGH    '),
      medibus.encodeResponse(CMD.TEXT_MESSAGES, '01STANDBY\x03'),
      medibus.encodeResponse(CMD.DEVICE_ID, "6140'Evita XL'04.10"),
      medibus.encodeResponse(CMD.DATE_TIME, '12:30:0501-JAN-26'),
      medibus.encodeResponse(CMD.RT_CONFIG, '0001000100 0.0 100'),
      medibus.encodeCommand(CMD.ICC),
      medibus.encodeCommand(CMD.DATA_CP1),
      medibus.encodeNak(),
      Buffer.from([0x11, 0x13, 0x80, 0x81, 0xc5, 0x9a]),
    ];
    const parsers = [
      medibus.parseMeasured, medibus.parseSettings, medibus.parseAlarms, medibus.parseTextMessages,
      medibus.parseDeviceId, medibus.parseDateTime, medibus.parseRealtimeConfig,
    ];
    const bodies = seeds.filter((s) => s[0] === 0x01 && s.length > 4).map((s) => ({ code: s[1]!, data: s.subarray(2, s.length - 3) }));
    return {
      seeds,
      maxLen: 8192,
      generate(r) {
        // Mostly a mutated data part re-wrapped with a correct checksum, so the data parsers get the load.
        if (r() < 0.6) {
          const b = pick(r, bodies);
          const data = mutateBytes(r, b.data, 4000, pick(r, bodies).data);
          return medibus.encodeResponse(r() < 0.9 ? b.code : int(r, 0x80), data);
        }
        return r() < 0.9 ? mutateBytes(r, pick(r, seeds), 8192, pick(r, seeds)) : randomInput(r, 8192);
      },
      run(input, r) {
        for (const c of chunks(r, input)) {
          for (const ev of framer.push(c)) {
            bump(counters, `framer_${ev.type}`);
            if (ev.type === 'realtime') for (const x of rt.push(ev.bytes)) bump(counters, `rt_${x.type}`);
            if (ev.type !== 'frame') continue;
            for (const p of parsers) {
              try {
                p(ev.data);
                bump(counters, 'parsed');
              } catch (err) {
                if (!(err instanceof medibus.MedibusParseError)) throw err;
                bump(counters, 'refused');
              }
            }
          }
        }
      },
      allowed: (err) => err instanceof medibus.MedibusParseError,
      counters,
    };
  },
};

// ---------------------------------------------------------------------------------------------------------
// Philips IntelliVue (MIB/RS-232): framer, transport header, message parser, attribute decoders.

async function intellivueTarget(): Promise<Target | null> {
  const dir = join(PACKAGE_ROOT, 'drivers', 'intellivue', 'protocol');
  if (!existsSync(join(dir, 'framer.ts')) && !existsSync(join(dir, 'framer.js'))) return null;
  const iv = await import('../../drivers/intellivue/protocol/index.js');
  return {
    name: 'intellivue',
    what: 'IntellivueFramer (persistent stream) + parseTransportHeader + parseMessage + every attribute decoder on every AVA',
    async setup() {
      const counters: Record<string, number> = {};
      const framer = new iv.IntellivueFramer();
      const seeds = await intellivueSeeds();
      const decoders: ((a: import('../../drivers/intellivue/protocol/index.js').Ava) => unknown)[] = [
        iv.decodeNuObsValue, iv.decodeNuObsValueCmp, iv.decodeSaObsValue, iv.decodeSaObsValueCmp, iv.decodeSaSpec,
        iv.decodeScaleRangeSpec, iv.decodeType, (a) => iv.decodeU16(a, 'u16'), (a) => iv.decodeU32(a, 'u32'),
        iv.decodeAbsTimeAttr, iv.decodeLabelString, iv.decodeAlarmList, iv.decodeDeviceAlertCondition,
      ];
      const decodeAll = (avas: { id: number; value: Buffer; offset: number }[]) => {
        for (const a of avas) {
          for (const d of decoders) {
            try {
              d(a);
            } catch (err) {
              if (!(err instanceof iv.IntellivueParseError)) throw err;
            }
          }
        }
      };
      const userData: Buffer[] = [];
      const split = new iv.IntellivueFramer();
      for (const s of seeds) for (const ev of split.push(s)) if (ev.type === 'frame') userData.push(iv.parseTransportHeader(ev.body));
      return {
        seeds,
        maxLen: 8192,
        generate(r) {
          // Mostly mutated user data re-framed with a correct FCS, so the message parser gets the load.
          if (r() < 0.7) return iv.encodeMessageFrame(mutateBytes(r, pick(r, userData), 4000, pick(r, userData)));
          return r() < 0.9 ? mutateBytes(r, pick(r, seeds), 8192, pick(r, seeds)) : randomInput(r, 8192);
        },
        run(input, r) {
          for (const c of chunks(r, input)) {
            for (const ev of framer.push(c)) {
              bump(counters, `framer_${ev.type}`);
              if (ev.type !== 'frame') continue;
              try {
                const msg = iv.parseMessage(iv.parseTransportHeader(ev.body));
                bump(counters, `msg_${msg.kind}`);
                if (msg.kind === 'poll-result') for (const ctx of msg.reply.contexts) for (const o of ctx.observations) decodeAll(o.attributes);
                if (msg.kind === 'mds-create') decodeAll(msg.attributes);
                if (msg.kind === 'poll-request') decodeAll(msg.extAttributes);
              } catch (err) {
                if (!(err instanceof iv.IntellivueParseError)) throw err;
                bump(counters, 'refused');
              }
            }
          }
        },
        allowed: (err) => err instanceof iv.IntellivueParseError,
        counters,
      };
    },
  };
}

/** Real frames from the project's IntelliVue simulator: association, MDS create, poll results of every kind. */
async function intellivueSeeds(): Promise<Buffer[]> {
  const iv = await import('../../drivers/intellivue/protocol/index.js');
  const { IntellivueSimulator } = await import('../../drivers/intellivue/simulator.js');
  const out: Buffer[] = [];
  let deliver: (b: Buffer) => void = () => {};
  const link = {
    describe: 'fuzz-seed',
    isOpen: true,
    listenOnly: false,
    open: async () => {},
    close: async () => {},
    write: async (b: Uint8Array) => void out.push(Buffer.from(b)),
    onData: (l: (b: Buffer) => void) => void (deliver = l),
    onClose: () => {},
  };
  const sim = new IntellivueSimulator(link, {});
  await sim.start();
  const send = (userData: Buffer) => deliver(iv.encodeMessageFrame(userData));
  send(iv.encodeAssociationRequest({ minPollPeriodTicks: 8000, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0x88000000, systemType: 0x80000000, startupMode: 0x20000000 }));
  await new Promise((r) => setTimeout(r, 60));
  const frames = new iv.IntellivueFramer();
  for (const b of out) {
    for (const ev of frames.push(b)) {
      if (ev.type !== 'frame') continue;
      const m = iv.parseMessage(iv.parseTransportHeader(ev.body));
      if (m.kind === 'mds-create') send(iv.encodeMdsCreateResult(m.invokeId, m.managedObject, m.eventTime));
    }
  }
  await new Promise((r) => setTimeout(r, 20));
  let invoke = 1;
  for (const code of [iv.MOC.VMO_METRIC_NU, iv.MOC.VMO_AL_MON, iv.MOC.VMO_METRIC_SA_RT]) {
    send(iv.encodePollRequest({ invokeId: invoke++, pollNumber: invoke, objType: { partition: iv.NOM_PART_OBJ, code }, attrGroup: 0, extended: false }));
  }
  await new Promise((r) => setTimeout(r, 60));
  await sim.stop();
  out.push(iv.encodeMessageFrame(iv.encodePollRequest({ invokeId: 9, pollNumber: 3, objType: { partition: iv.NOM_PART_OBJ, code: iv.MOC.VMO_METRIC_NU }, attrGroup: 0, extended: true, extAttributes: [{ id: iv.ATTR.TIME_PD_POLL, value: Buffer.from([0, 0, 0x1f, 0x40]) }] })));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Modbus: register decoding, the register-map planner, and RTU responses through modbus-serial.

const modbusDecode: Target = {
  name: 'modbus-decode',
  what: 'decodeRegisters / decodeBit / applyScale on arbitrary words, types, byte orders, string lengths',
  async setup() {
    const counters: Record<string, number> = {};
    return {
      seeds: [Buffer.alloc(16)],
      maxLen: 300,
      generate: (r) => randomInput(r, 300),
      run(input, r) {
        if (input.length < 3) return;
        const type = VALUE_TYPES[input[0]! % VALUE_TYPES.length]!;
        const spec: RegisterSpec = {
          type,
          order: BYTE_ORDERS[input[1]! % BYTE_ORDERS.length]!,
          ...(type === 'string' && { length: input[2]! % 130 }),
        } as RegisterSpec;
        const words: number[] = [];
        for (let i = 3; i + 1 < input.length; i += 2) words.push(input.readUInt16BE(i));
        // Sometimes the right number of words, sometimes not; sometimes words out of range.
        let use = words;
        try {
          const n = registerCount(spec);
          if (input[2]! & 1) use = words.slice(0, n);
        } catch (err) {
          if (!(err instanceof ModbusDecodeError || err instanceof ModbusConfigError)) throw err;
        }
        if ((input[2]! & 6) === 6 && use.length) use = [...use.slice(1), pick(r, [-1, 65536, 1.5, Number.NaN])];
        const v = decodeRegisters(use, spec);
        bump(counters, typeof v === 'number' ? (Number.isFinite(v) ? 'finite' : 'non-finite') : 'string');
        if (typeof v === 'number') applyScale(v, (input[1]! - 128) / 7, input[2]! - 100);
        decodeBit(words.map((w) => (w & 1) === 1), input[1]! % (words.length + 2));
      },
      allowed: (err) => err instanceof ModbusDecodeError || err instanceof ModbusConfigError,
      counters,
    };
  },
};

const modbusPlan: Target = {
  name: 'modbus-plan',
  what: 'buildPlan on structure-mutated register maps (driver options)',
  async setup() {
    const counters: Record<string, number> = {};
    const base = {
      buses: [
        { id: 'line1', transport: 'rtu', path: '/dev/ttyUSB0', baudRate: 19200, parity: 'even', devices: [{ id: 'vent-1', unitId: 1, pollIntervalMs: 1000, points: knownPointOptions() }] },
        { id: 'tcp1', transport: 'tcp', host: '10.0.0.5', port: 502, devices: [{ id: 'gas-1', unitId: 2, points: [{ name: 'etco2', table: 'input', address: 0, type: 'float32', order: 'CDAB', mdc: 'MDC_CONC_AWAY_CO2_ET', unit: 'MMHG', scale: 0.1 }] }] },
      ],
    };
    return {
      seeds: [Buffer.from(JSON.stringify(base))],
      maxLen: 1 << 20,
      generate: (r) => Buffer.from(JSON.stringify(mutateJson(r, base)) ?? 'null'),
      run(input) {
        buildPlan(JSON.parse(input.toString('utf8')));
        bump(counters, 'valid');
      },
      allowed: (err) => {
        if (err instanceof ModbusConfigError) bump(counters, 'refused');
        return err instanceof ModbusConfigError;
      },
      counters,
    };
  },
};

/** RTU responses through modbus-serial's buffered RTU port and client (what the driver's transport uses). */
const RTU_TIMEOUT_MS = 20;
const modbusRtu: Target = {
  name: 'modbus-rtu',
  what: "modbus-serial RTUBufferedPort + client response parsing (FC3/FC1), over @serialport/binding-mock: garbage, then a valid answer",
  async setup() {
    const counters: Record<string, number> = {};
    // The mock binding's package.json "exports" hide its typings from NodeNext resolution: load it by require
    // and name the one call used.
    const { MockBinding } = createRequire(import.meta.url)('@serialport/binding-mock') as {
      MockBinding: { createPort(path: string, opts: { echo: boolean; record: boolean }): void };
    };
    const modbusSerial = (await import('modbus-serial')).default;
    MockBinding.createPort('/dev/FUZZ', { echo: false, record: false });
    // modbus-serial is CommonJS; as in drivers/modbus/transport.ts, the client class is `.default`.
    const client = new modbusSerial.default();
    client.on('error', () => bump(counters, 'client_error_event'));
    await client.connectRTUBuffered('/dev/FUZZ', { baudRate: 115200, binding: MockBinding } as unknown as Parameters<typeof client.connectRTUBuffered>[1]);
    client.setTimeout(RTU_TIMEOUT_MS);
    client.setID(7);
    // The mock binding of the open port: answer each request with the fuzz input, then a valid response.
    const port = (client as unknown as { _port: { _client: { port: { write(b: Buffer): Promise<void>; emitData(b: Buffer): void } } } })._port._client.port;
    let respond: (req: Buffer) => Buffer[] = () => [];
    const write = port.write.bind(port);
    port.write = async (b: Buffer) => {
      await write(b);
      for (const part of respond(Buffer.from(b))) port.emitData(part);
    };
    const validFor = (req: Buffer): Buffer => {
      const fc = req[1]!;
      const count = req.readUInt16BE(4);
      if (fc === 3) {
        const body = Buffer.alloc(3 + 2 * count);
        body[0] = req[0]!;
        body[1] = 3;
        body[2] = 2 * count;
        for (let i = 0; i < count; i++) body.writeUInt16BE(0x1000 + i, 3 + 2 * i);
        return withCrc(body);
      }
      const bytes = Math.ceil(count / 8);
      return withCrc(Buffer.from([req[0]!, fc, bytes, ...Array<number>(bytes).fill(0x55)]));
    };
    const seeds = [
      withCrc(Buffer.from([7, 3, 4, 0x00, 0x2a, 0x01, 0x00])),
      withCrc(Buffer.from([7, 0x83, 2])),
      withCrc(Buffer.from([7, 1, 1, 0x05])),
      withCrc(Buffer.from([8, 3, 2, 0, 1])),
    ];
    return {
      seeds,
      maxLen: 600,
      generate(r) {
        const m = r() < 0.85 ? mutateBytes(r, pick(r, seeds), 600) : randomInput(r, 600);
        // Half the time, repair the CRC so the client's checks past the CRC are reached.
        return r() < 0.5 && m.length > 2 ? withCrc(m.subarray(0, m.length - 2)) : m;
      },
      async run(input, r) {
        const fc3 = r() < 0.7;
        const count = 1 + int(r, 4);
        respond = (req) => [input, validFor(req)];
        try {
          const res = fc3 ? await client.readHoldingRegisters(0, count) : await client.readCoils(0, count);
          const data = res.data as (number | boolean)[];
          const expected = fc3 ? Array.from({ length: count }, (_, i) => 0x1000 + i) : null;
          if (expected && data.length === count && data.every((v, i) => v === expected[i])) bump(counters, 'resolved_valid');
          else bump(counters, !fc3 ? 'resolved_coils' : crc16(input) === 0 ? 'resolved_fuzz_crc_ok' : 'resolved_other');
        } catch (err) {
          const e = err as { name?: string; message?: string; errno?: string };
          // modbus-serial refuses a bad response with its own Error. A RangeError is its parser reading past the
          // frame (a byte count larger than the frame, CRC valid): caught inside modbus-serial and passed to the
          // read as a rejection, so the driver survives it (classified 'other'). Counted, not a finding here.
          bump(counters, `rejected_${e.errno ?? e.name ?? 'error'}`);
          if (e.name === 'TypeError') throw err;
        }
      },
      // A response the port never completes ends in the client's own timeout: expected, not slow parsing.
      slowMs: RTU_TIMEOUT_MS + 100,
      // Rejections with modbus-serial's own errors are caught in run(); what reaches here is rethrown on purpose.
      allowed: () => false,
      counters,
      async close() {
        await new Promise<void>((res) => client.close(() => res()));
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------
// The agent's config loader: arbitrary YAML/JSON text gives a valid config or a ConfigError, nothing else.

const config: Target = {
  name: 'config',
  what: 'parseConfigText + validateConfig (YAML/JSON text; byte mutations of real configs and structure mutations serialised as YAML or JSON)',
  async setup() {
    const counters: Record<string, number> = {};
    const texts = [DEFAULT_CONFIG_PATH, ...readdirSync(join(PACKAGE_ROOT, 'config', 'examples')).map((f) => join(PACKAGE_ROOT, 'config', 'examples', f))]
      .filter((p) => p.endsWith('.yaml') || p.endsWith('.yml') || p.endsWith('.json'))
      .map((p) => readFileSync(p));
    const objects = texts.map((t) => parseConfigText(t.toString('utf8'), 'seed'));
    objects.push({
      gateway: { id: 'gw' },
      store: { path: '/tmp/x.db', maxBytes: 1e9 },
      hub: { mode: 'device', connectionString: { env: 'CS' } },
      privacy: { pseudonymizePatientIds: true, pseudonymKey: { file: '/run/secrets/k' } },
      display: { port: 0, users: [{ name: 'a', role: 'admin', passwordHash: 'scrypt$x' }] },
      drivers: [
        { name: 'mllp', type: 'hl7-mllp', options: { port: 2575, tls: { certFile: 'a', keyFile: 'b', allowedClients: { cn: ['x'] } } } },
        { name: 'sim', type: 'simulator', options: { beds: 2 } },
      ],
    });
    return {
      seeds: texts,
      maxLen: 1 << 16,
      generate(r) {
        const k = r();
        if (k < 0.45) return mutateBytes(r, pick(r, texts), 1 << 16, pick(r, texts));
        const v = mutateJson(r, pick(r, objects));
        if (k < 0.75) return Buffer.from(toYaml(v) ?? '');
        if (k < 0.97) return Buffer.from(JSON.stringify(v) ?? 'null');
        // YAML features a hostile file may use: anchors/aliases (billion laughs), tags, deep nesting, merge keys.
        return Buffer.from(
          pick(r, [
            `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n`,
            `${'['.repeat(5000)}${']'.repeat(5000)}`,
            `store: !!binary aGVsbG8=\n`,
            `store: !!js/function "function(){}"\n`,
            `<<: {log: {level: debug}}\n`,
            `drivers: &d\n  - *d\n`,
            `__proto__: {polluted: 1}\nlog: {level: info}\n`,
            `{"constructor": {"prototype": {"x": 1}}}`,
            `%YAML 1.1\n---\nlog: {level: info}\n`,
          ]),
        );
      },
      run(input) {
        const cfg = validateConfig(parseConfigText(input.toString('utf8'), 'fuzz'), registry, 'fuzz');
        if (!cfg || typeof cfg !== 'object') throw new Error('validateConfig returned a non-object');
        bump(counters, 'valid');
        if (({} as Record<string, unknown>).polluted !== undefined) throw new Error('prototype polluted');
      },
      allowed: (err) => {
        if (err instanceof ConfigError) bump(counters, 'refused');
        return err instanceof ConfigError;
      },
      counters,
    };
  },
};

export async function allTargets(): Promise<{ targets: Target[]; skipped: string[] }> {
  const iv = await intellivueTarget();
  return {
    targets: [hl7, medibusTarget, ...(iv ? [iv] : []), modbusDecode, modbusPlan, modbusRtu, config],
    skipped: iv ? [] : ['intellivue: drivers/intellivue/protocol not present yet'],
  };
}
