// The agent: builds the pipeline from a validated config and runs it.
//   drivers → ingest (normalise, group commit) → outbox (SQLite) → forwarder → IoT Hub
//                                    ↘ listeners (alarms, display, model) after commit (or after the store refused it)
import { hostname } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { basename, resolve } from 'node:path';
import type { Logger } from 'pino';
import { flushLogSync } from './log.js';
import type { AgentConfig, ConfigProblem } from './config/load.js';
import { requireSecret } from './config/load.js';
import { Ingest } from './ingest.js';
import { SeenDevices } from './seen-devices.js';
import { declareDriverCounters, declareSourceCounters, declareWatchedCounters, Metrics } from './metrics.js';
import { Outbox, RESERVE_BYTES, ROW_MAX_BYTES, type EvictionTally, type LimitsReport, type RecordClass, type SalvageEvent, type SalvageResult, type StoredLoss } from './store/outbox.js';
import { Forwarder, SUSPECT_RETRY } from './forward/forwarder.js';
import { SDK_SEND_TIMEOUT_MS, type HubTransport } from './forward/azure.js';
import { AUTO_HUB_VARIABLES, chooseTransport } from './forward/choose.js';
import { bedOverrideKeys, unmatchedBedOverrides, type BedOverrideKey, type UnmatchedBedOverride } from './config/bed-overrides.js';
import type { Driver, DriverFactory, DriverHealth, DriverWarning } from '../drivers/types.js';
import type { DriverEvent } from './model/reading.js';
import { AlarmEngine, NEW_EPISODE_AFTER_MS, type RestoredAcknowledgement } from './alarms/engine.js';
import { AlarmService } from './alarms/service.js';
import { isUnacknowledged } from './alarms/lifecycle.js';
import { GATEWAY_BED, type AlarmStateChange } from './alarms/types.js';
import { acknowledgedBeforeRestart, formerAlarm, openAlarmNotes, restartList } from './alarms/open-notes.js';
import { alarmChangeRecord } from './forward/wire.js';
import { pseudonymizer } from './privacy.js';
import { storeVolumeEncryption } from './store/volume.js';
import { engineConfigFromPolicy, limitRangeWarnings } from './config/alarm-policy.js';
import { DisplayServer } from './http/server.js';
import { moduleLoopbackDisplay } from './config/check.js';
import type { DriverEntry } from './config/load.js';
import { AgentControl, beginStartup, decideStartup, type StartupDecision } from './control/control.js';
import { attachEdgeModel, type LiveModel, type ModelStatus } from './inference/live.js';

export interface AgentDeps {
  config: AgentConfig;
  registry: ReadonlyMap<string, DriverFactory>;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Tests and benchmarks may supply their own uplink. */
  transport?: HubTransport | null;
  /** The config file the config came from, for the `reloadConfig` direct method. */
  configPath?: string;
  /** For tests: how long a per-bed setting's bed may stay unheard of (default BED_OVERRIDE_GRACE_MS). */
  bedSettingsGraceMs?: number;
  /**
   * What to do with the saved twin overlay, decided by main.ts on this `config` (and judged there before anything
   * opened); decided here when absent.
   */
  startup?: StartupDecision;
}

/** A display certificate this close to its end raises a gateway alarm (it is warned about at start from 30 days). */
const CERT_ALARM_DAYS = 14;

/** How long stopping a driver waits for its start in progress to end. */
const DRIVER_START_WAIT_MS = 5000;

/** The gateway alarm 'disk-full-at-start': the store opened on its reserve, or gave it up while running. */
const DISK_FULL_ON_RESERVE = 'Gateway disk full: the store runs on its small reserve; readings will soon not be kept. Free disk space';
/** ...or opened with no reserve left, in exclusive locking mode (Outbox.open, noRoom; review rv100 H2). */
const DISK_FULL_NO_RESERVE =
  'Gateway disk full at start, no reserve left: the store takes no data until disk space is freed, and --refused list cannot read it until the agent restarts. Free disk space';
/** Capacity of a store in memory (noRoom 'memory'): a backlog of a hub outage must not take the gateway's RAM. */
const MEMORY_STORE_MAX_BYTES = 64 * 1024 * 1024;
/** The gateway alarm 'store-in-memory' (Outbox.open, noRoom 'memory'). */
const STORE_IN_MEMORY_TEXT =
  'Gateway store cannot be opened (disk full): running on a store in memory that takes no data (readings are shown and alarmed here, not kept or forwarded; HL7 senders are told to resend) and the stored backlog is not sent. Free disk space and restart the agent';
/** ...and its text for a failing disk (Outbox.open, diskError): freeing space would not help it. */
const storeFailingDiskText = (code: string) =>
  `Gateway store cannot be opened (disk failing, ${code}): running on a store in memory that takes no data (readings are shown and alarmed here, not kept or forwarded; HL7 senders are told to resend) and the stored backlog is not sent. Check the disk and restart the agent`;
/** ...and for a store on a filesystem mounted read-only (diskError.readOnly; review rv133 H2): no permission would help. */
const storeReadOnlyDiskText = (code: string) =>
  `Gateway store disk is read-only (filesystem error?, ${code}): running on a store in memory that takes no data (readings are shown and alarmed here, not kept or forwarded; HL7 senders are told to resend) and the stored backlog is not sent. Check the disk and restart the agent`;

/**
 * What a damaged store's salvage (Outbox.open, salvage.ts) got into the fresh store, for its log line and alarm: records
 * copied, and the stored rows (one or more records each) that could not be read, or that their number is unknown.
 */
function salvageText(s: SalvageResult | null, movedTo: string): string {
  if (!s) return 'nothing of it was salvaged (no store on disk to copy into): its unsent data is only in that file (README: Damaged store)';
  // Not a loss yet (review rv189 M3): the note is kept, and the salvage goes on once the file is back.
  if (s.missing) {
    return `the salvage was cut short by a stop and cannot go on: the damaged file it copies from is missing (moved or deleted); ${s.already} unsent records were copied before the stop, the rest is not: put it back at ${movedTo} and restart the agent`;
  }
  const lost = s.unknown
    ? `${s.failedRows > 0 ? `${s.failedRows} stored row${s.failedRows === 1 ? '' : 's'} and an unknown number more` : 'an unknown number'} could not be read`
    : `${s.failedRows} stored row${s.failedRows === 1 ? '' : 's'} could not be read`;
  const rest = s.unfinished ? 'the rest is still in the old file, and the next start copies it once the disk has room' : 'the rest is still in the old file';
  const stopped = s.error ? `; the copy stopped early (${s.error}): ${rest}` : '';
  const copied = `${s.records} unsent record${s.records === 1 ? '' : 's'} salvaged into the new store`;
  // A salvage a stop cut short (review rv186 H1): what the stopped start had copied is there too, counted apart.
  if (s.resumed) return `the salvage was cut short by a stop and resumed: ${copied} at this start (${s.already} before the stop), ${lost}${stopped}`;
  return `${copied}, ${lost}${stopped}`;
}

/** How long a salvage takes, as measured (README, Damaged store): said in its first log line. */
const SALVAGE_PACE = 'about 60 to 90 s per GB on a 2-core gateway';

/**
 * The salvage's log lines while it runs (Outbox.open's onSalvage; review rv186 M1): it runs before the agent starts (no
 * display, no bedside alarms meanwhile), about a minute per GB (SALVAGE_PACE), so its start and progress are said.
 */
function logSalvage(log: Logger, store: string, e: SalvageEvent): void {
  if (e.kind === 'progress') {
    const before = e.already > 0 ? ` (and ${e.already} before the stop)` : '';
    log.info({ store, ...e }, `salvaging the damaged store file: ${e.records} unsent records copied so far${before}`);
  } else {
    const size = `${(e.bytes / 2 ** 20).toFixed(1)} MiB`;
    const wait = `before the agent starts (the display, alarms and ingest wait for it; ${SALVAGE_PACE}, progress every 5 s); a stop meanwhile loses nothing, the next start resumes it`;
    log.warn(
      { store, movedTo: e.movedTo, bytes: e.bytes, resumed: e.resumed },
      e.resumed
        ? `resuming the salvage of the damaged store file ${e.movedTo} (${size}) that a stop cut short, ${wait}`
        : `store file is damaged: moved aside to ${e.movedTo}; salvaging what can be read of it (${size}) into a fresh store ${wait}`,
    );
  }
  // The salvage blocks the event loop that writes the log: written now, or nothing shows until it ends.
  flushLogSync(log);
}

/** Gateway alarms that report lost data: latched, and raised again after a restart until acknowledged. */
const LOSS_KEYS = ['store-evicted', 'store-unreadable', 'alarm-journal-lost', 'alarms-open-at-restart', 'store-recovered', 'record-dropped', 'store-refused-trimmed', 'store-refusing'] as const;
type LossKey = (typeof LOSS_KEYS)[number];

/** The notes the previous run left, or null when the store cannot give them (then the start says so). */
function readOpenAlarmNotes(outbox: Outbox, log: Logger): Map<string, string> | null {
  try {
    return outbox.openAlarmNotes();
  } catch (err) {
    log.error({ err }, 'cannot read which alarms were open before the restart');
    return null;
  }
}

export class Agent {
  readonly metrics = new Metrics();
  readonly outbox: Outbox;
  readonly ingest: Ingest;
  readonly forwarder: Forwarder | null;
  /** The forwarder's uplink, cut first at stop (stop()). */
  private readonly hubTransport: HubTransport | null;
  /** Why forwarding is off, for /healthz; noHubFound when hub.mode auto found no hub (review rv119 L1). */
  private readonly forwardingOff: { why: string; noHubFound?: string } | null;
  readonly alarms: AlarmService;
  readonly gatewayId: string;
  /** The bedside display and local HTTP API; null when display.enabled is false. */
  readonly display: DisplayServer | null;
  readonly site: string | undefined;
  private healthTimer: NodeJS.Timeout | null = null;
  private limitsTimer: NodeJS.Timeout | null = null;
  /** The store's next eviction slice (an eviction larger than one call's slice goes on at once, not in 10 s). */
  private limitsSlice: NodeJS.Immediate | null = null;
  private starting: Promise<void> | null = null;
  /** Driver starts in progress, by driver name (settled: they never reject). */
  private readonly driverStarts = new Map<string, Promise<void>>();
  /** Drivers whose start failed at boot: tried again with backoff while the rest of the agent runs. */
  private readonly failedStarts = new Map<string, { entry: DriverEntry; detail: string; attempts: number; timer: NodeJS.Timeout | null }>();
  private stopRequested = false;
  /** Resolves once a stop has committed and journalled everything local: what remains of it waits on the network. */
  private localWorkDone!: () => void;
  readonly localStopDone = new Promise<void>((resolve) => (this.localWorkDone = resolve));
  /** Loss notes the store could not take (a full disk): written again at each check until their alarm is acknowledged. */
  private readonly unnotedLosses = new Map<LossKey, StoredLoss>();
  /** Damaged store files moved aside that the store-recovered alarm names at start (this start's, and earlier unreported ones). */
  private readonly corruptFiles: string[] = [];
  /** Whether corruptFiles are noted in the store as reported (markCorruptNoted). */
  private corruptNoted = false;
  /** The files this start moved aside or salvaged, and what of each was salvaged into the fresh store (said in the store-recovered alarm). */
  private readonly salvaged: { movedTo: string; text: string }[] = [];
  /** Open-alarm notes not yet in the store (it refused them): the latest per alarm, written at the next chance. */
  private readonly pendingNotes = new Map<string, string | null>();
  /** Whether the previous run's open alarms were closed for the cloud (closeOpenBeforeStart). */
  private formerClosed = false;
  /** The patient-id pseudonymiser where configured: notes of open alarms keep no raw id (review rv188 M3). */
  private pseudonym: ((patientId: string) => string) | undefined;
  /** Their notes are to go (the list noted or acknowledged), but the store refused: tried again at each check. */
  private formerNotesToClear = false;
  private notesFailing = false;
  /**
   * Drivers (entry names) whose patients are made up (DriverFactory.simulated), and the devices heard through them:
   * their alarms get no open-alarm note, which a restart would list as "check the bedside" (review rv119 H1).
   */
  private readonly simulatedSources = new Set<string>();
  private readonly simulatedDevices = new Set<string>();
  /** The type each driver name's metric series were declared for: see startDriver and forgetDriversOff. */
  private readonly seriesTypes = new Map<string, string>();
  /**
   * Beds heard of only through simulated drivers: the agent's own per-bed alarms there (NEWS2, device id
   * `agent:news2`) are about made-up patients too (review rv122 M1). A bed a real device also feeds is not one.
   */
  private readonly simulatedBeds = new Set<string>();
  private readonly realBeds = new Set<string>();
  /** Devices heard through real drivers: one a simulator also names is not taken as simulated (review rv124 M2). */
  private readonly realDevices = new Set<string>();
  /** Notes of the alarms the previous run left open (by alarm id), read before anything new is journalled. */
  private readonly openBeforeStart: Map<string, string> | null;
  private evicting = false;
  private readonly seenDevices = new SeenDevices();
  /** Evictions reported (logged, counted, alarmed) that the store has not yet taken off its tally: not reported twice. */
  private reportedEvictions: EvictionTally | null = null;
  /** The last report of an eviction going on in slices, its evictions not reported yet (reported when done). */
  private evictionDeferred: LimitsReport | null = null;
  private unreadableAlarm = false;
  /** Messages set aside as refused by the hub when last alarmed ('messages/records'), or null with none kept. */
  private refusedAlarm: string | null = null;
  /** Messages the hub has refused repeatedly for a while (forwarder.refusedRepeatedly) when last alarmed. */
  private repeatedAlarm = 0;
  /** Unreadable records reported (logged, counted, alarmed) that the store has not yet settled: not reported twice. */
  private reportedUnreadable = 0;
  /** Trimmed messages set aside this run reported and could not settle in the store yet (their record count). */
  private reportedRefusedTrimmed = 0;
  /** Store checks failed in a row (other than a full disk), and whether the gateway alarm for it is up. */
  private checkFailures = 0;
  private checkFailingAlarm = false;
  /** The store cannot record the hub's acknowledgements: forwarding has stopped (a failing or read-only disk). */
  private ackWriteAlarm = false;
  /** The display certificate's gateway alarm: up for one expiring within CERT_ALARM_DAYS, or expired. */
  private certificateAlarm: 'expiring' | 'expired' | null = null;
  /** The configuration's gateway alarms up (configAlarms), by condition key. */
  private readonly configAlarmKeys = new Set<string>();
  /** Out-of-range limits of a change pending restart last logged (configAlarms), '' for none: logged once each. */
  private pendingLimitNote = '';
  /** Fields of the saved twin overlay left out at start (agent/control: withoutRefusedFields). */
  private readonly startIgnored: readonly ConfigProblem[];
  /** The store cannot prepare messages for the hub: forwarding has stopped (forwarder.packFailing). */
  private packFailAlarm = false;
  /** The alarm-journal condition is raised; dropped changes already alarmed. */
  private journalHeld = false;
  private journalDropped = 0;
  private journalRefused = 0;
  private readonly drivers = new Map<string, Driver>();
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  /** Per-bed alarm settings, the beds seen since start, and the settings no seen bed has (said once each). */
  private readonly bedOverrides: BedOverrideKey[];
  private readonly seenBeds = new Set<string>();
  private readonly unmatchedBeds = new Map<string, UnmatchedBedOverride>();
  /** The store opened on its reserve (a full disk) and the disk has not had room for a new one since. */
  private reserveInUse = false;
  /** The text of the disk-full alarm while reserveInUse: another one when the store opened with no reserve left. */
  private diskFullText = DISK_FULL_ON_RESERVE;
  /** The store could not be opened at all (a full disk, no reserve; a failing disk): the agent runs on one in memory (review rv100 H2). */
  private storeInMemory = false;
  /** The text of the 'store-in-memory' alarm: why the store could not be opened. */
  private storeInMemoryText = STORE_IN_MEMORY_TEXT;
  /**
   * Drivers degraded in themselves (checkDriversThemselves), with a gateway alarm up: the selfFault it was raised for,
   * or null when raised for a degraded driver with no devices.
   */
  private readonly degradedDrivers = new Map<string, string | null>();
  /** Module twin and direct methods (agent/control); null when forwarding or control is off. */
  readonly control: AgentControl | null = null;
  /** The edge alarm-validation model (agent/inference/live.ts). */
  readonly edgeModel: LiveModel;

