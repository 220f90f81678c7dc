// Named counters and gauges, labelled. Read by the health endpoint, the twin and the logs.
export type Labels = Record<string, string>;

function key(name: string, labels?: Labels): string {
  if (!labels) return name;
  const names = Object.keys(labels);
  // One label is the common case on hot paths (e.g. per source at ingest): no sorting, no array.
  if (names.length === 1) return `${name}{${names[0]}=${JSON.stringify(labels[names[0]!])}}`;
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}

/** `gone`: removed by forget(); a handle still holding it moves to the map's entry of now. */
type Counter = { name: string; labels?: Labels; value: number; gone?: true };

export class Metrics {
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, { name: string; labels?: Labels; read: () => number }>();

  inc(name: string, labels?: Labels, by = 1): void {
    const k = key(name, labels);
    const c = this.counters.get(k);
    if (c) c.value += by;
    else this.counters.set(k, { name, ...(labels && { labels }), value: by });
  }

  /** A handle on one counter for hot paths (no key built per increment). The counter exists from now, at 0. */
  counter(name: string, labels?: Labels): (by?: number) => void {
    const k = key(name, labels);
    let c = this.counters.get(k);
    if (!c) {
      c = { name, ...(labels && { labels }), value: 0 };
      this.counters.set(k, c);
    }
    let entry = c;
    return (by = 1) => {
      // Forgotten (ingest keeps a handle per source after its driver left): a late count, or the name configured
      // again, counts in the series a snapshot shows, not in a detached one.
      if (entry.gone) {
        this.declare(name, labels);
        entry = this.counters.get(k)!;
      }
      entry.value += by;
    };
  }

  /** The counter exists from now, at 0 (unless it already does): see WATCHED_COUNTERS. */
  declare(name: string, labels?: Labels): void {
    const k = key(name, labels);
    if (!this.counters.has(k)) this.counters.set(k, { name, ...(labels && { labels }), value: 0 });
  }

  /** A gauge is read when a snapshot is taken, so it is never stale. */
  gauge(name: string, read: () => number, labels?: Labels): void {
    this.gauges.set(key(name, labels), { name, ...(labels && { labels }), read });
  }

  /**
   * Removes the counters and gauges named `prefix…` whose label `label` is `value`: the series of a driver that left
   * the configuration (review rv156 F1), which would otherwise be scraped until the agent restarts.
   */
  forget(label: string, value: string, prefix: string): void {
    for (const map of [this.counters, this.gauges] as const) {
      for (const [k, m] of map) {
        if (!m.name.startsWith(prefix) || m.labels?.[label] !== value) continue;
        map.delete(k);
        if ('value' in m) m.gone = true;
      }
    }
  }

  get(name: string, labels?: Labels): number {
    return this.counters.get(key(name, labels))?.value ?? 0;
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.counters) out[k] = c.value;
    for (const [k, g] of this.gauges) out[k] = g.read();
    return out;
  }
}

/**
 * Counters of loss and faults that an operator alerts on, with the label values known in advance. Each is present
 * from the start at 0: Prometheus's increase() and rate() see a rise only from a sample before it, so a series that
 * first appears at 1 (one eviction pass, one dropped record) never fires an alert (review rv48 M1). Label values
 * that depend on the failure (a SQLite error code) are declared for the common case only.
 */
