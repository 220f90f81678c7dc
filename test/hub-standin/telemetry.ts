import { HubStandinError } from './errors.js';
import { parsePropertyBag } from './property-bag.js';
import type { ReceivedMessage } from './types.js';

/**
 * Turns a device-to-cloud PUBLISH into a ReceivedMessage. Pure apart from the Date it stamps.
 * Throws HubStandinError (from the property-bag parser) on a malformed bag.
 */
export interface TelemetryInput {
  seq: number;
  deviceId: string;
  moduleId: string | undefined;
  bag: string;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  dup: boolean;
  retain: boolean;
  connectionId: number;
}

/**
 * IoT Hub's message id: "up to 128 characters long of ASCII 7-bit alphanumeric characters + - : . + % _ # * ? ! ( ) , = @ ; $ '"
 * (learn.microsoft.com/azure/iot-hub/iot-hub-devguide-messages-construct). A publish with another id is treated as a
 * protocol violation (the connection is closed), so that a sender using other characters is caught in tests.
 */
const VALID_MESSAGE_ID = /^[A-Za-z0-9\-:.+%_#*?!(),=@;$']{1,128}$/;

export function toReceivedMessage(input: TelemetryInput): ReceivedMessage {
  const { systemProperties, properties } = parsePropertyBag(input.bag);
  // IoT Hub does not keep retained messages; it flags them with this application property.
  if (input.retain) properties['mqtt-retain'] = 'true';
  const sys = (key: string): string | undefined => systemProperties[key];
  const mid = sys('$.mid');
  if (mid !== undefined && !VALID_MESSAGE_ID.test(mid)) {
    throw new HubStandinError('message-id', `message id ${JSON.stringify(mid.slice(0, 140))} is not 1–128 of the allowed characters`);
  }
  const msg: ReceivedMessage = {
    seq: input.seq,
    deviceId: input.deviceId,
    properties,
    systemProperties,
    body: input.payload,
    topic: input.topic,
    qos: input.qos,
    dup: input.dup,
    retain: input.retain,
    receivedAt: new Date(),
    puback: input.qos === 1 ? 'pending' : 'none',
    connectionId: input.connectionId,
  };
  // Optional fields are set only when present, so toEqual/toMatchObject stay simple.
  const optional: [keyof ReceivedMessage, string | undefined][] = [
    ['moduleId', input.moduleId],
    ['output', sys('$.on')],
    ['messageId', sys('$.mid')],
    ['correlationId', sys('$.cid')],
    ['contentType', sys('$.ct')],
    ['contentEncoding', sys('$.ce')],
    ['userId', sys('$.uid')],
  ];
  for (const [key, value] of optional) {
    if (value !== undefined) (msg as unknown as Record<string, unknown>)[key] = value;
  }
  return msg;
}

/** One-line summary for timeout diagnostics (no bodies: they may be large). */
export function describeMessage(m: ReceivedMessage): string {
  const who = m.moduleId === undefined ? m.deviceId : `${m.deviceId}/${m.moduleId}`;
  const bits = [`#${m.seq}`, who];
  if (m.output !== undefined) bits.push(`output=${m.output}`);
  if (m.messageId !== undefined) bits.push(`mid=${m.messageId}`);
  bits.push(`props=${JSON.stringify({ ...m.properties })}`, `${m.body.length}B`, `puback=${m.puback}`);
  return bits.join(' ');
}
