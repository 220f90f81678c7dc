// MLLP listener: TCP or TLS, bounded per connection (frame size, queued frames, timeouts).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { DriverContext } from '../types.js';
import type { MessageHandler } from './handler.js';
import { MllpFramer, frame } from './protocol/mllp.js';

/**
 * Reads and tries the listener's certificate, key and CA at creation, so that a file that cannot be used stops the
 * start (and `--check`) naming the option and the file, not with OpenSSL's words at listen time.
 */
export function checkTlsFiles(t: TlsOptions): void {
  if (t.allowedClients?.cn?.length && !t.caFile) {
    throw new Error(
      'invalid hl7-mllp config: options.tls.allowedClients.cn needs options.tls.caFile: a name cannot be verified without a CA (anyone can make a certificate with that CN); set caFile, or pin clients by fingerprint256',
    );
  }
  const read = (file: string, field: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`invalid hl7-mllp config: options.tls.${field}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = read(t.certFile, 'certFile');
  const key = read(t.keyFile, 'keyFile');
  const ca = t.caFile ? read(t.caFile, 'caFile') : undefined;
  try {
    tls.createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
    // OpenSSL takes a CA file without a single certificate in it silently (every client would then be refused).
    if (ca) new X509Certificate(ca);
  } catch (err) {
    throw new Error(
      `invalid hl7-mllp config: options.tls: ${t.certFile}, ${t.keyFile}${t.caFile ? ` and ${t.caFile}` : ''} cannot be used (${(err as Error).message}): certFile must be a PEM certificate (chain), keyFile its unencrypted PEM key${t.caFile ? ', caFile PEM CA certificates' : ''}`,
    );
  }
}

export interface TlsOptions {
  certFile: string;
  keyFile: string;
  /** CA bundle that client certificates must chain to; enables mutual TLS. */
  caFile?: string;
  /** Allowed clients by certificate subject CN and/or SHA-256 fingerprint (AA:BB:...). Empty = any valid cert. */
  allowedClients?: { cn?: string[]; fingerprint256?: string[] };
}

export interface ServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
  readTimeoutMs: number;
  /** Frames waiting for their turn on one connection before we stop reading from it. */
  maxQueuedFrames: number;
  tls?: TlsOptions;
}

export class MllpServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly opts: ServerOptions,
    private readonly ctx: DriverContext,
    private readonly handler: MessageHandler,
    /** Called when a sender connects (the driver watches for a listener nobody connects to). */
    private readonly onConnection: () => void = () => {},
  ) {}

  get connections(): number {
    return this.sockets.size;
  }

  address(): net.AddressInfo | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : null;
  }

  async listen(): Promise<void> {
    const onSocket = (s: net.Socket): void => this.accept(s);
    if (this.opts.tls) {
      const t = this.opts.tls;
      const mutual = Boolean(t.caFile) || Boolean(t.allowedClients?.cn?.length || t.allowedClients?.fingerprint256?.length);
      if (t.allowedClients?.cn?.length && !t.caFile) {
        this.ctx.log.warn(
          { cn: t.allowedClients.cn },
          'MLLP TLS allowedClients.cn without caFile: a name cannot be verified without a CA, so no client is admitted by name; set caFile (or pin fingerprint256)',
        );
      }
      this.server = tls.createServer(
        {
          cert: readFileSync(t.certFile),
          key: readFileSync(t.keyFile),
          ...(t.caFile ? { ca: readFileSync(t.caFile) } : {}),
          requestCert: mutual,
          rejectUnauthorized: Boolean(t.caFile),
        },
        (s) => {
          if (!this.clientAllowed(s)) {
            this.ctx.count('tls_clients_rejected');
            s.destroy();
            return;
          }
          onSocket(s);
        },
      );
      this.server.on('tlsClientError', (err) => {
        this.ctx.count('tls_handshake_errors');
        this.ctx.log.warn({ err: err.message }, 'MLLP TLS handshake failed');
      });
    } else {
      this.server = net.createServer(onSocket);
    }
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Closed before it was listening: the start ends (refused) rather than waiting for ever.
      this.abortListen = (err) => {
        server.off('error', reject);
        reject(err);
      };
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        this.abortListen = null;
        if (this.server !== server) server.close(); // closed meanwhile: do not stay listening
        resolve();
      });
    });
    server.on('error', (err) => this.ctx.log.error({ err: err.message }, 'MLLP server error'));
  }

  private abortListen: ((err: Error) => void) | null = null;

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.abortListen?.(new Error('MLLP listener closed before it was listening'));
    this.abortListen = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private clientAllowed(s: tls.TLSSocket): boolean {
    const allow = this.opts.tls?.allowedClients;
    const cns = allow?.cn ?? [];
    const fps = (allow?.fingerprint256 ?? []).map(normFp);
    if (cns.length === 0 && fps.length === 0) return true;
    const cert = s.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) return false;
    const cn = cert.subject?.CN;
    const cnList = Array.isArray(cn) ? cn : cn ? [cn] : [];
    // A CN proves nothing unless the certificate chains to our CA (anyone can make a certificate with any CN);
    // a pinned fingerprint identifies the exact certificate, so it stands on its own.
    const ok =
      (s.authorized && cnList.some((c) => cns.includes(c))) ||
      (cert.fingerprint256 !== undefined && fps.includes(normFp(cert.fingerprint256)));
    if (!ok) this.ctx.log.warn({ cn: cnList.join(','), fingerprint256: cert.fingerprint256 }, 'MLLP TLS client not in allow-list');
    return ok;
  }

  private accept(s: net.Socket): void {
    const peer = `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
    if (this.sockets.size >= this.opts.maxConnections) {
      this.ctx.count('connections_refused');
      this.ctx.log.warn({ peer, max: this.opts.maxConnections }, 'MLLP connection refused: too many connections');
      s.destroy();
      return;
    }
    this.sockets.add(s);
    this.ctx.count('connections');
    this.onConnection();
    this.ctx.log.info({ peer }, 'MLLP sender connected');
    const framer = new MllpFramer(this.opts.maxFrameBytes);
    let queued = 0;
    let chain: Promise<void> = Promise.resolve();
    let readTimer: NodeJS.Timeout | undefined;
    let closed = false;
    let lastOutside = 0;

    const clearRead = (): void => {
      if (readTimer) clearTimeout(readTimer);
      readTimer = undefined;
    };
    s.setNoDelay(true);
    // Idle means no complete frame and no ACK for idleTimeoutMs. Our own timer, not socket.setTimeout: that one
    // is reset by any byte, so a client trickling noise outside frames would hold its connection slot forever.
    let idleTimer: NodeJS.Timeout | undefined;
    const touch = (): void => {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        if (closed) return;
        if (queued > 0) return touch(); // we are the slow side (waiting on the store), not the sender
        if (framer.inFrame) return touch(); // a frame is arriving: the read timeout governs it
        this.ctx.count('idle_timeouts');
        this.ctx.log.info({ peer, idleMs: this.opts.idleTimeoutMs }, 'MLLP connection idle; closing');
        s.destroy();
      }, this.opts.idleTimeoutMs);
    };
    touch();
    let lastStarted = 0;
    /** Runs on the connection's queue, so ACKs go out in the order the frames came in. */
    const enqueue = (work: () => Promise<string[]>): void => {
      queued++;
      if (queued >= this.opts.maxQueuedFrames) s.pause();
      chain = chain
        .then(async () => {
          const acks = await work();
          if (!closed) for (const a of acks) s.write(frame(a));
          if (!closed) touch();
        })
        .catch((err: unknown) => {
          // handle() never rejects by design; if it does, keep the connection's queue alive.
          this.ctx.count('internal_errors');
          this.ctx.log.error({ peer, err: String(err) }, 'MLLP frame handling failed');
        })
        .finally(() => {
          queued--;
          if (queued < this.opts.maxQueuedFrames && !closed) s.resume();
        });
    };
    s.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) {
        if (ev.type === 'oversize') {
          this.ctx.count('frames_oversize');
          this.ctx.log.warn({ peer, limit: ev.limit }, 'MLLP frame larger than maxFrameBytes dropped; waiting for next frame start');
          const head = ev.head;
          enqueue(() => Promise.resolve(this.handler.oversize(head, ev.limit, peer)));
        } else if (ev.type === 'abandoned') {
          this.ctx.count('frames_abandoned');
          this.ctx.log.warn({ peer, bytes: ev.bytes }, 'MLLP frame start inside an unfinished frame; unfinished frame dropped');
        } else if (ev.type === 'missing-cr') {
          this.ctx.count('frames_missing_cr');
        } else {
          touch();
          const payload = ev.payload;
          enqueue(() => this.handler.handle(payload, peer));
        }
      }
      if (framer.counters.outsideBytes > lastOutside) {
        this.ctx.count('bytes_outside_frames', framer.counters.outsideBytes - lastOutside);
        lastOutside = framer.counters.outsideBytes;
      }
      // The read timeout runs per frame: a new frame start (even one that began in the same chunk that ended
      // the previous frame) gets the full readTimeoutMs.
      if (framer.inFrame && (!readTimer || framer.counters.started !== lastStarted)) {
        clearRead();
        lastStarted = framer.counters.started;
        readTimer = setTimeout(() => {
          const dropped = framer.reset();
          this.ctx.count('read_timeouts');
          this.ctx.log.warn({ peer, dropped, readTimeoutMs: this.opts.readTimeoutMs }, 'MLLP frame not finished in time; dropped, closing connection');
          s.destroy();
        }, this.opts.readTimeoutMs);
      } else if (!framer.inFrame) clearRead();
    });
    s.on('error', (err) => this.ctx.log.info({ peer, err: err.message }, 'MLLP socket error'));
    s.on('close', () => {
      closed = true;
      clearRead();
      if (idleTimer) clearTimeout(idleTimer);
      this.sockets.delete(s);
      if (framer.inFrame) {
        this.ctx.count('frames_incomplete_on_close');
        this.ctx.log.warn({ peer, bytes: framer.buffered }, 'MLLP sender disconnected mid-frame; partial frame dropped (no ACK was sent)');
      }
      this.ctx.log.info({ peer }, 'MLLP sender disconnected');
    });
  }
}

function normFp(f: string): string {
  return f.replaceAll(':', '').toUpperCase();
}