  constructor(private readonly deps: AgentDeps) {
    const { log } = deps;
    this.log = log;
    // The hub, the gateway and the store come from the local file: the twin cannot change them (agent/control). The
    // store is opened (and its lock taken) before anything beside it is read or written: a second agent that the lock
    // refuses (an old container still running during an update) must not count as a failed start with the saved
    // overlay (review rv41 §1: three refusals in a row set the hub's configuration aside).
    const local = deps.config;
    const env = deps.env ?? process.env;
    if (deps.startup && deps.startup.local !== local) throw new Error('the startup decision was made on another config');
    const { transport, why, noHubFound } =
      deps.transport !== undefined ? { transport: deps.transport, why: 'supplied', noHubFound: undefined } : chooseTransport(local, env);
    this.forwardingOff = transport ? null : { why, ...(noHubFound !== undefined && { noHubFound }) };
    const hubIdentity = transport?.identity ?? null;
    this.gatewayId = local.gateway.id ?? hubIdentity?.replace('/', '.') ?? hostname();
    // Said at start: the id goes with every message and the cloud groups and de-duplicates by it (review rv183 L1).
    const gatewayIdFrom =
      local.gateway.id !== undefined ? 'gateway.id' : hubIdentity !== null ? `the hub identity from ${transport?.identityFrom ?? 'the transport'}` : 'the host name';
    log.info({ gatewayId: this.gatewayId, from: gatewayIdFrom }, 'gateway id');

    const storePath = local.store.path === ':memory:' ? ':memory:' : resolve(local.store.path);
    const volume = storeVolumeEncryption(storePath);
    if (local.store.requireEncryptedVolume && volume.state !== 'encrypted') {
      throw new Error(
        `store.requireEncryptedVolume is set but ${storePath} is ${volume.state === 'unknown' ? `on a volume whose encryption cannot be verified (${volume.why})` : `on ${volume.device}, which is not encrypted`}; see docs/security.md`,
      );
    }
    if (volume.state === 'not-encrypted') {
      log.warn({ store: storePath, device: volume.device }, 'store is not on an encrypted volume: data at rest is readable by anyone with the disk (see docs/security.md)');
    } else {
      log.info({ store: storePath, volume }, 'store volume encryption');
    }
    const opened = Outbox.open(storePath, {
      synchronous: local.store.synchronous,
      retainAckedMs: local.store.retainSentHours * 3600_000,
      // Rows well under a message: the last row of a message then leaves at most an eighth of it unused.
      rowMaxBytes: Math.min(ROW_MAX_BYTES, Math.floor(local.hub.maxMessageBytes / 8)),
      onSalvage: (e) => logSalvage(log, storePath, e),
    });
    this.outbox = opened.outbox;
    // Module twin (agent/control): the desired overlay last applied from the twin, saved beside the store,
    // takes effect from the start, before anything else is built from the config.
    const startup = beginStartup(deps.startup ?? decideStartup(local, deps.registry, deps.env ?? process.env), log);
    const config = startup.config;
    declareWatchedCounters(this.metrics);
    this.startIgnored = startup.ignored ?? [];
    for (const p of this.startIgnored) this.metrics.inc('control_overlay_fields_ignored_total', { field: p.path });
    this.bedOverrides = bedOverrideKeys(config.alarms);
    this.deps = { ...deps, config };
    // What follows can still refuse to start (a secret not set, a display certificate that cannot be read): the
    // store is closed then, and the edge model (loading in the background) too, not left open until the process
    // exits (a caller that retries, or a test, would meet a locked file and a stray session).
    let model: LiveModel | undefined;
    try {
      if (opened.reserveReleased) {
        this.reserveInUse = true;
        this.metrics.inc('store_reserve_released_total');
        log.warn(
          { store: storePath, reserveBytes: RESERVE_BYTES },
          'the disk is full: the store\'s reserve file was deleted so that it could open; data is refused until space is freed (the display and alarms run)',
        );
      }
      if (opened.noRoom === 'exclusive') {
        // Alarmed from the first store check, as a start on the reserve, until the disk has room for a new reserve.
        this.reserveInUse = true;
        this.diskFullText = DISK_FULL_NO_RESERVE;
        log.error(
          { store: storePath },
          'the disk is full and the store has no reserve left: opened in exclusive locking mode (no -shm file); data is refused until space is freed (the display and alarms run), and tools (--refused list) cannot read the store until the agent restarts',
        );
      } else if (opened.noRoom === 'memory') {
        this.storeInMemory = true; // alarmed at start
        this.metrics.inc('store_open_in_memory_total', { reason: 'disk-full' });
        log.error(
          { store: storePath },
          'the disk is full and the store cannot be opened: running on an empty store in memory that takes no data (the display and alarms run; senders are told to resend); its file is left as it is. Free disk space and restart the agent',
        );
      }
      for (const r of opened.openRetries) {
        log.warn(
          { store: storePath, code: r.code, freeDiskBytes: r.freeDiskBytes, reason: r.message },
          'the store could not be opened (a disk I/O error with room on the disk): tried again, as it may be transient',
        );
      }
      // Said, not refused: the store opens all the same (review rv119 L3).
      for (const f of this.outbox.fileModeFailures) {
        log.warn(
          { store: storePath, file: f.file, code: f.code },
          `cannot make the store file ${f.file} unreadable by other users (${f.code}): it holds patient ids; run chmod 640 ${f.file} as its owner`,
        );
      }
      if (opened.diskError) {
        // A failing disk (an I/O error with room on it, or a filesystem gone read-only): run as on a full disk with no
        // reserve, so that the bedside display and alarms stay up, but say what it is.
        const { code, freeDiskBytes, message, readOnly } = opened.diskError;
        this.storeInMemory = true; // alarmed at start
        this.storeInMemoryText = readOnly ? storeReadOnlyDiskText(code) : storeFailingDiskText(code);
        this.metrics.inc('store_open_in_memory_total', { reason: readOnly ? 'read-only' : 'disk-error' });
        log.error(
          { store: storePath, code, freeDiskBytes, reason: message },
          readOnly
            ? "the store's disk is read-only (its filesystem is mounted read-only, as Linux does after a disk error) and the store cannot be opened: running on an empty store in memory that takes no data (the display and alarms run; senders are told to resend); its file is left as it is. Check the disk and restart the agent"
            : "the store's disk is failing (an I/O error with room on the disk) and the store cannot be opened: running on an empty store in memory that takes no data (the display and alarms run; senders are told to resend); its file is left as it is. Check the disk and restart the agent",
        );
      }
      this.openBeforeStart = readOpenAlarmNotes(this.outbox, log);
      // One moved file, or more (a fresh store damaged during a resume, or salvages a stop kept from being reported: review rv189 M2, L3).
      for (let r = opened.recovered; r; r = r.then) {
        const { movedTo, reason, salvage } = r;
        const text = salvageText(salvage, movedTo);
        this.salvaged.push({ movedTo, text });
        this.metrics.inc('store_recovered_total');
        // What a resumed salvage copied before the stop too (review rv189 L4): the stopped start counted nothing.
        this.metrics.inc('store_salvaged_records_total', undefined, (salvage?.records ?? 0) + (salvage?.already ?? 0));
        this.metrics.inc('store_salvage_failed_rows_total', undefined, salvage?.failedRows ?? 0);
        log.error(
          { store: storePath, movedTo, reason, salvage, salvaged: text },
          salvage?.resumed
            ? 'a salvage of a damaged store file cut short by a stop was resumed: its result'
            : 'store file was damaged: moved aside for inspection, started a fresh store',
        );
        if (!this.corruptFiles.includes(movedTo)) this.corruptFiles.push(movedTo);
      }
      // Damaged files moved aside not noted as reported (review rv105 H2): one moved while the store ran in memory had
      // its loss noted there only, and the restart lost it. Reported now as the start that moved it. Why one has no
      // note cannot be known here (a store in memory, a note that failed, an older agent, a list unreadable).
      const earlier = this.unreportedCorruptFiles().filter((f) => !this.corruptFiles.includes(f));
      if (earlier.length > 0) {
        log.error({ store: storePath, files: earlier }, 'damaged store files moved aside earlier have no note that they were reported: alarmed now');
        this.corruptFiles.push(...earlier);
      }
      if (this.corruptFiles.length > 0) {
        // Noted in the fresh store at once: a restart before someone acknowledged it (even a start that fails
        // further on) raises it again, though nothing else there says the old file holds unsent data.
        this.noteLoss('store-recovered', { text: this.storeRecoveredText(), priority: 'medium', at: Date.now() });
      }
      this.forwarder = transport
        ? new Forwarder(
            this.outbox,
            transport,
            {
              gatewayId: this.gatewayId,
              maxMessageBytes: config.hub.maxMessageBytes,
              batchDelayMs: config.hub.batchDelayMs,
              sendTimeoutMs: Math.min(config.hub.sendTimeoutMs, SDK_SEND_TIMEOUT_MS),
              retry: config.hub.retry,
              maxInFlight: config.hub.maxInFlight,
              encoding: config.hub.encoding,
              compression: config.hub.compression,
            },
            log.child({ component: 'forwarder' }),
            this.metrics,
          )
        : null;
      this.hubTransport = transport;
      const privacy = config.privacy;
      const pseudonym = privacy.pseudonymizePatientIds ? pseudonymizer(requireSecret(privacy.pseudonymKey ?? '', 'privacy.pseudonymKey', env)) : undefined;
      this.pseudonym = pseudonym;
      // The alarm policy also holds the devices' configured beds as used (a configured "*" is none): ingest and the
      // expected devices below take them from it, not from the file.
      const policy = engineConfigFromPolicy(config.alarms);
      const configuredDevices = policy.technical.devices ?? {};
      this.ingest = new Ingest(
        this.outbox,
        {
          commitIntervalMs: config.store.commitIntervalMs,
          forwardWaveforms: config.hub.forwardWaveforms,
          ...(pseudonym && { patientId: pseudonym }),
          bedOf: (deviceId) => configuredDevices[deviceId]?.bed,
        },
        log.child({ component: 'ingest' }),
        this.metrics,
        () => this.forwarder?.notify(),
      );
      // Alarm ids must never repeat, across gateways and runs: prefix with the gateway id, the start time and the run's
      // random id (as in its message ids): two starts in the same ms (a box without an RTC) gave the same ids (rv187 L1).
      const engine = new AlarmEngine({
        ...policy,
        // The NEWS2 observations note is stored: its patient ids go through the same pseudonymiser as the records.
        news2: { ...policy.news2, ...(pseudonym && { storedPatientId: pseudonym }) },
        technical: { ...policy.technical, gatewayId: this.gatewayId }, // its store and hub alarms (review rv187 L2)
        // Restored acknowledgements are compared with the note's patient, which is stored pseudonymised (rv188 M3).
        ...(pseudonym && { patientKey: pseudonym }),
        idPrefix: `${this.gatewayId}-${Date.now().toString(36)}-${this.outbox.runId}`,
      });
      this.alarms = new AlarmService(
        engine,
        (changes) => {
          this.outbox.append(
            // A closing record's patient is pseudonymised already (formerAlarm; its note keeps no raw id; rv187 M2, rv188 M3).
            changes.map((c) => ({ stream: 'alarms', cls: 0, deviceId: c.alarm.deviceId, body: JSON.stringify(alarmChangeRecord(c, this.alarms.isClosingRecord(c) ? undefined : pseudonym)) })),
          );
          // Changes raised outside ingest (gateway conditions, engine ticks: "no data", a delayed limit alarm, an
          // acknowledgement) wake the forwarder too; on an idle gateway they waited for the next reading (rv96 H1).
          this.forwarder?.notify();
        },
        log.child({ component: 'alarms' }),
        this.metrics,
        Date.now,
        () => performance.now(),
        this.gatewayId, // the clock step's alarm is the gateway's, as every gateway alarm (review rv185 L2)
      );
      // Devices the config says should be sending: their silence counts from now, even if they never send.
      for (const [deviceId, d] of Object.entries(configuredDevices)) engine.expectDevice(deviceId, Date.now(), d.bed);
      // ...and so are the devices heard from before a restart, through drivers still configured: a feed that does not
      // come back after an update is reported like one that goes silent.
      this.expectSeenBeforeRestart(engine);
      // Before any driver starts: a device's first repeat of an alarm acknowledged before the restart must find it.
      this.restoreAcknowledgedBeforeStart(engine);
      this.restoreNews2Observations(engine, pseudonym !== undefined);
      // Where to keep them first: a level dropped at restore (note too old) is then removed from the note at once,
      // not reported again at each restart until the next save.
      this.alarms.keepObservationsIn((all) => this.outbox.setNote('news2-observations', JSON.stringify(all)));
      this.alarms.news2Counts(); // observations that cannot be restored (key changed, pseudonyms off): told at start
      this.ingest.subscribe((events) => this.seenDevices.note(events, Date.now()));
      if (this.bedOverrides.length) {
        this.ingest.subscribe((events) => {
          for (const e of events) if (e.bed !== undefined && this.seenBeds.size < MAX_SEEN_BEDS) this.seenBeds.add(e.bed);
        });
      }
      this.ingest.subscribe((events) => {
        // On every commit, simulated drivers or not: a simulator entry replaced live by a real driver of the same name
        // leaves none, and its beds must still turn real with the first real event (review rv123 H1).
        const turnedReal = { devices: new Set<string>(), beds: new Set<string>() };
        for (const e of events) {
          const simulated = this.simulatedSources.has(e.source);
          // Once real, never taken as simulated again; with the list full, none is: erring toward notes (review rv124 L).
          if (!simulated) {
            if (this.realDevices.size < MAX_SEEN_BEDS) this.realDevices.add(e.deviceId);
            if (this.simulatedDevices.delete(e.deviceId)) turnedReal.devices.add(e.deviceId);
          } else if (!this.realDevices.has(e.deviceId) && this.realDevices.size < MAX_SEEN_BEDS) this.simulatedDevices.add(e.deviceId);
          if (e.bed === undefined) continue;
          if (!simulated) {
            if (this.realBeds.size < MAX_SEEN_BEDS) this.realBeds.add(e.bed);
            if (this.simulatedBeds.delete(e.bed)) turnedReal.beds.add(e.bed);
          } else if (!this.realBeds.has(e.bed) && this.realBeds.size < MAX_SEEN_BEDS && this.simulatedBeds.size < MAX_SEEN_BEDS) this.simulatedBeds.add(e.bed);
        }
        if (turnedReal.devices.size || turnedReal.beds.size) this.noteTurnedReal(turnedReal.devices, turnedReal.beds);
      });
      this.ingest.subscribe((events) => this.alarms.handle(events));
      // The store refusing data (disk full, I/O errors) is a loss of the record and of the uplink, though readings are
      // still shown and alarmed here: medium, latched (what was refused is gone even once space returns), and raised
      // again after a restart until acknowledged, as the other losses (review rv185 L4: a restart dropped it unsaid).
      this.ingest.onStoreState((refusing) => {
        if (!refusing) {
          this.alarms.gatewayCondition(this.gatewayId, 'store-refusing', false, 'the store takes data again');
          return;
        }
        const why = refusing.reason === 'SQLITE_FULL' ? 'disk full' : refusing.reason.startsWith('SQLITE_IOERR') ? `disk I/O error, ${refusing.reason}` : refusing.reason;
        // Noted as a past refusal, from when it began: a restart raises it again whatever the store does by then
        // (review rv187 L4: it read "cannot" while the store took data).
        const past = `Gateway could not store data (${why}) from ${new Date(refusing.since).toISOString()}: readings in that time were shown and alarmed here but not kept or forwarded`;
        this.raiseLoss('store-refusing', `Gateway cannot store data (${why}): readings are shown and alarmed here but not kept or forwarded`, 'medium', undefined, past);
      });
      // A record too large to store (an alarm text of 250 kB) is a loss: latched, and raised again after a restart.
      this.ingest.onRecordDropped((d) => {
        this.raiseLoss('record-dropped', `Gateway dropped a record of ${Math.round(d.bytes / 1000)} kB (${d.kind}, ${d.deviceId}) over the store's ${Math.round(d.limitBytes / 1000)} kB limit: shown and alarmed here, not kept or forwarded`, 'medium');
      });
      // Which alarms are open, noted as they change (not with the journal: a journal that waits for the store
      // holds its changes back, and a restart meanwhile must still list them).
      this.alarms.subscribe((changes) => {
        // Who acknowledged an alarm from the engine: a later change of it (a lower priority) rewrites its note (rv104 L2).
        const real = this.simulatedDevices.size
          ? changes.filter((c) => !this.simulatedDevices.has(c.alarm.deviceId) && !(c.alarm.deviceId.startsWith('agent:') && this.simulatedBeds.has(c.alarm.bed)))
          : changes;
        for (const [id, note] of openAlarmNotes(real, (alarmId) => this.alarms.engine.acknowledgedBy(alarmId), pseudonym)) this.pendingNotes.set(id, note);
        this.writeOpenAlarmNotes();
      });
      // A loss alarm acknowledged (or resolved, which needs an acknowledgement): its note in the store goes.
      this.alarms.subscribe((changes) => {
        for (const c of changes) {
          const key = c.alarm.key.slice('gateway:'.length) as LossKey;
          if ((c.change !== 'acknowledged' && c.to !== 'resolved') || c.alarm.bed !== GATEWAY_BED || !LOSS_KEYS.includes(key)) continue;
          this.unnotedLosses.delete(key);
          // The list seen: its alarms are closed for the cloud and their notes go, though the store never took the
          // list's note (review rv187 M3: they stayed open in the cloud, and the next start listed them again).
          if (key === 'alarms-open-at-restart') this.clearOpenBeforeStart(c.alarm.id);
          if (key === 'store-recovered') this.markCorruptNoted();
          try {
            this.outbox.clearLoss(key);
          } catch (err) {
            this.log.error({ err, alarm: key }, 'cannot clear the loss noted in the store: it will be raised again after a restart');
          }
        }
      });
      this.edgeModel = model = attachEdgeModel(this, config.model, log.child({ component: 'model' }));
      // The process's memory, for an operator to watch against the module's limits: the heap is capped by the
      // module's --max-old-space-size (the limit, as V8 reports it); a heap that reached it would end the process.
      this.metrics.gauge('process_resident_memory_bytes', () => process.memoryUsage.rss());
      this.metrics.gauge('heap_used_bytes', () => process.memoryUsage().heapUsed);
      // What V8 holds beside what is in use (heap_total), and memory outside the heap that JS objects own (Buffers,
      // typed arrays): with RSS, they tell a growing heap from native memory (SQLite, onnxruntime) when RSS grows.
      // The main thread's only: the model's worker thread has a heap of its own.
      this.metrics.gauge('heap_total_bytes', () => process.memoryUsage().heapTotal);
      this.metrics.gauge('external_memory_bytes', () => process.memoryUsage().external);
      this.metrics.gauge('heap_limit_bytes', () => getHeapStatistics().heap_size_limit);
      this.metrics.gauge('store_pending_records', () => this.outbox.pending('telemetry').records, { stream: 'telemetry' });
      this.metrics.gauge('store_pending_records', () => this.outbox.pending('alarms').records, { stream: 'alarms' });
      // store_pending_records leaves out records already packed into messages the hub has not acknowledged (a window in
      // flight, a replay's copies, messages packed before a restart): these say the rest of the backlog (review rv87 L1).
      // A store that cannot be read gives NaN, not a failed scrape.
      const orNaN = (read: () => number) => () => {
        try {
          return read();
        } catch {
          return Number.NaN;
        }
      };
      for (const stream of ['alarms', 'telemetry'] as const) {
        this.metrics.gauge('store_unacked_messages', orNaN(() => this.outbox.unackedMessages()[stream]), { stream });
      }
      this.metrics.gauge(
        'store_oldest_pending_age_seconds',
        orNaN(() => {
          const at = this.outbox.oldestPendingAt();
          return at === null ? 0 : Math.max(0, Math.round((Date.now() - at) / 1000));
        }),
      );
      const forwarding = this.forwarder;
      if (forwarding) this.metrics.gauge('forward_hub_reachable', () => (forwarding.reachable() ? 1 : 0));
      this.metrics.declare('store_refused_trimmed_total'); // scraped at 0, so an alert on its first rise fires
      this.site = config.gateway.site;
      this.display = config.display.enabled ? new DisplayServer(config.display, this, log.child({ component: 'display' })) : null;
      if (!this.display) log.info('display is off (display.enabled: false): no bedside page, no /healthz or /metrics');
      // The display ages values on the wall clock: a step of it moves them as the alarm timers (review rv147 F2).
      const ward = this.display?.ward;
      if (ward) this.alarms.onClockStep((deltaMs, at) => ward.shiftClock(deltaMs, at));

      log.info(
        {
          gatewayId: this.gatewayId,
          store: storePath,
          storeId: this.outbox.storeId,
          runId: this.outbox.runId,
          synchronous: config.store.synchronous,
          pending: { telemetry: this.outbox.pending('telemetry').records, alarms: this.outbox.pending('alarms').records },
          unackedMessages: this.outbox.unackedMessages(),
        },
        'store opened',
      );
      if (transport?.setControl && config.control.enabled) {
        this.control = new AgentControl(
          { host: this.controlHost(), registry: deps.registry, log, metrics: this.metrics, startup, storePath, models: () => this.edgeModel.report(), ...(deps.configPath && { configPath: deps.configPath }) },
          config.control,
        );
        transport.setControl(this.control, { twinTimeoutMs: config.control.twinTimeoutMs });
      }
      if (transport) log.info({ hub: transport.description, reason: why }, 'forwarding to IoT Hub is on');
      else if (noHubFound !== undefined) log.warn({ reason: why, lookedFor: AUTO_HUB_VARIABLES }, `forwarding is off: ${noHubFound}. Data is kept in the local store only`);
      else log.warn({ reason: why }, 'forwarding is off: data is kept in the local store only');
    } catch (err) {
      if (model) void model.close().catch(() => undefined);
      this.outbox.close();
      throw err;
    }
  }

