// hl7-mllp driver: receives HL7 v2 (IHE PCD-01 / PCD-04) over MLLP and emits readings and alarms.
import type { Driver, DriverContext, DriverFactory, DriverHealth, DriverWarning } from '../types.js';
import { MessageHandler, type RefusedRun } from './handler.js';
import { HEAP_LIMIT_BYTES, MllpServer, REFUSED_CONNECTIONS_GAP_MS, checkTlsFiles, mllpQueueBudget, type RefusedConnections, type TlsOptions } from './server.js';
import { isTimeZone } from './protocol/dtm.js';
import { isLoopbackHost } from '../../agent/loopback.js';

export interface Hl7MllpOptions {
  host?: string;
  port: number;
  maxFrameBytes?: number;
  maxConnections?: number;
  idleTimeoutMs?: number;
  firstFrameTimeoutMs?: number;
  readTimeoutMs?: number;
  maxQueuedFrames?: number;
  application?: string;
  facility?: string;
  storeFailureAck?: 'AR' | 'AE' | 'close';
  acceptProcessingIds?: ('P' | 'D' | 'T')[];
  defaultUtcOffsetMinutes?: number;
  defaultTimeZone?: string;
  duplicateWindow?: { maxEntries?: number; ttlMs?: number };
  tls?: TlsOptions;
  noSenderAfterS?: number;
  alarmRepeatS?: number;
}

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['port'],
  properties: {
    host: { type: 'string', default: '0.0.0.0', description: 'Bind address.' },
    port: { type: 'integer', minimum: 0, maximum: 65535, description: 'TCP port (0 = any free port, for tests).' },
    maxFrameBytes: {
      type: 'integer',
      minimum: 1024,
      // What was accepted before (review rv126 M3): a file that started with more than MAX_FRAME_BYTES must still
      // start; it runs at MAX_FRAME_BYTES and is warned of (hl7MllpFactory.warnings).
      maximum: 67108864,
      default: 1048576,
      description:
        'Largest HL7 message (one MLLP frame) accepted, in bytes. Default 1048576 (1 MiB), at most 8388608 (8 MiB): a larger value is used as 8388608, with a warning. A larger message is dropped and answered AE (CE) with error 207 when its MSH can be read, and counted (frames_oversize). ' +
        'A message is parsed and mapped on the agent\'s one event loop, and alarms, the display and the other senders wait meanwhile: measured on a 2-core machine, a 1 MiB message of numeric rows held it 0.9 s with about 170 MB of memory at the peak, an 8 MiB one 6.4 s and 575 MB (8 s and 690 MB for waveform rows), about 60 times the message. ' +
        'Raise it only for a sender whose waveform (NA/MA) messages are larger, to just above their size. Each connection may also hold one unfinished message up to this size; messages received and not yet stored are limited across all connections to a cap set from the heap limit (maxQueuedFrames).',
    },
    maxConnections: {
      type: 'integer',
      minimum: 1,
      maximum: 10000,
      default: 64,
      description:
        'Sender connections open at once on this listener; further ones are refused and counted (connections_refused): the listener is then degraded, with a gateway technical alarm, until 10 minutes pass without a refusal (a sender turned away gets no ACK and has no device whose alarm could tell). Default 64. Raise it for a site whose gateways open many connections (e.g. one per bed); lower it to bound what the gateway accepts.',
    },
    idleTimeoutMs: {
      type: 'integer',
      minimum: 100,
      // Node's timers cannot wait longer than 2^31-1 ms (24.8 days): a longer one fires at once, closing every connection.
      maximum: 604800000,
      default: 600000,
      description:
        "Close a connection with no traffic for this long, in milliseconds (at most 604800000, 7 days). The time does not run while the connection's messages wait to be stored; a connection with nothing waiting to be stored is closed after idleTimeoutMs even while reading is paused because the agent's queued-message bytes are full (the sender resends what it got no ACK for).",
    },
    firstFrameTimeoutMs: {
      type: 'integer',
      minimum: 100,
      maximum: 604800000,
      default: 120000,
      description:
        'Close a connection that has sent no MLLP frame since it connected after this long, in milliseconds (or after idleTimeoutMs, if that is shorter); counted in idle_timeouts. Default 120000 (2 min), above the 30-60 s export interval of central stations: a silent connection (a sender that connects long before its first message, one left open by a crashed program, a port check) would otherwise hold a slot of maxConnections for idleTimeoutMs while senders are refused. Raise it for a sender that connects and sends its first message only minutes later and does not reconnect when closed.',
    },
    readTimeoutMs: {
      type: 'integer',
      minimum: 100,
      maximum: 600000,
      default: 30000,
      description:
        'A started frame must end within this time (not counting while the listener itself holds reading). Also the longest a TLS handshake may take, and the longest a sender may leave over 1 MiB of ACKs unread; the connection is then closed (read_timeouts, tls_handshake_errors, acks_unread).',
    },
    maxQueuedFrames: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 32,
      description:
        'Messages received on one connection and still waiting to be stored and acknowledged; at this number the listener stops reading from that connection until some are done (TCP back-pressure, nothing is lost). Default 32. Rarely needs changing; raise it only for a sender that streams many messages without waiting for each ACK. ' +
        'Whatever it is, the messages waiting on all connections of the agent together are limited to (heap limit − 192 MiB) / 64, between 1 and 32 MiB (about 5 MiB under the image 512 MB heap limit; logged at start as queuedBytesLimit): beyond it every connection stops reading until some are stored (counter queued_bytes_full, logged once a minute), so a slow store cannot make the agent hold maxConnections × maxQueuedFrames × maxFrameBytes.',
    },
    application: { type: 'string', default: 'EDGE_GATEWAY', description: 'MSH-3 of our ACKs.' },
    facility: { type: 'string', default: '', description: 'MSH-4 of our ACKs.' },
    storeFailureAck: {
      enum: ['AR', 'AE', 'close'],
      // AR, not close (review rv128 H1): a sender answered by a close resends the same message, so the newer vitals
      // behind it never reach the bedside alarms while the store refuses (shown and alarmed here even then).
      default: 'AR',
      description:
        'What a sender gets for a message the store refuses (e.g. a full disk). AR (default) or AE: that application ACK with ERR 207 "please resend" (enhanced mode with MSH-15 AL, as IHE PCD senders send: CE), and the connection is kept, so the sender goes on with its newer messages, which are still shown and alarmed here; whether it resends the refused one is up to the sender: HL7 v2 leaves it to the implementer after AR and means AE for errors in the message; GE B40/B105/B125 monitors try a message three times in all after AE or no answer, and drop one answered AR, disconnecting; Philips Efficia CM monitors go on to the next message after AR, and keep one that got no answer to send it again. ' +
        'close: no ACK, and the connection is closed; a sender that keeps its data resends it, and the resend is stored once (duplicate check), but while the store refuses it resends that same message, so its newer readings reach neither the display nor the alarms until the store takes data again: choose it only where keeping every message matters more than live alarms during a store failure.',
    },
    acceptProcessingIds: {
      type: 'array',
      items: { enum: ['P', 'D', 'T'] },
      minItems: 1,
      uniqueItems: true,
      default: ['P'],
      description:
        'MSH-11 values stored; others are refused (AR/CR, error 202). Only P (production) by default: debugging (D) and training (T) data must not become patient data. Add D for a vendor test system that sends D.',
    },
    defaultUtcOffsetMinutes: {
      type: 'integer',
      minimum: -840,
      maximum: 840,
      default: 0,
      description: 'Offset (minutes east of UTC) of times sent without one, when neither MSH-7 nor another time of the same device has one (its OBX-14/OBX-19, or OBR-7/8 when the message has one device only). Fixed all year: prefer defaultTimeZone where clocks change.',
    },
    defaultTimeZone: {
      type: 'string',
      minLength: 1,
      description:
        'IANA time zone (e.g. "Europe/Berlin") of times sent without an offset, when neither MSH-7 nor another time of the same device has one (its OBX-14/OBX-19, or OBR-7/8 when the message has one device only): daylight saving is applied, so times stay right all year. Wins over defaultUtcOffsetMinutes. Such readings are still marked time-zone-assumed.',
    },
    noSenderAfterS: {
      type: 'integer',
      minimum: 0,
      maximum: 86400,
      default: 300,
      description:
        'A listener no sender has been connected to for this long (since start, or since the last connection closed) is degraded, with a gateway technical alarm naming its port: a wrong port, a missing PortBindings entry or a firewall looks healthy otherwise. A sender that connects only for each message, and seldom (alarms only), needs more, or 0: never. ' +
        'A connection this listener closed itself after idleTimeoutMs without traffic does not start the time (its sender was connected, and connects again to send; health says so); the time starts when a sender closes its own.',
    },
    alarmRepeatS: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      description:
        'Seconds within which every sender on this listener re-sends every alarm still active (IHE PCD ACM senders may, by site agreement; a PCD-04 update without an end counts). Unset (the default): the sender may send only start and end, and the gateway cannot tell a lost end (an AE it refused, a message lost on the way): such an alarm stays shown present, marked "NOT CONFIRMED: last reported … ago" after 5 min. Set: an alarm not re-sent for 3 times this while the device sends on ends as not confirmed (latched if unanswered). Set it only to what the sender is configured to do, or alarms still active end. It applies to every sender on this listener, not to one: give a sender that sends only start and end its own listener (port) without it, or its alarms still active end 3 times this after their start.',
    },
    duplicateWindow: {
      type: 'object',
      additionalProperties: false,
      description:
        'Memory of messages already stored, by sender (MSH-3, MSH-4) and control id (MSH-10): a resend of one (the sender missed our ACK) is acknowledged again but not stored twice (counter duplicates). A message is remembered until `ttlMs` has passed or `maxEntries` newer ones have arrived.',
      properties: {
        maxEntries: {
          type: 'integer',
          minimum: 1,
          default: 10000,
          description:
            'Most messages remembered; beyond it the oldest is forgotten. Default 10000. The window covers about maxEntries ÷ (messages per second of all senders) seconds: raise it for a busy listener whose senders may resend after longer than that.',
        },
        ttlMs: {
          type: 'integer',
          minimum: 1000,
          maximum: 604800000,
          default: 3600000,
          description:
            'Milliseconds a stored message is remembered for duplicate detection. Default 3600000 (1 h). Raise it only for a sender that may resend old messages later than that (e.g. after a long outage of its own).',
        },
      },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['certFile', 'keyFile'],
      description:
        'Accept MLLP over TLS instead of plain TCP: every sender must then connect with TLS. Default: absent, plain TCP. Use it when the HL7 traffic crosses a network that is not a closed device network; the files are checked at start.',
      properties: {
        certFile: {
          type: 'string',
          description: "This listener's certificate (chain), PEM file path. Required with `tls`.",
        },
        keyFile: {
          type: 'string',
          description: 'Private key of certFile, unencrypted PEM file path (keep it readable by the agent only). Required with `tls`.',
        },
        caFile: {
          type: 'string',
          description:
            'PEM file of the CA certificate(s) that sender (client) certificates must chain to: with it every sender must present such a certificate (mutual TLS), or one pinned in allowedClients.fingerprint256. Default: absent, no client certificate required (unless allowedClients.fingerprint256 is set). Set it when senders have certificates from the hospital CA.',
        },
        allowedClients: {
          type: 'object',
          additionalProperties: false,
          description:
            'Only these senders are admitted, by certificate subject CN and/or exact certificate fingerprint (a match of either admits: a CN only on a certificate chained to caFile, a pinned certificate whether or not it is). Default: absent, any sender that completes the TLS handshake (with a certificate from caFile when that is set). Set it to restrict the listener to known gateways; rejected senders are counted (tls_clients_rejected).',
          properties: {
            cn: {
              type: 'array',
              items: { type: 'string' },
              description:
                'Subject common names (CN) admitted, e.g. "piic-gateway-icu". Needs caFile (the start is refused without it: anyone can make a certificate with any CN). Default none.',
            },
            fingerprint256: {
              type: 'array',
              items: { type: 'string', pattern: '^[0-9A-Fa-f:]{64,95}$' },
              description:
                'SHA-256 fingerprints of the exact client certificates admitted, hex with or without colons ("AB:CD:…"). Works without caFile, and with it for a sender whose certificate is not from that CA, e.g. a gateway with a self-signed certificate. Default none. Update it when the sender\'s certificate is renewed.',
            },
          },
        },
      },
    },
  },
} as const;

