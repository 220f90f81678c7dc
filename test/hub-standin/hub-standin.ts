import { randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import * as tls from 'node:tls';
import type * as mqttPacket from 'mqtt-packet';
import { authenticateConnect, clientIdOf, CONNACK, type Identity } from './auth.js';
import { loadTestCerts } from './certs.js';
import { MqttConnection, type CloseReason, type ConnectionHandler } from './connection.js';
import { HubStandinError } from './errors.js';
import { HubMethodError, MethodCalls } from './methods.js';
import { describeMessage, toReceivedMessage } from './telemetry.js';
import { isValidTopicFilter, parseInboundTopic, topicMatches } from './topics.js';
import { TwinState, type JsonObject } from './twin.js';
import { Waiters } from './waiters.js';
import type {
  ConnectionEvent,
  HubStandin,
  HubStandinOptions,
  HubStats,
  MethodResult,
  PubackPolicy,
  TwinPolicy,
  ReceivedMessage,
  RefuseMode,
  TwinView,
} from './types.js';

/**
 * A local stand-in for Azure IoT Hub's device-facing MQTT surface: MQTT 3.1.1 over TLS on
 * 127.0.0.1 (OS-chosen port), SAS authentication, telemetry, twin, direct methods, plus fault
 * injection. Written on node:tls + mqtt-packet so tests control every byte and timing.
 */

/** A fresh random base64 key (32 bytes), like the ones IoT Hub generates. */
export function randomKey(): string {
  return randomBytes(32).toString('base64');
}

const MAX_SUBSCRIPTIONS = 50; // per client, as IoT Hub documents for MQTT 5; plenty for the SDK
const MAX_CONNECTION_LOG = 1000;
const MAX_DELAYED_ACKS = 10_000; // per connection

function newStats(): HubStats {
  return {
    tcpAccepted: 0,
    tlsErrors: 0,
    connectAttempts: 0,
    connects: 0,
    authFailures: 0,
    refused: 0,
    malformedPackets: 0,
    protocolViolations: 0,
    keepaliveTimeouts: 0,
    clientDisconnects: 0,
    dropped: 0,
    tokenExpiries: 0,
    telemetryReceived: 0,
    telemetryRefused: 0,
    messagesEvicted: 0,
    pubacksSent: 0,
    pubacksDropped: 0,
    twinGets: 0,
    twinReportedPatches: 0,
    twinRefused: 0,
    twinDesiredPushes: 0,
    methodInvocations: 0,
    methodResponses: 0,
    stalledPackets: 0,
  };
}

class HubStandinImpl implements HubStandin, ConnectionHandler {
  readonly hostName: string;
  readonly caPem: string;
  readonly messages: ReceivedMessage[] = [];
  readonly stats = newStats();
  readonly connectionLog: ConnectionEvent[] = [];
  port = 0;

  private readonly server: tls.Server;
  private readonly identities = new Map<string, Identity>();
  private readonly twins = new Map<string, TwinState>();
  private readonly rawSockets = new Set<Socket>();
  private readonly connections = new Set<MqttConnection>();
  private readonly byClientId = new Map<string, MqttConnection>();
  private readonly sessions = new Map<string, Map<string, number>>();
  private readonly methods = new MethodCalls();
  private readonly waiters = new Waiters(() => this.diagnostics());
  private refuseMode: RefuseMode = 'off';
  private puback: PubackPolicy = {};
  private twinPolicy: TwinPolicy = {};
  private twinGetsUnderPolicy = 0;
  /**
   * With a throttle (PubackPolicy.maxPerSecond): telemetry PUBACKs waiting their turn, across connections, in arrival
   * order. A slot is taken when an ack goes, not when it is queued: a closed connection's waiting acks leave the queue
   * (lost) and hold no slot, so the next connection is not paced behind them (review rv113 L3).
   */
  private readonly ackQueue: { conn: MqttConnection; readyAt: number; send: () => void }[] = [];
  /** Waiting acks per connection (capped at MAX_DELAYED_ACKS). */
  private readonly queuedAcks = new Map<MqttConnection, number>();
  private lastAckAt = -Infinity;
  private ackTimer: NodeJS.Timeout | null = null;
  private stalled = false;
  private seq = 0;
  private stopped = false;

  private readonly maxMessages: number;
  private readonly maxConnections: number;
  private readonly persistentSessions: boolean;
  private readonly enforceTokenExpiry: boolean;
  private readonly connectTimeoutMs: number;
  private readonly maxPacketBytes: number;
  private readonly now: () => number;

  constructor(opts: HubStandinOptions) {
    this.hostName = `${opts.hubName ?? 'standin-hub'}.azure-devices.net`;
    this.maxMessages = opts.maxMessages ?? 10_000;
    this.maxConnections = opts.maxConnections ?? 64;
    this.persistentSessions = opts.persistentSessions ?? true;
    this.enforceTokenExpiry = opts.enforceTokenExpiry ?? false;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.maxPacketBytes = opts.maxPacketBytes ?? 300 * 1024;
    this.now = opts.now ?? Date.now;
    for (const id of opts.identities) {
      const clientId = clientIdOf(id.deviceId, id.moduleId);
      if (this.identities.has(clientId)) throw new Error(`identity ${clientId} given twice`);
      const identity: Identity = { deviceId: id.deviceId, key: id.key };
      if (id.moduleId !== undefined) identity.moduleId = id.moduleId;
      this.identities.set(clientId, identity);
      this.twins.set(clientId, new TwinState(id.twin));
    }
    const certs = loadTestCerts();
    this.caPem = certs.caPem;
    this.server = tls.createServer({
      key: certs.serverKeyPem,
      cert: certs.serverCertPem,
      minVersion: 'TLSv1.2',
      handshakeTimeout: 10_000,
    });
    // 'connection' fires with the raw TCP socket before the TLS handshake.
    this.server.on('connection', (raw: Socket) => this.onTcp(raw));
    this.server.on('secureConnection', (socket: tls.TLSSocket) => this.onTls(socket));
    this.server.on('tlsClientError', () => {
      this.stats.tlsErrors += 1;
      this.changed();
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  // ---- accepting -------------------------------------------------------------------------

  private onTcp(raw: Socket): void {
    this.stats.tcpAccepted += 1;
    if (this.stopped || this.refuseMode === 'tcp-close' || this.rawSockets.size >= this.maxConnections) {
      this.stats.refused += 1;
      raw.destroy();
      this.changed();
      return;
    }
    this.rawSockets.add(raw);
    raw.on('close', () => this.rawSockets.delete(raw));
    // A TLS failure leaves an error on the raw socket; the server already counts it.
    raw.on('error', () => undefined);
  }

  private onTls(socket: tls.TLSSocket): void {
    const conn = new MqttConnection(socket, this, {
      connectTimeoutMs: this.connectTimeoutMs,
      maxPacketBytes: this.maxPacketBytes,
    });
    this.connections.add(conn);
  }

  // ---- ConnectionHandler -----------------------------------------------------------------

  onPacket(conn: MqttConnection, packet: mqttPacket.Packet): void {
    if (this.stalled) {
      this.stats.stalledPackets += 1;
      return;
    }
    if (conn.clientId === undefined) {
      if (packet.cmd !== 'connect') return this.violation(conn, `first packet was ${packet.cmd}, not connect`);
      return this.onConnect(conn, packet);
    }
    switch (packet.cmd) {
      case 'publish':
        return this.onPublish(conn, packet);
      case 'subscribe':
        return this.onSubscribe(conn, packet);
      case 'unsubscribe':
        for (const topic of packet.unsubscriptions) conn.subscriptions.delete(topic);
        conn.send({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: [] });
        return;
      case 'pingreq':
        conn.send({ cmd: 'pingresp' });
        return;
      case 'disconnect':
        conn.close('client-disconnect', 'DISCONNECT received');
        return;
      case 'puback':
        return; // we publish QoS 0 only; a stray PUBACK is harmless
      default:
        return this.violation(conn, `unexpected ${packet.cmd} packet`);
    }
  }

  onClosed(conn: MqttConnection, reason: CloseReason, detail: string): void {
    this.connections.delete(conn);
    if (reason === 'malformed') this.stats.malformedPackets += 1;
    if (reason === 'keepalive-timeout') this.stats.keepaliveTimeouts += 1;
    if (reason === 'client-disconnect') this.stats.clientDisconnects += 1;
    if (reason === 'dropped') this.stats.dropped += 1;
    if (conn.clientId !== undefined) {
      if (this.byClientId.get(conn.clientId) === conn) this.byClientId.delete(conn.clientId);
      if (conn.cleanSession || !this.persistentSessions) this.sessions.delete(conn.clientId);
      this.log({ connectionId: conn.id, clientId: conn.clientId, event: 'closed', reason, detail });
    }
    this.changed();
  }

  private violation(conn: MqttConnection, detail: string): void {
    this.stats.protocolViolations += 1;
    conn.close('protocol-violation', detail);
  }

  // ---- CONNECT ---------------------------------------------------------------------------

  private onConnect(conn: MqttConnection, packet: mqttPacket.IConnectPacket): void {
    this.stats.connectAttempts += 1;
    const refuse = (returnCode: number, detail: string): void => {
      conn.sendAndClose({ cmd: 'connack', returnCode, sessionPresent: false }, 'connack-refused', detail);
      this.changed();
    };
    if (packet.protocolVersion !== 4) return refuse(CONNACK.unacceptableProtocol, `protocol version ${String(packet.protocolVersion)}`);
    if (this.refuseMode === 'server-unavailable' || this.refuseMode === 'not-authorized') {
      // Counted as refused, like 'tcp-close' refusals: the doc of stats.refused covers every refuseConnections() mode.
      this.stats.refused += 1;
      return this.refuseMode === 'server-unavailable'
        ? refuse(CONNACK.serverUnavailable, 'refuseConnections(server-unavailable)')
        : refuse(CONNACK.notAuthorized, 'refuseConnections(not-authorized)');
    }
    const auth = authenticateConnect(
      { clientId: packet.clientId, username: packet.username, password: packet.password },
      this.hostName,
      this.identities,
      Math.floor(this.now() / 1000),
    );
    if (!auth.ok) {
      this.stats.authFailures += 1;
      return refuse(auth.returnCode, auth.reason);
    }
    const clientId = packet.clientId;
    // MQTT §3.1.4: a second connection with the same client id replaces the first.
    this.byClientId.get(clientId)?.close('replaced', 'same client id connected again');

    const clean = packet.clean !== false;
    let session = this.persistentSessions && !clean ? this.sessions.get(clientId) : undefined;
    const sessionPresent = session !== undefined;
    if (session === undefined) {
      session = new Map<string, number>();
      if (this.persistentSessions && !clean) this.sessions.set(clientId, session);
      else this.sessions.delete(clientId);
    }
    conn.identity = auth.identity;
    conn.clientId = clientId;
    conn.cleanSession = clean;
    conn.subscriptions = session;
    conn.setKeepalive(packet.keepalive ?? 0);
    this.byClientId.set(clientId, conn);
    this.stats.connects += 1;
    conn.send({ cmd: 'connack', returnCode: CONNACK.accepted, sessionPresent });
    if (this.enforceTokenExpiry) {
      const timer = setTimeout(() => {
        this.stats.tokenExpiries += 1;
        conn.close('token-expired', `SAS token expired at ${new Date(auth.expiresAt * 1000).toISOString()}`);
      }, Math.max(0, auth.expiresAt * 1000 - this.now()));
      conn.onCloseHooks.add(() => clearTimeout(timer));
    }
    this.log({ connectionId: conn.id, clientId, event: 'connected' });
    this.changed();
  }

  // ---- SUBSCRIBE -------------------------------------------------------------------------

  /** Topics an identity may subscribe to, as IoT Hub allows (its own device-bound topics and $iothub). */
  private allowedFilter(conn: MqttConnection, filter: string): boolean {
    if (!isValidTopicFilter(filter)) return false;
    const id = conn.identity;
    if (id === undefined) return false;
    if (filter.startsWith('$iothub/')) return true;
    const own = id.moduleId === undefined ? `devices/${id.deviceId}/` : `devices/${id.deviceId}/modules/${id.moduleId}/`;
    return filter.startsWith(own);
  }

  private onSubscribe(conn: MqttConnection, packet: mqttPacket.ISubscribePacket): void {
    const granted = packet.subscriptions.map((s) => {
      const allowed = this.allowedFilter(conn, s.topic);
      const room = conn.subscriptions.has(s.topic) || conn.subscriptions.size < MAX_SUBSCRIPTIONS;
      if (!allowed || !room) return 0x80;
      const qos = Math.min(s.qos, 1); // IoT Hub grants at most QoS 1
      conn.subscriptions.set(s.topic, qos);
      return qos;
    });
    conn.send({ cmd: 'suback', messageId: packet.messageId ?? 0, granted });
    this.changed();
  }

  /** Publishes hub → device if a subscription matches (QoS 0: twin, methods). Returns whether sent. */
  private deliver(conn: MqttConnection, topic: string, payload: string | Buffer): boolean {
    for (const filter of conn.subscriptions.keys()) {
      if (topicMatches(filter, topic)) {
        conn.send({ cmd: 'publish', topic, payload, qos: 0, dup: false, retain: false });
        return true;
      }
    }
    return false;
  }

  // ---- PUBLISH (device → hub) ------------------------------------------------------------

  private onPublish(conn: MqttConnection, packet: mqttPacket.IPublishPacket): void {
    if (packet.qos === 2) return this.violation(conn, 'QoS 2 publish (IoT Hub closes the connection)');
    let topic;
    try {
      topic = parseInboundTopic(packet.topic);
    } catch (err) {
      if (err instanceof HubStandinError) return this.violation(conn, err.message);
      throw err;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    switch (topic.kind) {
      case 'telemetry':
        return this.onTelemetry(conn, packet, topic.deviceId, topic.moduleId, topic.bag, payload);
      case 'twin-get':
        return this.onTwinGet(conn, topic.rid);
      case 'twin-patch-reported':
        return this.onReportedPatch(conn, topic.rid, payload);
      case 'method-response':
        return this.onMethodResponse(conn, topic.rid, topic.status, payload);
      case 'unsupported':
        return this.violation(conn, `publish to unsupported topic ${JSON.stringify(packet.topic.slice(0, 200))}`);
    }
  }

  private onTelemetry(
    conn: MqttConnection,
    packet: mqttPacket.IPublishPacket,
    deviceId: string,
    moduleId: string | undefined,
    bag: string,
    payload: Buffer,
  ): void {
    const id = conn.identity;
    if (id === undefined || id.deviceId !== deviceId || id.moduleId !== moduleId) {
      return this.violation(conn, `telemetry topic for ${clientIdOf(deviceId, moduleId)} on connection of ${conn.clientId ?? '?'}`);
    }
    if (this.puback.closeOnTelemetry === true) {
      this.stats.telemetryRefused += 1;
      return conn.close('refused', 'setPubackPolicy({ closeOnTelemetry })');
    }
    let msg: ReceivedMessage;
    try {
      msg = toReceivedMessage({
        seq: this.seq + 1,
        deviceId,
        moduleId,
        bag,
        topic: packet.topic,
        payload,
        qos: packet.qos === 1 ? 1 : 0,
        dup: packet.dup,
        retain: packet.retain,
        connectionId: conn.id,
      });
    } catch (err) {
      if (err instanceof HubStandinError) return this.violation(conn, err.message);
      throw err;
    }
    this.seq += 1;
    this.messages.push(msg);
    if (this.messages.length > this.maxMessages) {
      this.messages.shift();
      this.stats.messagesEvicted += 1;
    }
    this.stats.telemetryReceived += 1;
    if (packet.qos === 1) this.acknowledge(conn, msg, packet.messageId ?? 0);
    this.changed();
  }

  private acknowledge(conn: MqttConnection, msg: ReceivedMessage, messageId: number): void {
    const policy = this.puback;
    if (policy.drop === true) {
      msg.puback = 'dropped';
      this.stats.pubacksDropped += 1;
      return;
    }
    const send = (): void => {
      conn.send({ cmd: 'puback', messageId });
      msg.puback = 'sent';
      this.stats.pubacksSent += 1;
      this.changed();
    };
    const delay = policy.delayMs ?? 0;
    const throttled = policy.maxPerSecond !== undefined && policy.maxPerSecond > 0;
    if (!throttled && delay <= 0) return send();
    if ((throttled ? (this.queuedAcks.get(conn) ?? 0) : conn.timers.size) >= MAX_DELAYED_ACKS) {
      // Keep memory bounded under a flood: past the cap a delayed ack becomes a dropped one.
      msg.puback = 'dropped';
      this.stats.pubacksDropped += 1;
      return;
    }
    const lost = (): void => {
      if (msg.puback === 'pending') msg.puback = 'lost';
    };
    if (throttled) return this.queueAck(conn, Date.now() + delay, send, lost);
    conn.onCloseHooks.add(lost);
    const timer = setTimeout(() => {
      conn.timers.delete(timer);
      conn.onCloseHooks.delete(lost);
      send();
    }, delay);
    conn.timers.add(timer);
  }

  private queueAck(conn: MqttConnection, readyAt: number, send: () => void, lost: () => void): void {
    const n = this.queuedAcks.get(conn);
    if (n === undefined) {
      // Once per connection: its waiting acks are lost with it and leave the queue.
      conn.onCloseHooks.add(() => {
        this.queuedAcks.delete(conn);
        for (let i = this.ackQueue.length - 1; i >= 0; i--) if (this.ackQueue[i]!.conn === conn) this.ackQueue.splice(i, 1);
        this.pumpAcks();
      });
    }
    this.queuedAcks.set(conn, (n ?? 0) + 1);
    conn.onCloseHooks.add(lost);
    this.ackQueue.push({
      conn,
      readyAt,
      send: () => {
        conn.onCloseHooks.delete(lost);
        send();
      },
    });
    this.pumpAcks();
  }

  /** Sends the waiting acks that are due, one per 1000 / maxPerSecond ms, and sets a timer for the next. */
  private pumpAcks(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    for (;;) {
      const next = this.ackQueue[0];
      if (next === undefined || this.stopped) return;
      const rate = this.puback.maxPerSecond;
      const at = Math.max(next.readyAt, rate !== undefined && rate > 0 ? this.lastAckAt + 1000 / rate : -Infinity);
      const now = Date.now();
      if (at > now) {
        this.ackTimer = setTimeout(() => this.pumpAcks(), at - now);
        return;
      }
      this.ackQueue.shift();
      this.queuedAcks.set(next.conn, (this.queuedAcks.get(next.conn) ?? 1) - 1);
      // The slot taken is its scheduled time (a late timer does not lower the rate), no earlier than one interval
      // ago (no burst after the event loop stalled).
      this.lastAckAt = Math.max(at, now - (rate !== undefined && rate > 0 ? 1000 / rate : 0));
      next.send();
    }
  }

  // ---- twin ------------------------------------------------------------------------------

  private twinOf(deviceId: string, moduleId: string | undefined): TwinState {
    const twin = this.twins.get(clientIdOf(deviceId, moduleId));
    if (twin === undefined) throw new Error(`no identity ${clientIdOf(deviceId, moduleId)} in this stand-in`);
    return twin;
  }

  /** Answers a twin request with an error status, as setTwinPolicy() asks; true if it did. */
  private refuseTwin(conn: MqttConnection, rid: string, status: number | undefined): boolean {
    if (status === undefined) return false;
    this.stats.twinRefused += 1;
    // IoT Hub's error body: a six-digit errorCode beginning with the status, and a message.
    const body = { errorCode: status * 1000 + 1, message: `refused by setTwinPolicy (${status})` };
    this.deliver(conn, `$iothub/twin/res/${status}/?$rid=${encodeURIComponent(rid)}`, JSON.stringify(body));
    this.changed();
    return true;
  }

  private onTwinGet(conn: MqttConnection, rid: string): void {
    this.stats.twinGets += 1;
    const twin = this.twins.get(conn.clientId ?? '');
    if (twin === undefined) return;
    const n = ++this.twinGetsUnderPolicy;
    if (this.twinPolicy.getAction === 'ignore') return;
    if (this.twinPolicy.getAction === 'close') return void conn.close('refused', "setTwinPolicy({ getAction: 'close' })");
    const only = this.twinPolicy.refuseGetNumbers;
    if ((only === undefined || only.includes(n)) && this.refuseTwin(conn, rid, this.twinPolicy.refuseGet)) return;
    this.deliver(conn, `$iothub/twin/res/200/?$rid=${encodeURIComponent(rid)}`, JSON.stringify(twin.getResponseBody()));
    this.twinPolicy.afterGet?.(n);
    this.changed();
  }

  private onReportedPatch(conn: MqttConnection, rid: string, payload: Buffer): void {
    this.stats.twinReportedPatches += 1;
    const twin = this.twins.get(conn.clientId ?? '');
    if (twin === undefined) return;
    if (this.refuseTwin(conn, rid, this.twinPolicy.refuseReported)) return;
    const ridParam = `$rid=${encodeURIComponent(rid)}`;
    try {
      const version = twin.patchReported(JSON.parse(payload.toString('utf8')) as unknown);
      this.deliver(conn, `$iothub/twin/res/204/?${ridParam}&$version=${version}`, '');
    } catch (err) {
      if (!(err instanceof SyntaxError) && !(err instanceof HubStandinError)) throw err;
      // IoT Hub answers 400 with an error body; the SDK turns `errorCode` into an Error.
      const body = { errorCode: 400004, message: `invalid reported patch: ${err.message}` };
      this.deliver(conn, `$iothub/twin/res/400/?${ridParam}`, JSON.stringify(body));
    }
    this.changed();
  }

  twin(deviceId: string, moduleId?: string): TwinView {
    return this.twinOf(deviceId, moduleId).snapshot();
  }

  updateDesired(deviceId: string, moduleId: string | undefined, patch: JsonObject): number {
    const version = this.twinOf(deviceId, moduleId).patchDesired(patch);
    const conn = this.byClientId.get(clientIdOf(deviceId, moduleId));
    if (conn !== undefined && !this.stalled) {
      const body = JSON.stringify({ ...patch, $version: version });
      if (this.deliver(conn, `$iothub/twin/PATCH/properties/desired/?$version=${version}`, body)) {
        this.stats.twinDesiredPushes += 1;
      }
    }
    this.changed();
    return version;
  }

  // ---- direct methods --------------------------------------------------------------------

  invokeMethod(deviceId: string, moduleId: string | undefined, name: string, payload: unknown, timeoutMs = 10_000): Promise<MethodResult> {
    const clientId = clientIdOf(deviceId, moduleId);
    if (!this.identities.has(clientId)) return Promise.reject(new HubMethodError(404, `no identity ${clientId}`));
    if (name === '' || /[/?#+]/.test(name)) return Promise.reject(new HubMethodError(400, `bad method name ${JSON.stringify(name)}`));
    return this.methods.start(clientId, name, timeoutMs, (rid) => {
      const conn = this.byClientId.get(clientId);
      if (conn === undefined || this.stalled) return false;
      if (!this.deliver(conn, `$iothub/methods/POST/${name}/?$rid=${rid}`, JSON.stringify(payload ?? null))) return false;
      this.stats.methodInvocations += 1;
      this.changed();
      return true;
    });
  }

  private onMethodResponse(conn: MqttConnection, rid: string, status: number, payload: Buffer): void {
    if (this.methods.answer(conn.clientId ?? '', rid, status, payload)) {
      this.stats.methodResponses += 1;
      this.changed();
    }
  }

  // ---- waiting ---------------------------------------------------------------------------

  private changed(): void {
    this.waiters.notify();
  }

  private log(e: Omit<ConnectionEvent, 'at'>): void {
    this.connectionLog.push({ at: new Date(), ...e });
    if (this.connectionLog.length > MAX_CONNECTION_LOG) this.connectionLog.shift();
  }

  private diagnostics(): string {
    const last = this.messages.slice(-5).map(describeMessage);
    const closes = this.connectionLog.slice(-5).map((e) => `${e.event} ${e.clientId ?? '?'}${e.reason ? ` (${e.reason}: ${e.detail ?? ''})` : ''}`);
    return [
      `${this.messages.length} message(s) recorded${last.length ? `; last: ${last.join(' | ')}` : ''}`,
      `connected: [${this.connectedClients().join(', ')}]`,
      `recent connections: [${closes.join('; ')}]`,
      `stats: ${JSON.stringify(this.stats)}`,
    ].join('\n  ');
  }

  waitUntil(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    return this.waiters.until(condition, timeoutMs, what);
  }

  async waitFor(predicate: (messages: readonly ReceivedMessage[]) => boolean, timeoutMs = 5000): Promise<ReceivedMessage[]> {
    await this.waitUntil(() => predicate(this.messages), timeoutMs, 'message predicate');
    return [...this.messages];
  }

  async waitForMessage(match: (m: ReceivedMessage) => boolean, timeoutMs = 5000): Promise<ReceivedMessage> {
    let found: ReceivedMessage | undefined;
    await this.waitUntil(
      () => {
        found = this.messages.find(match);
        return found !== undefined;
      },
      timeoutMs,
      'matching message',
    );
    return found as ReceivedMessage;
  }

  clearMessages(): void {
    this.messages.length = 0;
    this.changed();
  }

  // ---- fault injection -------------------------------------------------------------------

  dropConnections(): void {
    for (const conn of [...this.connections]) conn.close('dropped', 'dropConnections()');
    // Also sockets still in the TLS handshake.
    for (const raw of [...this.rawSockets]) raw.destroy();
  }

  refuseConnections(mode: RefuseMode): void {
    this.refuseMode = mode;
  }

  setPubackPolicy(policy: PubackPolicy): void {
    this.puback = { ...policy };
  }

  setTwinPolicy(policy: TwinPolicy): void {
    this.twinPolicy = { ...policy };
    this.twinGetsUnderPolicy = 0;
  }

  setStalled(stalled: boolean): void {
    this.stalled = stalled;
  }

  forgetSessions(): void {
    for (const clientId of [...this.sessions.keys()]) {
      if (!this.byClientId.has(clientId)) this.sessions.delete(clientId);
    }
  }

  subscriptions(deviceId: string, moduleId?: string): string[] {
    const clientId = clientIdOf(deviceId, moduleId);
    const live = this.byClientId.get(clientId)?.subscriptions ?? this.sessions.get(clientId);
    return live === undefined ? [] : [...live.keys()].sort();
  }

  connectedClients(): string[] {
    return [...this.byClientId.keys()];
  }

  connectionString(deviceId: string, moduleId?: string): string {
    const id = this.identities.get(clientIdOf(deviceId, moduleId));
    if (id === undefined) throw new Error(`no identity ${clientIdOf(deviceId, moduleId)} in this stand-in`);
    const module = moduleId === undefined ? '' : `ModuleId=${moduleId};`;
    return `HostName=${this.hostName};DeviceId=${deviceId};${module}SharedAccessKey=${id.key};GatewayHostName=localhost:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.methods.rejectAll(503, 'hub stand-in stopped');
    for (const conn of [...this.connections]) conn.close('stopped', 'stop()');
    for (const raw of [...this.rawSockets]) raw.destroy();
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.waiters.clear();
  }
}

/** Starts a stand-in on 127.0.0.1 with an OS-chosen port. Call `stop()` when done. */
export async function startHubStandin(opts: HubStandinOptions): Promise<HubStandin> {
  const hub = new HubStandinImpl(opts);
  await hub.listen();
  return hub;
}