  /**
   * Notes in the store that this run is running, and says so if the previous run never cleared its note: it did not
   * stop cleanly (kill -9, power loss, out of memory, a crash). The store itself is safe (WAL); what a driver that
   * does not acknowledge (Modbus, serial, the simulator) had handed over for the next group commit (at most
   * store.commitIntervalMs) was lost with the process (review rv42 §10).
   */
  private markRunning(): void {
    try {
      const before = this.outbox.note('running');
      if (before !== null) {
        this.metrics.inc('agent_unclean_stops_total');
        let previous: unknown = before;
        try {
          previous = JSON.parse(before);
        } catch {
          // an older or damaged note: shown as it is
        }
        this.log.warn(
          { previous },
          'the previous run did not stop cleanly (killed, power loss, out of memory or a crash): what was committed is in the store; readings from drivers that do not acknowledge (Modbus, serial) handed over in its last moments (up to store.commitIntervalMs) are missing',
        );
      }
      this.outbox.setNote('running', JSON.stringify({ startedAt: new Date(this.startedAt).toISOString(), pid: process.pid }));
    } catch (err) {
      this.log.warn({ err }, 'cannot note the start in the store (an unclean stop of this run will not be reported at the next start)');
    }
  }

  private clearRunning(): void {
    try {
      this.outbox.clearNote('running');
    } catch (err) {
      this.log.warn({ err }, 'cannot note the clean stop in the store (the next start will report an unclean stop)');
    }
  }

