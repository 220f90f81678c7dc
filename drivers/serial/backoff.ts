// Capped exponential backoff for reconnects: 1 s, 2 s, 4 s … up to the cap, with optional jitter.

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** 0..1: fraction of the delay randomised, so many gateways do not retry in lockstep. */
  jitter?: number;
}

export function backoffDelay(attempt: number, s: BackoffSettings, random: () => number = Math.random): number {
  const factor = s.factor ?? 2;
  const base = Math.min(s.maxMs, s.initialMs * Math.pow(factor, Math.max(0, attempt)));
  const jitter = s.jitter ?? 0;
  if (jitter <= 0) return base;
  return Math.round(base * (1 - jitter + jitter * random()));
}
