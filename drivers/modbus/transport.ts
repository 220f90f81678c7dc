// One bus connection (TCP socket or RTU serial line) on modbus-serial, exposing reads only.
// READ-ONLY BY DESIGN: this file is the only place the driver touches modbus-serial's client, and it
// calls nothing but the four read functions (FC1–FC4). A test checks no write call appears here.
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import modbusSerial from 'modbus-serial';
import { classify } from './faults.js';
import type { BusPlan } from './plan.js';
import type { Table } from './options.js';
import { interFrameGapMs } from './timing.js';

type Client = InstanceType<typeof modbusSerial.default>;

export interface Transport {
  readonly isOpen: boolean;
  connect(): Promise<void>;
  /** Registers as 16-bit numbers, or bits as booleans (exactly `count` of them). */
  read(unitId: number, table: Table, address: number, count: number): Promise<number[] | boolean[]>;
  close(): Promise<void>;
  /** Called when the connection drops after it was open; a read in flight then fails at once. */
  onClose(listener: () => void): void;
}

/** What the transport tells its bus beyond a read's outcome: each is counted there, some logged. */
export interface TransportEvents {
  /** A port or socket error outside any read. */
  error(err: unknown): void;
  /** TCP: a frame was dropped because its MBAP protocol id is not 0 (not a Modbus answer). */
  nonModbusFrame(protocolId: number): void;
  /** TCP: an answer whose transaction id is not the request's in flight (a late answer, or a peer's bug): dropped. */
  unmatchedFrame(transactionId: number, expected: number | undefined): void;
  /** RTU: a read timed out with these bytes received, in which no frame for its unit was found. */
  unmatchedBytes(unitId: number, bytes: number): void;
  /** RTU: the first answer from a unit after it timed out was dropped (it may be the late one) and the read made again. */
  answerDroppedAfterTimeout(unitId: number): void;
}

/**
 * RTU: the frame taken for the answer is the request just sent, echoed back: a two-wire RS-485 adapter that receives
 * its own transmission. `crcOk`: the echo was the whole frame taken (an answer as long as the request, e.g. 17-24
 * bits), so its CRC was valid, and bytes followed it or the unit failed a read that cannot be echoed (see checked());
 * otherwise it was cut to the answer's length and failed its CRC.
 */
export class EchoedRequestError extends Error {
  override readonly name = 'EchoedRequestError';
  constructor(
    message: string,
    readonly crcOk = false,
  ) {
    super(message);
  }
}

/** The connection dropped while a read was waiting for its answer. */
export class ConnectionLostError extends Error {
  override readonly name = 'ConnectionLostError';
}

export function describeEndpoint(bus: BusPlan): string {
  return bus.transport === 'tcp' ? `${bus.host}:${bus.port}` : `${bus.path}@${bus.baudRate}`;
}

export class ModbusSerialTransport implements Transport {
  private client: Client | undefined;
  private closeListener: (() => void) | undefined;
  /** Fails the read in flight (reads go one at a time on a bus). */
  private failInFlight: ((err: Error) => void) | undefined;
  /** TCP: the last answer that matched no request during the read in flight, for its timeout's detail. */
  private unmatched: { transactionId: number; expected: number | undefined } | undefined;
  /** RTU: units whose last read timed out: their next answer may be that read's, late (see read()). */
  private readonly afterTimeout = new Set<number>();
  /** The connect in progress: close() aborts it, so a stop never waits for a connect to time out. */
  private connecting: AbortController | undefined;

  constructor(
    private readonly bus: BusPlan,
    private readonly events: TransportEvents,
  ) {}

