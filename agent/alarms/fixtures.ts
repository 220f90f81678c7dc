// Builders for the alarm tests: readings and device events with sensible defaults.
import { MDC, UNITS } from '../model/mdc.js';
import type { AlarmEvent, DeviceStatusEvent, MdcCode, NumericReading, Quality, Unit, WaveformSegment } from '../model/reading.js';

export const T0 = Date.UTC(2025, 0, 1, 8, 0, 0);
export const s = (seconds: number): number => T0 + seconds * 1000;

const UNIT_OF = new Map<number, Unit>([
  [MDC.ECG_HEART_RATE.code, UNITS.BEAT_PER_MIN],
  [MDC.PULS_RATE.code, UNITS.BEAT_PER_MIN],
  [MDC.PULS_OXIM_PULS_RATE.code, UNITS.BEAT_PER_MIN],
  [MDC.PULS_OXIM_SAT_O2.code, UNITS.PERCENT],
  [MDC.RESP_RATE.code, UNITS.RESP_PER_MIN],
  [MDC.PRESS_BLD_NONINV_SYS.code, UNITS.MMHG],
  [MDC.PRESS_BLD_NONINV_DIA.code, UNITS.MMHG],
  [MDC.TEMP_BODY.code, UNITS.DEGC],
]);

export function numeric(
  mdc: MdcCode,
  value: number | string | null,
  atS: number,
  opts: { bed?: string | null; deviceId?: string; quality?: Quality; unit?: Unit; patientId?: string; setting?: true } = {},
): NumericReading {
  const r: NumericReading = {
    kind: 'numeric',
    deviceId: opts.deviceId ?? 'mon-1',
    source: 'test',
    mdc,
    value,
    unit: opts.unit ?? UNIT_OF.get(mdc.code) ?? UNITS.DIMLESS,
    deviceTime: null,
    receivedAt: s(atS),
    quality: opts.quality ?? { state: 'valid' },
  };
  if (opts.bed !== null) r.bed = opts.bed ?? 'bed-1';
  if (opts.patientId !== undefined) r.patientId = opts.patientId;
  if (opts.setting) r.setting = true;
  return r;
}

export function wave(mdc: MdcCode, atS: number, quality: Quality, deviceId = 'mon-1'): WaveformSegment {
  return {
    kind: 'waveform', deviceId, bed: 'bed-1', source: 'test', mdc, unit: UNITS.MILLI_VOLT,
    startTime: s(atS), sampleRateHz: 250, samples: [0, 0.1, 0.2], receivedAt: s(atS), quality,
  };
}

export function deviceAlarm(
  alarmId: string,
  phase: AlarmEvent['phase'],
  atS: number,
  opts: Partial<Pick<AlarmEvent, 'priority' | 'category' | 'text' | 'bed' | 'deviceId' | 'value' | 'endedBy' | 'atDevice' | 'driverFinding'>> = {},
): AlarmEvent {
  return {
    kind: 'alarm',
    deviceId: opts.deviceId ?? 'mon-1',
    bed: opts.bed ?? 'bed-1',
    source: 'test',
    alarmId,
    condition: null,
    text: opts.text ?? 'ASYSTOLE',
    priority: opts.priority ?? 'high',
    category: opts.category ?? 'physiological',
    phase,
    value: opts.value ?? null,
    ...(opts.endedBy && { endedBy: opts.endedBy }),
    ...(opts.atDevice && { atDevice: opts.atDevice }),
    ...(opts.driverFinding && { driverFinding: true }),
    deviceTime: null,
    receivedAt: s(atS),
  };
}

export function status(state: DeviceStatusEvent['state'], atS: number, deviceId = 'mon-1', detail = 'test'): DeviceStatusEvent {
  return { kind: 'device-status', deviceId, bed: 'bed-1', source: 'test', state, detail, at: s(atS) };
}

export const nurse = { user: 'nurse.jones', role: 'clinician', from: '10.0.0.7' } as const;
