// The agent's local HTTP surface on node:http (no framework: a dozen routes do not need one, and every bound —
// connections, headers, bodies, timeouts, live clients — stays visible here):
//   GET  /healthz                         liveness + readiness (always open, for container health checks)
//   GET  /metrics                         Prometheus text format                     (viewing policy)
//   GET  /api/status                      the agent's health with its counters      (viewing policy)
//   GET  /api/ward, /api/beds/:bed        ward tiles / bed detail with trends and waveforms (viewing policy)
//   GET  /api/stream[?bed=][&screen=]     server-sent events: alarm changes, vitals, waveform chunks of one bed;
//                                         `screen` names an expected ward screen (display.screens, screens.ts)
//   POST /api/stream/seen                 the page reports what it has received: a stream far behind is closed
//   POST /api/screens/:name/alive         an expected screen's page, every heartbeat (viewing policy)
//   GET  /api/me                          who the bearer token belongs to
//   POST /api/login, /api/logout          session tokens for configured users (rate-limited per address)
//   POST /api/alarms/:id/ack, /api/alarms/:id/audio-pause, /api/beds/:bed/audio-pause   clinician or admin
//   POST /api/beds/:bed/observations      NEWS2 consciousness / oxygen recorded by a clinician
//   GET  /, /app.js, /app.css             the display page
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { isIP, type AddressInfo, type DropArgument, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Agent } from '../agent.js';
import type { AlarmService } from '../alarms/service.js';
import type { AlarmEngine, AudioPauseTarget } from '../alarms/engine.js';
import { isLoopbackHost } from '../loopback.js';
import type { Acvpu, OxygenSupport } from '../alarms/news2.js';
import { GATEWAY_BED, UNASSIGNED_BED, type SignalPriority } from '../alarms/types.js';
import { canonicalOrigin, type DisplayConfig, type Role } from '../config/load.js';
import type { Metrics } from '../metrics.js';
import { examplePasswordProblems, SCRYPT_DEFAULTS, weakHashMessage, weakPasswordHashes } from './passwords.js';
import type { DriverEvent } from '../model/reading.js';
import { alarmView, changeView, news2View, unconfirmedOf } from '../display/view.js';
import { WardState, type WardDrop } from '../display/ward.js';
import { LogGate } from '../log-gate.js';
import { Authenticator, hasRole, SESSION_BOUNDS, type Identity } from './auth.js';
import { LiveFeed } from './live.js';
import { toPrometheus } from './prometheus.js';
import { HttpError, SECURITY_HEADERS, readJsonBody, sendError, sendJson, sendJsonText } from './respond.js';
import { ScreenWatch } from './screens.js';
import { certificateExpiry, readDisplayTls } from './tls-files.js';
import { hostKey } from './connections.js';
import { SseHub } from './sse.js';
import { loadStatic, type StaticFile } from './static.js';

/** What the display needs from the agent (the Agent itself provides it; tests may provide less). */
export interface DisplayDeps {
  gatewayId: string;
  site?: string;
  alarms: AlarmService;
  metrics: Metrics;
  health(): ReturnType<Agent['health']>;
  onCommitted(listener: (events: readonly DriverEvent[]) => void): void;
  /**
   * Raises (present = true) or ends the technical alarm of an expected screen (display.screens) that has no live
   * stream: the agent puts it through its alarm engine, so it is journalled, forwarded and shown on the other screens.
   */
  screenCondition(name: string, present: boolean, text: string): void;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  from: string;
  identity: Identity | null;
}

type Handler = (ctx: Ctx, params: string[]) => void | Promise<void>;
type Access = 'open' | 'view' | 'any-auth' | Role;

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  name: string;
  access: Access;
  handler: Handler;
}

const SSE_RETRY_MS = 2000;
/** How often expected screens are checked: an alarm comes at most this late after the grace. */
const SCREEN_CHECK_MS = 1000;
/** Host names refused with 421 are logged once each, the first this many (the rest are only counted). */
const MAX_LOGGED_HOSTS = 100;
/**
 * Requests one connection may have unanswered at once. Browsers and fetch never pipeline (one at a time); a client
 * that sends hundreds in one write and reads none of the replies made the server hold every reply (and, before the
 * snapshot was shared, build a ward snapshot for each): its connection is closed past this.
 */
const MAX_REQUESTS_IN_FLIGHT = 4;
/**
 * Open connections from one address: at least this many, and at least two per live client one address may hold (a
 * screen holds its stream and a connection for its requests), so that one address cannot hold every slot.
 * (A config field would be display.limits.maxConnectionsPerAddress.)
 */
const MIN_CONNECTIONS_PER_ADDRESS = 16;
/**
 * The last eighth of display.limits.maxConnections is kept for addresses holding fewer than a screen's two connections
 * (its stream and one for its requests): two addresses took the whole table before, 48 and 16, and every other client
 * was refused (review rv132 M2). An eighth: room for a few such addresses even while a client hammering the table has
 * refused sockets still closing.
 */
const RESERVED_CONNECTIONS_FRACTION = 1 / 8;
const CONNECTIONS_PER_SCREEN = 2;
/**
 * A TLS handshake must be done within this long (node's default is 120 s): sockets that never start one would
 * otherwise hold connection slots that long, and the HTTP timeouts only start after the handshake.
 */
export const TLS_HANDSHAKE_TIMEOUT_MS = 5000;
/** Closed and refused connections are logged at most once per reason (and address) in this long; all are counted. */
const CONNECTION_LOG_EVERY_MS = 60_000;

/** The status a client error is answered with: only errors of the HTTP parser (or its timeout) get one. */
function clientErrorStatus(code: string | undefined): 400 | 408 | 431 | null {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return code?.startsWith('HPE_') ? 400 : null;
}
const STATUS_TEXT = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' } as const;

/**
 * The host names (not IP addresses) the display answers to. A DNS-rebinding page reaches the gateway under the
 * attacker's own name, which the browser sends in `Host` (and treats as same-origin): such a request is refused.
 */
export class HostNames {
  private readonly names = new Set<string>();
  /** `.example.org` entries: that domain and its subdomains. */
  private readonly domains: string[] = [];

