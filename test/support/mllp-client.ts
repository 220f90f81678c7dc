// A minimal MLLP sender for tests: one TCP connection, frames out, ACK frames in (parsed to MSA-1/MSA-2).
import net from 'node:net';
import { MllpFramer, frame } from '../../drivers/hl7/protocol/mllp.js';

export interface Ack {
  code: string;
  controlId: string;
  raw: string;
}

export class MllpClient {
  private readonly framer = new MllpFramer(1 << 20);
  private readonly acks: Ack[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      for (const e of this.framer.push(d)) {
        if (e.type !== 'frame') continue;
        const raw = e.payload.toString('utf8');
        const msa = raw.split('\r').find((s) => s.startsWith('MSA|'))?.split('|') ?? [];
        this.acks.push({ code: msa[1] ?? '', controlId: msa[2] ?? '', raw });
      }
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host }, () => resolve(new MllpClient(sock)));
      sock.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  sendRaw(bytes: Buffer | string): void {
    this.sock.write(bytes);
  }

  /** Sends one message and waits for its ACK; rejects if the connection closes or the time runs out first. */
  async send(message: string, timeoutMs = 10_000): Promise<Ack> {
    const start = this.acks.length;
    this.sock.write(frame(message));
    const end = Date.now() + timeoutMs;
    while (this.acks.length === start) {
      if (this.closed) throw new Error('connection closed before the ACK');
      if (Date.now() > end) throw new Error(`no ACK within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.acks[start]!;
  }

  close(): void {
    this.sock.destroy();
  }
}

/** A port the OS says is free now (the listener binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}
