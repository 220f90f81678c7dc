// IntelliVue alarm lists → AlarmEvents with a lifecycle. The alarm monitor object lists the patient
// (P) and technical (T, "INOP") alarms active now; phases come from comparing successive lists: new →
// start, still there → continue (at most every repeatMs of the gateway's monotonic clock, or at once if the priority
// or what was done to it at the monitor changed), gone → end. AlertType bits give the IEC 60601-1-8 priority directly;
// AlertState bits say whether someone silenced or suspended it at the monitor (atDevice), and whether its condition
// is over while the monitor holds it latched (end + latched, as PCD-04 `latched`).
import type { AlarmEvent, AlarmPriority, MdcCode, Origin } from '../../agent/model/reading.js';
import { contextFree } from '../../agent/model/mdc.js';
import { lookupPhysio, rawCode } from './codes.js';
import { ALERT_STATE, ALERT_TYPE, NOM_PART_EVT, NOM_PART_OBJ, NOM_PART_SCADA, type AlarmEntry } from './protocol/index.js';

export function alarmPriority(type: number): AlarmPriority {
  if (type & (ALERT_TYPE.HI_PRI_P_AL | ALERT_TYPE.HI_PRI_T_AL)) return 'high';
  if (type & (ALERT_TYPE.MED_PRI_P_AL | ALERT_TYPE.MED_PRI_T_AL)) return 'medium';
  if (type & (ALERT_TYPE.LOW_PRI_P_AL | ALERT_TYPE.LOW_PRI_T_AL)) return 'low';
  return 'none';
}

/** Event partition codes we name (NOM_EVT_*); others keep their raw code. */
const EVENTS: Record<number, { refid: string; text: string }> = {
  40: { refid: 'MDC_EVT_HI', text: 'HIGH' },
  62: { refid: 'MDC_EVT_LO', text: 'LOW' },
  274: { refid: 'MDC_EVT_LEADS_OFF', text: 'LEADS OFF' },
  308: { refid: 'MDC_EVT_SENSOR_DISCONN', text: 'SENSOR DISCONNECTED' },
  358: { refid: 'MDC_EVT_MSMT_INOP', text: 'INOP' },
  3072: { refid: 'MDC_EVT_APNEA', text: 'APNEA' },
  3076: { refid: 'MDC_EVT_ECG_ASYSTOLE', text: 'ASYSTOLE' },
  3086: { refid: 'MDC_EVT_ECG_BRADY_EXTREME', text: 'EXTREME BRADY' },
  3122: { refid: 'MDC_EVT_ECG_TACHY_EXTREME', text: 'EXTREME TACHY' },
  3224: { refid: 'MDC_EVT_ECG_V_TACHY', text: 'VTACH' },
  3246: { refid: 'MDC_EVT_DESAT', text: 'DESAT' },
  61444: { refid: 'MDC_EVT_ECG_V_FIB_TACHY', text: 'VFIB/VTACH' },
};

interface Active {
  entry: AlarmEntry;
  /** When it was last sent, on the gateway's monotonic clock (update's `mono`). */
  lastEmitted: number;
}

export type AlarmList = 'P' | 'T';

/** An entry of a list, with the naming context of the alarm monitor that listed it (0 when not known). */
export type ListEntry = AlarmEntry & { context?: number };

/**
 * The key of an alarm within this device: list, source, code and instance, and the naming context when it is not 0, so
 * that the same alarm listed by the alarm monitors of two contexts is two alarms (review rv66 M1). Context 0 keeps the
 * documented form.
 */
export function alarmKey(list: AlarmList, e: ListEntry): string {
  const key = `${list}:${e.source}:${e.code}:${e.instance ?? 0}`;
  return e.context ? `${key}:ctx${e.context}` : key;
}

