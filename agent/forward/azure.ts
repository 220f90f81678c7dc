// The uplink to Azure IoT Hub (or an IoT Edge hub) through the official device SDK over MQTT/TLS.
// The SDK neither retries a failed first connection nor keeps a durable queue, so it runs here with its own
// retries switched off: the forwarder owns retrying, and the outbox owns durability.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
// The SDK packages are CommonJS; under ESM only their default export is reliable, so destructure it.
import azureIotDevice, { type Client as ClientType, type ModuleClient as ModuleClientType, type Twin } from 'azure-iot-device';
import azureIotDeviceMqtt from 'azure-iot-device-mqtt';
import { ConfigError } from '../config/load.js';
import type { Stream } from '../store/outbox.js';

const { Client, Message, ModuleClient, SharedAccessKeyAuthenticationProvider, SharedAccessSignatureAuthenticationProvider } = azureIotDevice;
const { Mqtt } = azureIotDeviceMqtt;

type MqttTransport = typeof Mqtt;

/** How long a client the agent gives up on may take to say goodbye (MQTT DISCONNECT) before its socket is destroyed. */
export const CLOSE_GRACE_MS = 1000;

/** The parts of azure-iot-mqtt-base's MqttBase (the SDK's MQTT connection) that a hard close needs. Not public API. */
interface MqttBaseInternals {
  _mqttClient?:
    | (NodeJS.EventEmitter & { outgoing?: Record<string, unknown>; disconnecting?: boolean; stream?: NodeJS.EventEmitter & { destroy(): void; closed?: boolean } })
    | undefined;
  _connectClient(callback: (err?: Error, connack?: unknown) => void): void;
  _disconnectClient(force: boolean, callback: () => void): void;
}

/** What a transport made by mqttWithUnknownMethods offers for a hard close. */
interface HardClose {
  /** From now on this client never connects again, and does not wait for PUBACKs to end a connection. */
  giveUp(): void;
  /** Destroys its socket, whatever state it is in. */
  cutSocket(): void;
  /** Resolves once its socket is closed (at once if it has none). */
  socketClosed(): Promise<void>;
}

/**
 * Makes the SDK's MqttBase close hard once given up (review rv113 M1, L2). Its token renewal ends the connection with
 * mqtt.js end(false), which waits for every PUBACK outstanding; meanwhile it defers every call, a close included, and
 * after 30 s it connects again (with the same client id and the token it had) and only then runs the close. So a client
 * closed while a PUBACK was lost came back 30 s later and knocked the live connection off. Once given up:
 * - the client never connects again (a renewal under way fails instead, with nothing on the network);
 * - a renewal waiting for PUBACKs ends at once, its socket destroyed;
 * - a close ends the connection at once when PUBACKs are outstanding (they are never coming: the forwarder resends
 *   those messages, with the same ids); with none, it says DISCONNECT first.
 * Renewals of a client in use are left as the SDK makes them (they wait for the PUBACKs in flight, which normally come).
 * Null when the SDK's internals are not as expected (an SDK update): test/e2e/forward-hard-close.test.ts fails then.
 */
function hardenMqttBase(base: Partial<MqttBaseInternals> | undefined): HardClose | null {
  if (!base || typeof base._connectClient !== 'function' || typeof base._disconnectClient !== 'function') return null;
  const connect = base._connectClient.bind(base);
  const disconnect = base._disconnectClient.bind(base);
  const outstanding = () => Object.keys(base._mqttClient?.outgoing ?? {}).length > 0;
  let givenUp = false;
  base._connectClient = (callback) => {
    if (givenUp) {
      process.nextTick(() => callback(new Error('the agent closed this client')));
      return;
    }
    connect(callback);
  };
  base._disconnectClient = (force, callback) => disconnect(force || (givenUp && outstanding()), callback);
  return {
    giveUp() {
      givenUp = true;
      const mqtt = base._mqttClient;
      // A graceful end under way (the renewal's) waits for mqtt.js to say the PUBACKs are in: said now, the socket gone.
      if (mqtt?.disconnecting && outstanding()) {
        mqtt.stream?.destroy();
        mqtt.emit('outgoingEmpty');
      }
    },
    cutSocket() {
      base._mqttClient?.stream?.destroy();
    },
    socketClosed() {
      const stream = base._mqttClient?.stream;
      if (!stream || stream.closed !== false) return Promise.resolve();
      return new Promise((resolve) => stream.once('close', () => resolve()));
    },
  };
}

/** The hard close of an SDK client made with mqttWithUnknownMethods's transport; null for anything else. */
function hardCloseOf(client: SdkClient): HardClose | null {
  const transport = (client as unknown as { _transport?: Partial<HardClose> })._transport;
  return transport && typeof transport.giveUp === 'function' && typeof transport.socketClosed === 'function' ? (transport as HardClose) : null;
}

/**
 * Closes an SDK client for good: it never connects again, a PUBACK outstanding is not waited for, and a socket still
 * open after CLOSE_GRACE_MS (a link that does not answer the goodbye) is destroyed. Done once its socket is closed: the
 * SDK's close() may never call back once a renewal it had under way failed (its state machine drops the callback).
 */
async function closeHard(client: SdkClient): Promise<void> {
  client.removeAllListeners();
  // The SDK may still emit 'error' on its way down; with no listener that would throw (an uncaught exception).
  client.on('error', () => undefined);
  const hard = hardCloseOf(client);
  hard?.giveUp();
  const closed = client.close().then(
    () => undefined,
    () => undefined,
  );
  if (!hard) return closed;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, hard.socketClosed(), new Promise<void>((r) => (timer = setTimeout(r, CLOSE_GRACE_MS)))]);
  clearTimeout(timer);
  hard.cutSocket();
}

