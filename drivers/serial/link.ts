// The one interface every serial driver talks to: a byte pipe that can be opened, written, and closed,
// and that says when bytes arrive and when it closes. Real ports, replays and test doubles implement it.

export type Parity = 'none' | 'even' | 'odd' | 'mark' | 'space';
export type FlowControl = 'none' | 'rtscts' | 'xonxoff';

/** Line settings of one device. Defaults are the caller's business (vendor presets live with the driver). */
export interface LineSettings {
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: Parity;
  stopBits: 1 | 1.5 | 2;
  flowControl: FlowControl;
}

export interface SerialLink {
  /** Human-readable endpoint for logs and status: "/dev/serial/by-id/usb-FTDI…@19200 8E1". */
  readonly describe: string;
  readonly isOpen: boolean;
  /** True when the link must never transmit (a Y-cable tap or a replay). */
  readonly listenOnly: boolean;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Resolves once the bytes are handed to the OS. Throws ListenOnlyError on a listen-only link. */
  write(bytes: Uint8Array): Promise<void>;
  onData(listener: (bytes: Buffer) => void): void;
  /** Called once per open when the link closes for any reason; `err` is set when it was not our close(). */
  onClose(listener: (err?: Error) => void): void;
}

export class ListenOnlyError extends Error {
  constructor(describe: string) {
    super(`refusing to write to ${describe}: the link is listen-only (it must never transmit)`);
    this.name = 'ListenOnlyError';
  }
}

export class LinkClosedError extends Error {
  constructor(describe: string) {
    super(`cannot write to ${describe}: the link is not open`);
    this.name = 'LinkClosedError';
  }
}

/** "8E1"-style shorthand, as device manuals write it. */
export function lineShorthand(s: LineSettings): string {
  const p = { none: 'N', even: 'E', odd: 'O', mark: 'M', space: 'S' }[s.parity];
  const flow = s.flowControl === 'none' ? '' : ` ${s.flowControl}`;
  return `${s.baudRate} ${s.dataBits}${p}${s.stopBits}${flow}`;
}
