// Attribute values (the `value` of an AVA) → typed records. Pure; throws only IntellivueParseError
// with the offset inside the message.
import { ALERT_INFO } from './constants.js';
import { decodeFloat, type FloatValue } from './float.js';
import type { Ava, ManagedObjectId, ObjType } from './messages.js';
import { Reader } from './reader.js';
import { decodeAbsoluteTime, type AbsoluteTime } from './time.js';

export interface NuObsValue {
  physioId: number;
  state: number;
  unitCode: number;
  value: FloatValue;
}

export interface SaObsValue {
  physioId: number;
  state: number;
  samples: Buffer;
}

export interface SaSpec {
  arraySize: number;
  sampleSize: number;
  significantBits: number;
  flags: number;
}

export interface ScaleRangeSpec {
  lowerAbsolute: FloatValue;
  upperAbsolute: FloatValue;
  lowerScaled: number;
  upperScaled: number;
}

export interface AlarmEntry {
  source: number;
  code: number;
  type: number;
  state: number;
  object: ManagedObjectId;
  infoId: number;
  instance: number | null;
  textId: number | null;
  priority: number | null;
  flags: number | null;
  /** Text the monitor shows (StrAlMonInfo), when sent. */
  text: string | null;
}

function reader(ava: Ava, structure: string): Reader {
  return new Reader(ava.value, structure, 0, ava.value.length, ava.offset);
}

function nuObs(r: Reader, field: string): NuObsValue {
  return { physioId: r.u16(`${field}.physio_id`), state: r.u16(`${field}.state`), unitCode: r.u16(`${field}.unit_code`), value: decodeFloat(r.u32(`${field}.value`)) };
}

export function decodeNuObsValue(ava: Ava): NuObsValue {
  return nuObs(reader(ava, 'NuObsValue'), 'NuObsValue');
}

export function decodeNuObsValueCmp(ava: Ava): NuObsValue[] {
  const r = reader(ava, 'NuObsValueCmp');
  const count = r.u16('count');
  const list = r.sub(r.u16('length'), 'NuObsValueCmp', 'length');
  const out: NuObsValue[] = [];
  for (let i = 0; i < count; i++) out.push(nuObs(list, `value[${i}]`));
  return out;
}

function saObs(r: Reader, field: string): SaObsValue {
  const physioId = r.u16(`${field}.physio_id`);
  const state = r.u16(`${field}.state`);
  const len = r.u16(`${field}.array.length`);
  return { physioId, state, samples: r.bytes(len, `${field}.array.value`) };
}

export function decodeSaObsValue(ava: Ava): SaObsValue {
  return saObs(reader(ava, 'SaObsValue'), 'SaObsValue');
}

export function decodeSaObsValueCmp(ava: Ava): SaObsValue[] {
  const r = reader(ava, 'SaObsValueCmp');
  const count = r.u16('count');
  const list = r.sub(r.u16('length'), 'SaObsValueCmp', 'length');
  const out: SaObsValue[] = [];
  for (let i = 0; i < count; i++) out.push(saObs(list, `value[${i}]`));
  return out;
}

export function decodeSaSpec(ava: Ava): SaSpec {
  const r = reader(ava, 'SaSpec');
  return { arraySize: r.u16('array_size'), sampleSize: r.u8('sample_type.sample_size'), significantBits: r.u8('sample_type.significant_bits'), flags: r.u16('flags') };
}

export function decodeScaleRangeSpec(ava: Ava): ScaleRangeSpec {
  const r = reader(ava, 'ScaleRangeSpec16');
  return {
    lowerAbsolute: decodeFloat(r.u32('lower_absolute_value')),
    upperAbsolute: decodeFloat(r.u32('upper_absolute_value')),
    lowerScaled: r.u16('lower_scaled_value'),
    upperScaled: r.u16('upper_scaled_value'),
  };
}

export function decodeType(ava: Ava): ObjType {
  const r = reader(ava, 'TYPE');
  return { partition: r.u16('partition'), code: r.u16('code') };
}

export function decodeU16(ava: Ava, structure: string): number {
  return reader(ava, structure).u16(structure);
}

export function decodeU32(ava: Ava, structure: string): number {
  return reader(ava, structure).u32(structure);
}

export function decodeAbsTimeAttr(ava: Ava): AbsoluteTime | null {
  reader(ava, 'AbsoluteTime').bytes(8, 'AbsoluteTime'); // bounds check with the right offset
  return decodeAbsoluteTime(ava.value);
}

function unicodeString(r: Reader, field: string): string {
  const len = r.u16(`${field}.length`);
  const b = r.bytes(len, `${field}.value`);
  let s = '';
  for (let i = 0; i + 1 < b.length; i += 2) {
    const c = ((b[i] as number) << 8) | (b[i + 1] as number);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** NOM_ATTR_ID_LABEL_STRING: a String (length in bytes, UTF-16 big-endian, may be 0-terminated). */
export function decodeLabelString(ava: Ava): string {
  return unicodeString(reader(ava, 'String'), 'String');
}

export function decodeAlarmList(ava: Ava): AlarmEntry[] {
  const r = reader(ava, 'DevAlarmList');
  const count = r.u16('count');
  const list = r.sub(r.u16('length'), 'DevAlarmList', 'length');
  const out: AlarmEntry[] = [];
  for (let i = 0; i < count; i++) {
    const f = `entry[${i}]`;
    const e: AlarmEntry = {
      source: list.u16(`${f}.al_source`),
      code: list.u16(`${f}.al_code`),
      type: list.u16(`${f}.al_type`),
      state: list.u16(`${f}.al_state`),
      object: { objClass: list.u16(`${f}.object.m_obj_class`), contextId: list.u16(`${f}.object.context_id`), handle: list.u16(`${f}.object.handle`) },
      infoId: list.u16(`${f}.alert_info_id`),
      instance: null,
      textId: null,
      priority: null,
      flags: null,
      text: null,
    };
    const info = list.sub(list.u16(`${f}.length`), 'alert info', `${f}.length`);
    if (e.infoId === ALERT_INFO.GEN_ALMON_INFO || e.infoId === ALERT_INFO.STR_ALMON_INFO) {
      e.instance = info.u16(`${f}.al_inst_no`);
      e.textId = info.u32(`${f}.al_text`);
      e.priority = info.u16(`${f}.priority`);
      e.flags = info.u16(`${f}.flags`);
      if (e.infoId === ALERT_INFO.STR_ALMON_INFO) e.text = unicodeString(info, `${f}.string`);
    }
    out.push(e);
  }
  return out;
}

export interface DeviceAlertCondition {
  deviceAlertState: number;
  changeCount: number;
  maxPAlarm: number;
  maxTAlarm: number;
  maxAudibleAlarm: number;
}

export function decodeDeviceAlertCondition(ava: Ava): DeviceAlertCondition {
  const r = reader(ava, 'DeviceAlertCondition');
  return { deviceAlertState: r.u16('device_alert_state'), changeCount: r.u16('al_stat_chg_cnt'), maxPAlarm: r.u16('max_p_alarm'), maxTAlarm: r.u16('max_t_alarm'), maxAudibleAlarm: r.u16('max_aud_alarm') };
}
