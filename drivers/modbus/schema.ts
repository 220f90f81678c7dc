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
    order: { enum: [...BYTE_ORDERS], description: 'Byte/word order of multi-register values (none on a coil, a discrete input or a bool: --check warns of it there).' },
    length: { type: 'integer', minimum: 1, maximum: 125, description: 'string: registers to read.' },
    bit: { type: 'integer', minimum: 0, maximum: 15, description: 'bitfield: first bit, 0 = least significant.' },
    bitLength: {
      type: 'integer',
      minimum: 1,
      maximum: 16,
      description:
        'bitfield: width in bits, counted from `bit` upwards; bit + bitLength must not exceed 16. Default 1 (a single flag bit). Set it from the register description in the device manual, e.g. 4 for a 4-bit status code.',
    },
    scale: { type: 'number', description: 'value = raw × scale + offset.' },
    offset: {
      type: 'number',
      description:
        'Added after scaling (value = raw × scale + offset), in the unit of the reading; numeric types only. Default 0 (and scale defaults to 1: the raw value as read). Set it when the manual gives an offset, e.g. a temperature sent as tenths of a degree above -50 °C: scale 0.1, offset -50.',
    },
    mdc: {
      oneOf: [{ type: 'string', minLength: 1 }, mdcTerm],
      description:
        'What the value is, as an ISO/IEEE 11073 MDC term: a refid the agent knows (agent/model/mdc.ts, e.g. "MDC_PULS_OXIM_SAT_O2") or `{ code, refid }` for any other (a refid the agent knows must come with its own code, or the start refuses it; a term the agent does not know is warned of at --check and start, as no alarm rule judges it; a refid not starting MDC_ is forwarded as refid null with the refid as rawCode text). Default none: the reading is still stored and forwarded, with mdc null and the raw code `<unitId>/<table>/<address>`, but the agent\'s alarm limits and NEWS2 ignore it. Set it for every clinical value.',
    },
    unit: {
      oneOf: [
        { type: 'string' },
        { type: 'object', additionalProperties: false, required: ['ucum'], properties: { ucum: { type: 'string' }, mdc: mdcTerm } },
      ],
      description:
        'Unit of the scaled value: a unit key of the agent ("MMHG"), an MDC_DIM_* refid, a UCUM code ("mm[Hg]", "Cel", "/min") or `{ ucum, mdc }`. Default none (empty UCUM unit), which the alarm limits take to be the unit their rule expects. Set it whenever the device does not use that unit: a value in a unit the limits cannot convert is not compared with them at all (--check and the start warn of it, e.g. "mbar" on a blood pressure). Other spellings of a unit the agent knows are taken as it, so one spelling goes on the wire: "mmHg" is "mm[Hg]", "degC" "Cel", "beats/min" and "breaths/min" "/min".',
    },
    deadband: {
      type: 'number',
      minimum: 0,
      description:
        'Report a numeric value only when it has moved by more than this from the last one reported, in the unit of the scaled value (quality changes are always reported; `heartbeatMs` still re-reports a steady value). Default none: every poll is reported. Set it to cut message volume for slowly changing values, e.g. 0.5 for a gas concentration; keep it below the smallest change that matters clinically.',
    },
    reportOnChange: {
      type: 'boolean',
      description:
        'Report the value only when it or its quality changes (a steady value is still re-reported every `heartbeatMs`). Default false: every poll is reported. Turn on for status bits and settings that rarely change.',
    },
    heartbeatMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 5000,
      // No `default` keyword: inside the bus oneOf the agent's Ajv (strict, useDefaults) rejects it.
      description:
        'With deadband/reportOnChange: re-report an unchanged value at least this often (default 5000). At most 5 s so a steady device still delivers before the agent shows its values stale (10 s) or raises its "no data" technical alarm (30 s).',
    },
    pollIntervalMs: {
      type: 'integer',
      minimum: 1,
      maximum: 86400000,
      description:
        "Milliseconds between reads of this value only. Default: the device's `pollIntervalMs` (itself 1000 by default). Values with different intervals are read in separate requests, so use it sparingly, e.g. 10000 for a slowly changing setting; keep it well below the agent's stale (10 s) and \"no data\" (30 s) times for a value that is watched.",
    },
    sentinels: {
      type: 'array',
      description:
        'Raw values the device sends to mean "no value" (e.g. 32767 when a sensor is off), each mapped to a quality instead of being taken as a measurement. Default none. Add the codes listed in the device manual; a sentinel the value type can never produce is refused at start.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['value', 'quality'],
        properties: {
          value: {
            type: ['number', 'string'],
            description:
              'The raw value as the type decodes it, before scale and offset (e.g. 32767 on an int16, 65535 on a uint16). Integer types also take the register bits as a quoted hex string, as manuals print them: "0xFFFF" is 65535 on a uint16 and -1 on an int16. A string value is compared as text.',
          },
          quality: {
            enum: ['unavailable', 'invalid', 'questionable'],
            description:
              'Quality of a reading with that raw value: `unavailable` (nothing measured, e.g. sensor off; value null), `invalid` (a fault; value null) or `questionable` (value kept but flagged, never used for alarm limits or NEWS2).',
          },
          reason: {
            type: 'string',
            minLength: 1,
            description: 'Reason attached to the reading\'s quality, shown and forwarded with it, e.g. "sensor-off". Default "sentinel".',
          },
        },
      },
    },
    validRange: {
      type: 'object',
      additionalProperties: false,
      description:
        'Plausible range of the scaled value: a value outside it is kept but marked questionable (reason `out-of-range`), so it is not used for alarm limits or NEWS2. A float sent as +Infinity or -Infinity (how some devices signal a value beyond their measuring range) is read as the bound on its side, beyond which it lies (questionable, reason `sn-comparator:>` or `sn-comparator:<`, as HL7\'s ">300"), and the alarm limits judge it; with no bound on that side it is invalid (`over-range`, `under-range`) and raises no limit alarm. Default none: no range check. Set it to the device\'s measuring range to catch a wrong scale or a misread register; --check warns of a float an alarm rule judges without it.',
      properties: {
        min: { type: 'number', description: 'Lowest plausible value, in the unit of the scaled value. Default none (no lower bound). Must not be above max.' },
        max: { type: 'number', description: 'Highest plausible value, in the unit of the scaled value. Default none (no upper bound).' },
      },
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
    id: {
      type: 'string',
      minLength: 1,
      description:
        'Stable device id (serial number or asset tag) put on every reading and status event of this unit; unique across the whole configuration (all drivers). Required. It is the key for `alarms.devices` and appears on the display and in the cloud, so do not reuse it when a device is swapped.',
    },
    unitId: {
      type: 'integer',
      minimum: 0,
      maximum: 255,
      description: 'Modbus unit id: 1..247; on TCP also 255 (preferred) or 0 for a device addressed by its IP alone. 248..254 (reserved) are rejected, and so is 0 on RTU (broadcast, never answered).',
    },
    bed: {
      type: 'string',
      minLength: 1,
      description:
        'Bed this device serves, put on its readings and status events, e.g. "ICU3-04"; use the same name as in `alarms.limits.beds` and `alarms.news2.beds`. Default none: the device\'s data is shown under the bed "unassigned" and gets no NEWS2 score. Set it for every device at a bedside.',
    },
    pollIntervalMs: {
      type: 'integer',
      minimum: 1,
      maximum: 86400000,
      description:
        "Milliseconds between reads of this device's values (a value's own `pollIntervalMs` overrides it). Default 1000. Each read is due on a fixed grid; missed ticks are skipped, not made up. Raise it for a slow RS-485 line shared by many units; keep it well below the display's stale time (10 s) and the \"no data\" alarm (`alarms.silentAfterS`, 30 s by default; a period at or above the device's \"no data\" time is warned of).",
    },
    order: {
      enum: [...BYTE_ORDERS],
      description:
        'Byte/word order of this device\'s multi-register values (a value\'s own `order` overrides it). Default ABCD (big-endian, the Modbus convention). Set CDAB (word swap) or another order when the manual says so, or when a float32 known on the device display reads as nonsense.',
    },
    maxGap: {
      type: 'integer',
      minimum: 0,
      maximum: 124,
      description:
        'Unmapped registers (or bits) that may lie between two values still read in one request. Default 0: addresses not in the map are never read. Raise it to save requests on a slow line, only for a device known to answer reads across the gaps (some answer "illegal data address" instead).',
    },
    maxRegistersPerRead: {
      type: 'integer',
      minimum: 1,
      maximum: 125,
      description:
        'Most registers read in one request (FC3/FC4). Default 125, the protocol maximum. Lower it for a device or gateway that refuses or times out on long reads.',
    },
    maxBitsPerRead: {
      type: 'integer',
      minimum: 1,
      maximum: 2000,
      description:
        'Most coils or discrete inputs read in one request (FC1/FC2). Default 2000, the protocol maximum. Lower it for a device that refuses long bit reads.',
    },
    points: {
      type: 'array',
      minItems: 1,
      items: point,
      description:
        'The values to read from this unit (its register map): at least one. Neighbouring values with the same polling interval are read together in one request.',
    },
  },
};

