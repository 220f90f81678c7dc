// SerialLink on the `serialport` package (v13): a real tty, a USB adapter or a pseudo-terminal.
import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import { LinkClosedError, ListenOnlyError, lineShorthand, type LineSettings, type SerialLink } from './link.js';

export interface SerialPortLinkOptions extends LineSettings {
  /** A stable `/dev/serial/by-id/...` symlink (survives replug and reboots); `/dev/ttyUSB0` works, but is warned of. */
  path: string;
  listenOnly?: boolean;
  /** How often the device path is checked while open (ms); 0 turns the check off. Default 1000. */
  pathCheckMs?: number;
}

/** The device a path names: its device number, or null when the path is gone. */
async function deviceAt(path: string): Promise<number | null> {
  try {
    return (await stat(path)).rdev;
  } catch {
    return null;
  }
}

/** Running as an IoT Edge module: a device reaches the container only through the deployment manifest. */
function inIotEdgeModule(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.IOTEDGE_MODULEID);
}

/**
 * Why a path is missing and where to look: on a host, the adapter or its stable name; in a module, the manifest's
 * device mapping (the container has no /dev/serial/by-id).
 */
function missingAdvice(env: NodeJS.ProcessEnv): string {
  return inIotEdgeModule(env)
    ? "not mapped into the module: the deployment manifest's HostConfig.Devices needs an entry whose PathInContainer is this path, and its adapter must be plugged in when the module starts (docs/deploy-guide.md 4.3)"
    : 'not plugged in, or a wrong path (see `ls -l /dev/serial/by-id`)';
}

/**
 * What to do about the usual reasons a port cannot be opened, for serialport's own text, which names neither the cause
 * nor the fix (review rv49 L1); undefined when the reason is not one of them.
 */
export function openAdvice(err: Error & { code?: unknown }, path: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const text = `${typeof err.code === 'string' ? err.code : ''} ${err.message}`;
  if (/EACCES|EPERM|Permission denied|Operation not permitted/i.test(text)) return "the agent's user needs the dialout group (docs/deploy-guide.md)";
  if (/Cannot lock port|EBUSY|Device or resource busy/i.test(text)) return `another program holds it (see \`fuser ${path}\`)`;
  if (/ENOENT|No such file or directory/i.test(text)) return missingAdvice(env);
  // A static node (a module's, made from HostConfig.Devices when the container was created) whose adapter was
  // unplugged or came back at another number: every open fails so until the module restarts (review rv90 L1).
  if (/ENXIO|ENODEV|No such device/i.test(text)) {
    return 'the device node exists but no device is behind it: adapter unplugged, or (IoT Edge module) replugged; restart the module (docs/deploy-guide.md 4.3)';
  }
  return undefined;
}

/**
 * A kernel name handed out in plug-in (or probe) order: another adapter can get it after a reboot or a replug. Not
 * /dev/ttyS<n>: an on-board UART cannot be replugged, keeps its number, and has no by-id or by-path name (systemd's
 * 60-serial.rules makes those for USB adapters only) (review rv150 F2).
 */
const PLUG_ORDER_NAME = /^\/dev\/tty(?:USB|ACM)\d+$/;

/**
 * Why a plug-order name is a danger, and the stable name to use instead (docs/deploy-guide.md). In a module the name
 * is the manifest's PathInContainer, fixed when the module is created: its PathOnHost is what must be stable.
 */
function plugOrderAdvice(path: string, env: NodeJS.ProcessEnv): string | undefined {
  if (!PLUG_ORDER_NAME.test(path)) return undefined;
  const risk = `${path} is numbered in plug-in order: after a reboot or a replug it can name another bed's device, whose readings and alarms would then go to this one's bed`;
  return inIotEdgeModule(env)
    ? `${risk}; make sure the deployment manifest's PathOnHost for it is a /dev/serial/by-id/… (or /dev/serial/by-path/…, udev) name, and give the PathInContainer a bed name such as /dev/ttyBED03 (docs/deploy-guide.md 4.3)`
    : `${risk}; use its /dev/serial/by-id/… name (\`ls -l /dev/serial/by-id\`), or /dev/serial/by-path/… or a udev name for adapters without a serial number (docs/deploy-guide.md)`;
}

/**
 * For --check: a serial path that does not exist, or is not a character device (a typo against the manifest's
 * PathInContainer, a regular file), or is a plug-order name (/dev/ttyUSB0: review rv149 H1). A warning, not a refusal:
 * the adapter may only be unplugged now (review rv90 L2), and a plug-order name works until the names swap.
 * `nameOnly`: only the name is looked at (at start, where the driver says what it finds as it opens the port).
 */
export function serialPathWarning(path: string, env: NodeJS.ProcessEnv = process.env, nameOnly = false): string | undefined {
  const plugOrder = plugOrderAdvice(path, env);
  if (nameOnly) return plugOrder;
  const found = pathFound(path, env);
  if (found && plugOrder) return `${found}; also, ${plugOrder}`;
  return found ?? plugOrder;
}

/** What is wrong with what is at `path` now (missing, not a character device), if anything. */
function pathFound(path: string, env: NodeJS.ProcessEnv): string | undefined {
  let isTty: boolean;
  try {
    isTty = statSync(path).isCharacterDevice();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `${path} does not exist: ${missingAdvice(env)}`;
    return `${path} cannot be looked at (${String(code)}): the agent will try to open it all the same`;
  }
  return isTty ? undefined : `${path} is not a character device, as a serial port is: a wrong path?`;
}