export interface Hl7MllpDriver extends Driver {
  /** Bound address once started (port 0 → the OS-chosen port). */
  address(): { address: string; port: number } | null;
}

/**
 * Largest maxFrameBytes used: a message is parsed on the event loop, about 0.8 s and 60 times its size in memory per
 * MiB (review rv126 M3). A larger configured value (the schema took up to 64 MiB) is used as this, with a warning.
 */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Health lists a device as silent after this long without data, and forgets it after DEVICE_FORGET_MS. */
export const DEVICE_SILENT_MS = 60_000;
export const DEVICE_FORGET_MS = 24 * 3_600_000;
/** Most devices listed in health (the least recently heard go first). */
export const MAX_DEVICES_LISTED = 2000;
/** Refused sender hosts named in health; the others are counted in detail (not in selfFault). */
const REFUSED_HOSTS_NAMED = 3;

/** "A", "A and B", "A, B and C". */
const listed = (parts: string[]): string => (parts.length < 2 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`);

/**
 * Health's words for hosts whose every message is refused (review rv126 M2): `detail` with counts and times, and
 * `selfFault`, the alarm text, without them, so that it stays the same while the same hosts are refused.
 */
function refusedSaid(runs: RefusedRun[], now: number): { detail: string; selfFault: string } {
  const named = runs.slice(0, REFUSED_HOSTS_NAMED);
  const others = runs.length - named.length;
  const more = others > 0 ? [`${others} other sender${others === 1 ? '' : 's'}`] : [];
  // No count in selfFault (review rv134 M3): each further host would end the alarm and raise a new one.
  const moreSaid = others > 0 ? ['other senders'] : [];
  const what = (r: RefusedRun) => `${r.inARow} in a row, last ${Math.round((now - r.lastAt) / 1000)} s ago: ${r.lastReason}`;
  const outcome = `${runs.length === 1 ? 'its' : 'their'} readings reach neither the display nor the alarms`;
  const first = runs[0] as RefusedRun;
  if (runs.length === 1) {
    return {
      detail: `every message from ${first.host} is refused (${what(first)}); ${outcome}: see the listener's warn log`,
      selfFault: `every message from ${first.host} is refused (first: ${first.firstReason}); ${outcome}: see the listener's health and warn log`,
    };
  }
  return {
    detail: `every message from ${listed([...named.map((r) => `${r.host} (${what(r)})`), ...more])} is refused; ${outcome}: see the listener's warn log`,
    selfFault: `every message from ${listed([...named.map((r) => r.host), ...moreSaid])} is refused (${first.host} first: ${first.firstReason}); ${outcome}: see the listener's health and warn log`,
  };
}