  constructor(config: Pick<DisplayConfig, 'host' | 'allowedHosts'>, machine: string = hostname()) {
    this.names.add('localhost');
    // Exactly as the system gives it: a domain added to it is a different name, to be listed in allowedHosts.
    if (machine) this.names.add(normalise(machine));
    if (isIP(config.host) === 0) this.names.add(normalise(config.host));
    for (const h of config.allowedHosts) {
      const n = normalise(h);
      if (n.startsWith('.')) {
        this.domains.push(n);
        this.names.add(n.slice(1));
      } else this.names.add(n);
    }
  }

  /** The names and domains accepted, for the start-up log. */
  list(): string[] {
    return [...this.names, ...this.domains.map((d) => `*${d}`)];
  }

  /** The name in a Host header (port and IPv6 brackets removed, lower case, no trailing dot). */
  static nameOf(host: string): string {
    const h = host.trim();
    if (h.startsWith('[')) {
      const end = h.indexOf(']');
      return (end > 0 ? h.slice(1, end) : h.slice(1)).toLowerCase();
    }
    const colon = h.lastIndexOf(':');
    return normalise(colon >= 0 ? h.slice(0, colon) : h);
  }

  /** A request without Host (HTTP/1.0) passes: browsers always send one, and rebinding needs a browser. */
  accepts(host: string | undefined): boolean {
    if (host === undefined) return true;
    const name = HostNames.nameOf(host);
    return isIP(name) !== 0 || this.names.has(name) || this.domains.some((d) => name.endsWith(d));
  }
}

