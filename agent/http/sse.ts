// Server-sent events to display clients, bounded: at most maxClients at once and maxClientsPerAddress from one
// address; a client whose unsent data backs up past maxBufferedBytes (a slow or stalled reader) is disconnected and
// counted, so it cannot grow the gateway's memory. It reconnects by itself (`retry:`) and gets a fresh snapshot.
// Heartbeat events (with the server's time) keep proxies and the client's "connection lost" detection honest; at each
// one, a stream opened with a session that has since ended (logout, expiry) is closed, and so is a stream whose page
// says it has fallen far behind (see `seen`), or has not said anything within maxLagMs of opening: the kernel's socket
// buffers hold megabytes, so the byte limit alone drops a slow reader only a minute or more behind, while its screen
// shows minutes-old alarms as current.
// Slots (review rv132 M2: scripts on four addresses held all 32 for good, and the ward screens got 503): streams that
// do not say they report (`reports`: scripts, not the page) hold at most a quarter of maxClients; and when every slot
// is taken, an expected screen (display.screens) or a logged-in user takes the place of the oldest stream that is
// neither. Per-address counts key each host by its full address, IPv6 too (connections.ts hostKey, review rv135 H2).
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { LogGate } from '../log-gate.js';
import type { Identity } from './auth.js';
import { hostKey } from './connections.js';
import { monotonicBeside } from '../model/measured.js';

export interface SseOptions {
  maxClients: number;
  maxClientsPerAddress: number;
  maxBufferedBytes: number;
  heartbeatS: number;
  retryMs: number;
  /**
   * A stream whose page last said it had received data this old (server time) or older is closed as lagging; so is
   * one opened by a page that reports (`?reports=1`) and has not reported (`seen`) within this long of opening (the
   * page reports right after its snapshot). Other readers (scripts, proxies) have only the byte limit.
   */
  maxLagMs: number;
}

export interface SseClient {
  id: number;
  /** The bed whose waveforms this client wants, if any. */
  bed: string | null;
  identity: Identity | null;
  /** The remote address, for the per-address cap. */
  address: string;
  /** The session key the stream depends on (viewing: authenticated), or null: it is closed when the session ends. */
  session: string | null;
  res: ServerResponse;
  /**
   * Bytes of the first burst (the ward snapshot, a bed's waves) still unsent when it was written: allowed on top of
   * maxBufferedBytes, so that a large ward's snapshot (≈1.4 KB a bed) cannot get every new client dropped at its
   * next event on a slow link. Still bounded: the snapshot's size.
   */
  allowance: number;
  /** Unguessable name of this stream, sent in `hello`: the page names it when it reports what it has received. */
  token: string;
  /**
   * When the newest event the page said it has received on this stream was sent, on the hub's monotonic clock (null:
   * it has never said): a step of the wall clock must neither stretch nor cut its lag (review rv151 F1).
   */
  seen: number | null;
  /** When the stream opened, on the monotonic clock: a stream that never reports is judged from it. */
  openedAt: number;
  /** Opened by a page that reports what it received (`?reports=1`): only such a stream is closed for never reporting. */
  reports: boolean;
  /** The expected screen (display.screens) this stream keeps a place for, or null (see `add`). */
  screen: string | null;
}

/** Why a stream was refused. */
export type SseRefusal = 'max-clients' | 'per-address' | 'not-reporting';

/**
 * Streams of one screen name that keep a place (its stream and a reconnect's while the old one is not yet closed):
 * anyone who may view can use a name, and more under one name are streams like any other.
 */
const KEPT_STREAMS_PER_SCREEN = 2;

/** A refusal of the same reason and address is logged at most once in this long (a refused page retries every 15 s). */
const REFUSAL_LOG_EVERY_MS = 60_000;
/** Heartbeat times remembered with their monotonic instant: far more than maxLagMs (three heartbeats and 5 s) covers. */
const SENT_BEATS = 64;

export class SseHub {
  private readonly clients = new Set<SseClient>();
  /** Open streams by remote address (its hostKey: IPv6 by its full address), until their socket closes. */
  private readonly perAddress = new Map<string, number>();
  private readonly refusalLog = new LogGate(REFUSAL_LOG_EVERY_MS, 1000);
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;
  /** The serverTime of each recent heartbeat (wall) and when it was sent (monotonic), oldest first: see seen(). */
  private readonly beats = new Map<number, number>();

  constructor(
    private readonly opts: SseOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Whether a session key is still on; the default keeps every stream. */
    private readonly sessionLive: (key: string) => boolean = () => true,
    /** The wall clock: the serverTime the page is sent. */
    private readonly now: () => number = Date.now,
    /** Times the lag rule. The default when `now` is given without it is `now` itself (tests; monotonicBeside). */
    private readonly mono: () => number = monotonicBeside(now),
  ) {
    metrics.gauge('display_sse_clients', () => this.clients.size);
  }