/**
 * Health's words for connections refused over maxConnections (review rv178 M3): `detail` with counts, times and
 * addresses, `selfFault` (the alarm text) with only the run's start, the same while refusals go on.
 */
function refusedConnectionsSaid(run: RefusedConnections, max: number, open: number, silent: number, silentCloseMs: number, now: number): { detail: string; selfFault: string } {
  const silentSaid =
    silent > 0 ? `, ${silent} of them ${silent === 1 ? 'has' : 'have'} sent no frame since ${silent === 1 ? 'it' : 'they'} connected (such a connection is closed after ${silentCloseMs / 1000} s: firstFrameTimeoutMs)` : '';
  return {
    detail: `${run.count} connection(s) refused at connect since ${new Date(run.since).toISOString()} (last ${Math.round((now - run.lastAt) / 1000)} s ago, from ${listed(run.hosts)}): ${open} of maxConnections (${max}) are open${silentSaid}; a refused sender gets no ACK and its readings reach neither the display nor the alarms`,
    // True for the alarm's whole life (review rv180 L1): the slots may be free again while it lasts (up to
    // REFUSED_CONNECTIONS_GAP_MS after the last refusal), and it is the same text while refusals go on (no re-raise).
    selfFault: `connections were refused at connect over maxConnections (${max}) from ${new Date(run.since).toISOString()} on, the last less than ${REFUSED_CONNECTIONS_GAP_MS / 60_000} min ago; a refused sender gets no ACK and its readings reach neither the display nor the alarms: see the listener's health and warn log`,
  };
}