function normalise(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

export class DisplayServer {
  readonly ward: WardState;
  readonly auth: Authenticator;
  readonly screens: ScreenWatch;
  private readonly hub: SseHub;
  private readonly live: LiveFeed;
  private readonly files: Map<string, StaticFile>;
  private readonly server: Server;
  private readonly routes: Route[];
  private readonly scheme: 'http' | 'https';
  private readonly hosts: HostNames;
  /** display.allowedOrigins as browsers send Origin (lower-case host, no default port; --check warns of others). */
  private readonly allowedOrigins: ReadonlySet<string>;
  private readonly refusedHosts = new Set<string>();
  private screenTimer: NodeJS.Timeout | null = null;
  /** The watched screen each open stream was opened as, by its token: its page's `seen` reports are signs of life too. */
  private readonly screenStreams = new Map<string, string>();
  /** The names in display.screens. */
  private readonly listedScreens: ReadonlySet<string>;
  /** Requests received and not yet answered, per connection (the socket requests arrive on). */
  private readonly inFlight = new WeakMap<Duplex, number>();
  /** Open connections per remote address (its hostKey: IPv6 by its full address), until their socket closes, and in all. */
  private readonly openByAddress = new Map<string, number>();
  private openConnections = 0;
  /** Addresses in openByAddress holding a screen's two connections or more: the reserve is kept only while two do. */
  private holders = 0;
  private readonly maxConnectionsPerAddress: number;
  private readonly connectionLog = new LogGate(CONNECTION_LOG_EVERY_MS, 1000);
  /** When the certificate served (read at start) expires; null without TLS or when it could not be read. */
  readonly certificateExpiresAt: number | null = null;

  constructor(
    private readonly config: DisplayConfig,
    private readonly deps: DisplayDeps,
    private readonly log: Logger,
    now: () => number = Date.now,
  ) {
    this.ward = new WardState(config);
    this.auth = new Authenticator(config, now, { maxSessions: SESSION_BOUNDS.maxSessions, maxSessionsPerUser: config.login.maxSessionsPerUser });
    this.hosts = new HostNames(config);
    this.listedScreens = new Set(config.screens.map((s) => s.name));
    this.allowedOrigins = new Set(config.allowedOrigins.map(canonicalOrigin).filter((o): o is string => o !== null));
    this.hub = new SseHub(
      {
        maxClients: config.limits.maxSseClients,
        maxClientsPerAddress: config.limits.maxSseClientsPerAddress,
        maxBufferedBytes: config.limits.sseMaxBufferedBytes,
        heartbeatS: config.limits.heartbeatS,
        retryMs: SSE_RETRY_MS,
        // The page reports at every heartbeat it receives, so its newest report is up to one heartbeat older than its
        // lag: this drops a page more than two heartbeats and 5 s behind (15 s by default; the page itself reconnects
        // past its watchdog's two heartbeats and 2 s), or one that stopped reporting (stuck) after 20 s.
        maxLagMs: config.limits.heartbeatS * 3000 + 5000,
      },
      deps.metrics,
      log,
      (key) => this.auth.sessionLive(key),
    );
    this.live = new LiveFeed(this.ward, deps.alarms.engine, this.hub, {
      gatewayId: deps.gatewayId,
      ...(deps.site !== undefined && { site: deps.site }),
      viewing: config.viewing,
      staleAfterS: config.staleAfterS,
    });
    deps.alarms.subscribe((changes) => this.live.alarmChanges(changes));
    deps.onCommitted((events) => this.live.committed(events));
    this.ward.onWave((chunk) => this.live.wave(chunk));
    this.ward.onDrop((d) => this.wardDropped(d));
    deps.metrics.gauge('display_sessions', () => this.auth.sessionCount);
    // A screen pings every heartbeat: silent for two of them and 2 s more, it is away (the page's own watchdog rule).
    const staleMs = config.limits.heartbeatS * 2000 + 2000;
    this.screens = new ScreenWatch(config.screens, (name, present, text) => deps.screenCondition(name, present, text), deps.metrics, log, now, staleMs);
    this.files = loadStatic();
    this.routes = this.buildRoutes();

    const options = {
      maxHeaderSize: config.limits.maxHeaderBytes,
      headersTimeout: config.limits.headersTimeoutMs,
      requestTimeout: config.limits.requestTimeoutMs,
      // Check the timeouts every second, not every 30 s (the default), so that idle sockets do not pile up.
      connectionsCheckingInterval: 1000,
    };
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    if (config.tls) {
      this.scheme = 'https';
      const { cert, key } = readDisplayTls(config.tls);
      this.certificateExpiresAt = certificateExpiry(cert);
      this.server = createHttps({ ...options, cert, key, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, handler);
    } else {
      this.scheme = 'http';
      this.server = createHttp(options, handler);
    }
    this.server.keepAliveTimeout = config.limits.keepAliveTimeoutMs;
    this.server.maxConnections = config.limits.maxConnections;
    this.maxConnectionsPerAddress = Math.max(MIN_CONNECTIONS_PER_ADDRESS, 2 * config.limits.maxSseClientsPerAddress);
    this.server.on('drop', (data?: DropArgument) => this.connectionRefused('max-connections', data?.remoteAddress ?? 'unknown'));
    // The raw TCP socket, before any TLS handshake: a socket that never handshakes holds a slot too.
    this.server.on('connection', (socket: Socket) => this.connectionOpened(socket));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      deps.metrics.inc('display_client_errors_total', { code: err.code ?? 'error' });
      // 431/408/400 as node would, then close: a malformed or oversized request gets no second chance. Any other
      // error (a TLS handshake that failed or timed out) closes at once: a TLS socket that never handshook cannot
      // send a status line, and end() on it never completes (it held its connection slot for good). Nor is a status
      // line written into a reply already under way.
      // Written, then destroyed, as node does: end() waits for the peer's FIN (the sockets are half-open), and a client
      // that never reads never sends it; such sockets held their slots for good (review rv44 §1).
      const status = clientErrorStatus(err.code);
      if (status !== null && socket.writable && !this.inFlight.get(socket)) {
        socket.write(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      }
      socket.destroy();
    });
  }

  /**
   * Counts a new connection against its address. Once three quarters of maxConnections are open, an address holding
   * the per-address cap or more gets no more: one address cannot take every slot, yet a ward whose screens all sit
   * behind one NAT or proxy address (two connections a screen) is not cut off while there is room (review rv44 §2).
   * The last eighth goes only to addresses holding fewer than two while two or more addresses hold two or more: a few
   * addresses cannot take every slot either. One address alone is bounded by its cap, which an operator raises
   * (maxSseClientsPerAddress) for a ward behind one proxy: that proxy may use the whole table (review rv135 M4).
   */
  private connectionOpened(socket: Socket): void {
    const from = socket.remoteAddress ?? 'unknown';
    const address = hostKey(from);
    const open = this.openByAddress.get(address) ?? 0;
    const max = this.config.limits.maxConnections;
    const crowded = this.openConnections >= 0.75 * max;
    const reserved = this.openConnections >= max - Math.floor(max * RESERVED_CONNECTIONS_FRACTION) && this.holders >= 2;
    const cap = reserved ? CONNECTIONS_PER_SCREEN : this.maxConnectionsPerAddress;
    if ((crowded || reserved) && open >= cap) {
      socket.destroy();
      this.connectionRefused('per-address', from, address, cap);
      return;
    }
    this.openByAddress.set(address, open + 1);
    this.openConnections++;
    if (open + 1 === CONNECTIONS_PER_SCREEN) this.holders++;
    socket.once('close', () => {
      this.openConnections--;
      const n = (this.openByAddress.get(address) ?? 1) - 1;
      if (n === CONNECTIONS_PER_SCREEN - 1) this.holders--;
      if (n > 0) this.openByAddress.set(address, n);
      else this.openByAddress.delete(address);
    });
  }

  /**
   * Counted always; logged once a minute for the gateway's cap (whoever hits it), per address (key: its hostKey)
   * for the per-address cap, which is `cap` at that moment.
   */
  private connectionRefused(reason: 'max-connections' | 'per-address', address: string, key = address, cap = this.maxConnectionsPerAddress): void {
    this.deps.metrics.inc('display_connections_refused_total', { reason });
    if (!this.connectionLog.open(reason === 'per-address' ? `${reason} ${key}` : reason, Date.now())) return;
    const refused = this.deps.metrics.get('display_connections_refused_total', { reason });
    if (reason === 'max-connections') {
      this.log.warn(
        { reason, from: address, maxConnections: this.config.limits.maxConnections, refused, busiest: this.busiestAddress() },
        'display connection refused: display.limits.maxConnections connections are open (screens, tablets and health checks cannot connect while this lasts; logged once a minute)',
      );
    } else {
      this.log.warn(
        { reason, from: address, ...(key !== address && { counted: key }), open: this.openByAddress.get(key) ?? 0, maxConnectionsPerAddress: cap, refused },
        'display connection refused: too many connections open from this address (two once the table is seven eighths full, the rest kept for other addresses; logged once a minute per address)',
      );
    }
  }

  /**
   * A reading the ward left out over a bound: counted always, and said once per bed (or per bed and parameter), naming
   * it and the bound. The page is told of left-out beds too (LiveFeed): nobody reads counters at the bedside.
   */
  private wardDropped(d: WardDrop): void {
    if (d.what === 'bed') {
      this.deps.metrics.inc('display_dropped_bed_events_total', { kind: d.kind });
      if (d.first) {
        this.log.warn(
          { bed: d.bed, kind: d.kind, maxBeds: d.limit },
          `display: readings of bed ${d.bed} are not shown, the display already shows display.maxBeds (${d.limit}) beds; raise display.maxBeds (said once per bed; counted in display_dropped_bed_events_total)`,
        );
      }
      return;
    }
    const kind = d.setting ? 'setting' : 'measurement';
    // No bed label: a bed id is a device's string of any length, and a patient's location; the warning names the bed.
    this.deps.metrics.inc('display_dropped_metric_events_total', { kind });
    if (d.first) {
      this.log.warn(
        { bed: d.bed, parameter: d.label, key: d.key, kind, limit: d.limit },
        `display: ${d.label} of bed ${d.bed} is not shown, the bed already shows ${d.limit} ${d.setting ? 'settings' : 'measured parameters'} (the display's bound per bed; said once per bed and parameter; counted in display_dropped_metric_events_total)`,
      );
    }
  }

  /** The address holding most connections, for the log of a full connection table. */
  private busiestAddress(): { address: string; open: number } | null {
    let best: { address: string; open: number } | null = null;
    for (const [address, open] of this.openByAddress) if (!best || open > best.open) best = { address, open };
    return best;
  }

  /** Closes a connection with more than MAX_REQUESTS_IN_FLIGHT unanswered requests (pipelined, replies not read). */
  private dropPipelining(socket: Duplex, from: string): void {
    socket.destroy();
    this.deps.metrics.inc('display_connections_dropped_total', { reason: 'requests-in-flight' });
    if (!this.connectionLog.open(`requests-in-flight ${from}`, Date.now())) return;
    this.log.warn(
      { reason: 'requests-in-flight', from, maxRequestsInFlight: MAX_REQUESTS_IN_FLIGHT, dropped: this.deps.metrics.get('display_connections_dropped_total', { reason: 'requests-in-flight' }) },
      'display connection closed: it sent more requests than it read replies (pipelining); logged once a minute per address',
    );
  }

  async start(): Promise<void> {
    // A login anyone can read in this repository must not open a ward's alarm actions.
    const [example] = await examplePasswordProblems(this.config.users);
    if (example) throw new Error(`${example.path}: ${example.message}`);
    // Accepted (deployments made with the old default keep working), but said once per user at each start.
    for (const weak of weakPasswordHashes(this.config.users)) {
      const { name, N, r, p } = weak;
      this.log.warn({ user: name, scrypt: { N, r, p }, recommended: SCRYPT_DEFAULTS }, `display.users (${name}): ${weakHashMessage(weak)}`);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.port, this.config.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.hub.start();
    this.screens.start();
    if (this.config.screens.length) this.screenTimer = setInterval(() => this.screens.check(), SCREEN_CHECK_MS);
    if (this.config.screens.length > this.config.limits.maxSseClients) {
      this.log.warn({ screens: this.config.screens.length, maxSseClients: this.config.limits.maxSseClients }, 'more expected screens than live clients allowed: some cannot connect and will alarm');
    }
    if (this.config.viewing === 'authenticated' && this.config.screens.length > this.config.login.maxSessionsPerUser) {
      this.log.warn(
        { screens: this.config.screens.length, maxSessionsPerUser: this.config.login.maxSessionsPerUser },
        'more expected screens than sessions one user may hold: screens sharing one login log each other out; raise display.login.maxSessionsPerUser',
      );
    }
    const { url } = this.address();
    this.log.info({ url, tls: this.scheme === 'https', viewing: this.config.viewing, users: this.config.users.length, tokens: this.config.tokens.length, hostNames: this.hosts.list() }, 'display listening');
    if (!isLoopbackHost(this.config.host)) {
      // Inside a container the agent cannot see where its port is published (the shipped IoT Edge deployment binds it
      // to the gateway's 127.0.0.1 only, review rv47 L4): the lines say what holds wherever it is published.
      const where = { host: this.config.host, reachableWhere: 'wherever this port is reachable: in a container, where the deployment publishes it (PortBindings)' };
      if (this.scheme === 'http') this.log.warn(where, 'display listens beyond loopback without TLS: logins and tokens travel in clear on any network that reaches it; configure display.tls');
      if (this.config.viewing === 'open') this.log.warn(where, 'display listens beyond loopback with open viewing: anyone on a network that reaches it sees the ward');
    }
  }

  address(): { host: string; port: number; url: string } {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `${this.scheme}://${host}:${a.port}` };
  }

  async stop(): Promise<void> {
    // Before the streams close: a stopping agent is not a screen that went away.
    if (this.screenTimer) clearInterval(this.screenTimer);
    this.screenTimer = null;
    this.live.stop();
    this.hub.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- Dispatch

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const socket = req.socket;
    const from = socket.remoteAddress ?? 'unknown';
    // The rest of a pipelined burst whose connection was closed below: node still hands over every request it read.
    if (socket.destroyed) return;
    const inFlight = (this.inFlight.get(socket) ?? 0) + 1;
    if (inFlight > MAX_REQUESTS_IN_FLIGHT) {
      this.dropPipelining(socket, from);
      return;
    }
    this.inFlight.set(socket, inFlight);
    res.once('close', () => this.inFlight.set(socket, (this.inFlight.get(socket) ?? 1) - 1));
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    let routeName = 'unmatched';
    res.on('finish', () => this.deps.metrics.inc('display_http_requests_total', { route: routeName, status: String(res.statusCode) }));
    try {
      // The Host guard first: a name the display does not answer to gets 421 whatever it asks for.
      if (!this.hosts.accepts(req.headers.host)) throw this.misdirected(req, from);
      const url = this.parseTarget(req, from);
      if (!this.originAllowed(req, res)) throw new HttpError(403, 'cross-origin request refused');
      this.checkDeclaredBody(req);
      if (req.method === 'OPTIONS') {
        routeName = 'preflight';
        res.writeHead(204).end();
        return;
      }
      const staticFile = req.method === 'GET' || req.method === 'HEAD' ? this.files.get(url.pathname) : undefined;
      if (staticFile) {
        routeName = 'static';
        res.writeHead(200, { 'Content-Type': staticFile.type, 'Content-Length': staticFile.body.length, 'Cache-Control': 'no-cache' });
        res.end(req.method === 'HEAD' ? undefined : staticFile.body);
        return;
      }
      let allowed: string[] = [];
      for (const route of this.routes) {
        const m = route.pattern.exec(url.pathname);
        if (!m) continue;
        // HEAD is a GET without its body (RFC 9110 §9.3.2; Node leaves the body out): probes and proxies use it.
        // Not on the live stream, which would hold the connection open sending nothing.
        const headAsGet = req.method === 'HEAD' && route.method === 'GET' && route.name !== 'stream';
        if (route.method !== req.method && !headAsGet) {
          allowed.push(route.method === 'GET' && route.name !== 'stream' ? 'GET, HEAD' : route.method);
          continue;
        }
        routeName = route.name;
        const found = this.auth.identify(req.headers.authorization);
        // A dead token (expired, logged out, or the agent restarted) costs its holder the login, not the ward: where no
        // identity is needed it counts as none, so a screen where someone once logged in keeps showing the alarms.
        if (found === 'invalid' && this.needsIdentity(route.access)) throw new HttpError(401, 'invalid or expired token');
        const identity = found === 'invalid' ? null : found;
        this.authorise(route.access, identity);
        const params = m.slice(1).map((p) => {
          try {
            return decodeURIComponent(p);
          } catch {
            throw new HttpError(400, 'bad path encoding');
          }
        });
        await route.handler({ req, res, url, from, identity }, params);
        return;
      }
      allowed = [...new Set(allowed)];
      if (allowed.length) throw new HttpError(405, `method not allowed; use ${allowed.join(', ')}`, { Allow: allowed.join(', ') });
      throw new HttpError(404, 'not found');
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        const headers: Record<string, string> = { ...err.headers };
        if (err.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="bedside-display"';
        // After refusing an oversized body, do not read the rest of it; a misdirected request is not for this server.
        if (err.status === 413 || err.status === 421) headers.Connection = 'close';
        sendError(res, err.status, err.message, headers);
        return;
      }
      this.log.error({ err, route: routeName }, 'display request failed');
      sendError(res, 500, 'internal error');
    }
  }

  /**
   * The body bounds for every request, also on routes that read no body (review rv121 L3: a 1 MB text body to a
   * screen's ping was answered 204 and drained): a declared length over display.limits.maxBodyBytes is 413 (the
   * connection is closed, its body not read), a non-empty declared body that is not JSON 415, as readJsonBody says.
   * A chunked body has no declared length: readJsonBody bounds it where it is read.
   */
  private checkDeclaredBody(req: IncomingMessage): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    const max = this.config.limits.maxBodyBytes;
    if (declared > max) throw new HttpError(413, `body larger than ${max} bytes`);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (declared > 0 && type !== 'application/json') throw new HttpError(415, 'body must be application/json');
  }

  private needsIdentity(access: Access): boolean {
    return access !== 'open' && !(access === 'view' && this.config.viewing === 'open');
  }

  /**
   * The request target as a URL. One `new URL()` cannot parse (`GET //`: an empty authority) is the client's fault: 400,
   * counted, and logged once a minute per address (anyone who reaches the port can send it; it was a 500 with an
   * error-level stack each time, review rv98 L1).
   */
  private parseTarget(req: IncomingMessage, from: string): URL {
    try {
      return new URL(req.url ?? '/', 'http://display.invalid');
    } catch {
      this.deps.metrics.inc('display_client_errors_total', { code: 'bad-target' });
      if (this.connectionLog.open(`bad-target ${from}`, Date.now())) {
        this.log.warn(
          { from, method: req.method, target: (req.url ?? '').slice(0, 64), refused: this.deps.metrics.get('display_client_errors_total', { code: 'bad-target' }) },
          'display request refused (400): its request target cannot be parsed as a path; logged once a minute per address',
        );
      }
      throw new HttpError(400, 'bad request target');
    }
  }

  /** 421 for a Host name the display does not answer to (DNS rebinding); logged once per name, counted. */
  private misdirected(req: IncomingMessage, from: string): HttpError {
    const host = HostNames.nameOf(req.headers.host ?? '').slice(0, 253);
    this.deps.metrics.inc('display_host_refused_total');
    if (!this.refusedHosts.has(host) && this.refusedHosts.size < MAX_LOGGED_HOSTS) {
      this.refusedHosts.add(host);
      this.log.warn(
        { host, from, method: req.method, path: targetPath(req.url), origin: req.headers.origin, accepted: this.hosts.list() },
        'display request for a host name it does not answer to refused (421, DNS rebinding guard): if the gateway is reached by this name, add it to display.allowedHosts',
      );
    }
    return new HttpError(421, `this gateway does not answer to the name "${host}": if it is reached by this name, add it to display.allowedHosts`);
  }

  private authorise(access: Access, identity: Identity | null): void {
    if (access === 'open') return;
    if (access === 'view') {
      if (this.config.viewing === 'open' || hasRole(identity, 'viewer')) return;
      throw new HttpError(401, 'log in to view');
    }
    if (!identity) throw new HttpError(401, 'authentication required');
    if (access === 'any-auth') return;
    if (!hasRole(identity, access)) throw new HttpError(403, `needs the ${access} role`);
  }

  /**
   * Same origin only, unless display.allowedOrigins names the caller. Requests without an Origin header (curl,
   * Prometheus, same-origin GETs) pass: CSRF needs a browser, and browsers send Origin on cross-site POSTs.
   */
  private originAllowed(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (origin === `${this.scheme}://${req.headers.host ?? ''}`) return true;
    if (!this.allowedOrigins.has(origin)) return false;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    res.setHeader('Access-Control-Max-Age', '600');
    return true;
  }

  // ---- Routes

  private buildRoutes(): Route[] {
    const r = (method: Route['method'], path: string, name: string, access: Access, handler: Handler): Route => ({
      method, pattern: new RegExp(`^${path.replace(/:[a-z]+/g, '([^/]+)')}$`), name, access, handler,
    });
    return [
      r('GET', '/healthz', 'healthz', 'open', (c) => this.healthz(c)),
      r('GET', '/metrics', 'metrics', 'view', (c) => {
        const text = toPrometheus(this.deps.metrics.snapshot());
        c.res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Cache-Control': 'no-store' }).end(text);
      }),
      r('GET', '/api/status', 'status', 'view', (c) => sendJson(c.res, 200, { ...this.deps.health(), display: this.displayStatus() })),
      r('GET', '/api/ward', 'ward', 'view', (c) => sendJsonText(c.res, 200, this.live.snapshotJson())),
      r('GET', '/api/beds/:bed', 'bed', 'view', (c, [bed]) => this.bed(c, bed!)),
      r('GET', '/api/stream', 'stream', 'view', (c) => this.stream(c)),
      // The page says what it has received on its stream (named by hello's unguessable `stream`): one far behind is closed.
      r('POST', '/api/stream/seen', 'stream-seen', 'view', (c) => this.streamSeen(c)),
      // An expected screen's page says it is alive (display.screens): a hung page or a screen switched off stops.
      r('POST', '/api/screens/:name/alive', 'screen-alive', 'view', async (c, [name]) => {
        // Read (and dropped) so that a chunked body is bounded and typed as on the routes that use theirs.
        await readJsonBody(c.req, this.config.limits.maxBodyBytes);
        this.screens.seen(name!, c.from);
        c.res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
      }),
      r('GET', '/api/me', 'me', 'any-auth', (c) => sendJson(c.res, 200, { user: c.identity!.user, role: c.identity!.role })),
      r('POST', '/api/login', 'login', 'open', (c) => this.login(c)),
      r('POST', '/api/logout', 'logout', 'any-auth', async (c) => {
        await readJsonBody(c.req, this.config.limits.maxBodyBytes);
        // Its live streams end with it (viewing: authenticated), not at the next heartbeat.
        if (this.auth.logout(c.req.headers.authorization)) this.hub.closeEndedSessions();
        sendJson(c.res, 200, { ok: true });
      }),
      r('POST', '/api/alarms/:id/ack', 'ack', 'clinician', (c, [id]) => this.ack(c, id!)),
      r('POST', '/api/alarms/:id/audio-pause', 'audio-pause', 'clinician', (c, [id]) => this.audioPause(c, { alarmId: id! })),
      r('POST', '/api/beds/:bed/audio-pause', 'bed-audio-pause', 'clinician', (c, [bed]) => this.audioPause(c, { bed: bed! })),
      r('POST', '/api/beds/:bed/observations', 'observations', 'clinician', (c, [bed]) => this.observations(c, bed!)),
    ];
  }

  private displayStatus(): Record<string, unknown> {
    return { sseClients: this.hub.size, sessions: this.auth.sessionCount, beds: this.ward.bedIds().length, droppedBedEvents: this.ward.droppedBeds, droppedMetricEvents: this.ward.droppedMetrics, screens: this.screens.status() };
  }

  private healthz(c: Ctx): void {
    const h = this.deps.health();
    if (this.config.viewing === 'authenticated' && !hasRole(c.identity, 'viewer')) {
      // Open for container health checks, but the operator chose to hide the ward: states and counts only (no device
      // ids, beds, alarm texts, screen names, driver details). The status code is the same either way.
      const screens = this.screens.status();
      sendJson(c.res, 200, {
        status: h.status,
        uptimeS: h.uptimeS,
        drivers: Object.fromEntries(Object.entries(h.drivers).map(([k, d]) => [k, { state: d.state }])),
        forwarder: forwarderHealth(h.forwarder),
        // Counted by health() (its list stops at 20): present conditions and latched ones not acknowledged.
        technicalAlarmCount: h.technicalAlarmCount,
        latchedTechnicalAlarmCount: h.latchedTechnicalAlarmCount,
        display: { sseClients: this.hub.size, screens: screens.length, screensConnected: screens.filter((s) => s.connected).length },
        detail: 'log in as a viewer (or send a viewer token) for the details',
      });
      return;
    }
    const drivers = Object.fromEntries(Object.entries(h.drivers).map(([k, d]) => [k, { state: d.state, ...(d.detail !== undefined && { detail: d.detail }) }]));
    sendJson(c.res, 200, {
      status: h.status,
      gatewayId: h.gatewayId,
      uptimeS: h.uptimeS,
      drivers,
      forwarder: forwarderHealth(h.forwarder),
      store: { pending: h.store.pending, unackedMessages: h.store.unackedMessages, ...(h.store.error !== undefined && { error: h.store.error }) },
      technicalAlarms: h.technicalAlarms,
      // The list stops at 20 (health()): the counts, and a flag when it is cut, so that nobody takes it for all (rv154 F2).
      technicalAlarmCount: h.technicalAlarmCount,
      latchedTechnicalAlarmCount: h.latchedTechnicalAlarmCount,
      ...(h.technicalAlarmCount > h.technicalAlarms.length && { technicalAlarmsTruncated: true }),
      // address, addressChanged: a name taken over by another machine shows here (screens.ts).
      display: { sseClients: this.hub.size, screens: this.screens.status().map(({ name, connected, address, addressChanged }) => ({ name, connected, address, addressChanged })) },
    });
  }

  private bed(c: Ctx, bed: string): void {
    if (!this.knownBed(bed)) throw new HttpError(404, `no bed ${bed}`);
    // Shared by every request for this bed within 250 ms (LiveFeed.bedJson), as the ward snapshot is.
    const body = this.live.bedJson(bed);
    c.res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': body.length });
    c.res.end(body);
  }

  private stream(c: Ctx): void {
    const bed = c.url.searchParams.get('bed');
    const address = c.req.socket.remoteAddress ?? '';
    // With viewing authenticated the stream lasts as long as the session it was opened with (an API token has none).
    const session = this.config.viewing === 'authenticated' && c.identity?.kind === 'session' ? this.auth.sessionKey(c.req.headers.authorization) : null;
    // Any length: HL7 bed ids (point of care/room/bed) have no bound, and the request line is bounded by
    // display.limits.maxHeaderBytes. A cap here made a long bed's view open an unfiltered stream without waveforms.
    // `reports=1`: the page says it will report what it receives (closed if it never does); a script need not.
    // A listed screen's stream (and a logged-in user's) takes the place of another when every slot is taken (sse.ts).
    const screen = c.url.searchParams.get('screen');
    const listed = screen !== null && this.listedScreens.has(screen) ? screen : null;
    const client = this.hub.add(c.res, { bed: bed || null, identity: c.identity, address, session, reports: c.url.searchParams.get('reports') === '1', screen: listed });
    if (client === 'max-clients') throw new HttpError(503, 'too many live clients on the gateway (display.limits.maxSseClients)');
    if (client === 'per-address') throw new HttpError(503, 'too many live clients from this address (display.limits.maxSseClientsPerAddress)');
    if (client === 'not-reporting') throw new HttpError(503, 'too many live clients that do not report what they receive (reports=1) on the gateway: a quarter of display.limits.maxSseClients');
    // heartbeatS: the page's watchdog follows it (a link silent for two heartbeats is shown as lost). stream: the name
    // the page reports under (POST /api/stream/seen).
    this.hub.send(client, 'hello', { serverTime: Date.now(), user: c.identity?.user ?? null, role: c.identity?.role ?? null, heartbeatS: this.config.limits.heartbeatS, stream: client.token });
    this.hub.sendSerialised(client, 'ward', this.live.snapshotJson());
    if (client.bed) for (const chunk of this.ward.waves(client.bed)) this.hub.send(client, 'wave', chunk);
    this.hub.started(client);
    // After the snapshot, so that the end of the screen's own alarm reaches it as an `alarm` event.
    if (screen && this.screens.opened(screen, address)) {
      this.screenStreams.set(client.token, screen);
      c.res.on('close', () => {
        this.screenStreams.delete(client.token);
        this.screens.closed(screen, address);
      });
    }
  }

  private async streamSeen(c: Ctx): Promise<void> {
    const body = await readJsonBody(c.req, this.config.limits.maxBodyBytes);
    const { stream, serverTime } = body;
    if (typeof stream !== 'string' || stream.length > 64 || typeof serverTime !== 'number' || !Number.isFinite(serverTime)) {
      throw new HttpError(400, 'expects { "stream": string (from hello), "serverTime": number }');
    }
    if (!this.hub.seen(stream, serverTime)) throw new HttpError(404, 'no such stream open');
    // A report on a watched screen's stream says its page is alive, like its ping: the screen's away time counts from
    // the later of the two. No address check: the stream's unguessable name already ties it to that stream.
    const screen = this.screenStreams.get(stream);
    if (screen) this.screens.seen(screen);
    // How late that event reached the page, on the server's one clock (the report comes up a path the stream's
    // backlog does not hold): a delay the stream had from its first byte is invisible to the page's own figures.
    sendJson(c.res, 200, { behindMs: Math.max(0, Date.now() - serverTime) });
  }

  private async login(c: Ctx): Promise<void> {
    const body = await readJsonBody(c.req, this.config.limits.maxBodyBytes);
    const { user, password, deviceToken } = body;
    // deviceToken: the one a login of this user in this browser answered (Authenticator: device tokens); never logged.
    if (typeof user !== 'string' || typeof password !== 'string' || user.length > 64 || password.length > 1024 ||
      (deviceToken !== undefined && (typeof deviceToken !== 'string' || deviceToken.length > 256))) {
      throw new HttpError(400, 'expects { "user": string, "password": string, "deviceToken"?: string }');
    }
    const r = await this.auth.login(user, password, c.from, deviceToken);
    if (!r.ok) {
      this.deps.metrics.inc('display_login_failures_total', { reason: String(r.status) });
      // The attempted name is not logged: people type passwords into the name field.
      if (r.reason === 'sessions-full') {
        this.deps.metrics.inc('display_sessions_refused_total');
        this.log.error({ from: c.from, user, sessions: this.auth.sessionCount }, 'display login refused: the session table is full (users log in and never out?)');
      } else if (r.status === 401 || this.connectionLog.open(`login ${r.reason} ${c.from}`, Date.now())) {
        // A wrong password is logged each time (at most maxFailures an address per window); a refusal for a lock or a
        // busy check once a minute per address and reason: a client polling a lock wrote 20 lines a second (rv45 §6).
        this.log.warn({ from: c.from, status: r.status, reason: r.reason, ...(r.status !== 401 && { logEveryMinutes: 1, refusedInAll: this.deps.metrics.get('display_login_failures_total', { reason: String(r.status) }) }) }, 'display login refused');
      }
      sendError(c.res, r.status, r.error, r.retryAfterS !== undefined ? { 'Retry-After': String(r.retryAfterS) } : {});
      return;
    }
    this.log.info({ user: r.user, role: r.role, from: c.from }, 'display login');
    sendJson(c.res, 200, { token: r.token, user: r.user, role: r.role, expiresAt: r.expiresAt, ttlS: r.ttlS, deviceToken: r.deviceToken });
  }

  private async ack(c: Ctx, alarmId: string): Promise<void> {
    const body = await readJsonBody(c.req, this.config.limits.maxBodyBytes);
    const actor = { user: c.identity!.user, role: c.identity!.role, from: c.from };
    this.answer(c, this.deps.alarms.acknowledge(alarmId, actor, seenPriority(body), shownPresent(body.conditionPresent)), 'alarm acknowledged', { alarmId });
  }

  private async audioPause(c: Ctx, target: { alarmId: string } | { bed: string }): Promise<void> {
    const body = await readJsonBody(c.req, this.config.limits.maxBodyBytes);
    const d = body.durationS;
    if (d !== undefined && (typeof d !== 'number' || !Number.isFinite(d))) throw new HttpError(400, 'durationS must be a number of seconds');
    const actor = { user: c.identity!.user, role: c.identity!.role, from: c.from };
    const present = shownPresent(body.conditionPresent);
    const full: AudioPauseTarget = 'bed' in target
      ? (body.alarms !== undefined ? { ...target, shown: shownAlarms(body.alarms) } : target)
      : { ...target, ...(present !== undefined && { conditionPresent: present }) };
    this.answer(c, this.deps.alarms.audioPause(full, actor, d, seenPriority(body)), 'alarm audio paused', 'bed' in target ? { bed: target.bed } : target);
  }

  /** NEWS2 inputs no monitor sends, recorded by a clinician at the display; logged with who and from where. */
  private async observations(c: Ctx, bed: string): Promise<void> {
    const body = await readJsonBody(c.req, this.config.limits.maxBodyBytes);
    const obs: { consciousness?: Acvpu; oxygen?: OxygenSupport } = {};
    const { consciousness, oxygen } = body;
    if (consciousness !== undefined) {
      if (!isAcvpu(consciousness)) throw new HttpError(400, 'consciousness must be A, C, V, P or U (ACVPU)');
      obs.consciousness = consciousness;
    }
    if (oxygen !== undefined) {
      if (oxygen !== 'air' && oxygen !== 'oxygen') throw new HttpError(400, 'oxygen must be air or oxygen');
      obs.oxygen = oxygen;
    }
    if (obs.consciousness === undefined && obs.oxygen === undefined) throw new HttpError(400, 'give consciousness (A, C, V, P or U) and/or oxygen (air or oxygen)');
    const engine = this.deps.alarms.engine;
    // Only a bed the agent knows: a typo must not make a new bed appear on every screen.
    if (bed === GATEWAY_BED || !this.knownBed(bed)) throw new HttpError(404, `no bed ${bed}`);
    // The unassigned tile gathers devices of possibly several patients; a bed without NEWS2 has nothing to record.
    if (bed === UNASSIGNED_BED) throw new HttpError(409, 'devices without a bed are not one patient: assign them a bed first');
    if (!engine.news2Enabled(bed)) throw new HttpError(409, `NEWS2 is switched off for ${bed} (alarms.news2.beds)`);
    const changes = this.deps.alarms.observe(bed, obs, { user: c.identity!.user, role: c.identity!.role, from: c.from });
    this.deps.metrics.inc('news2_observations_total');
    this.log.info({ bed, ...obs, user: c.identity!.user, role: c.identity!.role, from: c.from }, 'NEWS2 observation recorded');
    // The other screens' tiles: NEWS2 is not in an alarm change, and a bed with intermittent data may send nothing for
    // half an hour.
    this.live.bedChanged(bed);
    const now = Date.now();
    // changes: with their seq, so that the page orders them against its stream.
    const unconfirmed = unconfirmedOf(engine);
    sendJson(c.res, 200, {
      ok: true, news2: news2View(engine.news2(bed, now)), changes: changes.map((ch) => changeView(ch, true, unconfirmed)), alarms: changes.map((ch) => alarmView(ch.alarm, unconfirmed)),
    });
  }

  /** A bed the agent has data, alarms or NEWS2 inputs for. */
  private knownBed(bed: string): boolean {
    const engine = this.deps.alarms.engine;
    return this.ward.has(bed) || engine.list({ bed }).length > 0 || engine.news2Beds().includes(bed);
  }

  private answer(c: Ctx, r: ReturnType<AlarmService['acknowledge']>, what: string, fields: Record<string, string>): void {
    const engine = this.deps.alarms.engine;
    if (!r.ok) {
      const status = /^no alarm|^no unacknowledged/.test(r.error) ? 404 : /duration/.test(r.error) ? 400 : 409;
      const already = fields.alarmId === undefined ? null : alreadyDone(engine, fields.alarmId, r.error);
      sendJson(c.res, status, already ? { error: r.error, already } : { error: r.error });
      return;
    }
    this.log.info({ ...fields, user: c.identity!.user, role: c.identity!.role, from: c.from, changes: r.changes.length }, what);
    const unconfirmed = unconfirmedOf(engine);
    sendJson(c.res, 200, { ok: true, changes: r.changes.map((ch) => changeView(ch, true, unconfirmed)), alarms: r.changes.map((ch) => alarmView(ch.alarm, unconfirmed)) });
  }
}