/**
 * The SDK's MQTT transport, answering calls to direct methods that have no handler with 404. The SDK itself
 * ignores them, so the caller would wait for its timeout (504) without learning that the name was wrong.
 * `onUnknown` hears of each (the control plane counts them). Its connection can be closed hard (closeHard).
 */
function mqttWithUnknownMethods(onUnknown: (name: string) => void): MqttTransport {
  return class MqttWithUnknownMethods extends Mqtt implements HardClose {
    private readonly hard: HardClose | null;

    constructor(...args: ConstructorParameters<MqttTransport>) {
      super(...args);
      this.hard = hardenMqttBase((this as unknown as { _mqtt?: Partial<MqttBaseInternals> })._mqtt);
    }

    giveUp(): void {
      this.hard?.giveUp();
    }

    cutSocket(): void {
      this.hard?.cutSocket();
    }

    socketClosed(): Promise<void> {
      // Without the SDK internals (hardenMqttBase), closeHard waits for close() or its grace instead.
      return this.hard?.socketClosed() ?? new Promise(() => undefined);
    }

    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (typeof event === 'string' && event.startsWith('method_') && this.listenerCount(event) === 0) {
        const requestId = (args[0] as { requestId?: unknown } | undefined)?.requestId;
        if (typeof requestId === 'string' && requestId) {
          const name = event.slice('method_'.length);
          onUnknown(name);
          this.sendMethodResponse({ requestId, status: 404, payload: { error: `unknown method "${name}"` } } as never, () => undefined);
        }
        return false;
      }
      return super.emit(event, ...args);
    }
  };
}

/**
 * The Azure IoT device SDK (azure-iot-mqtt-base) fails a publish left without PUBACK for 30 s, whatever the caller
 * waits: hub.sendTimeoutMs above it has no effect, and the agent uses at most this (review rv34 §6).
 */
export const SDK_SEND_TIMEOUT_MS = 30_000;

export interface OutgoingMessage {
  id: string;
  stream: Stream;
  /** The JSON text (schema 1 or 2). */
  body: string;
  /** The gzip of body, when it travels compressed (hub.compression gzip): sent instead, without content type and encoding. */
  gzipped?: Buffer;
  properties: Record<string, string>;
}

/** What the forwarder needs of an uplink. One implementation talks to IoT Hub; tests may supply others. */
export interface HubTransport {
  /** Who we are and where we connect to, without secrets, for logs. */
  readonly description: string;
  /**
   * Identity used as the default gateway id: the one the SDK connects as. Null when the IoT Edge environment names none
   * the SDK can use (the start refuses that, gateway.id or not: agent/forward/choose.ts).
   */
  readonly identity: string | null;
  /** Optional: where `identity` came from, for the log line that says where the gateway id came from. */
  readonly identityFrom?: string;
  connect(): Promise<void>;
  /** Resolves when the hub acknowledged the message (MQTT PUBACK). */
  send(message: OutgoingMessage): Promise<void>;
  disconnect(): Promise<void>;
  /**
   * Called when an established connection is lost. An error with `recycled: true` means the agent closed it itself
   * (ControlSession.recycle), not the hub; `atTwin: true`, that the hub closed it while the control plane's first twin
   * read waited and no send was outstanding (with one outstanding, the close is the send's: fx223; sends held by
   * sendsHeld are not outstanding: fx228).
   */
  onDisconnect(listener: (err: Error | undefined) => void): void;
  /**
   * Optional: while not null, sends on the current connection are held (send() waits) until the promise resolves: the
   * connection's first twin read settled, twinTimeoutMs passed, or the connection ended (fx228). The forwarder waits for
   * it before it picks a message, untimed: a held send is not late, and an alarm that comes meanwhile still goes first.
   */
  sendsHeld?(): Promise<void> | null;
  /** Optional: module twin and direct methods on every connection (agent/control). */
  setControl?(handler: ControlHandler, opts?: { twinTimeoutMs?: number }): void;
  /** Optional: the control plane's trouble (twin unanswered, switched off), null while it works or has none (health). */
  controlStatus?(): ControlPlaneStatus | null;
}

/** The control plane's trouble, as health shows it (under forwarder.control). */
export interface ControlPlaneStatus {
  /**
   * 'twin-unanswered': twin reads go unanswered on fresh connections too; the connection is kept for telemetry and the
   * twin read again on a growing delay. 'off': the hub closed the connection at the twin read on
   * TWIN_CLOSES_TO_SWITCH_OFF connections in a row (IoT Hub Basic tier, a hub policy, or a hub restarting): no twin or
   * methods until the twin is tried again at retryAt and read.
   */
  state: 'twin-unanswered' | 'off';
  /** ISO time it began. */
  since: string;
  detail: string;
  /** twin-unanswered: twin operations left unanswered since it began. */
  unanswered?: number;
  /** off: ISO time the twin is tried again (CONTROL_OFF_RETRY). */
  retryAt?: string;
}

/**
 * Connections in a row the hub closed while their first twin read was waiting for its answer, after which the control
 * plane is switched off until a retry reads the twin (see AzureIotTransport.twinCloses, CONTROL_OFF_RETRY). Two could be
 * chance; three at the same step are not.
 */
export const TWIN_CLOSES_TO_SWITCH_OFF = 3;

/**
 * The switch-off's timings (tests shorten them). Only closes within closesWithinMs of each other count towards
 * TWIN_CLOSES_TO_SWITCH_OFF; once off, the twin is tried again after firstRetryMs, doubling at each retry the hub closes
 * too, up to maxRetryMs: a Standard hub restarting also closes connections at the twin read (review rv150 F1).
 */