  /** Keeps the store within capacity and age, and tells the alarm engine how full it is. */
  enforceStoreLimits(): void {
    for (const [key, loss] of this.unnotedLosses) this.noteLoss(key, loss);
    if (this.formerNotesToClear) this.clearOpenBeforeStart();
    this.writeOpenAlarmNotes();
    this.writeSeenDevices();
    const report = this.checkStore();
    if (report) this.reportStore(report);
    else if (this.evictionDeferred) this.reportDeferredEvictions(this.evictionDeferred);
    // Whatever the store check did: alarm changes the store would not take must be alarmed (review rv42 §1).
    this.checkAlarmJournal();
    // An eviction stopped at its slice goes on at the next turn of the event loop: what waited (HL7 ACKs, alarms, the
    // display) runs in between, and the store is under its limit in seconds, not in 10 s steps.
    if (report?.more && !this.limitsSlice && !this.stopRequested) {
      this.limitsSlice = setImmediate(() => {
        this.limitsSlice = null;
        if (!this.stopRequested) this.enforceStoreLimits();
      });
    }
  }

  /**
   * Messages the hub refuses, set aside by the forwarder (the store's table `refused`): one gateway alarm while any is
   * kept, naming how many and what to do; it ends once someone has sent them again or removed them (README).
   */
  private reportRefused(refused: LimitsReport['refused']): void {
    const now = refused.messages > 0 ? `${refused.messages}/${refused.records}` : null;
    if (now === this.refusedAlarm) return;
    this.refusedAlarm = now;
    this.alarms.gatewayCondition(
      this.gatewayId,
      'hub-refused',
      now !== null,
      now !== null
        ? `Hub refuses ${refused.messages} messages (${refused.records} records): set aside in the store, not sent; the rest goes on. List them with the agent's --refused list; README (store and forward) says how to send them again`
        : 'no message set aside as refused by the hub any more',
      'medium',
    );
  }

  /**
   * Messages the hub refuses again and again while it takes others (the forwarder retries them on their own schedule,
   * never sets them aside): one gateway alarm while any has been so for SUSPECT_RETRY.alarmAfterMs (review rv92 H1).
   */
  private reportRefusedRepeatedly(ids: string[]): void {
    if (ids.length === this.repeatedAlarm) return;
    this.repeatedAlarm = ids.length;
    const min = (ms: number) => Math.round(ms / 60_000);
    if (ids.length > 0) this.log.warn({ messages: ids.length, messageIds: ids.slice(0, 20) }, 'the hub refuses these messages again and again; they are retried on their own schedule, the others go on');
    this.alarms.gatewayCondition(
      this.gatewayId,
      'hub-refuses-repeatedly',
      ids.length > 0,
      ids.length > 0
        ? `The hub has refused ${ids.length} message(s) repeatedly for over ${min(SUSPECT_RETRY.alarmAfterMs)} min; they are retried every ${min(SUSPECT_RETRY.maxPauseMs)} min, the rest goes on; see the log (message ids)`
        : 'the hub takes the messages it refused repeatedly, or they are gone',
      'medium',
    );
  }

  /**
   * The store's limits enforced, or null when that failed (a failing or read-only disk, a store damaged while
   * running): counted, logged (the first, then every 30th: every 5 min), and after three failures in a row (30 s) a
   * gateway alarm, since capacity and age are then not kept and the other store reports stop.
   */
  private checkStore(): LimitsReport | null {
    const { maxAgeHours } = this.deps.config.store;
    // A store in memory (a full disk at start) takes RAM: kept small, its evictions counted and alarmed as any.
    const maxBytes = this.storeInMemory ? Math.min(this.deps.config.store.maxBytes, MEMORY_STORE_MAX_BYTES) : this.deps.config.store.maxBytes;
    try {
      const report = this.outbox.enforceLimits(maxBytes, maxAgeHours * 3600_000);
      if (this.checkFailures > 0) this.log.info({ failedChecks: this.checkFailures }, 'store check works again');
      this.checkFailures = 0;
      if (this.checkFailingAlarm) {
        this.checkFailingAlarm = false;
        this.alarms.gatewayCondition(this.gatewayId, 'store-check', false, 'the store check works again');
      }
      return report;
    } catch (err) {
      this.checkFailures++;
      this.metrics.inc('store_check_failures_total');
      if (this.checkFailures % 30 === 1) this.log.error({ err, failedChecks: this.checkFailures }, 'cannot enforce store limits (capacity and age are not kept while this lasts)');
      if (this.checkFailures >= 3 && !this.checkFailingAlarm) {
        this.checkFailingAlarm = true;
        const code = (err as { code?: unknown }).code;
        const why = typeof code === 'string' ? code : (err as Error).message;
        this.alarms.gatewayCondition(this.gatewayId, 'store-check', true, `Store check failing (${why}): store limits not kept; see the agent log`, 'medium');
      }
      return null;
    }
  }

  private reportStore(report: LimitsReport): void {
    const { maxBytes } = this.deps.config.store;
    this.reportRefused(report.refused);
    // The reserve given up while running (another program filled the disk at once; agent/store/outbox.ts): as at a
    // start on a full disk, alarmed until the disk has room for a new one.
    if (report.reserveReleased) {
      this.metrics.inc('store_reserve_released_total');
      this.log.warn({ freeDiskBytes: report.freeDiskBytes }, 'disk full: the store deleted its reserve file to go on packing, acknowledging and evicting; free disk space');
      this.reserveInUse = true;
    }
    // On the reserve (a full disk, at start or since): alarmed from then on, not only once the little room it gave is
    // gone; it ends when the disk has room for a new reserve.
    if (this.reserveInUse) {
      this.reserveInUse = !report.reserve;
      this.alarms.gatewayCondition(
        this.gatewayId,
        'disk-full-at-start',
        this.reserveInUse,
        this.reserveInUse ? this.diskFullText : 'the disk has room again',
        'medium',
      );
      if (!this.reserveInUse) this.diskFullText = DISK_FULL_ON_RESERVE;
    }
    // "Nearly full" is judged against what the disk can still take as well: a disk that fills up before the
    // configured capacity must alarm too. (report.fraction already counts the disk, less the room the store keeps
    // free on it to pack and acknowledge: eviction follows the disk too.)
    this.alarms.storeUsage(Math.max(report.fraction, report.usedBytes / (report.usedBytes + report.freeDiskBytes)));
    // The store counts unreadable records until settleUnreadable(): those this run reported and could not settle
    // yet are not reported again.
    const freshUnreadable = Math.max(0, report.unreadable - this.reportedUnreadable);
    if (freshUnreadable > 0) {
      // A stored record that cannot be read back is a loss: counted, logged, alarmed, and kept for inspection.
      const { records, reason } = this.outbox.unreadableRecords();
      this.metrics.inc('store_unreadable_total', undefined, freshUnreadable);
      this.log.error({ records: freshUnreadable, keptInStore: records, reason }, 'stored records could not be read back: moved to the store table "unreadable", not sent');
      // Latched: the records are lost whether or not more follow, so the alarm stays until someone acknowledges it.
      this.raiseLoss('store-unreadable', `Store: ${freshUnreadable} stored records could not be read back and were not sent`, 'medium', { unreadable: report.unreadable });
      this.unreadableAlarm = true;
    } else if (report.unreadable > 0) {
      this.settleUnreadable(report.unreadable, null); // reported before; the store refused to settle them then
    } else if (this.unreadableAlarm) {
      this.unreadableAlarm = false;
      this.alarms.gatewayCondition(this.gatewayId, 'store-unreadable', false, 'store records read back normally again');
    }
    if (report.trimmedAckedForCapacity > 0) {
      // Sent already: no data lost, but the replay window is shorter than store.retainSentHours.
      this.metrics.inc('store_replay_retention_trimmed_total', undefined, report.trimmedAckedForCapacity);
      this.log.info({ messages: report.trimmedAckedForCapacity, maxBytes }, 'store over capacity: oldest sent messages kept for replay removed (the replay window is shorter than store.retainSentHours)');
    }
    if (report.trimmedKeys > 0) {
      this.metrics.inc('store_idempotency_keys_trimmed_total', undefined, report.trimmedKeys);
      this.log.warn({ keys: report.trimmedKeys, maxBytes }, 'store over capacity: oldest idempotency keys removed before any unsent data (a sender resending one of those batches after a restart would have it stored twice)');
    }
    if (report.trimmedReplays > 0) {
      this.metrics.inc('store_replay_copies_dropped_total', undefined, report.trimmedReplays);
      this.log.warn({ messages: report.trimmedReplays, maxBytes }, 'store over capacity: replay copies not sent yet dropped to make room (their originals reached the hub; ask for the replay again later)');
    }
    this.reportRefusedTrimmed(report);
    if (report.trimmedUnreadable > 0) {
      this.log.warn({ records: report.trimmedUnreadable, maxBytes }, 'store over capacity: unreadable records kept for inspection deleted to make room (reported when found)');
    }
    // An eviction going on in slices is reported when done (its tally adds up in the store until then): one log line,
    // one alarm raise and the whole count, not one per slice.
    if (report.more) {
      this.evictionDeferred = report;
      return;
    }
    this.evictionDeferred = null;
    const reported = report.unreported ? this.reportEvictions(report.unreported, report) : false;
    if (!reported && this.evicting && report.fraction < 0.85) {
      this.evicting = false;
      this.alarms.gatewayCondition(this.gatewayId, 'store-evicted', false, 'store below its limits again');
    }
  }

  /**
   * A check failed while an eviction in slices had its report put off: what the slices done evicted is reported now
   * (the next check starts the eviction afresh, and the checks may fail for long; review rv138 M2). The store's tally
   * is a read; if even that fails, what the last slice's report said, and the rest once the checks work again
   * (reportedEvictions keeps it from being counted twice).
   */
  private reportDeferredEvictions(deferred: LimitsReport): void {
    this.evictionDeferred = null;
    let tally = deferred.unreported;
    try {
      tally = this.outbox.unreportedEvictions();
    } catch (err) {
      this.log.error({ err }, 'cannot read the store\'s tally of evicted records: reporting those known to this run, the rest once the store check works again');
    }
    if (tally) this.reportEvictions(tally, deferred);
  }

  /**
   * Reports the evictions the store tallied and nobody reported yet: this check's, or a previous run's that was
   * killed (kill -9, power loss) between evicting and reporting. Settled in the store with the loss note, in one
   * transaction. Returns whether any were new to this run.
   */
  private reportEvictions(tally: EvictionTally, report: LimitsReport): boolean {
    const { maxAgeHours } = this.deps.config.store;
    // Reported by this run already, not yet settled in the store (it refused): not counted or logged twice.
    const done = this.reportedEvictions;
    const fresh = (reason: 'age' | 'capacity', c: RecordClass) => Math.max(0, tally[reason][c] - (done?.[reason][c] ?? 0));
    const age = { 0: fresh('age', 0), 1: fresh('age', 1), 2: fresh('age', 2) };
    const capacity = { 0: fresh('capacity', 0), 1: fresh('capacity', 1), 2: fresh('capacity', 2) };
    // Forwarding is off: nothing in the store was ever going to be sent, so records past the age limit are
    // ordinary retention, not lost data — counted and logged, no technical alarm.
    const retention = this.forwarder ? 0 : age[0] + age[1] + age[2];
    if (retention > 0) {
      this.metrics.inc('store_retention_removed_total', undefined, retention);
      this.log.info({ removed: retention, maxAgeHours }, 'store retention: records older than store.maxAgeHours removed (forwarding is off)');
    }
    const lost = this.forwarder ? { 0: age[0] + capacity[0], 1: age[1] + capacity[1], 2: age[2] + capacity[2] } : capacity;
    const total = lost[0] + lost[1] + lost[2];
    if (total === 0) {
      this.settleEvictions(tally, null);
      return false;
    }
    this.metrics.inc('store_evicted_total', { class: 'waveform' }, lost[2]);
    this.metrics.inc('store_evicted_total', { class: 'numeric' }, lost[1]);
    this.metrics.inc('store_evicted_total', { class: 'alarm' }, lost[0]);
    const reason = capacity[0] + capacity[1] + capacity[2] > 0 ? 'capacity' : 'age';
    const beforeRestart = tally.since < this.startedAt;
    this.log.warn(
      {
        reason,
        ...(reason === 'capacity' && { limitedBy: tally.disk ? 'disk' : 'store.maxBytes', limitBytes: report.limitBytes }),
        evicted: { waveforms: lost[2], numerics: lost[1], alarms: lost[0] },
        usedBytes: report.usedBytes,
        ...(beforeRestart && { evictedBeforeRestartSince: new Date(tally.since).toISOString() }),
      },
      'store limits reached: unsent data evicted, oldest and lowest priority first',
    );
    this.evicting = true;
    // High once alarm or audit records were lost, and it stays high while the alarm is open: a later check that
    // evicts only telemetry must not lower it.
    const wasHigh = this.lossAlarm('store-evicted')?.priority === 'high';
    const what = reason === 'age' ? 'age limit' : tally.disk ? 'full (the disk is the limit)' : 'full';
    const when = beforeRestart ? ` (since ${new Date(tally.since).toISOString()}, across a restart)` : '';
    this.raiseLoss('store-evicted', `Store ${what}: ${total} unsent records discarded (waveforms first)${when}`, lost[0] > 0 || wasHigh ? 'high' : 'medium', tally);
    return true;
  }

