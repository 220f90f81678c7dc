// SerialLink on the `serialport` package (v13): a real tty, a USB adapter or a pseudo-terminal.
import { SerialPort } from 'serialport';
import { LinkClosedError, ListenOnlyError, lineShorthand, type LineSettings, type SerialLink } from './link.js';

export interface SerialPortLinkOptions extends LineSettings {
  /** `/dev/ttyUSB0`, or a stable `/dev/serial/by-id/...` symlink (preferred: survives replug and reboots). */
  path: string;
  listenOnly?: boolean;
}

export class SerialPortLink implements SerialLink {
  private port: SerialPort | undefined;
  private dataListeners: Array<(b: Buffer) => void> = [];
  private closeListeners: Array<(err?: Error) => void> = [];
  private closingOnPurpose = false;

  constructor(private readonly opts: SerialPortLinkOptions) {}

  get describe(): string {
    return `${this.opts.path}@${lineShorthand(this.opts)}`;
  }

  get isOpen(): boolean {
    return this.port?.isOpen === true;
  }

  get listenOnly(): boolean {
    return this.opts.listenOnly === true;
  }

  onData(listener: (bytes: Buffer) => void): void {
    this.dataListeners.push(listener);
  }

  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  open(): Promise<void> {
    if (this.port) return Promise.reject(new Error(`${this.describe} is already open`));
    const o = this.opts;
    return new Promise((resolve, reject) => {
      const port = new SerialPort({
        path: o.path,
        baudRate: o.baudRate,
        dataBits: o.dataBits,
        parity: o.parity,
        stopBits: o.stopBits,
        rtscts: o.flowControl === 'rtscts',
        xon: o.flowControl === 'xonxoff',
        xoff: o.flowControl === 'xonxoff',
        autoOpen: false,
      });
      let opened = false;
      // Without an error listener a late port error would crash the agent.
      port.on('error', () => undefined);
      port.on('data', (chunk: Buffer) => {
        for (const l of this.dataListeners) l(chunk);
      });
      port.on('close', (err?: Error | null) => {
        if (this.port !== port) return;
        this.port = undefined;
        const purposeful = this.closingOnPurpose;
        this.closingOnPurpose = false;
        if (!opened) return;
        const reason = purposeful ? undefined : (err ?? new Error(`${this.describe} closed`));
        for (const l of this.closeListeners) l(reason);
      });
      this.port = port;
      port.open((err) => {
        if (err) {
          this.port = undefined;
          reject(err);
          return;
        }
        opened = true;
        resolve();
      });
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.listenOnly) return Promise.reject(new ListenOnlyError(this.describe));
    const port = this.port;
    if (!port?.isOpen) return Promise.reject(new LinkClosedError(this.describe));
    return new Promise((resolve, reject) => {
      port.write(Buffer.from(bytes), (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    const port = this.port;
    if (!port) return Promise.resolve();
    this.closingOnPurpose = true;
    return new Promise((resolve) => {
      if (!port.isOpen) {
        this.port = undefined;
        this.closingOnPurpose = false;
        return resolve();
      }
      port.close(() => resolve());
    });
  }
}