export const CONTROL_OFF_RETRY = { closesWithinMs: 10 * 60_000, firstRetryMs: 10 * 60_000, maxRetryMs: 2 * 3600_000 };

/** The agent's side of the twin and direct methods. */
export interface ControlHandler {
  /** Direct methods to register on every connection; calls to other names are answered 404. */
  readonly methodNames: readonly string[];
  /** A connection is up. The session is valid until that connection ends (`session.open` turns false). */
  connected(session: ControlSession): void;
  /** A desired-properties patch as the hub sent it (with `$version`). */
  desiredPatch(patch: Record<string, unknown>): void;
  method(name: string, payload: unknown): Promise<{ status: number; payload: unknown }>;
  /** A method name with no handler, answered 404 by the transport (for counting). */
  unknownMethod?(name: string): void;
  /** The SDK's twin emitted 'error' (asking for desired-patch notifications failed). */
  twinError?(err: Error): void;
  /**
   * The transport switched the control plane off (the hub closes the connection at the twin read) until status.retryAt;
   * `again`: a retry the hub closed too (logged).
   */
  switchedOff?(status: ControlPlaneStatus, closes: number, again?: boolean): void;
  /** A twin read after the switch-off settled without the hub closing the connection: the control plane is back (logged). */
  switchedOn?(): void;
  /** The handler's own trouble (twin unanswered), null if none: shown in health. */
  controlStatus?(): ControlPlaneStatus | null;
}

export interface ControlSession {
  readonly open: boolean;
  /** The full twin, as the hub has it now (desired and reported, with `$version`). */
  getTwin(): Promise<{ desired: Record<string, unknown>; reported: Record<string, unknown> }>;
  updateReported(patch: Record<string, unknown>): Promise<void>;
  /**
   * The twin channel of this connection looks broken (an operation went unanswered, e.g. after the hub lost
   * the session and the SDK did not subscribe again): drop the connection; the forwarder makes a fresh one.
   */
  recycle(reason: string): void;
}

/** Twin operations get no answer at all when their subscription is gone; give up after this long. */
export const TWIN_TIMEOUT_MS = 15_000;

/**
 * A twin operation the hub never answered (its subscription is gone): only this recycles the connection. An answer
 * with an error status (429 throttled, 400, 5xx) comes back as the SDK's own error and keeps the connection.
 */
