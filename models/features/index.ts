// Public surface of the alarm-validation feature code (shared by training and the live agent).
export { ALARM_TYPES, isAlarmType, type AlarmType, type Channel, type ChannelRole } from './types.js';
export { extractFeatures, FEATURE_NAMES, FEATURE_VERSION, FS, MISSING, WINDOW_S, canonicalChannels, channelRank, channelRole, featureChannels } from './extract.js';
export { parseHeader, decodeFormat16, alarmFromComments, WfdbError, type WfdbChannel, type WfdbHeader, type WfdbSignalSpec } from './wfdb.js';
