// Options of the `medibus` driver, with defaults and the checks a JSON Schema cannot express.
import type { SerialDevicePlan } from '../serial/device-driver.js';
import type { FlowControl, LineSettings, Parity } from '../serial/link.js';
import type { CodeProfile } from './codes.js';
import { CMD } from './protocol/constants.js';
import type { HalfOrder } from './protocol/realtime.js';
import { PRESETS, type ModelName } from './presets.js';

/** Data requests a session can cycle through, by name (see README). */
export const REQUESTS = {
  measured1: CMD.DATA_CP1,
  measured2: CMD.DATA_CP2,
  alarms1: CMD.ALARMS_CP1,
  alarms2: CMD.ALARMS_CP2,
  alarms3: CMD.ALARMS_CP3,
  lowLimits1: CMD.LOW_LIMITS_CP1,
  highLimits1: CMD.HIGH_LIMITS_CP1,
  settings: CMD.SETTINGS,
  text: CMD.TEXT_MESSAGES,
  dateTime: CMD.DATE_TIME,
} as const;
export type RequestName = keyof typeof REQUESTS;

/** The requests that read an alarm page (27H / 2EH / 23H). */
export const ALARM_REQUESTS: readonly number[] = [REQUESTS.alarms1, REQUESTS.alarms2, REQUESTS.alarms3];

/** Request codes back to their names (start log). */
export function requestNames(codes: readonly number[]): string[] {
  return codes.map((c) => Object.entries(REQUESTS).find(([, v]) => v === c)?.[0] ?? `0x${c.toString(16)}`);
}

export interface MedibusOptions {
  /** Stable id of the device (serial number or asset tag); goes into every event. */
  id: string;
  bed?: string;
  model?: ModelName;
  /** Which code table the measured data follow; default: the model preset's. */
  codeProfile?: CodeProfile;
  /** A stable name: `/dev/serial/by-id/...` or a udev name; `/dev/ttyUSB0`-style names are warned of (review rv149 H1). Required unless `replay` is given. */
  path?: string;
  baudRate?: number;
  dataBits?: 7 | 8;
  parity?: Parity;
  stopBits?: 1 | 2;
  flowControl?: FlowControl;
  /** Decode without ever transmitting (Y-cable beside another host). */
  listenOnly?: boolean;
  /** Record every byte both ways to this file (JSON lines, see drivers/serial/capture.ts). */
  captureFile?: string;
  /** Size bound of captureFile (default 256 MiB): the capture stops there. */
  captureMaxBytes?: number;
  /** Decode a capture (.jsonl) or raw dump (.raw/.bin) instead of a port; implies listen-only. */
  replay?: { file: string; speed?: number };
  requests?: RequestName[];
  pollIntervalMs?: number;
  responseTimeoutMs?: number;
  retries?: number;
  keepAliveMs?: number;
  quietReinitMs?: number;
  silenceMs?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  realtime?: { enabled?: boolean; codes?: number[]; halfOrder?: HalfOrder; segmentMs?: number };
  /** Medibus priority (1..31) at or above which an alarm is high / medium; below is low. */
  alarmPriority?: { high?: number; medium?: number };
  /** How often a still-active alarm is re-emitted as 'continue'. */
  alarmRepeatMs?: number;
  /** What we answer when the device asks who we are (52H). */
  hostIdentity?: { id?: string; name?: string; revision?: string };
}

/** The link, status and capture settings are the shared serial ones (SerialDevicePlan). */
export interface MedibusPlan extends SerialDevicePlan {
  model: ModelName;
  codeProfile: CodeProfile;
  requests: number[];
  pollIntervalMs: number;
  responseTimeoutMs: number;
  retries: number;
  keepAliveMs: number;
  quietReinitMs: number;
  realtime: { enabled: boolean; codes: number[]; halfOrder: HalfOrder; segmentMs: number };
  alarmPriority: { high: number; medium: number };
  alarmRepeatMs: number;
  hostIdentity: { id: string; name: string; revision: string };
}