export class NoAnswerError extends Error {
  override readonly name = 'NoAnswerError';
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NoAnswerError(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** IoT Edge module outputs; routes in the deployment manifest send them upstream. */
export const OUTPUTS: Record<Stream, string> = { telemetry: 'telemetry', alarms: 'alarms' };

// The SDK's retry policy interface; "never retry" hands every failure to the forwarder at once.
const noRetry = { shouldRetry: () => false, nextRetryTimeout: () => 0 };

type SdkClient = ClientType | ModuleClientType;

/** A ready-made SharedAccessSignature that ends this soon is warned of (at start and by --check). */
export const SAS_EXPIRY_WARNING_MS = 7 * 24 * 3600_000;

/**
 * When the ready-made SharedAccessSignature used instead of a key ends (its `se=`, seconds since 1970), or why that
 * cannot be told; undefined when the string has a key (the agent makes and renews its own tokens from it).
 */
function signatureExpiry(cs: Record<string, string>): { at: Date } | { problem: string } | undefined {
  const sas = cs.SharedAccessSignature;
  if (sas === undefined || cs.SharedAccessKey) return undefined;
  // Read as the SDK reads it (SharedAccessSignature.parse): the word, one blank, then URL-encoded name=value pairs.
  const parts = sas.split(/\s/);
  if (parts.length !== 2 || parts[0] !== 'SharedAccessSignature') {
    return { problem: 'has a SharedAccessSignature that must be of the form "SharedAccessSignature sr=…&sig=…&se=…"' };
  }
  const se = parts[1]!.split('&').find((p) => p.startsWith('se='))?.slice(3);
  let seconds: string | undefined;
  try {
    seconds = se === undefined ? undefined : decodeURIComponent(se);
  } catch {
    seconds = undefined;
  }
  if (seconds === undefined || !/^\d{1,12}$/.test(seconds)) {
    return { problem: 'has a SharedAccessSignature without a readable se= (its expiry, in seconds since 1970): IoT Hub refuses such a token' };
  }
  return { at: new Date(Number(seconds) * 1000) };
}

/**
 * Why a ready-made SharedAccessSignature cannot stand for the device the string names, or null. Its sr= (the resource
 * it was signed for, URL-encoded) must be `<HostName>/devices/<DeviceId>`; IoT Edge's hub also takes its own host name
 * (GatewayHostName) in place of HostName. The transport connects as HostName/DeviceId say, through GatewayHostName:
 * a token for another identity would be refused, or (the SDK's own reading of a signature) taken as that identity's.
 */
function signatureScopeProblem(cs: Record<string, string>): string | null {
  const sas = cs.SharedAccessSignature;
  if (sas === undefined || cs.SharedAccessKey) return null;
  const raw = sas.split(/\s/)[1]?.split('&').find((p) => p.startsWith('sr='))?.slice(3) ?? '';
  let sr: string;
  try {
    sr = decodeURIComponent(raw);
  } catch {
    sr = raw;
  }
  const wanted = `${cs.HostName}/devices/${cs.DeviceId}`;
  // Host names in any case (DNS); the device id exactly, as IoT Hub compares it.
  const slash = sr.indexOf('/');
  const host = slash < 0 ? sr : sr.slice(0, slash);
  const hosts = [cs.HostName, cs.GatewayHostName].filter((h): h is string => Boolean(h)).map((h) => h.toLowerCase());
  if (slash >= 0 && hosts.includes(host.toLowerCase()) && sr.slice(slash) === `/devices/${cs.DeviceId}`) return null;
  return (
    `has a SharedAccessSignature made for ${JSON.stringify(sr)} (its sr=), not for this string's device ${JSON.stringify(wanted)} ` +
    "(HostName, DeviceId): the hub would refuse it or take it as another device's; put in a signature made for this device, " +
    'or its key (SharedAccessKey=…)'
  );
}

/** "3 days", "5 h", "20 min": how long until a signature ends, for people. */
function timeLeft(ms: number): string {
  const hours = Math.round(ms / 3_600_000);
  if (hours >= 48) return `${Math.round(ms / 86_400_000)} days`;
  if (hours >= 1) return `${hours} h`;
  return `${Math.max(1, Math.round(ms / 60_000))} min`;
}

/** What makes a connection string unusable, or null (also run by --check). Refused at start rather than failing every connection for ever. */
export function connectionStringProblem(connectionString: string): string | null {
  const cs = parseConnectionString(connectionString);
  if (!cs.HostName || !cs.DeviceId) return 'must contain HostName and DeviceId';
  // The agent has nowhere to take a device certificate and key from.
  if (cs.x509?.toLowerCase() === 'true') {
    return 'says x509=true: X.509 device authentication is not supported yet; use a device key (SharedAccessKey=…) or run as an IoT Edge module (the IoT Edge runtime authenticates it)';
  }
  if (!cs.SharedAccessKey && !cs.SharedAccessSignature) return 'must contain SharedAccessKey (or a ready-made SharedAccessSignature)';
  // The SDK's ModuleClient takes a key from a connection string, never a ready-made signature.
  if (cs.ModuleId && !cs.SharedAccessKey) return 'of a module (ModuleId=…) must contain SharedAccessKey';
  // A signature the hub can never take. One that has expired is only warned of (connectionStringWarning): a file that
  // started yesterday must start today, as the bedside display depends on it; forwarding fails with `auth` until renewed.
  const expiry = signatureExpiry(cs);
  if (expiry && 'problem' in expiry) return expiry.problem;
  return signatureScopeProblem(cs);
}

/**
 * A ready-made SharedAccessSignature that has expired (IoT Hub refuses every connection: forwarding stops, data stay in
 * the store) or ends within 7 days; said at start and by --check (review rv87 L2). Null otherwise. `now`: for tests.
 */
export function connectionStringWarning(connectionString: string, now = Date.now()): string | null {
  const expiry = signatureExpiry(parseConnectionString(connectionString));
  if (!expiry || 'problem' in expiry) return null;
  const left = expiry.at.getTime() - now;
  const at = expiry.at.toISOString();
  if (left <= 0) {
    return (
      `its SharedAccessSignature expired at ${at} and cannot be renewed: IoT Hub refuses every connection, so nothing is ` +
      'forwarded (data stay in the store); put in a new one, or the device key (SharedAccessKey=…), from which the agent ' +
      'makes and renews its own tokens'
    );
  }
  if (left > SAS_EXPIRY_WARNING_MS) return null;
  return (
    `its SharedAccessSignature expires at ${at} (in ${timeLeft(left)}) and cannot be renewed: forwarding stops at ${at}; ` +
    'put in a new one before then, or the device key (SharedAccessKey=…), from which the agent makes and renews its own tokens'
  );
}

/**
 * The identity ModuleClient.fromEnvironment connects as (azure-iot-device 1.18, module_client.js), and the variable it
 * came from, in the SDK's order: EdgeHubConnectionString (the IoT Edge simulator, older runtimes), else
 * IotHubConnectionString, else IOTEDGE_DEVICEID and IOTEDGE_MODULEID, which the runtime sets (review rv184 L2). A
 * connection string without ModuleId connects as its device: the identity is the DeviceId. Else what the SDK would stop
 * at, naming the variable: with EdgeModuleCACertificateFile set, it throws from a file-read callback, which no catch
 * reaches (review rv184 M1).
 */
export function edgeModuleIdentity(env: NodeJS.ProcessEnv): { identity: string; from: string; module: boolean } | { variable: string; problem: string } {
  const from = env.EdgeHubConnectionString ? 'EdgeHubConnectionString' : env.IotHubConnectionString ? 'IotHubConnectionString' : null;
  if (from !== null) {
    const cs = parseConnectionString(env[from]!);
    // Those the SDK's SharedAccessKeyAuthenticationProvider requires; its ModuleClient takes no signature and no X.509.
    const missing = ['HostName', 'DeviceId', 'SharedAccessKey'].filter((k) => !cs[k]);
    if (missing.length) {
      return {
        variable: from,
        problem:
          `has no ${missing.join(', ')}: the Azure IoT SDK connects with this string (it takes it before the IOTEDGE_* ` +
          'variables) and cannot without; give it the HostName, DeviceId, ModuleId and SharedAccessKey of the module\'s ' +
          'identity, or remove it so that the IoT Edge runtime\'s IOTEDGE_* variables are used',
      };
    }
    return cs.ModuleId ? { identity: `${cs.DeviceId}/${cs.ModuleId}`, from, module: true } : { identity: cs.DeviceId!, from, module: false };
  }
  const missing = ['IOTEDGE_DEVICEID', 'IOTEDGE_MODULEID'].filter((k) => !env[k]);
  if (missing.length) {
    return {
      variable: missing.join(', '),
      problem:
        'is not set, nor is EdgeHubConnectionString: the Azure IoT SDK has no module identity to connect as (the IoT Edge ' +
        'runtime sets IOTEDGE_DEVICEID and IOTEDGE_MODULEID; check the module\'s environment in its deployment)',
    };
  }
  return { identity: `${env.IOTEDGE_DEVICEID}/${env.IOTEDGE_MODULEID}`, from: 'IOTEDGE_DEVICEID and IOTEDGE_MODULEID', module: true };
}

function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

/**
 * hub.caFile's PEM text. A ConfigError naming the field and the file when it cannot be read or holds no certificate
 * (OpenSSL would ignore a file without one in silence, and every connection fail later).
 */
export function readCaFile(caFile: string): string {
  const refuse = (message: string) => new ConfigError('hub.caFile', [{ path: 'hub.caFile', message }]);
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw refuse(`cannot read ${caFile}: ${(err as Error).message}`);
  }
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw refuse(`${caFile} holds no PEM certificate (${(err as Error).message})`);
  }
  return pem;
}

