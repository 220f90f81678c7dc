import type { TLSSocket } from 'node:tls';
import * as mqttPacket from 'mqtt-packet';
import type { Identity } from './auth.js';

/**
 * One MQTT 3.1.1 connection over an accepted TLS socket: framing (mqtt-packet parser and
 * generator), CONNECT and keep-alive deadlines, packet-size limit, and a single close path that
 * reports why. It knows nothing of IoT Hub semantics; the hub (hub-standin.ts) handles packets.
 */
export type CloseReason =
  | 'client-disconnect' // client sent DISCONNECT
  | 'socket-closed' // peer closed or socket error
  | 'dropped' // dropConnections()
  | 'malformed' // undecodable bytes or oversize packet
  | 'protocol-violation' // decodable but not allowed here (QoS 2, foreign topic, ...)
  | 'connack-refused' // CONNACK with a non-zero code was sent
  | 'keepalive-timeout'
  | 'connect-timeout'
  | 'replaced' // same client id connected again
  | 'token-expired' // the SAS token of the connection expired (enforceTokenExpiry)
  | 'refused' // a publish answered by closing (PubackPolicy.closeOnTelemetry, TwinPolicy.getAction 'close')
  | 'stopped'; // stop()

export interface ConnectionHandler {
  onPacket(conn: MqttConnection, packet: mqttPacket.Packet): void;
  onClosed(conn: MqttConnection, reason: CloseReason, detail: string): void;
}

export interface ConnectionLimits {
  connectTimeoutMs: number;
  maxPacketBytes: number;
}

let nextId = 1;

export class MqttConnection {
  readonly id = nextId++;
  /** Set once CONNECT was accepted. */
  identity: Identity | undefined;
  clientId: string | undefined;
  cleanSession = true;
  /** filter → granted QoS. Shared with the persistent session when there is one. */
  subscriptions = new Map<string, number>();
  /** Timers owned by this connection (delayed PUBACKs); cleared on close. */
  readonly timers = new Set<NodeJS.Timeout>();
  /** Callbacks run on close (e.g. mark delayed PUBACKs as lost). */
  readonly onCloseHooks = new Set<() => void>();

  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });
  private deadline: NodeJS.Timeout | undefined;
  private keepaliveMs = 0;
  private closed = false;

  constructor(
    private readonly socket: TLSSocket,
    private readonly handler: ConnectionHandler,
    private readonly limits: ConnectionLimits,
  ) {
    this.parser.on('packet', (packet: mqttPacket.Packet) => {
      if (this.closed) return;
      // A packet that arrived whole within one chunk is only seen here.
      if ((packet.length ?? 0) > limits.maxPacketBytes) {
        this.close('malformed', `packet of ${packet.length ?? 0} bytes exceeds ${limits.maxPacketBytes}`);
        return;
      }
      this.touch();
      this.handler.onPacket(this, packet);
    });
    this.parser.on('error', (err: unknown) => {
      this.close('malformed', err instanceof Error ? err.message : String(err));
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close('socket-closed', err.message));
    socket.on('close', () => this.close('socket-closed', 'socket closed'));
    this.deadline = setTimeout(() => this.close('connect-timeout', `no CONNECT within ${limits.connectTimeoutMs} ms`), limits.connectTimeoutMs);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.parser.parse(chunk);
    // mqtt-packet buffers until the whole declared packet arrived; refuse huge ones early.
    // `packet` is the parser's in-progress packet (not in its typings).
    const pending = (this.parser as unknown as { packet?: { length?: number } }).packet;
    if (!this.closed && pending?.length !== undefined && pending.length > this.limits.maxPacketBytes) {
      this.close('malformed', `packet of ${pending.length} bytes exceeds ${this.limits.maxPacketBytes}`);
    }
  }

  /** Starts MQTT keep-alive enforcement: close after 1.5 × keepalive without any packet (§3.1.2.10). */
  setKeepalive(seconds: number): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    this.keepaliveMs = seconds * 1500;
    if (this.keepaliveMs > 0) {
      this.deadline = setTimeout(() => this.close('keepalive-timeout', `no packet within ${this.keepaliveMs} ms`), this.keepaliveMs);
    }
  }

  private touch(): void {
    if (this.keepaliveMs > 0) this.deadline?.refresh();
  }

  send(packet: mqttPacket.Packet): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: 4 }));
  }

  /** Sends a final packet (e.g. a refusing CONNACK), then closes. */
  sendAndClose(packet: mqttPacket.Packet, reason: CloseReason, detail: string): void {
    if (this.closed) return;
    this.socket.end(mqttPacket.generate(packet, { protocolVersion: 4 }));
    this.close(reason, detail, false);
  }

  /** Idempotent. `destroy` false lets a pending `end()` flush first. */
  close(reason: CloseReason, detail = '', destroy = true): void {
    if (this.closed) return;
    this.closed = true;
    if (this.deadline) clearTimeout(this.deadline);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const hook of this.onCloseHooks) hook();
    this.onCloseHooks.clear();
    if (destroy) this.socket.destroy();
    else this.socket.setTimeout(2000, () => this.socket.destroy());
    this.handler.onClosed(this, reason, detail);
  }
}