/**
 * An action refused because the alarm is acknowledged or resolved already (another screen pressed first, or its
 * condition ended): what it is now, and who acknowledged it and when where known, so that the page tells "already
 * acknowledged" and not a failure (review rv177 L1). Null for any other refusal (one that says the alarm changed since
 * it was shown must stay a refusal). Who: only for an open acknowledged alarm (AlarmEngine.acknowledgedBy); the
 * caller is a clinician or admin, who may see login names.
 */
function alreadyDone(engine: AlarmEngine, alarmId: string, error: string): { state: 'acknowledged' | 'resolved'; acknowledgedAt: number | null; acknowledgedBy: string | null } | null {
  if (!/\balready\b/.test(error)) return null;
  const a = engine.get(alarmId);
  if (a?.state !== 'acknowledged' && a?.state !== 'resolved') return null;
  return { state: a.state, acknowledgedAt: a.acknowledgedAt ?? null, acknowledgedBy: engine.acknowledgedBy(alarmId)?.user ?? null };
}

/** The path of a request target as sent, for a log line: not parsed (it may not parse), without the query, bounded. */
function targetPath(target: string | undefined): string {
  const t = target ?? '';
  const q = t.indexOf('?');
  return (q >= 0 ? t.slice(0, q) : t).slice(0, 256);
}