  /**
   * Messages set aside as refused by the hub that the store deleted for room or age (review rv92 H2): nobody sent
   * them, so a loss like an eviction: counted, logged, a latched gateway alarm (high with alarm records), settled in
   * the store with its note. An unreadable tally is an unknown number: still a loss, counted as at least one record,
   * and high (alarm records may be among them; review rv96 L1).
   */
  private reportRefusedTrimmed(report: LimitsReport): void {
    const t = report.refusedTrimmed;
    const records = t.unknown ? Math.max(1, t.records) : t.records;
    const fresh = Math.max(0, records - this.reportedRefusedTrimmed);
    if (t.messages === 0) return;
    if (fresh === 0) return this.settleRefusedTrimmed(records, null); // reported before; the store refused to settle them then
    const { maxBytes, maxAgeHours } = this.deps.config.store;
    this.metrics.inc('store_refused_trimmed_total', undefined, fresh);
    this.log.warn(
      { ...t, maxBytes, maxAgeHours },
      `messages set aside as refused by the hub deleted from the store for room or age (store.maxBytes, store.maxAgeHours): never sent${t.unknown ? " (an unknown number of records: the store's tally of them was unreadable)" : ''}`,
    );
    const amount = t.unknown ? (t.records > 0 ? `at least ${t.records}` : 'an unknown number of') : `${t.records}`;
    const detail = t.unknown ? 'their tally in the store was unreadable; alarm records may be among them' : `${t.messages} messages, ${t.alarmRecords} alarm records`;
    const text = `Store: ${amount} records set aside as refused by the hub (${detail}) deleted for room or age: never sent`;
    const high = t.alarmRecords > 0 || t.unknown === true || this.lossAlarm('store-refused-trimmed')?.priority === 'high';
    this.raiseLoss('store-refused-trimmed', text, high ? 'high' : 'medium', { refusedTrimmed: records });
  }

  private settleRefusedTrimmed(records: number, loss: StoredLoss | null): void {
    try {
      this.outbox.settleRefusedTrimmed(loss ? { key: 'store-refused-trimmed', loss } : undefined);
      this.reportedRefusedTrimmed = 0;
      if (loss) this.unnotedLosses.delete('store-refused-trimmed');
    } catch (err) {
      if (!this.reportedRefusedTrimmed) this.log.error({ err }, 'cannot mark trimmed refused messages as reported in the store (tried again at each check): a restart now reports them again');
      this.reportedRefusedTrimmed = records;
      if (loss) this.unnotedLosses.set('store-refused-trimmed', loss);
    }
  }

  /** Takes reported evictions off the store's tally, and writes their loss note (if any) in the same transaction. */
  private settleEvictions(tally: EvictionTally, loss: StoredLoss | null): void {
    try {
      this.outbox.settleEvictions(tally, loss ? { key: 'store-evicted', loss } : undefined);
      this.reportedEvictions = null;
      if (loss) this.unnotedLosses.delete('store-evicted');
    } catch (err) {
      if (!this.reportedEvictions) this.log.error({ err }, 'cannot mark evicted records as reported in the store (tried again at each check): a restart now reports them again');
      this.reportedEvictions = tally;
      if (loss) this.unnotedLosses.set('store-evicted', loss);
    }
  }

  /**
   * Marks the unreadable records of this check's report (`count`) as reported in the store, and writes their loss
   * note (if any) in the same transaction: a kill before it reports them again at the next start, never loses them.
   */
  private settleUnreadable(count: number, loss: StoredLoss | null): void {
    try {
      this.outbox.settleUnreadable(loss ? { key: 'store-unreadable', loss } : undefined);
      this.reportedUnreadable = 0;
      if (loss) this.unnotedLosses.delete('store-unreadable');
    } catch (err) {
      if (loss) this.log.error({ err, alarm: 'store-unreadable' }, 'cannot note the loss in the store (tried again at each check): a restart now would report the unreadable records again');
      else if (!this.reportedUnreadable) this.log.error({ err }, 'cannot mark unreadable records as reported in the store (tried again at each check): a restart now reports them again');
      this.reportedUnreadable = count;
      if (loss) this.unnotedLosses.set('store-unreadable', loss);
    }
  }

  /** Alarm changes the store would not take: shown at once, and a loss once the memory cap dropped some. */
  private checkAlarmJournal(): void {
    const { held, dropped, refused } = this.alarms.journalState();
    if (held > 0) {
      this.alarms.gatewayCondition(
        this.gatewayId,
        'alarm-journal',
        true,
        `Alarm changes cannot be stored: ${held} held in memory, not yet forwarded (a restart now would lose them)`,
      );
      this.journalHeld = true;
    } else if (this.journalHeld) {
      this.journalHeld = false;
      this.alarms.gatewayCondition(this.gatewayId, 'alarm-journal', false, 'held alarm changes stored');
    }
    if (dropped > this.journalDropped) {
      this.journalDropped = dropped;
      this.raiseLoss('alarm-journal-lost', `Alarm journal: ${dropped} alarm changes could not be stored and were dropped (memory cap)`, 'high');
    }
    if (refused > this.journalRefused) {
      this.journalRefused = refused;
      this.raiseLoss('alarm-journal-lost', `Alarm journal: ${refused} alarm changes were too large to store: shown here, not journalled or forwarded`, this.journalDropped > 0 ? 'high' : 'medium');
    }
  }

  /**
   * A loss of data: a latched gateway alarm, noted in the store until someone acknowledges it (then the note goes:
   * see the constructor), so that a restart raises it again. `noted`: the text a restart raises it with, where the
   * alarm's own tells of the present (restoreLosses adds "before the restart").
   */
  private raiseLoss(key: LossKey, text: string, priority: 'high' | 'medium', settle?: EvictionTally | { unreadable: number } | { refusedTrimmed: number }, noted = text): void {
    this.alarms.gatewayCondition(this.gatewayId, key, true, text, priority, { latch: true });
    // Acknowledged while the losses go on (and not risen in priority): the person knows, and this agent does not
    // alert again; a restarted one must not either.
    const loss = this.lossAlarm(key)?.state === 'acknowledged' ? null : { text: noted, priority, at: Date.now() };
    // Settled in the store with the note, in one transaction (a kill in between neither loses nor double-counts).
    if (settle && 'unreadable' in settle) this.settleUnreadable(settle.unreadable, loss);
    else if (settle && 'refusedTrimmed' in settle) this.settleRefusedTrimmed(settle.refusedTrimmed, loss);
    else if (settle) this.settleEvictions(settle, loss);
    else if (loss) this.noteLoss(key, loss);
  }

  private noteLoss(key: LossKey, loss: StoredLoss): void {
    try {
      this.outbox.noteLoss(key, loss);
      this.unnotedLosses.delete(key);
      if (key === 'alarms-open-at-restart') this.clearOpenBeforeStart();
      if (key === 'store-recovered') this.markCorruptNoted();
    } catch (err) {
      if (!this.unnotedLosses.has(key)) this.log.error({ err, alarm: key }, 'cannot note the loss in the store (tried again at each check): a restart now would not raise its alarm again');
      this.unnotedLosses.set(key, loss);
    }
  }

