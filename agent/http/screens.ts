// Expected displays: ward screens listed in display.screens must keep a live stream open. IEC 60601-1-8 (distributed
// alarm systems) treats a failed link to a remote alarm signal generator as a technical alarm: a screen that never
// connects, or drops off and stays away, would otherwise show nothing and raise nothing (its own "connection lost"
// banner is on a screen nobody may be looking at, or on no screen at all).
// A screen names itself with `?screen=<name>` on the stream. It is connected while it has at least one stream (it
// may have several tabs). Once it has had none for longer than its graceS — counted from start() if it never
// connected, from its last disconnect otherwise — `report(name, true, text)` raises the condition; its next stream
// ends it with `report(name, false, text)`.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';

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
}

interface Screen {
  spec: ScreenSpec;
  streams: number;
  /** When it last had no stream (its last disconnect, or start()). */
  awaySince: number;
  alarmed: boolean;
}

/** Unknown names warned about at most; beyond it they are not logged (clients choose the names). */
const MAX_WARNED = 100;

export class ScreenWatch {
  private readonly screens = new Map<string, Screen>();
  private readonly warned = new Set<string>();

  constructor(
    specs: readonly ScreenSpec[],
    private readonly report: ScreenReport,
    metrics: Metrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    for (const spec of specs) {
      this.screens.set(spec.name, { spec, streams: 0, awaySince: now(), alarmed: false });
      metrics.gauge('display_screen_connected', () => (this.screens.get(spec.name)!.streams > 0 ? 1 : 0), { screen: spec.name });
    }
  }

  /** The agent starts: the grace of screens not yet connected counts from now. */
  start(): void {
    const t = this.now();
    for (const s of this.screens.values()) if (s.streams === 0) s.awaySince = t;
  }

  /** A stream opened as `name`. True when the name is watched (then call closed() when the stream ends). */
  opened(name: string): boolean {
    const s = this.screens.get(name);
    if (!s) {
      if (this.warned.size < MAX_WARNED && !this.warned.has(name)) {
        this.warned.add(name);
        this.log.warn({ screen: name.slice(0, 64) }, 'a display connected as a screen that display.screens does not list: not watched');
      }
      return false;
    }
    s.streams++;
    if (s.alarmed) {
      s.alarmed = false;
      this.report(name, false, `Display ${name} connected again`);
    }
    return true;
  }

  closed(name: string): void {
    const s = this.screens.get(name);
    if (!s || s.streams === 0) return;
    s.streams--;
    if (s.streams === 0) s.awaySince = this.now();
  }

  /** Raises the condition of each screen away for longer than its grace. Called every second by the server. */
  check(): void {
    const t = this.now();
    for (const s of this.screens.values()) {
      if (s.streams > 0 || s.alarmed || t - s.awaySince <= s.spec.graceS * 1000) continue;
      s.alarmed = true;
      const awayS = Math.round((t - s.awaySince) / 1000);
      this.report(s.spec.name, true, `Display ${s.spec.name} not connected for ${awayS} s: its alarms are not shown there`);
    }
  }

  status(): ScreenStatus[] {
    return [...this.screens.values()].map((s) => ({ name: s.spec.name, connected: s.streams > 0, streams: s.streams }));
  }
}
