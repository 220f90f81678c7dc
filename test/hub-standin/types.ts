import type { CloseReason } from './connection.js';
import type { JsonObject } from './twin.js';

/** Public types of the IoT Hub stand-in. See README.md in this folder. */

export interface IdentityOptions {
  deviceId: string;
  /** Set for a module identity (an IoT Edge module such as this gateway). */
  moduleId?: string;
  /** Base64 symmetric key; `randomKey()` makes one. */
  key: string;
  /** Initial twin sections (without `$version`). */
  twin?: { desired?: JsonObject; reported?: JsonObject };
}

export interface HubStandinOptions {
  /** Hub name; the HostName becomes `<hubName>.azure-devices.net`. Default 'standin-hub'. */
  hubName?: string;
  identities: IdentityOptions[];
  /** Most telemetry messages kept; older ones are evicted (counted in stats). Default 10000. */
  maxMessages?: number;
  /** Most simultaneous TCP connections; more are closed on accept. Default 64. */
  maxConnections?: number;
  /**
   * Keep subscriptions of clean-session=false clients across reconnects (MQTT 3.1.1 sessions),
   * answering CONNACK sessionPresent=1. Default true. The Node SDK always connects with
   * clean=false and does NOT re-subscribe the twin topics after a reconnect, so it relies on this.
   */
  persistentSessions?: boolean;
  /**
   * Close a connection when the SAS token it connected with expires, as IoT Hub does; the client must renew its
   * token (reconnect with a new one) in time. Default false.
   */
  enforceTokenExpiry?: boolean;
  /** Close a connection that sends no CONNECT within this time. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** Largest MQTT packet accepted; IoT Hub's message limit is 256 KiB. Default 300 KiB. */
  maxPacketBytes?: number;
  /** Clock (ms since epoch) used to check SAS expiry. Default Date.now. */
  now?: () => number;
}

export type PubackState = 'sent' | 'pending' | 'dropped' | 'lost' | 'none';

export interface ReceivedMessage {
  /** 1-based arrival order across all identities (keeps counting after evictions). */
  seq: number;
  deviceId: string;
  moduleId?: string;
  /** Module output name (`$.on`), e.g. 'telemetry' for sendOutputEvent('telemetry', msg). */
  output?: string;
  /** `$.mid` */
  messageId?: string;
  /** `$.cid` */
  correlationId?: string;
  /** `$.ct` (url-decoded) */
  contentType?: string;
  /** `$.ce` */
  contentEncoding?: string;
  /** `$.uid` */
  userId?: string;
  /** Application properties from the property bag. */
  properties: Record<string, string>;
  /** All `$.`-prefixed properties, keys kept as sent (e.g. `$.mid`). */
  systemProperties: Record<string, string>;
  body: Buffer;
  topic: string;
  qos: 0 | 1;
  /** DUP flag of the PUBLISH (the Node SDK never sets it: it re-sends as a new PUBLISH). */
  dup: boolean;
  retain: boolean;
  receivedAt: Date;
  /** What happened to the PUBACK: 'pending' while delayed, 'lost' if the connection closed first. */
  puback: PubackState;
  /** Which connection carried it (compare to see a resend after reconnect). */
  connectionId: number;
}

export interface TwinView {
  desired: JsonObject;
  reported: JsonObject;
  desiredVersion: number;
  reportedVersion: number;
}

export type RefuseMode = 'off' | 'server-unavailable' | 'not-authorized' | 'tcp-close';

export interface PubackPolicy {
  /** Wait this long before each telemetry PUBACK. */
  delayMs?: number;
  /** Never send telemetry PUBACKs (messages are still recorded, with puback 'dropped'). */
  drop?: boolean;
  /**
   * Close the connection at each telemetry publish instead of acknowledging it (not recorded), which is how IoT Hub
   * answers over MQTT when it throttles a device or refuses a message: MQTT has no error reply for a publish.
   */
  closeOnTelemetry?: boolean;
  /**
   * A send throttle like IoT Hub's device-to-cloud limit (S1: 100 sends/s per hub, up to 8 units): telemetry
   * PUBACKs, across all connections, go out at most this many per second; the excess waits its turn (after
   * `delayMs`), so a fast sender is slowed to this rate rather than refused. Acks lost with a closed connection take
   * no slot. For benchmarks.
   */
  maxPerSecond?: number;
}

export interface TwinPolicy {
  /** Every twin read is answered with this error status. */
  refuseGet?: number;
  /** Only these twin reads (counted from 1 from when the policy is set, across connections) get `refuseGet`. */
  refuseGetNumbers?: number[];
  refuseReported?: number;
  /**
   * Twin reads get no answer at all ('ignore': an edgeHub or gateway that does not serve the twin), or the connection
   * is closed at once ('close': what IoT Hub's Basic tier, which has no twins, is reported to do).
   */
  getAction?: 'ignore' | 'close';
  /** Called right after a twin read is answered (same tick: a patch pushed here arrives in the same burst). */
  afterGet?: (getNumber: number) => void;
}

