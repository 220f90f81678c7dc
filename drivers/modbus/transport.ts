// One bus connection (TCP socket or RTU serial line) on modbus-serial, exposing reads only.
// READ-ONLY BY DESIGN: this file is the only place the driver touches modbus-serial's client, and it
// calls nothing but the four read functions (FC1–FC4). A test checks no write call appears here.
import modbusSerial from 'modbus-serial';
import type { BusPlan } from './plan.js';
import type { Table } from './options.js';

type Client = InstanceType<typeof modbusSerial.default>;

export interface Transport {
  readonly isOpen: boolean;
  connect(): Promise<void>;
  /** Registers as 16-bit numbers, or bits as booleans (exactly `count` of them). */
  read(unitId: number, table: Table, address: number, count: number): Promise<number[] | boolean[]>;
  /** Drop stale bytes after a failed exchange so they cannot be taken for the next answer. */
  flush(): void;
  close(): Promise<void>;
  /** Called when the connection drops after it was open. */
  onClose(listener: () => void): void;
}

export function describeEndpoint(bus: BusPlan): string {
  return bus.transport === 'tcp' ? `${bus.host}:${bus.port}` : `${bus.path}@${bus.baudRate}`;
}

export class ModbusSerialTransport implements Transport {
  private client: Client | undefined;
  private closeListener: (() => void) | undefined;

  constructor(
    private readonly bus: BusPlan,
    private readonly onError: (err: unknown) => void,
  ) {}

  get isOpen(): boolean {
    return this.client?.isOpen === true;
  }

  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  async connect(): Promise<void> {
    await this.close();
    const client = new modbusSerial.default();
    // modbus-serial re-emits port errors on the client; without a listener Node would crash the agent.
    client.on('error', (err) => this.onError(err));
    client.on('close', () => {
      if (this.client === client) this.closeListener?.();
    });
    client.setTimeout(this.bus.timeoutMs);
    this.client = client;
    try {
      if (this.bus.transport === 'tcp') {
        await client.connectTCP(this.bus.host, { port: this.bus.port });
      } else {
        // The buffered RTU port reassembles a response from serial chunks by its expected length.
        await client.connectRTUBuffered(this.bus.path, {
          baudRate: this.bus.baudRate,
          dataBits: this.bus.dataBits,
          stopBits: this.bus.stopBits,
          parity: this.bus.parity,
        });
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async read(unitId: number, table: Table, address: number, count: number): Promise<number[] | boolean[]> {
    const client = this.client;
    if (!client) throw Object.assign(new Error('Port Not Open'), { name: 'PortNotOpenError' });
    client.setID(unitId);
    switch (table) {
      case 'coil':
        return (await this.guard(client.readCoils(address, count))).data.slice(0, count);
      case 'discrete':
        return (await this.guard(client.readDiscreteInputs(address, count))).data.slice(0, count);
      case 'input':
        return (await this.guard(client.readInputRegisters(address, count))).data;
      case 'holding':
        return (await this.guard(client.readHoldingRegisters(address, count))).data;
    }
  }

  /**
   * modbus-serial settles a request by its own timer, but destroy() cancels those timers and leaves the
   * promise pending forever. A second, slightly later timer here guarantees every read settles.
   */
  private guard<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(
        () => reject(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError', errno: 'ETIMEDOUT' })),
        this.bus.timeoutMs + 250,
      );
      p.then(
        (v) => (clearTimeout(t), resolve(v)),
        (e: unknown) => (clearTimeout(t), reject(e)),
      );
    });
  }

  flush(): void {
    // modbus-serial's buffered RTU port keeps unmatched bytes in `_buffer` across requests; a late
    // answer to a timed-out request could otherwise be matched to the next one. Private field, so guarded.
    const port: unknown = (this.client as unknown as { _port?: unknown } | undefined)?._port;
    if (typeof port === 'object' && port !== null && Buffer.isBuffer((port as { _buffer?: unknown })._buffer)) {
      (port as { _buffer: Buffer })._buffer = Buffer.alloc(0);
    }
  }

  close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
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