export function createHl7MllpDriver(options: Hl7MllpOptions, ctx: DriverContext): Hl7MllpDriver {
  if (options.defaultTimeZone !== undefined && !isTimeZone(options.defaultTimeZone)) {
    throw new Error(`invalid hl7-mllp config: options.defaultTimeZone: "${options.defaultTimeZone}" is not a time zone this system knows (an IANA name, e.g. "Europe/Berlin")`);
  }
  if (options.tls) checkTlsFiles(options.tls);
  // Devices heard from, by id → last receipt, oldest first (a device heard again moves to the end). Bounded: a network
  // of monitors is pushed to the gateway, and ids that are never heard again would pile up for the life of the process.
  const devices = new Map<string, number>();
  const noteDevice = (id: string, at: number): void => {
    devices.delete(id);
    devices.set(id, at);
    if (devices.size > MAX_DEVICES_LISTED) devices.delete(devices.keys().next().value as string);
  };
  const handler = new MessageHandler(
    ctx,
    {
      application: options.application ?? 'EDGE_GATEWAY',
      facility: options.facility ?? '',
      storeFailureAck: options.storeFailureAck ?? 'AR',
      acceptProcessingIds: options.acceptProcessingIds ?? ['P'],
      defaultUtcOffsetMinutes: options.defaultUtcOffsetMinutes ?? 0,
      ...(options.defaultTimeZone !== undefined && { defaultTimeZone: options.defaultTimeZone }),
      duplicateWindow: { maxEntries: options.duplicateWindow?.maxEntries ?? 10000, ttlMs: options.duplicateWindow?.ttlMs ?? 3_600_000 },
      ...(options.alarmRepeatS !== undefined && { alarmRepeatMs: options.alarmRepeatS * 1000 }),
    },
    noteDevice,
  );
  const server = new MllpServer(
    {
      host: options.host ?? '0.0.0.0',
      port: options.port,
      maxFrameBytes: Math.min(options.maxFrameBytes ?? 1_048_576, MAX_FRAME_BYTES),
      maxConnections: options.maxConnections ?? 64,
      idleTimeoutMs: options.idleTimeoutMs ?? 600_000,
      firstFrameTimeoutMs: options.firstFrameTimeoutMs ?? 120_000,
      readTimeoutMs: options.readTimeoutMs ?? 30_000,
      maxQueuedFrames: options.maxQueuedFrames ?? 32,
      ...(options.tls ? { tls: options.tls } : {}),
    },
    ctx,
    handler,
    () => (lastConnectionAt = Date.now()),
  );
  let state: DriverHealth['state'] = 'stopped';
  let detail = '';
  // When a sender was last connected (or the listener started); whether the quiet spell was said.
  const noSenderMs = (options.noSenderAfterS ?? 300) * 1000;
  let lastConnectionAt = 0;
  let quietSaid = false;
  let watch: NodeJS.Timeout | null = null;
  const where = () => `${options.host ?? '0.0.0.0'}:${server.address()?.port ?? options.port}`;
  const quietForMs = (now: number): number | null => {
    if (noSenderMs === 0 || state !== 'running') return null;
    // A sender we closed for idleness was connected and quiet: it connects again when it has something to send, so
    // its quiet is not a wrong port or a firewall (review rv126 L1). The clock runs again from a close of its own.
    if (server.connections > 0 || server.idleClosed) lastConnectionAt = now;
    return now - lastConnectionAt >= noSenderMs ? now - lastConnectionAt : null;
  };
  const checkQuiet = () => {
    const quiet = quietForMs(Date.now());
    if (quiet !== null && !quietSaid) {
      quietSaid = true;
      ctx.count('no_sender');
      ctx.log.warn({ listen: where(), quietS: Math.round(quiet / 1000) }, 'no HL7 sender has connected to this listener: check the sender\'s destination port, the PortBindings entry and firewalls');
    } else if (quiet === null && quietSaid) {
      quietSaid = false;
      ctx.log.info({ listen: where() }, 'an HL7 sender is connected again');
    }
  };
  return {
    async start() {
      state = 'starting';
      try {
        await server.listen();
      } catch (err) {
        state = 'failed';
        detail = `cannot listen on ${options.host ?? '0.0.0.0'}:${options.port}: ${(err as Error).message}`;
        throw err;
      }
      state = 'running';
      lastConnectionAt = Date.now();
      if (noSenderMs > 0) {
        watch = setInterval(checkQuiet, Math.min(5000, noSenderMs));
        watch.unref();
      }
      const a = server.address();
      // The queued-bytes cap follows the heap limit (review rv130 H1): said so an engineer sees what is in force.
      ctx.log.info(
        { host: a?.address, port: a?.port, tls: Boolean(options.tls), queuedBytesLimit: mllpQueueBudget.limit, heapLimitBytes: HEAP_LIMIT_BYTES },
        'MLLP listener started',
      );
    },
    async stop() {
      if (watch) clearInterval(watch);
      watch = null;
      await server.close();
      state = 'stopped';
    },
    health(): DriverHealth {
      const now = Date.now();
      const quiet = quietForMs(now);
      const runs = state === 'running' ? handler.refusedSenders(now) : [];
      // A sender whose every message is refused has no device whose alarm could tell: the listener itself is degraded.
      const refused = runs.length > 0 ? refusedSaid(runs, now) : null;
      // So is one refused at connect (review rv178 M3): it has no device either.
      const connRun = state === 'running' ? server.refusedConnections(now) : null;
      const silentCloseMs = Math.min(options.firstFrameTimeoutMs ?? 120_000, options.idleTimeoutMs ?? 600_000);
      const connRefused = connRun ? refusedConnectionsSaid(connRun, options.maxConnections ?? 64, server.connections, server.silentConnections, silentCloseMs, now) : null;
      const faults = [refused, connRefused].filter((f) => f !== null);
      const noSender = quiet !== null ? `no sender connected to ${where()} for ${Math.round(quiet / 1000)} s: check the sender's destination port, the deployment's PortBindings and firewalls` : null;
      const silent = server.silentConnections;
      const out: DriverHealth = {
        state: quiet !== null || faults.length > 0 ? 'degraded' : state,
        detail:
          faults.length > 0
            ? `${faults.map((f) => f.detail).join('; and ')}${noSender ? `; and ${noSender}` : ''}`
            : noSender ??
              (detail ||
                `${server.connections} connection(s)${silent > 0 ? ` (${silent} of them ${silent === 1 ? 'has' : 'have'} sent no frame since ${silent === 1 ? 'it' : 'they'} connected)` : ''}${server.idleClosed ? ` (the last sender was closed by this listener after ${(options.idleTimeoutMs ?? 600_000) / 1000} s without traffic (idleTimeoutMs); it connects again to send)` : ''}, ${handler.dedup.size} control ids remembered`),
        devices: {},
        ...(faults.length > 0 && { selfFault: faults.map((f) => f.selfFault).join('; and ') }),
      };
      // A pushed feed has no link per device to watch: a device not heard from for a minute is shown as silent (the
      // alarm engine's no-data alarm is what tells the bedside), and one not heard from for a day is forgotten.
      for (const [id, at] of devices) {
        if (now - at > DEVICE_FORGET_MS) {
          devices.delete(id);
          continue;
        }
        (out.devices as NonNullable<DriverHealth['devices']>)[id] = { state: now - at > DEVICE_SILENT_MS ? 'silent' : 'online', lastDataAt: at };
      }
      return out;
    },
    address() {
      const a = server.address();
      return a ? { address: a.address, port: a.port } : null;
    },
  };
}

