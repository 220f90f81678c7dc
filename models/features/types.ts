// Shared types of the alarm-validation features. Kept free of Node APIs so the live agent and the
// training extractor run the very same code.

/** The five PhysioNet/CinC 2015 alarm types, spelled as in the challenge headers. */
export const ALARM_TYPES = [
  'Asystole',
  'Bradycardia',
  'Tachycardia',
  'Ventricular_Tachycardia',
  'Ventricular_Flutter_Fib',
] as const;
export type AlarmType = (typeof ALARM_TYPES)[number];

export function isAlarmType(s: string): s is AlarmType {
  return (ALARM_TYPES as readonly string[]).includes(s);
}

/** One signal of a window in physical units (mV, mmHg, NU…). NaN marks an invalid sample. */
export interface Channel {
  /** Signal name as the source gives it: II, V, aVR, MCL, PLETH, ABP, RESP… */
  name: string;
  sampleRateHz: number;
  samples: Float32Array;
}

/** What a channel is used as, decided from its name. */
export type ChannelRole = 'ecg' | 'ppg' | 'abp' | 'resp';