/** The priority the person was shown, when the page sends it (`priority`); anything else is refused. */
/** The priority the person was shown: 'none' for a row shown as information (a device's information signal). */
function seenPriority(body: Record<string, unknown>): SignalPriority | undefined {
  const p = body.priority;
  if (p === undefined) return undefined;
  if (isShownPriority(p)) return p;
  throw new HttpError(400, "priority must be high, medium, low or none (the priority shown; none for information)");
}

const isShownPriority = (p: unknown): p is SignalPriority => p === 'high' || p === 'medium' || p === 'low' || p === 'none';

function isAcvpu(v: unknown): v is Acvpu {
  return v === 'A' || v === 'C' || v === 'V' || v === 'P' || v === 'U';
}

/**
 * Whether the page showed the alarm's condition present (`conditionPresent`; false: shown latched), when it sends it:
 * an alarm shown latched whose condition has returned since is refused (review rv162 F2).
 */
function shownPresent(v: unknown): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  throw new HttpError(400, 'conditionPresent must be true or false (whether the condition was shown present; false: shown latched)');
}

/** A bed's alarms as the page showed them: `[{ id, priority, conditionPresent? }]`. */
function shownAlarms(v: unknown): { id: string; priority: SignalPriority; conditionPresent?: boolean }[] {
  const ok = (x: unknown): x is { id: string; priority: SignalPriority; conditionPresent?: unknown } =>
    typeof x === 'object' && x !== null && typeof (x as { id?: unknown }).id === 'string' && isShownPriority((x as { priority?: unknown }).priority);
  if (!Array.isArray(v) || !v.every(ok)) throw new HttpError(400, 'alarms must be a list of { id, priority } as shown');
  return v.map((x) => {
    const present = shownPresent(x.conditionPresent);
    return { id: x.id, priority: x.priority, ...(present !== undefined && { conditionPresent: present }) };
  });
}

/**
 * The forwarder as /healthz gives it: its state, and during an outage why and since when, so that refused credentials
 * (`auth`, which no waiting mends) are told from a network blip before the hub alarm's delay has passed. No patient
 * data, so in the anonymous form too.
 */
function forwarderHealth(f: ReturnType<Agent['health']>['forwarder']): { state: string; why?: string; lastFailure?: string; downSince?: string } {
  // Off: why (hub.mode off, or auto that found no hub and what it looked for: variable names, no values).
  if ('why' in f) return { state: f.state, why: f.why };
  if (!('lastFailure' in f) || f.lastFailure === null) return { state: f.state };
  return { state: f.state, lastFailure: f.lastFailure, ...(f.downSince !== null && { downSince: new Date(f.downSince).toISOString() }) };
}
