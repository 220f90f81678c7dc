// Protocol constants of the IntelliVue Data Export interface (values as the Data Export Interface
// Programming Guide lists them; cross-checked against OpenICE/mdpnp and VSCaptureMP).

/** Session header types (first byte of an association-control message). */
export const SPDU = {
  CONNECT: 0x0d, // association request
  ACCEPT: 0x0e, // association accepted
  REFUSE: 0x0c, // association refused
  FINISH: 0x09, // release request
  DISCONNECT: 0x0a, // release response
  ABORT: 0x19,
} as const;

/** First byte of every Data Export message (session_id 0xE100). */
export const SESSION_ID = 0xe100;
/** Presentation context id of Data Export commands with the standard association request. */
export const P_CONTEXT_ID = 2;

export const RO = { INVOKE: 1, RESULT: 2, ERROR: 3, LINKED_RESULT: 5 } as const;
export const CMD = { EVENT_REPORT: 0, CONFIRMED_EVENT_REPORT: 1, GET: 3, SET: 4, CONFIRMED_SET: 5, CONFIRMED_ACTION: 7 } as const;
export const RORLS = { FIRST: 1, NOT_FIRST_NOT_LAST: 2, LAST: 3 } as const;

export const NOM_NOTI_MDS_CREAT = 0x0d06;
export const NOM_ACT_POLL_MDIB_DATA = 0x0c16;
export const NOM_ACT_POLL_MDIB_DATA_EXT = 0xf13b;

export const NOM_PART_OBJ = 1;
export const NOM_PART_SCADA = 2;
export const NOM_PART_EVT = 3;
export const NOM_PART_DIM = 4;
/** Philips' settings partition: a numeric whose TYPE is here is a value set on the device, with a SCADA code. */
export const NOM_PART_SETTINGS = 1026;

/** Object classes (partition NOM_PART_OBJ). */
export const MOC = {
  VMO_METRIC_NU: 6,
  VMO_METRIC_SA_RT: 9,
  VMS_MDS: 33,
  PT_DEMOG: 42,
  VMO_AL_MON: 54,
} as const;

/** Attribute ids. */
export const ATTR = {
  AL_MON_P_AL_LIST: 0x0902,
  AL_MON_T_AL_LIST: 0x0904,
  DEV_AL_COND: 0x0916,
  ID_HANDLE: 0x0921,
  ID_LABEL: 0x0924,
  ID_LABEL_STRING: 0x0927,
  ID_MODEL: 0x0928,
  ID_TYPE: 0x092f,
  METRIC_SPECN: 0x093f,
  NU_CMPD_VAL_OBS: 0x094b,
  NU_VAL_OBS: 0x0950,
  SA_CMPD_VAL_OBS: 0x0967,
  SA_SPECN: 0x096d,
  SA_VAL_OBS: 0x096e,
  SCALE_SPECN_I16: 0x096f,
  SYS_ID: 0x0984,
  TIME_ABS: 0x0987,
  TIME_PD_SAMP: 0x098d,
  TIME_REL: 0x098f,
  TIME_STAMP_ABS: 0x0990,
  TIME_STAMP_REL: 0x0991,
  UNIT_CODE: 0x0996,
  TIME_PD_POLL: 0xf13e,
  POLL_PROFILE_EXT: 0xf001,
} as const;

/** Attribute groups for polled_attr_grp (0 = all attributes). */
export const ATTR_GRP = { ALL: 0, AL_MON: 0x0801, METRIC_VAL_OBS: 0x0803, VMO_DYN: 0x0810, VMO_STATIC: 0x0811 } as const;

/** MeasurementState bits. */
export const MSMT = {
  INVALID: 0x8000,
  QUESTIONABLE: 0x4000,
  UNAVAILABLE: 0x2000,
  CALIBRATION_ONGOING: 0x1000,
  TEST_DATA: 0x0800,
  DEMO_DATA: 0x0400,
  VALIDATED_DATA: 0x0080,
  EARLY_INDICATION: 0x0040,
  MSMT_ONGOING: 0x0020,
  IN_ALARM: 0x0002,
  AL_INHIBITED: 0x0001,
} as const;

/** AlertType values: technical (T) and physiological (P) alarms in three priorities. */
export const ALERT_TYPE = {
  NO_ALERT: 0,
  LOW_PRI_T_AL: 0x0001,
  MED_PRI_T_AL: 0x0002,
  HI_PRI_T_AL: 0x0004,
  LOW_PRI_P_AL: 0x0100,
  MED_PRI_P_AL: 0x0200,
  HI_PRI_P_AL: 0x0400,
} as const;

/**
 * AlertState bits (al_state). Demo, standby and test mode say the alarm is not a patient's; silenced/reset and
 * suspended say what was done to it at the monitor; inhibited is the alarm switched off there (a setting).
 */
export const ALERT_STATE = {
  INHIBITED: 0x8000,
  SUSPENDED: 0x4000,
  LATCHED: 0x2000,
  SILENCED_RESET: 0x1000,
  DEV_IN_DEMO_MODE: 0x0100,
  DEV_IN_STANDBY: 0x0200,
  DEV_IN_TEST_MODE: 0x0400,
} as const;

export const ALERT_INFO = { GEN_ALMON_INFO: 513, STR_ALMON_INFO: 516 } as const;

/** Poll Profile / Poll Profile Extension option bits used in the association request. */
export const POLL_PROFILE_REV_0 = 0x80000000;
export const POLL_EXT_PERIOD_NU_1SEC = 0x80000000;
export const POLL_EXT_PERIOD_RTSA = 0x08000000;
export const NOM_POLL_PROFILE_SUPPORT = 0x0001;

/** RelativeTime ticks per millisecond (1 tick = 125 µs). */
export const TICKS_PER_MS = 8;
