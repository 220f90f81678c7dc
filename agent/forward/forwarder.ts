// The forwarder drains the outbox to the hub: alarms first, telemetry in arrival order, a bounded window of
// messages in flight (one by default), each deleted from the store only after the hub's acknowledgement. While the hub is unreachable it retries
// with capped exponential backoff (with jitter); the outbox keeps everything meanwhile. A send is timed from when it is
// the oldest unacknowledged in the window. A message whose send fails first (closed on or unanswered) on connection
// after connection is a suspect: the messages behind it go first and it is retried on its own growing schedule
// (SUSPECT_AFTER); only the SDK's deterministic errors set a message aside (store table `refused`, kept).
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { STREAMS, type Outbox, type PackedMessage, type Stream } from '../store/outbox.js';
import { envelope, messageProperties, type Encoding } from './wire.js';
import type { ControlPlaneStatus, HubTransport } from './azure.js';

export interface ForwarderOptions {
  gatewayId: string;
  maxMessageBytes: number;
  batchDelayMs: number;
  sendTimeoutMs: number;
  retry: { initialDelayMs: number; maxDelayMs: number };
  /** Body format of newly packed messages (hub.encoding); default 'records' (schema 1). */
  encoding?: Encoding;
  /** hub.compression: 'gzip' sends telemetry bodies gzipped (alarms never: small, and read by the most consumers). */
  compression?: 'none' | 'gzip';
  /**
   * Messages sent before the first is acknowledged (hub.maxInFlight). They go out in order on one connection, so
   * the hub receives them in order; after a failure every unacknowledged one is resent, in order, same ids. A send is
   * timed (sendTimeoutMs) from when it is the oldest unacknowledged, so a window larger than a throttled hub
   * acknowledges within sendTimeoutMs does not time out (review rv113 M3).
   */
  maxInFlight?: number;
  /** A suspect's retry schedule and when it counts as refused repeatedly (SUSPECT_RETRY; tests shorten them). */
  suspect?: SuspectRetry;
}

export interface SuspectRetry {
  /** The pause before a suspect's first retry; it doubles at each failed retry, up to maxPauseMs. */
  firstPauseMs: number;
  maxPauseMs: number;
  /** A suspect this long, the hub having taken others meanwhile, is in refusedRepeatedly() (the gateway alarm). */
  alarmAfterMs: number;
}

export const SUSPECT_RETRY: SuspectRetry = { firstPauseMs: 60_000, maxPauseMs: 30 * 60_000, alarmAfterMs: 30 * 60_000 };

export const DEFAULT_MAX_IN_FLIGHT = 1;

export type ForwarderState = 'connecting' | 'connected' | 'backoff' | 'stopped';

export interface ForwarderStatus {
  state: ForwarderState;
  hub: string;
  lastError: string | null;
  lastSuccessAt: number | null;
  /** When the current outage began (first failure since the last success), or null if connected. */
  downSince: number | null;
  /**
   * Why the last attempt failed: 'auth' when the hub refused the device's credentials (a wrong or rotated key, a
   * device disabled in the hub, or a gateway clock behind by more than the token life), which no waiting will mend;
   * 'tls' when the hub's certificate is not trusted (hub.caFile not the CA that signed it, a certificate expired or for
   * another host, or a gateway clock outside its validity), which no waiting mends either; 'refused'
   * when a send was closed on or failed with an error on a connection that had delivered another message, timed out
   * while the hub acknowledged messages sent after it, or a message failed so again where the hub took others (the hub
   * works; that message is the problem), save a close signalled first that is the message's first failure (an early
   * drop: a second gateway looks alike; review rv96 M1); 'unreachable' otherwise, a hub that stops acknowledging
   * included (review rv113 M2). Null while delivering.
   */
  lastFailure: HubFailure | null;
  sentMessages: number;
  sentRecords: number;
  /** The control plane's trouble (twin unanswered, switched off: HubTransport.controlStatus); absent while it works. */
  control?: ControlPlaneStatus;
}

class TimeoutError extends Error {}

/**
 * The send got no answer: the forwarder's deadline, or the SDK's own (it fails a publish left without PUBACK 30 s
 * after it went: azure-iot-common's TimeoutError, "Message not acknowledged").
 */
function unanswered(err: unknown): boolean {
  return err instanceof TimeoutError || (err as { name?: unknown } | null)?.name === 'TimeoutError';
}

/**
 * What the forwarder holds against one message whose send failed first on a connection (strike()); a delivery
 * deletes it. Its states:
 *
 *   struck (n = 1..SUSPECT_AFTER-1)       a connection's first failure was this message's send
 *     | SUSPECT_AFTER in a row
 *     v
 *   suspect, unproven (pauseMs 0)         the others go first; it goes again once another is delivered, or when
 *     |                                   nothing else is left (it may just have met an outage)
 *     | fails while the hub takes others (refusedWhileUp)
 *     v
 *   suspect, proven (pauseMs > 0)         retried alone when dueAt comes: firstPauseMs, doubling to maxPauseMs;
 *                                         past alarmAfterMs it is in refusedRepeatedly() (the gateway alarm)
 *
 * Only the connection's first failed send counts (the rest failed with the connection). `drops` are the early
 * connection drops counted as the hub's trouble that takeBackDrops() gives back once the message proves at fault.
 */
interface Strike {
  /** Connections on which its send failed first, since it was last delivered. */
  n: number;
  /** Since when it is a suspect (SUSPECT_AFTER reached), or null. */
  suspectSince: number | null;
  /**
   * A suspect's pause before its next retry, and when that retry is due; 0 until it failed while the hub took others:
   * until then it cannot be told from an outage, and it waits only until another message is delivered.
   */
  pauseMs: number;
  /** On the monotonic clock (performance.now()): a wall clock set back must not hold the retry (review rv133 L2). */
  dueAt: number;
  /** A suspect's retries that failed. */
  retries: number;
  /** The hub took another message since this one last failed. */
  otherSinceFail: boolean;
  /** It failed while the hub took others (not only during an outage): the hub refuses it. */
  refusedWhileUp: boolean;
  /**
   * Early drops (shortLived) of connections on which its send failed first: taken back once the failure proves to be
   * its own (review rv96 M1, M2).
   */
  drops: number;
}

