// Expected displays: ward screens listed in display.screens must keep a live stream open and keep saying so. A
// failed link to a remote alarm display should itself be a technical alarm (IEC 60601-1-8 asks this of distributed
// alarm systems, as secondary sources put it; the standard's text was not checked here): a screen that never
// connects, drops off, loses power or hangs would otherwise show nothing and raise nothing.
// A screen names itself with `?screen=<name>` on its stream and pings `POST /api/screens/<name>/alive` every
// heartbeat (its `seen` reports on that stream count as well: the server passes them on). It is connected while it
// has at least one stream (it may have several tabs) and was heard from within `staleMs` (a powered-off screen leaves
// a half-open TCP stream that can last ~15 min; a hung page stops pinging).
// Once it has been away for longer than its graceS — counted from start() if it never connected, from its last sign
// of life if it went silent (whether its stream is still open or was closed since: the server closes a silent page's
// stream as lagging, 20 s on by default), from its disconnect otherwise — `report(name, true, text)` raises the condition; a new
// stream or ping ends it.
// Anyone who may view can use a screen's name (nothing in the config binds it to a machine): a stream opened from another
// address than the one it last connected from, or a ping from an address that holds none of its open streams, is logged
// and counted, and shown in the status (`addressChanged`). Pings count once per (from, to) pair: a dual-stack machine
// whose stream came over IPv4 and whose pings come over IPv6 is one change, not one a heartbeat.
import type { Logger } from 'pino';
import { LogGate } from '../log-gate.js';
import type { Metrics } from '../metrics.js';
import { monotonicBeside } from '../model/measured.js';

export interface ScreenSpec {
  name: string;
  graceS: number;
}

/** Raises (present = true) or ends (false) the technical condition of one screen. */
export type ScreenReport = (name: string, present: boolean, text: string) => void;

export interface ScreenStatus {
  name: string;
  connected: boolean;
  streams: number;
  /** Addresses its open streams come from: more than one may mean a copied link keeps a name alive. */
  addresses: string[];
  /** The address it last connected from (opened a stream), since the agent started; null before. */
  address: string | null;
  /** The last time its name was used (a stream or a ping) from another address than that: a takeover, or the screen moved. */
  addressChanged: AddressChange | null;
}

export interface AddressChange {
  from: string;
  to: string;
  /** Wall clock (for display). */
  at: number;
}

interface Screen {
  spec: ScreenSpec;
  /** Open streams by remote address. */
  addresses: Map<string, number>;
  /**
   * With no stream: since when it has been away (start(), its last disconnect, or its last sign of life when it had
   * gone silent before its last stream closed). Monotonic, as lastSeen.
   */
  awaySince: number;
  /** It had gone silent (screen off, cable out, page hung) before its last stream closed: "not heard from". */
  wentSilent: boolean;
  /**
   * When it last opened a stream, pinged, or reported on its stream (`seen`), on the monotonic clock: a step of the
   * wall clock must neither hide an unplugged screen nor make a pinging one look silent (review rv151 F1).
   */
  lastSeen: number;
  alarmed: boolean;
  warnedAddresses: boolean;
  lastAddress: string | null;
  change: AddressChange | null;
  /** The (from, to) pairs of pings already counted as a change (bounded: cleared when full). */
  pingPairs: Set<string>;
}

/** Open streams of a screen, over all its addresses. */
function streams(s: Screen): number {
  let n = 0;
  for (const c of s.addresses.values()) n += c;
  return n;
}

/** Unknown names warned about at most; beyond it they are not logged (clients choose the names). */
const MAX_WARNED = 100;
/** A screen's name used from another address is logged at most once per screen in this long (all are counted). */
const ADDRESS_LOG_EVERY_MS = 60_000;
/** Ping address pairs remembered per screen; past it they are forgotten and counted anew. */
const MAX_PING_PAIRS = 64;

export class ScreenWatch {
  private readonly screens = new Map<string, Screen>();
  private readonly warned = new Set<string>();
  private readonly addressLog = new LogGate(ADDRESS_LOG_EVERY_MS, 1000);

  constructor(
    specs: readonly ScreenSpec[],
    private readonly report: ScreenReport,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** The wall clock: only for the instants the status reports (addressChanged.at). */
    private readonly now: () => number = Date.now,
    /** Longest silence of a connected screen (no ping): two of its heartbeats and some slack. */
    private readonly staleMs = 12_000,
    /**
     * Times the grace, the stale rule and the away time: a clock no step of the wall clock moves. The default when
     * `now` is given without it is `now` itself (tests driving the wall clock by hand; monotonicBeside).
     */
    private readonly mono: () => number = monotonicBeside(now),
  ) {
    for (const spec of specs) {
      this.screens.set(spec.name, { spec, addresses: new Map(), awaySince: mono(), wentSilent: false, lastSeen: -Infinity, alarmed: false, warnedAddresses: false, lastAddress: null, change: null, pingPairs: new Set() });
      metrics.gauge('display_screen_connected', () => (this.connected(this.screens.get(spec.name)!, this.mono()) ? 1 : 0), { screen: spec.name });
    }
  }

  /** The agent starts: the grace of screens not yet connected counts from now. */
  start(): void {
    const t = this.mono();
    for (const s of this.screens.values()) if (streams(s) === 0) s.awaySince = t;
  }

