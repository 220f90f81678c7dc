// The `alarms` section of the config (alarm policy) and how it maps onto the AlarmEngine's config.
// Kept apart from the schema so that the engine stays free of config-file concerns.
import { DEFAULT_ENGINE_CONFIG, type AlarmEngineConfig } from '../alarms/engine.js';
import { DEFAULT_LIMIT_CONFIG, DEFAULT_LIMIT_RULES, endPointSlips, rangeSlips, ruleProblems, type LimitOverride } from '../alarms/limits.js';
import { DEFAULT_NEWS2_CONFIG, type News2BedConfig, type News2Config } from '../alarms/news2.js';
import { DEFAULT_RHYTHM_CONFIG, type RhythmConfig } from '../alarms/rhythm.js';
import { GATEWAY_BED, type ManagedPriority } from '../alarms/types.js';

export interface AlarmPolicyConfig {
  escalation: { enabled: boolean; afterS: number; priorities: ManagedPriority[] };
  audioPause: { defaultS: number; maxS: number };
  limits: { beds: Record<string, Record<string, LimitOverride>> };
  news2: { beds: Record<string, News2BedConfig>; clearAfterS: number; priorities?: Partial<News2Config['priorities']> };
  rhythm: RhythmConfig;
  /** Seconds without an event before "no data", for a device not listed in `devices` (see schema). */
  silentAfterS?: number;
  /** Open device alarms kept per device (see schema). */
  maxOpenDeviceAlarms?: number;
  /** Devices expected to send from start (see schema). */
  devices: Record<string, { bed?: string; silentAfterS?: number }>;
}

/** The engine config for a policy (everything not named in the policy keeps the engine's defaults). */
export function engineConfigFromPolicy(policy: AlarmPolicyConfig): Omit<AlarmEngineConfig, 'idPrefix'> {
  const beds: NonNullable<(typeof DEFAULT_LIMIT_CONFIG)['beds']> = {};
  for (const [bed, overrides] of Object.entries(policy.limits.beds)) beds[bed] = { overrides };
  const { idPrefix: _unused, ...rest } = DEFAULT_ENGINE_CONFIG;
  return {
    ...rest,
    limits: { ...DEFAULT_LIMIT_CONFIG, beds },
    news2: {
      ...DEFAULT_NEWS2_CONFIG,
      beds: { ...policy.news2.beds },
      clearAfterS: policy.news2.clearAfterS ?? DEFAULT_NEWS2_CONFIG.clearAfterS,
      priorities: { ...DEFAULT_NEWS2_CONFIG.priorities, ...policy.news2.priorities },
    },
    rhythm: { ...DEFAULT_RHYTHM_CONFIG, ...policy.rhythm },
    escalation: policy.escalation.enabled ? { afterS: policy.escalation.afterS, priorities: [...policy.escalation.priorities] } : null,
    audioPause: { ...policy.audioPause },
    maxOpenDeviceAlarms: policy.maxOpenDeviceAlarms ?? rest.maxOpenDeviceAlarms,
    // A configured bed "*" (the gateway's own id; warned of) is no bed: the device's alarms go to "unassigned", never
    // to the gateway's section (review rv124 H1).
    technical: { ...rest.technical, silentAfterS: policy.silentAfterS ?? rest.technical.silentAfterS, devices: Object.fromEntries(Object.entries(policy.devices).map(([id, d]) => [id, d.bed === GATEWAY_BED ? { ...(d.silentAfterS !== undefined && { silentAfterS: d.silentAfterS }) } : d])) },
  };
}