export const WATCHED_COUNTERS: readonly (readonly [string, Labels?])[] = [
  ['agent_unclean_stops_total'],
  ['alarm_journal_dropped_total'],
  ['alarm_journal_failures_total'],
  ['alarm_journal_refused_total'],
  // Device alarms raised past the flood threshold of open alarms per device and bed (review rv188 H2): a flooding sender.
  ['alarm_device_alarms_over_threshold_total'],
  ['gateway_clock_steps_total', { direction: 'back' }],
  ['gateway_clock_steps_total', { direction: 'forward' }],
  ['store_check_failures_total'],
  ['store_unreadable_total'],
  ['store_reserve_released_total'],
  // A damaged store moved aside at start, and what of it the salvage copied or could not read (review rv182 H2).
  ['store_recovered_total'],
  ['store_salvaged_records_total'],
  ['store_salvage_failed_rows_total'],
  // Counted at start, before any scrape: an alert on `> 0` (not on increase()) catches a run on the store in memory.
  ['store_open_in_memory_total', { reason: 'disk-full' }],
  ['store_open_in_memory_total', { reason: 'disk-error' }],
  ['store_open_in_memory_total', { reason: 'read-only' }],
  ['store_evicted_total', { class: 'waveform' }],
  ['store_evicted_total', { class: 'numeric' }],
  ['store_evicted_total', { class: 'alarm' }],
  ['ingest_records_dropped_total', { reason: 'too-large' }],
  ['ingest_records_dropped_total', { reason: 'unserialisable' }],
  ['forward_retries_total', { reason: 'unreachable' }],
  ['forward_retries_total', { reason: 'auth' }],
  ['forward_retries_total', { reason: 'dropped' }],
  ['forward_store_errors_total'],
  ['forward_ack_write_failures_total'],
  // The control plane (agent/control): refused or rolled-back desired changes, twin operations the hub refused (429,
  // 400, 5xx) or left unanswered (the connection recycled), errors the SDK's twin emitted.
  ['control_desired_rejected_total'],
  ['control_twin_refused_total', { op: 'read' }],
  ['control_twin_refused_total', { op: 'report' }],
  ['control_twin_recycles_total'],
  ['control_twin_errors_total'],
  ['display_host_refused_total'],
  ['display_sessions_refused_total'],
  ['display_connections_refused_total', { reason: 'max-connections' }],
  ['display_connections_refused_total', { reason: 'per-address' }],
  ['display_connections_dropped_total', { reason: 'requests-in-flight' }],
  ['display_sse_refused_total', { reason: 'max-clients' }],
  ['display_sse_refused_total', { reason: 'per-address' }],
];

/** Per enabled driver (the `source` of its events): what ingest counts of each source's data. */
export const WATCHED_SOURCE_COUNTERS: readonly (readonly [string, Labels?])[] = [
  ['ingest_unmapped_codes_total'],
  ['ingest_unknown_mdc_codes_total'],
  ['ingest_nonfinite_values_total'],
  ['ingest_out_of_order_total'],
  ['ingest_device_clock_off_total'],
  ['ingest_bed_reserved_total'],
  // A full disk, the refusal an alert must catch; other SQLite codes appear when they happen.
  ['ingest_refused_total', { reason: 'SQLITE_FULL' }],
];

/**
 * Per configured driver (label `driver`), as `driver_<name>_total`: the loss and fault counters an operator alerts on
 * (README, docs/metrics.md). `all` for every driver type (each can fail to start and each hands events over, which the
 * store may refuse); the others only for the types whose code counts them, since a series that can never move is noise.
 */
export const WATCHED_DRIVER_COUNTERS: { all: readonly string[]; byType: Readonly<Record<string, readonly string[]>> } = {
  all: ['emit_failures', 'start_failures'],
  byType: {
    // A sender refused by tls.allowedClients (drivers/hl7/server.ts).
    'hl7-mllp': ['tls_clients_rejected'],
    // The serial drivers' capture file (drivers/serial/device-driver.ts).
    intellivue: ['capture_errors'],
    medibus: ['capture_errors'],
  },
};

export function declareWatchedCounters(metrics: Metrics): void {
  for (const [name, labels] of WATCHED_COUNTERS) metrics.declare(name, labels);
}

/** As a driver starts (at the agent's start, or added later from the twin): its source's counters at 0. */
export function declareSourceCounters(metrics: Metrics, source: string): void {
  for (const [name, labels] of WATCHED_SOURCE_COUNTERS) metrics.declare(name, { ...labels, source });
}

/** Before a driver's first start attempt (a start failure is counted before any scrape): its counters at 0. */
export function declareDriverCounters(metrics: Metrics, driver: string, type: string): void {
  for (const c of [...WATCHED_DRIVER_COUNTERS.all, ...(WATCHED_DRIVER_COUNTERS.byType[type] ?? [])]) metrics.declare(`driver_${c}_total`, { driver });
}