  get isOpen(): boolean {
    return this.client?.isOpen === true;
  }

  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  async connect(): Promise<void> {
    const closing = this.close();
    // Set after that close(), so only a later one (the driver stopping) aborts this connect.
    const abort = new AbortController();
    this.connecting = abort;
    const aborted = (): ConnectionLostError => new ConnectionLostError('connection closed by the driver');
    await closing;
    if (abort.signal.aborted) throw aborted();
    const client = new modbusSerial.default();
    let lost = false;
    const connectionLost = (why: string): void => {
      if (this.client !== client || lost) return; // our own close(), or already reported
      lost = true;
      this.failInFlight?.(new ConnectionLostError(why));
      this.closeListener?.();
    };
    // modbus-serial re-emits port errors on the client; without a listener Node would crash the agent.
    client.on('error', (err) => this.events.error(err));
    client.on('close', () => connectionLost('port closed'));
    client.setTimeout(this.bus.timeoutMs);
    // Debug mode makes modbus-serial attach the raw answer to errors, so read() can check an
    // exception's unit id, which modbus-serial itself does not.
    (client as unknown as { isDebugEnabled: boolean }).isDebugEnabled = true;
    this.client = client;
    try {
      if (this.bus.transport === 'tcp') {
        // Our own socket: modbus-serial's TCP port swallows a reset ('error' without 'close'), which
        // would leave the read in flight waiting for its full timeout.
        const socket = await openSocket(this.bus.host, this.bus.port, this.bus.timeoutMs, abort.signal);
        if (abort.signal.aborted) {
          socket.destroy();
          throw aborted();
        }
        let cause = 'closed by peer';
        socket.on('error', (err: NodeJS.ErrnoException) => (cause = err.code ?? err.message));
        socket.on('close', () => connectionLost(`socket ${cause}`));
        await client.linkTCP(socket, { port: this.bus.port });
        dropNonModbusFrames(socket, (protocolId) => this.events.nonModbusFrame(protocolId), (transactionId, expected) => {
          this.unmatched = { transactionId, expected };
          this.events.unmatchedFrame(transactionId, expected);
        });
      } else {
        // The buffered RTU port reassembles a response from serial chunks by its expected length.
        await client.connectRTUBuffered(this.bus.path, {
          baudRate: this.bus.baudRate,
          dataBits: this.bus.dataBits,
          stopBits: this.bus.stopBits,
          parity: this.bus.parity,
        });
        // The port opened after a close(): it would stay open, unused.
        if (abort.signal.aborted) throw aborted();
      }
    } catch (err) {
      if (abort.signal.aborted) {
        // close() ran meanwhile and dropped this.client; this client may have opened since.
        try {
          if (client.isOpen) client.close(() => {});
        } catch {
          // already closing
        }
      } else await this.close();
      throw err;
    } finally {
      if (this.connecting === abort) this.connecting = undefined;
    }
  }

  async read(unitId: number, table: Table, address: number, count: number): Promise<number[] | boolean[]> {
    if (this.bus.transport === 'rtu' && this.afterTimeout.has(unitId)) {
      // RTU answers carry no transaction id, and a unit busy past the timeout may still send the late answer, in the
      // window of this request: same unit, function and length as another read's would pass for its values. So the
      // first answer after a timeout, whatever it holds, is dropped and the read made again; only no answer at all
      // (or a lost line) ends it here.
      try {
        await this.readOnce(unitId, table, address, count);
      } catch (err) {
        const kind = classify(err).kind;
        if (kind === 'timeout' || kind === 'disconnected') throw err;
      }
      this.afterTimeout.delete(unitId);
      this.events.answerDroppedAfterTimeout(unitId);
      if (this.bus.gapMs > 0) await new Promise((r) => setTimeout(r, this.bus.gapMs));
    }
    return this.readOnce(unitId, table, address, count);
  }

  private async readOnce(unitId: number, table: Table, address: number, count: number): Promise<number[] | boolean[]> {
    this.unmatched = undefined;
    try {
      return await this.request(unitId, table, address, count);
    } catch (err) {
      if (classify(err).kind !== 'timeout') throw err;
      if (this.bus.transport === 'rtu') {
        this.afterTimeout.add(unitId);
        const stray = this.received();
        if (stray.length > 0) {
          this.events.unmatchedBytes(unitId, stray.length);
          throw withDetail(err, `${stray.length} bytes received, no frame for unit ${unitId} (${hexStart(stray)})`, 'another unit answers at this address, or answers are cut short: check the unit ids on the line and its wiring');
        }
      } else if (this.unmatched) {
        const { transactionId, expected } = this.unmatched;
        throw withDetail(
          err,
          `an answer arrived with transaction id ${transactionId}, expected ${expected ?? 'none'}`,
          'the device or gateway answers with a transaction id other than the request\'s (a known gateway bug, or answers later than timeoutMs): check its firmware, or raise timeoutMs',
        );
      }
      throw err;
    }
  }