export type HubFailure = 'auth' | 'tls' | 'unreachable' | 'refused';

/**
 * Connections in a row on which one message's send failed first, after which it is a suspect (one the hub may refuse):
 * the other messages go first, so nothing waits behind it, and it is retried alone on its own schedule (SUSPECT_RETRY:
 * a growing pause, not right after a delivery, which a throttling hub would refuse again). A close or a timeout never
 * sets a message aside: a flaky or throttling hub fails good messages too (review rv92 H1); a delivery clears it.
 */
export const SUSPECT_AFTER = 3;

/** The SDK's errors for a message it will never send as it is (thrown before anything goes out): set aside at once. */
const REFUSED_AT_ONCE = new Set(['MessageTooLargeError', 'ArgumentError', 'FormatError']);

/** A failure repeated in a row is logged loud the first time and every tenth, so a long one shows without flooding. */
function firstOrTenth(n: number): boolean {
  return n === 1 || n % 10 === 0;
}

/**
 * The hub refused the credentials: MQTT CONNACK "not authorized" / "bad user name or password" (IoT Hub's answer to
 * a wrong SAS key or a disabled device). Only the broker's own reason after "Connection refused:" counts: the SDK
 * words every failed first connection "(Not authorized)" and makes it an UnauthorizedError, a closed port or a dropped
 * connection included (edgeHub restarting at every boot and deployment; review rv43 §1).
 */
