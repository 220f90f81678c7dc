// Prometheus text exposition format (version 0.0.4) from Metrics.snapshot(). Snapshot keys look like
// `ingest_events_total{source="sim"}` (label values JSON-quoted); names get the `bedside_` prefix.
// Counters are the names ending in _total, everything else is a gauge.

const PREFIX = 'bedside_';

export interface Sample {
  name: string;
  labels: [string, string][];
  value: number;
}

/** Splits a snapshot key into name and labels. Keys that do not parse are kept, with their name made safe. */
export function parseKey(key: string): { name: string; labels: [string, string][] } {
  const brace = key.indexOf('{');
  const name = brace < 0 ? key : key.slice(0, brace);
  const labels: [string, string][] = [];
  if (brace >= 0) {
    const re = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*")/g;
    for (const m of key.slice(brace + 1, -1).matchAll(re)) {
      try {
        labels.push([m[1]!, JSON.parse(m[2]!) as string]);
      } catch {
        labels.push([m[1]!, m[2]!.slice(1, -1)]);
      }
    }
  }
  return { name, labels };
}

export function metricName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_:]/g, '_');
  return PREFIX + (/^[0-9]/.test(safe) ? `_${safe}` : safe);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function toPrometheus(snapshot: Record<string, number>): string {
  const byName = new Map<string, Sample[]>();
  for (const [key, value] of Object.entries(snapshot)) {
    const { name, labels } = parseKey(key);
    const full = metricName(name);
    const list = byName.get(full) ?? [];
    list.push({ name: full, labels, value });
    byName.set(full, list);
  }
  const lines: string[] = [];
  for (const name of [...byName.keys()].sort()) {
    lines.push(`# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`);
    for (const s of byName.get(name)!) {
      const labels = s.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
      lines.push(`${name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}`);
    }
  }
  return lines.join('\n') + '\n';
}