/** al_state bits of an alarm that is not a patient's (the monitor is in demo or test mode). */
const NOT_A_PATIENT = ALERT_STATE.DEV_IN_DEMO_MODE | ALERT_STATE.DEV_IN_TEST_MODE;
const DEMO_TEXT = "Monitor in demo or test mode: its alarms are not a patient's";
const NOT_CURRENT_CODE = 'alarm-lists-not-current';

/**
 * What a person did to the alarm at the monitor, from its al_state, in the terms the HL7 PCD-04 path uses for the
 * same answers (its inactivation state), so that the agent treats an answer at an IntelliVue like one over HL7. The
 * programming guide gives the bits' names and values only; their meaning is the monitor's own two actions (its
 * Instructions for Use: "Acknowledging Alarms", the Silence key; "Pausing or Switching Off Alarms").
 * - AL_SILENCED_RESET: silenced with the Silence key, which on IntelliVue acknowledges the alarm: its sound stops as
 *   long as the condition lasts (not for a set time), and a latched alarm whose condition is gone is reset. That is
 *   IEC 60601-1-8 acknowledgement, PCD-04 `alert-acknowledged` → 'acknowledged' (not 'audio-paused', which is timed).
 * - AL_SUSPENDED: the monitor's alarms paused for a while (ISO/IEEE 11073 "suspended" is temporary, "inhibited" is
 *   switched off): PCD-04 `alarm-paused`, which the HL7 path maps to 'audio-paused' (for the gateway's pause time).
 * - AL_INHIBITED (alarms switched off at the monitor) is a setting, not an answer, as PCD-04 `alarm-off`: nothing.
 * Silenced wins when both are set: it is the stronger answer and lasts for the condition.
 */
export function atDeviceOf(state: number): AlarmEvent['atDevice'] {
  if (state & ALERT_STATE.SILENCED_RESET) return 'acknowledged';
  if (state & ALERT_STATE.SUSPENDED) return 'audio-paused';
  return undefined;
}

/**
 * AL_LATCHED: the alarm condition no longer exists but the monitor still indicates the alarm. ISO/IEEE 11073-10201's
 * AlertState al-latched, which the IntelliVue AlertState follows; that standard's text is not public, and the public
 * definitions built on it say the same: IHE PCD ACM alarm state `latched` ("the alarm condition formerly existed, does
 * not now exist, but is latched or held by the alarm source", PCD TF ACM supplement), HL7 DeviceAlert presence `latched`
 * ("annunciated after the alert condition is no longer present, until stopped by deliberate operator action"). Not yet
 * seen from a real monitor.
 */
function isLatched(state: number): boolean {
  return (state & ALERT_STATE.LATCHED) !== 0;
}

export class AlarmTracker {
  private readonly active = new Map<string, Active>();
  /** Lists (P, T) whose last snapshot held demo or test alarms; while any does, one technical alarm says so. */
  private readonly demoLists = new Set<AlarmList>();
  /** Demo or test alarms seen and not passed on as patient alarms, since takeWithheld() was last called. */
  private withheld = 0;
  /** The technical alarm "alarm information not current" is active: its text as started (null when not active). */
  private notCurrentText: string | null = null;

  constructor(
    private readonly origin: Origin,
    private readonly repeatMs: number,
    /**
     * How long a list may go unread before the driver ends its alarms as not current (alarm-lists.ts boundMs): a
     * listed alarm's next `continue` comes within repeatMs plus this, which its events declare (repeatMs).
     */
    private readonly listBoundMs: (list: AlarmList) => number = () => 0,
  ) {}

