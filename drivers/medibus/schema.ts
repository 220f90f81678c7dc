// JSON Schema of the `medibus` driver options (the agent validates config against it before start).
import { MODEL_NAMES } from './presets.js';
import { REQUESTS } from './options.js';

export const configSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: { type: 'string', minLength: 1, description: 'Stable device id (serial number / asset tag).' },
    bed: { type: 'string', minLength: 1 },
    model: { enum: MODEL_NAMES, description: 'Line-setting preset; individual settings below override it.' },
    path: { type: 'string', minLength: 1, description: '/dev/serial/by-id/... (preferred) or /dev/ttyUSB0.' },
    baudRate: { type: 'integer', enum: [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] },
    dataBits: { enum: [7, 8] },
    parity: { enum: ['none', 'even', 'odd'] },
    stopBits: { enum: [1, 2] },
    flowControl: { enum: ['none', 'rtscts', 'xonxoff'] },
    listenOnly: { type: 'boolean', description: 'Never transmit: decode traffic seen on a Y-cable.' },
    captureFile: { type: 'string', minLength: 1, description: 'Record every byte both ways (JSON lines).' },
    replay: {
      type: 'object',
      additionalProperties: false,
      required: ['file'],
      properties: { file: { type: 'string', minLength: 1 }, speed: { type: 'number', minimum: 0 } },
    },
    requests: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: Object.keys(REQUESTS) } },
    pollIntervalMs: { type: 'integer', minimum: 100, maximum: 600000 },
    responseTimeoutMs: { type: 'integer', minimum: 50, maximum: 60000 },
    retries: { type: 'integer', minimum: 0, maximum: 10 },
    keepAliveMs: { type: 'integer', minimum: 100, maximum: 60000 },
    quietReinitMs: { type: 'integer', minimum: 100, maximum: 600000 },
    silenceMs: { type: 'integer', minimum: 0, maximum: 3600000 },
    backoff: {
      type: 'object',
      additionalProperties: false,
      properties: { initialMs: { type: 'integer', minimum: 10 }, maxMs: { type: 'integer', minimum: 10 } },
    },
    realtime: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        codes: { type: 'array', maxItems: 4, items: { type: 'integer', minimum: 0, maximum: 255 } },
        halfOrder: { enum: ['low-first', 'high-first'] },
        segmentMs: { type: 'integer', minimum: 100, maximum: 60000 },
      },
    },
    alarmPriority: {
      type: 'object',
      additionalProperties: false,
      properties: { high: { type: 'integer', minimum: 1, maximum: 31 }, medium: { type: 'integer', minimum: 1, maximum: 31 } },
    },
    alarmRepeatMs: { type: 'integer', minimum: 1000 },
    hostIdentity: {
      type: 'object',
      additionalProperties: false,
      properties: { id: { type: 'string', maxLength: 4 }, name: { type: 'string' }, revision: { type: 'string' } },
    },
  },
};