  private async request(unitId: number, table: Table, address: number, count: number): Promise<number[] | boolean[]> {
    // RTU answers carry no transaction id: whatever is still in the buffers would be taken for this answer.
    if (this.bus.transport === 'rtu') await this.flush();
    const client = this.client;
    if (!client) throw Object.assign(new Error('Port Not Open'), { name: 'PortNotOpenError' });
    client.setID(unitId);
    const sentAt = performance.now();
    switch (table) {
      case 'coil':
        return (await this.checked(await this.guard(client.readCoils(address, count), unitId), Math.ceil(count / 8), sentAt, () => this.answers(unitId, table, address))).data.slice(0, count);
      case 'discrete':
        return (await this.checked(await this.guard(client.readDiscreteInputs(address, count), unitId), Math.ceil(count / 8), sentAt, () => this.answers(unitId, table, address))).data.slice(0, count);
      case 'input':
        return (await this.checked(await this.guard(client.readInputRegisters(address, count), unitId), 2 * count, sentAt)).data;
      case 'holding':
        return (await this.checked(await this.guard(client.readHoldingRegisters(address, count), unitId), 2 * count, sentAt)).data;
    }
  }

  /**
   * modbus-serial accepts a frame of the expected length, unit and function whatever its byte count, and takes the
   * data from it: a frame with a wrong byte count is a bad frame, and on RTU the request itself echoed back (a valid
   * frame when the answer is as long as the request) is no answer at all. Debug mode attaches the frame taken.
   * `sentAt`: when the request was sent (performance.now()). `confirm`: see below (none: such a frame is refused).
   */
  private async checked<T>(res: T, byteCount: number, sentAt: number, confirm?: () => Promise<boolean>): Promise<T> {
    const { request, responses } = res as { request?: unknown; responses?: unknown };
    const frame: unknown = Array.isArray(responses) ? responses.at(-1) : undefined;
    // Fail loudly (other_errors, logged) rather than pass unchecked frames if a new modbus-serial attaches no frame.
    if (!(frame instanceof Uint8Array)) throw new Error('modbus-serial attached no raw answer: its byte count cannot be checked');
    if (this.bus.transport === 'rtu' && request instanceof Uint8Array && Buffer.from(frame).equals(Buffer.from(request))) {
      // Ambiguous: a genuine answer to a 17-24-bit read can spell the request (unit, function, byte count 3 = address
      // high byte, data = address low byte, 0, count), CRC included. An echo is followed by the device's answer, which
      // comes within timeoutMs of the request or never: wait that long for any byte. Only silence can make it the answer;
      // waiting less could take a real echo's bytes for values whenever the device is slower to answer.
      const quiet = Math.max(this.bus.timeoutMs - (performance.now() - sentAt), 2 * interFrameGapMs(this.bus.baudRate));
      const echo = (): EchoedRequestError => new EchoedRequestError('the frame read back is the request itself (valid CRC)', true);
      if (await this.bytesFollow(quiet)) throw echo();
      // Silence is also what an echoing line gives when the device is dead (rv165 F1): the echo would pass for values.
      // So the device must show it answers: a read whose answer cannot equal its request. If it fails, this was an echo.
      if (!confirm || !(await confirm())) throw echo();
    }
    // Frame: unit id, function code, byte count, data, CRC (modbus-serial rewrites TCP answers to this form too).
    if (frame[2] !== byteCount) {
      // Worded like modbus-serial's own length check, so faults.ts classifies it as a bad frame.
      throw new Error(`Data length error, byte count ${String(frame[2])} where the read asked for ${byteCount}`);
    }
    return res;
  }

  /**
   * RTU, after a frame equal to its request and silence (see checked()): whether the unit answers a read of one bit at
   * the same table and address. Its answer (6 bytes) cannot equal its request (8): an echo of it is cut to 6 bytes and
   * fails its CRC. False on any failure (CRC, bad frame, exception, timeout); a lost or closed connection is thrown, so
   * stop() cuts it short as it does any read.
   */
  private async answers(unitId: number, table: 'coil' | 'discrete', address: number): Promise<boolean> {
    if (this.bus.gapMs > 0) await new Promise((r) => setTimeout(r, this.bus.gapMs));
    await this.flush();
    const client = this.client;
    if (!client) throw new ConnectionLostError('connection closed by the driver');
    client.setID(unitId);
    const sentAt = performance.now();
    try {
      const res = await this.guard(table === 'coil' ? client.readCoils(address, 1) : client.readDiscreteInputs(address, 1), unitId);
      await this.checked(res, 1, sentAt);
      return true;
    } catch (err) {
      const kind = classify(err).kind;
      if (kind === 'disconnected') throw err;
      // Its answer may still come, late, in the next read's window (see read()).
      if (kind === 'timeout') this.afterTimeout.add(unitId);
      return false;
    }
  }

