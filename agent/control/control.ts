// Remote control of the agent through the IoT Hub module (or device) twin and direct methods.
//
//   desired.agentConfig ──► validate on top of the local file ──► apply live (drivers, log level) ──► reported.config
//   reported: agent and model versions, driver states, store depth and age, last forward, counters
//   methods:  getStatus, reloadConfig, replay, captureDiagnostics
//
// After every connection the full twin is read: desired changes made while the gateway was offline are picked
// up, and a hub that lost the session (the SDK does not subscribe to the twin topics again) is caught by twin
// operations that go unanswered, which recycle the connection, once: if the fresh connection's twin goes unanswered
// too, recycling again cannot help (an edgeHub that does not serve the twin, a hub slower than twinTimeoutMs), so the
// connection is kept for telemetry and the twin read again after a growing delay (review rv148 F1). An operation the
// hub answers with an error (429 when twin operations are throttled, 400, 5xx) keeps the connection: the twin is read
// again after a growing delay and a refused report is sent again at the next report tick.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { applyEnvOverrides, ConfigError, loadConfigFile, type AgentConfig, type ConfigProblem, type DriverEntry } from '../config/load.js';
import type { DriverFactory } from '../../drivers/types.js';
import type { Metrics } from '../metrics.js';
import { NoAnswerError, type ControlHandler, type ControlPlaneStatus, type ControlSession } from '../forward/azure.js';
import { logRingOf, setLogLevel } from '../log.js';
import { PACKAGE_ROOT } from '../paths.js';
import { DesiredState } from './desired.js';
import { boundedHealth, buildDiagnostics } from './diagnostics.js';
import { MethodTable, parseReplayRange, type MethodResult } from './methods.js';
import { canonical, isObject, namedDriverPaths, planChange, resolveOverlay, withoutRefusedFields, type Json, type JsonObject, type OverlayResult } from './overlay.js';
import { buildProblems, checkBeyondSchema, configWarnings } from '../config/check.js';
import { hubRoute } from '../forward/choose.js';
import { examplePasswordProblems } from '../http/passwords.js';
import { ReplayRefusedError } from '../store/outbox.js';
import { loadOverlay, overlayPath, removeOverlay, saveOverlay, setAsidePath, startingMarkerPath } from './persist.js';
import { buildReported, diffPatch, significant, type ConfigReport, type DriverHealthLike } from './reported.js';

export interface ControlConfig {
  enabled: boolean;
  reportIntervalS: number;
  resyncIntervalS: number;
  twinTimeoutMs: number;
  diagnosticsMaxBytes: number;
}

/** What the control plane needs of the agent. */
export interface ControlHost {
  readonly gatewayId: string;
  health(): {
    status?: 'ok' | 'degraded';
    drivers: Record<string, DriverHealthLike>;
    forwarder: { state: string; lastSuccessAt?: number | null; lastError?: string | null; sentMessages?: number; sentRecords?: number };
    /** unackedMessages NaN and `error` its code while the store cannot be read. */
    store: { pending: { telemetry: number; alarms: number }; unackedMessages: { telemetry: number; alarms: number }; error?: string };
    metrics: Record<string, number>;
  };
  /** Creation time of the oldest record or message still waiting for the hub, or null. */
  oldestPendingAt(): number | null;
  startDriver(entry: DriverEntry): Promise<void>;
  stopDriver(name: string): Promise<void>;
  /** A driver that could not be started again (restoring it after a refused change): alarmed and retried by the agent. */
  keepTrying?(entry: DriverEntry, err: unknown): void;
  /**
   * The configuration in force changed (a twin change or reloadConfig applied), with the fields of its overlay left
   * out (withoutRefusedFields): the agent's configuration alarms follow it, for sections applied live; those pending
   * a restart (the alarms section's limits) are alarmed as the running process was built (review rv96 M3).
   */
  configChanged?(config: AgentConfig, ignored: readonly ConfigProblem[]): void;
  /** Re-queues acknowledged messages packed in the range and wakes the forwarder. */
  replay(fromMs: number, toMs: number): { messages: number; records: number };
}

export interface ControlDeps {
  host: ControlHost;
  registry: ReadonlyMap<string, DriverFactory>;
  /** The root logger: its level (and its children's) follows `log.level`. */
  log: Logger;
  /** The agent's counters: refused changes, twin operations the hub refused, method answers (README.md, Counters). */
  metrics: Metrics;
  startup: StartupConfig;
  /** The config file, for `reloadConfig`; absent when the agent was given a config object. */
  configPath?: string;
  storePath: string;
  /** Hook for model versions (the ONNX model work adds them). */
  models?: () => Record<string, Json>;
  now?: () => number;
}

