/** IoT Hub stand-in for tests and benchmarks. See README.md in this folder. */
export { startHubStandin, randomKey } from './hub-standin.js';
export { HubMethodError } from './methods.js';
export { HubStandinError } from './errors.js';
export { makeSasToken, resourceFor } from './sas.js';
export type {
  HubStandin,
  HubStandinOptions,
  HubStats,
  IdentityOptions,
  MethodResult,
  PubackPolicy,
  TwinPolicy,
  ReceivedMessage,
  RefuseMode,
  TwinView,
  ConnectionEvent,
} from './types.js';
export type { Json, JsonObject } from './twin.js';
export { RawMqttClient, hubConnectPacket } from './raw-client.js';