export interface MethodResult {
  status: number;
  /** Parsed JSON of the device's answer; the raw text when it is not JSON; null when empty. */
  payload: unknown;
}

export interface HubStats {
  /** TCP connections accepted (before TLS). */
  tcpAccepted: number;
  tlsErrors: number;
  /** CONNECT packets seen. */
  connectAttempts: number;
  /** CONNACK 0 sent. */
  connects: number;
  /** CONNACK 4/5 sent because of credentials (not counting refuseConnections). */
  authFailures: number;
  /** Connections refused by refuseConnections() or maxConnections. */
  refused: number;
  malformedPackets: number;
  protocolViolations: number;
  keepaliveTimeouts: number;
  clientDisconnects: number;
  /** Connections closed by dropConnections(). */
  dropped: number;
  /** Connections closed because their SAS token expired (enforceTokenExpiry). */
  tokenExpiries: number;
  telemetryReceived: number;
  /** Telemetry publishes answered by closing the connection (PubackPolicy.closeOnTelemetry); not recorded. */
  telemetryRefused: number;
  messagesEvicted: number;
  pubacksSent: number;
  pubacksDropped: number;
  twinGets: number;
  twinReportedPatches: number;
  /** Twin reads and reported patches answered with an error status by setTwinPolicy(). */
  twinRefused: number;
  twinDesiredPushes: number;
  methodInvocations: number;
  methodResponses: number;
  /** Packets read and ignored while stalled. */
  stalledPackets: number;
}

export interface ConnectionEvent {
  at: Date;
  connectionId: number;
  clientId: string | undefined;
  event: 'connected' | 'closed';
  reason?: CloseReason;
  detail?: string;
}

export interface HubStandin {
  readonly port: number;
  /** `<hubName>.azure-devices.net` — the HostName in connection strings and SAS resources. */
  readonly hostName: string;
  /** PEM of the test CA; give it to the SDK with `client.setOptions({ ca })`. */
  readonly caPem: string;
  /** Recorded telemetry, oldest first (bounded by maxMessages). Do not mutate. */
  readonly messages: readonly ReceivedMessage[];
  /** Live counters (read them; do not write). */
  readonly stats: Readonly<HubStats>;
  /** Connect/close history, newest last (bounded, last 1000). */
  readonly connectionLog: readonly ConnectionEvent[];

  /** `HostName=..;DeviceId=..;[ModuleId=..;]SharedAccessKey=..;GatewayHostName=localhost:PORT` */
  connectionString(deviceId: string, moduleId?: string): string;
  /** Resolves with all messages once `predicate(messages)` holds; rejects with a diagnostic on timeout. */
  waitFor(predicate: (messages: readonly ReceivedMessage[]) => boolean, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Resolves with the first message matching `match` (already recorded or yet to come). */
  waitForMessage(match: (m: ReceivedMessage) => boolean, timeoutMs?: number): Promise<ReceivedMessage>;
  /** Resolves once `condition()` is true; re-checked on every hub state change and every 20 ms. */
  waitUntil(condition: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  clearMessages(): void;

  twin(deviceId: string, moduleId?: string): TwinView;
  /** Merges `patch` into desired, bumps `$version`, pushes it to a connected subscribed client. Returns the new version. */
  updateDesired(deviceId: string, moduleId: string | undefined, patch: JsonObject): number;
  /** Direct method call. Rejects (HubMethodError, status 404) if the identity is not connected and subscribed, 504 on timeout. */
  invokeMethod(deviceId: string, moduleId: string | undefined, name: string, payload: unknown, timeoutMs?: number): Promise<MethodResult>;

  /** Destroys every client socket abruptly (no MQTT DISCONNECT). */
  dropConnections(): void;
  /** Refuse new connections: CONNACK 3 / CONNACK 5 / TCP close before TLS. 'off' accepts again. */
  refuseConnections(mode: RefuseMode): void;
  /** Slow or missing telemetry PUBACKs; `{}` restores normal acks. */
  setPubackPolicy(policy: PubackPolicy): void;
  /**
   * Answer twin reads and/or reported-property updates with this error status (e.g. 429 when IoT Hub throttles twin
   * operations, 400, 503) and an `errorCode` body, as IoT Hub does; undefined answers normally.
   */
  setTwinPolicy(policy: TwinPolicy): void;
  /** Stalled: sockets stay open but every packet is read and ignored (a black-holed link). */
  setStalled(stalled: boolean): void;
  /** Forget persistent sessions (subscriptions) of disconnected clients, as if the hub lost them. */
  forgetSessions(): void;

  /** Topic filters the identity is subscribed to (live connection or kept session), sorted. */
  subscriptions(deviceId: string, moduleId?: string): string[];
  /** Client ids (deviceId or deviceId/moduleId) with an accepted connection. */
  connectedClients(): string[];
  stop(): Promise<void>;
}