/**
 * The system's CAs plus one more (hub.caFile: a nested-edge parent, a test hub): Node's `ca` option replaces the
 * trust list, so the system CAs are passed along, and hub.caFile adds a CA as the docs say. One PEM text: the SDK's
 * setOptions takes `ca` as a string (it first tries it as a file name).
 */
export function trustWith(caPem: string): string {
  return [...rootCertificates, caPem].join('\n');
}

export class AzureIotTransport implements HubTransport {
  readonly description: string;
  readonly identity: string | null;
  readonly identityFrom?: string;
  private client: SdkClient | null = null;
  /**
   * Bumped by each connect() and disconnect(): an open that completes after a newer attempt started or a disconnect
   * came (the forwarder gave it up on its timeout, or stopped) is stale, and must not take over `client` (review rv87 M2).
   */
  private attempt = 0;
  /** Clients whose open() is under way: disconnect() closes them too, so none is left connected behind our back. */
  private readonly opening = new Set<SdkClient>();
  /** Closes under way (closeHard): connect() waits for them, so that no client of this identity is left to replace the new one. */
  private readonly closing = new Set<Promise<void>>();
  private readonly listeners: ((err: Error | undefined) => void)[] = [];
  private control: ControlHandler | null = null;
  /** Fails the twin operations of the current connection's session at once when that connection ends. */
  private endSession: () => void = () => undefined;
  /** Whether the current connection's first twin read (made as it opened) is still waiting for its answer. */
  private firstReadPending: () => boolean = () => false;
  /**
   * Times of the connections in a row that the hub closed while their first twin read was waiting for its answer
   * (neither answered nor timed out) and no send was outstanding: on IoT Hub's Basic tier the twin request (or the
   * subscription made with it) ends the connection. Only those within CONTROL_OFF_RETRY.closesWithinMs count. A first
   * read that settles (answered, refused, or unanswered for twinTimeoutMs), or a hub close with no twin read waiting,
   * starts the count over; the agent's own closes (recycle, disconnect), and a close with a send outstanding (a
   * throttling hub closes at the send: fx223; it says nothing of the twin either way), leave it as it is.
   */
  private twinCloses: number[] = [];
  /** Set once twinCloses reached TWIN_CLOSES_TO_SWITCH_OFF: no twin or methods until the retry (retryTimer) reads it. */
  private controlOff: ControlPlaneStatus | null = null;
  /** While off: when the twin is tried again, the delay that led to it, and the timer that tries it on a held connection. */
  private retryAtMs = 0;
  private retryDelayMs = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  /** The client the control plane is attached to (methods registered, session handed over): never twice on one. */
  private controlClient: SdkClient | null = null;
  /** Sends made on each client and not yet settled (acknowledged or failed): a hub close then is the send's (fx223). */
  private readonly sending = new WeakMap<SdkClient, number>();
  /**
   * The hub closed a connection while its first twin read waited and a send was outstanding: the twin read's close
   * (Basic tier) or the send's (throttling) cannot be told. On a steady feed or a backlog drain a send is nearly always
   * outstanding, so such closes must not stay unresolved (fx228): the next connections hold their sends until their
   * first twin read settles (hold), so that a close then is the twin read's, and one after it a send's. Cleared when a
   * first read settles with its connection up, or a held connection lasts twinTimeoutMs.
   */
  private holdSends = false;
  /** The current connection's hold (holdSends), released when its first read settles, after twinTimeoutMs, or as it ends. */
  private hold: { client: SdkClient; done: Promise<void>; release: () => void } | null = null;
  private twinTimeoutMs = TWIN_TIMEOUT_MS;
  private readonly mqtt: MqttTransport = mqttWithUnknownMethods((name) => this.control?.unknownMethod?.(name));

  private constructor(
    private readonly mode: 'device' | 'module',
    private readonly create: (mqtt: MqttTransport) => Promise<SdkClient>,
    description: string,
    identity: string | null,
    private readonly ca: string | undefined,
    identityFrom?: string,
  ) {
    this.description = description;
    this.identity = identity;
    if (identityFrom !== undefined) this.identityFrom = identityFrom;
  }

