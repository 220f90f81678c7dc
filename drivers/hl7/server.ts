// MLLP listener: TCP or TLS, bounded per connection (frame size, queued frames, timeouts).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import v8 from 'node:v8';
import { LogGate } from '../../agent/log-gate.js';
import type { DriverContext } from '../types.js';
import { hostOf, type FrameResult, type MessageHandler } from './handler.js';
import { ackSummaries } from './protocol/ack.js';
import { FS_END_WAIT_MS, MllpFramer, frame, type FramerEvent } from './protocol/mllp.js';

/**
 * ACK bytes a connection may leave unread (queued in our process, beyond the kernel's buffers) before we stop reading
 * from it: a sender that never reads its ACKs must not make us hold them without bound.
 */
export const MAX_UNREAD_ACK_BYTES = 1 << 20;
/**
 * Bytes of received messages not yet done with (waiting their turn, or being parsed and stored), across every MLLP
 * connection of the process. maxQueuedFrames bounds each connection, but maxConnections × maxQueuedFrames ×
 * maxFrameBytes is 2 GiB at the defaults (review rv126 M3: 16 senders pipelining 1 MiB messages to a slow store took
 * 1.7 GB). At this sum every connection stops reading until some are done: TCP back-pressure, senders wait.
 */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** The least the queued bytes are capped at, however small the heap: a few ordinary messages still fit. */
export const MIN_QUEUED_BYTES = 1024 * 1024;
/** Heap kept for the rest of the agent (store, alarms, display, model, other drivers) when sizing the cap. */
export const QUEUED_BYTES_HEAP_RESERVE = 192 * 1024 * 1024;
/** Heap a queued message costs per byte until it is stored: parse and map take ~45-60× its size (review rv130 H1). */
export const QUEUED_BYTES_HEAP_FACTOR = 64;

/**
 * The queued-bytes cap for a process whose V8 heap may reach `heapLimitBytes` (v8 heap_size_limit): 32 MiB counted
 * only wire bytes, and under the image's --max-old-space-size=512 two 8 MiB or 32 × 1 MiB messages at once reached the
 * heap limit, aborting the agent at every resend (review rv130 H1). About 5 MiB at 512 MB, 32 MiB on a large heap.
 */
export function queuedBytesCap(heapLimitBytes: number): number {
  const fit = Math.floor((heapLimitBytes - QUEUED_BYTES_HEAP_RESERVE) / QUEUED_BYTES_HEAP_FACTOR);
  return Math.min(MAX_QUEUED_BYTES, Math.max(MIN_QUEUED_BYTES, fit));
}
/** The heap limit this process runs with (--max-old-space-size and the young generation). */
export const HEAP_LIMIT_BYTES = v8.getHeapStatistics().heap_size_limit;

/**
 * A byte budget shared by connections: `take` at a frame's arrival, `give` when it is done. Watchers are called when
 * it fills and when it has room again, so each connection pauses or resumes its reading.
 */
export class QueueBudget {
  private usedBytes = 0;
  private peakBytes = 0;
  private readonly watchers = new Set<() => void>();

  constructor(readonly limit: number) {}

  get used(): number {
    return this.usedBytes;
  }
  /** Most bytes held at once (for tests and diagnostics). */
  get peak(): number {
    return this.peakBytes;
  }
  get full(): boolean {
    return this.usedBytes >= this.limit;
  }
  /** True when this take filled the budget. */
  take(bytes: number): boolean {
    const was = this.full;
    this.usedBytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.usedBytes);
    if (was || !this.full) return false;
    this.notify();
    return true;
  }
  give(bytes: number): void {
    const was = this.full;
    this.usedBytes -= bytes;
    if (was && !this.full) this.notify();
  }
  /** Calls `fn` whenever the budget fills or has room again; returns the unsubscribe. */
  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }
  private notify(): void {
    for (const fn of [...this.watchers]) fn();
  }
}

/** The process's budget: every listener's connections share it. */
export const mllpQueueBudget = new QueueBudget(queuedBytesCap(HEAP_LIMIT_BYTES));

export { FS_END_WAIT_MS };