  /**
   * modbus-serial settles a request by its own timer, but destroy() cancels those timers and leaves the
   * promise pending forever. A second, slightly later timer here guarantees every read settles; a lost
   * connection settles it at once.
   */
  private guard<T>(p: Promise<T>, unitId: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(t);
        this.failInFlight = undefined;
      };
      const t = setTimeout(() => {
        settle();
        reject(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError', errno: 'ETIMEDOUT' }));
      }, this.bus.timeoutMs + 250);
      this.failInFlight = (err) => (settle(), reject(err));
      p.then(
        (v) => (settle(), resolve(v)),
        (e: unknown) => (settle(), reject(wrongUnit(e, unitId) ?? echoedRequest(e) ?? e)),
      );
    });
  }

  /**
   * RTU: whether any byte arrives on the line within `ms` after the frame just taken (or is already held behind it).
   * True, too, if the serial port cannot be watched (modbus-serial moved its private fields): the frame is then refused
   * as an echo, as before. A lost or closed connection ends the wait at once, as it ends a read.
   */
  private bytesFollow(ms: number): Promise<boolean> {
    if (this.received().length > 0) return Promise.resolve(true);
    const serial = this.bufferedPort()?._client;
    if (!(serial instanceof EventEmitter)) return Promise.resolve(true);
    return new Promise<boolean>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(t);
        serial.removeListener('data', onData);
        this.failInFlight = undefined;
      };
      const onData = (): void => (settle(), resolve(true));
      const t = setTimeout(() => (settle(), resolve(false)), ms);
      this.failInFlight = (err) => (settle(), reject(err));
      serial.on('data', onData);
    });
  }

  /**
   * RTU: modbus-serial's buffered port, which keeps unmatched bytes in `_buffer` and the serial port in `_client`.
   * Private fields, so every use is guarded: undefined when there is no such object (TCP, or modbus-serial moved it).
   */
  private bufferedPort(): { _buffer?: unknown; _client?: unknown } | undefined {
    const port: unknown = (this.client as unknown as { _port?: unknown } | undefined)?._port;
    return typeof port === 'object' && port !== null ? (port as { _buffer?: unknown; _client?: unknown }) : undefined;
  }

  /** RTU: the bytes modbus-serial's buffered port holds unmatched (none if the field moved). */
  private received(): Buffer {
    const buffer = this.bufferedPort()?._buffer;
    return Buffer.isBuffer(buffer) ? buffer : Buffer.alloc(0);
  }

  /** Drops stale received bytes (RTU) so they cannot be taken for the next answer. */
  private async flush(): Promise<void> {
    // The buffered port keeps unmatched bytes across requests; the serial port's own flush() also drops what the OS
    // has received but not delivered.
    const port = this.bufferedPort();
    if (!port || !Buffer.isBuffer(port._buffer)) return;
    const serial = port._client as { isOpen?: boolean; flush?: (cb: (err: Error | null) => void) => void } | undefined;
    if (serial?.isOpen && typeof serial.flush === 'function') {
      const flushOs = serial.flush.bind(serial);
      await new Promise<void>((resolve) => flushOs((err) => (err && this.events.error(err), resolve())));
    }
    port._buffer = Buffer.alloc(0);
  }

  close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connecting?.abort();
    this.connecting = undefined;
    this.failInFlight?.(new ConnectionLostError('connection closed by the driver'));
    if (!client) return Promise.resolve();
    return new Promise((resolve) => {
      // A port that never opened may not call back.
      const fallback = setTimeout(resolve, 500);
      const done = (): void => {
        clearTimeout(fallback);
        resolve();
      };
      try {
        // TCP: destroy the socket now (end() could wait on a dead peer). RTU: the buffered serial port
        // has no destroy(), and modbus-serial's destroy() would then leave the line open; close it.
        if (this.bus.transport === 'tcp') client.destroy(done);
        else if (client.isOpen) client.close(done);
        else done();
      } catch {
        done();
      }
    });
  }
}

/** A timeout error that says what did arrive: classify() adds `detail` to its message and `hint` to its advice. */
function withDetail(err: unknown, detail: string, hint: string): unknown {
  return typeof err === 'object' && err !== null ? Object.assign(err, { detail, hint }) : err;
}

/** The first bytes, in hex, for a detail. */
function hexStart(bytes: Buffer): string {
  const shown = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `${bytes.length > 8 ? 'starting ' : ''}${shown}${bytes.length > 8 ? ' …' : ''}`;
}