  /** Device mode: a device (or module) connection string. */
  /**
   * `tokenTtlS`: validity of the SAS tokens made from the key. The SDK renews a token before it expires (with a
   * margin of a third of its life, at most 15 min) by reconnecting with the new one; IoT Hub closes connections
   * whose token expired.
   */
  static fromConnectionString(connectionString: string, caFile?: string, tokenTtlS = 3600): AzureIotTransport {
    const cs = parseConnectionString(connectionString);
    const problem = connectionStringProblem(connectionString);
    if (problem) throw new Error(`hub.connectionString ${problem}`);
    const identity = cs.ModuleId ? `${cs.DeviceId}/${cs.ModuleId}` : cs.DeviceId!; // checked above
    const host = cs.GatewayHostName ? `${cs.HostName} via ${cs.GatewayHostName}` : cs.HostName;
    const create = async (mqtt: MqttTransport): Promise<SdkClient> => {
      if (!cs.SharedAccessKey) {
        // A connection string with a ready-made SharedAccessSignature (no key): used as given, never renewed (its
        // expiry is checked above and warned of by connectionStringWarning). The credentials are the string's, so
        // that GatewayHostName is honoured: the SDK's Client.fromConnectionString would take host and device from
        // the token's sr= and drop the gateway (review rv113 M4); connectionStringProblem checks that sr= names them.
        const auth = new SharedAccessSignatureAuthenticationProvider({
          host: cs.HostName!,
          deviceId: cs.DeviceId!,
          ...(cs.GatewayHostName && { gatewayHostName: cs.GatewayHostName }),
          sharedAccessSignature: cs.SharedAccessSignature!,
        });
        return Client.fromAuthenticationProvider(auth, mqtt);
      }
      const auth = SharedAccessKeyAuthenticationProvider.fromConnectionString(
        connectionString,
        tokenTtlS,
        Math.min(900, Math.floor(tokenTtlS / 3)),
      );
      return cs.ModuleId
        ? ModuleClient.fromAuthenticationProvider(auth, mqtt)
        : Client.fromAuthenticationProvider(auth, mqtt);
    };
    return new AzureIotTransport(
      cs.ModuleId ? 'module' : 'device',
      create,
      `${cs.ModuleId ? 'module' : 'device'} ${identity} on ${host}`,
      identity,
      caFile ? readCaFile(caFile) : undefined,
      'the connection string',
    );
  }

  /**
   * IoT Edge module mode: identity and trust come from the IoT Edge runtime's environment. hub.caFile is refused
   * for it (agent/forward/choose.ts): the SDK installs the runtime's trust bundle, and a CA of ours would replace it
   * (Node's `ca` option is the whole trust list), so the connection to the IoT Edge hub would fail.
   */
  static fromEdgeEnvironment(env: NodeJS.ProcessEnv = process.env): AzureIotTransport {
    const named = edgeModuleIdentity(env);
    // Where the SDK connects: a connection string's gateway (else its hub), or the runtime's edgeHub.
    const cs = parseConnectionString(env.EdgeHubConnectionString || env.IotHubConnectionString || '');
    const via = cs.GatewayHostName ?? cs.HostName ?? env.IOTEDGE_GATEWAYHOSTNAME ?? 'edgeHub';
    const create = async (mqtt: MqttTransport): Promise<SdkClient> => {
      // The SDK reads process.env itself. What it cannot use it throws at, with EdgeModuleCACertificateFile from a
      // file-read callback that no catch reaches: the agent (display, alarms) would exit. So judged here first, as a
      // failed connect naming the variable (the start refuses such an environment already: agent/forward/choose.ts).
      const now = edgeModuleIdentity(process.env);
      if ('problem' in now) throw new Error(`${now.variable} (environment) ${now.problem}`);
      return ModuleClient.fromEnvironment(mqtt);
    };
    if ('problem' in named) {
      return new AzureIotTransport('module', create, `IoT Edge module (the environment names no identity the SDK can use: ${named.variable}) via ${via}`, null, undefined);
    }
    // A device connection string connects as the device, through the SDK's ModuleClient all the same.
    const kind = named.module ? 'module' : 'device';
    return new AzureIotTransport('module', create, `IoT Edge ${kind} ${named.identity} via ${via}`, named.identity, undefined, named.from);
  }

  /** True when the process runs as an IoT Edge module (the runtime sets these). */
  static edgeEnvironmentPresent(env: NodeJS.ProcessEnv = process.env): boolean {
    return Boolean(env.IOTEDGE_WORKLOADURI && env.IOTEDGE_MODULEID) || Boolean(env.EdgeHubConnectionString);
  }

  async connect(): Promise<void> {
    const attempt = ++this.attempt;
    await this.disposeClient();
    const client = await this.create(this.mqtt);
    const superseded = async () => {
      await this.retire(client);
      return new Error('connect superseded: a newer connect or a disconnect came first');
    };
    if (attempt !== this.attempt) throw await superseded();
    client.setRetryPolicy(noRetry);
    if (this.ca) await client.setOptions({ ca: trustWith(this.ca) });
    client.on('disconnect', () => {
      if (this.client !== client) return;
      // Read before the session ends (which settles the read).
      const twinPending = this.firstReadPending();
      // A hub closes at a send it refuses (throttling, a quota): with one outstanding, the close is the send's, a drop,
      // even while the twin read waits (fx223); only a close with nothing else to answer is the twin read's.
      const atSend = (this.sending.get(client) ?? 0) > 0;
      const atTwin = twinPending && !atSend;
      // Either could be: the next connections tell them apart (fx228).
      if (twinPending && atSend) this.holdSends = true;
      this.client = null;
      this.endHold();
      this.endSession();
      const now = Date.now();
      // Older closes do not count: a long hub outage's scattered closes are not an immediate refusal (review rv150 F1).
      if (atTwin) this.twinCloses = [...this.twinCloses.filter((t) => now - t <= CONTROL_OFF_RETRY.closesWithinMs), now];
      else if (!twinPending) this.twinCloses = [];
      if (atTwin && this.controlOff) this.retryLater();
      else if (atTwin && this.twinCloses.length >= TWIN_CLOSES_TO_SWITCH_OFF) this.switchControlOff();
      // Marked: not counted as an early drop (nor hinted at as a second gateway) by the forwarder (review rv148 F2).
      const err = atTwin ? Object.assign(new Error('the hub closed the connection during the twin read'), { atTwin: true }) : new Error('connection to the hub lost');
      for (const l of this.listeners) l(err);
    });
    client.on('error', (err: Error) => {
      if (this.client !== client) return;
      for (const l of this.listeners) l(err);
    });
    this.opening.add(client);
    try {
      await client.open();
    } catch (err) {
      await this.retire(client);
      throw err;
    } finally {
      this.opening.delete(client);
    }
    // Two connections of one identity: IoT Hub would close one of them, maybe the one in use.
    if (attempt !== this.attempt) throw await superseded();
    this.client = client;
    if (this.control && (!this.controlOff || Date.now() >= this.retryAtMs)) {
      // Held before the control plane asks for the twin (it may do so at once).
      if (this.holdSends) this.startHold(client);
      this.attachControl(client, this.control);
    }
  }