/** The same trouble from the same address is logged once a minute at most (a sender repeats it at every message). */
const TROUBLE_LOG_EVERY_MS = 60_000;
const UNFRAMED = 'MLLP sender sends HL7 without MLLP framing (no VT before MSH): its messages cannot be read nor acknowledged; set the sender to MLLP';

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
  /**
   * A connection that has begun no frame since it connected is idle after this (or idleTimeoutMs if shorter): silent
   * connections hold slots of maxConnections (review rv178 M3). Default: idleTimeoutMs.
   */
  firstFrameTimeoutMs?: number;
  readTimeoutMs: number;
  /** Frames waiting for their turn on one connection before we stop reading from it. */
  maxQueuedFrames: number;
  tls?: TlsOptions;
}

/** Connections refused over maxConnections with no more than REFUSED_CONNECTIONS_GAP_MS between them (one run). */
export interface RefusedConnections {
  count: number;
  since: number;
  lastAt: number;
  /** Their addresses, most recently refused last (at most REFUSED_CONNECTION_HOSTS). */
  hosts: string[];
}
/**
 * A run of refused connections is over after this long without one (review rv178 M3): a sender turned away retries at
 * its own pace (seconds to minutes), and the listener stays degraded, with its alarm, while that goes on.
 */
export const REFUSED_CONNECTIONS_GAP_MS = 10 * 60_000;
const REFUSED_CONNECTION_HOSTS = 3;