/** Problems the schema cannot see: unknown rule ids, overrides that leave a rule unusable, pause default above max. */
export function alarmPolicyProblems(policy: AlarmPolicyConfig | undefined): { path: string; message: string }[] {
  if (!policy) return [];
  const problems: { path: string; message: string }[] = [];
  const ids = DEFAULT_LIMIT_RULES.map((r) => r.id);
  for (const [bed, overrides] of Object.entries(policy.limits?.beds ?? {})) {
    for (const [id, o] of Object.entries(overrides ?? {})) {
      const path = `alarms.limits.beds.${bed}.${id}`;
      const rule = DEFAULT_LIMIT_RULES.find((r) => r.id === id);
      if (!rule) {
        problems.push({ path, message: `unknown limit rule; known: ${ids.join(', ')}` });
        continue;
      }
      const merged = { ...rule, ...o, id };
      if (merged.enabled === false) continue;
      // A limit outside its rule's range, or an end point beyond it, is not refused here: limitRangeWarnings (review
      // rv94 H2, rv120 H1).
      for (const e of ruleProblems(merged)) problems.push({ path: e.field ? `${path}.${e.field}` : path, message: e.message });
    }
  }
  const pause = policy.audioPause;
  if (pause && pause.defaultS > pause.maxS) {
    problems.push({ path: 'alarms.audioPause.defaultS', message: `must be <= maxS (${pause.maxS})` });
  }
  return problems;
}

/**
 * Per-bed limits outside their rule's range (a °F temperature, a digit too many, temp low 0 for "no low alarm"): used
 * as written, warned of (--check, start) and a gateway technical alarm while the config in force holds them, never
 * refused: a file, a saved twin overlay or a twin change that started before must still start (review rv94 H2).
 * Likewise a hysteresis putting a limit's end beyond the range (SpO2 low 99 ending at 101, HR high 120 with 150 ending
 * at -30: the alarm could never end), or the low's end above the high (SpO2 99..100 with 2; refused from 535f010 until
 * review rv127 M1), except that the rule runs with a substitute, as rulesForBed applies it (endPointSlips; review rv120
 * H1). `alarm` is the alarm's text, naming the field in full. One per field: two slips in one field are one warning
 * and one gateway alarm (its key is the field and value), saying both.
 */
export function limitRangeWarnings(policy: AlarmPolicyConfig | undefined): { path: string; value: number; message: string; alarm: string }[] {
  const out: { path: string; value: number; message: string; alarm: string }[] = [];
  // A range slip and a two-sided end can fall on one field (spo2 low -1 high 0): one warning and alarm saying both.
  const byPath = new Map<string, { warning: (typeof out)[number]; shorts: string[] }>();
  const push = (path: string, value: number, message: string, short: string) => {
    let said = byPath.get(path);
    if (said) said.warning.message += `; ${message}`;
    else {
      said = { warning: { path, value, message, alarm: '' }, shorts: [] };
      byPath.set(path, said);
      out.push(said.warning);
    }
    said.shorts.push(short);
    said.warning.alarm = `Limit ${path} ${value} ${said.shorts.join('; ')}; check the configuration`;
  };
  for (const [bed, overrides] of Object.entries(policy?.limits?.beds ?? {})) {
    for (const [id, o] of Object.entries(overrides ?? {})) {
      const rule = DEFAULT_LIMIT_RULES.find((r) => r.id === id);
      if (!rule) continue;
      const merged = { ...rule, ...o, id };
      if (merged.enabled === false) continue;
      for (const slip of rangeSlips(merged)) {
        const path = `alarms.limits.beds.${bed}.${id}.${slip.field}`;
        push(path, slip.value, `${slip.message} (used as written; a gateway technical alarm says so while it is configured)`, slip.short);
      }
      for (const slip of endPointSlips(merged, rule.hysteresis)) {
        // Named at hysteresis where the bed wrote it, else at the limit it wrote (the rule's default margin was kept):
        // past the other limit, its low, or its high where it wrote only that (hr high 52 with the default low 50).
        const limit = slip.pastOther && o?.low === undefined ? 'high' : slip.limit;
        const field = o?.hysteresis !== undefined ? 'hysteresis' : limit;
        const path = `alarms.limits.beds.${bed}.${id}.${field}`;
        const value = field === 'hysteresis' ? slip.hysteresis : merged[limit]!;
        push(path, value, `${slip.message} (a gateway technical alarm says so while it is configured)`, slip.short);
      }
    }
  }
  return out;
}