export class SerialPortLink implements SerialLink {
  private port: SerialPort | undefined;
  private dataListeners: Array<(b: Buffer) => void> = [];
  private closeListeners: Array<(err?: Error) => void> = [];
  private closingOnPurpose = false;
  private pathCheck: NodeJS.Timeout | undefined;
  /** Why the link closed itself (the device path vanished or names another device), for the close listeners. */
  private closedBecause: Error | undefined;
  /**
   * While an open is in progress: settles once its callback has run, and has closed the OS port again if close() came
   * first. close() waits for it, so the port and its lock are free once close() resolves.
   */
  private opening: Promise<void> | undefined;

  /** `env`: whether the agent runs as an IoT Edge module, for what a hang-up says to do (tests set it). */
  constructor(
    private readonly opts: SerialPortLinkOptions,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

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
    let settled!: () => void;
    const opening = new Promise<void>((r) => (settled = r));
    this.opening = opening;
    const done = (): void => {
      if (this.opening === opening) this.opening = undefined;
      settled();
    };
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
      // Only while this is the link's port: a port the link let go of (closed while opening) is not its to hear.
      port.on('data', (chunk: Buffer) => {
        if (this.port !== port) return;
        for (const l of this.dataListeners) l(chunk);
      });
      port.on('close', (err?: Error | null) => {
        if (this.port !== port) return;
        this.port = undefined;
        clearInterval(this.pathCheck);
        const purposeful = this.closingOnPurpose;
        this.closingOnPurpose = false;
        const because = this.closedBecause;
        this.closedBecause = undefined;
        if (!opened) return;
        const reason = purposeful ? undefined : (because ?? this.hungUp(err ?? undefined));
        for (const l of this.closeListeners) l(reason);
      });
      this.port = port;
      port.open((err) => {
        if (this.port !== port) {
          // close() came while opening: the port opened (or failed) for nobody. Close it again, or it would stay
          // open and locked in this process, and a replacement link could never open it.
          reject(new LinkClosedWhileOpeningError(this.describe));
          if (err || !port.isOpen) done();
          else port.close(() => done());
          return;
        }
        if (err) {
          this.port = undefined;
          done();
          const advice = openAdvice(err, o.path);
          reject(advice ? new Error(`${err.message}: ${advice}`, { cause: err }) : err);
          return;
        }
        opened = true;
        done();
        this.watchPath(port);
        resolve();
      });
    });
  }

  /**
   * The port closed without our asking: serialport says only "bad file descriptor" (EBADF, ENXIO), which is the text the
   * bedside "disconnected" alarm would carry; what happened and what to do come first (review rv149 L1).
   */
  private hungUp(err: Error | undefined): Error {
    return new Error(`${this.describe}: the port hung up: ${this.unpluggedAdvice()}${err?.message ? ` (${err.message})` : ''}`, { cause: err });
  }

  private unpluggedAdvice(): string {
    return inIotEdgeModule(this.env)
      ? 'USB serial adapter unplugged, or its USB connection failed; once it is plugged in again, restart the module (docs/deploy-guide.md 4.3)'
      : 'USB serial adapter unplugged, or its USB connection failed; it is reopened once it is back';
  }

  /**
   * A device unplugged is not always reported on the open port: seen here once in about a hundred pty hang-ups,
   * no error and no close, so the port stayed open on a dead device and never reconnected. The path is checked
   * instead: gone (a USB adapter unplugged, the by-id link removed) or naming another device (replugged) closes
   * the port, and the supervisor reconnects.
   */
  private watchPath(port: SerialPort): void {
    const every = this.opts.pathCheckMs ?? 1000;
    if (every <= 0) return;
    void deviceAt(this.opts.path).then((device) => {
      if (device === null || this.port !== port) return;
      let checking = false;
      this.pathCheck = setInterval(() => {
        if (checking) return;
        checking = true;
        void deviceAt(this.opts.path).then((now) => {
          checking = false;
          if (now === device || this.port !== port || !port.isOpen) return;
          // As a hang-up says it: this reason, when it comes first, is the one the "disconnected" alarm carries.
          this.closedBecause = new Error(`${this.describe}: ${now === null ? `the device path is gone: ${this.unpluggedAdvice()}` : 'the device path now names another device (adapter replugged)'}`);
          port.close();
        });
      }, every);
      this.pathCheck.unref();
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
    clearInterval(this.pathCheck);
    const port = this.port;
    if (!port) return Promise.resolve();
    if (!port.isOpen) {
      // Still opening (or already closing): the port is no longer the link's. An open in progress closes it again
      // when it completes (see open()); wait for that, so the port is free when this resolves.
      this.port = undefined;
      this.closedBecause = undefined;
      return this.opening ?? Promise.resolve();
    }
    this.closingOnPurpose = true;
    return new Promise((resolve) => port.close(() => resolve()));
  }
}

/** open() was overtaken by close(): the port was closed again, and the link is closed. */
export class LinkClosedWhileOpeningError extends Error {
  constructor(describe: string) {
    super(`${describe} was closed while opening`);
    this.name = 'LinkClosedWhileOpeningError';
  }
}