  sendsHeld(): Promise<void> | null {
    return this.hold && this.hold.client === this.client ? this.hold.done : null;
  }

  /**
   * Holds this new connection's sends until its first twin read settles (endHold), at most twinTimeoutMs: the bound on
   * how long an alarm waits, once per close that could be either (fx228). One lasting that long clears holdSends.
   */
  private startHold(client: SdkClient): void {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const timer = setTimeout(() => {
      if (this.hold?.client !== client) return;
      this.holdSends = false;
      this.endHold();
    }, this.twinTimeoutMs);
    timer.unref();
    this.hold = {
      client,
      done,
      release: () => {
        clearTimeout(timer);
        release();
      },
    };
  }

  /** Releases the current hold, if any (its held sends go, or fail if their connection is gone). */
  private endHold(): void {
    const h = this.hold;
    this.hold = null;
    h?.release();
  }

  setControl(handler: ControlHandler, opts: { twinTimeoutMs?: number } = {}): void {
    this.control = handler;
    this.twinTimeoutMs = opts.twinTimeoutMs ?? TWIN_TIMEOUT_MS;
  }

  controlStatus(): ControlPlaneStatus | null {
    return this.controlOff ?? this.control?.controlStatus?.() ?? null;
  }

  /**
   * The hub closed the connection at the twin read TWIN_CLOSES_TO_SWITCH_OFF times in a row: later connections register
   * no methods and read no twin (forwarding alone) until the retry (a Standard hub restarting does this too).
   */
  private switchControlOff(): void {
    const closes = this.twinCloses.length;
    this.retryDelayMs = CONTROL_OFF_RETRY.firstRetryMs;
    this.scheduleRetry();
    this.controlOff = {
      state: 'off',
      since: new Date().toISOString(),
      detail:
        `the hub closed the connection at the twin read on ${closes} connections in a row: no twin or direct methods until they are tried again at ${this.retryAt()} ` +
        '(IoT Hub Basic tier has neither, or a hub policy refuses them, or the hub is in trouble (restarting); for Basic tier: set control.enabled: false, or use a Standard tier hub)',
      retryAt: this.retryAt(),
    };
    this.control?.switchedOff?.(this.controlOff, closes);
  }

