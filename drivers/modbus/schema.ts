// JSON Schema of the driver's options (the agent validates config against it before start).
// additionalProperties: false everywhere: there is no way to write a write.
// buildPlan() re-checks everything with field paths, plus what a schema cannot say (duplicates, bit ranges).
import { BYTE_ORDERS, VALUE_TYPES } from './decode.js';
import { TABLES } from './options.js';

const mdcTerm = {
  type: 'object',
  additionalProperties: false,
  required: ['code', 'refid'],
  properties: { code: { type: 'integer', minimum: 0 }, refid: { type: 'string', minLength: 1 } },
};

const point = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'table', 'address'],
  properties: {
    name: { type: 'string', minLength: 1, description: 'Name of the value, unique within the device.' },
    table: { enum: [...TABLES], description: 'coil (FC1), discrete (FC2), input (FC4) or holding (FC3).' },
    address: { type: 'integer', minimum: 0, maximum: 65535, description: 'Zero-based protocol address (40001 → holding 0).' },
    type: { enum: [...VALUE_TYPES], description: 'Default bool for coil/discrete, uint16 for registers.' },
    order: { enum: [...BYTE_ORDERS], description: 'Byte/word order of multi-register values.' },
    length: { type: 'integer', minimum: 1, maximum: 125, description: 'string: registers to read.' },
    bit: { type: 'integer', minimum: 0, maximum: 15, description: 'bitfield: first bit, 0 = least significant.' },
    bitLength: { type: 'integer', minimum: 1, maximum: 16 },
    scale: { type: 'number', description: 'value = raw × scale + offset.' },
    offset: { type: 'number' },
    mdc: { oneOf: [{ type: 'string', minLength: 1 }, mdcTerm] },
    unit: {
      oneOf: [
        { type: 'string' },
        { type: 'object', additionalProperties: false, required: ['ucum'], properties: { ucum: { type: 'string' }, mdc: mdcTerm } },
      ],
    },
    deadband: { type: 'number', minimum: 0 },
    reportOnChange: { type: 'boolean' },
    heartbeatMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 5000,
      // No `default` keyword: inside the bus oneOf the agent's Ajv (strict, useDefaults) rejects it.
      description:
        'With deadband/reportOnChange: re-report an unchanged value at least this often (default 5000). At most 5 s so a steady device still delivers before the agent shows its values stale (10 s) or raises its "no data" technical alarm (30 s).',
    },
    pollIntervalMs: { type: 'integer', minimum: 1 },
    sentinels: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['value', 'quality'],
        properties: {
          value: { type: ['number', 'string'] },
          quality: { enum: ['unavailable', 'invalid', 'questionable'] },
          reason: { type: 'string', minLength: 1 },
        },
      },
    },
    validRange: {
      type: 'object',
      additionalProperties: false,
      properties: { min: { type: 'number' }, max: { type: 'number' } },
    },
    setting: {
      type: 'boolean',
      description:
        "True for a value set on the device (a pump's programmed rate, a ventilator's set rate), not measured from the patient: sent and shown as a setting, never compared with alarm limits or used in NEWS2.",
    },
  },
};

const device = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'unitId', 'points'],
  properties: {
    id: { type: 'string', minLength: 1 },
    unitId: {
      type: 'integer',
      minimum: 1,
      maximum: 255,
      description: 'Modbus unit id: 1..247; on TCP also 255 for a device addressed by its IP alone. 0 (broadcast, never answered) and 248..254 (reserved) are rejected.',
    },
    bed: { type: 'string', minLength: 1 },
    pollIntervalMs: { type: 'integer', minimum: 1 },
    order: { enum: [...BYTE_ORDERS] },
    maxGap: { type: 'integer', minimum: 0, maximum: 124 },
    maxRegistersPerRead: { type: 'integer', minimum: 1, maximum: 125 },
    maxBitsPerRead: { type: 'integer', minimum: 1, maximum: 2000 },
    points: { type: 'array', minItems: 1, items: point },
  },
};

const common = {
  id: { type: 'string', minLength: 1 },
  timeoutMs: { type: 'integer', minimum: 10, maximum: 60000 },
  devices: { type: 'array', minItems: 1, items: device },
};

export const configSchema: Record<string, unknown> = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'modbus driver options (read-only)',
  type: 'object',
  additionalProperties: false,
  required: ['buses'],
  properties: {
    buses: {
      type: 'array',
      minItems: 1,
      items: {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'transport', 'host', 'devices'],
            properties: { ...common, transport: { const: 'tcp' }, host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'transport', 'path', 'baudRate', 'devices'],
            properties: {
              ...common,
              transport: { const: 'rtu' },
              path: { type: 'string', minLength: 1 },
              baudRate: { type: 'integer', minimum: 50, maximum: 4000000 },
              dataBits: { enum: [7, 8] },
              stopBits: { enum: [1, 2] },
              parity: { enum: ['none', 'even', 'odd', 'mark', 'space'] },
              interFrameGapMs: { type: 'integer', minimum: 0, maximum: 1000 },
            },
          },
        ],
      },
    },
    offlineAfterFailures: { type: 'integer', minimum: 1, maximum: 100 },
    backoff: {
      type: 'object',
      additionalProperties: false,
      properties: { initialMs: { type: 'integer', minimum: 10 }, maxMs: { type: 'integer', minimum: 10 } },
    },
  },
};
