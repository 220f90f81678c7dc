import * as tls from 'node:tls';
import * as mqttPacket from 'mqtt-packet';
import { makeSasToken, resourceFor } from './sas.js';

/**
 * A bare MQTT 3.1.1-over-TLS client for byte-level tests of the stand-in (malformed packets,
 * odd CONNECTs, session checks). Not a general client: no retries, no QoS state machine.
 */
export class RawMqttClient {
  private readonly inbox: mqttPacket.Packet[] = [];
  private readonly waiters = new Set<() => void>();
  private ended = false;
  /** Resolves when the server closed the socket (or it errored). */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: tls.TLSSocket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: mqttPacket.Packet) => {
      this.inbox.push(p);
      this.wake();
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    this.closed = new Promise<void>((resolve) => {
      const done = (): void => {
        this.ended = true;
        this.wake();
        resolve();
      };
      socket.on('close', done);
      socket.on('error', () => undefined);
    });
  }

  static open(port: number, caPem: string): Promise<RawMqttClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', servername: 'localhost', port, ca: caPem }, () => resolve(new RawMqttClient(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.ended;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  send(packet: mqttPacket.Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: 4 }));
  }

  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Next packet received (optionally of a given type); rejects on timeout or close. */
  async next(cmd?: mqttPacket.PacketCmd, timeoutMs = 3000): Promise<mqttPacket.Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((p) => cmd === undefined || p.cmd === cmd);
      if (i !== -1) return this.inbox.splice(i, 1)[0] as mqttPacket.Packet;
      if (this.ended) throw new Error(`connection closed while waiting for ${cmd ?? 'a packet'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${cmd ?? 'packet'} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const w = (): void => {
          clearTimeout(t);
          this.waiters.delete(w);
          resolve();
        };
        const t = setTimeout(w, left);
        this.waiters.add(w);
      });
    }
  }

  /** Packets received and not yet taken by next(). */
  pending(): readonly mqttPacket.Packet[] {
    return this.inbox;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A CONNECT packet the way IoT Hub expects it for a symmetric-key identity. */
export function hubConnectPacket(opts: {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  key: string;
  expirySeconds?: number;
  clean?: boolean;
  keepalive?: number;
}): mqttPacket.IConnectPacket {
  const clientId = opts.moduleId === undefined ? opts.deviceId : `${opts.deviceId}/${opts.moduleId}`;
  const expiry = opts.expirySeconds ?? Math.floor(Date.now() / 1000) + 3600;
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: opts.clean ?? false,
    keepalive: opts.keepalive ?? 60,
    clientId,
    username: `${opts.hostName}/${clientId}/?api-version=2021-04-12`,
    password: Buffer.from(makeSasToken(resourceFor(opts.hostName, opts.deviceId, opts.moduleId), opts.key, expiry)),
  };
}