  /**
   * One list snapshot → events to emit. `mono` (the gateway's monotonic clock, ms) times the repeats: the engine waits
   * for them in gateway time, so neither the monitor's clock nor the gateway's wall clock being set may delay them
   * (review rv188 H1). `receivedAt` and `deviceTime` only stamp the events.
   */
  update(list: AlarmList, entries: ListEntry[], mono: number, receivedAt: number, deviceTime: number | null): AlarmEvent[] {
    const out: AlarmEvent[] = [];
    const seen = new Set<string>();
    // A demo or test alarm is the monitor's simulation, not the patient: it must not reach the bedside as a patient
    // alarm. One technical alarm says the monitor is in that mode instead, for as long as such alarms are listed.
    const demo = entries.filter((e) => (e.state & NOT_A_PATIENT) !== 0);
    this.withheld += demo.length;
    const wasDemo = this.demoLists.size > 0;
    if (demo.length) this.demoLists.add(list);
    else this.demoLists.delete(list);
    if (!wasDemo && this.demoLists.size > 0) out.push(this.demoEvent('start', receivedAt, deviceTime));
    if (wasDemo && this.demoLists.size === 0) out.push(this.demoEvent('end', receivedAt, deviceTime));
    for (const e of entries) {
      if ((e.state & NOT_A_PATIENT) !== 0) continue;
      const key = alarmKey(list, e);
      seen.add(key);
      const prev = this.active.get(key);
      const wasLatched = prev !== undefined && isLatched(prev.entry.state);
      if (isLatched(e.state)) {
        // Condition over, signal held at the monitor: one end + latched (again only if it is answered there), kept
        // tracked so that its removal from the list (the latch reset there) ends it plainly, as PCD-04 does.
        if (!prev || !wasLatched || atDeviceOf(prev.entry.state) !== atDeviceOf(e.state)) out.push({ ...this.event(list, key, e, 'end', receivedAt, deviceTime), latched: true });
        this.active.set(key, { entry: e, lastEmitted: mono });
      } else if (!prev || wasLatched) {
        // New, or latched before and listed without the bit now: the condition is back, a new episode.
        out.push(this.event(list, key, e, 'start', receivedAt, deviceTime));
        this.active.set(key, { entry: e, lastEmitted: mono });
      } else if (prev.entry.type !== e.type || atDeviceOf(prev.entry.state) !== atDeviceOf(e.state) || mono - prev.lastEmitted >= this.repeatMs) {
        // An answer at the monitor goes out at once, not at the next repeat: the gateway must not escalate meanwhile.
        out.push(this.event(list, key, e, 'continue', receivedAt, deviceTime));
        this.active.set(key, { entry: e, lastEmitted: mono });
      } else {
        prev.entry = e;
      }
    }
    for (const [key, a] of this.active) {
      if (!key.startsWith(`${list}:`) || seen.has(key)) continue;
      out.push(this.event(list, key, a.entry, 'end', receivedAt, deviceTime));
      this.active.delete(key);
    }
    return out;
  }

  /** How many demo or test alarms were withheld since the last call (for the driver's counter). */
  takeWithheld(): number {
    const n = this.withheld;
    this.withheld = 0;
    return n;
  }

  /**
   * When the monitor is lost, every alarm we hold is ended (we can no longer vouch for it). Our own "not current"
   * ends as link-lost (latched until "disconnected" or "no data" takes over), or plainly when the driver stops on
   * purpose (`stopping`), where nothing takes over (review rv175 L3).
   */
  endAll(receivedAt: number, stopping = false): AlarmEvent[] {
    const out = [...this.endList('P', receivedAt), ...this.endList('T', receivedAt)];
    if (this.notCurrentText !== null) {
      const end = this.notCurrentEvent('end', this.notCurrentText, receivedAt);
      out.push(stopping ? end : { ...end, endedBy: 'link-lost' as const });
    }
    this.notCurrentText = null;
    return out;
  }

  /**
   * The alarms of one list can no longer be vouched for (the monitor's list has not been read for too long): ended as
   * on a lost link, so that nothing stays shown as current. They start again, as new instances, when it is read.
   */
  endList(list: AlarmList, receivedAt: number): AlarmEvent[] {
    const out: AlarmEvent[] = [];
    for (const [key, a] of this.active) {
      if (!key.startsWith(`${list}:`)) continue;
      out.push({ ...this.event(list, key, a.entry, 'end', receivedAt, null), endedBy: 'link-lost' });
      this.active.delete(key);
    }
    if (this.demoLists.delete(list) && this.demoLists.size === 0) out.push({ ...this.demoEvent('end', receivedAt, null), endedBy: 'link-lost' });
    return out;
  }