/**
 * modbus-serial's TCP port takes any MBAP frame for an answer, whatever its protocol id (bytes 2-3), though only 0 is
 * Modbus. Its 'data' listeners are moved behind a framer that drops such frames, so one is never decoded as
 * registers: the read times out, and the bus's resync logic sees a stream without usable answers. The framer also
 * sees each request written, and drops (and reports) an answer whose transaction id is not the one in flight, which
 * modbus-serial would ignore without a word.
 */
function dropNonModbusFrames(socket: Socket, dropped: (protocolId: number) => void, unmatched: (transactionId: number, expected: number | undefined) => void): void {
  const downstream = socket.listeners('data') as Array<(chunk: Buffer) => void>;
  // Fail loudly (connect_failures, logged) rather than pass unchecked frames if a new modbus-serial reads otherwise.
  if (downstream.length === 0) throw new Error("modbus-serial's TCP port does not read the socket's 'data' events: the protocol id check cannot run");
  for (const l of downstream) socket.removeListener('data', l);
  // The transaction id of the request in flight: modbus-serial writes each request as one MBAP frame.
  let inFlight: number | undefined;
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    const data = args[0];
    if (Buffer.isBuffer(data) && data.length >= 2) inFlight = data.readUInt16BE(0);
    return write(...args);
  }) as typeof socket.write;
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    // MBAP header: transaction id (2), protocol id (2), length (2) of what follows (unit id and PDU).
    while (pending.length >= 6) {
      const end = 6 + pending.readUInt16BE(4);
      if (pending.length < end) return;
      const frame = pending.subarray(0, end);
      pending = pending.subarray(end);
      const protocolId = frame.readUInt16BE(2);
      const transactionId = frame.readUInt16BE(0);
      if (protocolId !== 0) dropped(protocolId);
      else if (transactionId !== inFlight) unmatched(transactionId, inFlight);
      else {
        inFlight = undefined; // answered: a second answer to it is unmatched too
        for (const l of downstream) l.call(socket, frame);
      }
    }
  });
}

/** Connect a TCP socket, failing after timeoutMs (as modbus-serial's own connect would), or at once on `signal`. */
function openSocket(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const onAbort = (): void => fail(new ConnectionLostError('connection closed by the driver'));
    const fail = (err: Error): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const timedOut = (): void => fail(Object.assign(new Error(`TCP connect to ${host}:${port} timed out`), { code: 'ETIMEDOUT' }));
    socket.once('error', fail);
    socket.once('timeout', timedOut);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(timeoutMs);
    socket.connect({ host, port }, () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', fail);
      socket.removeListener('timeout', timedOut);
      socket.setTimeout(0);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * A CRC error on a frame that begins as the request did (debug mode attaches both): the buffered RTU port matched the
 * echoed request's unit id and function code and cut it to the answer's length. Five or more equal bytes, the
 * address and count among them, do not happen by chance in a corrupted answer.
 */
function echoedRequest(err: unknown): Error | undefined {
  if (!(err instanceof Error) || err.message !== 'CRC error') return undefined;
  const { modbusRequest: request, modbusResponses: frames } = err as { modbusRequest?: unknown; modbusResponses?: unknown };
  const taken: unknown = Array.isArray(frames) ? frames.at(-1) : undefined;
  if (!(request instanceof Uint8Array) || !(taken instanceof Uint8Array)) return undefined;
  const n = Math.min(request.length, taken.length);
  if (n < 5 || !Buffer.from(taken.subarray(0, n)).equals(Buffer.from(request.subarray(0, n)))) return undefined;
  return new EchoedRequestError('CRC error: the frame read back is the request itself');
}

/**
 * modbus-serial checks the unit id of a normal answer but not of an exception answer. With debug mode
 * on, the raw answer (unit id first) rides on the error: an exception from another unit is a bad frame.
 */
function wrongUnit(err: unknown, unitId: number): Error | undefined {
  if (typeof err !== 'object' || err === null || typeof (err as { modbusCode?: unknown }).modbusCode !== 'number') return undefined;
  const frames = (err as { modbusResponses?: unknown }).modbusResponses;
  const last: unknown = Array.isArray(frames) ? frames.at(-1) : undefined;
  if (!(last instanceof Uint8Array) || last.length === 0 || last[0] === unitId) return undefined;
  // Worded like modbus-serial's own check, so faults.ts classifies it the same way.
  return new Error(`Unexpected data error, expected address ${unitId} got ${last[0]} (exception ${(err as { modbusCode: number }).modbusCode})`);
}