  private lossAlarm(key: LossKey) {
    return this.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === `gateway:${key}`);
  }

  /** Losses alarmed before a restart and never acknowledged: raised again, latched (the condition itself is past). */
  private restoreLosses(): void {
    let losses: Map<string, StoredLoss | null>;
    try {
      losses = this.outbox.unacknowledgedLosses();
    } catch (err) {
      this.log.error({ err }, 'cannot read the losses noted in the store before the restart: their alarms are not raised again');
      return;
    }
    for (const [key, loss] of losses) {
      if (!LOSS_KEYS.includes(key as LossKey)) continue;
      if (this.lossAlarm(key as LossKey)) continue; // raised in this run already (alarmsOpenBeforeStart), with its text
      const text = loss ? `${loss.text} (before the restart; at ${new Date(loss.at).toISOString()})` : 'Store: data was lost before the restart (its note in the store is unreadable)';
      this.alarms.gatewayCondition(this.gatewayId, key, true, text, loss?.priority === 'high' ? 'high' : 'medium', { latch: true });
      this.alarms.gatewayCondition(this.gatewayId, key, false, 'raised again after a restart: not acknowledged before it');
    }
  }

  /**
   * Alarms the previous run still had open (acknowledged ones too, their condition present) are not tracked by this
   * run: their conditions may come again from new data, but the alarm would be gone without a word. One latched
   * alarm says which they were, at their highest priority, until someone acknowledges it.
   */
  private alarmsOpenBeforeStart(): void {
    let list: { text: string; priority: 'high' | 'medium' } | null;
    if (this.openBeforeStart === null) {
      list = { text: 'The store could not tell which alarms were open when the agent stopped — check the bedside', priority: 'high' };
    } else {
      const notes = [...this.openBeforeStart.values()];
      if (notes.length === 0) return;
      if (this.everyDriverSimulated()) {
        // The demo: its alarms belonged to made-up patients, generated anew now; a latched list of them would be an
        // alarm about no one (and with no login configured, one nobody could acknowledge).
        this.log.info({ alarms: notes.length }, 'alarms open before the restart are not carried over: every driver is simulated (its patients are generated anew at each start)');
        this.clearOpenBeforeStart();
        return;
      }
      // An earlier restart's list that nobody acknowledged goes on in this one (an alarm's text is fixed when raised).
      let earlier: StoredLoss | null | undefined;
      try {
        earlier = this.outbox.unacknowledgedLosses().get('alarms-open-at-restart');
      } catch {
        earlier = undefined; // restoreLosses() logs the store error
      }
      list = restartList(notes, earlier ?? undefined);
      this.log.warn({ alarms: notes.length, notes }, 'alarms open before the restart are no longer tracked: raised one alarm that lists them');
    }
    if (!list) return;
    this.raiseLoss('alarms-open-at-restart', list.text, list.priority);
    // A loss that is past: latched until acknowledged, not a condition still present.
    this.alarms.gatewayCondition(this.gatewayId, 'alarms-open-at-restart', false, 'the alarms it lists belong to the run before the restart');
  }

  /** The demo: every enabled driver simulated, its patients generated anew at each start. */
  private everyDriverSimulated(): boolean {
    const drivers = this.deps.config.drivers.filter((d) => d.enabled);
    return drivers.length > 0 && drivers.every((d) => this.deps.registry.get(d.type)?.simulated);
  }

  /**
   * Device alarms acknowledged before the restart, their condition present then (review rv99 M3): the device's first
   * report of one comes back acknowledged instead of unanswered (it would escalate though someone answered it); so does
   * the first raise of a limit alarm answered with one at the device (its twin, review rv104 M3). Only
   * while the report can still be the same episode: within NEW_EPISODE_AFTER_MS of when the device was last heard
   * before the stop (the seen-devices note, kept to the minute, so never later than it was). Listed by the restart
   * alarm either way (alarmsOpenBeforeStart).
   */
  private restoreAcknowledgedBeforeStart(engine: AlarmEngine): void {
    if (!this.openBeforeStart?.size || this.everyDriverSimulated()) return;
    const acks = acknowledgedBeforeRestart(this.openBeforeStart.values(), this.pseudonym);
    if (acks.length === 0) return;
    let heard: Record<string, { at?: unknown } | null>;
    try {
      const parsed = JSON.parse(this.outbox.note('seen-devices') ?? '{}') as unknown;
      heard = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, { at?: unknown } | null>) : {};
    } catch (err) {
      this.log.error({ err, alarms: acks.map((a) => a.key) }, 'cannot tell when the devices were last heard before the restart: acknowledgements from before it are not restored (a repeat of those alarms comes back unanswered)');
      return;
    }
    const restored: RestoredAcknowledgement[] = [];
    for (const a of acks) {
      const at = heard[a.deviceId]?.at;
      const { deviceId: _, ...ack } = a; // with who acknowledged it and its patient (review rv104 M3, L2)
      if (typeof at === 'number') restored.push({ ...ack, until: at + NEW_EPISODE_AFTER_MS });
    }
    engine.restoreAcknowledgements(restored);
    const unheard = acks.filter((a) => !restored.some((r) => r.key === a.key)).map((a) => a.key);
    this.log.info(
      { restored: restored.map((r) => ({ alarm: r.key, until: new Date(r.until).toISOString() })), ...(unheard.length && { notRestored: unheard }) },
      'acknowledgements from before the restart kept for a repeat of their device alarms (until 10 min after the device was last heard)',
    );
  }

  /**
   * The previous run's notes go once the list that names them is noted in the store (noteLoss calls this), or is
   * acknowledged (review rv187 M3): until then a restart must list them again. Their alarms are closed for the cloud
   * first, one record each (review rv185 M4). `listId`: the restart alarm, which their closing records name.
   */
  private clearOpenBeforeStart(listId = this.lossAlarm('alarms-open-at-restart')?.id): void {
    if (!this.openBeforeStart?.size) return;
    this.closeOpenBeforeStart(this.openBeforeStart, listId);
    try {
      this.outbox.clearOpenAlarmNotes(this.openBeforeStart.keys());
      this.openBeforeStart.clear();
      this.formerNotesToClear = false;
    } catch (err) {
      // Tried again at each store check: a restart before then would list them again and close them a second time.
      if (!this.formerNotesToClear) this.log.error({ err }, 'cannot clear the notes of the alarms open before the restart (tried again at each check): a restart before then lists them again');
      this.formerNotesToClear = true;
    }
  }

  /**
   * One `resolved` record per alarm id the previous run left open (actor system, the alarm as its note left it), so
   * that a consumer keeping the newest state per alarm id closes it: no further record would ever come for that id.
   * Once per run (the notes may stay if the store refuses to clear them until the agent stops: the next start closes
   * them again).
   */
  private closeOpenBeforeStart(notes: ReadonlyMap<string, string>, listId: string | undefined): void {
    if (this.formerClosed) return;
    this.formerClosed = true;
    const why = `no longer tracked: the agent restarted (${listId ? `see ${listId}` : 'every driver is simulated: not listed'})`;
    // A note written with pseudonyms off keeps the raw id: pseudonymised now if they are on (review rv188 M3).
    const alarms = [...notes].map(([id, note]) => formerAlarm(id, note, this.pseudonym));
    const closed = this.alarms.closeFormer(alarms.filter((a) => a !== null), why);
    const notClosed = [...notes.keys()].filter((_, i) => alarms[i] === null);
    // Ids at most 20 of each: a flood of open device alarms must not make one huge line.
    const fields = { closed: closed.length, alarmIds: closed.slice(0, 20).map((c) => c.alarmId), ...(notClosed.length && { notClosed: notClosed.slice(0, 20), notClosedCount: notClosed.length }) };
    const count = (n: number) => `${n} alarm${n === 1 ? '' : 's'}`;
    if (notClosed.length === 0) {
      this.log.info(fields, `${count(closed.length)} open before the restart closed for the cloud: one resolved record each ("${why}")`);
      return;
    }
    // Said as it is (review rv187 L3: the line claimed them closed): these stay open for a consumer of the records.
    this.log.warn(
      fields,
      `${count(notClosed.length)} open before the restart not closed for the cloud (${closed.length ? `${closed.length} closed: one resolved record each, "${why}"` : 'none closed'}): their notes cannot be read, or were written by an older agent without the source, category and device a closing record needs; a consumer keeping the newest state per alarm id holds those in notClosed open; the restart alarm lists them`,
    );
  }

  private expectSeenBeforeRestart(engine: AlarmEngine): void {
    const now = Date.now();
    const enabled = new Set(this.deps.config.drivers.filter((d) => d.enabled).map((d) => d.name));
    // A driver that declares its device ids (a simulator, a serial device with its id) expects only those it still
    // declares: a device taken out of its config is not alarmed as silent. One that learns them (HL7) expects all.
    const declared = new Map<string, Set<string>>();
    for (const d of this.deps.config.drivers) {
      const ids = d.enabled ? this.deps.registry.get(d.type)?.claims?.(d.options).deviceIds : undefined;
      if (ids?.length) declared.set(d.name, new Set(ids.map((c) => c.id)));
    }
    let expected: ReturnType<SeenDevices['restore']>;
    try {
      expected = this.seenDevices
        .restore(this.outbox.note('seen-devices'), now, enabled)
        .filter(([id, d]) => !(id in this.deps.config.alarms.devices) && (declared.get(d.source)?.has(id) ?? true));
    } catch (err) {
      this.log.error({ err }, 'cannot read the devices heard from before the restart: one that does not come back is not reported');
      return;
    }
    // A bed "*" noted by a version that took it from the device is the gateway's: no bed (review rv123 L1).
    for (const [id, d] of expected) engine.expectDevice(id, now, d.bed === GATEWAY_BED ? undefined : d.bed, d.source);
    if (expected.length) this.log.info({ devices: expected.map(([id, d]) => ({ deviceId: id, bed: d.bed, driver: d.source })) }, 'expecting the devices heard from before the restart');
  }

  /** NEWS2 observations people recorded before a restart (on oxygen, confused…) still count until they age out. */
  private restoreNews2Observations(engine: AlarmEngine, pseudonymised: boolean): void {
    let beds: string[];
    let rawIds = false;
    try {
      const note = this.outbox.note('news2-observations');
      const parsed = note === null ? null : (JSON.parse(note) as unknown);
      beds = parsed === null ? [] : engine.restoreNews2Observations(parsed, Date.now());
      rawIds = pseudonymised && parsed !== null && typeof parsed === 'object' && Object.values(parsed as Record<string, { patientId?: unknown; pseudonyms?: unknown } | null>).some((o) => typeof o?.patientId === 'string' && o.pseudonyms !== true);
    } catch (err) {
      this.log.error({ err }, 'cannot read the NEWS2 observations recorded before the restart: they must be recorded again (scores say "assumed" meanwhile)');
      return;
    }
    if (beds.length) this.log.info({ beds }, 'NEWS2 observations recorded before the restart restored');
    // A note from before pseudonymisation (or an earlier version) holds raw patient ids: the restored observations
    // keep them as pseudonyms (the same patient still matches); the note is rewritten at once rather than at the next
    // observation, so that the raw ids do not stay in the store.
    if (rawIds) {
      try {
        this.outbox.setNote('news2-observations', JSON.stringify(engine.news2Observations(Date.now())));
        this.log.info({ beds }, 'NEWS2 observations note held raw patient ids (written before pseudonymisation): rewritten with pseudonyms');
      } catch (err) {
        this.log.error({ err }, 'cannot rewrite the NEWS2 observations note with pseudonyms: it holds raw patient ids until the next observation is recorded');
      }
    }
  }

  private writeSeenDevices(): void {
    const note = this.seenDevices.takeChanges(Date.now());
    if (note === null) return;
    try {
      this.outbox.setNote('seen-devices', note);
    } catch (err) {
      this.seenDevices.markDirty(); // tried again at the next check
      this.log.warn({ err }, 'cannot note the devices heard from (tried again at each check)');
    }
  }

  /**
   * Notes at once the open alarms of devices, and the agent's own alarms (agent:*) of beds, that just turned real:
   * raised while they were simulated (no note) and kept at their level since, nothing else would note them before a
   * restart (review rv124 M1, M2). Each as a change to itself, so the note is the one openAlarmNotes writes.
   */
  private noteTurnedReal(devices: ReadonlySet<string>, beds: ReadonlySet<string>): void {
    const now = Date.now();
    const asChanges: AlarmStateChange[] = this.alarms.engine
      .list()
      .filter((a) => devices.has(a.deviceId) || (a.deviceId.startsWith('agent:') && beds.has(a.bed)))
      .map((a) => ({ seq: 0, alarmId: a.id, change: 'annotated', from: a.state, to: a.state, why: 'its device or bed turned real', actor: 'system', at: now, alarm: a }));
    if (asChanges.length === 0) return;
    for (const [id, note] of openAlarmNotes(asChanges, (alarmId) => this.alarms.engine.acknowledgedBy(alarmId), this.pseudonym)) this.pendingNotes.set(id, note);
    this.writeOpenAlarmNotes();
  }

  private writeOpenAlarmNotes(): void {
    if (this.pendingNotes.size === 0) return;
    try {
      this.outbox.setOpenAlarmNotes(this.pendingNotes);
      this.pendingNotes.clear();
      if (this.notesFailing) this.log.info('open-alarm notes stored again');
      this.notesFailing = false;
    } catch (err) {
      if (!this.notesFailing) this.log.error({ err, pending: this.pendingNotes.size }, 'cannot note the open alarms in the store (tried again at each change and check): a restart now would not list them');
      this.notesFailing = true;
    }
  }

  /**
   * Alarm changes still held in memory when the agent stops (the store refused them to the end) are lost: a loss
   * note, if the store takes that, raises it again at the next start.
   */
  private journalLostAtStop(): void {
    const { held } = this.alarms.journalState();
    if (held === 0) return;
    const text = `Alarm journal: ${held} alarm change${held === 1 ? '' : 's'} held in memory (the store refused them) were lost when the agent stopped`;
    this.log.error({ held }, 'alarm changes held in memory are lost at stop: not stored, not forwarded');
    try {
      this.outbox.noteLoss('alarm-journal-lost', { text, priority: 'high', at: Date.now() });
    } catch (err) {
      this.log.error({ err }, 'cannot note the lost alarm changes in the store either: the next start will not say so');
    }
  }

  /** The store-recovered alarm: the damaged files, and what of this start's was salvaged (earlier ones: their start's log). */
  private storeRecoveredText(): string {
    const text = `Store was damaged and replaced; old file kept at ${this.corruptFiles.join(', ')}`;
    if (this.salvaged.length === 0) return text;
    if (this.corruptFiles.length === 1) return `${text}; ${this.salvaged[0]!.text}`;
    return [text, ...this.salvaged.map((s) => `from ${s.movedTo}: ${s.text}`)].join('; ');
  }

  /** Damaged files beside the store not noted as reported; none when the store cannot say (logged). */
  private unreportedCorruptFiles(): string[] {
    try {
      return this.outbox.unnotedCorruptFiles((err) =>
        this.log.error({ err }, 'cannot read the list of damaged store files reported: every damaged file beside the store is alarmed again, once'),
      );
    } catch (err) {
      this.log.error({ err }, 'cannot look for damaged store files moved aside earlier: one not reported before is not alarmed now');
      return [];
    }
  }

  /**
   * The damaged files the store-recovered alarm names, noted as reported once its loss is noted (or it is
   * acknowledged): a later start does not raise an alarm for them again; until then it does.
   */
  private markCorruptNoted(): void {
    if (this.corruptNoted || this.corruptFiles.length === 0) return;
    try {
      this.outbox.noteCorruptFiles(this.corruptFiles);
      this.corruptNoted = true;
    } catch (err) {
      this.log.error({ err, files: this.corruptFiles }, 'cannot note the damaged store files as reported: the next start alarms them again');
    }
  }

  /** Listen to events after they are committed (alarms, display, model). */
  onCommitted(listener: (events: readonly DriverEvent[]) => void): void {
    this.ingest.subscribe(listener);
  }

  /** An expected ward screen (display.screens) is away or back: a gateway technical alarm, journalled and forwarded. */
  screenCondition(name: string, present: boolean, text: string): void {
    this.alarms.gatewayCondition(this.gatewayId, `display:${name}`, present, text, 'medium');
  }

  async start(): Promise<void> {
    this.starting = this.startParts();
    try {
      await this.starting;
    } catch (err) {
      this.control?.startFailed();
      throw err;
    } finally {
      this.starting = null;
    }
  }

  /** A stop can arrive while the start awaits (SIGTERM right after a redeploy): nothing more is started then. */
  private async startParts(): Promise<void> {
    this.markRunning();
    await this.display?.start();
    if (this.stopRequested) return;
    for (const entry of this.deps.config.drivers) {
      if (!entry.enabled) {
        this.log.info({ driver: entry.name, type: entry.type }, 'driver disabled in config');
        continue;
      }
      try {
        await this.startDriver(entry);
      } catch (err) {
        // One driver that cannot start (a listener whose address is not there yet, a port taken) must not take the
        // others and the display down with it: it is reported, alarmed and tried again.
        if (this.stopRequested) return;
        this.driverStartFailed(entry, err);
      }
      if (this.stopRequested) return;
    }
    this.control?.start();
    this.forwarder?.start();
    this.alarms.start();
    if (this.storeInMemory) {
      // High and latched: the store takes nothing in this run (senders are told to resend), and the file's backlog waits unsent.
      this.alarms.gatewayCondition(this.gatewayId, 'store-in-memory', true, this.storeInMemoryText, 'high', { latch: true });
    }
    if (this.corruptFiles.length > 0) {
      // Latched: the moved-aside file's unsent data is a loss until someone acknowledges it (noted in the constructor).
      this.raiseLoss('store-recovered', this.storeRecoveredText(), 'medium');
    }
    this.alarmsOpenBeforeStart();
    this.restoreLosses();
    this.enforceStoreLimits();
    this.checkDisplayCertificate(Date.now());
    this.configAlarms(this.deps.config, this.startIgnored, false);
    // The display on loopback inside the IoT Edge module: warned at start, but the log is read once; alarmed while it
    // runs so (review rv103 M1). The twin cannot change display.host, so this holds until a restart.
    const unreachable = this.display ? moduleLoopbackDisplay(this.deps.config, this.deps.env ?? process.env) : null;
    if (unreachable) {
      this.alarms.gatewayCondition(
        this.gatewayId,
        'display-loopback-in-module',
        true,
        `Display cannot be reached from the ward (display.host ${this.deps.config.display.host}): ${unreachable}; no screen shows alarms and none can be acknowledged. Set display.host: 0.0.0.0 and restart the agent`,
        'medium',
      );
    }
    this.limitsTimer = setInterval(() => {
      this.enforceStoreLimits();
      this.checkBedOverrides(Date.now());
      this.checkDriversThemselves();
      this.checkDisplayCertificate(Date.now());
    }, 10_000);
    // The alarm engine raises a technical alarm when the hub stays unreachable; tell it how the uplink is.
    const forwarder = this.forwarder;
    if (forwarder) {
      this.healthTimer = setInterval(() => {
        const failure = forwarder.getStatus().lastFailure;
        this.alarms.hubReachable(forwarder.reachable(), failure === 'auth' || failure === 'tls' ? failure : null);
        this.reportRefusedRepeatedly(forwarder.refusedRepeatedly());
        // Not a hub fault (the hub alarm stays quiet), and nothing is forwarded until the store reads again.
        const packFailing = forwarder.packFailing();
        if (packFailing !== this.packFailAlarm) {
          this.packFailAlarm = packFailing;
          this.alarms.gatewayCondition(
            this.gatewayId,
            'store-pack',
            packFailing,
            packFailing ? `Store cannot prepare messages for the hub (${forwarder.getStatus().lastError ?? 'store error'}): forwarding has stopped` : 'the store prepares messages again',
            'medium',
          );
        }
        // Not a hub fault (the hub alarm stays quiet), and nothing more is forwarded until the write works.
        const failing = forwarder.ackWriteFailing();
        if (failing === this.ackWriteAlarm) return;
        this.ackWriteAlarm = failing;
        this.alarms.gatewayCondition(
          this.gatewayId,
          'store-ack-write',
          failing,
          failing ? 'Store cannot record what the hub received (disk failing or read-only?): forwarding has stopped' : 'the store records acknowledgements again',
          'medium',
        );
      }, 1000);
    }
    this.log.info({ drivers: [...this.drivers.keys()] }, 'agent running');
  }

  /**
   * Stops the drivers and waits until everything accepted has been acknowledged by the hub (or the time is up).
   * Returns whether the store was emptied. For maintenance and tests; a normal stop does not wait for the hub.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    await this.stopDrivers();
    this.ingest.commit();
    const end = Date.now() + timeoutMs;
    while (!this.outbox.nothingToSend() && Date.now() < end) {
      this.forwarder?.notify();
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.outbox.nothingToSend();
  }

  /** Starts one driver (at start, and when the twin or reloadConfig changes its entry). */
  async startDriver(entry: DriverEntry): Promise<void> {
    const factory = this.deps.registry.get(entry.type);
    if (!factory) throw new Error(`unknown driver type ${entry.type}`); // validated earlier; defensive
    if (this.drivers.has(entry.name)) throw new Error(`driver ${entry.name} is already running`);
    if (this.stopRequested) throw new Error(`the agent is stopping: driver ${entry.name} not started`);
    if (factory.simulated) this.simulatedSources.add(entry.name);
    else this.simulatedSources.delete(entry.name);
    const dlog = this.log.child({ driver: entry.name, type: entry.type });
    // The name given another type is another driver: the old one's counts are not its own, and its type's own
    // counters (tls_clients_rejected…) could never move (review rv156 F1). A restart of the same type keeps them.
    const declaredAs = this.seriesTypes.get(entry.name);
    if (declaredAs !== undefined && declaredAs !== entry.type) this.forgetDriverSeries(entry.name);
    this.seriesTypes.set(entry.name, entry.type);
    declareSourceCounters(this.metrics, entry.name);
    declareDriverCounters(this.metrics, entry.name, entry.type);
    const driver = factory.create(entry.options, {
      name: entry.name,
      log: dlog,
      emit: (events, opts) => this.ingest.accept(entry.name, events, opts),
      // Counters (Prometheus: `_total`, typed counter; review rv42 §5): a driver's `emit_failures` is bedside_driver_emit_failures_total.
      count: (counter, by = 1) => this.metrics.inc(`driver_${counter}_total`, { driver: entry.name }, by),
    });
    this.drivers.set(entry.name, driver);
    const started = driver.start();
    this.driverStarts.set(entry.name, started.then(
      () => undefined,
      () => undefined,
    ));
    try {
      await started;
    } catch (err) {
      this.drivers.delete(entry.name);
      await driver.stop().catch(() => undefined);
      throw err;
    } finally {
      this.driverStarts.delete(entry.name);
    }
    dlog.info({ description: factory.description }, 'driver started');
    this.clearFailedStart(entry.name, `driver ${entry.name} started`);
  }

  /** A driver that failed to start is started, stopped or replaced: no more retries, and its alarm ends. */
  private clearFailedStart(name: string, why: string): void {
    const f = this.failedStarts.get(name);
    if (!f) return;
    if (f.timer) clearTimeout(f.timer);
    this.failedStarts.delete(name);
    this.log.info({ driver: name, failedStarts: f.attempts }, `no longer retrying the driver's start: ${why}`);
    this.alarms.gatewayCondition(this.gatewayId, `driver-start:${name}`, false, why);
  }

  /**
   * A driver's start still in progress (one the twin asked for) ends before the driver is stopped: stopped half-way,
   * a listener that is not yet listening never finishes starting, and whoever waits on it (the control plane) hangs
   * the agent's stop. Bounded, for a start that never ends by itself.
   */
  private async startSettled(name: string): Promise<void> {
    const start = this.driverStarts.get(name);
    if (!start) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, DRIVER_START_WAIT_MS)));
    await Promise.race([start, late]);
    clearTimeout(timer);
  }

  /** Stops one driver; a no-op if it is not running. */
  async stopDriver(name: string): Promise<void> {
    this.clearFailedStart(name, `driver ${name} stopped`);
    const d = this.drivers.get(name);
    if (!d) return;
    await this.startSettled(name);
    if (this.drivers.get(name) !== d) return; // its start failed meanwhile, and it was stopped there
    this.drivers.delete(name);
    await d.stop().catch((err: unknown) => this.log.error({ err, driver: name }, 'driver failed to stop cleanly'));
    this.log.info({ driver: name }, 'driver stopped');
  }

  /** What the twin and direct methods (agent/control) may do to the agent. */
  private controlHost() {
    return {
      gatewayId: this.gatewayId,
      health: () => this.health(),
      // The figure health and the store_oldest_pending_age_seconds gauge give: a replay's copies left out, the oldest
      // of all that waits rather than the next in send order (review rv152 R1).
      oldestPendingAt: () => this.outbox.oldestPendingAt(),
      startDriver: (entry: DriverEntry) => this.startDriver(entry),
      stopDriver: (name: string) => this.stopDriver(name),
      keepTrying: (entry: DriverEntry, err: unknown) => this.driverStartFailed(entry, err),
      configChanged: (config: AgentConfig, ignored: readonly ConfigProblem[]) => {
        this.configAlarms(config, ignored, true);
        this.unwatchDevicesOff(config);
        this.forgetDriversOff(config);
      },
      replay: (fromMs: number, toMs: number) => {
        const r = this.outbox.replay(fromMs, toMs);
        this.forwarder?.notify();
        return r;
      },
    };
  }

  /**
   * Devices a configuration change applied live took from their driver (switched off or removed, or restarted without
   * their id: review rv120 M1) are no longer watched, as a restart with that configuration would not expect them
   * (expectSeenBeforeRestart): their "no data" and "connection" alarms end saying why. Those listed in alarms.devices
   * stay expected. Not at the agent's stop: its drivers stop, and their devices' alarms stay open (noted for the start).
   */
  private unwatchDevicesOff(config: AgentConfig): void {
    // The stopped drivers' last events (their "offline") first: handled after this, they would watch the device again.
    this.ingest.commit();
    const entries = new Map(config.drivers.map((d) => [d.name, d]));
    const off = new Map<string, { why: string; ids: string[] }>();
    for (const { deviceId, source } of this.alarms.engine.deviceSources()) {
      const entry = entries.get(source);
      let why: string | null = null;
      if (!entry) why = `driver ${source} removed from the configuration`;
      else if (!entry.enabled) why = `driver ${source} switched off by configuration`;
      else {
        // A driver that declares its device ids has only those; one that learns them (HL7) keeps all (as at a restart).
        let ids: readonly { id: string }[] | undefined;
        try {
          ids = this.deps.registry.get(entry.type)?.claims?.(entry.options).deviceIds;
        } catch (err) {
          this.log.error({ err, driver: source }, "driver's claims failed; its devices stay watched");
        }
        if (ids?.length && !ids.some((c) => c.id === deviceId)) why = `driver ${source} restarted by configuration without this device`;
      }
      if (why === null) continue;
      const group = off.get(source) ?? { why, ids: [] };
      group.ids.push(deviceId);
      off.set(source, group);
    }
    for (const [driver, { why, ids }] of off) this.alarms.unwatchDevices(ids, why, { driver });
  }

  /**
   * The series of drivers a configuration change applied live removed or switched off go from /metrics, as a restart
   * with that configuration would not have them (review rv156 F1). After unwatchDevicesOff, whose commit counts the
   * stopped drivers' last events first. Not at the agent's stop, nor on a failed change rolled back (no call here).
   */
  private forgetDriversOff(config: AgentConfig): void {
    const on = new Set(config.drivers.filter((d) => d.enabled).map((d) => d.name));
    for (const name of [...this.seriesTypes.keys()]) {
      if (on.has(name)) continue;
      this.forgetDriverSeries(name);
      this.seriesTypes.delete(name);
    }
  }

  /** A driver's own series (driver_*_total) and those ingest keeps of its source (ingest_*, label source). */
  private forgetDriverSeries(name: string): void {
    this.metrics.forget('driver', name, 'driver_');
    this.metrics.forget('source', name, 'ingest_');
  }

  /**
   * A per-bed setting whose bed has not reported in the first BED_OVERRIDE_GRACE_MS is doing nothing (a key that
   * differs from the devices' bed names: "ICU-1" for "ICU-01"): warned once, with a seen bed that looks like it, and
   * listed in health until that bed reports.
   */
  private checkBedOverrides(now: number): void {
    if (this.bedOverrides.length === 0 || now - this.startedAt < (this.deps.bedSettingsGraceMs ?? BED_OVERRIDE_GRACE_MS) || this.seenBeds.size === 0) return;
    for (const u of unmatchedBedOverrides(this.bedOverrides, this.seenBeds)) {
      if (this.unmatchedBeds.has(u.field)) continue;
      this.unmatchedBeds.set(u.field, u);
      this.log.warn(
        { field: u.field, bed: u.bed, similar: u.similar, bedsSeen: [...this.seenBeds].slice(0, 20) },
        `no bed named ${JSON.stringify(u.bed)} has reported since start: the setting ${u.field} is not in use` + (u.similar !== undefined ? ` (did you mean ${JSON.stringify(u.similar)}?)` : ''),
      );
    }
    for (const [field, u] of this.unmatchedBeds) {
      if (!this.seenBeds.has(u.bed)) continue;
      this.unmatchedBeds.delete(field);
      this.log.info({ field, bed: u.bed }, 'the bed of a per-bed setting has reported: the setting is in use');
    }
  }

  /**
   * What the configuration in force holds that the agent runs with but someone must put right, each a low-priority
   * gateway alarm while it is there: a per-bed limit outside its rule's range, used as written (review rv94 H2), and
   * fields of the twin's overlay this version takes from the local file only, left out (rv94 H3), and a driver's
   * options its factory warns of as a slip (`alarm` set: a Modbus code that is not its refid's, rv97 M2). Set at start (where
   * main.ts has logged them as config warnings) and after each twin change or reloadConfig applied (`changed`: logged
   * here). A key holds the value or the fields, so that a changed one is a new alarm with its own text.
   * The limits are those of the alarms section the engine was built with: `alarms` is not applied live (planChange
   * lists a change to it as pending restart), so a change fixing a slip must not end its alarm, nor one adding a slip
   * raise it, before the restart that puts it in force (review rv96 M3); such a change is logged once instead.
   * Drivers are applied live (AgentControl.switchTo restarts the changed ones before calling configChanged with the
   * config now running), so their slips follow `config` at once.
   */
  private configAlarms(config: AgentConfig, ignored: readonly ConfigProblem[], changed: boolean): void {
    const want = new Map<string, { text: string; field: string }>();
    const inForce = limitRangeWarnings(this.deps.config.alarms);
    for (const w of inForce) want.set(`config-limit:${w.path}=${w.value}`, { text: w.alarm, field: w.path });
    if (changed) {
      const keys = (ws: typeof inForce) => ws.map((w) => `${w.path}=${w.value}`);
      const afterRestart = keys(limitRangeWarnings(config.alarms));
      const note = afterRestart.join('\n') === keys(inForce).join('\n') ? '' : `after restart: ${afterRestart.join('\n')}`;
      if (note && note !== this.pendingLimitNote) {
        this.log.warn({ inForce: keys(inForce), afterRestart }, 'limit change pending a restart: the alarm engine keeps the limits it started with until then');
      }
      this.pendingLimitNote = note;
    }
    config.drivers.forEach((entry, i) => {
      if (!entry.enabled) return;
      let warnings: DriverWarning[] = [];
      try {
        warnings = this.deps.registry.get(entry.type)?.warnings?.(entry.options) ?? [];
      } catch (err) {
        // A driver's own bug: the other configuration alarms must still be set.
        this.log.error({ err, driver: entry.name }, "driver's configuration warnings failed; its slips are not alarmed");
      }
      for (const w of warnings) {
        if (!w.alarm) continue;
        // Keyed by the driver's name and the field in its options, not its place in the list: a rename is a new alarm
        // (the text names the driver), an entry added in front changes nothing (review rv105 M1). With the message
        // too, so that another slip in the same field is a new alarm. drivers[i] is only a pointer to --check's output.
        const field = `drivers[${i}].${w.field}`;
        want.set(`config-driver:${entry.name}.${w.field}=${w.message}`, {
          text: `Driver ${entry.name} ${w.field}: ${w.alarm}; correct the configuration (see --check)`, // no drivers[i]: the text stays while entries move (review rv106 L3)
          field,
        });
      }
    });
    if (ignored.length) {
      const fields = ignored.map((p) => p.path).join(', ');
      want.set(`twin-settings-ignored:${fields}`, { text: `Twin settings ignored: ${fields}; change them in the local file`, field: fields });
    }
    for (const key of [...this.configAlarmKeys]) {
      if (want.has(key)) continue;
      this.configAlarmKeys.delete(key);
      this.alarms.gatewayCondition(this.gatewayId, key, false, 'no longer in the configuration in force');
    }
    for (const [key, { text, field }] of want) {
      if (this.configAlarmKeys.has(key)) continue;
      this.configAlarmKeys.add(key);
      if (changed) this.log.warn({ field }, text);
      this.alarms.gatewayCondition(this.gatewayId, key, true, text, 'low');
    }
  }

  /**
   * The display's certificate (read at start) within CERT_ALARM_DAYS of its end, or past it: a medium gateway alarm,
   * since browsers then refuse it and every screen goes dark; a gateway runs for months, and the warning at start
   * was seen once (review rv43 §9). Renewing it needs a restart, which ends the alarm.
   */
  private checkDisplayCertificate(now: number): void {
    const at = this.display?.certificateExpiresAt ?? null;
    const state = at === null ? null : at <= now ? 'expired' : at - now < CERT_ALARM_DAYS * 86_400_000 ? 'expiring' : null;
    if (state === this.certificateAlarm) return;
    // Two alarms, not one whose text changes: the screens going dark is news even to someone who acknowledged the
    // warning (and the engine keeps an open alarm's text; review rv45 §4).
    if (this.certificateAlarm !== null) this.alarms.gatewayCondition(this.gatewayId, `display-certificate-${this.certificateAlarm}`, false, state === null ? 'display certificate renewed' : `display certificate ${state}`);
    this.certificateAlarm = state;
    if (state === null) return;
    const on = new Date(at!).toISOString();
    const text =
      state === 'expired'
        ? `Display certificate expired on ${on}: browsers refuse it, screens cannot connect; renew it and restart the agent`
        : `Display certificate expires on ${on} (in ${Math.ceil((at! - now) / 86_400_000)} days): renew it and restart the agent`;
    this.alarms.gatewayCondition(this.gatewayId, `display-certificate-${state}`, true, text, 'medium');
  }

  /**
   * A driver degraded in itself, not through one of its devices (those raise their own alarms): an HL7 listener no
   * sender connects to, or one whose sender has every message refused (selfFault, alarmed even while the driver has
   * devices: that sender has none). Its selfFault, else its health detail, becomes a gateway technical alarm while it lasts.
   */
  private checkDriversThemselves(): void {
    for (const [name, d] of this.drivers) {
      const h = d.health();
      const degraded = (h.state === 'degraded' && Object.keys(h.devices ?? {}).length === 0) || h.selfFault !== undefined;
      const cause = h.selfFault ?? null;
      const raised = this.degradedDrivers.has(name);
      if (degraded === raised && (!degraded || this.degradedDrivers.get(name) === cause)) continue;
      const key = `driver:${name}`;
      // Another fault while degraded (no sender → its messages refused, another host refused): an alarm keeps the text
      // it was raised with, so that one ends and one naming the fault in force is raised.
      if (raised) this.alarms.gatewayCondition(this.gatewayId, key, false, degraded ? `driver ${name}: its fault changed` : `driver ${name} no longer degraded`);
      if (degraded) this.degradedDrivers.set(name, cause);
      else this.degradedDrivers.delete(name);
      if (degraded) this.alarms.gatewayCondition(this.gatewayId, key, true, `Driver ${name}: ${h.selfFault ?? h.detail ?? 'degraded'}`, 'medium');
    }
    for (const name of this.degradedDrivers.keys()) {
      if (this.drivers.has(name)) continue;
      this.degradedDrivers.delete(name);
      this.alarms.gatewayCondition(this.gatewayId, `driver:${name}`, false, `driver ${name} stopped`);
    }
  }

  private driverStartFailed(entry: DriverEntry, err: unknown): void {
    // Stopping: a driver that does not start now is not a fault to alarm or retry.
    if (this.stopRequested) return;
    const index = this.deps.config.drivers.indexOf(entry);
    const detail = startProblem(entry, index, err);
    const previous = this.failedStarts.get(entry.name);
    const attempts = (previous?.attempts ?? 0) + 1;
    const f = { entry, detail, attempts, timer: null as NodeJS.Timeout | null };
    this.failedStarts.set(entry.name, f);
    this.metrics.inc('driver_start_failures_total', { driver: entry.name });
    if (attempts === 1 || attempts % 10 === 0) {
      this.log.error({ err, driver: entry.name, type: entry.type, attempts, problem: detail }, 'driver cannot start; the agent runs on without it and tries again');
    }
    // Its devices are not monitored: as loud as a lost device connection.
    this.alarms.gatewayCondition(this.gatewayId, `driver-start:${entry.name}`, true, `Driver ${entry.name} cannot start: ${detail}`, 'medium');
    const delayMs = Math.min(DRIVER_RETRY_MAX_MS, DRIVER_RETRY_FIRST_MS * 2 ** Math.min(attempts - 1, 10));
    f.timer = setTimeout(() => void this.retryDriverStart(entry.name), delayMs);
    f.timer.unref();
  }

  private async retryDriverStart(name: string): Promise<void> {
    const f = this.failedStarts.get(name);
    if (!f || this.stopRequested) return;
    f.timer = null;
    try {
      await this.startDriver(f.entry); // on success it clears the failure
    } catch (err) {
      // Still the same entry (not replaced or stopped by the twin meanwhile): try again later.
      if (!this.stopRequested && this.failedStarts.get(name) === f) this.driverStartFailed(f.entry, err);
    }
  }

  private async stopDrivers(): Promise<void> {
    for (const f of this.failedStarts.values()) if (f.timer) clearTimeout(f.timer);
    this.failedStarts.clear();
    for (const name of [...this.drivers.keys()]) await this.stopDriver(name);
  }

  async stop(): Promise<void> {
    // A start in progress finishes the step it is in (and starts nothing after it) before anything is closed.
    this.stopRequested = true;
    if (this.starting) {
      this.log.info('stop requested while starting: waiting for the step in progress');
      await this.starting.catch(() => undefined);
    }
    // Local work first, so that what the drivers handed over is committed and journalled before anything that waits
    // on the network (twin calls, a send in flight) can hold the stop up until the supervisor kills the process.
    await this.stopDrivers();
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.limitsTimer) clearInterval(this.limitsTimer);
    if (this.limitsSlice) clearImmediate(this.limitsSlice);
    this.ingest.close();
    this.alarms.stop();
    this.writeOpenAlarmNotes();
    this.writeSeenDevices();
    // The model's worker threads end before the stop counts as done locally: a process that exits (a second Ctrl-C
    // exits once local work is done) while one is inside onnxruntime aborts (see agent/inference/worker-model.ts).
    // A few ms normally; at most 2 s for the assessment in flight and 5 s for runs that ran over time.
    await this.edgeModel.close().catch((err: unknown) => this.log.warn({ err }, 'edge model did not close cleanly'));
    // After the model's close: it annotates the alarms still waiting for it ("not assessed: the agent stopped
    // first"), which a store refusing writes holds in memory too, and they belong in the loss note (fx127).
    this.journalLostAtStop();
    // Everything accepted is committed: a stop from here on is a clean one, whatever the network part does.
    this.clearRunning();
    this.localWorkDone();
    await this.display?.stop();
    // The network part must not hold up the store's close (which checkpoints the WAL into agent.db, so that it alone
    // holds everything): the hub connection is cut first, hard (review rv113 L2). A send waiting for a PUBACK, or a
    // connect or twin call waiting for an answer, fails at once instead of running out its timeout (30 s by default,
    // past the process's stop deadline, which then left the WAL behind). What was in flight stays unacknowledged in
    // the store and goes again, with the same ids, at the next start.
    const forwarding = this.forwarder?.stop();
    await this.hubTransport?.disconnect().catch(() => undefined);
    await this.control?.stop();
    await forwarding;
    this.outbox.close();
    this.log.info('agent stopped');
  }

  health(): {
    status: 'ok' | 'degraded';
    gatewayId: string;
    uptimeS: number;
    drivers: Record<string, DriverHealth>;
    forwarder: ReturnType<Forwarder['getStatus']> | { state: 'off'; why: string };
    /** unackedMessages NaN (null in JSON) and `error` its code while the store cannot be read. */
    store: { path: string; pending: { telemetry: number; alarms: number }; unackedMessages: { telemetry: number; alarms: number }; error?: string };
    metrics: Record<string, number>;
    model: ModelStatus;
    technicalAlarms: { deviceId: string; bed: string; priority: string; text: string; latched?: true }[];
    /** All of them (the list stops at 20), and those latched (condition past, not acknowledged). */
    technicalAlarmCount: number;
    latchedTechnicalAlarmCount: number;
    /** Per-bed alarm settings whose bed has not reported since start (after BED_OVERRIDE_GRACE_MS). */
    unmatchedBedSettings?: UnmatchedBedOverride[];
  } {
    const drivers: Record<string, DriverHealth> = {};
    for (const [name, d] of this.drivers) drivers[name] = d.health();
    for (const [name, f] of this.failedStarts) drivers[name] = { state: 'failed', detail: `cannot start (${f.attempts} tries): ${f.detail}` };
    const off = this.forwardingOff;
    const fwd = this.forwarder ? this.forwarder.getStatus() : ({ state: 'off', why: off?.noHubFound ?? off?.why ?? 'no transport' } as const);
    const hubDown = this.forwarder !== null && !this.forwarder.reachable();
    // hub.mode auto that found no hub while real devices are read: their data stays here, unnoticed unless said (rv119
    // L1). An explicit off, or only simulated drivers (the demo), is meant.
    const noHub = off?.noHubFound !== undefined && this.deps.config.drivers.some((d) => d.enabled && !this.deps.registry.get(d.type)?.simulated);
    // The agent's own technical conditions still present (a silent device, a lost connection, a store problem): a
    // driver can be running while one of its devices has gone quiet. Also latched ones nobody has acknowledged (data
    // lost, alarms open at a restart, a store replaced): their condition is past, but the display still shows them
    // until someone acknowledges them (review rv119 M1).
    const technical = this.alarms.engine
      .list()
      .filter((a) => a.source === 'technical' && (a.conditionPresent || isUnacknowledged(a)))
      .map((a) => ({ deviceId: a.deviceId, bed: a.bed, priority: a.priority, text: a.condition.text, ...(!a.conditionPresent && { latched: true as const }) }));
    // A store that cannot be read (a failing disk, a store damaged while running) must not take this answer with it:
    // /healthz, /api/status, the twin report and the direct methods are how one finds out (review rv133 M2). NaN, as
    // the store_unacked_messages gauge gives; pending counts are kept in memory.
    let unackedMessages = { telemetry: Number.NaN, alarms: Number.NaN };
    let storeError: string | undefined;
    try {
      unackedMessages = this.outbox.unackedMessages();
    } catch (err) {
      storeError = (err as { code?: string }).code ?? (err as Error).message;
    }
    const degraded =
      Object.values(drivers).some((d) => d.state !== 'running') || (fwd.state !== 'off' && fwd.state !== 'connected') || hubDown || noHub || technical.length > 0 || storeError !== undefined ||
      // The control plane in trouble (a twin that goes unanswered, or turned off after closes at the twin read: rv148).
      ('control' in fwd && fwd.control !== undefined);
    return {
      status: degraded ? 'degraded' : 'ok',
      gatewayId: this.gatewayId,
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      drivers,
      forwarder: fwd,
      store: {
        path: this.outbox.path,
        pending: { telemetry: this.outbox.pending('telemetry').records, alarms: this.outbox.pending('alarms').records },
        unackedMessages,
        ...(storeError !== undefined && { error: storeError }),
      },
      metrics: this.metrics.snapshot(),
      model: this.edgeModel.status(),
      technicalAlarms: technical.slice(0, 20),
      technicalAlarmCount: technical.length,
      latchedTechnicalAlarmCount: technical.filter((a) => a.latched).length,
      unmatchedBedSettings: [...this.unmatchedBeds.values()],
    };
  }
}

