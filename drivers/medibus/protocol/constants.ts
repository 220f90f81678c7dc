// Medibus byte values and command codes (Dräger RS 232 MEDIBUS, revision 6.00, and Medibus.X).
// Sources: public implementations (VSCaptureDrgVent, OpenICE/mdpnp, wokai/xenon); see README.md.

export const ESC = 0x1b; // starts a command
export const SOH = 0x01; // starts a response
export const CR = 0x0d; // ends a command or response
export const ETX = 0x03; // ends one text-message record
export const NAK = 0x15; // "your command was corrupt" (sent as a response: SOH NAK checksum CR)
export const XON = 0x11; // DC1: software handshake, never part of a message
export const XOFF = 0x13; // DC3

/** Command codes (the byte after ESC, echoed after SOH). */
export const CMD = {
  NOP: 0x30,
  ALARMS_CP3: 0x23,
  DATA_CP1: 0x24,
  LOW_LIMITS_CP1: 0x25,
  HIGH_LIMITS_CP1: 0x26,
  ALARMS_CP1: 0x27,
  DATE_TIME: 0x28,
  SETTINGS: 0x29,
  TEXT_MESSAGES: 0x2a,
  DATA_CP2: 0x2b,
  LOW_LIMITS_CP2: 0x2c,
  HIGH_LIMITS_CP2: 0x2d,
  ALARMS_CP2: 0x2e,
  TIME_CHANGED: 0x49,
  CONFIGURE_RESPONSE: 0x4a,
  ICC: 0x51, // initialise communication
  DEVICE_ID: 0x52,
  RT_CONFIG: 0x53, // Medibus.X: request realtime configuration
  RT_CONFIGURE: 0x54, // Medibus.X: configure realtime transmission
  STOP: 0x55,
  RT_CONFIG_CHANGED: 0x56,
  TREND_STATUS: 0x6c,
  TREND_DATA: 0x6d,
} as const;

export type CommandName = keyof typeof CMD;

const NAMES = new Map<number, CommandName>(Object.entries(CMD).map(([k, v]) => [v, k as CommandName]));

export function commandName(code: number): string {
  return NAMES.get(code) ?? `0x${code.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Which page a data request reads; alarms and limits have code pages (1, 2, 3). */
export const MEASURED_PAGES: Record<number, 1 | 2> = { [CMD.DATA_CP1]: 1, [CMD.DATA_CP2]: 2 };
export const ALARM_PAGES: Record<number, 1 | 2 | 3> = { [CMD.ALARMS_CP1]: 1, [CMD.ALARMS_CP2]: 2, [CMD.ALARMS_CP3]: 3 };
export const LIMIT_PAGES: Record<number, { page: 1 | 2; bound: 'low' | 'high' }> = {
  [CMD.LOW_LIMITS_CP1]: { page: 1, bound: 'low' },
  [CMD.HIGH_LIMITS_CP1]: { page: 1, bound: 'high' },
  [CMD.LOW_LIMITS_CP2]: { page: 2, bound: 'low' },
  [CMD.HIGH_LIMITS_CP2]: { page: 2, bound: 'high' },
};
