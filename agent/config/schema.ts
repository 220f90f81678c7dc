// JSON Schema of the agent's configuration file. Driver options are validated separately against each
// driver's own schema (drivers/<name>/index.ts), so that a driver carries its options with it.
// `npm run config:docs` renders this into docs/configuration.md; a test keeps the two in step.

const secret = {
  description:
    'A secret: a literal string, `{ env: NAME }` to read an environment variable, or `{ file: PATH }` to read a file ' +
    '(e.g. a Docker/IoT Edge secret). Never logged.',
  oneOf: [
    { type: 'string', minLength: 1 },
    {
      type: 'object',
      properties: { env: { type: 'string', minLength: 1 } },
      required: ['env'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { file: { type: 'string', minLength: 1 } },
      required: ['file'],
      additionalProperties: false,
    },
  ],
} as const;

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/bedside-edge-gateway/config.schema.json',
  title: 'Bedside edge gateway agent configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    gateway: {
      type: 'object',
      description: 'Identity of this gateway.',
      additionalProperties: false,
      default: {},
      properties: {
        id: {
          type: 'string',
          pattern: '^[A-Za-z0-9._:-]{1,64}$',
          description: 'Gateway id, sent with every message. Default: the IoT Hub device/module id, else the host name.',
        },
        site: { type: 'string', maxLength: 128, description: 'Free text: hospital, ward or room of this gateway.' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: {
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
          default: 'info',
          description: 'Log level. Logs are JSON lines (pretty-printed when stdout is a terminal).',
        },
        pretty: {
          enum: ['auto', 'always', 'never'],
          default: 'auto',
          description: 'Human-readable logs: `auto` = when stdout is a terminal.',
        },
      },
    },
    store: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        path: {
          type: 'string',
          minLength: 1,
          default: './data/agent.db',
          description: 'SQLite file of the store-and-forward outbox. Relative paths are relative to the working directory.',
        },
        synchronous: {
          enum: ['full', 'normal'],
          default: 'full',
          description:
            '`full`: a reading is accepted only once it is on disk, and survives power loss. `normal`: survives a crash ' +
            'of the agent but the last transactions may be lost on power loss; faster on slow SD cards.',
        },
        commitIntervalMs: {
          type: 'integer',
          minimum: 0,
          maximum: 1000,
          default: 10,
          description: 'Group commit: readings arriving within this window are committed in one transaction.',
        },
        maxBytes: {
          type: 'integer',
          minimum: 1048576,
          default: 4294967296,
          description:
            'Capacity of the store in bytes (default 4 GiB: roughly 5 days of a 4-bed ward\'s numerics, or 16 hours of ' +
            '32 beds, while the uplink is down). Beyond it, unsent data is evicted oldest first: waveforms, then ' +
            'numerics, alarms and audit last; eviction raises a technical alarm and is counted.',
        },
        maxAgeHours: {
          type: 'number',
          exclusiveMinimum: 0,
          default: 168,
          description: 'Unsent telemetry older than this is evicted (alarms are kept until capacity forces them out).',
        },
        retainSentHours: {
          type: 'number',
          minimum: 0,
          default: 24,
          description: 'Messages the hub acknowledged are kept this long for the `replay` direct method (backfill).',
        },
      },
    },
    hub: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Azure IoT Hub uplink.',
      properties: {
        mode: {
          enum: ['auto', 'off', 'device', 'module'],
          default: 'auto',
          description:
            '`auto`: IoT Edge module when the IoT Edge environment is present, device mode when a connection string ' +
            'is available, otherwise off. `device`: a device connection string. `module`: IoT Edge module ' +
            '(ModuleClient.fromEnvironment). `off`: store only.',
        },
        connectionString: {
          ...secret,
          description:
            'Device (or module) connection string for `device` mode. Default: environment variable ' +
            'IOTHUB_DEVICE_CONNECTION_STRING. ' +
            secret.description,
        },
        caFile: {
          type: 'string',
          description: 'Extra CA certificate (PEM) to trust for the hub or gateway TLS connection, e.g. a nested-edge parent.',
        },
        maxMessageBytes: {
          type: 'integer',
          minimum: 4096,
          maximum: 250000,
          default: 65536,
          description: 'Largest message body sent. IoT Hub allows 256 KB; billing counts 4 KB chunks.',
        },
        batchDelayMs: {
          type: 'integer',
          minimum: 0,
          maximum: 60000,
          default: 1000,
          description: 'How long telemetry may wait to fill a message. Alarms never wait.',
        },
        sendTimeoutMs: {
          type: 'integer',
          minimum: 1000,
          default: 30000,
          description: 'A message not acknowledged by the hub within this time is treated as failed and resent.',
        },
        retry: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            initialDelayMs: { type: 'integer', minimum: 10, default: 1000 },
            maxDelayMs: { type: 'integer', minimum: 10, default: 60000 },
          },
        },
        forwardWaveforms: {
          type: 'boolean',
          default: false,
          description:
            'Store and forward waveform segments. Off by default: a ward of waveforms costs far more hub messages ' +
            'than its numerics. Waveforms still reach the local display and the edge model.',
        },
      },
    },
    drivers: {
      type: 'array',
      description: 'Device drivers to run. Each entry: a unique name, a type from the driver registry, its options.',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'type'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Unique instance name.' },
          type: { type: 'string', description: 'Driver type (see drivers/registry.ts).' },
          enabled: { type: 'boolean', default: true },
          options: { type: 'object', default: {}, description: "The driver's own options (see its README)." },
        },
      },
    },
  },
} as const;