  /** A stream opened as `name` from `address`. True when the name is watched (then call closed() when it ends). */
  opened(name: string, address = ''): boolean {
    const s = this.watched(name);
    if (!s) return false;
    this.usedFrom(s, address);
    // Nothing to compare the first address with: said, so that a machine holding the name from the start shows.
    if (s.lastAddress === null) this.log.info({ screen: name, address }, 'a watched screen connected for the first time since the start');
    s.lastAddress = address;
    s.addresses.set(address, (s.addresses.get(address) ?? 0) + 1);
    if (s.addresses.size > 1 && !s.warnedAddresses) {
      s.warnedAddresses = true;
      this.log.warn({ screen: name, addresses: [...s.addresses.keys()] }, 'a watched screen name is open from more than one address: one of them may keep it "connected" while the real screen is away');
    }
    this.heard(s, name);
    return true;
  }

  closed(name: string, address = ''): void {
    const s = this.screens.get(name);
    const n = s?.addresses.get(address);
    if (!s || n === undefined) return;
    if (n > 1) s.addresses.set(address, n - 1);
    else s.addresses.delete(address);
    if (streams(s) > 0) return;
    const t = this.mono();
    // A screen switched off, unplugged or hung stops pinging long before its stream closes (as lagging, 20 s on by
    // default; by TCP, minutes on): it has been away since its last sign of life, not since the close (review rv98 M1).
    s.wentSilent = t - s.lastSeen > this.staleMs;
    s.awaySince = s.wentSilent ? s.lastSeen : t;
  }

  /** The page of `name` says it is alive (every heartbeat), from `address`. True when the name is watched. */
  seen(name: string, address?: string): boolean {
    const s = this.watched(name);
    if (!s) return false;
    if (address !== undefined) this.pingedFrom(s, address);
    this.heard(s, name);
    return true;
  }

  /** Raises the condition of each screen away for longer than its grace. Called every second by the server. */
  check(): void {
    const t = this.mono();
    for (const s of this.screens.values()) {
      if (s.alarmed || this.connected(s, t)) continue;
      // Streams still open but silent: away since it was last heard of. None open: since awaySince, which is its last
      // sign of life too when it went silent before its last stream closed.
      const open = streams(s) > 0;
      const silent = open || s.wentSilent;
      const since = open ? s.lastSeen : s.awaySince;
      if (t - since <= s.spec.graceS * 1000) continue;
      s.alarmed = true;
      const awayS = Math.round((t - since) / 1000);
      this.report(
        s.spec.name,
        true,
        silent
          ? `Display ${s.spec.name} not heard from for ${awayS} s (screen off, cable out or page hung?): its alarms may not be shown there`
          : `Display ${s.spec.name} not connected for ${awayS} s: its alarms are not shown there`,
      );
    }
  }

  status(): ScreenStatus[] {
    const t = this.mono();
    return [...this.screens.values()].map((s) => ({
      name: s.spec.name, connected: this.connected(s, t), streams: streams(s), addresses: [...s.addresses.keys()], address: s.lastAddress, addressChanged: s.change,
    }));
  }

  /**
   * A ping from `address`: judged against the addresses holding its open streams (the page pings from the machine its
   * stream is on, though maybe over another of that machine's addresses), against the last connection when none is open.
   * Each new (from, to) pair counts once: every heartbeat of one machine with two addresses is not a new change.
   */
  private pingedFrom(s: Screen, address: string): void {
    if (s.addresses.has(address)) return;
    const from = s.addresses.size > 0 ? (s.lastAddress !== null && s.addresses.has(s.lastAddress) ? s.lastAddress : s.addresses.keys().next().value!) : s.lastAddress;
    if (from === null || from === address) return;
    const pair = `${from} ${address}`;
    if (s.pingPairs.has(pair)) return;
    if (s.pingPairs.size >= MAX_PING_PAIRS) s.pingPairs.clear();
    s.pingPairs.add(pair);
    this.changed(s, from, address);
  }

  /**
   * A stream opened as the name from `address`: another than the one it last connected from is a change. The first
   * connection after the start has nothing to compare with: `address` in the status shows it.
   */
  private usedFrom(s: Screen, address: string): void {
    if (s.lastAddress === null || address === s.lastAddress) return;
    this.changed(s, s.lastAddress, address);
  }

  /** Recorded, counted and logged (once a minute per screen). */
  private changed(s: Screen, from: string, address: string): void {
    s.change = { from, to: address, at: this.now() };
    this.metrics.inc('display_screen_address_changes_total', { screen: s.spec.name });
    if (!this.addressLog.open(s.spec.name, this.mono())) return;
    this.log.warn(
      { screen: s.spec.name, address, lastAddress: from, openFrom: [...s.addresses.keys()], changes: this.metrics.get('display_screen_address_changes_total', { screen: s.spec.name }) },
      'a watched screen name is used from another address than the one it last connected from: another machine may be keeping it "connected" while the real screen is away (or the screen moved); logged once a minute per screen',
    );
  }

  private connected(s: Screen, t: number): boolean {
    return streams(s) > 0 && t - s.lastSeen <= this.staleMs;
  }

  private heard(s: Screen, name: string): void {
    s.lastSeen = this.mono();
    if (s.alarmed && streams(s) > 0) {
      s.alarmed = false;
      this.report(name, false, `Display ${name} connected again`);
    }
  }

  private watched(name: string): Screen | undefined {
    const s = this.screens.get(name);
    if (!s && this.warned.size < MAX_WARNED && !this.warned.has(name)) {
      this.warned.add(name);
      this.log.warn({ screen: name.slice(0, 64) }, 'a display connected as a screen that display.screens does not list: not watched');
    }
    return s;
  }
}