export const hl7MllpFactory: DriverFactory<Hl7MllpOptions> = {
  type: 'hl7-mllp',
  description: 'HL7 v2 over MLLP listener for IHE PCD-01 observations and PCD-04 alarms (central stations, device gateways).',
  configSchema,
  create: createHl7MllpDriver,
  // Its listening port, so that no two listeners (or the display) share one. Device ids come from the messages, so
  // none are listed. Port 0 is any free port and takes nothing.
  claims: (o) => ({ listens: o.port === 0 ? [] : [{ host: o.host ?? '0.0.0.0', port: o.port, field: 'options.port' }] }),
  // Said at --check and at each start; the driver runs at MAX_FRAME_BYTES (create()).
  warnings: (o) => [
    ...(o.maxFrameBytes !== undefined && o.maxFrameBytes > MAX_FRAME_BYTES
      ? [
          {
            field: 'options.maxFrameBytes',
            message: `${o.maxFrameBytes} is more than the ${MAX_FRAME_BYTES} (8 MiB) this driver takes: ${MAX_FRAME_BYTES} is used, and a larger message is refused (AE/CE, error 207, counted in frames_oversize). A message is parsed on the agent's event loop (about 0.8 s and 60 times its size in memory per MiB), so larger ones would stall alarms for seconds; set it to at most ${MAX_FRAME_BYTES}`,
          },
        ]
      : []),
    ...exposureWarnings(o),
    ...anyPortWarnings(o),
  ],
};