  /**
   * The technical alarm "alarm information from the monitor not current" (the driver times it): started with `text`
   * when `on` and not active, ended when not `on` and active; else nothing.
   */
  notCurrent(on: boolean, text: string, receivedAt: number): AlarmEvent[] {
    if (on === (this.notCurrentText !== null)) return [];
    if (on) {
      this.notCurrentText = text;
      return [this.notCurrentEvent('start', text, receivedAt)];
    }
    const started = this.notCurrentText as string;
    this.notCurrentText = null;
    return [this.notCurrentEvent('end', started, receivedAt)];
  }

  private notCurrentEvent(phase: AlarmEvent['phase'], text: string, receivedAt: number): AlarmEvent {
    return {
      ...this.origin,
      kind: 'alarm',
      alarmId: `${this.origin.deviceId}:${NOT_CURRENT_CODE}`,
      condition: null,
      // The driver's own finding (its alarm lists unread), not a report from the monitor: no data (review rv175 M1).
      driverFinding: true,
      raw: { system: 'intellivue', code: NOT_CURRENT_CODE, text },
      text,
      priority: 'medium',
      category: 'technical',
      phase,
      deviceTime: null,
      receivedAt,
    };
  }

  private demoEvent(phase: AlarmEvent['phase'], receivedAt: number, deviceTime: number | null): AlarmEvent {
    return {
      ...this.origin,
      kind: 'alarm',
      alarmId: `${this.origin.deviceId}:demo-or-test-mode`,
      condition: null,
      raw: { system: 'intellivue', code: 'demo-or-test-mode', text: DEMO_TEXT },
      text: DEMO_TEXT,
      priority: 'medium',
      category: 'technical',
      phase,
      deviceTime,
      receivedAt,
    };
  }

  private event(list: AlarmList, key: string, e: AlarmEntry, phase: AlarmEvent['phase'], receivedAt: number, deviceTime: number | null): AlarmEvent {
    // LSB of al_code set: al_source is an object (partition OBJ), else a measurement (SCADA).
    const sourceIsObject = (e.code & 1) === 1;
    const evtCode = e.code & 0xfffe;
    const evt = EVENTS[evtCode];
    const source = sourceIsObject ? null : lookupPhysio(e.source);
    const condition: MdcCode | null = evt ? { code: contextFree(NOM_PART_EVT, evtCode), refid: evt.refid } : null;
    const sourceText = source?.label ?? `${sourceIsObject ? NOM_PART_OBJ : NOM_PART_SCADA}:${e.source}`;
    const text = e.text?.trim() || `${sourceText} ${evt?.text ?? `event ${evtCode}`}`;
    const ev: AlarmEvent = {
      ...this.origin,
      kind: 'alarm',
      alarmId: `${this.origin.deviceId}:${key}`,
      condition,
      raw: rawCode(NOM_PART_EVT, e.code, text),
      text,
      priority: alarmPriority(e.type),
      category: list === 'T' || (e.type & 0x00ff) !== 0 ? 'technical' : 'physiological',
      phase,
      deviceTime,
      receivedAt,
    };
    if (source) ev.sourceMetric = source.mdc;
    // A listed alarm is sent again within repeatMs and the list's read bound (update above; an unread list ends its
    // alarms): the engine ends one that stops coming while the monitor sends on, its end lost (review rv185 M3). Not
    // on an end (nothing more to repeat).
    if (phase !== 'end') ev.repeatMs = this.repeatMs + this.listBoundMs(list);
    const atDevice = atDeviceOf(e.state);
    if (atDevice) ev.atDevice = atDevice;
    return ev;
  }
}
