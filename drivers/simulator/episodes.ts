// Episodes: stretches of time when something is going on at a bed. Physiological ones (desaturation,
// tachycardia) pull a vital sign towards a target with a ramp in, a hold and a ramp out; technical ones
// (sensor off, lead off) simply hold for their duration.
import type { EpisodeKind } from './options.js';
import type { Prng } from './prng.js';

export interface Episode {
  kind: EpisodeKind;
  /** Times in simulation milliseconds. */
  start: number;
  rampInMs: number;
  /** End of the hold, where the ramp out begins (Infinity: until ended). */
  holdEnd: number;
  rampOutMs: number;
  /** SpO2 nadir (%) or HR (/min); unused by technical episodes. */
  target: number;
  /** Set when ended early: ramp out from this weight, starting at this time. */
  fade?: { at: number; from: number };
}

export function isTechnical(kind: EpisodeKind): kind is 'sensor-off' | 'lead-off' {
  return kind === 'sensor-off' || kind === 'lead-off';
}

/** How strongly the episode acts at time t: 0 (not at all) to 1 (fully at target). */
export function weight(e: Episode, t: number): number {
  if (t < e.start) return 0;
  if (e.fade) return e.rampOutMs > 0 ? Math.max(0, e.fade.from * (1 - (t - e.fade.at) / e.rampOutMs)) : 0;
  if (t < e.start + e.rampInMs) return (t - e.start) / e.rampInMs;
  if (t < e.holdEnd) return 1;
  if (t < e.holdEnd + e.rampOutMs) return 1 - (t - e.holdEnd) / e.rampOutMs;
  return 0;
}

/** Whether the episode is over at time t (and can be forgotten). */
export function finished(e: Episode, t: number): boolean {
  if (e.fade) return t >= e.fade.at + e.rampOutMs;
  return t >= e.holdEnd + e.rampOutMs;
}

/** End of the time a technical episode is "on" (sensor really off): [start, technicalEnd). */
export function technicalEnd(e: Episode): number {
  return e.fade ? e.fade.at : e.holdEnd;
}

export function technicalActive(e: Episode, t: number): boolean {
  return t >= e.start && t < technicalEnd(e);
}

/** Ends an episode now: technical ones at once, physiological ones over their ramp out. */
export function endEpisode(e: Episode, t: number): void {
  if (e.fade) return;
  e.fade = { at: t, from: isTechnical(e.kind) ? 0 : weight(e, t) };
  if (isTechnical(e.kind)) e.rampOutMs = 0;
}

export interface EpisodeRequest {
  durationS?: number;
  target?: number;
}

/** A new episode with plausible random timing and target; `req` pins the duration or target. */
export function newEpisode(kind: EpisodeKind, start: number, rng: Prng, req: EpisodeRequest = {}): Episode {
  const s = (a: number, b: number) => rng.uniform(a, b) * 1000;
  if (isTechnical(kind)) {
    const total = req.durationS !== undefined ? req.durationS * 1000 : s(8, 90);
    return { kind, start, rampInMs: 0, holdEnd: start + total, rampOutMs: 0, target: 0 };
  }
  // Desaturation: SpO2 falls over tens of seconds to 76–88 % (some below the high-priority 80 %, so a demo ward shows
  // high alarms too), stays, recovers. Tachycardia: HR to 130–160.
  const desat = kind === 'desaturation';
  let rampIn = desat ? s(20, 60) : s(20, 60);
  let hold = desat ? s(15, 90) : s(60, 300);
  let rampOut = desat ? s(30, 90) : s(60, 180);
  const target = req.target ?? (desat ? rng.uniform(76, 88) : rng.uniform(130, 160));
  if (req.durationS !== undefined) {
    const total = req.durationS * 1000;
    if (total === Infinity) {
      hold = Infinity;
    } else {
      // Ramps take at most a third each of a pinned duration.
      rampIn = Math.min(rampIn, total / 3);
      rampOut = Math.min(rampOut, total / 3);
      hold = total - rampIn - rampOut;
    }
  }
  return { kind, start, rampInMs: rampIn, holdEnd: start + rampIn + hold, rampOutMs: rampOut, target };
}