/** Port 0 is for tests on loopback: beyond it no central station can be set to a port that changes at each start (rv192 L1). */
function anyPortWarnings(o: Hl7MllpOptions): DriverWarning[] {
  const host = (o.host ?? '0.0.0.0').trim().toLowerCase();
  if (o.port !== 0 || isLoopbackHost(host)) return [];
  return [{ field: 'options.port', message: `0 while the listener on ${host} takes MLLP beyond loopback: the system picks another free port at each start, which no central station can be set to send to; set the port the central station sends to (often 2575)` }];
}

/**
 * A listener beyond loopback that admits any sender: whoever reaches the port can store readings and raise or end
 * alarms for any bed (review rv170 M3). Said as the display's exposure is; who reaches it is the network's and, in the
 * IoT Edge module (where 0.0.0.0 is needed), the deployment's PortBindings.
 */
function exposureWarnings(o: Hl7MllpOptions): DriverWarning[] {
  const host = (o.host ?? '0.0.0.0').trim().toLowerCase();
  if (isLoopbackHost(host)) return [];
  const port = o.port ?? 2575;
  const reach = `anyone who reaches port ${port} can store readings and raise or end alarms for any bed; limit who reaches it (a firewall rule, or in the IoT Edge module the PortBindings HostIp, admitting the central station only)`;
  if (!o.tls) {
    return [{ field: 'options.tls', message: `not set while the listener on ${host} takes plain MLLP from any sender: ${reach}, or configure tls with caFile or allowedClients (docs/security.md)` }];
  }
  // An allow-list with no entry admits everyone (rv171 M1).
  const listed = (o.tls.allowedClients?.cn?.length ?? 0) + (o.tls.allowedClients?.fingerprint256?.length ?? 0) > 0;
  if (!o.tls.caFile && !listed) {
    return [{ field: 'options.tls.caFile', message: `TLS without client certificates: any sender that completes the handshake is taken; ${reach}, or set caFile or allowedClients (docs/security.md)` }];
  }
  return [];
}

export default hl7MllpFactory;