const common = {
  id: {
    type: 'string',
    minLength: 1,
    description: 'Name of this bus (connection) in logs, counters and status details; unique within the driver. Required.',
  },
  timeoutMs: {
    type: 'integer',
    minimum: 10,
    maximum: 60000,
    description:
      'Milliseconds to wait for the answer to each request before counting it as a timeout. Default 1000. Raise it for a slow device or a Modbus TCP-to-RTU gateway; lower it to shorten the time a switched-off unit holds a shared line (on RTU each unanswered read costs twice this). Stopping the driver (a config change, the agent\'s shutdown) does not wait for it: a read or connect in flight is cut short. On RTU, a read of 17-24 coils or discrete inputs whose answer is byte for byte its request (possible at addresses 768-1023) holds the line this long, then reads one bit at the same address, to tell the answer from an echo.',
  },
  devices: {
    type: 'array',
    minItems: 1,
    items: device,
    description: 'The Modbus units read over this connection, each with its own unit id: at least one. Requests go one at a time on a bus.',
  },
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
      description:
        'Connections to read over: one per Modbus TCP host:port (a device, or a gateway with several units behind it) or per serial line (RTU, several units by unit id). At least one. Each bus polls on its own, so a slow or dead device only delays its own bus.',
      items: {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'transport', 'host', 'devices'],
            properties: {
              ...common,
              transport: { const: 'tcp' },
              host: {
                type: 'string',
                minLength: 1,
                description: 'IP address or DNS name of the Modbus TCP device, or of the gateway the units sit behind. Required.',
              },
              port: {
                type: 'integer',
                minimum: 1,
                maximum: 65535,
                description: 'TCP port of the device or gateway. Default 502, the registered Modbus TCP port. Change it only when the device is configured for another port.',
              },
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'transport', 'path', 'baudRate', 'devices'],
            properties: {
              ...common,
              transport: { const: 'rtu' },
              path: {
                type: 'string',
                minLength: 1,
                description:
                  'Serial port of the RS-485/RS-232 line: a stable name, /dev/serial/by-id/... or /dev/serial/by-path/... (it survives replugging; /dev/ttyUSB0-style names are warned of at --check and start: they follow the plug order). Required; one line is one bus, and no other driver may open it.',
              },
              baudRate: {
                type: 'integer',
                minimum: 50,
                maximum: 4000000,
                description: 'Line speed in bit/s, e.g. 9600 or 19200. Required, no default: set exactly what every unit on the line is configured for.',
              },
              dataBits: {
                enum: [7, 8],
                description: 'Data bits per character. Default 8, which Modbus RTU requires; 7 (Modbus ASCII, not supported) is refused at start.',
              },
              stopBits: {
                enum: [1, 2],
                description:
                  'Stop bits per character. Default 1. Match the devices; the Modbus serial-line specification asks for 2 when parity is none, and some devices are set so.',
              },
              parity: {
                enum: ['none', 'even', 'odd', 'mark', 'space'],
                description:
                  'Parity bit. Default none. Match the devices: the Modbus serial-line specification makes even parity the standard setting, so many devices ship with even (8E1).',
              },
              interFrameGapMs: {
                type: 'integer',
                minimum: 0,
                maximum: 1000,
                description:
                  'Silence in milliseconds left on the line after each exchange, before the next request. Default 3.5 character times at the baud rate (11 bits per character; fixed 1.75 ms above 19200 bit/s), rounded up to whole ms: e.g. 5 ms at 9600, 2 ms above 19200. Raise it for a device or RS-485 converter that misses requests sent too soon after the last answer.',
              },
            },
          },
        ],
      },
    },
    offlineAfterFailures: {
      type: 'integer',
      minimum: 1,
      maximum: 100,
      description:
        'Communication failures in a row (timeouts, CRC errors, bad frames) before a device is reported offline, which becomes a technical alarm; also the run of busy/device-failure exceptions that puts a device in error, and, on TCP, of unanswered requests after which the connection is reopened. Default 3. Raise it on a noisy line where single misses are normal; lower it to report a lost device sooner.',
    },
    backoff: {
      type: 'object',
      additionalProperties: false,
      description:
        'Retry delays, doubling from `initialMs` up to `maxMs`: for probing an offline device, reopening a connection that failed, and reading a register that keeps failing. Default 1000 ms up to 30000 ms.',
      properties: {
        initialMs: {
          type: 'integer',
          minimum: 10,
          maximum: 3600000,
          description:
            'First retry delay in milliseconds (a read that failed once is tried again at its next poll or after this, whichever is sooner). Default 1000.',
        },
        maxMs: {
          type: 'integer',
          minimum: 10,
          maximum: 3600000,
          description:
            'Longest retry delay in milliseconds: the pause between probes of an offline device grows to this. Default 30000, or `initialMs` when that is larger; must be ≥ initialMs. Lower it to notice a device coming back sooner, at the cost of more timeouts on its line.',
        },
      },
    },
  },
};
