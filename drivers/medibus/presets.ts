// Per-model line presets. Every device's interface menu can change these; config can override any
// field. Sources: OpenICE/mdpnp demo drivers (Apollo 9600 8E1, Evita 4 19200 8E1, Evita XL and
// V500 19200 8N1, V500 38400 8N1) and VSCaptureDrgVent (default 19200 8E1). Presets marked
// unverified are our best guess: check the device's "Communication"/"Interface" setup.
// Each preset also names the code table its measured data follow (codes.ts): the Infinity V500 speaks Medibus.X,
// the others classic Medibus (review rv67 M1).
import type { LineSettings } from '../serial/link.js';
import type { CodeProfile } from './codes.js';

export interface Preset {
  line: LineSettings;
  codeProfile: CodeProfile;
  verified: boolean;
  note: string;
}

const line = (baudRate: number, parity: LineSettings['parity']): LineSettings => ({ baudRate, dataBits: 8, parity, stopBits: 1, flowControl: 'none' });

export const PRESETS = {
  'evita4': { line: line(19200, 'even'), codeProfile: 'classic', verified: true, note: 'Evita 2 dura / Evita 4 (OpenICE)' },
  'evita-xl': { line: line(19200, 'none'), codeProfile: 'classic', verified: true, note: 'Evita XL (OpenICE)' },
  'v500': { line: line(19200, 'none'), codeProfile: 'medibus-x', verified: true, note: 'Evita Infinity V500 (OpenICE)' },
  'v500-38400': { line: line(38400, 'none'), codeProfile: 'medibus-x', verified: true, note: 'V500 configured for 38400 (OpenICE)' },
  'apollo': { line: line(9600, 'even'), codeProfile: 'classic', verified: true, note: 'Apollo (OpenICE)' },
  'primus': { line: line(9600, 'even'), codeProfile: 'classic', verified: false, note: 'Primus shares the Apollo Medibus document; rate unverified' },
  'fabius': { line: line(9600, 'even'), codeProfile: 'classic', verified: false, note: 'unverified' },
  'zeus': { line: line(19200, 'none'), codeProfile: 'classic', verified: false, note: 'unverified' },
  'generic': { line: line(19200, 'even'), codeProfile: 'classic', verified: false, note: 'VSCaptureDrgVent default' },
} as const satisfies Record<string, Preset>;

export type ModelName = keyof typeof PRESETS;
export const MODEL_NAMES = Object.keys(PRESETS) as ModelName[];
