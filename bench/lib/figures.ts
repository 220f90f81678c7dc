// The one shape every benchmark reports in, so that bench/run.ts can put all figures in one table.
// A benchmark run as a child prints its figures as one line `BENCH_JSON <json>` (after its own readable output).

export interface Figure {
  /** Benchmark name, e.g. 'ingest'. */
  bench: string;
  /** What was measured, e.g. 'simulated ward, 128 beds: observations/s'. */
  measure: string;
  value: number;
  unit: string;
  /** The ceiling or baseline measured in the same run on the same machine. */
  baseline?: { label: string; value: number; unit?: string };
  /** Whether a higher value is better (rates) or a lower one (latency, memory). Default: higher. */
  lowerIsBetter?: boolean;
  /** The target for this figure, and whether it is met (null: not judged in this run, e.g. too short). */
  target?: { text: string; met: boolean | null };
  note?: string;
}

export const JSON_PREFIX = 'BENCH_JSON ';

export function emitFigures(figures: Figure[]): void {
  process.stdout.write(`${JSON_PREFIX}${JSON.stringify(figures)}\n`);
}

export function ratio(f: Figure): number | null {
  if (!f.baseline || !f.baseline.value) return null;
  return f.value / f.baseline.value;
}

/** Rounds to a readable number of significant digits. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const p = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(x))));
  return Math.round(x * p) / p;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** `--name value` or `--name=value` from argv, else the fallback. */
export function arg(name: string, fallback: string): string {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1] ?? fallback;
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return fallback;
}

export function flag(name: string): boolean {
  return process.argv.slice(2).includes(`--${name}`);
}