export class MllpServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Connections that have begun no frame yet: they hold a slot and have sent nothing that could be answered. */
  private readonly silent = new Set<net.Socket>();
  private refused: RefusedConnections | null = null;
  private readonly troubleLog = new LogGate(TROUBLE_LOG_EVERY_MS, 1000);

  constructor(
    private readonly opts: ServerOptions,
    private readonly ctx: DriverContext,
    private readonly handler: MessageHandler,
    /** Called when a sender connects (the driver watches for a listener nobody connects to). */
    private readonly onConnection: () => void = () => {},
    /** Bytes of received messages all connections may hold; the process's own unless a test gives one. */
    private readonly budget: QueueBudget = mllpQueueBudget,
  ) {}

  get connections(): number {
    return this.sockets.size;
  }

  /** Open connections that have begun no frame since they connected. */
  get silentConnections(): number {
    return this.silent.size;
  }

  /** The current run of connections refused over maxConnections; null when none came for REFUSED_CONNECTIONS_GAP_MS. */
  refusedConnections(now: number): RefusedConnections | null {
    if (this.refused && now - this.refused.lastAt > REFUSED_CONNECTIONS_GAP_MS) this.refused = null;
    return this.refused;
  }

  /**
   * A connection refused over maxConnections (TCP, or before its TLS handshake): counted, logged once a minute per
   * address with what holds the slots, and kept in the run health reports (a sender turned away has no ACK, no device).
   */
  private refuse(peer: string, tlsNote: string): void {
    this.ctx.count('connections_refused');
    const now = Date.now();
    const host = hostOf(peer);
    const run = this.refusedConnections(now) ?? { count: 0, since: now, lastAt: now, hosts: [] };
    run.count++;
    run.lastAt = now;
    run.hosts = [...run.hosts.filter((h) => h !== host), host].slice(-REFUSED_CONNECTION_HOSTS);
    this.refused = run;
    if (this.troubleLog.open(`refused|${host}`, now)) {
      this.ctx.log.warn(
        { peer, max: this.opts.maxConnections, open: this.sockets.size, silent: this.silent.size, counter: 'connections_refused' },
        `MLLP connection refused: too many connections${tlsNote}; the sender gets no ACK (said once a minute per address; each is counted; "silent": open connections that have sent no frame since they connected)`,
      );
    }
  }

  /** No connection is open, and the last one was closed by us for idleness (its sender connects again to send). */
  get idleClosed(): boolean {
    return this.sockets.size === 0 && this.lastClosedIdle;
  }
  private lastClosedIdle = false;

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
          // With pinned fingerprints the chain is judged after the handshake (clientAllowed): a pinned certificate
          // admits on its own (the handshake proved the key), a CN only with a chain to caFile (s.authorized), and
          // anything else is closed there. Otherwise a pinned self-signed sender would be cut off by the CA check.
          rejectUnauthorized: Boolean(t.caFile) && !t.allowedClients?.fingerprint256?.length,
          // Node waits 120 s by default: a silent client would hold its socket (and a file descriptor) that long.
          handshakeTimeout: this.opts.readTimeoutMs,
          // A sender may end its side after its message and wait for the ACK: see accept().
          allowHalfOpen: true,
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
      this.server.on('tlsClientError', (err: NodeJS.ErrnoException, s: tls.TLSSocket) => {
        // Node emits this on a handshake timeout without closing the socket: closed here, for every failed handshake.
        s.destroy();
        this.ctx.count('tls_handshake_errors');
        const peer = `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
        if (this.troubleLog.open(`handshake|${hostOf(peer)}|${err.code ?? err.message}`, Date.now())) {
          this.ctx.log.warn({ peer, err: err.message, readTimeoutMs: this.opts.readTimeoutMs }, 'MLLP TLS handshake failed (or not finished within readTimeoutMs); connection closed');
        }
      });
      // A connection holds its slot from the TCP accept on, not only once its handshake is done: Node refuses one
      // beyond maxConnections before the handshake ('drop'), so clients that never finish it cannot pile up.
      this.server.maxConnections = this.opts.maxConnections;
      this.server.on('drop', (d?: { remoteAddress?: string; remotePort?: number }) => {
        this.refuse(`${d?.remoteAddress ?? '?'}:${d?.remotePort ?? '?'}`, ' (TLS handshakes included)');
      });
    } else {
      // A sender may end its side (FIN) after its message and still read the ACK (nc -N, shutdown(SHUT_WR)): Node's
      // default would end ours at once, before the commit, and the ACK could never be sent. See accept().
      this.server = net.createServer({ allowHalfOpen: true }, onSocket);
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

  /** The process's budget filled on a frame of this listener: counted, and said once a minute. */
  private budgetFull(peer: string): void {
    this.ctx.count('queued_bytes_full');
    if (!this.troubleLog.open('queue-full', Date.now())) return;
    this.ctx.log.warn(
      { peer, heldBytes: this.budget.used, limitBytes: this.budget.limit, counter: 'queued_bytes_full' },
      'MLLP messages received and not yet stored reached the limit across all connections: reading paused on every connection until some are stored (senders wait, nothing is lost); the store is slower than the senders (said once a minute; each time is counted)',
    );
  }

  private clientAllowed(s: tls.TLSSocket): boolean {
    const allow = this.opts.tls?.allowedClients;
    const cns = allow?.cn ?? [];
    const fps = (allow?.fingerprint256 ?? []).map(normFp);
    if (cns.length === 0 && fps.length === 0) return true;
    const peer = `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
    const cert = s.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) {
      if (this.troubleLog.open(`no-cert|${hostOf(peer)}`, Date.now())) {
        this.ctx.log.warn({ peer }, 'MLLP TLS client presented no certificate (allowedClients is set); connection closed');
      }
      return false;
    }
    const cn = cert.subject?.CN;
    const cnList = Array.isArray(cn) ? cn : cn ? [cn] : [];
    // A CN proves nothing unless the certificate chains to our CA (anyone can make a certificate with any CN);
    // a pinned fingerprint identifies the exact certificate, so it stands on its own.
    const ok =
      (s.authorized && cnList.some((c) => cns.includes(c))) ||
      (cert.fingerprint256 !== undefined && fps.includes(normFp(cert.fingerprint256)));
    if (!ok && this.troubleLog.open(`not-allowed|${hostOf(peer)}|${cert.fingerprint256 ?? ''}`, Date.now())) {
      this.ctx.log.warn(
        { peer, cn: cnList.join(','), fingerprint256: cert.fingerprint256, chainToCa: s.authorized ? 'verified' : String(s.authorizationError ?? 'not checked') },
        'MLLP TLS client not in allow-list (a CN counts only with a certificate chained to caFile); connection closed',
      );
    }
    return ok;
  }

  private accept(s: net.Socket): void {
    const peer = `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
    if (this.sockets.size >= this.opts.maxConnections) {
      this.refuse(peer, '');
      s.destroy();
      return;
    }
    this.sockets.add(s);
    this.silent.add(s);
    this.ctx.count('connections');
    this.onConnection();
    // Debug: a sender that connects per message (and a port health check) would write two lines per message.
    this.ctx.log.debug({ peer }, 'MLLP sender connected');
    const framer = new MllpFramer(this.opts.maxFrameBytes);
    let queued = 0;
    let chain: Promise<void> = Promise.resolve();
    let readTimer: NodeJS.Timeout | undefined;
    let closed = false;
    /** Closing without an ACK (a message the store refused, storeFailureAck 'close'): nothing more is handled. */
    let closing = false;
    let lastOutside = 0;

    const clearRead = (): void => {
      if (readTimer) clearTimeout(readTimer);
      readTimer = undefined;
    };
    s.setNoDelay(true);
    // Idle means no complete frame and no ACK for idleTimeoutMs. Our own timer, not socket.setTimeout: that one
    // is reset by any byte, so a client trickling noise outside frames would hold its connection slot forever.
    let idleTimer: NodeJS.Timeout | undefined;
    let closedForIdle = false;
    const touch = (): void => {
      if (idleTimer) clearTimeout(idleTimer);
      // Until it begins a frame, a connection is idle sooner (firstFrameTimeoutMs): silent ones must not hold the
      // slots of maxConnections for idleTimeoutMs while senders are refused (review rv178 M3).
      const silent = framer.counters.started === 0;
      const idleMs = silent ? Math.min(this.opts.firstFrameTimeoutMs ?? this.opts.idleTimeoutMs, this.opts.idleTimeoutMs) : this.opts.idleTimeoutMs;
      idleTimer = setTimeout(() => {
        if (closed) return;
        // We are the slow side (its frames wait on the store), not the sender.
        if (queued > 0) return touch();
        if (framer.inFrame || framer.holding) return touch(); // a frame is arriving: the read timeout governs it
        // Not kept while the shared budget is full (review rv128 M2): a paused socket never reads the FIN of a sender
        // that gave up, so such connections would fill maxConnections. What it sent unread got no ACK: it resends.
        this.ctx.count('idle_timeouts');
        this.ctx.log.info(
          { peer, idleMs, ...(this.budget.full ? { readingPausedByQueuedBytes: true } : {}) },
          silent ? 'MLLP connection sent no MLLP frame since it connected; closing (firstFrameTimeoutMs)' : 'MLLP connection idle; closing',
        );
        closedForIdle = true;
        s.destroy();
      }, idleMs);
    };
    touch();
    // Every connection pauses when the process's budget fills and resumes when it has room (flow reads it).
    const unwatch = this.budget.watch(() => flow());
    /** Frames ended (taken at FS, or dropped as oversize and answered) when the read timer was armed. */
    let endedAtArm = 0;
    let abandonedAtArm = 0;
    const ended = (): number => framer.counters.frames + framer.counters.oversize;
    // ACKs the sender has not read: over MAX_UNREAD_ACK_BYTES we stop reading until they drain, and close the
    // connection if they do not within readTimeoutMs.
    let acksBacked = false;
    let ackTimer: NodeJS.Timeout | undefined;
    let holding = false;
    /**
     * The read timeout runs per frame: a frame start after an ended frame (even one that began in the same chunk
     * that ended the previous frame) gets the full readTimeoutMs. A VT that abandons an unfinished frame does not:
     * the time runs from the first VT since the last ended frame, or a sender restarting frames more often than
     * readTimeoutMs (slowloris) would hold its connection slot for ever. It does not run while we hold reading (the
     * rest of the frame may be waiting in the socket for us), and starts afresh when we read again.
     */
    const armRead = (): void => {
      // A frame held at its FS is still arriving: data after the FS continues it, and must not restart its time.
      if ((!framer.inFrame && !framer.holding) || holding) return clearRead();
      if (readTimer && ended() === endedAtArm) return;
      clearRead();
      endedAtArm = ended();
      abandonedAtArm = framer.counters.abandoned;
      readTimer = setTimeout(() => {
        // Ended by its FS, with no byte after it yet (a readTimeoutMs shorter than FS_END_WAIT_MS): flushed (refused).
        if (framer.holding) return flushHeld();
        // Read before the reset: a message dropped unended is a refusal of its host (review rv137 M1).
        const message = framer.messageHeld;
        const dropped = framer.reset();
        if (message) this.handler.unended(peer);
        const abandoned = framer.counters.abandoned - abandonedAtArm;
        this.ctx.count('read_timeouts');
        this.ctx.log.warn(
          { peer, dropped, readTimeoutMs: this.opts.readTimeoutMs, ...(abandoned > 0 ? { framesAbandoned: abandoned } : {}) },
          'MLLP frame not finished in time; dropped, closing connection',
        );
        s.destroy();
      }, this.opts.readTimeoutMs);
    };
    /** Reads from the socket only while we can take more: queue not full (its own, all connections'), ACKs not piling up. */
    const flow = (): void => {
      if (closed || closing) return;
      holding = queued >= this.opts.maxQueuedFrames || acksBacked || this.budget.full;
      if (holding) s.pause();
      else s.resume();
      armFsWait();
      armRead();
    };
    const checkAcks = (): void => {
      if (acksBacked || s.writableLength <= MAX_UNREAD_ACK_BYTES) return;
      acksBacked = true;
      flow();
      ackTimer = setTimeout(() => {
        if (closed) return;
        const dropped = framer.reset();
        this.ctx.count('acks_unread');
        this.ctx.log.warn(
          { peer, unreadBytes: s.writableLength, dropped, readTimeoutMs: this.opts.readTimeoutMs },
          'MLLP sender does not read its ACKs; closing connection (it must read each ACK: MLLP is request/response)',
        );
        s.destroy();
      }, this.opts.readTimeoutMs);
      s.once('drain', () => {
        clearTimeout(ackTimer);
        acksBacked = false;
        flow();
      });
    };
    /**
     * An ACK is counted as sent (acks_<code>) once the socket took it, and as acks_undelivered when the connection
     * was closed before (the sender gave up, or never reads its ACKs): what it answers was handled all the same (an
     * AA/CA message is stored; its resend is caught as a duplicate), but the sender never heard.
     */
    const undelivered = (acks: Array<{ code: string; controlId: string }>, why: string): void => {
      if (acks.length === 0) return;
      this.ctx.count('acks_undelivered', acks.length);
      if (this.troubleLog.open(`undelivered|${hostOf(peer)}`, Date.now())) {
        this.ctx.log.warn(
          { peer, acks: acks.map((a) => `${a.code}:${a.controlId}`), why, counter: 'acks_undelivered' },
          'MLLP ACK not delivered: the connection closed before it could be sent; the message was handled (an accepted one is stored, its resend is taken as a duplicate) (said once a minute per address; each is counted)',
        );
      }
    };
    const send = (ack: string): void => {
      const acks = ackSummaries(ack);
      if (closed || !s.writable) return undelivered(acks, 'closed before the ACK was ready');
      s.write(frame(ack), (err) => {
        if (err) return undelivered(acks, err.message);
        for (const a of acks) this.ctx.count(`acks_${a.code.toLowerCase()}`);
      });
    };
    /**
     * No ACK for a message the store refused (storeFailureAck 'close'): the ACKs already written go out, then our side
     * is ended, and what the sender sends meanwhile is read and dropped, so that the ACKs are not cut off by a reset;
     * the messages after it are not handled. The sender resends what it has no ACK for: stored where it was not, a
     * duplicate where it was.
     */
    const closeUnanswered = (): void => {
      if (closing || closed) return;
      closing = true;
      this.ctx.count('store_failure_closes');
      if (this.troubleLog.open(`store-close|${hostOf(peer)}`, Date.now())) {
        this.ctx.log.warn(
          { peer, counter: 'store_failure_closes' },
          'MLLP connection closed without an ACK: the store refused a message (storeFailureAck: close); the sender resends what it got no ACK for (said once a minute per address; each is counted)',
        );
      }
      clearRead();
      s.resume();
      s.end();
      // A sender that never closes its side is cut off after readTimeoutMs.
      const cutOff = setTimeout(() => s.destroy(), this.opts.readTimeoutMs);
      s.once('close', () => clearTimeout(cutOff));
    };
    /** Runs on the connection's queue, so ACKs go out in the order the frames came in. `bytes`: held until done. */
    const enqueue = (work: () => Promise<FrameResult>, bytes: number): void => {
      queued++;
      if (this.budget.take(bytes)) this.budgetFull(peer);
      flow();
      chain = chain
        .then(async () => {
          if (closing) return;
          const { acks, close } = await work();
          if (close) return closeUnanswered();
          for (const a of acks) send(a);
          if (!closed) {
            touch();
            checkAcks();
          }
        })
        .catch((err: unknown) => {
          // handle() never rejects by design; if it does, keep the connection's queue alive.
          this.ctx.count('internal_errors');
          this.ctx.log.error({ peer, err: String(err) }, 'MLLP frame handling failed');
        })
        .finally(() => {
          queued--;
          this.budget.give(bytes);
          flow();
        });
    };
    // The first bytes of a connection tell a sender that does not use MLLP framing (raw HL7 over TCP), even when they
    // come a byte at a time: nothing it sends can be read or answered.
    let firstBytes: Buffer | null = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      if (!firstBytes) return;
      firstBytes = Buffer.concat([firstBytes, chunk.subarray(0, 4 - firstBytes.length)]);
      if (firstBytes[0] === 0x0b) firstBytes = null; // framed
      else if (firstBytes.length === 4) {
        const text = firstBytes.toString('latin1');
        if (/^(MSH|BHS|FHS)/.test(text)) {
          this.ctx.count('connections_unframed');
          if (this.troubleLog.open(`unframed|${hostOf(peer)}`, Date.now())) this.ctx.log.warn({ peer, starts: text }, UNFRAMED);
        }
        firstBytes = null;
      }
    };
    /**
     * Bytes outside frames at any point of a connection (each run is counted in bytes_outside_frames): a message sent
     * without its VT is not read nor answered, so it is said, once a minute per address, with its first bytes.
     */
    const outside = (bytes: number, head: Buffer): void => {
      const now = Date.now();
      const starts = escapeBytes(head);
      // After a trailer (FS CR LF) the header may follow a line break.
      if (/^[\r\n]*(MSH|BHS|FHS)/.test(head.toString('latin1'))) {
        if (this.troubleLog.open(`unframed|${hostOf(peer)}`, now)) this.ctx.log.warn({ peer, bytes, starts, counter: 'bytes_outside_frames' }, UNFRAMED);
      } else if (this.troubleLog.open(`outside|${hostOf(peer)}`, now)) {
        this.ctx.log.warn(
          { peer, bytes, starts, counter: 'bytes_outside_frames' },
          'MLLP bytes outside MLLP frames (not between VT and FS) ignored: a message among them is not read nor answered (said once a minute per address; each byte is counted)',
        );
      }
    };
    // A frame read up to its FS that ends mid-segment waits for the byte after it (framer.holding): CR ends it; data
    // says the FS was inside the message (review rv178 M1). When none comes within FS_END_WAIT_MS (or the sender ends
    // its side), the frame may be the cut head of a message whose tail is late: it is refused (AE), not stored.
    let fsTimer: NodeJS.Timeout | undefined;
    const clearFsWait = (): void => {
      if (fsTimer) clearTimeout(fsTimer);
      fsTimer = undefined;
    };
    /**
     * Starts the wait only once everything received has gone to the framer: while reading is paused (or chunks wait in
     * the stream), the byte after the FS may be there unread, and "none came" would not be true (review rv180 M1).
     */
    const armFsWait = (): void => {
      if (holding || s.readableLength > 0 || !framer.holding) return clearFsWait();
      if (fsTimer) return;
      fsTimer = setTimeout(() => {
        fsTimer = undefined;
        // After the event loop's poll phase: a byte that came while the loop was blocked (a long store write) is read
        // first, so a tail that did come is not taken for none (review rv181 M1).
        setImmediate(() => {
          if (fsTimer || holding || s.readableLength > 0 || !framer.holding) return;
          flushHeld();
        });
      }, FS_END_WAIT_MS);
      fsTimer.unref();
    };
    const onEvents = (events: FramerEvent[]): void => {
      for (const ev of events) {
        if (ev.type === 'oversize') {
          this.ctx.count('frames_oversize');
          if (this.troubleLog.open(`oversize|${hostOf(peer)}`, Date.now())) {
            this.ctx.log.warn({ peer, limit: ev.limit }, 'MLLP frame larger than maxFrameBytes dropped; waiting for next frame start');
          }
          const head = ev.head;
          enqueue(() => Promise.resolve({ acks: this.handler.oversize(head, ev.limit, peer) }), head.length);
        } else if (ev.type === 'abandoned') {
          this.ctx.count('frames_abandoned');
          if (this.troubleLog.open(`abandoned|${hostOf(peer)}`, Date.now())) {
            this.ctx.log.warn({ peer, bytes: ev.bytes }, 'MLLP frame start inside an unfinished frame; unfinished frame dropped');
          }
          // A message in it is lost (a sender ending frames without FS loses them all): a refusal (review rv137 M1).
          if (ev.message) this.handler.unended(peer);
        } else if (ev.type === 'missing-cr') {
          this.ctx.count('frames_missing_cr');
          if (this.troubleLog.open(`missing-cr|${hostOf(peer)}`, Date.now())) {
            this.ctx.log.info(
              { peer, counter: 'frames_missing_cr' },
              'MLLP frame ended with FS without CR; taken (MLLP ends a frame with FS CR) (said once a minute per address; each is counted)',
            );
          }
        } else if (ev.type === 'late-tail') {
          // The frame before was refused after the wait, unterminated; data now after its FS says that FS was likely
          // inside the message (its tail came late): said, and the tail is outside frames (review rv180 M1).
          this.ctx.count('frames_late_tail');
          if (this.troubleLog.open(`late-tail|${hostOf(peer)}`, Date.now())) {
            this.ctx.log.warn(
              { peer, waitMs: FS_END_WAIT_MS, counter: 'frames_late_tail' },
              `MLLP data came after the FS of a message refused after ${FS_END_WAIT_MS} ms without the byte after its FS (it ended without a segment terminator): that FS was likely inside the message; the data is outside frames, not read; the sender must resend the message whole (said once a minute per address; each is counted)`,
            );
          }
        } else if (ev.type === 'outside') {
          outside(ev.bytes, ev.head);
          // Each message begun without framing is a refusal of its host (review rv134 M4), so the listener says so.
          if (ev.messageStarts > 0) this.handler.unframed(peer, ev.messageStarts);
        } else {
          touch();
          const { payload, innerFs, unterminated } = ev;
          enqueue(() => this.handler.handleFrame(payload, peer, { ...(innerFs !== undefined && { innerFs }), ...(unterminated && { unterminated }) }), payload.length);
        }
      }
      if (framer.counters.outsideBytes > lastOutside) {
        this.ctx.count('bytes_outside_frames', framer.counters.outsideBytes - lastOutside);
        lastOutside = framer.counters.outsideBytes;
      }
    };
    /** Ends the wait for the byte after a held frame's FS: none came (or none will), so the frame is refused AE
     * (`frames_unterminated`), never stored with its last segment possibly cut. */
    const flushHeld = (): void => {
      clearFsWait();
      if (closing) return;
      onEvents(framer.flush());
      armRead();
    };
    s.on('data', (chunk: Buffer) => {
      if (closing) return; // dropped: the sender resends it
      clearFsWait();
      sniff(chunk);
      onEvents(framer.push(chunk));
      if (framer.counters.started > 0) this.silent.delete(s);
      armFsWait();
      armRead();
    });
    // The sender ended its side (it may still read: allowHalfOpen): no frame comes after this, so ours is ended once
    // the ACKs of the frames it sent are out.
    s.on('end', () => {
      flushHeld();
      void chain.then(() => {
        if (!closed) s.end();
      });
    });
    s.on('error', (err) => this.ctx.log.info({ peer, err: err.message }, 'MLLP socket error'));
    s.on('close', () => {
      // A frame ended by FS alone just before a reset: refused as at the end of the wait (its AE is undelivered).
      flushHeld();
      closed = true;
      unwatch();
      clearRead();
      clearTimeout(ackTimer);
      if (idleTimer) clearTimeout(idleTimer);
      this.sockets.delete(s);
      this.silent.delete(s);
      if (this.sockets.size === 0) this.lastClosedIdle = closedForIdle;
      if (framer.inFrame && !closing) {
        this.ctx.count('frames_incomplete_on_close');
        this.ctx.log.warn({ peer, bytes: framer.buffered }, 'MLLP sender disconnected mid-frame; partial frame dropped (no ACK was sent)');
      }
      this.ctx.log.debug({ peer }, 'MLLP sender disconnected');
    });
    // A connection accepted while the budget is full reads nothing until it has room.
    flow();
  }
}

/** Bytes for a log line: printable ASCII as is, anything else (and `\`) as \xhh. */
function escapeBytes(b: Buffer): string {
  let out = '';
  for (const c of b) out += c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return out;
}

function normFp(f: string): string {
  return f.replaceAll(':', '').toUpperCase();
}