export const AGENT_VERSION: string = (() => {
  try {
    return String((JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
})();

export interface StartupConfig {
  /** The local config file, validated. */
  local: AgentConfig;
  /** What the agent starts with: the local config, with the saved overlay if there is one and it still fits. */
  config: AgentConfig;
  /** The overlay in force as the twin gave it (saved so): with any fields `ignored` lists. */
  overlay: JsonObject | null;
  desiredVersion: number;
  source: ConfigReport['source'];
  /** Why a saved overlay was not used. */
  problem?: string;
  /** Fields of the saved overlay this version refuses from the twin, left out at start (the rest applied). */
  ignored?: ConfigProblem[];
}

/**
 * What a start does with the saved overlay, decided without writing anything (main.ts judges the config it names
 * before the store opens); beginStartup then carries it out, once the store's lock is held.
 */
export interface StartupDecision extends StartupConfig {
  step:
    | { kind: 'none' }
    | { kind: 'not-used'; file: string; why: string }
    | { kind: 'unreadable'; file: string; err: unknown }
    | { kind: 'set-aside'; file: string; aside: string; desiredVersion: number; incompleteStarts: number }
    | { kind: 'refused'; file: string; problems: ConfigProblem[] }
    | { kind: 'use'; file: string; appliedAt: string; incompleteStarts: number };
}

/**
 * Precedence at start: the local file, then the last overlay applied from the twin (saved beside the store),
 * unless control is off or forwarding is. Once the twin is read, its desired overlay replaces the
 * saved one. A saved overlay that no longer fits the local file is ignored, with the reason logged. Reads only.
 */
export function decideStartup(local: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, env: NodeJS.ProcessEnv = process.env): StartupDecision {
  const plain: StartupDecision = { local, config: local, overlay: null, desiredVersion: 0, source: 'local', step: { kind: 'none' } };
  const file = overlayPath(local.store.path);
  if (!file) return plain;
  // Decided on the route, not hub.mode: auto with neither IoT Edge nor a connection string forwards nothing either,
  // so no twin is ever read to replace the overlay, and the file's edits would never take effect (review rv120 M3).
  const route = hubRoute(local, env, true).route;
  const off = !local.control.enabled ? 'control.enabled is false' : route.via === 'off' ? `forwarding is off (${route.why})` : null;
  if (off) return existsSync(file) ? { ...plain, step: { kind: 'not-used', file, why: off } } : plain;
  let saved;
  try {
    saved = loadOverlay(file);
  } catch (err) {
    return { ...plain, problem: `saved overlay unreadable: ${(err as Error).message}`, step: { kind: 'unreadable', file, err } };
  }
  if (!saved) return plain;
  // Starts with it that did not complete, in a row (one may be a power cut or a cause of its own: two are the overlay's).
  const incomplete = incompleteStarts(startingMarkerPath(file));
  if (incomplete >= INCOMPLETE_STARTS_TO_SET_ASIDE) {
    const aside = setAsidePath(file);
    const problem = `the last ${incomplete} starts with it (desired version ${saved.desiredVersion}) did not complete; moved to ${aside}`;
    return { ...plain, problem, step: { kind: 'set-aside', file, aside, desiredVersion: saved.desiredVersion, incompleteStarts: incomplete } };
  }
  // Fields an older version allowed from the twin and this one refuses (NEWLY_REFUSED_FIELDS: display.port, …) are left out,
  // not the whole overlay with the drivers and bed limits it added (review rv94 H3).
  const { overlay, ignored } = withoutRefusedFields(saved.overlay);
  const r = resolveChecked(local, overlay, registry);
  if (!r.ok) return withoutOverlay(plain, file, r.problems);
  return {
    local,
    config: r.config,
    overlay: saved.overlay,
    desiredVersion: saved.desiredVersion,
    source: 'saved-overlay',
    ...(ignored.length && { ignored }),
    step: { kind: 'use', file, appliedAt: saved.appliedAt, incompleteStarts: incomplete },
  };
}

/** The decision to run on the local file alone, the saved overlay ignored for these problems (kept on disk). */
export function withoutOverlay(d: StartupDecision, file: string, problems: ConfigProblem[]): StartupDecision {
  const problem = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return { local: d.local, config: d.local, overlay: null, desiredVersion: 0, source: 'local', problem, step: { kind: 'refused', file, problems } };
}

/**
 * Carries out a decision: logs it, sets aside an overlay whose starts kept failing, and marks a start with the
 * saved overlay (cleared once the start completes). Called with the store's lock held: a second agent refused by
 * the lock must not count as a failed start with the overlay (review rv41).
 */
export function beginStartup(d: StartupDecision, log: Logger): StartupConfig {
  const { step, ...startup } = d;
  switch (step.kind) {
    case 'none':
      break;
    case 'not-used':
      // Warned: what runs may differ from the last run with the hub (drivers the twin switched off come back).
      log.warn({ file: step.file }, `the saved desired overlay is not applied: ${step.why}, so no twin is read; starting with the local config file only`);
      break;
    case 'unreadable':
      log.error({ err: step.err, file: step.file }, 'cannot read the saved desired overlay; starting with the local config file only');
      break;
    case 'set-aside':
      try {
        renameSync(step.file, step.aside);
        rmSync(startingMarkerPath(step.file), { force: true });
      } catch (err) {
        log.error({ err, file: step.file }, 'cannot set the saved desired overlay aside');
      }
      log.error(
        { file: step.file, movedTo: step.aside, desiredVersion: step.desiredVersion, incompleteStarts: step.incompleteStarts },
        'the last starts with the saved desired overlay did not complete: set aside, starting with the local config file only',
      );
      break;
    case 'refused':
      log.error({ file: step.file, problems: step.problems }, 'saved desired overlay does not fit the local config any more; ignored until the hub sends a new one');
      break;
    case 'use': {
      log.info({ file: step.file, desiredVersion: d.desiredVersion, appliedAt: step.appliedAt }, 'starting with the desired overlay last applied from the twin');
      for (const p of d.ignored ?? []) log.warn({ file: step.file, field: p.path }, `saved desired overlay: ${p.path} ${p.message}`);
      const marker = startingMarkerPath(step.file);
      try {
        writeFileSync(marker, `${step.incompleteStarts + 1}\n`);
      } catch (err) {
        log.warn({ err, file: marker }, 'cannot mark the start with the saved desired overlay (a failed start would not be noticed)');
      }
      break;
    }
  }
  return startup;
}

/** decideStartup and beginStartup in one, for an agent built without main.ts's decision (tests, embedding). */
export function startupConfig(local: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, log: Logger): StartupConfig {
  return beginStartup(decideStartup(local, registry), log);
}

/**
 * The overlay on the local file, validated, then checked as a start would check it (secrets, TLS and CA files, the
 * pseudonym key, drivers' own checks): a change that passes is saved, and a saved overlay that could not start the
 * agent would keep it from ever reaching the hub again.
 */
function resolveChecked(local: AgentConfig, overlay: unknown, registry: ReadonlyMap<string, DriverFactory>, running?: AgentConfig): OverlayResult {
  const r = resolveOverlay(local, overlay, registry, running);
  if (!r.ok) return r;
  const problems = namedDriverPaths(buildProblems(r.config, registry), overlay, r.config.drivers);
  return problems.length ? { ok: false, problems } : r;
}

/**
 * resolveChecked, and the display's refusal of example passwords (async: it hashes). `running`: what runs (drivers
 * the twin added are compared with it); given by the twin path and reloadConfig alike, absent only at start.
 */
async function resolveForApply(
  local: AgentConfig,
  overlay: unknown,
  registry: ReadonlyMap<string, DriverFactory>,
  running?: AgentConfig,
): Promise<OverlayResult> {
  const r = resolveChecked(local, overlay, registry, running);
  if (!r.ok || !r.config.display.enabled) return r;
  const problems = await examplePasswordProblems(r.config.display.users);
  return problems.length ? { ok: false, problems } : r;
}

/** The getStatus answer's budget: well under MAX_RESPONSE_BYTES (120 KiB), like diagnosticsMaxBytes' default. */
const STATUS_MAX_BYTES = 100_000;

/** Starts with the saved overlay that did not complete in a row before it is set aside. */
const INCOMPLETE_STARTS_TO_SET_ASIDE = 2;

function incompleteStarts(marker: string): number {
  try {
    const n = Number.parseInt(readFileSync(marker, 'utf8'), 10);
    return Number.isFinite(n) && n > 0 ? n : 1;
  } catch {
    return 0;
  }
}

const problemText = (p: ConfigProblem) => `${p.path || '(top level)'}: ${p.message}`;

/** The longest pause between twin reads retried after a refusal or while the twin goes unanswered. */
const TWIN_RETRY_MAX_MS = 10 * 60_000;
/** While the twin goes unanswered, its warn line is repeated (with the count) at most this often. */
const UNANSWERED_LOG_EVERY_MS = 10 * 60_000;

export class AgentControl implements ControlHandler {
  readonly methodNames: readonly string[];
  private local: AgentConfig;
  private effective: AgentConfig;
  /** What the running process was built with: sections that are not applied live differ from it until restart. */
  private readonly builtWith: AgentConfig;
  private applied: JsonObject | null;
  /** Fields of the applied overlay left out (withoutRefusedFields): set at start, kept while that overlay is in force. */
  private ignored: ConfigProblem[];
  private status: ConfigReport;
  private readonly desired = new DesiredState();
  private session: ControlSession | null = null;
  /** The reported document as the hub has it (from the last read or our last update); null: unknown. */
  private hubReported: JsonObject | null = null;
  private lastSignificant = '';
  /** Twin reads and reported updates the hub answered with an error, in a row (for the retry delay and the log). */
  private syncFailures = 0;
  private failedStart = false;
  /**
   * The desired version and overlay last rolled back (a driver of it failed to start). A read of the same twin
   * leaves it as it is: applying it again restarted the working drivers at every read (review rv68 M2).
   */
  private rolledBack: { version: number; overlay: string; noted: boolean } | null = null;
  /**
   * The desired version and overlay last refused. Read again (a reconnection, the periodic resync) it is judged
   * again, so that it applies once it fits, but counted and warned only once (review rv158 F3).
   */
  private refusedDoc: { version: number; overlay: string } | null = null;
  /** The desired version of the overlay in force (`applied`): a refused later version is not in force (review rv158 F2). */
  private appliedVersion: number;
  /** Full twin reads in a row older than our desired version (see sync). */
  private olderReads = 0;
  private reportFailures = 0;
  /**
   * The kind of twin operation whose going unanswered last recycled the connection, until one of that kind is answered
   * (a reported update answered stands for both): meanwhile another unanswered one keeps the connection, so an
   * unanswered twin costs the connection at most once in a row (review rv148 F1). By kind: a hub that answers reads
   * but never updates would otherwise recycle at every report.
   */
  private recycledFor: 'read' | 'report' | null = null;
  /** The twin goes unanswered on a fresh connection too (cleared by any answer): health shows it. */
  private unanswered: { since: number; ops: number; loggedAt: number } | null = null;
  private syncRetry: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private readonly methods: MethodTable;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly startedAt: string;

  constructor(
    private readonly deps: ControlDeps,
    private readonly opts: ControlConfig,
  ) {
    this.now = deps.now ?? Date.now;
    this.startedAt = new Date(this.now()).toISOString();
    this.log = deps.log.child({ component: 'control' });
    this.local = deps.startup.local;
    this.effective = deps.startup.config;
    this.builtWith = deps.startup.config;
    this.applied = deps.startup.overlay;
    this.appliedVersion = deps.startup.desiredVersion;
    this.ignored = deps.startup.ignored ?? [];
    this.status = {
      status: deps.startup.problem ? 'rejected' : 'applied',
      desiredVersion: deps.startup.desiredVersion,
      source: deps.startup.source,
      at: this.startedAt,
      ...(deps.startup.problem && { errors: [`saved overlay: ${deps.startup.problem}`] }),
    };
    this.methods = new MethodTable(
      {
        getStatus: () => this.getStatus(),
        reloadConfig: () => this.serial(() => this.reloadConfig()),
        replay: (p) => this.replay(p),
        captureDiagnostics: () => this.captureDiagnostics(),
      },
      this.log,
      deps.metrics,
    );
    this.methodNames = this.methods.names;
  }

  /** The configuration in force (local file + applied overlay). */
  get config(): AgentConfig {
    return this.effective;
  }

  get configStatus(): ConfigReport {
    return {
      ...this.status,
      ...(this.ignored.length && { ignored: this.ignored.map((p) => p.path) }),
      drivers: this.effective.drivers.filter((d) => d.enabled).map((d) => d.name),
      logLevel: this.effective.log.level,
    };
  }

  /**
   * The overlay to judge, and the fields left out of it: the overlay in force, read again (the twin's same document,
   * reloadConfig), is judged as the start judged it, without the fields left out then, so that it gets the same answer
   * (review rv94 H3). Any other overlay is judged whole: a new change holding such a field is refused.
   */
  private judged(overlay: unknown): { overlay: unknown; ignored: ConfigProblem[] } {
    if (this.ignored.length && isObject(overlay) && canonical(overlay) === canonical(this.applied)) return withoutRefusedFields(overlay);
    return { overlay, ignored: [] };
  }

  /** Called once the agent's start completed (display listening, drivers started). */
  start(): void {
    this.stopped = false;
    this.startEnded();
    this.timers.push(setInterval(() => this.enqueue(() => this.report(true)), this.opts.reportIntervalS * 1000));
    // States (drivers, uplink, config) are reported within seconds of a change; the numbers ride along.
    this.timers.push(setInterval(() => this.enqueue(() => this.report(false)), Math.min(5000, this.opts.reportIntervalS * 1000)));
    this.timers.push(setInterval(() => this.enqueue(() => this.sync('periodic resync')), this.opts.resyncIntervalS * 1000));
    for (const t of this.timers) t.unref();
  }

  /** The start with the saved overlay completed, or was stopped by request: either way not the overlay's failure. */
  private startEnded(): void {
    const path = overlayPath(this.local.store.path);
    if (path && this.deps.startup.source === 'saved-overlay') rmSync(startingMarkerPath(path), { force: true });
  }

  /** The agent's start failed: the stop that follows must leave the mark, so that the next start counts it. */
  startFailed(): void {
    this.failedStart = true;
  }

  async stop(): Promise<void> {
    if (!this.failedStart) this.startEnded();
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.syncRetry) clearTimeout(this.syncRetry);
    this.syncRetry = null;
    this.timers = [];
    await this.queue;
  }

  // ---- ControlHandler (called by the transport) ----

  connected(session: ControlSession): void {
    this.session = session;
    this.hubReported = null;
    this.enqueue(() => this.sync('connected'));
  }

  desiredPatch(patch: Record<string, unknown>): void {
    const outcome = this.desired.patch(patch);
    this.log.debug({ outcome, version: patch.$version }, 'desired properties patch');
    if (outcome === 'applied') this.enqueue(() => this.applyDesired());
    else if (outcome === 'gap') this.enqueue(() => this.sync('missed a desired patch'));
  }

  method(name: string, payload: unknown): Promise<MethodResult> {
    return this.methods.call(name, payload);
  }

  unknownMethod(name: string): void {
    this.methods.unknown(name);
  }

  /** The control plane's trouble for health: the twin unanswered on fresh connections too, or null. */
  controlStatus(): ControlPlaneStatus | null {
    const u = this.unanswered;
    if (!u) return null;
    return {
      state: 'twin-unanswered',
      since: new Date(u.since).toISOString(),
      detail: 'twin operations go unanswered on a fresh connection too: connection kept for telemetry, the twin read again with a growing pause',
      unanswered: u.ops,
    };
  }

  /**
   * The transport switched the twin and methods off until status.retryAt: the hub closes the connection at the twin
   * read. `again`: a retry closed too (warned; the first switch-off is the error).
   */
  switchedOff(status: ControlPlaneStatus, closes: number, again = false): void {
    if (this.syncRetry) clearTimeout(this.syncRetry);
    this.syncRetry = null;
    this.unanswered = null;
    if (again) {
      this.log.warn({ since: status.since, retryAt: status.retryAt }, `the hub closed the connection at the twin read again: the control plane stays off, tried again at ${status.retryAt}`);
      return;
    }
    this.log.error(
      { closes, since: status.since, retryAt: status.retryAt },
      `the hub closed the connection at the twin read on ${closes} connections in a row: the control plane (twin, direct methods) is off, forwarding goes on. ` +
        `Likely an IoT Hub of the Basic tier, or a hub in trouble (restarting), or a hub policy; the twin is tried again at ${status.retryAt}. ` +
        'For the Basic tier (it has no twins or direct methods): set control.enabled: false, or use a Standard tier hub',
    );
  }

  /** A twin read after the switch-off settled with the connection up: the control plane is back. */
  switchedOn(): void {
    this.log.info('the twin was read again after the control plane was switched off: the control plane (twin, direct methods) is back on');
  }

  /**
   * The SDK's twin emitted 'error': asking for desired-patch notifications failed. Patches may not come on this
   * connection; the periodic full read (control.resyncIntervalS) and the read after each connection still pick up
   * changes.
   */
  twinError(err: Error): void {
    this.deps.metrics.inc('control_twin_errors_total');
    this.log.warn(
      { err: err?.message ?? String(err), resyncIntervalS: this.opts.resyncIntervalS },
      'the twin reported an error (desired-property notifications may be off on this connection); changes are picked up at the next full read',
    );
  }

  // ---- twin ----

  /** Runs one job at a time, in order: applying a config must not interleave with another. */
  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(job).catch((err: unknown) => this.log.error({ err }, 'control job failed'));
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Reads the full twin: applies desired changes we have not seen, and reports. */
  private async sync(why: string): Promise<void> {
    const s = this.session;
    if (!s?.open || this.stopped) return;
    let twin;
    try {
      twin = await s.getTwin();
    } catch (err) {
      // The read that was to confirm an older version did not come: the next older read starts the count again.
      this.olderReads = 0;
      if (!s.open) return; // the connection ended meanwhile; the next one reads the twin again
      this.syncFailures += 1;
      const retryInMs = Math.min(this.opts.resyncIntervalS * 1000, TWIN_RETRY_MAX_MS, 1000 * 2 ** Math.min(this.syncFailures - 1, 16));
      if (err instanceof NoAnswerError) {
        if (this.recycledFor === null) {
          this.recycledFor = 'read';
          this.deps.metrics.inc('control_twin_recycles_total');
          this.log.warn({ err: err.message, why }, 'cannot read the twin; recycling the hub connection');
          s.recycle(`twin read failed: ${err.message}`);
          return;
        }
        this.stillUnanswered(err, why, retryInMs);
      } else {
        this.twinAnswered('read');
        this.deps.metrics.inc('control_twin_refused_total', { op: 'read' });
        this.log.warn({ err: (err as Error).message, why, attempt: this.syncFailures, retryInMs }, 'the hub refused the twin read; connection kept, reading it again later');
      }
      if (this.syncRetry) clearTimeout(this.syncRetry);
      this.syncRetry = setTimeout(() => {
        this.syncRetry = null;
        if (!this.stopped && this.session === s) this.enqueue(() => this.sync('retry after a failed twin read'));
      }, retryInMs);
      this.syncRetry.unref();
      return;
    }
    this.syncFailures = 0;
    this.twinAnswered('read');
    if (!s.open) return;
    this.hubReported = withoutDollarKeys(twin.reported);
    if (this.desired.full(twin.desired)) {
      this.olderReads = 0;
      await this.applyDesired();
    } else if (isObject(twin.desired) && typeof twin.desired.$version === 'number' && twin.desired.$version < this.desired.version) {
      // Older than what we have: a read overtaken by a patch, or a twin made anew (the device or module identity
      // deleted and created again), whose versions start from 1. A second read at once tells them apart.
      const version = twin.desired.$version;
      if (++this.olderReads === 1) {
        this.log.info({ had: this.desired.version, read: version }, 'the twin read is older than the desired version we have: reading it again');
        this.enqueue(() => this.sync('twin read older than ours'));
      } else {
        this.log.warn({ had: this.desired.version, read: version }, 'the twin\'s desired version went back and stays back: the twin was made anew; following it from its version');
        this.olderReads = 0;
        this.desired.full(twin.desired, true);
        await this.applyDesired();
      }
    }
    await this.report(true);
  }

  /**
   * A twin operation went unanswered after a recycle for an unanswered one, with none of that kind answered since:
   * the connection stays (telemetry flows on it). Said at warn the first time, then at most every
   * UNANSWERED_LOG_EVERY_MS with the count; health shows it (controlStatus()).
   */
  private stillUnanswered(err: Error, why: string, retryInMs?: number): void {
    const now = this.now();
    const first = this.unanswered === null;
    const u = (this.unanswered ??= { since: now, ops: 0, loggedAt: now });
    u.ops += 1;
    const loud = first || now - u.loggedAt >= UNANSWERED_LOG_EVERY_MS;
    if (loud) u.loggedAt = now;
    this.log[loud ? 'warn' : 'debug'](
      { err: err.message, why, unanswered: u.ops, since: new Date(u.since).toISOString(), retryInMs },
      'the twin goes unanswered on a fresh connection too: connection kept for telemetry (not recycled again); reads retried with a growing pause, reported updates at a later report (said again at most every 10 min, with the count)',
    );
  }

  /** The hub answered a twin operation (with its result or an error status): for its kind, the twin channel works. */
  private twinAnswered(op: 'read' | 'report'): void {
    if (op === 'read' && this.recycledFor === 'report') return;
    this.recycledFor = null;
    const u = this.unanswered;
    if (!u) return;
    this.unanswered = null;
    this.log.info({ unanswered: u.ops, since: new Date(u.since).toISOString() }, 'the twin answers again');
  }

  private async applyDesired(): Promise<void> {
    const doc = this.desired.document;
    if (!doc) return;
    const overlay = isObject(doc.agentConfig) ? doc.agentConfig : doc.agentConfig === undefined ? null : doc.agentConfig;
    const version = this.desired.version;
    if (canonical(overlay) === canonical(this.applied) && this.status.status === 'applied') {
      if (this.status.desiredVersion !== version || this.status.source !== (overlay ? 'twin' : 'local')) {
        this.status = { ...this.status, desiredVersion: version, source: overlay ? 'twin' : 'local' };
        this.appliedVersion = version;
        this.persist(overlay as JsonObject | null, version);
      }
      await this.report(true);
      return;
    }
    const key = canonical(overlay);
    const rb = this.rolledBack;
    if (rb && rb.version === version && rb.overlay === key && this.status.status === 'rejected') {
      if (!rb.noted) {
        rb.noted = true;
        this.log.warn(
          { desiredVersion: version, errors: this.status.errors },
          'desired configuration of this version was rolled back before; left as it is (tried again when the desired properties change, or on reloadConfig)',
        );
      }
      await this.report(true);
      return;
    }
    this.rolledBack = null;
    const judged = this.judged(overlay);
    const r = await resolveForApply(this.local, judged.overlay, this.deps.registry, this.effective);
    const errors = r.ok ? [] : r.problems.map(problemText);
    const refusedBefore = this.refusedDoc?.version === version && this.refusedDoc.overlay === key && this.status.status === 'rejected' && this.status.desiredVersion === version;
    if (!r.ok && refusedBefore) {
      // The same document refused again: not a new refused change. Said again (warn) only if the reasons changed.
      if (canonical(errors) === canonical(this.status.errors ?? [])) {
        this.log.debug({ desiredVersion: version }, 'desired configuration of this version was refused before and still is; not counted again');
      } else {
        this.status = { ...this.status, at: new Date(this.now()).toISOString(), errors };
        this.log.warn({ desiredVersion: version, errors }, 'desired configuration of this version is still refused, now for these reasons; the previous configuration stays in force');
      }
    } else if (!r.ok) {
      this.warnDowngrades(r, version);
      this.refusedDoc = { version, overlay: key };
      this.refuse(version, errors, 'desired configuration refused; the previous configuration stays in force');
    } else {
      const outcome = await this.switchTo(r.config);
      if (!outcome.ok) {
        this.rolledBack = { version, overlay: key, noted: false };
        this.refuse(version, outcome.errors, 'desired configuration could not be applied; the previous configuration was restored');
      } else {
        this.applied = (overlay as JsonObject | null) ?? null;
        this.appliedVersion = version;
        this.ignored = judged.ignored;
        this.deps.host.configChanged?.(this.effective, this.ignored);
        this.persist(this.applied, version);
        this.status = {
          status: 'applied',
          desiredVersion: version,
          source: this.applied ? 'twin' : 'local',
          at: new Date(this.now()).toISOString(),
          ...(outcome.pendingRestart.length && { pendingRestart: outcome.pendingRestart }),
        };
        this.log.info(
          { desiredVersion: version, stopped: outcome.stopped, started: outcome.started, pendingRestart: outcome.pendingRestart },
          'desired configuration applied',
        );
        this.warnConfig({ desiredVersion: version });
      }
    }
    await this.report(true);
  }

  /**
   * What --check and the start warn of, for the configuration now in force after a live change (review rv120 M5): a
   * twin entry copied onto a bed that has its monitor, alarms.devices expecting a device no enabled driver has, …
   * Logged and counted only: the control plane has no gateway alarm of its own (configChanged lets the agent raise
   * those it keeps). Sections pending a restart are judged as they will run after it.
   */
  private warnConfig(context: Record<string, unknown>): void {
    let warnings: ConfigProblem[];
    try {
      warnings = configWarnings(this.effective, this.deps.registry);
    } catch (err) {
      // A bug in a check must not make an applied change look failed.
      this.log.error({ err, ...context }, 'cannot judge the configuration in force for warnings');
      return;
    }
    for (const w of warnings) this.log.warn({ ...context, field: w.path }, `configuration in force warns: ${w.path}: ${w.message}`);
    if (warnings.length) this.deps.metrics.inc('control_config_warnings_total', undefined, warnings.length);
  }

  /** A security downgrade, not a mistake: said on its own line, with the driver and the field (review rv82 H2). */
  private warnDowngrades(r: OverlayResult, version: number): void {
    if (r.ok) return;
    for (const d of r.downgrades ?? []) {
      this.log.warn({ desiredVersion: version, driver: d.driver, field: d.field, reason: d.message }, "desired configuration would weaken a driver's transport security: refused");
    }
  }

  private refuse(version: number, errors: string[], msg: string): void {
    this.deps.metrics.inc('control_desired_rejected_total');
    this.status = { status: 'rejected', desiredVersion: version, source: this.status.source, at: new Date(this.now()).toISOString(), errors };
    this.log.warn({ desiredVersion: version, errors }, msg);
  }

  private persist(overlay: JsonObject | null, version: number): void {
    const path = overlayPath(this.local.store.path);
    if (!path) return;
    try {
      if (overlay) saveOverlay(path, { overlay, desiredVersion: version, appliedAt: new Date(this.now()).toISOString() });
      else removeOverlay(path);
    } catch (err) {
      // Not fatal: the running config is right; only a restart without the hub would miss it.
      this.log.error({ err, file: path }, 'cannot save the applied desired overlay');
    }
  }

  /**
   * Moves the running agent to `next`: drivers whose entries changed are restarted, unchanged ones keep
   * running, the log level changes live. If a driver fails to start, the previous drivers are restored.
   */
  private async switchTo(
    next: AgentConfig,
  ): Promise<{ ok: true; stopped: string[]; started: string[]; pendingRestart: string[] } | { ok: false; errors: string[] }> {
    const plan = planChange(this.effective, next);
    const { host } = this.deps;
    for (const name of plan.stop) await host.stopDriver(name);
    const started: string[] = [];
    for (const entry of plan.start) {
      try {
        await host.startDriver(entry);
        started.push(entry.name);
      } catch (err) {
        const error = `drivers.${entry.name}: failed to start: ${(err as Error)?.message ?? String(err)}`;
        for (const name of started) await host.stopDriver(name);
        await host.stopDriver(entry.name);
        const previous = this.effective.drivers.filter((d) => d.enabled && plan.stop.includes(d.name));
        for (const d of previous) {
          await host.startDriver(d).catch((e: unknown) => {
            // Its devices are unwatched now: the agent alarms it and keeps trying, as for a driver failing at boot.
            this.log.error({ err: e, driver: d.name }, 'could not restore the previous driver');
            host.keepTrying?.(d, e);
          });
        }
        return { ok: false, errors: [error] };
      }
    }
    if (plan.logLevel) setLogLevel(this.deps.log, plan.logLevel);
    this.effective = next;
    return { ok: true, stopped: plan.stop, started, pendingRestart: planChange(this.builtWith, next).pendingRestart };
  }

  private reportInputs() {
    const h = this.deps.host.health();
    // A store that cannot be read (health() says its error) must not stop the report: the age is then unknown, said
    // so (null is "nothing waits", and deletes the twin property; review rv136 M2).
    let oldest: number | null | 'unknown' = null;
    try {
      oldest = this.deps.host.oldestPendingAt();
    } catch {
      oldest = 'unknown';
    }
    return {
      agent: { version: AGENT_VERSION, node: process.version, gatewayId: this.deps.host.gatewayId, startedAt: this.startedAt },
      models: this.deps.models?.() ?? {},
      config: this.configStatus,
      drivers: h.drivers,
      forward: {
        state: h.forwarder.state,
        lastSuccessAt: h.forwarder.lastSuccessAt ?? null,
        lastError: h.forwarder.lastError ?? null,
        sentMessages: h.forwarder.sentMessages ?? 0,
        sentRecords: h.forwarder.sentRecords ?? 0,
      },
      status: h.status,
      store: {
        pendingRecords: h.store.pending,
        unackedMessages: h.store.unackedMessages,
        oldestPendingAgeS: typeof oldest === 'number' ? Math.max(0, Math.round((this.now() - oldest) / 1000)) : oldest,
        error: h.store.error,
      },
      metrics: h.metrics,
      now: this.now(),
    };
  }

  /** Sends what changed in the reported properties. Unforced: only if a state changed. */
  private async report(force: boolean): Promise<void> {
    const s = this.session;
    if (!s?.open || !this.hubReported || this.stopped) return;
    const doc = buildReported(this.reportInputs());
    const sig = significant(doc);
    if (!force && sig === this.lastSignificant) return;
    const patch = diffPatch(this.hubReported, doc);
    if (Object.keys(patch).length === 0) return;
    try {
      await s.updateReported(patch);
      this.hubReported = doc;
      this.lastSignificant = sig;
      this.reportFailures = 0;
      this.twinAnswered('report');
    } catch (err) {
      if (!s.open) return;
      // Once in a row (recycledFor): an update left unanswered after that is sent again at a later tick, connection kept.
      if (err instanceof NoAnswerError && this.recycledFor === null) {
        this.recycledFor = 'report';
        this.deps.metrics.inc('control_twin_recycles_total');
        this.log.warn({ err: err.message }, 'cannot update reported properties; recycling the hub connection');
        s.recycle(`reported properties update failed: ${err.message}`);
        return;
      }
      if (err instanceof NoAnswerError) {
        this.stillUnanswered(err, 'reported properties update');
        return;
      }
      this.twinAnswered('report');
      this.deps.metrics.inc('control_twin_refused_total', { op: 'report' });
      // Sent again at the next tick (lastSignificant is unchanged); logged at warn once per run of refusals.
      this.reportFailures += 1;
      this.log[this.reportFailures === 1 ? 'warn' : 'debug'](
        { err: (err as Error).message, attempt: this.reportFailures },
        'the hub refused the reported properties update; connection kept, sent again at the next report',
      );
    }
  }

  // ---- direct methods ----

  private getStatus(): MethodResult {
    const rest = { config: this.configStatus, models: this.deps.models?.() ?? {} };
    const answer = (health: unknown) => ({ agentVersion: AGENT_VERSION, ...(health as object), ...rest });
    // Devices listed per driver, fewer if the answer would not fit well under the direct-method cap (review rv68 M3).
    const health = boundedHealth(this.deps.host.health(), (h) => Buffer.byteLength(JSON.stringify(answer(h))) <= STATUS_MAX_BYTES);
    return { status: 200, payload: answer(health) };
  }

  private async reloadConfig(): Promise<MethodResult> {
    const path = this.deps.configPath;
    if (!path) return { status: 400, payload: { status: 'rejected', errors: ['the agent was started without a config file to reload'] } };
    let local: AgentConfig;
    try {
      local = applyEnvOverrides(loadConfigFile(path, this.deps.registry), this.deps.registry, path);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.log.warn({ file: path, problems: err.problems }, 'reloadConfig: config file invalid; nothing changed');
      return { status: 400, payload: { status: 'rejected', file: path, errors: err.problems.map(problemText) } };
    }
    // What the next start would refuse (exit 2) beyond the schema: a bracketed display.host, a store.path naming a
    // folder, … (review rv120 M4). The start's own checks with its semantics; they look nothing up in DNS. Only what
    // the file in force does not have already: a condition it started with is no reason to refuse an unrelated edit.
    const inForce = new Set((await checkBeyondSchema(this.local, this.deps.registry, process.env, true)).map(problemText));
    const startProblems = (await checkBeyondSchema(local, this.deps.registry, process.env, true)).filter((p) => !inForce.has(problemText(p)));
    if (startProblems.length) {
      this.log.warn({ file: path, problems: startProblems }, 'reloadConfig: the next start would refuse this config file; nothing changed');
      return { status: 400, payload: { status: 'rejected', file: path, errors: startProblems.map(problemText) } };
    }
    // The overlay to apply is the twin's if it was read, else the one applied (saved) before.
    const doc = this.desired.document;
    let overlay = doc ? (doc.agentConfig ?? null) : this.applied;
    // The twin's latest document was refused (or rolled back): the overlay in force is an earlier one (review rv158 F2).
    const twinRefused = doc !== null && this.status.status === 'rejected' && this.status.desiredVersion === this.desired.version;
    // Judged against what runs, as the twin path judges it: the same document gets the same answer (review rv83 M1).
    let judged = this.judged(overlay);
    let r = await resolveForApply(local, judged.overlay, this.deps.registry, this.effective);
    let twinRejected: { desiredVersion: number; errors: string[] } | null = null;
    if (!r.ok && twinRefused) {
      // It still does not fit with the edited file: the file is judged with the overlay in force, as a restart would
      // judge it (the saved overlay over the file), so a local fix need not wait for the cloud side to correct a twin
      // change that never took effect. Already counted and warned when the twin sent it.
      twinRejected = { desiredVersion: this.desired.version, errors: r.problems.map(problemText) };
      overlay = this.applied;
      judged = this.judged(overlay);
      r = await resolveForApply(local, judged.overlay, this.deps.registry, this.effective);
    }
    if (!r.ok) {
      this.warnDowngrades(r, twinRejected ? this.appliedVersion : doc ? this.desired.version : this.status.desiredVersion);
      const withWhat = twinRejected ? (overlay ? `with the overlay in force (desired version ${this.appliedVersion}): ` : '') : "with the twin's agentConfig: ";
      return {
        status: 400,
        payload: { status: 'rejected', file: path, errors: r.problems.map((p) => `${withWhat}${problemText(p)}`), ...(twinRejected && { twinRejected }) },
      };
    }
    const outcome = await this.switchTo(r.config);
    if (!outcome.ok) return { status: 400, payload: { status: 'rejected', file: path, errors: outcome.errors } };
    this.rolledBack = null;
    this.local = local;
    this.ignored = judged.ignored;
    if (doc && !twinRejected) {
      this.applied = isObject(overlay) ? overlay : null;
      this.appliedVersion = this.desired.version;
      this.persist(this.applied, this.desired.version);
    }
    this.deps.host.configChanged?.(this.effective, this.ignored);
    const at = new Date(this.now()).toISOString();
    const pending = outcome.pendingRestart.length ? { pendingRestart: outcome.pendingRestart } : {};
    if (twinRejected) {
      // The status stays about the twin's latest version, still refused (its reasons with the edited file); not
      // counted again, and not again at the next read of the same document (refusedDoc).
      const source = this.applied ? this.status.source : 'local';
      this.status = { status: 'rejected', desiredVersion: twinRejected.desiredVersion, source, at, errors: twinRejected.errors, ...pending };
      this.refusedDoc = { version: twinRejected.desiredVersion, overlay: canonical(doc?.agentConfig ?? null) };
    } else {
      this.status = {
        status: 'applied',
        desiredVersion: doc ? this.desired.version : this.status.desiredVersion,
        source: this.applied ? (doc ? 'twin' : 'saved-overlay') : 'local',
        at,
        ...pending,
      };
    }
    this.log.info(
      { file: path, desiredVersion: this.appliedVersion, stopped: outcome.stopped, started: outcome.started, pendingRestart: outcome.pendingRestart, ...(twinRejected && { twinRejected }) },
      twinRejected ? "configuration reloaded with the overlay in force; the twin's latest desired version stays refused" : 'configuration reloaded',
    );
    this.warnConfig({ file: path });
    this.enqueue(() => this.report(true));
    return {
      status: 200,
      payload: {
        status: 'applied',
        file: path,
        desiredVersion: this.appliedVersion,
        stopped: outcome.stopped,
        started: outcome.started,
        pendingRestart: outcome.pendingRestart,
        ...(twinRejected && { twinRejected }),
      },
    };
  }

  private replay(payload: unknown): MethodResult {
    const range = parseReplayRange(payload, this.now());
    if ('error' in range) return { status: 400, payload: { error: range.error } };
    let r: { messages: number; records: number };
    try {
      r = this.deps.host.replay(range.fromMs, range.toMs);
    } catch (err) {
      if (!(err instanceof ReplayRefusedError)) throw err;
      this.log.warn({ from: new Date(range.fromMs).toISOString(), to: new Date(range.toMs).toISOString(), reason: err.message }, 'replay refused');
      return { status: 409, payload: { error: err.message } };
    }
    this.log.info({ from: new Date(range.fromMs).toISOString(), to: new Date(range.toMs).toISOString(), ...r }, 'replay: acknowledged messages re-queued');
    return {
      status: 200,
      payload: {
        from: new Date(range.fromMs).toISOString(),
        to: new Date(range.toMs).toISOString(),
        ...r,
        retainSentHours: this.effective.store.retainSentHours,
      },
    };
  }

  private captureDiagnostics(): MethodResult {
    const bundle = buildDiagnostics(
      {
        agent: { version: AGENT_VERSION, node: process.version, gatewayId: this.deps.host.gatewayId, startedAt: this.startedAt, pid: process.pid },
        health: this.deps.host.health(),
        config: this.effective,
        configStatus: this.configStatus,
        overlay: this.applied,
        logLines: logRingOf(this.deps.log)?.recent() ?? [],
        now: this.now(),
      },
      this.opts.diagnosticsMaxBytes,
    );
    return { status: 200, payload: bundle };
  }
}

function withoutDollarKeys(o: Record<string, unknown>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (!k.startsWith('$')) out[k] = v as Json;
  return out;
}
