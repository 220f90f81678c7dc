// Options of the `intellivue` driver, with defaults and the checks a JSON Schema cannot express.
import type { SerialDevicePlan } from '../serial/device-driver.js';
import type { LineSettings } from '../serial/link.js';

export interface IntellivueOptions {
  /** Stable id of the monitor (serial number / asset tag); goes into every event. */
  id: string;
  bed?: string;
  /** `/dev/serial/by-id/...` (preferred) or `/dev/ttyUSB0`. Required unless `replay` is given. */
  path?: string;
  /** MIB/RS-232 Data Export runs at 115200 8N1; 19200 only for monitors set to that speed. */
  baudRate?: 115200 | 19200;
  /** Decode without ever transmitting (Y-cable beside another host). */
  listenOnly?: boolean;
  /** Record every byte both ways to this file (JSON lines, see drivers/serial/capture.ts). */
  captureFile?: string;
  /** Size bound of captureFile (default 256 MiB): the capture stops there. */
  captureMaxBytes?: number;
  /** Decode a capture (.jsonl) or raw dump of the monitor's output (.raw/.bin); implies listen-only. */
  replay?: { file: string; speed?: number };
  /** Numerics and alarms poll period (the monitor answers at most ~1 poll per object type per second). */
  pollIntervalMs?: number;
  /** 'single': a single poll per period; 'extended': extended polls with a poll period attribute. */
  numerics?: 'single' | 'extended';
  waves?: { enabled?: boolean; requestPeriodMs?: number };
  /** Largest command we accept from / send to the monitor (the MIB interface negotiates ≤ 1000). */
  maxMtu?: number;
  associationTimeoutMs?: number;
  refusedRetryMs?: number;
  reassociateDelayMs?: number;
  /** No frame from the monitor for this long while associated → abort and re-associate. */
  quietReassociateMs?: number;
  /** No bytes for this long → device status 'silent'. */
  silenceMs?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Frame pacing towards the monitor: at most maxFrames per windowMs. */
  pacing?: { maxFrames?: number; windowMs?: number };
  /** The monitor's clock has no zone: minutes ahead of UTC, or 'gateway' for the gateway's own zone. */
  monitorUtcOffsetMinutes?: number | 'gateway';
  /** How often a still-active alarm is re-emitted as 'continue' (timed on the gateway's monotonic clock). */
  alarmRepeatMs?: number;
}

/** The link, status and capture settings are the shared serial ones (SerialDevicePlan). */
export interface IntellivuePlan extends SerialDevicePlan {
  pollIntervalMs: number;
  numerics: 'single' | 'extended';
  waves: { enabled: boolean; requestPeriodMs: number };
  maxMtu: number;
  associationTimeoutMs: number;
  refusedRetryMs: number;
  reassociateDelayMs: number;
  quietReassociateMs: number;
  pacing: { maxFrames: number; windowMs: number };
  utcOffsetMinutes: number | null;
  alarmRepeatMs: number;
}

/** The smallest maxMtu with waves enabled (the programming guide's minimum for wave export). */
export const MIN_MTU_WAVES = 500;

export class IntellivueConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`intellivue config: ${problems.join('; ')}`);
    this.name = 'IntellivueConfigError';
  }
}

export function buildPlan(o: IntellivueOptions): IntellivuePlan {
  const problems: string[] = [];
  if (!o.id) problems.push('id: required');
  if (!o.path && !o.replay) problems.push('path: required unless replay is given');
  const pollIntervalMs = o.pollIntervalMs ?? 1000;
  const quietReassociateMs = o.quietReassociateMs ?? 5000;
  if (quietReassociateMs <= pollIntervalMs) problems.push('quietReassociateMs: must be longer than pollIntervalMs');
  const requestPeriodMs = o.waves?.requestPeriodMs ?? 10000;
  if (requestPeriodMs <= pollIntervalMs) problems.push('waves.requestPeriodMs: must be longer than pollIntervalMs');
  const wavesEnabled = o.waves?.enabled ?? true;
  const maxMtu = o.maxMtu ?? 1000;
  // The programming guide: the client must receive 256 ms of wave data in one message, so an MTU of at least 500 bytes
  // (700 with a multiplexed context). Smaller is not split into linked results (review rv66 L4).
  if (wavesEnabled && maxMtu < MIN_MTU_WAVES) {
    problems.push(`maxMtu: must be at least ${MIN_MTU_WAVES} with waves enabled (the monitor sends 256 ms of wave data in one message; 700 with a multiplexed context); raise it, or set waves.enabled: false (got ${maxMtu})`);
  }
  // As Medibus: a maximum below the first delay would cut every wait to it (review rv120 L2). Unwritten, the maximum
  // follows a larger initialMs, so a file with only initialMs above 30000 still starts.
  const initialMs = o.backoff?.initialMs ?? 1000;
  const backoffMaxMs = o.backoff?.maxMs ?? Math.max(30000, initialMs);
  if (backoffMaxMs < initialMs) problems.push(`backoff.maxMs: must be at least backoff.initialMs (${initialMs} ms), got ${backoffMaxMs}`);
  if (problems.length) throw new IntellivueConfigError(problems);
  const plan: IntellivuePlan = {
    id: o.id,
    path: o.path ?? o.replay?.file ?? '',
    line: { baudRate: o.baudRate ?? 115200, dataBits: 8, parity: 'none', stopBits: 1, flowControl: 'none' },
    listenOnly: o.listenOnly === true || o.replay !== undefined,
    pollIntervalMs,
    numerics: o.numerics ?? 'single',
    waves: { enabled: wavesEnabled, requestPeriodMs },
    maxMtu,
    associationTimeoutMs: o.associationTimeoutMs ?? 3000,
    refusedRetryMs: o.refusedRetryMs ?? 10000,
    reassociateDelayMs: o.reassociateDelayMs ?? 1000,
    quietReassociateMs,
    silenceMs: o.silenceMs ?? 10000,
    backoff: { initialMs, maxMs: backoffMaxMs, jitter: 0.2 },
    pacing: { maxFrames: o.pacing?.maxFrames ?? 4, windowMs: o.pacing?.windowMs ?? 128 },
    utcOffsetMinutes: o.monitorUtcOffsetMinutes === undefined || o.monitorUtcOffsetMinutes === 'gateway' ? null : o.monitorUtcOffsetMinutes,
    alarmRepeatMs: o.alarmRepeatMs ?? 60000,
  };
  if (o.bed) plan.bed = o.bed;
  if (o.captureFile) plan.captureFile = o.captureFile;
  if (o.captureMaxBytes !== undefined) plan.captureMaxBytes = o.captureMaxBytes;
  if (o.replay) plan.replay = { file: o.replay.file, speed: o.replay.speed ?? 0 };
  return plan;
}