  /** A retried twin read was closed too: still off, tried again after twice the delay (at most maxRetryMs). */
  private retryLater(): void {
    const off = this.controlOff;
    if (!off) return;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, CONTROL_OFF_RETRY.maxRetryMs);
    this.scheduleRetry();
    off.retryAt = this.retryAt();
    off.detail = off.detail.replace(/tried again at \S+/, `tried again at ${off.retryAt}`);
    this.control?.switchedOff?.(off, this.twinCloses.length, true);
  }

  private retryAt(): string {
    return new Date(this.retryAtMs).toISOString();
  }

  /**
   * Tries the twin again after retryDelayMs: on the connection held by then (a new one attaches at connect() once
   * retryAtMs has passed). Unref'd: it must not keep a stopped agent's process alive.
   */
  private scheduleRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryAtMs = Date.now() + this.retryDelayMs;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const client = this.client;
      if (this.controlOff && this.control && client && this.controlClient !== client) this.attachControl(client, this.control);
    }, this.retryDelayMs);
    this.retryTimer.unref();
  }

  /** A first twin read settled with its connection up: the hub does not close at the twin, so the control plane is back. */
  private switchControlOn(): void {
    this.twinCloses = [];
    // The hub answers the twin: a close at a send can be told apart without holding sends (fx228).
    this.holdSends = false;
    if (!this.controlOff) return;
    this.controlOff = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.control?.switchedOn?.();
  }

  /** Registers direct methods and hands the agent a twin session, on this new client. */
  private attachControl(client: SdkClient, handler: ControlHandler): void {
    this.controlClient = client;
    const onMethod =
      client instanceof ModuleClient ? client.onMethod.bind(client) : (client as ClientType).onDeviceMethod.bind(client);
    for (const name of handler.methodNames) {
      onMethod(name, (request, response) => {
        if (!request || !response) return; // the SDK always passes both; its callback type says maybe
        void handler
          .method(name, request.payload)
          .then((r) => response.send(r.status, r.payload))
          .catch(() => undefined); // the connection went away before the answer: the caller sees a timeout
      });
    }
    let twin: Twin | null = null;
    let twinErrorsHeard = false;
    // Patches are taken once the first full read after subscribing is in: what came before is in that read.
    let ready = false;
    // The desired document of the latest full read, copied when the SDK announces it (synchronously with the read's
    // answer). Its cache, read after the await, may already have a patch merged in by lodash, arrays index by index.
    let lastRead: Record<string, unknown> | null = null;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the session's getters need the transport
    const self = this;
    let end!: (err: Error) => void;
    const ended = new Promise<never>((_, reject) => (end = reject));
    ended.catch(() => undefined);
    this.endSession = () => end(new Error('connection closed'));
    // The first read of this connection (getTwin's first call, its re-read after subscribing included): see twinCloses.
    let firstRead: 'not-yet' | 'pending' | 'settled' = 'not-yet';
    this.firstReadPending = () => self.client === client && firstRead === 'pending';
    // A twin operation ends with its answer, its timeout, or its connection, whichever comes first. The connection's
    // end also clears the timeout's timer: a closed client never answers, and a pending 15 s timer kept a stopped agent's
    // process alive that long.
    const op = <T>(p: Promise<T>, what: string) => withTimeout(Promise.race([p, ended]), this.twinTimeoutMs, what);
    const read = async () => {
      lastRead = null;
      let t = await op(client.getTwin(), 'twin read');
      if (!twinErrorsHeard) {
        // The SDK's Twin emits 'error' when asking for desired-patch notifications fails; with no listener that
        // would throw, and an uncaught exception stops the agent.
        twinErrorsHeard = true;
        t.on('error', (err: Error) => handler.twinError?.(err));
      }
      if (!twin) {
        // The SDK hands this listener its own cached desired object (at registration and after each read)
        // as well as each patch; only patches are news here, full reads come back from getTwin().
        const listener = (delta: unknown) => {
          if (delta === t.properties.desired) {
            // A full read's answer: any patch after it is news (DesiredState's versions sort out the order).
            lastRead = structuredClone(delta) as Record<string, unknown>;
            ready = true;
            return;
          }
          if (!ready || self.client !== client) return;
          if (delta && typeof delta === 'object') handler.desiredPatch(structuredClone(delta) as Record<string, unknown>);
        };
        t.on('properties.desired', listener);
        // Read again now that the desired-patch subscription is requested: a patch that fell between the
        // first read and the subscription is in this one. If this read fails, the next try starts over: patches
        // must not stay ignored on a connection whose read came back in the end.
        try {
          lastRead = null;
          t = await op(client.getTwin(), 'twin read');
        } catch (err) {
          t.removeListener('properties.desired', listener);
          ready = false;
          throw err;
        }
        twin = t;
        ready = true;
      }
      const { update: _update, ...reported } = t.properties.reported as Record<string, unknown>;
      const desired = lastRead ?? (structuredClone(t.properties.desired) as Record<string, unknown>);
      return { desired, reported: structuredClone(reported) };
    };
    const session: ControlSession = {
      get open() {
        return self.client === client;
      },
      async getTwin() {
        if (firstRead !== 'not-yet') return read();
        firstRead = 'pending';
        try {
          const r = await read();
          self.switchControlOn();
          return r;
        } catch (err) {
          // Answered with an error, or unanswered for twinTimeoutMs (the connection still up): the hub does not close
          // at the twin. A read ended by the connection's end is the disconnect listener's to count.
          if (self.client === client) self.switchControlOn();
          throw err;
        } finally {
          firstRead = 'settled';
          if (self.hold?.client === client) self.endHold();
        }
      },
      updateReported(patch) {
        const t = twin;
        if (!t) return Promise.reject(new Error('twin not read yet on this connection'));
        return op(
          new Promise<void>((resolve, reject) => t.properties.reported.update(patch, (err?: Error) => (err ? reject(err) : resolve()))),
          'reported properties update',
        );
      },
      recycle(reason) {
        if (self.client !== client) return;
        self.client = null;
        self.endHold();
        end(new Error(reason));
        void self.retire(client);
        // Marked: the agent closed it, not the hub (the forwarder reconnects at once, no drop counted; review rv73 M3).
        const err = Object.assign(new Error(reason), { recycled: true });
        for (const l of self.listeners) l(err);
      },
    };
    handler.connected(session);
  }

  async send(m: OutgoingMessage): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('not connected');
    const held = this.sendsHeld();
    if (held) {
      // Not outstanding while held: a close meanwhile is the twin read's (fx228).
      await held;
      if (this.client !== client) throw new Error('connection to the hub lost while sends were held for the twin read');
    }
    const msg = new Message(m.gzipped ?? m.body);
    msg.messageId = m.id;
    // IoT Hub's content properties describe JSON text in utf-8/16/32 (what body routing reads); a gzipped body is
    // bytes to the hub, so it goes without them (its schemaVersion property says `1-gzip` or `2-gzip` instead).
    if (!m.gzipped) {
      msg.contentType = 'application/json';
      msg.contentEncoding = 'utf-8';
    }
    for (const [k, v] of Object.entries(m.properties)) msg.properties.add(k, v);
    this.sending.set(client, (this.sending.get(client) ?? 0) + 1);
    try {
      if (this.mode === 'module' && client instanceof ModuleClient) {
        await client.sendOutputEvent(OUTPUTS[m.stream], msg);
      } else {
        await (client as ClientType).sendEvent(msg);
      }
    } finally {
      this.sending.set(client, (this.sending.get(client) ?? 1) - 1);
    }
  }

  async disconnect(): Promise<void> {
    this.attempt += 1;
    await this.disposeClient();
  }

  onDisconnect(listener: (err: Error | undefined) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Closes the current client and any whose open is still under way (their attempts are stale by now), hard; and waits
   * for the closes an earlier call started (the forwarder does not wait for its disconnect() before it connects again).
   */
  private async disposeClient(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.endHold();
    if (c) this.endSession();
    const pending = [...this.opening];
    this.opening.clear();
    for (const p of [...(c ? [c] : []), ...pending]) void this.retire(p);
    await Promise.all(this.closing);
  }

  /** Closes a client hard (closeHard), tracked until done. */
  private retire(client: SdkClient): Promise<void> {
    const done: Promise<void> = closeHard(client).finally(() => this.closing.delete(done));
    this.closing.add(done);
    return done;
  }
}