  get size(): number {
    return this.clients.size;
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.closeEndedSessions();
      this.closeLagging();
      // An event, not a comment: the page reads the server's time in it and from that how far behind it is.
      const now = this.now();
      this.beats.delete(now); // a clock stepped back may give a time again: the newest holds
      this.beats.set(now, this.mono());
      if (this.beats.size > SENT_BEATS) this.beats.delete(this.beats.keys().next().value!);
      for (const c of this.clients) this.send(c, 'heartbeat', { serverTime: now });
    }, this.opts.heartbeatS * 1000);
  }

  /**
   * Takes over the response as an event stream; the reason (and nothing written) when a cap is reached. `screen`: the
   * expected screen (display.screens) the stream is opened as; it, and a stream of a logged-in user, takes the place of
   * the oldest stream that is neither when every slot is taken.
   */
  add(
    res: ServerResponse,
    who: { bed: string | null; identity: Identity | null; address: string; session: string | null; reports?: boolean; screen?: string | null },
  ): SseClient | SseRefusal {
    const key = hostKey(who.address);
    const reports = who.reports ?? false;
    const screen = who.screen && this.streamsOf(who.screen) < KEPT_STREAMS_PER_SCREEN ? who.screen : null;
    const kept = screen !== null || who.identity?.kind === 'session';
    const addressFull = (this.perAddress.get(key) ?? 0) >= this.opts.maxClientsPerAddress;
    const refusal: SseRefusal | null =
      this.clients.size >= this.opts.maxClients && !(kept && !addressFull && this.makeRoom(who.address, screen, who.identity))
        ? 'max-clients'
        : addressFull
          ? 'per-address'
          : !kept && !reports && this.quietCount() >= this.maxQuiet
            ? 'not-reporting'
            : null;
    if (refusal) {
      this.refused(refusal, who.address);
      return refusal;
    }
    // No limit while the first burst is written (hello, the ward snapshot, a bed's waveform chunks): it is bounded by
    // its own size, and a bed view on a large ward (a 283 KB snapshot, then wave chunks) must not be dropped for it.
    const client: SseClient = { id: this.nextId++, ...who, reports, screen, res, allowance: Number.POSITIVE_INFINITY, token: randomBytes(16).toString('hex'), seen: null, openedAt: this.mono() };
    this.clients.add(client);
    this.perAddress.set(key, (this.perAddress.get(key) ?? 0) + 1);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // Tells reverse proxies (nginx) not to buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.once('close', () => {
      this.clients.delete(client);
      const n = (this.perAddress.get(key) ?? 1) - 1;
      if (n > 0) this.perAddress.set(key, n);
      else this.perAddress.delete(key);
    });
    this.write(client, `retry: ${this.opts.retryMs}\n\n`);
    return client;
  }

  send(client: SseClient, event: string, data: unknown): void {
    this.write(client, frame(event, data));
  }

  /** As `send`, with data already serialised (the shared ward snapshot). */
  sendSerialised(client: SseClient, event: string, json: string): void {
    this.write(client, `event: ${event}\ndata: ${json}\n\n`);
  }

  /** Ends a client's first burst: what of it is still unsent does not count toward the slow-client limit. */
  started(client: SseClient): void {
    client.allowance = client.res.writableLength;
  }

  /** Serialises once, writes to every client that `filter` accepts. */
  broadcast(event: string, data: unknown, filter?: (c: SseClient) => boolean): void {
    if (this.clients.size === 0) return;
    const text = frame(event, data);
    for (const c of this.clients) if (!filter || filter(c)) this.write(c, text);
  }

  /**
   * The page of stream `token` has received the events up to `serverTime` (it reports every heartbeat). False when no
   * such stream is open. A time from the future counts as now; reports out of order do not move it back.
   * Kept as when that was sent on the monotonic clock: a heartbeat's own, remembered; any other time (hello's, the
   * snapshot's, reported once at the stream's start) by its age on the wall clock now, which only a step in the moment
   * between its sending and the report can make wrong (a step forward then closes the stream once: the page is told
   * to reconnect at a step anyway).
   */
  seen(token: string, serverTime: number): boolean {
    for (const c of this.clients) {
      if (c.token !== token) continue;
      const mono = this.mono();
      const at = this.beats.get(serverTime) ?? mono - Math.max(0, this.now() - serverTime);
      c.seen = Math.max(c.seen ?? -Infinity, Math.min(at, mono));
      return true;
    }
    return false;
  }

  /**
   * Closes the streams whose page has not received anything newer than maxLagMs ago (by its own last report): it
   * would show old alarms as current. It reconnects and gets a fresh snapshot. Run at every heartbeat.
   * One that has never reported is judged from its opening: a page whose reports never get out (a browser allows 6
   * connections to a host, and 6 tabs' streams hold them all) would otherwise hold its connection for good.
   */
  closeLagging(): void {
    const now = this.mono();
    for (const c of this.clients) {
      if (c.seen === null && !c.reports) continue; // a script or proxy: the byte limit only
      if (now - (c.seen ?? c.openedAt) <= this.opts.maxLagMs) continue;
      this.clients.delete(c);
      this.metrics.inc('display_sse_dropped_total', { reason: 'lagging' });
      if (c.seen === null) {
        this.log.warn({ client: c.id, openMs: now - c.openedAt, maxLagMs: this.opts.maxLagMs, buffered: c.res.writableLength },
          'display page has not reported what it received since it opened (its reports do not get through: too many gateway tabs in one browser?); disconnected (it will reconnect)');
      } else {
        this.log.warn({ client: c.id, behindMs: now - c.seen, maxLagMs: this.opts.maxLagMs, buffered: c.res.writableLength }, 'display client too far behind; disconnected (it will reconnect)');
      }
      c.res.destroy();
    }
  }

  /**
   * Closes the streams whose session has ended (logged out, expired, evicted), after a `session-ended` event so that
   * the page drops its login at once. Run at every heartbeat and at a logout.
   */
  closeEndedSessions(): void {
    for (const c of this.clients) {
      if (c.session === null || this.sessionLive(c.session)) continue;
      this.clients.delete(c);
      this.metrics.inc('display_sse_dropped_total', { reason: 'session-ended' });
      this.log.info({ client: c.id, user: c.identity?.user }, 'display stream closed: its session ended');
      c.res.end(frame('session-ended', { reason: 'logged out or expired' }));
      // A reader that stopped reading would hold the socket until the end is flushed: it gets a few seconds.
      setTimeout(() => c.res.destroy(), 5000).unref();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.clients) c.res.destroy();
    this.clients.clear();
  }

  /** Streams that do not report hold at most a quarter of the slots (at least one): a script need not report. */
  private get maxQuiet(): number {
    return Math.max(1, Math.floor(this.opts.maxClients / 4));
  }

  /** A stream that keeps its place when every slot is taken: an expected screen's, or a logged-in user's. */
  private static kept(c: SseClient): boolean {
    return c.screen !== null || c.identity?.kind === 'session';
  }

  private streamsOf(screen: string): number {
    let n = 0;
    for (const c of this.clients) if (c.screen === screen) n++;
    return n;
  }

  /** Open streams that do not say they report, not counting kept ones. */
  private quietCount(): number {
    let n = 0;
    for (const c of this.clients) if (!c.reports && !SseHub.kept(c)) n++;
    return n;
  }

  /**
   * Every slot is taken and an expected screen or a logged-in user asks: closes the oldest stream that is neither (one
   * that does not report first: a script before a page). False when there is none.
   */
  private makeRoom(address: string, screen: string | null, identity: Identity | null): boolean {
    let victim: SseClient | undefined;
    for (const c of this.clients) {
      if (SseHub.kept(c)) continue;
      victim ??= c;
      if (!c.reports) {
        victim = c;
        break;
      }
    }
    if (!victim) return false;
    this.clients.delete(victim);
    this.metrics.inc('display_sse_dropped_total', { reason: 'evicted' });
    if (this.refusalLog.open(`evicted ${hostKey(victim.address)}`, this.mono())) {
      this.log.warn(
        { client: victim.id, from: victim.address, reports: victim.reports, for: screen !== null ? `screen ${screen}` : `user ${identity?.user ?? ''}`, by: address, maxSseClients: this.opts.maxClients, evicted: this.metrics.get('display_sse_dropped_total', { reason: 'evicted' }) },
        'display live stream closed to make room for an expected screen or a logged-in user: display.limits.maxSseClients streams are open (logged once a minute per address)',
      );
    }
    victim.res.destroy();
    return true;
  }

  private refused(reason: SseRefusal, address: string): void {
    this.metrics.inc('display_sse_refused_total', { reason });
    const key = hostKey(address);
    if (!this.refusalLog.open(`${reason} ${key}`, this.mono())) return;
    if (reason === 'max-clients') {
      this.log.warn({ reason, from: address, maxSseClients: this.opts.maxClients }, 'display live stream refused (503): display.limits.maxSseClients streams are open');
    } else if (reason === 'not-reporting') {
      this.log.warn(
        { reason, from: address, maxNotReporting: this.maxQuiet, maxSseClients: this.opts.maxClients },
        'display live stream refused (503): a quarter of display.limits.maxSseClients are open as streams that do not report what they receive (scripts; the display page reports)',
      );
    } else {
      const open = this.perAddress.get(key) ?? 0;
      this.log.warn({ reason, from: address, open, maxSseClientsPerAddress: this.opts.maxClientsPerAddress }, 'display live stream refused (503): display.limits.maxSseClientsPerAddress streams are open from this address (screens behind a proxy or NAT share one address: raise it)');
    }
  }

  private write(c: SseClient, text: string): void {
    if (!this.clients.has(c)) return;
    if (c.res.writableLength > this.opts.maxBufferedBytes + c.allowance) {
      this.clients.delete(c);
      this.metrics.inc('display_sse_dropped_total', { reason: 'slow-client' });
      this.log.warn({ client: c.id, buffered: c.res.writableLength }, 'display client too slow; disconnected (it will reconnect)');
      c.res.destroy();
      return;
    }
    c.res.write(text);
  }
}

function frame(event: string, data: unknown): string {
  // JSON has no raw newlines, so the data fits on one `data:` line.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