export function hubFailureOf(err: unknown): HubFailure {
  const e = err as { message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (/Connection refused: (Not authorized|Bad username or password)/i.test(message)) return 'auth';
  return certificateError(err) ? 'tls' : 'unreachable';
}

/** Node's codes for a peer certificate it does not trust (OpenSSL's verify errors, and a name mismatch). */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const TLS_MESSAGE =
  /unable to verify the first certificate|unable to get (local )?issuer certificate|self[- ]signed certificate|certificate has expired|certificate is not yet valid|Hostname\/IP does not match certificate/i;

/**
 * The hub's TLS certificate is not trusted: no waiting mends it (review rv113 L1). The SDK words it like every failed
 * first connection, "(Not authorized)", and keeps the socket's error (with its code) as transportError; its message
 * carries OpenSSL's words.
 */
function certificateError(err: unknown): boolean {
  let e = err as { message?: unknown; code?: unknown; transportError?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string' && TLS_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && TLS_MESSAGE.test(e.message)) return true;
    e = (e.transportError ?? e.cause) as typeof e;
  }
  return typeof err === 'string' && TLS_MESSAGE.test(err);
}

/**
 * The hub's certificate is outside its validity by the gateway's clock (Node's codes, OpenSSL's words): more often
 * the gateway's clock than the certificate (review rv133 M3). Null for any other error.
 */
export function certificateTimeError(err: unknown): 'not-yet-valid' | 'expired' | null {
  let e = err as { message?: unknown; code?: unknown; transportError?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    const message = typeof e.message === 'string' ? e.message : '';
    if (e.code === 'CERT_NOT_YET_VALID' || /certificate is not yet valid/i.test(message)) return 'not-yet-valid';
    if (e.code === 'CERT_HAS_EXPIRED' || /certificate has expired/i.test(message)) return 'expired';
    e = (e.transportError ?? e.cause) as typeof e;
  }
  return null;
}

/** A connection up this long before it failed counts as having worked (the retry delays start over). */
const STABLE_CONNECTION_MS = 60_000;

/**
 * A send's deadline, armed when the send is the oldest unacknowledged in the window (or the connection is given up):
 * a send waiting behind others for a hub that acknowledges at its own pace is not late (review rv113 M3).
 */
class Deadline {
  private timer: NodeJS.Timeout | null = null;
  private done = false;
  private fire: (err: Error) => void = () => undefined;
  readonly expired: Promise<never>;
  constructor(
    private readonly ms: number,
    private readonly what: string,
  ) {
    this.expired = new Promise<never>((_, reject) => (this.fire = reject));
    this.expired.catch(() => undefined);
  }
  arm(): void {
    if (this.timer !== null || this.done) return;
    this.timer = setTimeout(() => this.fire(new TimeoutError(`${this.what}: no answer within ${this.ms} ms`)), this.ms);
  }
  clear(): void {
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export class Forwarder {
  private state: ForwarderState = 'stopped';
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  /** While backing off, new data must not wake the loop, or an outage would become a hot retry loop. */
  private wakeOnData = true;
  private wakeTimer: NodeJS.Timeout | null = null;
  private connected = false;
  private failures = 0;
  /**
   * Connections in a row that ended before STABLE_CONNECTION_MS, delivered or not. Not reset by a delivery: two
   * gateways with one identity each deliver before the other kicks them off (review rv73 M1). Only a connection
   * that holds resets it, or a message proving to be the cause of its drops takes them back (takeBackDrops); while
   * it is above 0, a delivery does not end the outage (downSince).
   */
  private shortLived = 0;
  /**
   * Connections in a row the hub closed at the control plane's first twin read. Not early drops (no second-gateway
   * hint, no outage held back), but the hub dropped us early all the same: the retry delay grows on shortLived plus
   * these, one count, so the two kinds of close do not each restart it (fx223). Reset as shortLived is.
   */
  private closedAtTwin = 0;
  /** When the current connection was made, on the monotonic clock (review rv133 L2); null while not connected. */
  private connectedAt: number | null = null;
  private stableTimer: NodeJS.Timeout | null = null;
  /** Whether the current connection has delivered a message. */
  private deliveredOnConnection = false;
  /** The control plane recycled the current connection: sends failing with it are not a hub failure. */
  private recycled = false;
  /** Messages sent and not yet settled, by id: at most maxInFlight, in the order they were sent. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Their deadlines, in the order they were sent: the first is the oldest unacknowledged (armDeadlines). */
  private readonly deadlines = new Map<string, Deadline>();
  /** Sends numbered in the order they went, and the highest delivered on the current connection (review rv113 M2). */
  private sendSeq = 0;
  private deliveredSeq = 0;
  private readonly maxInFlight: number;
  /**
   * Set by the first failed send of a connection, or by a connection that ended before it worked; the loop then
   * waits for the window and backs off.
   */
  private broken: { err: unknown; what: string; dropped?: boolean; refused?: boolean; atTwin?: boolean } | null = null;
  /** Connections made so far: which connection a send failed on. */
  private connection = 0;
  /** The connection whose first failed send was counted in `strikes` (later ones fail with the connection). */
  private struckOn = -1;
  /** The connection whose early drop was counted in shortLived (a send failing on it may take that back: refused). */
  private shortLivedOn = -1;
  /** Whether the hub's reachability is known: false from the start until a delivery or an idle connection. */
  private reachabilityKnown = false;
  private readonly suspectRetry: SuspectRetry;
  /** Messages whose sends failed (the first failure of each connection) and suspects, by id. */
  private readonly strikes = new Map<string, Strike>();
  /** Ids sent at least once by this process and not yet acknowledged (to tell a resend). */
  private readonly tried = new Set<string>();
  /**
   * Ids the hub acknowledged that the store could not mark as such (an I/O error, a disk remounted read-only). The
   * hub has them, so this process does not send them again; the loop retries the write, with backoff, before it
   * sends anything else.
   */
  private readonly unrecorded = new Set<string>();
  /** Failed writes of those acknowledgements since the last that worked (their backoff and log gating). */
  private ackWriteFailures = 0;
  private ackRetryInMs = 0;
  /** Store failures in a row while preparing a message (nothing can go out while they last). */
  private packFailures = 0;
  /** Resends whose attempt count the store refused, in a row (logged the first, then every tenth). */
  private attemptWriteFailures = 0;
  private readonly wrap: ReturnType<typeof envelope>;
  private readonly status = {
    lastError: null as string | null,
    lastSuccessAt: null as number | null,
    downSince: null as number | null,
    lastFailure: null as HubFailure | null,
    sentMessages: 0,
    sentRecords: 0,
  };

  constructor(
    private readonly outbox: Outbox,
    private readonly transport: HubTransport,
    private readonly opts: ForwarderOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.wrap = envelope(opts.gatewayId, opts.encoding ?? 'records');
    this.maxInFlight = Math.max(1, Math.floor(opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT));
    this.suspectRetry = opts.suspect ?? SUSPECT_RETRY;
    // Scraped at 0 from the start, so that an alert on their first rise fires.
    for (const stream of STREAMS) metrics.declare('forward_messages_refused_total', { stream });
    metrics.declare('forward_retries_total', { reason: 'refused' });
    metrics.declare('forward_retries_total', { reason: 'tls' });
    transport.onDisconnect((err) => {
      if (!this.connected) return;
      this.connected = false;
      if (this.connectionHeld()) {
        // Held a while: the delays start over (what failed() did before; review rv73 M2).
        this.failures = 0;
        this.shortLived = 0;
        this.closedAtTwin = 0;
      }
      if ((err as { recycled?: unknown } | undefined)?.recycled === true) {
        // The agent's own control plane closed it (an unanswered twin operation; it counts that itself): not a hub
        // drop, made again at once (review rv73 M3). Sends failing with it are not a failure either.
        this.recycled = true;
        this.log.info({ hub: transport.description, err: err?.message }, 'connection recycled by the control plane; reconnecting');
      } else if ((err as { atTwin?: unknown } | undefined)?.atTwin === true) {
        // The hub closed it at the control plane's first twin read (IoT Hub Basic tier has no twin): the transport counts
        // these and switches the control plane off after a few (review rv148 F2). Not an early drop, so no second-gateway
        // hint and no held-back outage; sends failing with it are no message's fault (as for a recycle). Reconnected
        // after a delay that grows with the early drops' (closedAtTwin).
        this.recycled = true;
        this.closedAtTwin += 1;
        this.broken ??= { err, what: 'connection', atTwin: true };
      } else if (this.connectedAt === null) {
        // Held a while: a drop like any network blip, reconnected at once.
        this.log.warn({ hub: transport.description, err: err?.message }, 'hub connection lost; data stays in the store');
      } else {
        // Ended before it held, whether it delivered or not: a failed attempt. A hub that drops the connection (a
        // second gateway with the same identity) would otherwise get a new one every few ms (review rv68 M1, rv73
        // M1). Sends in flight fail with it under the same reason (review rv73 L1).
        this.shortLived += 1;
        this.shortLivedOn = this.connection;
        this.broken ??= { err: err ?? new Error('connection to the hub lost'), what: 'connection', dropped: true };
      }
      this.connectedAt = null;
      this.armDeadlines();
      this.notify();
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run().catch((err: unknown) => {
      // The loop catches per-iteration errors; reaching here is a bug, and forwarding must not silently stop.
      this.log.fatal({ err }, 'forwarder loop crashed');
      this.state = 'stopped';
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.armDeadlines(); // every send in flight settles within sendTimeoutMs, not one after another
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.wake();
    await this.loop;
    this.loop = null;
    // Again: a connect that was under way when stop() began may have set it.
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.stableTimer = null;
    await this.transport.disconnect().catch(() => undefined);
    this.connected = false;
    this.state = 'stopped';
  }

  /** New data was committed, or the connection dropped: wake the loop if it idles. */
  notify(): void {
    if (this.wakeOnData) this.wake();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  getStatus(): ForwarderStatus {
    const control = this.transport.controlStatus?.();
    return { state: this.state, hub: this.transport.description, ...this.status, ...(control && { control }) };
  }

  /**
   * Whether the hub takes what is sent. Judged by delivery, not by the connection: a hub (or edgeHub) that accepts the
   * connection and never acknowledges a message looks connected most of the time and delivers nothing. Unknown, so
   * false, from the start until the first delivery or a connection made with nothing to send (review rv92 L1).
   */
  reachable(): boolean {
    return this.reachabilityKnown && this.status.downSince === null;
  }

  /**
   * Ids of the messages the hub has refused again and again (suspects) for over SuspectRetry.alarmAfterMs while it
   * took other messages: the agent's gateway alarm. A suspect that only ever failed during an outage is not here (the
   * hub alarm covers that).
   */
  refusedRepeatedly(now = Date.now()): string[] {
    const ids: string[] = [];
    for (const [id, s] of this.strikes) {
      if (s.suspectSince !== null && s.refusedWhileUp && now - s.suspectSince >= this.suspectRetry.alarmAfterMs) ids.push(id);
    }
    return ids;
  }

  /** Whether the hub has messages the store could not record as delivered (forwarding waits for that write). */
  ackWriteFailing(): boolean {
    return this.unrecorded.size > 0;
  }

  /**
   * Whether the store failed to prepare the next message three times in a row (a failing disk, a store damaged while
   * running): nothing goes out, though the hub is up (review rv42 §2: this showed as healthy, with no alarm).
   */
  packFailing(): boolean {
    return this.packFailures >= 3;
  }

  private sleep(ms: number, wakeOnData: boolean): Promise<void> {
    this.wakeOnData = wakeOnData;
    return new Promise((resolve) => {
      const done = () => {
        if (this.wakeTimer) clearTimeout(this.wakeTimer);
        this.wakeTimer = null;
        this.wakeUp = null;
        this.wakeOnData = true;
        resolve();
      };
      this.wakeUp = done;
      if (Number.isFinite(ms)) this.wakeTimer = setTimeout(done, Math.max(0, ms));
    });
  }

  private backoffMs(failures = this.failures): number {
    const { initialDelayMs, maxDelayMs } = this.opts.retry;
    const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(Math.max(failures, 1) - 1, 20));
    // Full jitter on the upper half, so a ward of gateways does not reconnect in lockstep after an outage.
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  private async run(): Promise<void> {
    while (this.running) {
      // Messages still in flight on a connection that failed or dropped: let them settle (acknowledged or
      // failed) before anything else, so that the resend starts from the first unacknowledged one, in order.
      if (this.inFlight.size > 0 && (this.broken !== null || !this.connected || this.inFlight.size >= this.maxInFlight)) {
        await this.waitForProgress(false);
        continue;
      }
      if (this.broken) {
        const { err, what, dropped, refused, atTwin } = this.broken;
        this.broken = null;
        await this.transport.disconnect().catch(() => undefined);
        await this.failed(err, what, dropped, refused, atTwin);
        continue;
      }
      if (this.unrecorded.size > 0) {
        // Nothing more goes out while the store cannot record what the hub took (whatever went now could not be
        // recorded either, and would all go again after a restart): the write is retried with backoff, like a send.
        await this.sleep(this.ackRetryInMs, false);
        if (this.running) this.recordAcknowledgements();
        continue;
      }
      if (!this.connected) {
        this.state = 'connecting';
        try {
          await withTimeout(this.transport.connect(), this.opts.sendTimeoutMs, 'connect');
          this.connection += 1;
          this.connected = true;
          this.state = 'connected';
          this.log.info(
            { hub: this.transport.description, backlog: this.backlog(), after: this.failures ? `${this.failures} failed attempts` : undefined },
            'connected to hub; forwarding',
          );
          // The failure count is not reset here but when a message is delivered: a hub that accepts the connection
          // and then closes it at each send (MQTT's answer to throttling or a refused message) must see the delay
          // grow, not a reconnect and resend of the window every half second.
          const at = performance.now();
          this.connectedAt = at;
          this.deliveredOnConnection = false;
          this.deliveredSeq = 0;
          this.recycled = false;
          if (this.stableTimer) clearTimeout(this.stableTimer);
          this.stableTimer = setTimeout(() => this.held(at), STABLE_CONNECTION_MS);
          this.stableTimer.unref();
          // With nothing to send, the connection is all the evidence there is; otherwise the next acknowledgement is.
          // Not while connections keep ending early: only one that holds ends that outage.
          if (this.shortLived === 0 && this.nothingElseToSend()) this.hubNotDown();
        } catch (err) {
          await this.transport.disconnect().catch(() => undefined);
          await this.failed(err, 'connect');
          continue;
        }
      }
      const held = this.transport.sendsHeld?.();
      if (held) {
        // The transport holds this connection's sends until its twin read settles (at most twinTimeoutMs; fx228): waited
        // for here, not in a send, so it is no send's timeout, and the message is picked after it (an alarm first).
        await Promise.race([held, this.sleep(Infinity, true)]);
        this.wake();
        continue;
      }
      let message: PackedMessage | null | 'wait';
      try {
        message = this.nextMessage();
      } catch (err) {
        // The store failed (disk full, I/O error). Nothing is lost: records stay where they are. Retried with backoff,
        // like a send; not a hub failure (the hub alarm stays as it is), but health and a gateway alarm show it.
        this.packFailures += 1;
        this.metrics.inc('forward_store_errors_total');
        this.state = 'backoff';
        // Connected, and it is the store that holds the backlog back, not the hub: no hub alarm for it (its own alarm
        // says what is wrong; review rv43 §5).
        this.hubNotDown();
        this.status.lastError = `store: cannot prepare a message: ${(err as Error)?.message ?? String(err)}`;
        const retryInMs = this.backoffMs(this.packFailures);
        const level = firstOrTenth(this.packFailures) ? 'error' : 'debug';
        this.log[level]({ err, attempt: this.packFailures, retryInMs, backlog: this.backlog() }, 'store error while preparing a message; nothing is sent until it works (retrying)');
        await this.sleep(retryInMs, false);
        continue;
      }
      if (this.packFailures > 0) {
        this.log.info({ attempts: this.packFailures }, 'the store prepares messages again; forwarding');
        this.packFailures = 0;
        this.state = 'connected';
      }
      if (message === 'wait') {
        // pack() found nothing after all; it has corrected its stats. Yield, so that this loop can never hold the
        // event loop.
        await new Promise((r) => setImmediate(r));
        continue;
      }
      if (message) {
        this.startSend(message);
        continue;
      }
      if (this.inFlight.size > 0) await this.waitForProgress(true);
      else await this.sleep(this.untilDue(), true);
    }
    await Promise.all(this.inFlight.values());
  }

  /**
   * Until a message in flight settles (or stop() is called); with `orData`, also until new data arrives or
   * telemetry falls due (there is room in the window for it).
   */
  private async waitForProgress(orData: boolean): Promise<void> {
    await Promise.race([...this.inFlight.values(), this.sleep(orData ? this.untilDue() : Infinity, orData)]);
    this.wake(); // ends the sleep (and its timer) if a send settled first
  }

  /**
   * The next message to send, packing one if a stream is due; null if nothing is due. Stream by stream, alarms
   * first: a message of a stream already packed goes first (its order), then that stream's unpacked records; a
   * replay's copies (of either stream) only when nothing new is due. So a new alarm goes ahead of telemetry messages
   * waiting to be sent (a backlog), and new alarms and telemetry ahead of a replay's copies (a day's replay holds
   * thousands).
   */
  private nextMessage(): PackedMessage | null | 'wait' {
    const busy = [...this.inFlight.keys(), ...this.unrecorded];
    // A suspect the hub refused while it took others waits until its retry is due (the others go first); then it goes
    // in its place in the order. One that failed only while nothing was delivered (an outage looks alike) waits until
    // another message is delivered, or goes again when there is nothing else to send (with the ordinary backoff).
    const now = performance.now();
    const scheduled: string[] = [];
    const unproven: string[] = [];
    for (const [id, s] of this.strikes) {
      if (s.suspectSince === null) continue;
      if (s.pauseMs > 0 && s.dueAt > now) scheduled.push(id);
      else if (s.pauseMs === 0 && !s.otherSinceFail) unproven.push(id);
    }
    const existing = this.outbox.nextMessage([...busy, ...scheduled, ...unproven]);
    for (const stream of STREAMS) {
      if (existing?.stream === stream && !existing.replayOf) return existing;
      if (this.isDue(stream)) {
        return this.outbox.pack(stream, this.opts.maxMessageBytes, this.wrap) ?? 'wait';
      }
    }
    if (existing) return existing;
    // Nothing else to send: an unproven suspect goes again (it holds nothing back).
    const again = unproven.length ? this.outbox.nextMessage([...busy, ...scheduled]) : null;
    if (!again) {
      // A suspect neither in flight nor waiting for its retry is no longer in the store (a replay copy trimmed for
      // room): forgotten.
      for (const [id, s] of this.strikes) if (s.suspectSince !== null && !busy.includes(id) && !scheduled.includes(id)) this.strikes.delete(id);
    }
    return again;
  }

  /** Until telemetry falls due (records are stamped by the wall clock) or a suspect's retry does (monotonic). */
  private untilDue(now = Date.now(), mono = performance.now()): number {
    let ms = this.untilTelemetryDue(now);
    // A retry that fell due since nextMessage() read the clock (a millisecond later) counts as due now, or the loop
    // slept until new data came (fx115); one in flight is not waited for.
    for (const [id, s] of this.strikes) {
      if (s.suspectSince === null || s.pauseMs === 0 || this.inFlight.has(id) || this.unrecorded.has(id)) continue;
      ms = Math.min(ms, Math.max(0, s.dueAt - mono));
    }
    return ms;
  }

  // A record stamped later than now was written before the wall clock was set back: it counts as due, or its
  // batch would wait out the whole step (an hour set back, an hour of telemetry held unless a message fills up).
  private isDue(stream: Stream, now = Date.now()): boolean {
    const p = this.outbox.pending(stream);
    if (p.records === 0) return false;
    if (stream === 'alarms') return true;
    const oldestAt = p.oldestAt ?? now;
    return p.bytes >= this.opts.maxMessageBytes * 0.9 || oldestAt > now || now - oldestAt >= this.opts.batchDelayMs;
  }

  private untilTelemetryDue(now = Date.now()): number {
    const p = this.outbox.pending('telemetry');
    if (p.records === 0 || p.oldestAt === null) return Infinity;
    if (p.oldestAt > now) return 0;
    return Math.max(0, p.oldestAt + this.opts.batchDelayMs - now);
  }

  /** Sends one message in the window; the promise kept in `inFlight` never rejects. */
  private startSend(m: PackedMessage): void {
    const done = this.sendOne(m).finally(() => this.inFlight.delete(m.id));
    this.inFlight.set(m.id, done);
  }

  private async sendOne(m: PackedMessage): Promise<void> {
    const started = performance.now();
    const connection = this.connection;
    const seq = ++this.sendSeq;
    // A resend is recorded before it goes (the count survives a restart); a first send is not, which spares
    // the store a synchronous write per message.
    const resend = m.attempts > 0 || this.tried.has(m.id);
    this.tried.add(m.id);
    if (resend) {
      try {
        this.outbox.recordAttempt(m.id);
        this.attemptWriteFailures = 0;
      } catch (err) {
        // The count is a statistic (health, kept across restarts): the resend goes anyway. A store fault, not the
        // hub's: its acknowledgement, should the store still refuse writes, raises the store's own alarm.
        this.metrics.inc('forward_store_errors_total');
        this.attemptWriteFailures += 1;
        const level = firstOrTenth(this.attemptWriteFailures) ? 'warn' : 'debug';
        this.log[level]({ err, messageId: m.id, inARow: this.attemptWriteFailures }, 'store error while counting a resend; sending it anyway (said the first time, then every tenth)');
      }
    }
    // Synchronous, so that sends reach the transport in the order they were started (a window of several). The same
    // body gives the same bytes, so a resend is the same message. ~1 ms for a 64 KB body.
    const gzipped = this.opts.compression === 'gzip' && m.stream === 'telemetry' ? gzipSync(m.body) : undefined;
    const bytes = gzipped ? gzipped.length : Buffer.byteLength(m.body);
    const deadline = new Deadline(this.opts.sendTimeoutMs, `send ${m.id}`);
    this.deadlines.set(m.id, deadline);
    this.armDeadlines();
    try {
      await Promise.race([
        this.transport.send({
          id: m.id,
          stream: m.stream,
          body: m.body,
          ...(gzipped && { gzipped }),
          properties: {
            ...messageProperties(m.stream, this.opts.gatewayId, m.body, gzipped !== undefined),
            // When the message was packed (stored with it, so a resend carries the same): consumers of a backlog
            // drained after an outage can tell when it was made from when the hub enqueued it. UTC, 'Z' form.
            'iothub-creation-time-utc': new Date(m.createdAt).toISOString(),
            ...(m.replayOf && { replayOf: m.replayOf }),
          },
        }),
        deadline.expired,
      ]);
    } catch (err) {
      this.metrics.inc('forward_failures_total', { stream: m.stream });
      const name = (err as { name?: unknown } | null)?.name;
      // The SDK refused it before sending anything: it never will send it as it is. The connection is fine.
      if (typeof name === 'string' && REFUSED_AT_ONCE.has(name) && this.setAside(m, err)) return;
      // Failed on a connection that delivered another message: the hub is reachable. A close or an error answers the
      // send, so any delivery on the connection counts. A timeout answers nothing: only a message sent after it and
      // delivered shows the hub answering others but not this one; deliveries from before it was sent do not, as a hub
      // that stops acknowledging looks alike (an outage; review rv113 M2).
      const timedOut = unanswered(err);
      const delivered = this.connection === connection && (timedOut ? this.deliveredSeq > seq : this.deliveredOnConnection);
      // This message's fault, not the connection's, only when it failed first on an earlier connection too and the hub
      // took others around it (on this connection, since then, or on the one it failed on before). A close that hits a
      // different message on each connection (two gateways with one identity kicking each other off) stays an early
      // drop: the delay grows, an outage, the second-gateway hint (review rv73 M1, rv96 M1).
      // Only the connection's first failed send can be the cause: the others fail with the connection (rv97 M1).
      const firstHere = !this.recycled && this.struckOn !== connection;
      const known = !firstHere || this.connection !== connection ? undefined : this.strikes.get(m.id);
      // A bare timeout (nothing sent after it delivered) is no evidence by itself; but a delivery between its earlier
      // failure and this one (otherSinceFail), or an earlier refusal, is: with one message in flight nothing is ever
      // sent after it on its connection, and a message the hub leaves unanswered while it takes the others must still
      // be proven and retried on its own schedule (review rv117 H1). During an outage nothing is delivered between.
      const itsFault = known !== undefined && (delivered || known.otherSinceFail || known.refusedWhileUp);
      const refused = delivered || itsFault;
      // The SDK signals the close before the send rejects: the early drop just counted is this send's (review rv92 M1).
      const droppedHere = this.broken?.dropped === true && this.shortLivedOn === connection;
      this.strike(m, err, connection, refused, droppedHere);
      if (itsFault) this.takeBackDrops(m, err, droppedHere);
      // The first failure breaks the connection: nothing more is sent on it; once the window has settled the
      // loop backs off, reconnects and resends every unacknowledged message in order. After a recycle the loop
      // reconnects at once and resends anyway.
      if (!this.broken && !this.recycled) this.breakConnection(err, m, refused);
      return;
    } finally {
      deadline.clear();
      this.deadlines.delete(m.id);
      this.armDeadlines();
    }
    if (connection === this.connection) this.deliveredSeq = Math.max(this.deliveredSeq, seq);
    this.tried.delete(m.id);
    const wasSuspect = this.strikes.get(m.id)?.suspectSince != null;
    this.strikes.delete(m.id);
    if (wasSuspect) this.log.info({ messageId: m.id, stream: m.stream }, 'a message the hub had refused repeatedly was delivered');
    // Every message refused before now has seen the hub take another since.
    for (const s of this.strikes.values()) s.otherSinceFail = true;
    this.failures = 0;
    this.deliveredOnConnection = true;
    this.reachabilityKnown = true;
    try {
      this.outbox.acknowledge(m.id);
    } catch (err) {
      // Delivered, but not recorded as such: kept in memory, not sent again by this process (the loop retries the
      // write). Only a restart before the write succeeds sends it again, with the same id.
      this.unrecorded.add(m.id);
      this.ackWriteFailed(err);
    }
    const now = Date.now();
    this.status.lastSuccessAt = now;
    if (this.shortLived === 0) this.hubNotDown();
    this.status.sentMessages += 1;
    this.status.sentRecords += m.count;
    this.metrics.inc('forward_messages_total', { stream: m.stream });
    this.metrics.inc('forward_records_total', { stream: m.stream }, m.count);
    this.metrics.inc('forward_body_bytes_total', { stream: m.stream }, bytes);
    this.metrics.inc('forward_latency_ms_total', { stream: m.stream }, performance.now() - started);
    if (resend) this.log.info({ messageId: m.id, attempts: m.attempts + 1 }, 'message delivered after resend');
  }

  /**
   * Counts a failed send. Once per connection, for the message whose failure came first (the others fail with the
   * connection): SUSPECT_AFTER in a row make it a suspect. A suspect's failed retry doubles its pause when it is the
   * connection's first failure (a later one failed with the connection: no evidence against it).
   */
  private strike(m: PackedMessage, err: unknown, connection: number, refused: boolean, droppedHere: boolean): void {
    const first = !this.recycled && this.struckOn !== connection;
    if (first) this.struckOn = connection;
    // A send that failed after the connection's first failure tells nothing of its own message (rv97 M1).
    if (!first) return;
    const known = this.strikes.get(m.id);
    const s: Strike = known ?? { n: 0, suspectSince: null, pauseMs: 0, dueAt: 0, retries: 0, otherSinceFail: false, refusedWhileUp: false, drops: 0 };
    if (droppedHere) s.drops += 1;
    // A delivery since its last failure shows the hub up: a timeout now is this message's (rv117 H1); a bare first
    // timeout is not (refused is false for it: review rv113 M2).
    if (refused || s.otherSinceFail) s.refusedWhileUp = true;
    s.otherSinceFail = false;
    this.strikes.set(m.id, s);
    const now = Date.now();
    const mono = performance.now();
    const why = (err as Error)?.message ?? String(err);
    if (s.suspectSince !== null) {
      if (this.recycled) return; // the control plane closed it: not the hub's answer to this message
      s.retries += 1;
      if (!s.refusedWhileUp) return; // still like an outage: it waits for a delivery (nextMessage)
      s.pauseMs = s.pauseMs === 0 ? this.suspectRetry.firstPauseMs : s.pauseMs * 2;
      s.pauseMs = Math.min(s.pauseMs, this.suspectRetry.maxPauseMs);
      s.dueAt = mono + s.pauseMs;
      const level = firstOrTenth(s.retries) ? 'warn' : 'debug';
      this.log[level](
        { messageId: m.id, stream: m.stream, records: m.count, retries: s.retries, suspectForMs: now - s.suspectSince, retryInMs: s.pauseMs, err: why },
        'a message the hub refuses repeatedly failed again: retried later, the others go on (said the first time, then every tenth)',
      );
      return;
    }
    s.n += 1;
    if (s.n < SUSPECT_AFTER) return;
    s.suspectSince = now;
    s.pauseMs = s.refusedWhileUp ? Math.min(this.suspectRetry.firstPauseMs, this.suspectRetry.maxPauseMs) : 0;
    s.dueAt = mono + s.pauseMs;
    this.log.warn(
      { messageId: m.id, stream: m.stream, records: m.count, failures: s.n, retryInMs: s.pauseMs || 'after another is delivered', err: why },
      'a message failed on every connection in a row: the others go first; it is retried on its own, with a growing pause (never set aside for this)',
    );
  }

  /**
   * The message failed again where the hub takes others: the early drops counted for it were its refusals, not the
   * connection's trouble. Taken back; this connection's failure is a refusal; and if no other early drop is left and
   * the hub took something since the outage began, that outage was this message (review rv96 M1, M2, L2).
   */
  private takeBackDrops(m: PackedMessage, err: unknown, droppedHere: boolean): void {
    const s = this.strikes.get(m.id);
    if (!s) return;
    this.shortLived = Math.max(0, this.shortLived - s.drops);
    s.drops = 0;
    if (droppedHere) {
      this.shortLivedOn = -1;
      this.broken = { err, what: `send ${m.id}`, refused: true };
    }
    const { downSince, lastSuccessAt } = this.status;
    if (this.shortLived === 0 && downSince !== null && lastSuccessAt !== null && lastSuccessAt >= downSince) this.hubNotDown();
  }

  private breakConnection(err: unknown, m: PackedMessage, refused: boolean): void {
    this.broken = { err, what: `send ${m.id}`, refused };
    this.connected = false;
    this.armDeadlines();
    void this.transport.disconnect().catch(() => undefined);
  }

  /**
   * Arms the deadline of the oldest send in flight: the others wait their turn behind it. Once the connection is
   * given up, or the forwarder stops, every one's: they no longer move in order, and each settles within sendTimeoutMs.
   */
  private armDeadlines(): void {
    const all = this.broken !== null || !this.connected || !this.running;
    for (const d of this.deadlines.values()) {
      d.arm();
      if (!all) return;
    }
  }

  /**
   * Moves a message the hub refuses out of the queue into the store's `refused` table (kept, not sent again by the
   * agent), so that the messages behind it go on; counted, logged with its id, and the agent raises a gateway alarm
   * while any is kept. False if the store could not (it is then retried like any failed message).
   */
  private setAside(m: PackedMessage, err: unknown): boolean {
    const lastError = `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`;
    let moved;
    try {
      moved = this.outbox.setAside(m.id, lastError);
    } catch (storeErr) {
      this.metrics.inc('forward_store_errors_total');
      this.log.error({ err: storeErr, messageId: m.id }, 'store error while setting aside a message the hub refuses; it is tried again');
      return false;
    }
    this.strikes.delete(m.id);
    this.tried.delete(m.id);
    if (!moved) return false;
    this.metrics.inc('forward_messages_refused_total', { stream: m.stream });
    this.log.error(
      { messageId: m.id, stream: m.stream, records: m.count, attempts: moved.attempts, err: lastError },
      'the hub refuses this message every time: set aside in the store table "refused" (kept, not sent again); the messages behind it go on (list them with --refused list; README: store and forward)',
    );
    return true;
  }

  /** Writes the acknowledgements the store refused before; on success forwarding resumes. */
  private recordAcknowledgements(): void {
    try {
      for (const id of this.unrecorded) {
        this.outbox.acknowledge(id);
        this.unrecorded.delete(id);
      }
    } catch (err) {
      this.ackWriteFailed(err);
      return;
    }
    this.log.info({ attempts: this.ackWriteFailures }, 'acknowledgements recorded in the store; forwarding again');
    this.ackWriteFailures = 0;
    if (this.connected) this.state = 'connected';
  }

  private ackWriteFailed(err: unknown): void {
    this.ackWriteFailures += 1;
    this.metrics.inc('forward_ack_write_failures_total');
    this.ackRetryInMs = this.backoffMs(this.ackWriteFailures);
    this.state = 'backoff';
    this.status.lastError = `store: cannot record an acknowledgement: ${(err as Error)?.message ?? String(err)}`;
    // Not a hub failure: downSince (the hub-unreachable alarm) stays as it is.
    const level = firstOrTenth(this.ackWriteFailures) ? 'error' : 'debug';
    this.log[level](
      { err, messageIds: [...this.unrecorded].slice(0, 5), unrecorded: this.unrecorded.size, attempt: this.ackWriteFailures, retryInMs: this.ackRetryInMs },
      'cannot record the acknowledgement in the store; sending nothing until it can (a restart before then resends with the same ids)',
    );
  }

  /** Whether the current connection stayed up STABLE_CONNECTION_MS (clears connectedAt if so). */
  private connectionHeld(): boolean {
    if (this.connectedAt === null || performance.now() - this.connectedAt < STABLE_CONNECTION_MS) return false;
    this.connectedAt = null;
    return true;
  }

  /** The connection made at `at` is still up STABLE_CONNECTION_MS later: connections no longer end early. */
  private held(at: number): void {
    this.stableTimer = null;
    if (!this.connected || this.connectedAt !== at || (this.shortLived === 0 && this.closedAtTwin === 0 && this.status.downSince === null)) return;
    this.shortLived = 0;
    this.closedAtTwin = 0;
    // An idle gateway has nothing else to end the outage with; one with a backlog needs a delivery on it.
    if (this.deliveredOnConnection || this.nothingElseToSend()) this.hubNotDown();
  }

  /**
   * Nothing to send but suspects the hub refused while it took others, waiting for their retry: like nothing to send,
   * they are no evidence of an outage (review rv96 M2). False if the store cannot tell.
   */
  private nothingElseToSend(): boolean {
    try {
      if (this.outbox.nothingToSend()) return true;
      const now = performance.now(); // dueAt's clock
      const proven = [...this.strikes].filter(([, s]) => s.suspectSince !== null && s.pauseMs > 0 && s.dueAt > now).map(([id]) => id);
      if (proven.length === 0 || this.outbox.pending('alarms').records + this.outbox.pending('telemetry').records > 0) return false;
      return this.outbox.nextMessage([...proven, ...this.unrecorded]) === null;
    } catch {
      return false;
    }
  }

  /**
   * `dropped`: the hub closed a connection before it held a minute (counted apart; the log says what it may mean).
   * `refused`: a send failed on a connection that delivered others (the hub is up: no outage, a reason of its own).
   * `atTwin`: the hub closed the connection at the control plane's first twin read (said so in the log).
   */
  private async failed(err: unknown, what: string, dropped = false, refused = false, atTwin = false): Promise<void> {
    // A connection that stayed up a while before it failed (a send timing out after hours) starts the delays over.
    if (this.connectionHeld()) {
      this.failures = 0;
      this.shortLived = 0;
      this.closedAtTwin = 0;
    }
    this.connectedAt = null;
    // A drop counts in shortLived, a close at the twin read in closedAtTwin (onDisconnect), which deliveries do not
    // reset: one count for both, so the delay grows across them (fx223).
    const early = dropped || atTwin;
    if (!early) this.failures += 1;
    const attempt = early ? this.shortLived + this.closedAtTwin : this.failures;
    this.status.lastError = `${what}: ${(err as Error)?.message ?? String(err)}`;
    const reason: HubFailure = refused && !dropped ? 'refused' : hubFailureOf(err);
    if (reason !== 'refused') this.status.downSince ??= Date.now();
    this.status.lastFailure = reason;
    const delay = this.backoffMs(attempt);
    this.state = 'backoff';
    this.metrics.inc('forward_retries_total', { reason: dropped ? 'dropped' : reason });
    // What the gateway's clock reads: SAS tokens and certificate validity are judged against it (review rv133 M3).
    const clock = new Date().toISOString();
    const certTime = reason === 'tls' ? certificateTimeError(err) : null;
    const tlsText =
      certTime === 'not-yet-valid'
        ? `the hub's TLS certificate is not yet valid by the gateway's clock, which reads ${clock}: set the gateway's clock right (NTP reachable?); keeping data in the store and retrying`
        : certTime === 'expired'
          ? `the hub's TLS certificate has expired by the gateway's clock, which reads ${clock}: if that time is wrong, set the gateway's clock right (NTP reachable?); if it is right, the certificate of the hub or IoT Edge gateway named here did expire; keeping data in the store and retrying`
          : "the hub's TLS certificate is not trusted (check hub.caFile: it must hold the CA that signed the certificate of the hub or IoT Edge gateway named here; as an IoT Edge module, the edge CA and trust bundle: iotedge check; or that certificate expired, or names another host, or a proxy intercepts TLS); keeping data in the store and retrying";
    // First failure and then every tenth at warn, so a long outage is visible without flooding the log.
    const level = firstOrTenth(attempt) ? 'warn' : 'debug';
    this.log[level](
      { hub: this.transport.description, err: this.status.lastError, reason: dropped ? 'dropped' : reason, attempt, retryInMs: delay, backlog: this.backlog() },
      atTwin
        ? 'the hub closed the connection while the control plane read the twin; reconnecting after a delay (after 3 within 10 min the control plane is switched off and tried again later, and forwarding goes on: IoT Hub Basic tier has no twin)'
        : dropped
          ? 'the hub closed the connection right after it was made; keeping data in the store and reconnecting after a delay (if this repeats, a second gateway may be using the same device identity: a cloned SD card or image, or a replaced gateway still running; if it happens at each send, the hub may be throttling)'
          : reason === 'auth'
            ? `IoT Hub refuses the device's credentials (a wrong or rotated key, or a disabled device: check the connection string), or the gateway's clock is wrong (SAS tokens expire hub.sasTokenTtlS after it; it reads ${clock}); keeping data in the store and retrying`
            : reason === 'tls'
              ? tlsText
              : reason === 'refused'
                ? 'a send failed on a connection that delivered others; reconnecting and retrying (a message the hub refuses again and again is retried on its own schedule while the others go on)'
                : 'hub unreachable; keeping data in the store and retrying',
    );
    if (this.running) await this.sleep(delay, false);
  }

  /** The hub is not what holds anything back: no outage, no reason for one (the hub alarm follows downSince). */
  private hubNotDown(): void {
    this.reachabilityKnown = true;
    this.status.downSince = null;
    this.status.lastFailure = null;
  }

  private backlog() {
    const t = this.outbox.pending('telemetry');
    const a = this.outbox.pending('alarms');
    return { telemetryRecords: t.records, alarmRecords: a.records, messages: this.outbox.unackedMessages() };
  }
}