/** Options that cannot work, each naming its option as the agent's config does (`options.quietReinitMs`). */
export class MedibusConfigError extends Error {
  constructor(readonly problems: Array<{ field: string; message: string }>) {
    super(`invalid medibus config: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    this.name = 'MedibusConfigError';
  }
}

export const DEFAULT_REQUESTS: RequestName[] = ['measured1', 'measured2', 'alarms1', 'alarms2', 'settings', 'text'];

export function buildPlan(o: MedibusOptions): MedibusPlan {
  const problems: Array<{ field: string; message: string }> = [];
  const problem = (field: string, message: string) => problems.push({ field: `options.${field}`, message });
  if (!o.id) problem('id', 'is required');
  if (!o.path && !o.replay) problem('path', 'is required unless replay is given');
  const model = o.model ?? 'generic';
  const preset = PRESETS[model];
  if (!preset) problem('model', `unknown ${JSON.stringify(model)}`);
  const base = preset?.line ?? PRESETS.generic.line;
  // An empty list would leave the session cycling nothing: online, and never a value.
  if (o.requests?.length === 0) problem('requests', `must list at least one request (${Object.keys(REQUESTS).join(', ')})`);
  const requests = (o.requests ?? DEFAULT_REQUESTS).map((r, i) => {
    const code = REQUESTS[r];
    if (code === undefined) problem(`requests[${i}]`, `unknown ${JSON.stringify(r)}`);
    return code;
  });
  const hp = { high: o.alarmPriority?.high ?? 21, medium: o.alarmPriority?.medium ?? 11 };
  if (hp.medium > hp.high) problem('alarmPriority.medium', `must not exceed alarmPriority.high (${hp.high}), got ${hp.medium}`);
  const responseTimeoutMs = o.responseTimeoutMs ?? 3000;
  const quietReinitMs = o.quietReinitMs ?? 10000;
  const keepAliveMs = o.keepAliveMs ?? 2000;
  const initialMs = o.backoff?.initialMs ?? 1000;
  const backoff = { initialMs, maxMs: o.backoff?.maxMs ?? Math.max(30000, initialMs) };
  // Each pair is reported at the option that was written, naming the other's value (which may be a default). The
  // timers only run when the agent drives the line: listen-only and replay never send or re-initialise.
  const byDefault = (v: unknown) => (v === undefined ? ' by default' : '');
  const drives = !(o.listenOnly === true || o.replay !== undefined);
  if (drives && quietReinitMs <= responseTimeoutMs) {
    const why = 'the line would count as quiet while an answer is still awaited';
    if (o.quietReinitMs === undefined) problem('responseTimeoutMs', `must be shorter than quietReinitMs (${quietReinitMs} ms by default), got ${responseTimeoutMs}: ${why}; raise quietReinitMs too`);
    else problem('quietReinitMs', `must be longer than responseTimeoutMs (${responseTimeoutMs} ms${byDefault(o.responseTimeoutMs)}), got ${quietReinitMs}: ${why}`);
  }
  if (drives && keepAliveMs >= quietReinitMs) {
    const why = 'an idle line would be re-initialised before a keep-alive is sent';
    if (o.keepAliveMs !== undefined) problem('keepAliveMs', `must be shorter than quietReinitMs (${quietReinitMs} ms${byDefault(o.quietReinitMs)}), got ${keepAliveMs}: ${why}`);
    else problem('quietReinitMs', `must be longer than keepAliveMs (${keepAliveMs} ms by default), got ${quietReinitMs}: ${why}`);
  }
  if (backoff.maxMs < backoff.initialMs) problem('backoff.maxMs', `must be at least backoff.initialMs (${backoff.initialMs} ms), got ${backoff.maxMs}`);
  if (problems.length) throw new MedibusConfigError(problems);
  const plan: MedibusPlan = {
    id: o.id,
    model,
    codeProfile: o.codeProfile ?? preset?.codeProfile ?? PRESETS.generic.codeProfile,
    path: o.path ?? o.replay?.file ?? '',
    line: {
      baudRate: o.baudRate ?? base.baudRate,
      dataBits: o.dataBits ?? base.dataBits,
      parity: o.parity ?? base.parity,
      stopBits: o.stopBits ?? base.stopBits,
      flowControl: o.flowControl ?? base.flowControl,
    },
    listenOnly: o.listenOnly === true || o.replay !== undefined,
    requests: requests.filter((c): c is (typeof REQUESTS)[RequestName] => c !== undefined),
    pollIntervalMs: o.pollIntervalMs ?? 1000,
    responseTimeoutMs,
    retries: o.retries ?? 2,
    keepAliveMs,
    quietReinitMs,
    silenceMs: o.silenceMs ?? 15000,
    backoff: { ...backoff, jitter: 0.2 },
    realtime: {
      enabled: o.realtime?.enabled === true,
      codes: o.realtime?.codes ?? [0x00, 0x01, 0x03],
      halfOrder: o.realtime?.halfOrder ?? 'low-first',
      segmentMs: o.realtime?.segmentMs ?? 1000,
    },
    alarmPriority: hp,
    alarmRepeatMs: o.alarmRepeatMs ?? 60000,
    hostIdentity: { id: o.hostIdentity?.id ?? '0000', name: o.hostIdentity?.name ?? 'EdgeGateway', revision: o.hostIdentity?.revision ?? '01.00:06.00' },
  };
  if (o.bed) plan.bed = o.bed;
  if (o.captureFile) plan.captureFile = o.captureFile;
  if (o.captureMaxBytes !== undefined) plan.captureMaxBytes = o.captureMaxBytes;
  if (o.replay) plan.replay = { file: o.replay.file, speed: o.replay.speed ?? 0 };
  return plan;
}

/**
 * What --check and the start say of options that build but work other than meant (the factory's `warnings`).
 * silenceMs at or below quietReinitMs, on a line the agent drives: the status goes `silent`, and the device's
 * alarms end, before the session gives the device up; a pause it would ride out ends every alarm (raised again, as
 * new, when the bytes return). Warned, not refused: it works (the alarm-page watch starts again, review rv93 H1),
 * it is a choice of a quicker `silent`, and refusing would keep a configuration that ran until now from starting.
 * 0 turns silence detection off: nothing to say.
 */
export function planWarnings(o: MedibusOptions): Array<{ field: string; message: string }> {
  const plan = buildPlan(o);
  if (plan.listenOnly || plan.silenceMs === 0 || plan.silenceMs > plan.quietReinitMs) return [];
  const why = `the device is reported silent, and its alarms ended, before the session gives it up (re-initialises): a pause the session would ride out ends every alarm, raised again as new when the bytes return; keep silenceMs longer than quietReinitMs (defaults 15000 and 10000)`;
  if (o.silenceMs === undefined) return [{ field: 'options.quietReinitMs', message: `${plan.quietReinitMs} is not shorter than silenceMs (${plan.silenceMs} ms by default): ${why}` }];
  const byDefault = o.quietReinitMs === undefined ? ' by default' : '';
  return [{ field: 'options.silenceMs', message: `${plan.silenceMs} is not longer than quietReinitMs (${plan.quietReinitMs} ms${byDefault}): ${why}` }];
}