const DRIVER_RETRY_FIRST_MS = 5_000;
/** How long after start a per-bed setting's bed may stay unheard of before that is said (devices reconnect, HL7 senders resume). */
const BED_OVERRIDE_GRACE_MS = 10 * 60_000;
/** Beds remembered for that check (a ward has tens). */
const MAX_SEEN_BEDS = 5000;
const DRIVER_RETRY_MAX_MS = 60_000;

/** Hints for what a listener's failure means at a gateway, and what to change. */
const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: 'another program (or another driver) already listens on this port',
  EADDRNOTAVAIL:
    'no network interface has this address here (inside the IoT Edge module keep host 0.0.0.0 and choose the address in the deployment\'s PortBindings; on a bare gateway, is that link up?)',
  EACCES: 'ports below 1024 need privileges the agent does not have: use a port from 1024 up (2575 is the usual MLLP port)',
};

/** A driver's start failure, in words that name the config field when it is a listener's address. */
function startProblem(entry: DriverEntry, index: number, err: unknown): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const at = index >= 0 ? `drivers[${index}] (${entry.name})` : `driver ${entry.name}`;
  const hint = e?.code !== undefined && e.syscall === 'listen' ? LISTEN_HINTS[e.code] : undefined;
  if (hint) {
    const field = e.code === 'EADDRNOTAVAIL' ? 'options.host' : 'options.port';
    return `${at}.${field}: cannot listen on ${e.address ?? '?'}:${e.port ?? '?'} (${e.code}): ${hint}`;
  }
  return `${at}: ${e instanceof Error ? e.message : String(err)}`;
}
